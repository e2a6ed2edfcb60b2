"""Targets of a mixed batch: soft targets (classification), interpolated values (regression, multi-label) and
interpolated per-example losses (token-level labels), plus the checks that turn bad labels into clear errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

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


def logits_of(outputs: Any, model_name: str = "The model") -> Tensor:
    """`outputs.logits`, or a `ValueError` saying the model has no task head (e.g. loaded with `AutoModel`).

    Args:
        outputs: what the model's forward returned (a `ModelOutput`, a dict or a tuple).
        model_name: how to name the model in the error (e.g. its class name).
    """
    if isinstance(outputs, Mapping):
        logits = outputs.get("logits")
        found = f"its outputs hold {sorted(outputs.keys())}"
    else:
        logits = getattr(outputs, "logits", None)
        found = f"it returned a {type(outputs).__name__}"
        if isinstance(outputs, tuple):
            found += " (call it with return_dict=True)"
    if not isinstance(logits, Tensor):
        raise ValueError(
            f"{model_name} gave no `logits` ({found}): it has no task head, so there is nothing to train against "
            "the labels. Load it with a task class (AutoModelForSequenceClassification, "
            "AutoModelForTokenClassification, AutoModelForAudioClassification, ...), not AutoModel."
        )
    return logits


def _rows(bad: Tensor) -> str:
    """'rows [1, 4]' for a (B,) bool tensor, shortened past 10 rows."""
    rows = torch.nonzero(bad.reshape(len(bad), -1).any(-1)).flatten().tolist()
    shown = ", ".join(str(r) for r in rows[:10])
    return f"rows [{shown}{', ...' if len(rows) > 10 else ''}] (of {len(bad)})"


def _float_class_ids(labels: Tensor, batch: int, num: int) -> None:
    """Float labels of shape (B,) for a classifier with num_labels > 1: class ids stored as floats, or a mistake."""
    if labels.shape != (batch,) or num < 2:
        return
    if torch.equal(labels, labels.round()) and bool(((labels >= 0) & (labels < num)).all()):
        raise ValueError(
            f"labels are float class ids (dtype {labels.dtype}, shape ({batch},), whole numbers in 0..{num - 1}); "
            "cast the label column to int (datasets ClassLabel, or int64)."
        )
    raise ValueError(
        f"Float labels of shape ({batch},) for a classifier with num_labels={num}: class ids must be integers in "
        f"0..{num - 1}, soft or multi-hot targets have shape ({batch}, {num}); for regression, build the model with "
        "num_labels=1."
    )


def check_labels(labels: Tensor, logits: Tensor, problem_type: ProblemType) -> None:
    """Raise `ValueError` naming the shapes, the offending rows and the fix when `labels` cannot be targets for
    `logits`: every float label finite, class ids in range, multi-label targets in [0, 1], soft targets
    non-negative and summing to 1 per row."""
    batch = logits.shape[0]
    if labels.shape[0] != batch:
        raise ValueError(
            f"labels have {labels.shape[0]} rows but the batch has {batch} (logits {tuple(logits.shape)})."
        )
    if labels.is_floating_point():
        finite = torch.isfinite(labels)
        if not finite.all():
            raise ValueError(
                f"labels are not finite (NaN or ±inf) in {_rows(~finite)}; drop or fill those rows before training."
            )
    if logits.dim() == 3 and problem_type != "token_classification":
        raise ValueError(
            f"The model gives one output per token (logits {tuple(logits.shape)}) but labels {tuple(labels.shape)} "
            "are not token labels: for one label per example use a sequence- or audio-classification head "
            "(AutoModelForSequenceClassification, ...); for token labels pass them as (B, T) integers."
        )
    if problem_type not in _LABEL_CHECKS:
        raise ValueError(f"Unsupported problem_type {problem_type!r}.")
    _LABEL_CHECKS[problem_type](labels, logits)


def _check_single_label(labels: Tensor, logits: Tensor) -> None:
    batch, num = logits.shape[0], logits.shape[-1]
    if not labels.is_floating_point():
        if labels.shape != (batch,):
            raise ValueError(f"Class labels must have shape ({batch},), got {tuple(labels.shape)}.")
        outside = (labels < 0) | (labels >= num)
        if outside.any():
            raise ValueError(
                f"Class label {int(labels[outside][0])} is out of range for num_labels={num} "
                f"(valid: 0..{num - 1}) in {_rows(outside)}."
            )
        return
    _float_class_ids(labels, batch, num)
    if labels.shape != logits.shape:
        raise ValueError(
            f"Float labels {tuple(labels.shape)} for single-label classification must be soft targets of "
            f"shape {tuple(logits.shape)}; pass integer class ids of shape ({batch},) instead."
        )
    negative = labels < 0
    if negative.any():
        raise ValueError(f"Soft labels must be >= 0; {_rows(negative)} have negative entries.")
    off = (labels.sum(-1) - 1).abs() > 1e-3
    if off.any():
        raise ValueError(
            f"Soft labels must sum to 1 per row; {_rows(off)} do not. For multi-label 0/1 targets set "
            "model.config.problem_type='multi_label_classification'."
        )


def _check_multi_label(labels: Tensor, logits: Tensor) -> None:
    if labels.is_floating_point():
        _float_class_ids(labels, logits.shape[0], logits.shape[-1])
    if labels.shape != logits.shape or not labels.is_floating_point():
        raise ValueError(
            f"Multi-label targets must be float 0/1 of shape {tuple(logits.shape)}, got "
            f"{labels.dtype} {tuple(labels.shape)}; cast the label column to float (a multi-hot list per row)."
        )
    outside = (labels < 0) | (labels > 1)
    if outside.any():
        raise ValueError(f"Multi-label targets must lie in [0, 1]; {_rows(outside)} have values outside it.")


def _check_regression(labels: Tensor, logits: Tensor) -> None:
    if labels.numel() != logits.numel():
        raise ValueError(
            f"Regression labels {tuple(labels.shape)} do not match the head's outputs {tuple(logits.shape)}: "
            f"one value per output (num_labels={logits.shape[-1]})."
        )


def _check_token_labels(labels: Tensor, logits: Tensor) -> None:
    num = logits.shape[-1]
    if labels.shape != logits.shape[:2]:
        raise ValueError(f"Token labels must have shape {tuple(logits.shape[:2])}, got {tuple(labels.shape)}.")
    if labels.is_floating_point():
        raise ValueError(f"Token labels must be integer class ids (or {IGNORE_INDEX}), got {labels.dtype}.")
    outside = (labels != IGNORE_INDEX) & ((labels < 0) | (labels >= num))
    if outside.any():
        raise ValueError(
            f"Token label {int(labels[outside][0])} is out of range for num_labels={num} (valid: 0..{num - 1}, "
            f"or {IGNORE_INDEX} to ignore a token) in {_rows(outside)}."
        )


_LABEL_CHECKS = {
    "single_label_classification": _check_single_label,
    "multi_label_classification": _check_multi_label,
    "regression": _check_regression,
    "token_classification": _check_token_labels,
}


def token_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Per-token cross-entropy, 0 where the label is -100. logits (B, T, C), labels (B, T) → (B, T) float32."""
    return F.cross_entropy(logits.float().transpose(1, 2), labels.long(), ignore_index=IGNORE_INDEX, reduction="none")


