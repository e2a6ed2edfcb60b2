"""`hfmix.metrics.embedding`: the embedding metrics against hand-computed values."""

import math

import pytest
import torch
import torch.nn.functional as F

from hfmix.embedding_metrics import (
    alignment,
    recall_at_k,
    retrieval_metrics,
    uniformity,
    zero_shot_accuracy,
    zero_shot_logits,
)


# ---------------------------------------------------------------------------------------------------- metrics
def test_embedding_metrics_against_hand_computed_values():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    y = torch.tensor([[0.0, 2.0], [0.0, 3.0], [-1.0, 0.1]])  # normalised inside: (0,1), (0,1), ≈(-1, 0.1)
    y_hat = F.normalize(y, dim=-1)
    assert alignment(x, y) == pytest.approx(((x - y_hat).norm(dim=-1) ** 2).mean().item(), rel=1e-6)
    assert alignment(x, x) == pytest.approx(0.0)
    # pairwise squared distances of x: 2, 4, 2 → log mean exp(-2·d²)
    assert uniformity(x) == pytest.approx(math.log((2 * math.exp(-4) + math.exp(-8)) / 3), rel=1e-6)
    # query 0 = (1,0): sims to y_hat = 0, 0, ≈-0.995 → correct item 0 has rank 0 (tie with item 1 counts for it)
    # query 1 = (0,1): sims 1, 1, 0.0995 → rank 0; query 2 = (-1,0): sims 0, 0, 0.995 → rank 0
    assert recall_at_k(x, y, ks=(1, 2)) == {1: 1.0, 2: 1.0}
    assert recall_at_k(y, x, ks=(1,)) == {1: pytest.approx(2 / 3)}  # y_hat[0]=(0,1) prefers x[1]
    metrics = retrieval_metrics(x, y, ks=(1,))
    assert set(metrics) == {"i2t_recall@1", "t2i_recall@1", "alignment", "uniformity"}
    classes = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    logits = zero_shot_logits(x, classes, logit_scale=10.0)
    torch.testing.assert_close(logits, torch.tensor([[10.0, 0.0], [0.0, 10.0], [-10.0, 0.0]]))
    assert zero_shot_accuracy(x, classes, torch.tensor([0, 1, 0])) == pytest.approx(2 / 3)  # row 2 → class 1
    ensemble = torch.stack([classes, classes * 3], dim=1)  # (C, P=2, D) prompt ensemble
    torch.testing.assert_close(zero_shot_logits(x, ensemble, 10.0), logits)
    with pytest.raises(ValueError, match="at least 2"):
        uniformity(x[:1])
