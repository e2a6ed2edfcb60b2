"""What the calibration-aware mixers (RegMixup, RankMixup, mixup inference in training, Decoupled Mixup) share
through `batch_loss`: their batch losses equal the pure functions, what each reduces to when nothing is mixed,
the heads each refuses, their option checks, and training through MixTrainer at every level. Each mixer's own
formula is tested in `test_mixers_<name>.py`."""

import pytest
import tiny
import torch
import torch.nn.functional as F
import transformers as tf

from hfmix import (
    DecoupledMixupConfig,
    MixTrainer,
    MixupConfig,
    MixupInferenceConfig,
    RankMixupConfig,
    RegMixupConfig,
    get_mix_config,
)
from hfmix.mixed_forward import MixedForward
from hfmix.mixers.decoupled_mixup import decoupled_mixup_loss
from hfmix.mixers.mixup import mixup
from hfmix.mixers.rankmixup import mndcg_term, mrl_term
from hfmix.mixers.regmixup import regmixup_loss
from hfmix.sampling import MixPlan
from hfmix.targets import mix_targets, mixed_loss


tf.logging.set_verbosity_error()
B, C = tiny.CASE_ROWS, tiny.CASE_CLASSES


# ------------------------------------------------------------------------ batch_loss on a linear "model"
def linear_run(clean, labels):
    """run(plan) of a model that is linear from the mixing level on: mixed logits = mixup of the clean logits."""

    def run(plan):
        if plan is None or not bool(plan.mixed.any()):
            return MixedForward({"logits": clean}, labels, None)
        return MixedForward({"logits": mixup(clean, plan.index, plan.lam)}, labels, plan)

    return run


def loss_of(result):
    return mixed_loss(result.outputs["logits"], result.labels, result.plan, "single_label_classification")


def test_batch_losses_equal_the_pure_functions():
    clean, labels, index, lam = tiny.random_case(lam_per_row=False)
    plan, run = MixPlan(index, lam), linear_run(clean, labels)
    loss, _ = RegMixupConfig(eta=0.5).batch_loss(run, plan, loss_of)
    torch.testing.assert_close(loss, regmixup_loss(clean, mixup(clean, index, lam), labels, index, lam, 0.5))
    loss, _ = DecoupledMixupConfig(eta=0.3).batch_loss(run, plan, loss_of)
    torch.testing.assert_close(loss, decoupled_mixup_loss(mixup(clean, index, lam), labels, index, lam, 0.3))
    # MIT on a linear model recovers the clean outputs exactly: ½·CE(z, y) + ½·CE(z[index], y[index])
    loss, _ = MixupInferenceConfig().batch_loss(run, plan, loss_of)
    expected = 0.5 * F.cross_entropy(clean, labels) + 0.5 * F.cross_entropy(clean[index], labels[index])
    torch.testing.assert_close(loss, expected)
    for config in (RankMixupConfig(margin=1.0), RankMixupConfig(loss="mndcg", num_mixup=3)):
        plans = config.copies(plan)
        assert len(plans) == (3 if config.loss == "mndcg" else 1) and plans[0] is plan
        mixed = torch.stack([mixup(clean, p.index, p.lam) for p in plans])
        targets = torch.stack([mix_targets(labels, p, C) for p in plans])
        if config.loss == "mrl":
            term = mrl_term(clean, mixed, targets, 1.0)
        else:
            term = mndcg_term(clean, mixed, targets, torch.stack([p.mixed for p in plans]).any(0))
        loss, _ = config.batch_loss(run, plan, loss_of)
        torch.testing.assert_close(loss, F.cross_entropy(clean, labels) + 0.1 * term)


def test_what_each_method_reduces_to_when_nothing_is_mixed():
    clean, labels, _, _ = tiny.random_case()
    run, plain = linear_run(clean, labels), F.cross_entropy(clean, labels)
    nothing = MixPlan.identity(B)  # a plan that mixes no row (prob=0 draws one)
    configs = [
        RegMixupConfig(),
        RankMixupConfig(),
        RankMixupConfig(loss="mndcg"),
        MixupInferenceConfig(),
        DecoupledMixupConfig(),
    ]
    for config in configs:
        loss, _ = config.batch_loss(run, None, loss_of)  # no plan (prob=0, or after mix_stop): plain CE
        torch.testing.assert_close(loss, plain, msg=type(config).__name__)
        loss, _ = config.batch_loss(run, nothing, loss_of)
        expected = (1 + config.eta) * plain if isinstance(config, RegMixupConfig) else plain  # RegMixup: x̃ = x
        torch.testing.assert_close(loss, expected, msg=type(config).__name__)
    # η = 0: RegMixup is plain CE, Decoupled Mixup is mixup; weight 0: RankMixup is plain CE
    _, _, index, lam = tiny.random_case()
    plan = MixPlan(index, lam)
    torch.testing.assert_close(RegMixupConfig(eta=0.0).batch_loss(run, plan, loss_of)[0], plain)
    torch.testing.assert_close(DecoupledMixupConfig(eta=0.0).batch_loss(run, plan, loss_of)[0], loss_of(run(plan)))
    torch.testing.assert_close(RankMixupConfig(weight=0.0).batch_loss(run, plan, loss_of)[0], plain)


