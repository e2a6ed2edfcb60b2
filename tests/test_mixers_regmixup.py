"""`hfmix.mixers.regmixup`: the RegMixup loss against a direct (loop) implementation of its formula."""

import tiny
import torch

from hfmix.mixers.regmixup import regmixup_loss


B, C = tiny.CASE_ROWS, tiny.CASE_CLASSES


# ---------------------------------------------------------------------------------------------- the formulas
def test_regmixup_loss_is_the_formula():
    clean, labels, index, lam = tiny.random_case()
    mixed = torch.randn(B, C, generator=torch.Generator().manual_seed(1))
    eta = 0.7
    direct = (
        sum(
            tiny.ce(clean[i], labels[i])
            + eta * (lam[i] * tiny.ce(mixed[i], labels[i]) + (1 - lam[i]) * tiny.ce(mixed[i], labels[index[i]]))
            for i in range(B)
        )
        / B
    )
    torch.testing.assert_close(regmixup_loss(clean, mixed, labels, index, lam, eta), direct)
