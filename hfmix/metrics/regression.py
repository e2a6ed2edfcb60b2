"""Scores of a regressor: MSE, RMSE, MAE, Pearson and Spearman correlation."""

from __future__ import annotations

import torch
from torch import Tensor


def regression_scores(predictions: Tensor, targets: Tensor) -> dict[str, float]:
    """MSE, RMSE, MAE, Pearson and Spearman (Pearson of tie-averaged ranks) of (N,) predictions against (N,)
    targets; a constant series has no correlation (nan)."""
    predictions, targets = predictions.detach().double().reshape(-1), targets.detach().double().reshape(-1)
    if predictions.shape != targets.shape:
        raise ValueError(f"predictions {tuple(predictions.shape)} and targets {tuple(targets.shape)} differ in size.")
    error = predictions - targets
    mse = float((error**2).mean())
    return {
        "mse": mse,
        "rmse": mse**0.5,
        "mae": float(error.abs().mean()),
        "pearson": _pearson(predictions, targets),
        "spearman": _pearson(_average_ranks(predictions), _average_ranks(targets)),
    }


def _pearson(a: Tensor, b: Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    scale = a.norm() * b.norm()
    return float((a * b).sum() / scale) if scale > 0 else float("nan")


def _average_ranks(x: Tensor) -> Tensor:
    """Ranks 0..n-1, ties sharing the mean of their ranks (as scipy.stats.rankdata)."""
    _, inverse, counts = torch.unique(x, return_inverse=True, return_counts=True)
    first = torch.cumsum(counts, 0) - counts
    return (first + (counts - 1) / 2).double()[inverse]
