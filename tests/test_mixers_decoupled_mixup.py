"""`hfmix.mixers.decoupled_mixup`: the Decoupled Mixup loss against a direct (loop) implementation of its formula."""

from types import SimpleNamespace

import pytest
import tiny
import torch
import torch.nn.functional as F

from hfmix.losses.soft_target_cross_entropy import soft_target_cross_entropy
from hfmix.mixers.decoupled_mixup import DecoupledMixupConfig, decoupled_mixup_loss


B, C = tiny.CASE_ROWS, tiny.CASE_CLASSES


def test_decoupled_mixup_loss_is_the_formula():
    logits, labels, index, lam = tiny.random_case()
    eta = 0.4
    direct = 0.0
    for i in range(B):
        a, b = int(labels[i]), int(labels[index[i]])
        target = lam[i] * F.one_hot(labels[i], C) + (1 - lam[i]) * F.one_hot(labels[index[i]], C)
        row = -(target * logits[i].log_softmax(0)).sum()
        if index[i] != i and a != b:  # rows 1-2 (same class) and 5 (not mixed) get the soft CE alone
            for this, other in ((a, b), (b, a)):
                kept = [c for c in range(C) if c != other]
                row += eta * -(logits[i, this] - torch.logsumexp(logits[i, kept], 0))
        direct += row
    torch.testing.assert_close(decoupled_mixup_loss(logits, labels, index, lam, eta), direct / B)


def test_with_two_classes_decoupled_mixup_is_mixup_and_says_so():
    logits, labels = torch.randn(6, 2), torch.tensor([0, 1, 0, 1, 1, 0])
    index, lam = torch.tensor([1, 0, 3, 2, 5, 4]), torch.full((6,), 0.7)
    targets = lam[:, None] * F.one_hot(labels, 2) + (1 - lam[:, None]) * F.one_hot(labels[index], 2)
    torch.testing.assert_close(
        decoupled_mixup_loss(logits, labels, index, lam, 5.0), soft_target_cross_entropy(logits, targets)
    )
    result = SimpleNamespace(outputs={"logits": logits}, labels=labels, plan=None)
    with pytest.warns(UserWarning, match="exactly 0 with 2 classes"):
        DecoupledMixupConfig().batch_loss(lambda plan: result, None, lambda r: torch.tensor(0.0))
