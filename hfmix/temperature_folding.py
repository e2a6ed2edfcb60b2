"""Fold a fitted temperature into a classifier: divide the weight and bias of the Linear layer that produces the
logits by T, so the saved model's own logits are calibrated (logits / T) for `pipeline`, `Trainer.predict` and any
downstream code, with no hfmix at inference.

Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017) divides the logits by one
T > 0 fitted by NLL on held-out data. When the logits are z = W·h + b, z / T = (W / T)·h + b / T exactly. Folding
is exact only when nothing but linear maps follow that layer, so `fold_temperature` checks it on a probe batch
(logits after == logits before / T) and refuses, leaving the model unchanged, when it is not.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import torch
from torch import Tensor, nn

from hfmix.placement import unwrap_model
from hfmix.targets import logits_of


CALIBRATION_NAME = "calibration.json"


def probe_inputs(model: nn.Module, batch_size: int = 2, length: int = 8) -> dict[str, Tensor]:
    """A batch of random token ids (and an all-ones attention mask) for a text model; other models need `inputs`."""
    config = getattr(unwrap_model(model), "config", None)
    vocab = getattr(config, "vocab_size", None)
    if not isinstance(vocab, int) or vocab < 2:
        raise ValueError(
            f"{type(model).__name__} has no vocabulary to draw a probe batch from; pass `inputs`, a batch of its "
            "inputs (e.g. input_values for audio), to check the folding on."
        )
    ids = torch.randint(min(5, vocab - 1), vocab, (batch_size, length), generator=torch.Generator().manual_seed(0))
    device = next(model.parameters()).device
    return {"input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device)}


@torch.no_grad()
def _logits(model: nn.Module, inputs: dict[str, Any]) -> Tensor:
    return logits_of(model(**inputs), type(model).__name__).float()


def fold_temperature(
    model: nn.Module, temperature: float, inputs: dict[str, Any] | None = None, *, rtol: float | None = None
) -> str:
    """Divide the logits layer's weight and bias by `temperature`, in place; return that layer's name.

    The logits layer is the last `nn.Linear` called in a forward pass of `inputs` whose `out_features` is the
    number of logits (BERT `classifier`, RoBERTa `classifier.out_proj`, decoder `score`, whose bias may be None;
    through peft wrappers: the copy that runs). Exactness is checked on `inputs` (default: `probe_inputs`) with the
    model in eval mode: logits after must equal logits before / T within `rtol` (1e-4 in float32, 1e-2 in half
    precision). A head where it does not hold (a non-linear layer after the last Linear, a LoRA adapter on the
    head, logits from no Linear at all) raises `ValueError` naming the head, and the model is left unchanged.
    """
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}.")
    inputs = probe_inputs(model) if inputs is None else inputs
    model_name, training = type(model).__name__, model.training
    modules = dict(model.named_modules())
    called: list[str] = []
    hooks = [
        module.register_forward_hook(lambda *_, name=name: called.append(name))
        for name, module in modules.items()
        if isinstance(module, nn.Linear)
    ]
    model.eval()
    try:
        try:
            before = _logits(model, inputs)
        finally:
            for hook in hooks:
                hook.remove()
        size = before.shape[-1]
        names = [name for name in called if modules[name].out_features == size]
        if not names:
            raise ValueError(
                f"Cannot fold a temperature into {model_name}: no nn.Linear with {size} outputs ran in its forward "
                "pass, so its logits do not come from a Linear layer whose weight and bias could be divided by T."
            )
        name, layer = names[-1], modules[names[-1]]
        saved = [p.detach().clone() for p in (layer.weight, layer.bias) if p is not None]
        with torch.no_grad():
            for p in (layer.weight, layer.bias):
                if p is not None:
                    p.div_(temperature)
        after, expected = _logits(model, inputs), before / temperature
        low = layer.weight.dtype in (torch.float16, torch.bfloat16)
        tol = rtol if rtol is not None else (1e-2 if low else 1e-4)
        error = float((after - expected).abs().max())
        if not error <= tol * max(1.0, float(expected.abs().max())):
            with torch.no_grad():
                for p, old in zip([p for p in (layer.weight, layer.bias) if p is not None], saved, strict=True):
                    p.copy_(old)
            raise ValueError(
                f"Folding T={temperature:g} into {model_name}'s head layer '{name}' is not exact (largest error "
                f"{error:.3g} against logits / T): something non-linear follows it, or it is wrapped (a LoRA adapter "
                "on the head: merge it first). Use hfmix.calibration.TemperatureScaler at inference instead."
            )
        return name
    finally:
        model.train(training)


def check_foldable(model: nn.Module, inputs: dict[str, Any] | None = None) -> str:
    """Raise `ValueError` unless a temperature folds exactly into `model` and its logits are (B, C); return the
    layer's name. The model is left as it was (folds T = 2 and back: exact in floating point)."""
    inputs = probe_inputs(model) if inputs is None else inputs
    training = model.training
    model.eval()
    try:
        shape = tuple(_logits(model, inputs).shape)
    finally:
        model.train(training)
    if len(shape) != 2:
        raise ValueError(
            f"Temperature scaling calibrates one vector of class logits per example; {type(model).__name__} gives "
            f"logits of shape {shape}."
        )
    name = fold_temperature(model, 2.0, inputs)
    fold_temperature(model, 0.5, inputs)
    return name


def write_calibration(directory: str | os.PathLike, record: dict[str, Any]) -> str:
    """Write `record` as `calibration.json` into `directory` (beside `mix_config.json`); return the path."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, CALIBRATION_NAME)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


def calibration_card(record: dict[str, Any]) -> str:
    """The model-card section that says the logits are already temperature-scaled."""
    return (
        "\n## Calibration (hfmix)\n\n"
        f"The logits are temperature-scaled: T = {record['temperature']:.6g}, fitted by NLL on the evaluation set "
        f"({record['n']} examples), is folded into `{record['layer']}` (its weight and bias divided by T), so the "
        "model's own logits are calibrated with no extra step at inference. The record is in "
        f"`{CALIBRATION_NAME}`.\n"
    )
