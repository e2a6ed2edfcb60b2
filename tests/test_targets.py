"""`hfmix.targets`: soft targets that follow the plan and a token loss exact under gradient accumulation."""

import pytest
import torch
import torch.nn.functional as F

from hfmix import MixPlan
from hfmix.functional import (
    mix_targets,
)
from hfmix.targets import micro_batch_token_count, mixed_loss


def test_mix_targets_soft_labels_sum_to_one():
    labels = torch.tensor([0, 2, 1, 2])
    plan = MixPlan(torch.tensor([1, 0, 3, 2]), torch.tensor([0.7, 0.2, 1.0, 0.5]))
    targets = mix_targets(labels, plan, num_classes=3)
    torch.testing.assert_close(targets.sum(-1), torch.ones(4))
    torch.testing.assert_close(targets[0], torch.tensor([0.7, 0.0, 0.3]))
    assert (targets > 0).sum(-1).tolist() == [2, 2, 1, 2]  # two classes where mixed, one where λ = 1
    multi = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    torch.testing.assert_close(mix_targets(multi, plan)[0], 0.7 * multi[0] + 0.3 * multi[1])
    with pytest.raises(ValueError, match="num_classes"):
        mix_targets(labels, plan)


def test_token_loss_is_exact_under_gradient_accumulation():
    """Two micro-batches with different token counts, divided by the step's token count, give the big batch's loss."""
    logits = torch.randn(4, 5, 3, requires_grad=True)
    labels = torch.randint(0, 3, (4, 5))
    labels[0, 1:] = -100  # row 0: 1 token; the first micro-batch holds far fewer tokens than the second
    labels[1, 2:] = -100
    full = mixed_loss(logits, labels, None, "token_classification")
    reference = F.cross_entropy(logits.reshape(-1, 3), labels.reshape(-1), ignore_index=-100)
    torch.testing.assert_close(full, reference)
    num_items = (labels != -100).sum()
    per_micro = micro_batch_token_count(num_items, accumulation_steps=2)
    accumulated = sum(
        mixed_loss(logits[rows], labels[rows], None, "token_classification", num_tokens=per_micro) / 2
        for rows in (slice(0, 2), slice(2, 4))
    )
    torch.testing.assert_close(accumulated, reference)
    plan = MixPlan(torch.tensor([1, 0]), torch.tensor([0.7, 0.7]))  # a mixed micro-batch takes the same denominator
    mixed = mixed_loss(logits[:2], labels[:2], plan, "token_classification", num_tokens=per_micro)
    assert torch.isfinite(mixed) and micro_batch_token_count(None, 2) is None
