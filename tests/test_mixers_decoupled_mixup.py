"""`hfmix.mixers.decoupled_mixup`: the Decoupled Mixup loss against a direct (loop) implementation of its formula."""

import tiny
import torch
import torch.nn.functional as F

from hfmix.mixers.decoupled_mixup import decoupled_mixup_loss


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
