"""Who is mixed with whom: partner indices for a batch, for any batch size (odd, 1, a last partial batch)."""

from __future__ import annotations

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
    chunk_size: int = 512,
) -> Tensor:
    """C-Mixup partners drawn from the whole dataset, in O(N) memory (the research code builds a dense N×N matrix).

    P(j | i) ∝ exp(−||y_i − y_j||² / 2σ²) over all N rows (Yao et al., arXiv:2210.05775). Anchors are processed in
    chunks of `chunk_size`, so memory is O(chunk_size · N). For 1-D labels the labels are sorted and a chunk only
    looks at partners within `truncation`·σ of its anchors; the dropped mass of each row is at most
    (N − 1)·exp(−truncation²/2) / Z_i, with Z_i ≥ 1 when j = i is included, so the total-variation error of every
    row's distribution is ≤ (N − 1)·exp(−truncation²/2) (1.5e-8·N at the default 6σ). Multi-dimensional labels use
    exact chunked distances (no truncation). A row with no other partner inside the window keeps itself.

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
    n = len(y)
    partners = torch.empty(n, dtype=torch.long)
    order = y.argsort() if y.dim() == 1 else torch.arange(n)
    ranked = y[order]
    for start in range(0, n, chunk_size):
        anchors = ranked[start : start + chunk_size]
        if y.dim() == 1:
            lo = int(torch.searchsorted(ranked, anchors[0] - truncation * bandwidth))
            hi = int(torch.searchsorted(ranked, anchors[-1] + truncation * bandwidth, right=True))
            logits = -((anchors[:, None] - ranked[None, lo:hi]) ** 2) / (2 * bandwidth**2)
            logits[((anchors[:, None] - ranked[None, lo:hi]).abs() > truncation * bandwidth)] = float("-inf")
        else:
            lo, hi = 0, n
            logits = -torch.cdist(anchors, ranked).pow(2) / (2 * bandwidth**2)
        rows = torch.arange(start, start + len(anchors))
        if exclude_self and n > 1:
            alone = rows - lo
            logits[torch.arange(len(anchors)), alone] = float("-inf")
            empty = torch.isinf(logits).all(-1)
            logits[empty, alone[empty]] = 0.0  # nobody else in reach: keep itself
        drawn = torch.multinomial(torch.softmax(logits, -1).float(), 1, generator=generator).squeeze(1)
        partners[order[rows]] = order[lo + drawn]
    return partners.to(labels.device)


def _checked_labels(labels: Tensor, bandwidth: float) -> Tensor:
    """The labels, detached, once they and σ are usable for the C-Mixup kernel; `ValueError` otherwise."""
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be > 0, got {bandwidth}.")
    if labels.dim() not in (1, 2) or len(labels) == 0:
        raise ValueError(f"labels must have shape (N,) or (N, K) with N >= 1, got {tuple(labels.shape)}.")
    if torch.isnan(labels.detach().float()).any():
        raise ValueError("labels contain NaN; label-similarity pairing needs finite labels.")
    return labels.detach()
