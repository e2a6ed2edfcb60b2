"""`hfmix.losses.soft_target_cross_entropy`: cross-entropy on soft targets equals the interpolated hard losses."""

import torch
import torch.nn.functional as F

from hfmix import MixPlan
from hfmix.functional import (
    interpolate_losses,
    mix_targets,
    soft_target_cross_entropy,
)


def test_soft_target_cross_entropy_equals_interpolated_hard_losses():
    logits = torch.randn(6, 4)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    plan = MixPlan(torch.tensor([1, 2, 3, 4, 5, 0]), torch.rand(6))
    soft = soft_target_cross_entropy(logits, mix_targets(y, plan, 4), reduction="none")
    hard = interpolate_losses(
        F.cross_entropy(logits, y, reduction="none"),
        F.cross_entropy(logits, y[plan.index], reduction="none"),
        plan.lam,
    )
    torch.testing.assert_close(soft, hard)
    torch.testing.assert_close(soft_target_cross_entropy(logits, F.one_hot(y, 4).float()), F.cross_entropy(logits, y))
