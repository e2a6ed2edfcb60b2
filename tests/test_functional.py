"""The pure tensor functions, against direct implementations of the formulas."""

import pytest
import torch
import torch.nn.functional as F

from hfmix import MixPlan, list_mixers
from hfmix.functional import (
    interpolate_losses,
    label_similarity_partners,
    mix_targets,
    mixup,
    random_partners,
    sample_lambda,
    sample_mix_plan,
    soft_target_cross_entropy,
    union_mask,
)
from hfmix.registry import get_mixer_class
from hfmix.sampling import make_generator
from hfmix.targets import micro_batch_token_count, mixed_loss


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_mixup_matches_the_formula_per_row():
    x = torch.randn(5, 3, 4)
    index = torch.tensor([2, 0, 1, 4, 3])
    lam = torch.tensor([0.1, 0.5, 0.9, 1.0, 0.3])
    out = mixup(x, index, lam)
    for i in range(5):
        torch.testing.assert_close(out[i], lam[i] * x[i] + (1 - lam[i]) * x[index[i]])
    torch.testing.assert_close(mixup(x, index, 0.25), 0.25 * x + 0.75 * x[index])


def test_mixup_keeps_dtype_and_bf16_is_finite():
    x = torch.randn(4, 6).to(torch.bfloat16)
    out = mixup(x, torch.tensor([1, 0, 3, 2]), torch.tensor([0.3] * 4))
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


def test_padding_is_never_mixed_in():
    x = torch.randn(3, 6, 2)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0]])
    x[mask == 0] = 1e6  # poison the padding
    index = torch.tensor([1, 2, 0])
    lam = torch.tensor([0.5, 0.5, 0.5])
    out = mixup(x, index, lam, mask)
    valid = union_mask(mask, index).bool()
    assert out[valid].abs().max() < 100, "padding leaked into real positions"
    torch.testing.assert_close(out[0, :3], 0.5 * x[0, :3] + 0.5 * x[1, :3])  # both real: mixed
    torch.testing.assert_close(out[0, 3:], x[0, 3:])  # partner is padding: own value
    torch.testing.assert_close(out[1, 2], x[2, 2] * 0 + x[1, 2])  # partner (row 2) padding at t=2
    torch.testing.assert_close(out[2, 2:3], x[0, 2:3])  # own padding, partner real: partner's value


def test_union_mask_formats():
    index = torch.tensor([1, 0])
    two_d = torch.tensor([[1, 1, 0], [1, 0, 0]])
    assert union_mask(two_d, index).tolist() == [[1, 1, 0], [1, 1, 0]]
    boolean = two_d.bool()[:, None, None, :].expand(2, 1, 3, 3)
    assert union_mask(boolean, index)[:, 0, 0].tolist() == [[True, True, False]] * 2
    additive = torch.where(boolean, 0.0, torch.finfo(torch.float32).min)
    assert (union_mask(additive, index)[:, 0, 0] == 0).tolist() == [[True, True, False]] * 2


def test_mixup_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"index must have shape \(4,\)"):
        mixup(torch.randn(4, 2), torch.tensor([0, 1]), 0.5)
    with pytest.raises(ValueError, match="lam must be"):
        mixup(torch.randn(4, 2), torch.arange(4), torch.ones(3))
    with pytest.raises(ValueError, match="mask must have shape"):
        mixup(torch.randn(4, 5, 2), torch.arange(4), 0.5, torch.ones(4, 6))


@pytest.mark.parametrize("batch_size", [1, 2, 3, 7, 8])
def test_random_partners_any_batch_size(batch_size):
    index = random_partners(batch_size, generator=gen())
    assert sorted(index.tolist()) == list(range(batch_size))  # a permutation
    if batch_size > 1:
        assert (index != torch.arange(batch_size)).all()  # nobody mixed with itself
    torch.testing.assert_close(index, random_partners(batch_size, generator=gen()))


