"""The three in-model levels, each a context manager that installs forward hooks for one forward pass: word
embeddings (`mix_embeddings`), the output of hidden layer k (`mix_hidden`, TMix / manifold mixup) and the input of
the task head (`mix_head_input`). The attention mask of a mixed row is the union of both rows' masks, and padding
is never mixed into real positions.

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
from hfmix.model_parts import (
    find_head,
    find_layer_stack,
    input_embeddings,
    last_token_index,
    pools_last_token,
    unwrap_model,
    virtual_token_count,
)
from hfmix.sampling import MixPlan
from hfmix.signal_mixing import corrected_lambda


def _record_realized(plan: MixPlan, x: Tensor, weights: Tensor, valid: Tensor | None) -> None:
    """For masked plans, each row's own share of what was really mixed (padding excluded), for the targets."""
    if plan.masks is not None:
        plan.masks.realized = corrected_lambda(x, plan.index, weights, valid, "length").cpu()


@contextlib.contextmanager
def mix_embeddings(model: nn.Module, inputs: dict[str, Any], plan: MixPlan) -> Iterator[dict[str, Any]]:
    """Mix the output of the word-embedding module (a forward hook), keeping `input_ids` in the call.

    The model still sees token ids, so whatever it derives from them (RoBERTa's position ids, a decoder's last
    real token, ...) sees the mixed row: where only the partner has a real token, the mixed row carries the
    partner's id. Works where embedding weights live outside `forward` (FSDP, DeepSpeed ZeRO-3).
    """
    embedding = input_embeddings(model)
    ids = inputs.get("input_ids")
    if ids is None:
        raise ValueError(
            f"level='embeddings' mixes word embeddings and needs input_ids in the batch (keys: {sorted(inputs)}); "
            "for continuous inputs use level='inputs'."
        )
    p = plan.to(ids.device)
    mask = inputs.get("attention_mask")
    if mask is not None:
        own, partner = mask.bool(), mask.bool()[p.index]
        inputs["input_ids"] = torch.where(own | ~partner, ids, ids[p.index])
        inputs["attention_mask"] = union_mask(mask, p.index)
    done: list[bool] = []

    def mix_output(module: nn.Module, args: tuple, output: Tensor) -> Tensor | None:
        if done or output.shape[:2] != ids.shape:
            return None  # one mix per forward, of the batch's own tokens
        done.append(True)
        weights = p.weights(output.shape[1]).to(output.device)
        _record_realized(p, output, weights, None if mask is None else mask.bool().to(output.device))
        return mixup(output, p.index.to(output.device), weights, None if mask is None else mask.to(output.device))

    handle = embedding.register_forward_hook(mix_output)
    try:
        yield inputs
    finally:
        handle.remove()


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
def mix_hidden(model: nn.Module, inputs: dict[str, Any], plan: MixPlan) -> Iterator[dict[str, Any]]:
    """Mix the output of hidden layer `plan.layer` and widen the attention mask of the layers after it; yields the
    forward's keyword arguments (`inputs`, unchanged: the hooks do the work)."""
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
        yield inputs
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def mix_head_input(model: nn.Module, inputs: dict[str, Any], plan: MixPlan) -> Iterator[dict[str, Any]]:
    """Mix the input of the task head: each row's pooled representation with its partner's.

    A (B, H) input is mixed as it is. A last-token classifier's (B, T, H) input (its head scores every position)
    is mixed at the token each row pools: row i's state there becomes λ·h_i + (1 − λ)·h_j of both rows' own pooled
    tokens. Any other (B, T, H) input (token classification, heads that pool inside) is mixed position by position
    with padding never mixed in.
    """
    _, head = find_head(model)
    mask = inputs.get("attention_mask")
    last_token = pools_last_token(model)

    def mix_input(module: nn.Module, args: tuple) -> tuple:
        x = args[0]
        p = plan.to(x.device)
        if x.dim() == 3 and last_token:
            rows = torch.arange(x.shape[0], device=x.device)
            last = last_token_index(model, inputs, x.shape[1]).to(x.device).expand(x.shape[0])
            pooled = mixup(x[rows, last], p.index, p.lam)
            mixed = x.index_put((rows, last), pooled)
        elif x.dim() >= 3 and isinstance(mask, Tensor) and mask.shape == x.shape[:2]:
            mixed = mixup(x, p.index, p.lam, mask.to(x.device))
        else:
            mixed = mixup(x, p.index, p.lam)
        return (mixed,) + tuple(args[1:])

    handle = head.register_forward_pre_hook(mix_input)
    try:
        yield inputs
    finally:
        handle.remove()
