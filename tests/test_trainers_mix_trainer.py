"""`hfmix.trainers.mix_trainer`: MixTrainer end to end on tiny models: every architecture and level trains, GA is
exact, resume is exact, evaluation is unmixed, the recipe is saved, bad labels get clear errors, and a real
2-process run (tests/torchrun/mix_trainer.py)."""

import json

import pytest
import tiny
import torch
import transformers as tf

from hfmix import MixConfig, MixTrainer, MixupConfig
from hfmix.functional import mixup, soft_target_cross_entropy


tf.logging.set_verbosity_error()


@pytest.mark.parametrize("level", ["embeddings", "hidden", "pooled"])
@pytest.mark.parametrize("arch", list(tiny.TEXT_MODELS))
def test_text_models_train_at_every_level(tmp_path, arch, level):
    model = tiny.text_model(arch)
    before = tiny.trainable_snapshot(model)
    trainer = MixTrainer(
        model=model,
        args=tiny.make_args(tmp_path),
        train_dataset=tiny.text_dataset(),
        data_collator=tiny.PadCollator(),
        mix_config=MixupConfig(level=level),
    )
    trainer.train()
    tiny.assert_trained(trainer, before)  # every trainable parameter moved, and stayed finite


@pytest.mark.parametrize("level", ["inputs", "hidden", "pooled"])
@pytest.mark.parametrize("arch", ["wav2vec2", "hubert", "ast", "whisper"])
def test_audio_models_train_at_every_level(tmp_path, arch, level):
    model = tiny.audio_model(arch)
    before = tiny.trainable_snapshot(model)
    trainer = MixTrainer(
        model=model,
        args=tiny.make_args(tmp_path),
        train_dataset=tiny.audio_dataset(arch),
        data_collator=tiny.PadCollator(),
        mix_config=MixupConfig(level=level),
    )
    trainer.train()
    tiny.assert_trained(trainer, before)
    assert any(h.get("mix_fraction", 0) > 0 for h in trainer.state.log_history)


@pytest.mark.parametrize("level", ["embeddings", "hidden", "pooled"])
def test_peft_lora_trains_only_the_adapter(tmp_path, level):
    from peft import LoraConfig, TaskType, get_peft_model

    model = get_peft_model(
        tiny.text_model("bert"), LoraConfig(task_type=TaskType.SEQ_CLS, r=4, target_modules=["query", "value"])
    )
    everything = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = MixTrainer(
        model=model,
        args=tiny.make_args(tmp_path),
        train_dataset=tiny.text_dataset(),
        data_collator=tiny.PadCollator(),
        mix_config=MixupConfig(level=level),
    )
    trainer.train()
    moved = tiny.changed(model, everything)
    assert moved and all("lora_" in n or "classifier" in n for n in moved)
    assert any("lora_A" in n for n in moved)


