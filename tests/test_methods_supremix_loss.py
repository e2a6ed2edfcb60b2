"""`hfmix.methods.supremix.loss`: the SupReMix loss against a direct (dense, loop) implementation of the formula,
its mixtures, and edge cases."""

import math

import pytest
import tiny
import torch
import torch.nn.functional as F

from hfmix.losses import SupReMixLoss, draw_supremix_mixtures, supremix_loss


def dense_supremix(z, y, mix, tau, base_tau=None, weight="l1", tolerance=0.0):
    """The formula with every mixture vector built explicitly, one anchor at a time."""
    z = F.normalize(z.double(), dim=-1)
    y = y.double()
    n, losses = len(y), []
    for i in range(n):
        vectors, labels, positive = [], [], []
        for a in range(n):
            if a != i:
                vectors.append(z[a]), labels.append(y[a]), positive.append(bool(abs(y[a] - y[i]) <= tolerance))
        for k in range(n):
            if mix.negative_valid[i, k]:
                alpha = mix.negative_alpha[i, k]
                vectors.append(alpha * z[i] + (1 - alpha) * z[k])
                labels.append(alpha * y[i] + (1 - alpha) * y[k]), positive.append(False)
        for p in range(mix.positive_first.shape[1]):
            if mix.positive_valid[i, p]:
                j, k, beta = mix.positive_first[i, p], mix.positive_second[i, p], mix.positive_alpha[i, p]
                vectors.append(beta * z[j] + (1 - beta) * z[k])
                labels.append(beta * y[j] + (1 - beta) * y[k]), positive.append(True)
        if not any(positive):
            continue
        s = torch.stack([z[i] @ v for v in vectors]) / tau
        gap = torch.stack(labels) - y[i]
        w = {"l1": gap.abs() + 1, "l2": gap**2 + 1, "none": torch.ones_like(gap)}[weight]
        log_den = torch.log((w * s.exp()).sum())
        pos = torch.tensor(positive)
        losses.append(-(tau / (base_tau or tau)) * (s[pos] - log_den).mean())
    return torch.stack(losses).mean()


def batch(n=7, d=5, seed=0):
    g = tiny.gen(seed)
    y = torch.tensor([0.5, 1.0, 1.0, 2.0, 3.5, 3.5, 4.0, 0.2, 5.0][:n])  # ties: real positives exist
    return torch.randn(n, d, generator=g), y


@pytest.mark.parametrize("weight", ["l1", "l2", "none"])
@pytest.mark.parametrize("detach", [False, True])
def test_loss_matches_the_dense_formula(weight, detach):
    z, y = batch()
    mix = draw_supremix_mixtures(y, generator=tiny.gen(1), num_positive_mixtures=6)
    assert mix.negative_valid.any() and mix.positive_valid.any()
    loss = supremix_loss(z, y, mixtures=mix, temperature=0.3, distance_weight=weight, detach_mixtures=detach)
    torch.testing.assert_close(loss.double(), dense_supremix(z, y, mix, 0.3, weight=weight), rtol=1e-5, atol=1e-6)


def test_views_tolerance_and_base_temperature_match_the_dense_formula():
    z, y = batch(n=6)
    views = torch.randn(6, 2, 5, generator=tiny.gen(3))
    flat, flat_y = torch.cat(views.unbind(1)), y.repeat(2)  # the views of row r are rows r and r + 6
    mix = draw_supremix_mixtures(flat_y, generator=tiny.gen(2), num_positive_mixtures=4, label_tolerance=0.6)
    loss = supremix_loss(views, y, mixtures=mix, temperature=0.5, base_temperature=0.07, label_tolerance=0.6)
    expected = dense_supremix(flat, flat_y, mix, 0.5, base_tau=0.07, tolerance=0.6)
    torch.testing.assert_close(loss.double(), expected, rtol=1e-5, atol=1e-6)


def test_positive_mixtures_carry_the_anchors_label_and_respect_the_window():
    y = torch.rand(40, generator=tiny.gen()) * 10
    mix = draw_supremix_mixtures(y, generator=tiny.gen(1), num_positive_mixtures=16, positive_window=2.0)
    i = torch.arange(40)[:, None].expand_as(mix.positive_first)
    valid = mix.positive_valid
    y = y.double()
    y_i, y_j, y_k = y[i][valid], y[mix.positive_first][valid], y[mix.positive_second][valid]
    beta = mix.positive_alpha[valid]
    torch.testing.assert_close(beta * y_j + (1 - beta) * y_k, y_i, rtol=0, atol=1e-12)
    assert ((y_j < y_i) & (y_i < y_k) & (y_i - y_j < 2) & (y_k - y_i < 2)).all()
    assert not valid[y.argmin()].any() and not valid[y.argmax()].any()  # nobody below / above the extremes


