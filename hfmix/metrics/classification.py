"""Scores of a classifier: accuracy, macro-F1, NLL, ECE (15 equal-width bins) and Brier score; and the ECE and NLL
after temperature scaling fitted on separate calibration logits."""

from __future__ import annotations

import torch

from hfmix.metrics.calibration import (
    TemperatureScaler,
    brier_score,
    expected_calibration_error,
    negative_log_likelihood,
)


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


def scores_after_temperature_scaling(
    logits: torch.Tensor, labels: torch.Tensor, calibration_logits: torch.Tensor, calibration_labels: torch.Tensor
) -> dict[str, float]:
    """What a user with a validation set gets (Guo et al., ICML 2017): T fitted by `TemperatureScaler` on the
    (M, C) calibration logits and (M,) class ids, and the (N, C) test logits' ECE and NLL after dividing by T.
    Returns {"temperature", "ece_ts", "nll_ts"}."""
    scaler = TemperatureScaler().fit(calibration_logits, calibration_labels.long())
    scaled = scaler(logits)
    return {
        "temperature": scaler.temperature,
        "ece_ts": expected_calibration_error(scaled, labels.long()),
        "nll_ts": negative_log_likelihood(scaled, labels.long()),
    }