def test_gradient_accumulation_is_exact(tmp_path):
    def run(batch_size, accumulation):
        model = tiny.text_model("bert", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        args = tiny.make_args(
            tmp_path,
            per_device_train_batch_size=batch_size,
            gradient_accumulation_steps=accumulation,
            max_steps=2,
            learning_rate=1e-3,
            max_grad_norm=1e9,
        )
        trainer = MixTrainer(
            model=model,
            args=args,
            train_dataset=tiny.text_dataset(n=16),
            data_collator=tiny.PadCollator(),
            mix_config=MixupConfig(prob=0.0, level="hidden"),
        )
        trainer.train()
        return model, [h["loss"] for h in trainer.state.log_history if "loss" in h]

    reference, ref_losses = run(8, 1)
    accumulated, acc_losses = run(4, 2)
    assert acc_losses == pytest.approx(ref_losses, rel=1e-4)  # not doubled
    for (name, a), b in zip(reference.named_parameters(), accumulated.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)


def test_prob_zero_reproduces_a_plain_trainer(tmp_path):
    def run(trainer_cls, **extra):
        model = tiny.text_model("bert")  # dropout on: the RNG streams must line up too
        trainer = trainer_cls(
            model=model,
            args=tiny.make_args(tmp_path, max_steps=4),
            train_dataset=tiny.text_dataset(),
            data_collator=tiny.PadCollator(),
            **extra,
        )
        trainer.train()
        return model, [h["loss"] for h in trainer.state.log_history if "loss" in h]

    plain, plain_losses = run(tf.Trainer)
    mixed, mixed_losses = run(MixTrainer, mix_config=MixupConfig(prob=0.0))
    assert mixed_losses == pytest.approx(plain_losses, rel=1e-6)
    for (name, a), b in zip(plain.named_parameters(), mixed.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-7, rtol=1e-6, msg=name)


@pytest.mark.parametrize("batch_size, n", [(3, 7), (1, 3)])
def test_odd_batches_and_batch_size_one(tmp_path, batch_size, n):
    model = tiny.text_model("bert")
    before = tiny.trainable_snapshot(model)
    trainer = MixTrainer(
        model=model,
        args=tiny.make_args(tmp_path, per_device_train_batch_size=batch_size, max_steps=-1, num_train_epochs=1),
        train_dataset=tiny.text_dataset(n=n),
        data_collator=tiny.PadCollator(),
        mix_config=MixupConfig(level="hidden"),
    )
    trainer.train()
    tiny.assert_trained(trainer, before, every_parameter=False)
    fractions = [h["mix_fraction"] for h in trainer.state.log_history if "mix_fraction" in h]
    if batch_size == 1:
        assert fractions == [0.0] * n  # nothing to mix with: unmixed, no error
    else:
        assert fractions[:2] == [1.0, 1.0] and fractions[2] == 0.0  # 3, 3, then a last batch of 1


def test_resume_draws_the_same_plans_and_ends_with_the_same_weights(tmp_path):
    def trainer_for(output_dir, **extra):
        args = tiny.make_args(output_dir, max_steps=6, save_strategy="steps", save_steps=3, **extra)
        return MixTrainer(
            model=tiny.text_model("bert"),
            args=args,
            train_dataset=tiny.text_dataset(n=32),
            data_collator=tiny.PadCollator(),
            mix_config=MixupConfig(level="hidden", alpha=1.0),
        )

    full = trainer_for(tmp_path / "full")
    full.train()
    assert json.loads((tmp_path / "full/checkpoint-3/mix_config.json").read_text())["level"] == "hidden"
    resumed = trainer_for(tmp_path / "resumed")
    resumed.train(resume_from_checkpoint=str(tmp_path / "full/checkpoint-3"))
    for (name, a), b in zip(full.model.named_parameters(), resumed.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)
    lambdas = [h["mix_lambda"] for h in full.state.log_history if "mix_lambda" in h]
    resumed_lambdas = [h["mix_lambda"] for h in resumed.state.log_history if "mix_lambda" in h]
    assert len(lambdas) == 6 and resumed_lambdas[-3:] == lambdas[-3:]  # steps 4-6 drew the same λ


def test_evaluation_is_unmixed_and_metrics_get_hard_labels(tmp_path):
    seen = {}

    def compute_metrics(prediction):
        seen["labels"] = prediction.label_ids
        return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}

    model = tiny.text_model("bert")
    eval_set = tiny.text_dataset(n=10, seed=1)
    trainer = MixTrainer(
        model=model,
        args=tiny.make_args(tmp_path, per_device_eval_batch_size=10),
        train_dataset=tiny.text_dataset(),
        eval_dataset=eval_set,
        data_collator=tiny.PadCollator(),
        compute_metrics=compute_metrics,
        mix_config=MixupConfig(level="hidden"),
    )
    trainer.train()
    first, second = trainer.evaluate(), trainer.evaluate()
    assert first["eval_loss"] == second["eval_loss"]
    batch = tiny.PadCollator()([eval_set[i] for i in range(10)])
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    assert first["eval_loss"] == pytest.approx(
        torch.nn.functional.cross_entropy(logits, batch["labels"]).item(), rel=1e-5
    )
    assert seen["labels"].tolist() == batch["labels"].tolist()
    assert model.config.problem_type is None  # soft labels never rewrote the config


