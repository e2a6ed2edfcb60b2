"""`hfmix.metrics.classification`: the classification scores by hand."""

import pytest
import torch

from hfmix.metrics.classification import classification_scores


def test_classification_scores_by_hand():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 2.0]])
    labels = torch.tensor([0, 1, 2, 2])
    scores = classification_scores(logits, labels)
    assert scores["accuracy"] == pytest.approx(0.75)
    # F1 per class: 1 (class 0), 2/3 (class 1: one hit, one false positive), 2/3 (class 2: one hit, one miss)
    assert scores["macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    assert scores["nll"] == pytest.approx(float(torch.nn.functional.cross_entropy(logits, labels)))
    assert set(scores) == {"accuracy", "macro_f1", "nll", "ece", "brier"}
