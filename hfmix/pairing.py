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
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be > 0, got {bandwidth}.")
    y = labels.detach().float()
    if y.dim() == 1:
        y = y[:, None]
    if y.dim() != 2:
        raise ValueError(f"labels must have shape (B,) or (B, K), got {tuple(labels.shape)}.")
    if torch.isnan(y).any():
        raise ValueError("labels contain NaN; label-similarity pairing needs finite labels.")
    logits = -torch.cdist(y, y).pow(2) / (2 * bandwidth**2)
    if exclude_self and len(y) > 1:
        logits.fill_diagonal_(float("-inf"))
    probs = torch.softmax(logits, dim=-1).cpu()
    return torch.multinomial(probs, 1, generator=generator).squeeze(1).to(labels.device)