def test_recipe_is_saved_with_the_model_and_tagged_in_the_card(tmp_path):
    config = MixupConfig(level="pooled", alpha=0.3)
    trainer = MixTrainer(
        model=tiny.text_model("bert"),
        args=tiny.make_args(tmp_path, save_strategy="steps", save_steps=2),
        train_dataset=tiny.text_dataset(),
        data_collator=tiny.PadCollator(),
        mix_config=config,
    )
    trainer.train()
    trainer.save_model()
    assert MixConfig.from_pretrained(tmp_path) == config
    assert MixConfig.from_pretrained(tmp_path / "checkpoint-2") == config
    trainer.create_model_card()
    card = (tmp_path / "README.md").read_text()
    assert "- hfmix" in card and "- mixup" in card and "zhang2018mixup" in card and '"level": "pooled"' in card


def test_mix_stop_switches_mixing_off(tmp_path):
    trainer = MixTrainer(
        model=tiny.text_model("bert"),
        args=tiny.make_args(tmp_path, max_steps=6),
        train_dataset=tiny.text_dataset(),
        data_collator=tiny.PadCollator(),
        mix_config=MixupConfig(mix_stop=0.5),
    )
    trainer.train()
    fractions = [h["mix_fraction"] for h in trainer.state.log_history if "mix_fraction" in h]
    assert all(f > 0 for f in fractions[:3]) and fractions[3:] == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("task", ["single", "multi", "regression"])
def test_loss_is_the_mixup_formula_for_each_head(tmp_path, task):
    num_labels = 1 if task == "regression" else 3
    problem = {"single": None, "multi": "multi_label_classification", "regression": None}[task]
    model = tiny.text_model("bert", num_labels=num_labels, problem_type=problem).eval()
    data = tiny.text_dataset(n=4, task=task)
    trainer = MixTrainer(model=model, args=tiny.make_args(tmp_path), mix_config=MixupConfig(level="pooled"))
    batch = tiny.PadCollator()([data[i] for i in range(4)])
    index, lam = torch.tensor([1, 0, 3, 2]), torch.tensor([0.3, 0.6, 0.8, 0.5])
    model.train()  # mixing happens in training mode; dropout is 0 in eval-equivalent check below
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    loss = trainer.compute_loss(model, {**batch, "mix_index": index, "mix_lam": lam})
    with torch.no_grad():
        pooled = model.bert(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).pooler_output
        logits = model.classifier(mixup(pooled, index, lam))
        labels = batch["labels"]
        if task == "single":
            expected = (
                lam * torch.nn.functional.cross_entropy(logits, labels, reduction="none")
                + (1 - lam) * torch.nn.functional.cross_entropy(logits, labels[index], reduction="none")
            ).mean()
        elif task == "multi":
            expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, mixup(labels, index, lam))
        else:
            expected = torch.nn.functional.mse_loss(logits.squeeze(-1), mixup(labels, index, lam))
    torch.testing.assert_close(loss.detach(), expected)


def token_dataset(n=16, num_labels=4, seed=0):
    """Rows of 3 to 11 tokens with a label per word token and -100 on [CLS] / [SEP] (and, once padded, padding)."""
    rows = tiny.text_dataset(n=n, seed=seed, min_len=1, max_len=9)

    def token_labels(row):
        return {"labels": [-100] + [t % num_labels for t in row["input_ids"][1:-1]] + [-100]}

    return rows.map(token_labels).remove_columns("label")


class TokenPadCollator:
    """Pads input ids with 0, the attention mask with 0 and token labels with -100 (as DataCollatorForTokenClassification)."""

    def __call__(self, features):
        longest = max(len(f["input_ids"]) for f in features)

        def pad(key, value):
            return torch.tensor([list(f[key]) + [value] * (longest - len(f[key])) for f in features])

        return {
            "input_ids": pad("input_ids", 0),
            "attention_mask": pad("attention_mask", 0),
            "labels": pad("labels", -100),
        }


