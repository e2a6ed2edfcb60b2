"""The parts of any Hugging Face model that mixing needs, found from the module tree, never through
`model.bert...`: the layer stack, the task head, the word embeddings, peft's virtual tokens. Works through peft, DDP
and torch.compile wrappers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn


_DEPTH_KEYS = ("num_hidden_layers", "encoder_layers", "n_layers", "num_layers", "n_layer")
_STACK_NAMES = ("layer", "layers", "h", "block", "blocks")
_HEAD_NAMES = ("classifier", "score", "classification_head")
PREFIX_PEFT_TYPES = ("PREFIX_TUNING", "CARTRIDGE")  # peft methods whose prompt lives in the keys


def unwrap_model(model: nn.Module) -> nn.Module:
    """Strip DDP / DataParallel / torch.compile wrappers (peft wrappers are kept: hooks work through them)."""
    while isinstance(getattr(model, "module", None), nn.Module):
        model = model.module
    return getattr(model, "_orig_mod", model)


def base_model(model: nn.Module) -> nn.Module:
    """The transformers model inside DDP / compile / peft wrappers (peft's `get_base_model`)."""
    model = unwrap_model(model)
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def pools_last_token(model: nn.Module) -> bool:
    """True for sequence classifiers that score every position and keep the last real token (decoder-only)."""
    model = base_model(model)
    return type(model).__name__.endswith("ForSequenceClassification") and isinstance(
        getattr(model, "score", None), nn.Module
    )


def is_encoder_decoder(model: nn.Module) -> bool:
    """True for models that run a decoder over the encoder's output (BART, T5); False for encoder-only heads on
    encoder-decoder checkpoints (WhisperForAudioClassification)."""
    model = base_model(model)
    if not getattr(getattr(model, "config", None), "is_encoder_decoder", False):
        return False
    return any(name.rsplit(".", 1)[-1] == "decoder" for name, _ in model.named_modules())


def is_multiple_choice(model: nn.Module) -> bool:
    return type(base_model(model)).__name__.endswith("ForMultipleChoice")


def last_token_index(model: nn.Module, inputs: dict[str, Any], length: int) -> Tensor:
    """(B,) the position a last-token classifier pools, in a sequence of `length` positions.

    The rule of transformers' decoder-only `*ForSequenceClassification`: the rightmost token that is not the
    config's `pad_token_id` (right or left padding alike); without input ids or a pad token id, the rightmost
    position of the attention mask; without either, the last position. Prompt tokens that peft prepends shift it.
    """
    config = getattr(base_model(model), "config", None)
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    pad, ids = getattr(text_config, "pad_token_id", None), inputs.get("input_ids")
    real = ids != pad if isinstance(ids, Tensor) and pad is not None else inputs.get("attention_mask")
    if not isinstance(real, Tensor) or real.dim() != 2:
        rows = next((v.shape[0] for v in inputs.values() if isinstance(v, Tensor)), 1)
        return torch.full((rows,), length - 1, dtype=torch.long)
    positions = torch.arange(real.shape[1], device=real.device)
    return (positions * real.bool()).argmax(-1) + (length - real.shape[1])


def pooled_representation(model: nn.Module, inputs: dict[str, Any], head_input: Tensor) -> Tensor:
    """(B, H): the representation a model's prediction comes from, given its task head's input.

    A (B, H) head input is it. A last-token classifier (its head scores every position): each row's last real
    token. A head that takes (B, T, H) and pools itself (RoBERTa-style heads read the first token): the first token.
    """
    if head_input.dim() != 3:
        return head_input
    if not pools_last_token(model):
        return head_input[:, 0]
    index = last_token_index(model, inputs, head_input.shape[1]).to(head_input.device)
    return head_input[torch.arange(len(head_input), device=head_input.device), index]


def virtual_token_count(model: nn.Module) -> int:
    """How many virtual tokens a peft prompt method prepends to the sequence (prompt tuning, P-tuning): they are
    never mixed. 0 for other models and for prefix tuning, whose prefix lives in the attention keys, not in the
    sequence. Duck-typed on peft's `active_peft_config`, so the core needs no peft import."""
    config = getattr(model, "active_peft_config", None)
    if config is None or not getattr(config, "is_prompt_learning", False):
        return 0
    peft_type = getattr(config, "peft_type", None)
    if str(getattr(peft_type, "value", peft_type)) in PREFIX_PEFT_TYPES:
        return 0
    return int(config.num_virtual_tokens)


def num_layers(model: nn.Module) -> int:
    """The number of transformer layers from the model's config (BERT-like, Whisper, DistilBERT, GPT-2 names)."""
    config = getattr(unwrap_model(model), "config", None)
    for key in _DEPTH_KEYS:
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    raise ValueError(
        f"Cannot tell the number of layers of {type(unwrap_model(model)).__name__}: its config has none of "
        f"{list(_DEPTH_KEYS)}. level='hidden' needs it; use level='embeddings', 'inputs' or 'pooled'."
    )


def find_layer_stack(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The `nn.ModuleList` of transformer layers: length == the config's layer count, named like a layer stack."""
    model = unwrap_model(model)
    depth = num_layers(model)
    found = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, nn.ModuleList) and len(module) == depth
    ]
    if not found:
        raise ValueError(
            f"{type(model).__name__} has no nn.ModuleList of {depth} layers, so level='hidden' cannot find "
            "layer k; use level='embeddings', 'inputs' or 'pooled'."
        )
    found.sort(key=lambda item: (item[0].rsplit(".", 1)[-1] not in _STACK_NAMES, len(item[0])))
    return found[0]


def find_head(model: nn.Module) -> tuple[str, nn.Module]:
    """The task head (`classifier` or `score`) whose input is the pooled representation."""
    model = unwrap_model(model)
    found = [(name, m) for name, m in model.named_modules() if name.rsplit(".", 1)[-1] in _HEAD_NAMES]
    if not found:
        raise ValueError(
            f"{type(model).__name__} has no `classifier`, `score` or `classification_head` head, so level='pooled' has nothing to mix "
            "before; use level='embeddings', 'inputs' or 'hidden'."
        )
    return min(found, key=lambda item: len(item[0]))


def input_embeddings(model: nn.Module) -> nn.Module:
    """The word-embedding module, or a `ValueError` saying which levels work instead."""
    model = unwrap_model(model)
    try:
        embeddings = model.get_input_embeddings()
    except (NotImplementedError, AttributeError):
        embeddings = None
    if embeddings is None:
        raise ValueError(
            f"level='embeddings' needs a model with input (word) embeddings; {type(model).__name__} has none. "
            "Use level='inputs' (raw input_values / input_features), 'hidden' or 'pooled'."
        )
    return embeddings


@contextlib.contextmanager
def capture_head_input(model: nn.Module) -> Iterator[list[Tensor]]:
    """Record the input of the model's task head (the pooled representation) during a forward pass.

    Entered before `mixing(..., "pooled")`, it records the representation before it is mixed.
    """
    captured: list[Tensor] = []
    _, head = find_head(model)
    handle = head.register_forward_pre_hook(lambda module, args: captured.append(args[0]))
    try:
        yield captured
    finally:
        handle.remove()