def test_sample_lambda_is_beta_distributed_and_seeded():
    lam = sample_lambda(0.4, 20000, generator=gen())
    assert lam.min() >= 0 and lam.max() <= 1
    assert abs(lam.mean() - 0.5) < 0.01  # Beta(a, a) has mean 1/2 ...
    assert abs(lam.var() - 1 / (4 * (2 * 0.4 + 1))) < 0.01  # ... and variance 1 / (4(2a + 1))
    torch.testing.assert_close(lam, sample_lambda(0.4, 20000, generator=gen()))
    assert (sample_lambda(0.4, 1000, generator=gen(), dominant=True) >= 0.5).all()
    with pytest.raises(ValueError, match="alpha"):
        sample_lambda(0.0, 3, generator=gen())


def test_sample_mix_plan_probability_and_lambda_per():
    plan = sample_mix_plan(4000, alpha=1.0, generator=gen(), prob=0.3, lambda_per="sample")
    assert abs(plan.mixed.float().mean() - 0.3) < 0.03
    rows = torch.arange(4000)
    assert (plan.index[~plan.mixed] == rows[~plan.mixed]).all() and (plan.lam[~plan.mixed] == 1).all()
    assert plan.lam[plan.mixed].unique().numel() > 100
    batch_plan = sample_mix_plan(16, alpha=1.0, generator=gen(), lambda_per="batch")
    assert batch_plan.lam.unique().numel() == 1
    assert (sample_mix_plan(16, alpha=1.0, generator=gen(), prob=0.0).lam == 1).all()


def test_sample_mix_plan_draws_layers_from_the_set():
    layers = {sample_mix_plan(4, alpha=1.0, generator=gen(s), layers=(2, 5, 9)).layer for s in range(60)}
    assert layers == {2, 5, 9}


def test_batch_of_one_is_left_unmixed():
    plan = sample_mix_plan(1, alpha=1.0, generator=gen())
    assert plan.index.tolist() == [0] and plan.lam.tolist() == [1.0] and not plan.mixed.any()


def test_label_similarity_partner_distribution_matches_the_formula():
    labels = torch.tensor([0.0, 0.1, 0.5, 1.0, 1.2, 3.0])
    sigma = 0.5
    dense = torch.exp(-((labels[:, None] - labels[None, :]) ** 2) / (2 * sigma**2))
    expected = dense / dense.sum(1, keepdim=True)  # C-Mixup's P(j | i), j = i included
    g = gen()
    draws = torch.stack([label_similarity_partners(labels, sigma, generator=g) for _ in range(6000)])
    empirical = torch.stack([torch.bincount(draws[:, i], minlength=6) / len(draws) for i in range(6)])
    total_variation = 0.5 * (empirical - expected).abs().sum(1)
    assert total_variation.max() < 0.03, total_variation


def test_label_similarity_excluding_self_and_multi_dimensional_labels():
    labels = torch.randn(8, 3)
    draws = torch.stack(
        [label_similarity_partners(labels, 1.0, generator=gen(s), exclude_self=True) for s in range(200)]
    )
    assert (draws != torch.arange(8)).all()
    with pytest.raises(ValueError, match="NaN"):
        label_similarity_partners(torch.tensor([0.0, float("nan")]), 1.0, generator=gen())
    with pytest.raises(ValueError, match="bandwidth"):
        label_similarity_partners(torch.zeros(3), 0.0, generator=gen())


def test_mix_targets_soft_labels_sum_to_one():
    labels = torch.tensor([0, 2, 1, 2])
    plan = MixPlan(torch.tensor([1, 0, 3, 2]), torch.tensor([0.7, 0.2, 1.0, 0.5]))
    targets = mix_targets(labels, plan, num_classes=3)
    torch.testing.assert_close(targets.sum(-1), torch.ones(4))
    torch.testing.assert_close(targets[0], torch.tensor([0.7, 0.0, 0.3]))
    assert (targets > 0).sum(-1).tolist() == [2, 2, 1, 2]  # two classes where mixed, one where λ = 1
    multi = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    torch.testing.assert_close(mix_targets(multi, plan)[0], 0.7 * multi[0] + 0.3 * multi[1])
    with pytest.raises(ValueError, match="num_classes"):
        mix_targets(labels, plan)


