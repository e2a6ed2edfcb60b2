"""`hfmix.sampling`: λ draws and mix plans, seeded and with the requested distribution."""

import pytest
import tiny
import torch

from hfmix.functional import (
    sample_lambda,
    sample_mix_plan,
)


def test_sample_lambda_is_beta_distributed_and_seeded():
    lam = sample_lambda(0.4, 20000, generator=tiny.gen())
    assert lam.min() >= 0 and lam.max() <= 1
    assert abs(lam.mean() - 0.5) < 0.01  # Beta(a, a) has mean 1/2 ...
    assert abs(lam.var() - 1 / (4 * (2 * 0.4 + 1))) < 0.01  # ... and variance 1 / (4(2a + 1))
    torch.testing.assert_close(lam, sample_lambda(0.4, 20000, generator=tiny.gen()))
    assert (sample_lambda(0.4, 1000, generator=tiny.gen(), dominant=True) >= 0.5).all()
    with pytest.raises(ValueError, match="alpha"):
        sample_lambda(0.0, 3, generator=tiny.gen())


def test_sample_mix_plan_probability_and_lambda_per():
    plan = sample_mix_plan(4000, alpha=1.0, generator=tiny.gen(), prob=0.3, lambda_per="sample")
    assert abs(plan.mixed.float().mean() - 0.3) < 0.03
    rows = torch.arange(4000)
    assert (plan.index[~plan.mixed] == rows[~plan.mixed]).all() and (plan.lam[~plan.mixed] == 1).all()
    assert plan.lam[plan.mixed].unique().numel() > 100
    batch_plan = sample_mix_plan(16, alpha=1.0, generator=tiny.gen(), lambda_per="batch")
    assert batch_plan.lam.unique().numel() == 1
    assert (sample_mix_plan(16, alpha=1.0, generator=tiny.gen(), prob=0.0).lam == 1).all()


def test_sample_mix_plan_draws_layers_from_the_set():
    layers = {sample_mix_plan(4, alpha=1.0, generator=tiny.gen(s), layers=(2, 5, 9)).layer for s in range(60)}
    assert layers == {2, 5, 9}


def test_batch_of_one_is_left_unmixed():
    plan = sample_mix_plan(1, alpha=1.0, generator=tiny.gen())
    assert plan.index.tolist() == [0] and plan.lam.tolist() == [1.0] and not plan.mixed.any()


def test_a_row_drawn_lambda_one_is_not_paired(monkeypatch):
    """λ = 1 (possible in float32 for small α) must not leave the row paired: the union of attention masks would
    hand it the partner's tokens while its target credits none of them."""
    import hfmix.sampling

    lam = torch.tensor([1.0, 0.3, 1.0, 0.6])
    monkeypatch.setattr(hfmix.sampling, "sample_lambda", lambda *args, **kwargs: lam)
    plan = hfmix.sampling.sample_mix_plan(
        4, alpha=0.4, generator=torch.Generator().manual_seed(0), index=torch.tensor([1, 0, 3, 2]), lambda_per="sample"
    )
    assert plan.index.tolist() == [0, 0, 2, 2] and torch.equal(plan.lam, lam)
    assert plan.mixed.tolist() == [False, True, False, True]
