"""Cross-entropy against soft (mixed, smoothed) targets."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def soft_target_cross_entropy(logits: Tensor, targets: Tensor, reduction: str = "mean") -> Tensor:
    """−Σ_c t_c · log softmax(z)_c per row; for one-hot targets it equals `F.cross_entropy`.

    Mixup's target λ·onehot(y_i) + (1 − λ)·onehot(y_j) gives λ·CE(y_i) + (1 − λ)·CE(y_j)
    (Zhang et al., arXiv:1710.09412). Computed in float32 so it stays finite under fp16/bf16.

    Args:
        logits: (B, C). targets: (B, C), rows summing to 1.
        reduction: 'mean', 'sum' or 'none' ((B,) per-row losses).
    """
    if logits.shape != targets.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} and soft targets {tuple(targets.shape)} must have the same shape."
        )
    loss = -(targets.float() * F.log_softmax(logits.float(), dim=-1)).sum(-1)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean()
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}.")
