"""Who is mixed with whom: partner indices for a batch, for any batch size (odd, 1, a last partial batch)."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def random_partners(batch_size: int, *, generator: torch.Generator) -> Tensor:
    """A random pairing with no row paired with itself (for B >= 2): shuffle, then pair each row with the next
    one in the shuffled order (a random cyclic derangement, as torchvision's roll after shuffling). Any batch
    size works, odd included; a batch of one is paired with itself, i.e. left unmixed.

    Returns: (B,) long, row i is mixed with row `index[i]`.
    """
    order = torch.randperm(batch_size, generator=generator)
    index = torch.empty_like(order)
    index[order] = order.roll(1)
    return index


def label_similarity_partners(
    labels: Tensor, bandwidth: float, *, generator: torch.Generator, exclude_self: bool = False
) -> Tensor:
    """Draw partner j of each anchor i with P(j | i) ∝ exp(-||y_i - y_j||² / 2σ²), within the batch.

    C-Mixup (Yao et al., "C-Mixup: Improving Generalization in Regression", NeurIPS 2022, arXiv:2210.05775),
    `src/algorithm.py`. The research code includes j = i; `exclude_self=True` drops it (a batch of one keeps it).

    Args:
        labels: (B,) or (B, K) regression targets.
        bandwidth: σ > 0, in label units.
    Returns: (B,) long partner indices.
    """
    y = _checked_labels(labels, bandwidth).float()
    if y.dim() == 1:
        y = y[:, None]
    logits = -torch.cdist(y, y).pow(2) / (2 * bandwidth**2)
    if exclude_self and len(y) > 1:
        logits.fill_diagonal_(float("-inf"))
    probs = torch.softmax(logits, dim=-1).cpu()
    return torch.multinomial(probs, 1, generator=generator).squeeze(1).to(labels.device)


def dataset_label_similarity_partners(
    labels: Tensor,
    bandwidth: float,
    *,
    generator: torch.Generator,
    exclude_self: bool = False,
    truncation: float = 6.0,
    chunk_size: int = 4096,
) -> Tensor:
    """C-Mixup partners drawn from the whole dataset in O(N) memory (the research code builds a dense N×N matrix).

    P(j | i) ∝ exp(−||y_i − y_j||² / 2σ²) over all N rows (Yao et al., arXiv:2210.05775).

    1-D labels (the common case) are sampled exactly from the kernel truncated at `truncation`·σ, in
    O(N · log N) time and O(N + chunk_size · 8·truncation) memory: the labels are sorted, each anchor's window is
    cut into 8·truncation bins of width ≤ σ/4 (found by binary search), a bin is drawn with probability
    ∝ (rows in it) × (its largest kernel value), a row uniformly inside it, and accepted with probability
    kernel / largest kernel (rejection sampling, acceptance ≥ e^(−1.6) per try). The truncation drops, per row,
    at most (N − 1)·exp(−truncation²/2) / Z_i of the mass, with Z_i ≥ 1 when j = i is included, so the
    total-variation error of every row's distribution is ≤ (N − 1)·exp(−truncation²/2) (1.5e-8·N at 6σ).
    Multi-dimensional labels use exact chunked distances (no truncation): O(N) memory (chunks of at most 2²²
    kernel values), O(N²) time.
    With `exclude_self`, a row with no other row inside its window keeps itself (is left unmixed).

    Args:
        labels: (N,) or (N, K) regression targets.
        bandwidth: σ > 0, in label units.
    Returns: (N,) long, a partner for every row, on the labels' device.
    """
    if not truncation > 0 or chunk_size < 1:
        raise ValueError(f"truncation must be > 0 and chunk_size >= 1, got {truncation} and {chunk_size}.")
    y = _checked_labels(labels, bandwidth).double().cpu()
    if y.dim() == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.dim() == 1:
        partners = _windowed_partners(y, bandwidth, generator, exclude_self, truncation, chunk_size)
    else:
        partners = _chunked_partners(y, bandwidth, generator, exclude_self, chunk_size)
    return partners.to(labels.device)


def _windowed_partners(
    y: Tensor, sigma: float, generator: torch.Generator, exclude_self: bool, truncation: float, chunk_size: int
) -> Tensor:
    """Rejection sampling from binned windows of sorted 1-D labels (see `dataset_label_similarity_partners`)."""
    n = len(y)
    order = y.argsort(stable=True)
    ranked = y[order]
    half = max(1, math.ceil(4 * truncation))  # bins each side of the anchor
    width = truncation * sigma / half
    offsets = torch.arange(-half, half + 1, dtype=torch.float64) * width
    k = torch.arange(-half, half, dtype=torch.float64)
    nearest = torch.where(k < 0, -k - 1, k)  # bin [kw, (k+1)w) is nearest to the anchor at this many widths
    log_bound = -((nearest * width) ** 2) / (2 * sigma**2)  # the kernel's largest value in each bin
    partners = torch.empty(n, dtype=torch.long)
    for start in range(0, n, chunk_size):
        anchors = ranked[start : start + chunk_size]
        rows = torch.arange(start, start + len(anchors))
        edges = anchors[:, None] + offsets
        bounds = torch.searchsorted(ranked, edges)
        bounds[:, -1] = torch.searchsorted(ranked, edges[:, -1].contiguous(), right=True)
        first, last = bounds[:, :-1], bounds[:, 1:]
        counts = last - first
        if exclude_self:
            counts[:, half] -= 1  # the bin [y_i, y_i + width) holds the anchor itself
        weights = counts.double() * log_bound.exp()
        chosen = rows.clone()  # rows with nobody in reach keep themselves
        todo = torch.nonzero(weights.sum(1) > 0).squeeze(1)
        while len(todo):
            bins = torch.multinomial(weights[todo].float(), 1, generator=generator).squeeze(1)
            pick = (torch.rand(len(todo), generator=generator, dtype=torch.float64) * counts[todo, bins]).long()
            position = first[todo, bins] + pick.clamp(max=counts[todo, bins] - 1)
            if exclude_self:
                position += ((bins == half) & (position >= rows[todo])).long()  # skip the anchor
            log_kernel = -((ranked[position] - anchors[todo]) ** 2) / (2 * sigma**2)
            accept = (
                torch.rand(len(todo), generator=generator, dtype=torch.float64).log() < log_kernel - log_bound[bins]
            )
            chosen[todo[accept]] = position[accept]
            todo = todo[~accept]
        partners[order[rows]] = order[chosen]
    return partners


def _chunked_partners(
    y: Tensor, sigma: float, generator: torch.Generator, exclude_self: bool, chunk_size: int
) -> Tensor:
    """Exact sampling for (N, K) labels against all N rows, by inverse CDF in float64, with chunks of anchors
    capped at 2²² kernel values (32 MiB) whatever N."""
    n = len(y)
    chunk_size = max(1, min(chunk_size, 2**22 // n))
    partners = torch.empty(n, dtype=torch.long)
    for start in range(0, n, chunk_size):
        anchors = y[start : start + chunk_size]
        rows = torch.arange(start, start + len(anchors))
        logits = torch.cdist(anchors, y).pow_(2).div_(-2 * sigma**2)
        if exclude_self and n > 1:
            logits[torch.arange(len(anchors)), rows] = float("-inf")
        cdf = logits.sub_(logits.max(1, keepdim=True).values).exp_().cumsum_(1)
        draws = torch.rand(len(anchors), 1, generator=generator, dtype=torch.float64) * cdf[:, -1:]
        partners[rows] = torch.searchsorted(cdf, draws).squeeze(1).clamp_(max=n - 1)
    return partners


def _checked_labels(labels: Tensor, bandwidth: float) -> Tensor:
    """The labels, detached, once they and σ are usable for the C-Mixup kernel; `ValueError` otherwise."""
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be > 0, got {bandwidth}.")
    if labels.dim() not in (1, 2) or len(labels) == 0:
        raise ValueError(f"labels must have shape (N,) or (N, K) with N >= 1, got {tuple(labels.shape)}.")
    if torch.isnan(labels.detach().float()).any():
        raise ValueError("labels contain NaN; label-similarity pairing needs finite labels.")
    return labels.detach()