def test_mit_draws_are_reproducible_from_the_plan():
    clean, labels, index, lam = tiny.random_case()
    seen = []

    def run(plan):
        seen.append(None if plan is None else plan.lam.clone())
        return linear_run(clean, labels)(plan)

    MixupInferenceConfig().batch_loss(run, MixPlan(index, lam), loss_of)
    MixupInferenceConfig().batch_loss(run, MixPlan(index, lam), loss_of)
    assert len(seen) == 4 and torch.equal(seen[0], seen[2]) and torch.equal(seen[1], seen[3])
    assert (seen[0][:5] - seen[1][:5] >= 0.5).all() and seen[0][5] == seen[1][5] == 1  # row 5 not mixed


@pytest.mark.parametrize("config", [RankMixupConfig(), DecoupledMixupConfig()], ids=lambda c: c.mix_type)
@pytest.mark.parametrize("head", ["regression", "multi_label", "token"])
def test_class_only_methods_refuse_other_heads(config, head):
    _, _, index, lam = tiny.random_case()
    logits, labels = {
        "regression": (torch.randn(B, 1), torch.randn(B)),
        "multi_label": (torch.randn(B, C), torch.randint(0, 2, (B, C)).float()),
        "token": (torch.randn(B, 5, C), torch.randint(0, C, (B, 5))),
    }[head]

    def run(plan):
        return MixedForward({"logits": logits}, labels, plan)

    with pytest.raises(ValueError, match="defined for single-label classification"):
        config.batch_loss(run, MixPlan(index, lam), lambda r: logits.sum())


@pytest.mark.parametrize(
    "mix_type, kwargs, field",
    [
        ("regmixup", {"eta": -1.0}, "eta"),
        ("decoupled_mixup", {"eta": -0.1}, "eta"),
        ("rankmixup", {"weight": -1.0}, "weight"),
        ("rankmixup", {"margin": -1.0}, "margin"),
        ("rankmixup", {"num_mixup": 0}, "num_mixup"),
        ("rankmixup", {"level": "inputs", "snr_db": [0.0, 10.0]}, "snr_db"),
        ("mixup_inference", {"margin": 0.0}, "margin"),
        ("mixup_inference", {"margin": 1.0}, "margin"),
        ("mixup_inference", {"margin": 0.9, "alpha": 1000.0}, "margin"),
        ("mixup_inference", {"lambda_correction": "length"}, "lambda_correction"),
        ("regmixup", {"alpha": float("inf")}, "alpha"),
    ],
)
def test_out_of_range_fields_are_named(mix_type, kwargs, field):
    with pytest.raises(ValueError, match=field):
        get_mix_config(mix_type, **kwargs)


CONFIGS = {
    "regmixup": lambda level: RegMixupConfig(level=level),
    "rankmixup_mrl": lambda level: RankMixupConfig(level=level),
    "rankmixup_mndcg": lambda level: RankMixupConfig(level=level, loss="mndcg", num_mixup=2),
    "mixup_inference": lambda level: MixupInferenceConfig(level=level),
    "decoupled_mixup": lambda level: DecoupledMixupConfig(level=level),
}


@pytest.mark.parametrize("level", ["embeddings", "hidden", "pooled", "inputs"])
@pytest.mark.parametrize("method", list(CONFIGS))
def test_trains_at_every_level(tmp_path, method, level):
    """BERT at the text levels, wav2vec2 at 'inputs': finite weights that all moved (never trust a logged loss)."""
    audio = level == "inputs"
    model = tiny.audio_model("wav2vec2") if audio else tiny.text_model("bert")
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    trainer = MixTrainer(
        model=model,
        args=tiny.make_args(tmp_path, max_steps=2),
        train_dataset=tiny.audio_dataset("wav2vec2", n=8) if audio else tiny.text_dataset(n=8),
        data_collator=tiny.PadCollator(),
        mix_config=CONFIGS[method](level),
    )
    trainer.train()
    bad = [n for n, p in model.named_parameters() if not torch.isfinite(p).all()]
    assert not bad, f"non-finite weights: {bad}"
    still = [n for n, p in model.named_parameters() if n in before and torch.equal(before[n], p)]
    assert not still, f"weights that did not move: {still}"
    assert any(h.get("mix_fraction", 0) > 0 for h in trainer.state.log_history)


@pytest.mark.parametrize("method", ["regmixup", "rankmixup_mrl", "mixup_inference", "decoupled_mixup"])
def test_prob_zero_trains_as_plain_cross_entropy(tmp_path, method):
    def train(config):
        model = tiny.text_model("bert")
        trainer = MixTrainer(
            model=model,
            args=tiny.make_args(tmp_path, max_steps=2),
            train_dataset=tiny.text_dataset(n=8),
            data_collator=tiny.PadCollator(),
            mix_config=config,
        )
        trainer.train()
        return model

    plain, ours = train(MixupConfig(prob=0.0)), train(CONFIGS[method]("embeddings").__class__(prob=0.0))
    for (name, a), b in zip(plain.named_parameters(), ours.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-7, rtol=1e-6, msg=name)
