"""Calibration metrics against hand-computed values; temperature scaling recovers a known temperature."""

import pytest
import torch
import torch.nn.functional as F

from hfmix.calibration import (
    TemperatureScaler,
    brier_score,
    calibration_bins,
    expected_calibration_error,
    maximum_calibration_error,
    negative_log_likelihood,
    reliability_diagram,
)


def logits_for(confidences, predictions, num_classes=2):
    """Two-class logits whose softmax gives exactly `confidences` on `predictions`."""
    conf = torch.tensor(confidences, dtype=torch.float64)
    logit = torch.log(conf / (1 - conf))
    out = torch.zeros(len(conf), num_classes, dtype=torch.float64)
    out[torch.arange(len(conf)), torch.tensor(predictions)] = logit
    return out.float()


def test_ece_and_mce_by_hand():
    # confidences 0.9, 0.9, 0.6, 0.6 (bins (0.867, 0.933] and (0.533, 0.6]); predictions all class 0
    logits = logits_for([0.9, 0.9, 0.6, 0.6], [0, 0, 0, 0])
    labels = torch.tensor([0, 1, 0, 0])
    # bin A: conf 0.9, acc 0.5 -> gap 0.4; bin B: conf 0.6, acc 1.0 -> gap 0.4; ECE = 0.5*0.4 + 0.5*0.4
    assert expected_calibration_error(logits, labels) == pytest.approx(0.4, abs=1e-5)
    assert maximum_calibration_error(logits, labels) == pytest.approx(0.4, abs=1e-5)
    labels = torch.tensor([0, 0, 0, 1])  # bin A: acc 1 (gap 0.1); bin B: acc 0.5 (gap 0.1)
    assert expected_calibration_error(logits, labels) == pytest.approx(0.1, abs=1e-5)


def test_adaptive_bins_hold_equal_counts():
    logits = torch.randn(100, 4)
    counts, _, _ = calibration_bins(logits, torch.randint(0, 4, (100,)), n_bins=10, strategy="adaptive")
    assert counts.tolist() == [10.0] * 10
    logits = logits_for([0.55, 0.65, 0.75, 0.95], [0, 0, 1, 1])
    labels = torch.tensor([0, 1, 1, 1])
    # 2 adaptive bins: {0.55 correct, 0.65 wrong} conf 0.6 acc 0.5; {0.75, 0.95 correct} conf 0.85 acc 1
    ece = expected_calibration_error(logits, labels, n_bins=2, strategy="adaptive")
    assert ece == pytest.approx(0.5 * 0.1 + 0.5 * 0.15, abs=1e-5)


def test_brier_and_nll_against_the_formulas():
    logits = torch.randn(20, 5)
    labels = torch.randint(0, 5, (20,))
    p = logits.softmax(-1)
    by_hand = sum(((p[i] - F.one_hot(labels[i], 5)) ** 2).sum() for i in range(20)) / 20
    assert brier_score(logits, labels) == pytest.approx(float(by_hand), rel=1e-5)
    assert negative_log_likelihood(logits, labels) == pytest.approx(float(F.cross_entropy(logits, labels)), rel=1e-6)


def test_perfectly_calibrated_predictions_have_small_ece():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(20000, 3, generator=g) * 2
    labels = torch.multinomial(logits.softmax(-1), 1, generator=g).squeeze(1)
    assert expected_calibration_error(logits, labels) < 0.02


@pytest.mark.parametrize("true_temperature", [0.5, 2.5])
def test_temperature_scaling_recovers_a_known_temperature(true_temperature):
    g = torch.Generator().manual_seed(0)
    calibrated = torch.randn(20000, 5, generator=g) * 2
    labels = torch.multinomial(calibrated.softmax(-1), 1, generator=g).squeeze(1)
    model_logits = calibrated * true_temperature  # over- (T > 1) or under-confident (T < 1)
    scaler = TemperatureScaler().fit(model_logits, labels)
    assert scaler.converged and scaler.temperature == pytest.approx(true_temperature, rel=0.05)
    assert expected_calibration_error(scaler(model_logits), labels) < expected_calibration_error(model_logits, labels)


def test_temperature_scaling_falls_back_when_lbfgs_fails(monkeypatch):
    class Broken(torch.optim.LBFGS):
        def step(self, closure):  # an optimiser that gives up at once
            return closure()

    monkeypatch.setattr(torch.optim, "LBFGS", Broken)
    g = torch.Generator().manual_seed(1)
    calibrated = torch.randn(5000, 4, generator=g)
    labels = torch.multinomial(calibrated.softmax(-1), 1, generator=g).squeeze(1)
    scaler = TemperatureScaler().fit(calibrated * 3, labels)
    assert scaler.method == "golden-section" and scaler.converged
    assert scaler.temperature == pytest.approx(3.0, rel=0.1)


def test_probabilities_are_refused_where_logits_are_required():
    probabilities = torch.randn(8, 3).softmax(-1)
    with pytest.raises(ValueError, match="look like probabilities"):
        expected_calibration_error(probabilities, torch.zeros(8, dtype=torch.long))
    with pytest.raises(ValueError, match="look like probabilities"):
        TemperatureScaler().fit(probabilities, torch.zeros(8, dtype=torch.long))
    with pytest.raises(ValueError, match=r"logits \(N, C\) and labels \(N,\)"):
        brier_score(torch.randn(8, 3), torch.zeros(7, dtype=torch.long))


def test_reliability_diagram_writes_a_png(tmp_path):
    path = tmp_path / "diagram.png"
    reliability_diagram(torch.randn(200, 3) * 3, torch.randint(0, 3, (200,)), path=str(path), title="test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
