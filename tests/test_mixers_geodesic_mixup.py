"""`hfmix.mixers.geodesic_mixup`: slerp against the paper's formula, its endpoints, and its guards."""

import math

import pytest
import tiny
import torch
import torch.nn.functional as F

from hfmix.mixers.geodesic_mixup import slerp


torch.set_num_threads(1)


def unit(*shape, seed=0, dtype=torch.float64):
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype), dim=-1)


# ------------------------------------------------------------------------------------------------------ slerp
@pytest.mark.parametrize("lam_kind", ["float", "scalar", "rows", "column"])
def test_slerp_matches_the_formula_and_stays_on_the_sphere(lam_kind):
    a, b = unit(7, 16, seed=1), unit(7, 16, seed=2)
    lam_rows = torch.linspace(0.05, 0.95, 7, dtype=torch.float64)
    lam = {
        "float": 0.3,
        "scalar": torch.tensor(0.3, dtype=torch.float64),
        "rows": lam_rows,
        "column": lam_rows[:, None],
    }[lam_kind]
    expected = tiny.slerp_formula(a, b, lam_rows[:, None] if lam_kind in ("rows", "column") else 0.3)
    out = slerp(a, b, lam)
    torch.testing.assert_close(out, expected, atol=1e-10, rtol=0)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(7, dtype=torch.float64))
    out32 = slerp(a.float(), b.float(), lam)
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32, expected.float(), atol=2e-6, rtol=0)


def test_slerp_endpoints_and_geodesic_angles():
    a, b = unit(5, 8, seed=3).float(), unit(5, 8, seed=4).float()
    torch.testing.assert_close(slerp(a, b, 1.0), a, atol=1e-6, rtol=0)
    torch.testing.assert_close(slerp(a, b, 0.0), b, atol=1e-6, rtol=0)
    theta = torch.acos((a * b).sum(-1))
    mid = slerp(a, b, 0.25)  # λ is the weight on a: the point 3/4 of the way from a to b
    torch.testing.assert_close(torch.acos((mid * a).sum(-1).clamp(-1, 1)), 0.75 * theta, atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.acos((mid * b).sum(-1).clamp(-1, 1)), 0.25 * theta, atol=1e-4, rtol=0)


@pytest.mark.parametrize("case", ["identical", "nearly_identical", "antipodal", "nearly_antipodal"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_slerp_is_finite_with_finite_gradients_at_the_singular_pairs(case, dtype):
    a = unit(6, 8, seed=5, dtype=torch.float32)
    noise = 1e-4 * unit(6, 8, seed=6, dtype=torch.float32)
    b = {
        "identical": a,
        "nearly_identical": F.normalize(a + noise, dim=-1),
        "antipodal": -a,
        "nearly_antipodal": F.normalize(-a + noise, dim=-1),
    }[case]
    for lam in (0.0, 0.3, 0.5, 1.0, torch.rand(6, generator=torch.Generator().manual_seed(0))):
        x, y = a.clone().to(dtype).requires_grad_(), b.clone().to(dtype).requires_grad_()
        out = slerp(x, y, lam)
        assert out.dtype == dtype
        assert torch.isfinite(out).all()
        torch.testing.assert_close(
            out.float().norm(dim=-1), torch.ones(6), atol=1e-2 if dtype != torch.float32 else 1e-5, rtol=0
        )
        (out.float() * torch.arange(8.0)).sum().backward()
        assert torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all()
    if case == "identical":
        torch.testing.assert_close(slerp(a, a, 0.3), a)
    if case == "antipodal":  # the documented half circle: ≈a at λ=1, ≈b at λ=0, ⟂ both at λ=1/2
        torch.testing.assert_close(slerp(a, b, 1.0), a, atol=1e-6, rtol=0)
        torch.testing.assert_close(slerp(a, b, 0.0), b, atol=1e-6, rtol=0)
        assert (slerp(a, b, 0.5) * a).sum(-1).abs().max() < 1e-6


def test_slerp_is_continuous_across_its_small_angle_switch():
    a = unit(1, 8, seed=7).float()
    direction = F.normalize(unit(1, 8, seed=8).float() - (unit(1, 8, seed=8).float() * a).sum() * a, dim=-1)
    outs = []
    for angle in (0.0099, 0.0101):  # either side of SMALL_ANGLE = 0.01
        b = math.cos(angle) * a + math.sin(angle) * direction
        outs.append(slerp(a, b, 0.3))
        expected = math.cos(0.7 * angle) * a + math.sin(0.7 * angle) * direction  # (1 − λ)·θ from a
        torch.testing.assert_close(outs[-1], expected, atol=1e-6, rtol=0)


def test_slerp_rejects_bad_shapes():
    a = unit(4, 8).float()
    with pytest.raises(ValueError, match="same shape"):
        slerp(a, a[:3], 0.5)
    with pytest.raises(ValueError, match="lam must be"):
        slerp(a, a, torch.rand(3))