def test_token_classification_prob_zero_reproduces_a_plain_trainer(tmp_path):
    data = token_dataset()
    batch = TokenPadCollator()([data[i] for i in range(4)])
    counted = (batch["labels"] != -100).sum(-1)
    assert len(set(counted.tolist())) > 1 and (batch["attention_mask"] == 0).any()  # real padding, unequal rows

    def run(trainer_cls, **extra):
        torch.manual_seed(0)
        model = tf.BertForTokenClassification(tiny.text_config("bert", num_labels=4))  # dropout on, as a user's
        trainer = trainer_cls(
            model=model,
            args=tiny.make_args(tmp_path, max_steps=4),
            train_dataset=data,
            data_collator=TokenPadCollator(),
            **extra,
        )
        trainer.train()
        return model, [h["loss"] for h in trainer.state.log_history if "loss" in h]

    plain, plain_losses = run(tf.Trainer)
    mixed, mixed_losses = run(MixTrainer, mix_config=MixupConfig(prob=0.0))
    assert mixed_losses == pytest.approx(plain_losses, rel=1e-6)  # HF's mean over all counted tokens of the batch
    for (name, a), b in zip(plain.named_parameters(), mixed.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-7, rtol=1e-6, msg=name)


def test_token_classification_mixes_a_token_weighted_mean(tmp_path):
    model = tf.BertForTokenClassification(tiny.text_config("bert", num_labels=4)).eval()
    batch = {
        "input_ids": torch.randint(5, 90, (3, 6)),
        "attention_mask": torch.ones(3, 6, dtype=torch.long),
        "labels": torch.randint(0, 4, (3, 6)),
    }
    batch["labels"][0, 4:] = -100
    batch["labels"][2, 1:] = -100
    trainer = MixTrainer(model=model, args=tiny.make_args(tmp_path), mix_config=MixupConfig(level="embeddings"))
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    index, lam = torch.tensor([2, 0, 1]), torch.tensor([0.25, 0.5, 0.75])
    loss = trainer.compute_loss(model, {**batch, "mix_index": index, "mix_lam": lam})
    with torch.no_grad():
        embeds = mixup(model.get_input_embeddings()(batch["input_ids"]), index, lam, batch["attention_mask"])
        logits = model(inputs_embeds=embeds, attention_mask=batch["attention_mask"]).logits

    def summed(labels):  # Σ over each row's counted tokens
        return torch.stack(
            [
                torch.nn.functional.cross_entropy(logits[i], labels[i], ignore_index=-100, reduction="sum")
                for i in range(3)
            ]
        )

    def count(labels):
        return (labels != -100).sum(-1).float()

    labels = batch["labels"]
    expected = (lam * summed(labels) + (1 - lam) * summed(labels[index])).sum() / (
        lam * count(labels) + (1 - lam) * count(labels[index])
    ).sum()
    torch.testing.assert_close(loss.detach(), expected)


def test_bf16_autocast_trains_with_finite_weights(tmp_path):
    model = tiny.text_model("bert")
    before = tiny.trainable_snapshot(model)
    trainer = MixTrainer(
        model=model,
        args=tiny.make_args(tmp_path, bf16=True),
        train_dataset=tiny.text_dataset(),
        data_collator=tiny.PadCollator(),
        mix_config=MixupConfig(level="hidden"),
    )
    trainer.train()
    tiny.assert_trained(trainer, before)


