"""Temperature folded into the head: exact on BERT / RoBERTa / Llama (bias-free `score`) / LoRA heads, refused where
it is not exact; MixTrainer(calibrate="temperature") saves a model whose own logits are the calibrated ones."""

import json
import warnings

import pytest
import tiny
import torch
import transformers as tf
from tiny import family_model, padded_batch, with_lora
from torch import nn

from hfmix import MixConfig, MixTrainer, MixupConfig
from hfmix.calibration import negative_log_likelihood
from hfmix.temperature_folding import check_foldable, fold_temperature


tf.logging.set_verbosity_error()


@pytest.mark.parametrize(
    "family, lora, layer",
    [
        ("bert", False, "classifier"),
        ("roberta", False, "classifier.out_proj"),
        ("llama", False, "score"),
        ("bert", True, "base_model.model.classifier.modules_to_save.default"),
    ],
)
def test_folding_divides_the_logits_exactly(family, lora, layer):
    model = family_model(family)
    model = (with_lora(model) if lora else model).eval()
    batch = padded_batch([7, 4, 10], "right", family)
    with torch.no_grad():
        before = model(**batch).logits
    assert fold_temperature(model, 1.7, batch) == layer
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, before / 1.7, rtol=1e-5, atol=1e-6)
    if family == "llama":
        assert model.score.bias is None


class TanhHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(32, 3)

    def forward(self, x):
        return torch.tanh(self.proj(x)) * 4


class MatmulHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(32, 3))

    def forward(self, x):
        return x @ self.weight


@pytest.mark.parametrize(
    "head, message", [(TanhHead, r"'classifier\.proj' is not exact"), (MatmulHead, "no nn.Linear with 3 outputs")]
)
def test_heads_where_folding_is_not_exact_are_refused_and_left_unchanged(head, message):
    model = family_model("bert")
    model.classifier = head()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    batch = padded_batch([5, 8], "right", "bert")
    with pytest.raises(ValueError, match=message):
        fold_temperature(model, 2.5, batch)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match=message):
        check_foldable(model, batch)


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("inf"), float("nan")])
def test_temperature_must_be_finite_and_positive(temperature):
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        fold_temperature(family_model("bert"), temperature)


def test_check_foldable_leaves_the_weights_bit_identical_and_names_token_heads():
    model = family_model("llama")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert check_foldable(model) == "score"  # a probe of random token ids
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="one vector of class logits per example"):
        check_foldable(family_model("bert", head="TokenClassification"))


# ----------------------------------------------------------------------------------- MixTrainer(calibrate=)
def make_args(tmp_path, **kwargs):
    defaults = dict(
        output_dir=str(tmp_path), per_device_train_batch_size=4, learning_rate=5e-2, max_steps=2, report_to=[],
        use_cpu=True, logging_steps=1, save_strategy="no", seed=0, logging_nan_inf_filter=False,
    )  # fmt: skip
    return tf.TrainingArguments(**{**defaults, **kwargs})


class RecordingTrainer(MixTrainer):
    """Keeps the evaluation logits of the trained model before T is folded in."""

    def calibrate_temperature(self):
        self.before = self.predict(self.eval_dataset)
        return super().calibrate_temperature()


@pytest.mark.parametrize("family", ["bert", "llama"])
def test_calibrated_model_saves_logits_divided_by_t(tmp_path, family):
    model = tiny.text_model("bert") if family == "bert" else family_model("llama")
    evaluation = tiny.text_dataset(n=16, seed=3)
    trainer = RecordingTrainer(
        model=model,
        args=make_args(tmp_path),
        train_dataset=tiny.text_dataset(n=8),
        eval_dataset=evaluation,
        data_collator=tiny.PadCollator(),
        mix_config=MixupConfig(level="hidden"),
        calibrate="temperature",
    )
    trainer.train()
    T = trainer.temperature
    assert T is not None and T > 0 and abs(T - 1) > 1e-3
    trainer.save_model()
    trainer.create_model_card()
    reloaded = type(model).from_pretrained(tmp_path)
    after = tf.Trainer(model=reloaded, args=make_args(tmp_path / "p"), data_collator=tiny.PadCollator()).predict(
        evaluation
    )
    before = trainer.before
    torch.testing.assert_close(
        torch.as_tensor(after.predictions), torch.as_tensor(before.predictions) / T, rtol=1e-4, atol=1e-5
    )
    labels = torch.as_tensor(before.label_ids)
    nll_before = negative_log_likelihood(torch.as_tensor(before.predictions), labels)
    nll_after = negative_log_likelihood(torch.as_tensor(after.predictions), labels)
    assert nll_after <= nll_before + 1e-6
    record = json.loads((tmp_path / "calibration.json").read_text())
    assert record["method"] == "temperature" and record["temperature"] == pytest.approx(T) and record["n"] == 16
    assert record["layer"] == ("classifier" if family == "bert" else "score")
    assert record["nll_after"] == pytest.approx(nll_after, rel=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # mix_config.json stays the recipe: no unknown key to warn about
        assert MixConfig.from_pretrained(tmp_path) == trainer.mix_config
    assert set(json.loads((tmp_path / "mix_config.json").read_text())) == set(trainer.mix_config.to_dict())
    assert f"T = {T:.6g}" in (tmp_path / "README.md").read_text()


def test_calibrate_refusals_at_construction(tmp_path):
    data = dict(train_dataset=tiny.text_dataset(n=8), data_collator=tiny.PadCollator())
    evaluation = tiny.text_dataset(n=8, seed=1)
    with pytest.raises(ValueError, match="pass one eval_dataset"):
        MixTrainer(model=tiny.text_model("bert"), args=make_args(tmp_path), calibrate="temperature", **data)
    with pytest.raises(ValueError, match="calibrate must be None or 'temperature'"):
        MixTrainer(model=tiny.text_model("bert"), args=make_args(tmp_path), calibrate="isotonic", **data)
    with pytest.raises(ValueError, match="single-label classifiers"):
        MixTrainer(
            model=tiny.text_model("bert", num_labels=1),
            args=make_args(tmp_path),
            eval_dataset=tiny.text_dataset(n=8, task="regression"),
            calibrate="temperature",
            **data,
        )
    with pytest.raises(ValueError, match="single-label classifiers"):
        MixTrainer(
            model=tiny.text_model("bert", problem_type="multi_label_classification"),
            args=make_args(tmp_path),
            eval_dataset=tiny.text_dataset(n=8, task="multi"),
            calibrate="temperature",
            **data,
        )
    model = tiny.text_model("bert")
    model.classifier = TanhHead()
    with pytest.raises(ValueError, match=r"'classifier\.proj' is not exact"):
        MixTrainer(model=model, args=make_args(tmp_path), eval_dataset=evaluation, calibrate="temperature", **data)