def mixed_token_loss(
    logits: Tensor, labels: Tensor, plan: MixPlan, num_tokens: Tensor | float | None = None
) -> Tensor:
    """Token-classification loss of a (possibly mixed) batch: a weighted mean over (row, token) pairs.

    Row i mixed with j = index[i] at weight λ_i is trained on both label sequences: each token counted in row i's
    own labels carries weight λ_i, each token counted in j's labels weight 1 − λ_i (tokens labelled -100 carry none):

        L = Σ_i [λ_i · Σ_t CE(logits_it, y_it) + (1 − λ_i) · Σ_t CE(logits_it, y_jt)] / Σ_i [λ_i·n_i + (1 − λ_i)·n_j]

    with n_i the counted tokens of row i. Unmixed (λ = 1), this is the mean over every counted token of the batch:
    exactly `*ForTokenClassification`'s own loss (and a plain `Trainer`'s). With one λ per batch and a permutation
    of partners, the denominator is the batch's token count; a mixed row weighs by its tokens, like an unmixed one.

    Args:
        logits: (B, T, C); labels: (B, T) long, -100 = ignored; plan: the plan of the rows' mixing (its anchors
            are the rows trained on).
        num_tokens: the denominator instead of the batch's weighted count, e.g. the counted tokens of a whole
            accumulated step (for losses summed over micro-batches).
    Returns: a scalar, float32.
    """
    rows = plan.anchors
    own_labels = labels[:rows]
    if not plan.mixed[:rows].any():  # computed as the model's own loss (the same sum, in the same order)
        total = F.cross_entropy(
            logits[:rows].reshape(-1, logits.shape[-1]).float(),
            own_labels.reshape(-1).long(),
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        )
        count = num_tokens if num_tokens is not None else (own_labels != IGNORE_INDEX).sum().clamp(min=1)
        return total / count  # a batch with no counted token: 0, where the model's own loss is 0/0 = NaN
    lam = plan.lam[:rows].to(logits.device).float()[:, None]
    partner_labels = labels[plan.index[:rows]]
    own = token_cross_entropy(logits[:rows], own_labels)
    partner = token_cross_entropy(logits[:rows], partner_labels)
    total = (lam * own + (1 - lam) * partner).sum()
    if num_tokens is None:
        counted = lam * (own_labels != IGNORE_INDEX) + (1 - lam) * (partner_labels != IGNORE_INDEX)
        num_tokens = counted.sum()
    return total / torch.as_tensor(num_tokens, dtype=total.dtype, device=total.device).clamp(min=1e-12)


