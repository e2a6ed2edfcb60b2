"""Where in the model a plan is applied: continuous inputs, word embeddings, the output of hidden layer k, or the
input of the classification head. Model-agnostic: the layer stack and the head are found from the module tree,
never through `model.bert...`, and this works through peft and DDP wrappers.

transformers 5 records `output_hidden_states` with its own forward hooks, so the mixing hook is prepended: the
recorded hidden state of layer k is the mixed one.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

from hfmix.mixers.mixup import mixup, union_mask
from hfmix.sampling import MixPlan
from hfmix.signal_mixing import corrected_lambda, mix_continuous_inputs


LEVELS = ("inputs", "embeddings", "hidden", "pooled")
_DEPTH_KEYS = ("num_hidden_layers", "encoder_layers", "n_layers", "num_layers", "n_layer")
_STACK_NAMES = ("layer", "layers", "h", "block", "blocks")
_HEAD_NAMES = ("classifier", "score")
PREFIX_PEFT_TYPES = ("PREFIX_TUNING", "CARTRIDGE")  # peft methods whose prompt lives in the keys


def unwrap_model(model: nn.Module) -> nn.Module:
    """Strip DDP / DataParallel / torch.compile wrappers (peft wrappers are kept: hooks work through them)."""
    while isinstance(getattr(model, "module", None), nn.Module):
        model = model.module
    return getattr(model, "_orig_mod", model)


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
            f"{type(model).__name__} has no `classifier` or `score` head, so level='pooled' has nothing to mix "
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
    elif level == "embeddings":
        yield _mix_embeddings(model, inputs, plan)
    elif level == "hidden":
        with _mix_hidden(model, plan):
            yield inputs
    else:
        with _mix_head_input(model, plan):
            yield inputs


def _record_realized(plan: MixPlan, x: Tensor, weights: Tensor, valid: Tensor | None) -> None:
    """For masked plans, each row's own share of what was really mixed (padding excluded), for the targets."""
    if plan.masks is not None:
        plan.masks.realized = corrected_lambda(x, plan.index, weights, valid, "length").cpu()


def _mix_embeddings(model: nn.Module, inputs: dict[str, Any], plan: MixPlan) -> dict[str, Any]:
    embedding = input_embeddings(model)
    if inputs.get("input_ids") is None:
        raise ValueError(
            f"level='embeddings' mixes word embeddings and needs input_ids in the batch (keys: {sorted(inputs)}); "
            "for continuous inputs use level='inputs'."
        )
    embeds = embedding(inputs.pop("input_ids"))
    p = plan.to(embeds.device)
    mask = inputs.get("attention_mask")
    weights = p.weights(embeds.shape[1])
    _record_realized(p, embeds, weights, None if mask is None else mask.bool())
    inputs["inputs_embeds"] = mixup(embeds, p.index, weights, mask)
    if mask is not None:
        inputs["attention_mask"] = union_mask(mask, p.index)
    return inputs


def _key_validity(mask: Tensor | None, length: int) -> Tensor | None:
    """(B, K) bool: which key positions are real, from a 2-D or 4-D (bool / 0-1 / additive) attention mask."""
    if mask is None:
        return None
    if mask.dtype == torch.bool:
        allowed = mask
    elif mask.is_floating_point():
        allowed = mask > torch.finfo(mask.dtype).min / 2
    else:
        allowed = mask != 0
    valid = allowed if allowed.dim() == 2 else allowed.flatten(1, -2).any(1)
    if valid.shape[1] > length:  # cached / prefix-tuning keys come first; the sequence's own keys are the last
        valid = valid[:, -length:]
    if valid.shape[1] != length:
        raise ValueError(f"The attention mask covers {valid.shape[1]} positions but the hidden states have {length}.")
    return valid


class _Argument:
    """Read and replace one named argument of a module's forward, positional or keyword."""

    def __init__(self, module: nn.Module, name: str):
        params = list(inspect.signature(module.forward).parameters)
        self.name, self.position = name, params.index(name) if name in params else None

    def get(self, args: tuple, kwargs: dict) -> Any:
        if self.name in kwargs:
            return kwargs[self.name]
        if self.position is not None and len(args) > self.position:
            return args[self.position]
        return None

    def replace(self, args: tuple, kwargs: dict, value: Any) -> tuple[tuple, dict]:
        if self.name in kwargs or self.position is None or len(args) <= self.position:
            return args, {**kwargs, self.name: value}
        return args[: self.position] + (value,) + args[self.position + 1 :], kwargs


@contextlib.contextmanager
def _mix_hidden(model: nn.Module, plan: MixPlan) -> Iterator[None]:
    _, stack = find_layer_stack(model)
    if plan.layer is None or not 1 <= plan.layer <= len(stack):
        raise ValueError(
            f"The plan's layer {plan.layer} is not in 1..{len(stack)} for {type(unwrap_model(model)).__name__}."
        )
    layer = stack[plan.layer - 1]
    mask_arg = _Argument(layer, "attention_mask")
    virtual = virtual_token_count(model)  # peft prompt tokens at the front of the sequence: never mixed
    seen: dict[str, Any] = {}

    def capture_mask(module: nn.Module, args: tuple, kwargs: dict) -> None:
        seen["mask"] = mask_arg.get(args, kwargs)

    def mix_output(module: nn.Module, args: tuple, output: Any) -> Any:
        hidden = output[0] if isinstance(output, tuple) else output
        p = plan.to(hidden.device)
        mask = seen.get("mask")
        valid = _key_validity(mask, hidden.shape[1]) if isinstance(mask, Tensor) else None
        weights = p.weights(hidden.shape[1])
        if virtual:
            weights = weights[:, None].expand(hidden.shape[:2]) if weights.dim() == 1 else weights
            weights = torch.cat([torch.ones_like(weights[:, :virtual]), weights[:, virtual:]], dim=1)
            if valid is None:
                valid = torch.ones(hidden.shape[:2], dtype=torch.bool, device=hidden.device)
            own_tokens = torch.cat([torch.zeros_like(valid[:, :virtual]), valid[:, virtual:]], dim=1)
            _record_realized(p, hidden, weights, own_tokens)
        else:
            _record_realized(p, hidden, weights, valid)
        mixed = mixup(hidden, p.index, weights, valid)
        return (mixed,) + tuple(output[1:]) if isinstance(output, tuple) else mixed

    def widen_mask(arg: _Argument) -> Any:
        def hook(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
            mask = arg.get(args, kwargs)
            if not isinstance(mask, Tensor):
                return None
            if seen.get("source") is not mask:
                seen["source"], seen["union"] = mask, union_mask(mask, plan.index.to(mask.device))
            return arg.replace(args, kwargs, seen["union"])

        return hook

    handles = [
        layer.register_forward_pre_hook(capture_mask, with_kwargs=True),
        layer.register_forward_hook(mix_output, prepend=True),
    ]
    handles += [
        later.register_forward_pre_hook(widen_mask(_Argument(later, "attention_mask")), with_kwargs=True)
        for later in stack[plan.layer :]
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def _mix_head_input(model: nn.Module, plan: MixPlan) -> Iterator[None]:
    _, head = find_head(model)

    def mix_input(module: nn.Module, args: tuple) -> tuple:
        x = args[0]
        p = plan.to(x.device)
        return (mixup(x, p.index, p.lam),) + tuple(args[1:])

    handle = head.register_forward_pre_hook(mix_input)
    try:
        yield
    finally:
        handle.remove()
