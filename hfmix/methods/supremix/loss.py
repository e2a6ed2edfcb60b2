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
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hfmix.distributed import all_reduce_sum, gather_with_grad, world_size
from hfmix.methods.options import recipe_from
from hfmix.methods.supremix.config import CITATION, RUNTIME_FIELDS, SupReMixConfig


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

    def select(self, rows: Tensor, device: torch.device) -> SupReMixMixtures:
        """The mixtures of the anchors `rows`, on `device`."""
        rows = rows.cpu()
        return SupReMixMixtures(*(getattr(self, f)[rows].to(device) for f in SupReMixMixtures.__dataclass_fields__))


def draw_supremix_mixtures(labels: Tensor, *, generator: torch.Generator, **options: Any) -> SupReMixMixtures:
    """Draw Mix-neg weights for every (anchor, row) pair and `num_positive_mixtures` Mix-pos pairs per anchor.

    Mix-pos pairs (j, k) are drawn uniformly, with replacement, among rows with y_i − window < y_j < y_i and
    y_i < y_k < y_i + window (`positive_window=None`: no window; the research code uses |Δy| < 5).
    Args:
        labels: (N,) or (N, 1) float regression targets.
        options: fields of `SupReMixConfig` (`negative_alpha`, `num_positive_mixtures`, `positive_window`,
            `label_tolerance`, `mix_negatives`, `mix_positives` are the ones used here).
    Returns: a `SupReMixMixtures` on the CPU.
    """
    return _draw(_checked_labels(labels), generator, _recipe(options))


def _draw(labels: Tensor, generator: torch.Generator, recipe: SupReMixConfig) -> SupReMixMixtures:
    y = labels.detach().cpu().double()
    n = len(y)
    differs = (y[:, None] - y[None, :]).abs() > recipe.label_tolerance
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    alpha = torch.from_numpy(np.random.default_rng(seed).beta(*recipe.negative_alpha, (n, n)))
    window = float("inf") if recipe.positive_window is None else recipe.positive_window
    gap = y[None, :] - y[:, None]  # gap[i, j] = y_j − y_i
    below, above = (gap < 0) & (-gap < window), (gap > 0) & (gap < window)
    has_pair = below.any(1) & above.any(1) & recipe.mix_positives
    p = recipe.num_positive_mixtures if recipe.mix_positives else 0
    first = _draw_rows(below, has_pair, p, generator)
    second = _draw_rows(above, has_pair, p, generator)
    y_j, y_k = y[first], y[second]
    positive_alpha = torch.where(has_pair[:, None], (y_k - y[:, None]) / (y_k - y_j), torch.ones_like(y_j))
    return SupReMixMixtures(
        alpha, differs & recipe.mix_negatives, first, second, positive_alpha, has_pair[:, None].expand(n, p).clone()
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
    reduction: Literal["mean", "none"] = "mean",
    **options: Any,
) -> Tensor:
    """The SupReMix loss (see the module docstring for the formula).

    Args:
        embeddings: (N, D), or (N, V, D) for V views of each row (views of a row are positives of each other).
        labels: (N,) or (N, 1) finite float regression targets.
        mixtures: from `draw_supremix_mixtures`; drawn here from `generator` when None.
        anchors: (n,) long rows that are anchors (default all). Under several processes pass the gathered
            embeddings and this process's rows, so the loss matches the single-process one.
        options: the loss fields of `SupReMixConfig` (`temperature`, `base_temperature` (τ_b, default τ),
            `distance_weight`, `detach_mixtures`, `normalize`, `label_tolerance` and the mixture options), with
            its defaults and checks.
    Returns: the mean over anchors that have a positive (a zero that keeps the graph when none has), or with
        reduction='none' the (n,) per-anchor losses with NaN for anchors without positives.
    """
    return _loss(embeddings, labels, _recipe(options), mixtures, generator, anchors, reduction)


