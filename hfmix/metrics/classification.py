"""Scores of a classifier: accuracy, macro-F1, NLL, ECE (15 equal-width bins) and Brier score."""

from __future__ import annotations

import torch

from hfmix.metrics.calibration import brier_score, expected_calibration_error, negative_log_likelihood


def classification_scores(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Accuracy, macro-F1 (over every class of the (N, C) logits), NLL, ECE and Brier score against (N,) class ids."""
    predictions = logits.argmax(-1)
    f1 = []
    for c in range(logits.shape[1]):
        tp = int(((predictions == c) & (labels == c)).sum())
        wrong = int(((predictions == c) != (labels == c)).sum())
        f1.append(2 * tp / (2 * tp + wrong) if tp + wrong else 0.0)
    return {
        "accuracy": float((predictions == labels).float().mean()),
        "macro_f1": sum(f1) / len(f1),
        "nll": negative_log_likelihood(logits, labels),
        "ece": expected_calibration_error(logits, labels),
        "brier": brier_score(logits, labels),
    }
