"""`hfmix.metrics.classification`: the classification scores by hand."""

import pytest
import torch

from hfmix.metrics.calibration import TemperatureScaler, expected_calibration_error, negative_log_likelihood
from hfmix.metrics.classification import classification_scores, scores_after_temperature_scaling


def test_classification_scores_by_hand():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]])
    labels = torch.tensor([0, 1, 2, 2])
    scores = classification_scores(logits, labels)
    assert scores["accuracy"] == pytest.approx(0.75)
    # F1 per class: 1 (class 0), 2/3 (class 1: one hit, one false positive), 2/3 (class 2: one hit, one miss)
    assert scores["macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    assert scores["nll"] == pytest.approx(float(torch.nn.functional.cross_entropy(logits, labels)))
    assert set(scores) == {"accuracy", "macro_f1", "nll", "ece", "brier"}


def test_scores_after_temperature_scaling_divide_the_test_logits_by_the_fitted_temperature():
    generator = torch.Generator().manual_seed(0)
    calibration_logits, calibration_labels = 4 * torch.randn(200, 3, generator=generator), torch.arange(200) % 3
    logits, labels = 4 * torch.randn(50, 3, generator=generator), torch.arange(50) % 3
    scores = scores_after_temperature_scaling(logits, labels, calibration_logits, calibration_labels)
    t = TemperatureScaler().fit(calibration_logits, calibration_labels).temperature
    assert scores["temperature"] == pytest.approx(t) and t > 1  # over-confident random logits: T > 1
    assert scores["ece_ts"] == pytest.approx(expected_calibration_error(logits / t, labels))
    assert scores["nll_ts"] == pytest.approx(negative_log_likelihood(logits / t, labels))
