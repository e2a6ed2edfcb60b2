"""Targets of a mixed batch: soft targets (classification), interpolated values (regression, multi-label) and
interpolated per-example losses (token-level labels), plus the checks that turn bad labels into clear errors."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from hfmix.losses.soft_target_cross_entropy import soft_target_cross_entropy
from hfmix.mixers.mixup import mixup
from hfmix.sampling import MixPlan


ProblemType = Literal[
    "single_label_classification", "multi_label_classification", "regression", "token_classification"
]
IGNORE_INDEX = -100


def mix_targets(labels: Tensor, plan: MixPlan, num_classes: int | None = None, union: bool = False) -> Tensor:
    """ỹ = λ·y + (1 − λ)·y[index]. Integer class ids (B,) become soft targets (B, num_classes) first.

    `union=True` (multi-label 0/1 targets): a mixed row gets max(y, y[index]), the labels of both clips.

    Args:
        labels: (B,) long class ids, or (B, ...) float (one-hot/soft, multi-label or regression targets).
    Returns: (B, C) or (B, ...) float.
    """
    if not labels.is_floating_point():
        if num_classes is None:
            raise ValueError("Integer class labels need num_classes to become soft targets.")
        labels = F.one_hot(labels.long(), num_classes)
    if union:
        mixed = plan.mixed.to(labels.device).reshape(-1, *([1] * (labels.dim() - 1)))
        return torch.where(mixed, torch.maximum(labels, labels[plan.index]), labels).float()
    return mixup(labels.float(), plan.index, plan.lam)


def interpolate_losses(loss_own: Tensor, loss_partner: Tensor, lam: Tensor) -> Tensor:
    """λ·L(y_i) + (1 − λ)·L(y_index[i]) per row: the mixup loss where soft targets cannot be built
    (token-level, CTC or LM labels). All (B,)."""
    return lam * loss_own + (1 - lam) * loss_partner


def infer_problem_type(problem_type: str | None, logits: Tensor, labels: Tensor) -> ProblemType:
    """The model's `config.problem_type`, or what transformers would infer, without writing it into the config."""
    if problem_type is not None:
        return problem_type  # type: ignore[return-value]
    if logits.dim() == 3 and labels.dim() == 2 and not labels.is_floating_point():
        return "token_classification"
    if logits.shape[-1] == 1:
        return "regression"
    if not labels.is_floating_point():
        return "single_label_classification"
    return "multi_label_classification"


def check_labels(labels: Tensor, logits: Tensor, problem_type: ProblemType) -> None:
    """Raise `ValueError` naming the shapes and the fix when `labels` cannot be targets for `logits`."""
    if labels.is_floating_point() and torch.isnan(labels).any():
        raise ValueError("labels contain NaN; drop or fill those rows before training.")
    batch, num = logits.shape[0], logits.shape[-1]
    if labels.shape[0] != batch:
        raise ValueError(
            f"labels have {labels.shape[0]} rows but the batch has {batch} (logits {tuple(logits.shape)})."
        )
    if problem_type == "single_label_classification":
        if labels.is_floating_point():
            if labels.shape != logits.shape:
                raise ValueError(
                    f"Float labels {tuple(labels.shape)} for single-label classification must be soft targets of "
                    f"shape {tuple(logits.shape)}; pass integer class ids of shape ({batch},) instead."
                )
            if not torch.allclose(labels.sum(-1), torch.ones(batch, device=labels.device), atol=1e-3):
                raise ValueError(
                    "Soft labels must sum to 1 per row; for multi-label 0/1 targets set "
                    "model.config.problem_type='multi_label_classification'."
                )
        else:
            if labels.shape != (batch,):
                raise ValueError(f"Class labels must have shape ({batch},), got {tuple(labels.shape)}.")
            bad = labels[(labels < 0) | (labels >= num)]
            if len(bad):
                raise ValueError(
                    f"Class label {int(bad[0])} is out of range for num_labels={num} (valid: 0..{num - 1})."
                )
    elif problem_type == "multi_label_classification":
        if labels.shape != logits.shape or not labels.is_floating_point():
            raise ValueError(
                f"Multi-label targets must be float 0/1 of shape {tuple(logits.shape)}, got "
                f"{labels.dtype} {tuple(labels.shape)}; cast the label column to float (a multi-hot list per row)."
            )
    elif problem_type == "regression":
        if labels.numel() != logits.numel():
            raise ValueError(
                f"Regression labels {tuple(labels.shape)} do not match the head's outputs {tuple(logits.shape)}: "
                f"one value per output (num_labels={num})."
            )
    elif problem_type == "token_classification":
        if labels.shape != logits.shape[:2]:
            raise ValueError(f"Token labels must have shape {tuple(logits.shape[:2])}, got {tuple(labels.shape)}.")
    else:
        raise ValueError(f"Unsupported problem_type {problem_type!r}.")


def token_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Per-example mean cross-entropy over tokens whose label is not -100. logits (B, T, C), labels (B, T) → (B,)."""
    per_token = F.cross_entropy(
        logits.float().transpose(1, 2), labels.long(), ignore_index=IGNORE_INDEX, reduction="none"
    )
    counted = (labels != IGNORE_INDEX).sum(-1).clamp(min=1)
    return per_token.sum(-1) / counted


def mixed_loss(
    logits: Tensor,
    labels: Tensor,
    plan: MixPlan | None,
    problem_type: ProblemType,
    label_smoothing: float = 0.0,
    multi_label: str = "interpolate",
) -> Tensor:
    """The training loss of a (possibly mixed) batch, a mean over rows, computed in float32.

    single-label: soft CE against mixed (and optionally smoothed) targets; multi-label: BCE with logits against
    mixed targets (or their union, `multi_label="union"`); regression: MSE against mixed values; token classification: interpolated per-example CE.
    `plan=None` is the unmixed loss (evaluation). A plan with `num_anchors` (partners from the dataset) trains on
    the anchor rows only: the partner rows that follow them only lent their inputs.
    """
    check_labels(labels, logits, problem_type)
    if plan is None:
        plan = MixPlan.identity(logits.shape[0], device=logits.device)
    plan = plan.to(logits.device)
    rows = plan.anchors
    logits = logits.float()
    if problem_type == "token_classification":
        own = token_cross_entropy(logits[:rows], labels[:rows])
        partner = token_cross_entropy(logits[:rows], labels[plan.index[:rows]])
        return interpolate_losses(own, partner, plan.lam[:rows]).mean()
    if problem_type == "regression":
        return F.mse_loss(logits.reshape(labels.shape)[:rows], mix_targets(labels.float(), plan)[:rows])
    union = problem_type == "multi_label_classification" and multi_label == "union"
    targets = mix_targets(labels, plan, num_classes=logits.shape[-1], union=union)[:rows]
    logits = logits[:rows]
    if problem_type == "single_label_classification":
        if label_smoothing:
            targets = targets * (1 - label_smoothing) + label_smoothing / logits.shape[-1]
        return soft_target_cross_entropy(logits, targets)
    return F.binary_cross_entropy_with_logits(logits, targets)
