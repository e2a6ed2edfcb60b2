"""`hfmix.mixers.mixup`: the mixup function and the union of attention masks, against direct
implementations of the formulas."""

import pytest
import torch

from hfmix.functional import (
    mixup,
    union_mask,
)


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