@pytest.mark.parametrize(
    "labels, message",
    [
        (torch.tensor([[0, 1]] * 4), r"Class labels must have shape \(4,\)"),
        (torch.tensor([0, 1, 7, 2]), "Class label 7 is out of range for num_labels=3"),
        (torch.tensor([0.0, 1.0, 2.0, 0.0]), "float class ids.*cast the label column to int"),
        (torch.tensor([[0.5, 0.6, 0.0]] * 4), "sum to 1"),
    ],
)
def test_bad_classification_labels(tmp_path, labels, message):
    trainer = MixTrainer(model=tiny.text_model("bert"), args=tiny.make_args(tmp_path))
    batch = tiny.PadCollator()([tiny.text_dataset(n=4)[i] for i in range(4)])
    trainer.model.config.problem_type = "single_label_classification" if labels.is_floating_point() else None
    with pytest.raises(ValueError, match=message):
        trainer.compute_loss(trainer.model, {**batch, "labels": labels})


def test_nan_and_misshapen_regression_labels(tmp_path):
    trainer = MixTrainer(model=tiny.text_model("bert", num_labels=1), args=tiny.make_args(tmp_path))
    batch = tiny.PadCollator()([tiny.text_dataset(n=4, task="regression")[i] for i in range(4)])
    with pytest.raises(ValueError, match="NaN"):
        trainer.compute_loss(trainer.model, {**batch, "labels": torch.tensor([0.1, float("nan"), 0.2, 0.3])})
    with pytest.raises(ValueError, match="Regression labels"):
        trainer.compute_loss(trainer.model, {**batch, "labels": torch.zeros(4, 2)})
    with pytest.raises(ValueError, match="needs labels in each batch"):
        trainer.compute_loss(trainer.model, {k: v for k, v in batch.items() if k != "labels"})


def test_recipes_that_cannot_fit_the_model_fail_at_construction(tmp_path):
    with pytest.raises(ValueError, match=r"past the model's depth of 2"):
        MixTrainer(
            model=tiny.text_model("bert"),
            args=tiny.make_args(tmp_path),
            mix_config=MixupConfig(level="hidden", layers=[3]),
        )
    with pytest.raises(ValueError, match="level='embeddings' needs a model with input"):
        MixTrainer(model=tiny.audio_model("wav2vec2"), args=tiny.make_args(tmp_path), mix_config=MixupConfig())
    with pytest.raises(ValueError, match="alpha must be > 0"):
        MixTrainer(
            model=tiny.text_model("bert"), args=tiny.make_args(tmp_path), mix_config={"mix_type": "mixup", "alpha": 0}
        )


def test_compute_loss_func_receives_the_mixed_targets(tmp_path):
    received = []

    def loss_func(outputs, targets, num_items_in_batch=None):
        received.append(targets)
        return soft_target_cross_entropy(outputs.logits, targets) if targets.dim() == 2 else outputs.logits.sum() * 0

    trainer = MixTrainer(
        model=tiny.text_model("bert"),
        args=tiny.make_args(tmp_path, max_steps=1),
        train_dataset=tiny.text_dataset(),
        data_collator=tiny.PadCollator(),
        compute_loss_func=loss_func,
        mix_config=MixupConfig(level="pooled"),
    )
    trainer.train()
    (targets,) = received
    assert targets.shape == (4, 3) and torch.allclose(targets.sum(-1), torch.ones(4))
    assert ((targets > 0) & (targets < 1)).any()  # really mixed


def test_prob_zero_skips_the_level_check(tmp_path):
    model = tiny.audio_model("wav2vec2")  # no word embeddings, but mixing is off: a plain Trainer
    before = tiny.trainable_snapshot(model)
    trainer = MixTrainer(
        model=model,
        args=tiny.make_args(tmp_path),
        train_dataset=tiny.audio_dataset("wav2vec2"),
        data_collator=tiny.PadCollator(),
        mix_config=MixupConfig(prob=0.0),
    )
    trainer.train()
    tiny.assert_trained(trainer, before, every_parameter=False)


def test_two_process_training(tmp_path):
    report = tmp_path / "report.json"
    tiny.run_two_processes("mix_trainer.py", str(report))
    result = json.loads(report.read_text())
    assert result == {
        "world_size": 2,
        "finite_loss": True,
        "reproducible": True,
        "ranks_draw_different_plans": True,
        "plans_per_rank": 3,
        "replicas_in_sync": True,
    }