def micro_batch_token_count(
    num_items_in_batch: Tensor | int | None, accumulation_steps: int, num_processes: int = 1
) -> Tensor | None:
    """The `num_tokens` that makes a token-classification loss exact under gradient accumulation and DDP.

    The Trainer's `num_items_in_batch` counts the labelled tokens of a whole optimizer step (all micro-batches, and
    all processes with `average_tokens_across_devices`). A micro-batch loss Σ CE / (num_items_in_batch /
    (accumulation_steps · num_processes)), divided by the accumulation steps (`loss_is_scaled_for_ga = False`) and
    averaged by DDP, sums to Σ CE / num_items_in_batch over the step: the loss of one big batch, as HF computes it.
    Returns None (the batch's own count) when `num_items_in_batch` is None.
    """
    if num_items_in_batch is None:
        return None
    if accumulation_steps < 1 or num_processes < 1:
        raise ValueError(
            f"accumulation_steps and num_processes must be >= 1, got {accumulation_steps} and {num_processes}."
        )
    return torch.as_tensor(num_items_in_batch).float() / (accumulation_steps * num_processes)


def mixed_loss(
    logits: Tensor,
    labels: Tensor,
    plan: MixPlan | None,
    problem_type: ProblemType,
    label_smoothing: float = 0.0,
    multi_label: str = "interpolate",
    num_tokens: Tensor | float | None = None,
) -> Tensor:
    """The training loss of a (possibly mixed) batch, a mean over rows, computed in float32.

    single-label: soft CE against mixed (and optionally smoothed) targets; multi-label: BCE with logits against
    mixed targets (or their union, `multi_label="union"`); regression: MSE against mixed values; token
    classification: a mean over tokens, each row's own and partner labels weighted λ and 1 − λ
    (`mixed_token_loss`; unmixed, it is the model's own mean over all counted tokens). `num_tokens` replaces that
    mean's denominator (token classification only; `micro_batch_token_count` makes it exact under accumulation).
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
        return mixed_token_loss(logits, labels, plan, num_tokens)
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
