"""Alias of `hfmix.metrics.calibration`, where the calibration metrics live: ECE / MCE, Brier score, NLL,
temperature scaling and the reliability diagram."""

from hfmix.metrics.calibration import (
    TemperatureScaler,
    brier_score,
    calibration_bins,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
    reliability_diagram,
)


__all__ = [
    "TemperatureScaler",
    "brier_score",
    "calibration_bins",
    "expected_calibration_error",
    "maximum_calibration_error",
    "negative_log_likelihood",
    "reliability_diagram",
]
