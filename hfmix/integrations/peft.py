"""peft compatibility: prefix tuning (P-tuning v2) for sequence classification on transformers 5.

transformers 5 renamed the `past_key_values` argument of every model's `forward` to `cache` (keeping the old name
through a deprecation decorator), and peft 0.21 decides whether a backbone supports prefix tuning by looking for
`past_key_values` in its signature, so `PrefixTuningConfig(task_type=SEQ_CLS)` fails at the first forward with
"Model does not support past key values which are required for prefix tuning." `fix_prefix_tuning(model)` gives
the backbone of such a peft model a `forward` whose signature has `past_key_values` and that hands it on as
`cache`. It changes nothing else, touches no file of peft or transformers, and is applied only where the failure
would happen: a prefix-tuning peft model whose backbone takes `cache` but not `past_key_values`, under a peft that
does not itself pass `cache` (checked in peft's source, so the fix switches itself off once peft handles it).
`MixTrainer` applies it to the models it is given.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from torch import nn

from hfmix.model_parts import PREFIX_PEFT_TYPES as _PREFIX_TYPES
from hfmix.model_parts import virtual_token_count


__all__ = ["fix_prefix_tuning", "needs_prefix_tuning_fix", "virtual_token_count"]


def needs_prefix_tuning_fix(model: nn.Module) -> bool:
    """True when `model` is a prefix-tuning peft model whose backbone forward lacks `past_key_values`."""
    config = getattr(model, "active_peft_config", None)
    if config is None or _peft_type(config) not in _PREFIX_TYPES:
        return False
    backbone = _backbone(model)
    if backbone is None or getattr(backbone, "_hfmix_prefix_fix", False):
        return False
    params = inspect.signature(backbone.forward).parameters
    return "past_key_values" not in params and "cache" in params and not _peft_passes_cache()


def fix_prefix_tuning(model: nn.Module) -> bool:
    """Apply the fix where it is needed (see the module docstring); returns whether it was applied."""
    if not needs_prefix_tuning_fix(model):
        return False
    backbone = _backbone(model)
    original = backbone.forward

    @functools.wraps(original)
    def forward(*args: Any, past_key_values: Any = None, **kwargs: Any) -> Any:
        if past_key_values is not None:
            kwargs["cache"] = past_key_values
        return original(*args, **kwargs)

    signature = inspect.signature(original)
    extra = inspect.Parameter("past_key_values", inspect.Parameter.KEYWORD_ONLY, default=None)
    params = [p for p in signature.parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD]
    params += [extra] + [p for p in signature.parameters.values() if p.kind == inspect.Parameter.VAR_KEYWORD]
    forward.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    backbone.forward = forward
    backbone._hfmix_prefix_fix = True
    return True


def _backbone(model: nn.Module) -> nn.Module | None:
    name = getattr(model, "transformer_backbone_name", None)
    base = getattr(model, "base_model", None)
    if name is None or base is None:
        return None
    try:
        return base.get_submodule(name)
    except AttributeError:
        return None


def _peft_type(config: Any) -> str:
    kind = getattr(config, "peft_type", "")
    return str(getattr(kind, "value", kind))


@functools.cache
def _peft_passes_cache() -> bool:
    """Whether the installed peft hands the prefix to the backbone as `cache` itself (then no fix is needed)."""
    try:
        from peft import peft_model

        source = inspect.getsource(peft_model.PeftModelForSequenceClassification._prefix_tuning_forward)
    except (ImportError, OSError, TypeError, AttributeError):
        return False
    return '"cache"' in source or "'cache'" in source
