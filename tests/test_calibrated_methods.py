"""Calibration-aware methods (RegMixup, RankMixup, mixup inference in training, Decoupled Mixup): each loss against
a direct (loop) implementation of its formula, what each reduces to when nothing is mixed, the heads each refuses,
and training through MixTrainer at every level."""

import math

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
from hfmix.mixers.mixup_inference import decouple, mixup_inference_loss, sample_mit_lambdas
from hfmix.mixers.rankmixup import mndcg_term, mrl_term
from hfmix.mixers.regmixup import regmixup_loss
from hfmix.sampling import MixPlan
from hfmix.targets import mix_targets, mixed_loss


tf.logging.set_verbosity_error()
B, C = 6, 4


def random_case(seed=0, lam_per_row=True):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, C, generator=g) * 3
    labels = torch.tensor([0, 1, 1, 2, 3, 0])  # rows 1 and 2 share a class: a same-class pair below
    index = torch.tensor([1, 2, 0, 4, 5, 5])  # row 5 is paired with itself: not mixed
    lam = torch.rand(B, generator=g) if lam_per_row else torch.full((B,), 0.3)
    lam[5] = 1.0
    return logits, labels, index, lam


def ce(z, y):  # one row, the textbook formula
    return -(z[y] - torch.logsumexp(z, 0))


# ---------------------------------------------------------------------------------------------- the formulas
def test_regmixup_loss_is_the_formula():
    clean, labels, index, lam = random_case()
    mixed = torch.randn(B, C, generator=torch.Generator().manual_seed(1))
    eta = 0.7
    direct = (
        sum(
            ce(clean[i], labels[i])
            + eta * (lam[i] * ce(mixed[i], labels[i]) + (1 - lam[i]) * ce(mixed[i], labels[index[i]]))
            for i in range(B)
        )
        / B
    )
    torch.testing.assert_close(regmixup_loss(clean, mixed, labels, index, lam, eta), direct)


def test_rankmixup_terms_are_the_formulas():
    clean, labels, index, lam = random_case()
    g = torch.Generator().manual_seed(2)
    K, margin = 3, 1.5
    mixed = torch.randn(K, B, C, generator=g) * 3
    plans = [MixPlan(index, lam)] + [
        MixPlan(index[torch.randperm(B, generator=g)], torch.rand(B, generator=g)) for _ in range(K - 1)
    ]
    targets = torch.stack([mix_targets(labels, p, C) for p in plans])
    mrl = sum(
        float(targets[k, i].max() < 1) * max(mixed[k, i].max() - clean[i].max() + margin, 0)
        for k in range(K)
        for i in range(B)
    ) / (K * B)
    torch.testing.assert_close(mrl_term(clean, mixed, targets, margin), torch.as_tensor(mrl).float())
    rows = torch.tensor([True, True, True, True, False, True])
    total = 0.0
    for i in range(B):
        items = sorted(
            [(float(targets[k, i].max()), float(mixed[k, i].softmax(0).max())) for k in range(K)], key=lambda t: -t[0]
        )
        items = [(1.0, float(clean[i].softmax(0).max()))] + items
        dcg = sum(conf / math.log2(r + 2) for r, (_, conf) in enumerate(items))
        idcg = sum(rel / math.log2(r + 2) for r, (rel, _) in enumerate(items))
        ndcg = dcg / idcg if idcg > dcg else idcg / dcg
        total += (1 - ndcg) * bool(rows[i])
    torch.testing.assert_close(mndcg_term(clean, mixed, targets, rows), torch.tensor(total / B).float())