def test_soft_target_cross_entropy_equals_interpolated_hard_losses():
    logits = torch.randn(6, 4)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    plan = MixPlan(torch.tensor([1, 2, 3, 4, 5, 0]), torch.rand(6))
    soft = soft_target_cross_entropy(logits, mix_targets(y, plan, 4), reduction="none")
    hard = interpolate_losses(
        F.cross_entropy(logits, y, reduction="none"),
        F.cross_entropy(logits, y[plan.index], reduction="none"),
        plan.lam,
    )
    torch.testing.assert_close(soft, hard)
    torch.testing.assert_close(soft_target_cross_entropy(logits, F.one_hot(y, 4).float()), F.cross_entropy(logits, y))


BATCH_MIXERS = [get_mixer_class(n) for n in list_mixers() if hasattr(get_mixer_class(n), "sample_plan")]


@pytest.mark.parametrize("cls", BATCH_MIXERS, ids=lambda c: c.mix_type)
@pytest.mark.parametrize("batch_size", [1, 5, 8])
def test_registry_invariants(cls, batch_size):
    config = cls(level="inputs")
    x = torch.randn(batch_size, 7, 3)
    mask = torch.ones(batch_size, 7, dtype=torch.long)
    mask[0, 4:] = 0
    x[mask == 0] = 1e6  # poison the padding
    plan = config.sample_plan(batch_size, generator=make_generator(1, 2, 3))
    again = config.sample_plan(batch_size, generator=make_generator(1, 2, 3))
    torch.testing.assert_close(plan.index, again.index)  # same seed, same plan ...
    out = mixup(x, plan.index, plan.lam, mask)
    torch.testing.assert_close(out, mixup(x, again.index, again.lam, mask), equal_nan=True)  # ... same output
    assert out.shape == x.shape  # shape kept
    assert out[union_mask(mask, plan.index).bool()].abs().max() < 100  # padding never mixed in
    identity = mixup(x, plan.index, torch.ones(batch_size), mask)
    torch.testing.assert_close(identity[mask.bool()], x[mask.bool()])  # λ = 1 is the identity
    targets = mix_targets(torch.randint(0, 4, (batch_size,)), plan, num_classes=4)
    torch.testing.assert_close(targets.sum(-1), torch.ones(batch_size))  # soft targets sum to 1


def test_token_loss_is_exact_under_gradient_accumulation():
    """Two micro-batches with different token counts, divided by the step's token count, give the big batch's loss."""
    logits = torch.randn(4, 5, 3, requires_grad=True)
    labels = torch.randint(0, 3, (4, 5))
    labels[0, 1:] = -100  # row 0: 1 token; the first micro-batch holds far fewer tokens than the second
    labels[1, 2:] = -100
    full = mixed_loss(logits, labels, None, "token_classification")
    reference = F.cross_entropy(logits.reshape(-1, 3), labels.reshape(-1), ignore_index=-100)
    torch.testing.assert_close(full, reference)
    num_items = (labels != -100).sum()
    per_micro = micro_batch_token_count(num_items, accumulation_steps=2)
    accumulated = sum(
        mixed_loss(logits[rows], labels[rows], None, "token_classification", num_tokens=per_micro) / 2
        for rows in (slice(0, 2), slice(2, 4))
    )
    torch.testing.assert_close(accumulated, reference)
    plan = MixPlan(torch.tensor([1, 0]), torch.tensor([0.7, 0.7]))  # a mixed micro-batch takes the same denominator
    mixed = mixed_loss(logits[:2], labels[:2], plan, "token_classification", num_tokens=per_micro)
    assert torch.isfinite(mixed) and micro_batch_token_count(None, 2) is None
