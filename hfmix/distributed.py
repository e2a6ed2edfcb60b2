"""Gathering embeddings across processes with gradients, for contrastive losses that need the global batch."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def gather_with_grad(x: Tensor) -> tuple[Tensor, int]:
    """Concatenate `x` (B_r, ...) over all processes in rank order, keeping gradients.

    Returns (gathered (Σ B_r, ...), offset), where `offset` is the first row of this process's `x` in the gathered
    tensor. Uses `torch.distributed.nn.functional.all_gather`, whose backward sums every process's gradient into
    the local rows: with each process's loss scaled as its share of the global mean and DDP averaging gradients,
    the result is the single-process full-batch gradient. Processes may hold different numbers of rows (rows are
    padded for the collective and the padding dropped). Without a process group, or with one process: (x, 0).
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x, 0
    import torch.distributed.nn.functional as dist_fn

    sizes = gather_sizes(x.shape[0], x.device)
    rank, longest = dist.get_rank(), max(sizes)
    padded = torch.cat([x, x.new_zeros(longest - x.shape[0], *x.shape[1:])]) if x.shape[0] < longest else x
    parts = dist_fn.all_gather(padded)
    return torch.cat([part[:size] for part, size in zip(parts, sizes, strict=True)]), sum(sizes[:rank])


def gather_sizes(size: int, device: torch.device | str = "cpu") -> list[int]:
    """Every process's `size`, in rank order ([size] without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return [size]
    sizes = [torch.zeros(1, dtype=torch.long, device=device) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, torch.tensor([size], dtype=torch.long, device=device))
    return [int(s) for s in sizes]


def all_reduce_sum(value: float | int, device: torch.device | str = "cpu") -> float:
    """Σ over processes of a Python number (itself without a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return float(value)
    total = torch.tensor([float(value)], dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return float(total)


def world_size() -> int:
    """The number of processes (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
