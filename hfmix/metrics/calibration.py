"""Calibration: ECE / MCE (equal-width or adaptive bins), Brier score, NLL, temperature scaling, and a
reliability diagram.

ECE = Σ_b |B_b|/n · |acc(B_b) − conf(B_b)| over confidence bins (Guo et al., "On Calibration of Modern Neural
Networks", ICML 2017, arXiv:1706.04599; 15 bins by default). Adaptive bins hold equal numbers of samples
(Nguyen & O'Connor 2015). Temperature scaling fits one T > 0 on held-out logits by NLL, parameterised as log T,
with LBFGS and a golden-section fallback when LBFGS does not converge (the failure modes of the reference
implementation: probabilities passed as logits, a model left in train mode, LBFGS stopping early).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor


def _check_logits(logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    logits, labels = torch.as_tensor(logits).float(), torch.as_tensor(labels).long()
    if logits.dim() != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(
            f"Expected logits (N, C) and labels (N,), got {tuple(logits.shape)} and {tuple(labels.shape)}."
        )
    if logits.shape[0] == 0:
        raise ValueError("No samples: logits and labels are empty.")
    if not torch.isfinite(logits).all():
        raise ValueError("logits contain NaN or inf.")
    if ((labels < 0) | (labels >= logits.shape[1])).any():
        raise ValueError(f"labels must be class ids in 0..{logits.shape[1] - 1}.")
    if logits.shape[1] > 1 and (logits >= 0).all() and (logits <= 1).all():
        if torch.allclose(logits.sum(-1), torch.ones(len(logits)), atol=1e-4):
            raise ValueError(
                "These look like probabilities (rows in [0, 1] summing to 1), not logits; pass the model's "
                "logits, or torch.log(probabilities)."
            )
    return logits, labels


def _bins(confidence: Tensor, n_bins: int, strategy: str) -> Tensor:
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}.")
    if strategy == "uniform":
        edges = torch.linspace(0, 1, n_bins + 1)
        return torch.bucketize(confidence, edges[1:-1], right=False)
    if strategy == "adaptive":
        order = confidence.argsort()
        bins = torch.empty_like(order)
        bins[order] = torch.arange(len(order)) * n_bins // len(order)
        return bins
    raise ValueError(f"strategy must be 'uniform' or 'adaptive', got {strategy!r}.")


def calibration_bins(
    logits: Tensor, labels: Tensor, n_bins: int = 15, strategy: Literal["uniform", "adaptive"] = "uniform"
) -> tuple[Tensor, Tensor, Tensor]:
    """Per bin: count (n_bins,), mean confidence, accuracy (NaN for empty bins). Confidence = max softmax."""
    logits, labels = _check_logits(logits, labels)
    confidence, prediction = logits.softmax(-1).max(-1)
    bins = _bins(confidence, n_bins, strategy)
    counts = torch.bincount(bins, minlength=n_bins).float()
    conf_sum = torch.zeros(n_bins).index_add_(0, bins, confidence)
    acc_sum = torch.zeros(n_bins).index_add_(0, bins, (prediction == labels).float())
    return counts, conf_sum / counts, acc_sum / counts


def expected_calibration_error(
    logits: Tensor, labels: Tensor, n_bins: int = 15, strategy: Literal["uniform", "adaptive"] = "uniform"
) -> float:
    """ECE = Σ_b |B_b|/n · |acc_b − conf_b|. logits (N, C), labels (N,)."""
    counts, confidence, accuracy = calibration_bins(logits, labels, n_bins, strategy)
    full = counts > 0
    return float((counts[full] / counts.sum() * (accuracy[full] - confidence[full]).abs()).sum())


def maximum_calibration_error(
    logits: Tensor, labels: Tensor, n_bins: int = 15, strategy: Literal["uniform", "adaptive"] = "uniform"
) -> float:
    """MCE = max_b |acc_b − conf_b| over non-empty bins."""
    counts, confidence, accuracy = calibration_bins(logits, labels, n_bins, strategy)
    full = counts > 0
    return float((accuracy[full] - confidence[full]).abs().max())


def brier_score(logits: Tensor, labels: Tensor) -> float:
    """Mean over samples of Σ_c (p_c − onehot_c)² (multi-class Brier score, range [0, 2])."""
    logits, labels = _check_logits(logits, labels)
    onehot = F.one_hot(labels, logits.shape[1]).float()
    return float(((logits.softmax(-1) - onehot) ** 2).sum(-1).mean())


def negative_log_likelihood(logits: Tensor, labels: Tensor) -> float:
    """Mean NLL (cross-entropy) of the labels."""
    logits, labels = _check_logits(logits, labels)
    return float(F.cross_entropy(logits, labels))


class TemperatureScaler:
    """Fit one temperature T on held-out logits by NLL; `scaler(logits)` returns logits / T.

    `fit` runs LBFGS on log T (so T stays positive) and checks convergence (gradient ≈ 0); when LBFGS fails, a
    golden-section search over log T ∈ [log 0.05, log 20] takes over. `converged` and `method` say what happened.
    Fit on logits computed with the model in eval mode (dropout off).
    """

    def __init__(self, max_iter: int = 200, tolerance: float = 1e-5):
        self.max_iter, self.tolerance = max_iter, tolerance
        self.temperature = 1.0
        self.converged = False
        self.method = "none"

    def fit(self, logits: Tensor, labels: Tensor) -> TemperatureScaler:
        logits, labels = _check_logits(logits, labels)
        logits = logits.double()

        def nll(log_t: Tensor) -> Tensor:
            return F.cross_entropy(logits / log_t.exp(), labels)

        log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=self.max_iter, line_search_fn="strong_wolfe")

        def closure() -> Tensor:
            optimizer.zero_grad()
            loss = nll(log_t)
            loss.backward()
            return loss

        optimizer.step(closure)
        gradient = torch.autograd.grad(nll(log_t), log_t)[0].abs().item()
        if math.isfinite(log_t.item()) and gradient < self.tolerance * 10 and abs(log_t.item()) < math.log(1e3):
            self.temperature, self.method, self.converged = math.exp(log_t.item()), "lbfgs", True
            return self
        low, high = math.log(0.05), math.log(20.0)
        ratio = (math.sqrt(5) - 1) / 2
        with torch.no_grad():
            for _ in range(100):
                a, b = high - ratio * (high - low), low + ratio * (high - low)
                if nll(torch.tensor([a], dtype=torch.float64)) < nll(torch.tensor([b], dtype=torch.float64)):
                    high = b
                else:
                    low = a
                if high - low < self.tolerance:
                    break
        self.temperature = math.exp((low + high) / 2)
        self.method, self.converged = "golden-section", high - low < self.tolerance
        return self

    def __call__(self, logits: Tensor) -> Tensor:
        return torch.as_tensor(logits).float() / self.temperature


def reliability_diagram(
    logits: Tensor,
    labels: Tensor,
    path: str | None = None,
    n_bins: int = 15,
    title: str = "Reliability diagram",
):
    """Plot accuracy against confidence per bin (with the gap to the diagonal and the ECE); save a PNG to `path`.

    Needs matplotlib (`pip install matplotlib`). Returns the matplotlib Figure.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError("reliability_diagram needs matplotlib: pip install matplotlib") from err
    counts, confidence, accuracy = calibration_bins(logits, labels, n_bins)
    ece = expected_calibration_error(logits, labels, n_bins)
    centers = (torch.arange(n_bins) + 0.5) / n_bins
    full = counts > 0
    figure, axis = plt.subplots(figsize=(4.5, 4.5))
    axis.bar(centers[full], accuracy[full], width=1 / n_bins, edgecolor="black", label="accuracy")
    axis.bar(
        centers[full],
        (confidence - accuracy)[full],
        bottom=accuracy[full],
        width=1 / n_bins,
        color="tab:red",
        alpha=0.3,
        edgecolor="tab:red",
        label="gap to confidence",
    )
    axis.plot([0, 1], [0, 1], "k--", linewidth=1)
    axis.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy", title=f"{title}\nECE = {ece:.4f}")
    axis.legend(loc="upper left")
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=100)
        plt.close(figure)
    return figure
