"""Geodesic interpolation (slerp) of unit vectors, safe at a ≈ b and a ≈ −b.

The mixing operator of geodesic multi-modal mixup (m²-mix): Oh et al., "Geodesic Multi-Modal Mixup for Robust
Fine-Tuning", NeurIPS 2023, arXiv:2203.03897 (official code: `sph_inter` in changdaeoh/multimodal-mixup, which has
no clamp and no guard for sin θ → 0, so it gives NaN for identical, antipodal or fp16-rounded pairs).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


# Below this angle (radians) slerp is replaced by normalised linear interpolation; the two differ by O(θ³).
SMALL_ANGLE = 1e-2
# Within this angle of π the pair counts as antipodal (the geodesic is not unique there).
ANTIPODAL_ANGLE = 1e-2


def _lam_column(lam: Tensor | float, a: Tensor) -> Tensor:
    """λ as a float tensor broadcastable to `a` (..., D): a scalar, a per-row (...) or a (..., 1) tensor."""
    if isinstance(lam, (int, float)):
        if not math.isfinite(lam):
            raise ValueError(f"lam must be finite, got {lam}.")
        return torch.tensor(float(lam), dtype=a.dtype, device=a.device)
    lam = lam.to(device=a.device, dtype=a.dtype)
    rows = tuple(a.shape[:-1])
    if lam.dim() == 0:
        return lam
    if tuple(lam.shape) == rows:
        return lam.unsqueeze(-1)
    if tuple(lam.shape) == (*rows, 1):
        return lam
    raise ValueError(
        f"lam must be a scalar, have shape {rows} (one per row) or {(*rows, 1)}, got {tuple(lam.shape)} "
        f"for vectors of shape {tuple(a.shape)}."
    )


def _orthogonal_direction(c: Tensor) -> Tensor:
    """A unit vector ⟂ c (..., D), D ≥ 2: Gram–Schmidt of the basis vector e_k where |c_k| is smallest."""
    k = c.detach().abs().argmin(dim=-1, keepdim=True)
    e = torch.zeros_like(c).scatter_(-1, k, 1.0)
    return F.normalize(e - (c * e).sum(-1, keepdim=True) * c, dim=-1)


def slerp(a: Tensor, b: Tensor, lam: Tensor | float) -> Tensor:
    """Spherical linear interpolation m_λ(a, b) = [sin(λθ)·a + sin((1−λ)θ)·b] / sin θ, θ = arccos⟨a, b⟩.

    The geodesic mixup of Oh et al., "Geodesic Multi-Modal Mixup for Robust Fine-Tuning", NeurIPS 2023,
    arXiv:2203.03897. λ is the weight on `a`: λ = 1 gives `a`, λ = 0 gives `b`. The inputs should be L2-normalised;
    the result then has unit norm.

    Numerics (values and gradients stay finite everywhere; computed in float32, returned in the input dtype). For
    unit vectors the formula is rewritten in the orthonormal pair v = (a + b)/‖a + b‖, u = (a − b)/‖a − b‖, with
    ‖a + b‖ = 2cos(θ/2) and ‖a − b‖ = 2sin(θ/2):

        m_λ(a, b) = cos((λ − ½)θ)·v + sin((λ − ½)θ)·u,   θ = 2·atan2(‖a − b‖, ‖a + b‖),

    which is the same point, has unit norm by construction, and keeps its digits where arccos⟨a, b⟩ and the
    division by sin θ lose them (θ near 0 and π). Where u or v is undefined:
    - θ < `SMALL_ANGLE` (a ≈ b): normalised linear interpolation (λa + (1−λ)b)/‖·‖, within O(θ³) of slerp;
    - θ > π − `ANTIPODAL_ANGLE` (a ≈ −b): the geodesic is not unique. v is replaced by a fixed direction p ⟂ u
      (Gram–Schmidt of the basis vector e_k with the smallest |u_k|), i.e. the result follows the half great circle
      from ≈ a through p to ≈ b: λ = 1 gives u ≈ a, λ = 0 gives −u ≈ b, λ = ½ gives p; both inputs receive
      gradients through u. For D = 1 (no orthogonal direction) the nearer endpoint is returned (a if λ ≥ ½ else b).

    Args:
        a: (..., D) unit vectors, e.g. (B, D) image embeddings.
        b: (..., D) unit vectors, the same shape as `a`, e.g. (B, D) text embeddings.
        lam: a Python float / 0-d tensor (one λ for all rows), a (...) tensor (one per row, e.g. (B,)) or (..., 1).

    Returns: (..., D) in the dtype of `a`.
    """
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}.")
    if a.dim() == 0:
        raise ValueError("a and b must have a last (feature) dimension, got 0-d tensors.")
    dtype = a.dtype
    work = torch.float64 if dtype == torch.float64 else torch.float32
    x, y = a.to(work), b.to(work)
    w = _lam_column(lam, x)

    with torch.no_grad():
        angle = 2 * torch.atan2((x - y).norm(dim=-1, keepdim=True), (x + y).norm(dim=-1, keepdim=True))
    small = angle < SMALL_ANGLE
    antipodal = angle > math.pi - ANTIPODAL_ANGLE
    half = w - 0.5

    # Each branch is evaluated on stand-in rows where it is not selected (never on a zero vector), so no inf or
    # NaN reaches the gradient through torch.where.
    ones = torch.ones_like(x)
    diff = torch.where(small, ones, x - y)
    diff_norm = diff.norm(dim=-1, keepdim=True)
    u = diff / diff_norm
    total = torch.where(small | antipodal, ones, x + y)
    sum_norm = total.norm(dim=-1, keepdim=True)
    theta = 2 * torch.atan2(diff_norm, sum_norm)
    geodesic = torch.cos(half * theta) * total / sum_norm + torch.sin(half * theta) * u

    linear = F.normalize(w * x + (1 - w) * torch.where(small, y, x), dim=-1)

    out = torch.where(small, linear, torch.where(antipodal, _half_circle(x, y, u, w), geodesic))
    return out.to(dtype)


def _half_circle(x: Tensor, y: Tensor, u: Tensor, w: Tensor) -> Tensor:
    """The antipodal case: the half great circle from ≈ x (λ = 1) through a fixed p ⟂ u (λ = ½) to ≈ y (λ = 0);
    for D = 1 the nearer endpoint."""
    if x.shape[-1] < 2:
        return torch.where(w >= 0.5, x, y)
    half = w - 0.5
    return torch.cos(half * math.pi) * _orthogonal_direction(u) + torch.sin(half * math.pi) * u
