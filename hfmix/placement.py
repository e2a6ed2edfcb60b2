"""Where in the model a plan is applied: continuous inputs, word embeddings, the output of hidden layer k, or the
input of the task head (`mixing`), and which levels a model supports (`check_level`, at construction).

Model-agnostic: the parts are found from the module tree (`hfmix.model_parts`), the batch is laid out so that the
mix means what the targets say (`hfmix.sequence_layout`: last-token classifiers aligned at their last real token,
multiple-choice examples mixed whole), and the hooks live in `hfmix.level_mixing`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from torch import Tensor, nn

from hfmix.level_mixing import mix_embeddings, mix_head_input, mix_hidden
from hfmix.model_parts import (
    base_model,
    capture_head_input,
    find_head,
    find_layer_stack,
    input_embeddings,
    is_encoder_decoder,
    is_multiple_choice,
    num_layers,
    pools_last_token,
    unwrap_model,
    virtual_token_count,
)
from hfmix.sampling import MixPlan
from hfmix.sequence_layout import align_at_last_token, flatten_choices, per_choice
from hfmix.signal_mixing import mix_continuous_inputs


__all__ = [
    "LEVELS",
    "capture_head_input",
    "check_level",
    "find_head",
    "find_layer_stack",
    "input_embeddings",
    "mix_continuous_inputs",
    "mixing",
    "num_layers",
    "unwrap_model",
    "virtual_token_count",
]

LEVELS = ("inputs", "embeddings", "hidden", "pooled")
SUPPORTED_HEADS = (
    "ForSequenceClassification",
    "ForTokenClassification",
    "ForMultipleChoice",
    "ForAudioClassification",
)
_UNSUPPORTED_HEADS = (
    "ForMaskedLM",
    "ForCausalLM",
    "LMHeadModel",
    "ForConditionalGeneration",
    "ForQuestionAnswering",
    "ForPreTraining",
    "ForCTC",
)


def check_level(model: nn.Module, level: str) -> None:
    """Raise `ValueError`, naming what works, when `level` cannot be mixed correctly on `model`."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {list(LEVELS)}, got {level!r}.")
    name = type(base_model(model)).__name__
    if name.endswith(_UNSUPPORTED_HEADS):
        raise ValueError(
            f"{name} has a head hfmix cannot mix the targets of (language modelling, span extraction, CTC). "
            f"MixTrainer trains classification and regression heads: *{', *'.join(SUPPORTED_HEADS)}."
        )
    if is_encoder_decoder(model) and level in ("embeddings", "hidden"):
        raise ValueError(
            f"{name} is an encoder-decoder: its decoder reads each row's own tokens and attends to the encoder "
            f"with the row's own mask, so level={level!r} would not mix what the targets credit. Use "
            "level='pooled' (the classification head's input)."
        )
    if level == "hidden":
        find_layer_stack(model)
    elif level == "embeddings":
        input_embeddings(model)
    elif level == "pooled":
        find_head(model)


@contextlib.contextmanager
def mixing(model: nn.Module, inputs: dict[str, Any], plan: MixPlan, level: str) -> Iterator[dict[str, Any]]:
    """Apply `plan` at `level` for one forward pass: `with mixing(m, batch, plan, "hidden") as kw: m(**kw)`.

    Yields the keyword arguments for the forward (a new dict; `inputs` is not modified). The attention mask of a
    mixed row becomes the union of both rows' masks, and padding is never mixed into real positions.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {list(LEVELS)}, got {level!r}.")
    inputs = dict(inputs)
    if level == "inputs":
        yield mix_continuous_inputs(inputs, plan)[0]
        return
    ids = inputs.get("input_ids")
    choices = ids.shape[:2] if is_multiple_choice(model) and isinstance(ids, Tensor) and ids.dim() == 3 else None
    if choices is not None:  # (B, C, T) examples, flattened by the model: mix whole examples, choice by choice
        flat = {key: flatten_choices(value, *choices) for key, value in inputs.items()}
        unflatten = [key for key in flat if flat[key] is not inputs[key]]
        inputs, plan = flat, per_choice(plan, choices[1])
    if level in ("embeddings", "hidden") and pools_last_token(model):
        inputs = align_at_last_token(inputs, plan)
    level_mixing = {"embeddings": mix_embeddings, "hidden": mix_hidden, "pooled": mix_head_input}[level]
    with level_mixing(model, inputs, plan) as forward_inputs:
        if choices is not None:
            forward_inputs = {
                key: value.unflatten(0, choices) if key in unflatten else value
                for key, value in forward_inputs.items()
            }
        yield forward_inputs