def gathered_supremix_loss(
    embeddings: Tensor, labels: Tensor, *, generator: torch.Generator, **options: Any
) -> Tensor:
    """`supremix_loss` over the batch of every process, as this process's share of the global mean.

    The embeddings (N_r, D) or (N_r, V, D) and labels (N_r,) of all processes are gathered (with gradients); this
    process's rows are the anchors; the loss is Σ(local anchor losses) · world / (anchors with a positive, over all
    processes). With DDP averaging gradients this gives exactly the single-process full-batch loss and gradient,
    provided `generator` is seeded identically on every process. Without a process group it is `supremix_loss`.
    """
    return _gathered_loss(embeddings, labels, _recipe(options), generator)


def _recipe(options: dict[str, Any]) -> SupReMixConfig:
    return recipe_from(SupReMixConfig, None, options, refused=RUNTIME_FIELDS)


def _views_as_rows(embeddings: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """(N·V, D) rows (the views of row r at r, r + N, ..., as SupCon's unbind) and their (N·V,) labels."""
    y = _checked_labels(labels).to(embeddings.device).float()
    if embeddings.dim() == 3:
        views = embeddings.shape[1]
        embeddings, y = torch.cat(embeddings.unbind(1)), y.repeat(views)
    if embeddings.dim() != 2 or len(embeddings) != len(y):
        raise ValueError(
            f"embeddings must be (N, D) or (N, V, D) with N = {len(labels)} labels, got {tuple(embeddings.shape)}."
        )
    return embeddings, y


def _loss(
    embeddings: Tensor,
    labels: Tensor,
    recipe: SupReMixConfig,
    mixtures: SupReMixMixtures | None,
    generator: torch.Generator | None,
    anchors: Tensor | None,
    reduction: str = "mean",
) -> Tensor:
    z, y = _views_as_rows(embeddings, labels)
    if mixtures is None:
        if generator is None:
            raise ValueError("supremix_loss needs a torch.Generator to draw the mixtures (or pass `mixtures`).")
        mixtures = _draw(y, generator, recipe)
    rows = torch.arange(len(y), device=z.device) if anchors is None else anchors.to(z.device)
    per_anchor, count = _per_anchor(z, y, rows, mixtures.select(rows, z.device), recipe)
    has_positive = count > 0
    if reduction == "none":
        return torch.where(has_positive, per_anchor, float("nan"))
    if not has_positive.any():
        return embeddings.sum() * 0.0  # no anchor has a positive: nothing to learn from this batch
    return per_anchor[has_positive].mean()


def _per_anchor(
    z: Tensor, y: Tensor, rows: Tensor, mix: SupReMixMixtures, recipe: SupReMixConfig
) -> tuple[Tensor, Tensor]:
    """(n,) losses of the anchors `rows` and (n,) their numbers of positives (real and Mix-pos)."""
    tau = recipe.temperature
    z = F.normalize(z.float(), dim=-1) if recipe.normalize else z.float()
    anchor_z, anchor_y = z[rows], y[rows]
    real = anchor_z @ z.T / tau  # (n, N)
    mixed = anchor_z @ z.detach().T / tau if recipe.detach_mixtures else real  # similarities to mixture parts
    own = mixed.gather(1, rows[:, None])  # ⟨z_i, z_i⟩ / τ
    alpha, beta = mix.negative_alpha.float(), mix.positive_alpha.float()
    negative = alpha * own + (1 - alpha) * mixed  # (n, N)
    positive = beta * mixed.gather(1, mix.positive_first) + (1 - beta) * mixed.gather(1, mix.positive_second)
    real_gap = y[None, :] - anchor_y[:, None]
    not_self = torch.ones_like(real, dtype=torch.bool).scatter_(1, rows[:, None], False)
    log_weight = _log_weight(recipe.distance_weight)
    candidates = torch.cat(
        [
            torch.where(not_self, real + log_weight(real_gap), float("-inf")),
            torch.where(mix.negative_valid, negative + log_weight((1 - alpha) * real_gap), float("-inf")),
            torch.where(mix.positive_valid, positive, float("-inf")),
        ],
        dim=1,
    )
    log_denominator = torch.logsumexp(candidates, dim=1)  # one stabiliser over real pairs and mixtures
    real_positive = not_self & (real_gap.abs() <= recipe.label_tolerance)
    positive_sum = torch.where(real_positive, real, 0.0).sum(1) + torch.where(mix.positive_valid, positive, 0.0).sum(1)
    count = real_positive.sum(1) + mix.positive_valid.sum(1)
    scale = tau / (tau if recipe.base_temperature is None else recipe.base_temperature)
    return -scale * (positive_sum / count.clamp(min=1) - log_denominator), count


def _log_weight(distance_weight: str):
    """log w(Δy): log(|Δy| + 1) ('l1'), log(Δy² + 1) ('l2') or 0 ('none')."""
    if distance_weight == "none":
        return torch.zeros_like
    if distance_weight == "l1":
        return lambda gap: torch.log1p(gap.abs())
    return lambda gap: torch.log1p(gap**2)


def _gathered_loss(embeddings: Tensor, labels: Tensor, recipe: SupReMixConfig, generator: torch.Generator) -> Tensor:
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
    per_anchor = _loss(gathered, all_labels, recipe, None, generator, anchors, reduction="none")
    valid = ~torch.isnan(per_anchor)
    counted = all_reduce_sum(int(valid.sum()), embeddings.device)
    return torch.where(valid, per_anchor, 0.0).sum() * world_size() / max(counted, 1.0)


def _checked_labels(labels: Tensor) -> Tensor:
    if labels.dim() == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.dim() != 1 or len(labels) == 0:
        raise ValueError(f"SupReMix labels must be one value per row, (N,) or (N, 1); got {tuple(labels.shape)}.")
    if not labels.is_floating_point():
        labels = labels.double()
    check_finite_labels(labels, "SupReMix")
    return labels.detach()


def check_finite_labels(labels: Tensor, who: str) -> None:
    """Raise `ValueError` naming the rows (and their values) of `labels` that are NaN or ±inf."""
    bad = ~torch.isfinite(labels.reshape(len(labels), -1)).all(1)
    if bool(bad.any()):
        rows = bad.nonzero()[:, 0].tolist()
        values = labels.reshape(len(labels), -1)[bad][:, 0].tolist()
        raise ValueError(
            f"{who} labels must be finite numbers (no NaN or ±inf); rows {rows[:20]} hold {values[:20]}"
            f"{' ...' if len(rows) > 20 else ''}. Drop or fill those rows first."
        )


class SupReMixLoss(nn.Module):
    """The SupReMix runtime: one `SupReMixConfig`'s loss, drawing its mixtures and gathering across processes.

    `SupReMixTrainer` and the sentence-transformers `SupReMixSentenceLoss` both call it. Call it as
    `loss(embeddings, labels)` with embeddings (N, D) or (N, V, D) and (N,) finite labels. The mixtures come from
    `generator` when given, else from the module's own generator (seeded by `seed` and the call count, equal on
    every process). With `gather_across_processes` (the config's default) and a process group, the embeddings and
    labels of every process are gathered with gradients and the loss is this process's share of the global mean
    (`gathered_supremix_loss`); `gather=False` turns that off for one call (evaluation).

    Args:
        config: a `SupReMixConfig` (or dict / name / path); default the registered defaults.
        seed: seed of the module's own mixture generator.
        options: `SupReMixConfig` fields that replace the config's.
    """

    citation = CITATION

    def __init__(self, config: SupReMixConfig | dict | str | None = None, *, seed: int = 0, **options: Any):
        super().__init__()
        self.config = recipe_from(SupReMixConfig, config, options)
        self.seed, self._calls = seed, 0

    def forward(
        self,
        embeddings: Tensor,
        labels: Tensor,
        *,
        generator: torch.Generator | None = None,
        mixtures: SupReMixMixtures | None = None,
        anchors: Tensor | None = None,
        gather: bool | None = None,
    ) -> Tensor:
        if generator is None and mixtures is None:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self._calls)
            self._calls += 1
        gather = self.config.gather_across_processes if gather is None else gather
        if gather and mixtures is None and anchors is None and world_size() > 1:
            return _gathered_loss(embeddings, labels, self.config, generator)
        return _loss(embeddings, labels, self.config, mixtures, generator, anchors)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config.to_dict().items() if k != "hfmix_version")
