"""SupReMix: supervised contrastive regression with mixtures as hard negatives and hard positives.

Wu et al., "Mixup Your Own Pairs: Supervised Contrastive Learning for Regression with Mixup" (SupReMix),
arXiv:2309.16633. For anchor i with similarity s_ia = ⟨z_i, x_a⟩ / τ to every candidate a:

    L_i = −(τ / τ_b) · mean_{p ∈ P(i)} [ s_ip − log Σ_{a ∈ A(i)} w_ia · exp(s_ia) ]

- A(i): the other real rows, the Mix-neg mixtures α·z_i + (1 − α)·z_k (anchor-inclusive, α ~ Beta(2, 8), one per
  row k whose label differs) and the Mix-pos mixtures α·z_j + (1 − α)·z_k with y_j < y_i < y_k and
  α = (y_k − y_i) / (y_k − y_j), so the mixture's label is exactly y_i (anchor-exclusive).
- P(i): the real rows whose label equals y_i (within `label_tolerance`) and the Mix-pos mixtures.
- w_ia = |y_i − y_a| + 1 ("l1", the research code's L1_inv default) or (y_i − y_a)² + 1 ("l2"); y_a of a mixture
  is its interpolated label, so Mix-pos mixtures weigh 1.

Mixtures are not normalised (as in the research code), so ⟨z_i, α·z_j + (1 − α)·z_k⟩ = α·G_ij + (1 − α)·G_ik
with G = Z Zᵀ: every mixture logit comes from the N×N Gram matrix and no mixture vector is ever built. Memory is
O(N² + N·P) for N rows and P Mix-pos mixtures per anchor, instead of the research code's (2B)³·D tensor, and the
denominator is one log-sum-exp over real pairs and mixtures together (the research code stabilises the two parts
with different maxima, which reweights mixtures by exp(max_mix − max_real)). The research code detaches the
mixtures; here `detach_mixtures` chooses, and by default gradients flow through them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hfmix.distributed import all_reduce_sum, gather_with_grad


CITATION = """\
@article{wu2023supremix,
  title={Mixup Your Own Pairs},
  author={Wu, Yilei and others},
  journal={arXiv preprint arXiv:2309.16633},
  year={2023}
}"""
DistanceWeight = Literal["l1", "l2", "none"]


@dataclass(frozen=True)
class SupReMixMixtures:
    """The mixtures of one batch of N rows, drawn from the labels alone (so every process can draw the same).

    Attributes:
        negative_alpha: (N, N) float64, weight on anchor i in the Mix-neg mixture with row k.
        negative_valid: (N, N) bool, k ≠ i and y_k ≠ y_i (beyond the tolerance).
        positive_first, positive_second: (N, P) long, rows j (y_j < y_i) and k (y_k > y_i) of each Mix-pos mixture.
        positive_alpha: (N, P) float64, weight on row j: (y_k − y_i) / (y_k − y_j).
        positive_valid: (N, P) bool, False for anchors with no row below or none above in the window.
    """

    negative_alpha: Tensor
    negative_valid: Tensor
    positive_first: Tensor
    positive_second: Tensor
    positive_alpha: Tensor
    positive_valid: Tensor


def draw_supremix_mixtures(
    labels: Tensor,
    *,
    generator: torch.Generator,
    negative_alpha: tuple[float, float] = (2.0, 8.0),
    num_positive_mixtures: int = 32,
    positive_window: float | None = None,
    label_tolerance: float = 0.0,
    mix_negatives: bool = True,
    mix_positives: bool = True,
) -> SupReMixMixtures:
    """Draw Mix-neg weights for every (anchor, row) pair and `num_positive_mixtures` Mix-pos pairs per anchor.

    Mix-pos pairs (j, k) are drawn uniformly, with replacement, among rows with y_i − window < y_j < y_i and
    y_i < y_k < y_i + window (`positive_window=None`: no window; the research code uses |Δy| < 5).
    Args:
        labels: (N,) or (N, 1) float regression targets.
    Returns: a `SupReMixMixtures` on the CPU.
    """
    y = _checked_labels(labels).cpu().double()
    n = len(y)
    if num_positive_mixtures < 0 or min(negative_alpha) <= 0 or label_tolerance < 0:
        raise ValueError(
            "num_positive_mixtures must be >= 0, negative_alpha two Beta parameters > 0 and label_tolerance >= 0; "
            f"got {num_positive_mixtures}, {negative_alpha}, {label_tolerance}."
        )
    differs = (y[:, None] - y[None, :]).abs() > label_tolerance
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    alpha = torch.from_numpy(np.random.default_rng(seed).beta(*negative_alpha, (n, n)))
    negative_valid = differs & mix_negatives
    window = float("inf") if positive_window is None else positive_window
    gap = y[None, :] - y[:, None]  # gap[i, j] = y_j − y_i
    below, above = (gap < 0) & (-gap < window), (gap > 0) & (gap < window)
    has_pair = below.any(1) & above.any(1) & mix_positives
    p = num_positive_mixtures if mix_positives else 0
    first = _draw_rows(below, has_pair, p, generator)
    second = _draw_rows(above, has_pair, p, generator)
    y_j, y_k = y[first], y[second]
    positive_alpha = torch.where(has_pair[:, None], (y_k - y[:, None]) / (y_k - y_j), torch.ones_like(y_j))
    return SupReMixMixtures(
        alpha, negative_valid, first, second, positive_alpha, has_pair[:, None].expand(n, p).clone()
    )


def _draw_rows(allowed: Tensor, rows_used: Tensor, count: int, generator: torch.Generator) -> Tensor:
    """(N, count) long: for each row of `allowed` (N, N) with `rows_used`, `count` allowed columns drawn uniformly
    with replacement; other rows get column 0 (they are masked out)."""
    n = len(allowed)
    if count == 0 or not rows_used.any():
        return torch.zeros(n, count, dtype=torch.long)
    weights = torch.where(rows_used[:, None], allowed.float(), torch.ones(n, n))
    return torch.multinomial(weights, count, replacement=True, generator=generator)


def supremix_loss(
    embeddings: Tensor,
    labels: Tensor,
    *,
    mixtures: SupReMixMixtures | None = None,
    generator: torch.Generator | None = None,
    anchors: Tensor | None = None,
    temperature: float = 0.3,
    base_temperature: float | None = None,
    distance_weight: DistanceWeight = "l1",
    detach_mixtures: bool = False,
    normalize: bool = True,
    label_tolerance: float = 0.0,
    negative_alpha: tuple[float, float] = (2.0, 8.0),
    num_positive_mixtures: int = 32,
    positive_window: float | None = None,
    mix_negatives: bool = True,
    mix_positives: bool = True,
    reduction: Literal["mean", "none"] = "mean",
) -> Tensor:
    """The SupReMix loss (see the module docstring for the formula).

    Args:
        embeddings: (N, D), or (N, V, D) for V views of each row (views of a row are positives of each other).
        labels: (N,) or (N, 1) float regression targets.
        mixtures: from `draw_supremix_mixtures`; drawn here from `generator` and the mixture options
            (`negative_alpha`, `num_positive_mixtures`, `positive_window`, `mix_negatives`, `mix_positives`,
            `label_tolerance`, documented there) when None.
        anchors: (n,) long rows that are anchors (default all). Under several processes pass the gathered
            embeddings and this process's rows, so the loss matches the single-process one.
        temperature, base_temperature: τ and τ_b (τ_b defaults to τ, as the research script).
        normalize: L2-normalise the embeddings first (SupCon's projection head does).
        label_tolerance: real rows with |y_a − y_i| <= tolerance are positives (0: equal labels, as the paper).
    Returns: the mean over anchors that have a positive (a zero that keeps the graph when none has), or with
        reduction='none' the (n,) per-anchor losses with NaN for anchors without positives.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    if distance_weight not in ("l1", "l2", "none"):
        raise ValueError(f"distance_weight must be 'l1', 'l2' or 'none', got {distance_weight!r}.")
    y = _checked_labels(labels).to(embeddings.device).float()
    if embeddings.dim() == 3:  # (N, V, D) → N·V rows, views of row r at r, r + N, ... (as SupCon's unbind)
        views = embeddings.shape[1]
        embeddings, y = torch.cat(embeddings.unbind(1)), y.repeat(views)
    if embeddings.dim() != 2 or len(embeddings) != len(y):
        raise ValueError(
            f"embeddings must be (N, D) or (N, V, D) with N = {len(labels)} labels, got {tuple(embeddings.shape)}."
        )
    if mixtures is None:
        if generator is None:
            raise ValueError("supremix_loss needs a torch.Generator to draw the mixtures (or pass `mixtures`).")
        mixtures = draw_supremix_mixtures(
            y,
            generator=generator,
            negative_alpha=negative_alpha,
            num_positive_mixtures=num_positive_mixtures,
            positive_window=positive_window,
            label_tolerance=label_tolerance,
            mix_negatives=mix_negatives,
            mix_positives=mix_positives,
        )
    n = len(y)
    rows = torch.arange(n, device=embeddings.device) if anchors is None else anchors.to(embeddings.device)
    z = F.normalize(embeddings.float(), dim=-1) if normalize else embeddings.float()
    anchor_z, anchor_y = z[rows], y[rows]
    real = anchor_z @ z.T / temperature  # (n, N)
    mixed = anchor_z @ z.detach().T / temperature if detach_mixtures else real  # similarities to mixture parts
    own = mixed.gather(1, rows[:, None])  # ⟨z_i, z_i⟩ / τ

    def log_weight(label_gap: Tensor) -> Tensor:
        if distance_weight == "none":
            return torch.zeros_like(label_gap)
        return torch.log1p(label_gap.abs() if distance_weight == "l1" else label_gap**2)

    mix = _to(mixtures, embeddings.device, rows)
    alpha = mix.negative_alpha.float()
    negative = alpha * own + (1 - alpha) * mixed  # (n, N)
    negative_gap = (1 - alpha) * (y[None, :] - anchor_y[:, None])
    beta = mix.positive_alpha.float()
    positive = beta * mixed.gather(1, mix.positive_first) + (1 - beta) * mixed.gather(1, mix.positive_second)

    not_self = torch.ones_like(real, dtype=torch.bool).scatter_(1, rows[:, None], False)
    real_gap = y[None, :] - anchor_y[:, None]
    masked = float("-inf")
    candidates = torch.cat(
        [
            torch.where(not_self, real + log_weight(real_gap), masked),
            torch.where(mix.negative_valid, negative + log_weight(negative_gap), masked),
            torch.where(mix.positive_valid, positive, masked),
        ],
        dim=1,
    )
    log_denominator = torch.logsumexp(candidates, dim=1)  # one stabiliser over real pairs and mixtures
    real_positive = not_self & (real_gap.abs() <= label_tolerance)
    positive_logits = torch.where(real_positive, real, 0.0).sum(1) + torch.where(
        mix.positive_valid, positive, 0.0
    ).sum(1)
    count = real_positive.sum(1) + mix.positive_valid.sum(1)
    scale = temperature / (temperature if base_temperature is None else base_temperature)
    per_anchor = -scale * (positive_logits / count.clamp(min=1) - log_denominator)
    has_positive = count > 0
    if reduction == "none":
        return torch.where(has_positive, per_anchor, float("nan"))
    if not has_positive.any():
        return embeddings.sum() * 0.0  # no anchor has a positive: nothing to learn from this batch
    return per_anchor[has_positive].mean()


def gathered_supremix_loss(
    embeddings: Tensor, labels: Tensor, *, generator: torch.Generator, **options: object
) -> Tensor:
    """`supremix_loss` over the batch of every process, as this process's share of the global mean.

    The embeddings (N_r, D) or (N_r, V, D) and labels (N_r,) of all processes are gathered (with gradients); this
    process's rows are the anchors; the loss is Σ(local anchor losses) · world / (anchors with a positive, over all
    processes). With DDP averaging gradients this gives exactly the single-process full-batch loss and gradient,
    provided `generator` is seeded identically on every process. Without a process group it is `supremix_loss`.
    """
    labels = _checked_labels(labels)
    views = embeddings.unsqueeze(1) if embeddings.dim() == 2 else embeddings
    if views.dim() != 3 or len(views) != len(labels):
        raise ValueError(
            f"embeddings must be (N, D) or (N, V, D) with N = {len(labels)} labels, got {tuple(embeddings.shape)}."
        )
    gathered, offset = gather_with_grad(views)
    all_labels, _ = gather_with_grad(labels.to(embeddings.device))
    total_rows, local = len(gathered), torch.arange(offset, offset + len(views), device=embeddings.device)
    anchors = torch.cat([local + v * total_rows for v in range(views.shape[1])])  # view-major rows
    per_anchor = supremix_loss(gathered, all_labels, generator=generator, anchors=anchors, reduction="none", **options)  # type: ignore[arg-type]
    valid = ~torch.isnan(per_anchor)
    counted = all_reduce_sum(int(valid.sum()), embeddings.device)
    return torch.where(valid, per_anchor, 0.0).sum() * _world_size() / max(counted, 1.0)


def _world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _to(mixtures: SupReMixMixtures, device: torch.device, rows: Tensor) -> SupReMixMixtures:
    rows = rows.cpu()
    return SupReMixMixtures(*(getattr(mixtures, f)[rows].to(device) for f in SupReMixMixtures.__dataclass_fields__))


def _checked_labels(labels: Tensor) -> Tensor:
    if labels.dim() == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.dim() != 1 or len(labels) == 0:
        raise ValueError(f"SupReMix labels must be one value per row, (N,) or (N, 1); got {tuple(labels.shape)}.")
    if not labels.is_floating_point():
        labels = labels.double()
    if torch.isnan(labels).any():
        raise ValueError("SupReMix labels contain NaN; drop or fill those rows first.")
    return labels.detach()


class SupReMixLoss(nn.Module):
    """`supremix_loss` as a module with its options fixed; call it as `loss(embeddings, labels, generator=g)`."""

    citation = CITATION

    def __init__(self, **options: object):
        """`options`: the keyword arguments of `supremix_loss` (temperature, distance_weight, ...)."""
        super().__init__()
        unknown = set(options) - set(SUPREMIX_OPTIONS)
        if unknown:
            raise ValueError(f"Unknown SupReMix options {sorted(unknown)}; valid: {list(SUPREMIX_OPTIONS)}.")
        self.options = options

    def forward(
        self,
        embeddings: Tensor,
        labels: Tensor,
        *,
        generator: torch.Generator | None = None,
        mixtures: SupReMixMixtures | None = None,
        anchors: Tensor | None = None,
    ) -> Tensor:
        return supremix_loss(
            embeddings, labels, mixtures=mixtures, generator=generator, anchors=anchors, **self.options
        )


SUPREMIX_OPTIONS = (
    "temperature",
    "base_temperature",
    "distance_weight",
    "detach_mixtures",
    "normalize",
    "label_tolerance",
    "negative_alpha",
    "num_positive_mixtures",
    "positive_window",
    "mix_negatives",
    "mix_positives",
)