def test_negative_mixtures_are_beta_2_8_and_skip_equal_labels():
    y = torch.tensor([1.0, 1.0, 2.0] * 40)
    mix = draw_supremix_mixtures(y, generator=tiny.gen())
    assert not mix.negative_valid[0, 1] and mix.negative_valid[0, 2] and not mix.negative_valid.diagonal().any()
    alpha = mix.negative_alpha[mix.negative_valid]
    assert abs(alpha.mean() - 0.2) < 0.01 and abs(alpha.var() - 2 * 8 / (100 * 11)) < 0.003  # Beta(2, 8)


def test_gradients_are_finite_and_detaching_stops_the_flow_through_mixtures():
    z, y = batch()
    mix = draw_supremix_mixtures(y, generator=tiny.gen(1))
    grads = []
    for detach in (False, True):
        x = z.clone().requires_grad_()
        supremix_loss(x, y, mixtures=mix, detach_mixtures=detach, temperature=0.05).backward()
        assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
        grads.append(x.grad)
    assert not torch.allclose(grads[0], grads[1])


def test_all_equal_labels_is_supervised_contrastive_loss():
    z = torch.randn(5, 4, generator=tiny.gen())
    loss = supremix_loss(z, torch.full((5,), 3.0), generator=tiny.gen(), temperature=0.2)
    s = F.normalize(z, dim=-1) @ F.normalize(z, dim=-1).T / 0.2
    off = ~torch.eye(5, dtype=torch.bool)
    expected = -torch.stack([(s[i][off[i]] - torch.logsumexp(s[i][off[i]], 0)).mean() for i in range(5)]).mean()
    torch.testing.assert_close(loss, expected)


def test_batch_of_one_and_no_positives_give_a_zero_that_backpropagates():
    x = torch.randn(1, 4, requires_grad=True)
    loss = supremix_loss(x, torch.tensor([1.0]), generator=tiny.gen())
    loss.backward()
    assert loss.item() == 0 and x.grad is not None
    per_anchor = supremix_loss(
        torch.randn(3, 4), torch.tensor([1.0, 2.0, 3.0]), generator=tiny.gen(), reduction="none"
    )
    assert math.isnan(per_anchor[0]) and math.isnan(per_anchor[2]) and not math.isnan(per_anchor[1])


def test_anchor_subset_is_the_per_anchor_losses_of_those_rows():
    z, y = batch()
    mix = draw_supremix_mixtures(y, generator=tiny.gen(1))
    every = supremix_loss(z, y, mixtures=mix, reduction="none")
    part = supremix_loss(z, y, mixtures=mix, anchors=torch.tensor([1, 2, 5]), reduction="none")
    torch.testing.assert_close(part, every[[1, 2, 5]])


def test_large_batches_never_build_the_cubic_mixture_tensor():
    z, y = torch.randn(2048, 16, generator=tiny.gen()), torch.rand(2048, generator=tiny.gen()) * 100
    loss = supremix_loss(z, y, generator=tiny.gen(), num_positive_mixtures=8)  # dense: (4096)³·16 floats = 4 TiB
    assert torch.isfinite(loss)


def test_clear_errors():
    with pytest.raises(ValueError, match="NaN"):
        supremix_loss(torch.randn(2, 3), torch.tensor([1.0, float("nan")]), generator=tiny.gen())
    with pytest.raises(ValueError, match="one value per row"):
        supremix_loss(torch.randn(2, 3), torch.randn(2, 2), generator=tiny.gen())
    with pytest.raises(ValueError, match="embeddings must be"):
        supremix_loss(torch.randn(3, 3), torch.randn(2), generator=tiny.gen())
    with pytest.raises(ValueError, match="Generator"):
        supremix_loss(torch.randn(2, 3), torch.randn(2))
    with pytest.raises(ValueError, match="Unknown SupReMixConfig options"):
        SupReMixLoss(temprature=0.1)
    module = SupReMixLoss(temperature=0.2, num_positive_mixtures=4)
    z, y = batch()
    torch.testing.assert_close(
        module(z, y, generator=tiny.gen(4)),
        supremix_loss(z, y, generator=tiny.gen(4), temperature=0.2, num_positive_mixtures=4),
    )


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_labels_are_refused_naming_the_rows(bad):
    z, y = batch()
    y[[2, 5]] = bad
    for call in (
        lambda: supremix_loss(z, y, generator=tiny.gen()),
        lambda: SupReMixLoss()(z, y),
        lambda: draw_supremix_mixtures(y, generator=tiny.gen()),
    ):
        with pytest.raises(ValueError, match=r"finite.*rows \[2, 5\]"):
            call()
