"""`hfmix.mixers.mixup_inference`: mixup inference in training: the decoupling and the loss against its formula
(its draws, reproducible from the plan, are checked in test_mixers_batch_loss.py)."""

import tiny
import torch

from hfmix.mixers.mixup_inference import decouple, mixup_inference_loss, sample_mit_lambdas


B, C = tiny.CASE_ROWS, tiny.CASE_CLASSES


def test_mit_decoupling_solves_the_two_mixes_and_the_loss_is_the_formula():
    g = torch.Generator().manual_seed(3)
    own, partner = torch.randn(B, C, generator=g), torch.randn(B, C, generator=g)
    lam1, lam2 = sample_mit_lambdas(1.0, 0.5, B, generator=g)
    assert (lam1 >= 0.5).all() and (lam2 <= 0.5).all() and (lam1 - lam2 >= 0.5).all()
    z1 = lam1[:, None] * own + (1 - lam1[:, None]) * partner
    z2 = lam2[:, None] * own + (1 - lam2[:, None]) * partner
    got_own, got_partner = decouple(z1, z2, lam1, lam2)
    torch.testing.assert_close(got_own, own)
    torch.testing.assert_close(got_partner, partner)
    # the loss, each row's 2×2 system solved directly; row 5 is not mixed (λ₁ = λ₂ = 1)
    _, labels, index, _ = tiny.random_case()
    lam1[5] = lam2[5] = 1.0
    direct = 0.0
    for i in range(B):
        if index[i] == i:
            direct += 0.5 * tiny.ce(z1[i], labels[i]) + 0.5 * tiny.ce(z2[i], labels[i])
            continue
        system = torch.tensor([[lam1[i], 1 - lam1[i]], [lam2[i], 1 - lam2[i]]])
        solved = torch.linalg.solve(system, torch.stack([z1[i], z2[i]]))
        direct += 0.5 * tiny.ce(solved[0], labels[i]) + 0.5 * tiny.ce(solved[1], labels[index[i]])
    torch.testing.assert_close(mixup_inference_loss(z1, z2, labels, index, lam1, lam2), direct / B)
