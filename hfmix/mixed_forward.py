"""The one mixing path: apply a `MixPlan` to a model and a batch, and say what the targets must follow.

Every batch mixer meets here: `MixTrainer.compute_loss`, a plan drawn by `MixDataCollator` (and already applied
to the continuous inputs at level 'inputs'), partners drawn from the whole dataset (`num_anchors`), per-position
masks (FMix, cut-mix) whose realised share becomes the targets' λ, and the λ corrections of mixed signals. A
training loop of your own calls it the same way:

    result = mixed_forward(model, batch_without_labels, plan, MixupConfig(level="hidden"), labels=labels)
    loss = mixed_loss(result.outputs["logits"], result.labels, result.plan, problem_type)
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from hfmix.mixers.mixup import MixupConfig
from hfmix.model_parts import capture_head_input, pooled_representation, unwrap_model
from hfmix.partnered_dataset import anchor_rows
from hfmix.placement import mixing
from hfmix.sampling import MixPlan
from hfmix.signal_mixing import mix_continuous_inputs, signal_options


@dataclass
class MixedForward:
    """What one mixed forward pass gives.

    Attributes:
        outputs: the model's outputs (`outputs["logits"]`: (B, C), (B, T, C), ...).
        labels: the labels the outputs answer: the batch's, or the anchors' alone when a batch with dataset partners
            was not mixed and so ran on its anchors only.
        plan: the plan the targets follow (λ corrected for what was really mixed), or None: nothing was mixed.
        pooled: with `record_pooled=True`, (B, H) the representation the head reads (`pooled_representation`:
            each row's pooled token), recorded before mixing; else None.
    """

    outputs: Any
    labels: Tensor
    plan: MixPlan | None
    pooled: Tensor | None = None


def mixed_forward(
    model: nn.Module,
    inputs: dict[str, Any],
    plan: MixPlan | None,
    config: MixupConfig,
    *,
    labels: Tensor,
    num_anchors: int | None = None,
    inputs_mixed: bool = False,
    record_pooled: bool = False,
) -> MixedForward:
    """Run `model(**inputs)` with `plan` applied where `config.level` says.

    Args:
        model: the model to call (DDP / compile / peft wrappers are fine: hooks go on the unwrapped model).
        inputs: the batch without labels; not modified.
        plan: this batch's plan, or None for a plain forward pass. A plan that mixes no row is a plain pass too.
        config: the recipe: its `level` ('inputs', 'embeddings', 'hidden' or 'pooled', see `hfmix.placement`) and,
            at level 'inputs', its signal options (`lambda_correction`, `loudness_normalization`).
        labels: (B, ...) the batch's labels (only sliced here, never mixed: the loss mixes the targets).
        num_anchors: for a batch of anchors followed by their dataset partners when `plan` is None or mixes
            nothing: the forward runs on the anchors alone.
        inputs_mixed: the continuous inputs were already mixed by `MixDataCollator` (level 'inputs'), and
            `plan` already carries the targets' λ.
        record_pooled: record the task head's input (before mixing) in `MixedForward.pooled`.
    """
    if plan is not None and not inputs_mixed and not bool(plan.mixed.any()):
        plan = None  # nothing to mix: the plain forward pass
    anchors = num_anchors if plan is None else None
    if anchors is not None:  # ... over the anchors alone
        inputs = {key: anchor_rows(value, len(labels), anchors) for key, value in inputs.items()}
        labels = labels[:anchors]
    base_model = unwrap_model(model)
    forward_inputs = inputs
    with capture_head_input(base_model) if record_pooled else contextlib.nullcontext([]) as head_inputs:
        if plan is None or inputs_mixed:
            outputs = model(**inputs)
        elif config.level == "inputs":
            forward_inputs, plan = mix_continuous_inputs(inputs, plan, *signal_options(config))
            outputs = model(**forward_inputs)
        else:
            with mixing(base_model, inputs, plan, config.level) as forward_inputs:
                outputs = model(**forward_inputs)
    if plan is not None and plan.masks is not None and plan.masks.realized is not None:
        plan = plan.with_lam(plan.masks.realized)  # masked mixing: the share of what was really mixed
    pooled = pooled_representation(base_model, forward_inputs, head_inputs[0]) if head_inputs else None
    return MixedForward(outputs, labels, plan, pooled)