def test_mit_decoupling_solves_the_two_mixes_and_the_loss_is_the_formula():
    g = torch.Generator().manual_seed(3)
    own, partner = torch.randn(B, C, generator=g), torch.randn(B, C, generator=g)
    lam1, lam2 = sample_mit_lambdas(1.0, 0.5, B, generator=g)
    assert (lam1 >= 0.5).all() and (lam2 <= 0.5).all() and (lam1 - lam2 >= 0.5).all()
    z1 = lam1[:, None] * own + (1 - lam1[:, None]) * partner
    z2 = lam2[:, None] * own + (1 - lam2[:, None]) * partner
    got_own, got_partner = decouple(z1, z2, lam1, lam2)
    torch.testing.assert_close(got_own, own)
    torch.testing.assert_close(got_partner, partner)
    # the loss, each row's 2×2 system solved directly; row 5 is not mixed (λ₁ = λ₂ = 1)
    _, labels, index, _ = random_case()
    lam1[5] = lam2[5] = 1.0
    direct = 0.0
    for i in range(B):
        if index[i] == i:
            direct += 0.5 * ce(z1[i], labels[i]) + 0.5 * ce(z2[i], labels[i])
            continue
        system = torch.tensor([[lam1[i], 1 - lam1[i]], [lam2[i], 1 - lam2[i]]])
        solved = torch.linalg.solve(system, torch.stack([z1[i], z2[i]]))
        direct += 0.5 * ce(solved[0], labels[i]) + 0.5 * ce(solved[1], labels[index[i]])
    torch.testing.assert_close(mixup_inference_loss(z1, z2, labels, index, lam1, lam2), direct / B)


def test_decoupled_mixup_loss_is_the_formula():
    logits, labels, index, lam = random_case()
    eta = 0.4
    direct = 0.0
    for i in range(B):
        a, b = int(labels[i]), int(labels[index[i]])
        target = lam[i] * F.one_hot(labels[i], C) + (1 - lam[i]) * F.one_hot(labels[index[i]], C)
        row = -(target * logits[i].log_softmax(0)).sum()
        if index[i] != i and a != b:  # rows 1-2 (same class) and 5 (not mixed) get the soft CE alone
            for this, other in ((a, b), (b, a)):
                kept = [c for c in range(C) if c != other]
                row += eta * -(logits[i, this] - torch.logsumexp(logits[i, kept], 0))
        direct += row
    torch.testing.assert_close(decoupled_mixup_loss(logits, labels, index, lam, eta), direct / B)


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
    clean, labels, index, lam = random_case(lam_per_row=False)
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
    clean, labels, _, _ = random_case()
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
    _, _, index, lam = random_case()
    plan = MixPlan(index, lam)
    torch.testing.assert_close(RegMixupConfig(eta=0.0).batch_loss(run, plan, loss_of)[0], plain)
    torch.testing.assert_close(DecoupledMixupConfig(eta=0.0).batch_loss(run, plan, loss_of)[0], loss_of(run(plan)))
    torch.testing.assert_close(RankMixupConfig(weight=0.0).batch_loss(run, plan, loss_of)[0], plain)


def test_mit_draws_are_reproducible_from_the_plan():
    clean, labels, index, lam = random_case()
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
    _, _, index, lam = random_case()
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


# ----------------------------------------------------------------------------------- through MixTrainer
def make_args(tmp_path, **kwargs):
    defaults = dict(
        output_dir=str(tmp_path), per_device_train_batch_size=4, learning_rate=1e-2, max_steps=2, report_to=[],
        use_cpu=True, logging_steps=1, save_strategy="no", seed=0, logging_nan_inf_filter=False,
    )  # fmt: skip
    return tf.TrainingArguments(**{**defaults, **kwargs})


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
        args=make_args(tmp_path),
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
            args=make_args(tmp_path),
            train_dataset=tiny.text_dataset(n=8),
            data_collator=tiny.PadCollator(),
            mix_config=config,
        )
        trainer.train()
        return model

    plain, ours = train(MixupConfig(prob=0.0)), train(CONFIGS[method]("embeddings").__class__(prob=0.0))
    for (name, a), b in zip(plain.named_parameters(), ours.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-7, rtol=1e-6, msg=name)
