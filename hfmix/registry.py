"""The one registry: `mix_type` name -> config class. Filled by `@register_mixer`, read by `get_mix_config`."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from hfmix.config import MixConfig


_MIXERS: dict[str, type[MixConfig]] = {}
# Names users know a recipe by: name -> (mix_type, the fields it sets).
RECIPE_ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "tmix": ("mixup", {"level": "hidden"}),
    "manifold_mixup": ("mixup", {"level": "hidden"}),
    "embedding_mixup": ("mixup", {"level": "embeddings"}),
    "word_mixup": ("mixup", {"level": "embeddings"}),
    "sentence_mixup": ("mixup", {"level": "pooled"}),
    "input_mixup": ("mixup", {"level": "inputs"}),
    # Named, tested recipes; each justified by a row of the README's few-shot quality table
    # (benchmarks/few_shot_quality.py): RegMixup at the word embeddings, alpha 20, eta 2 (eta 2 chosen over the
    # paper's 1 in the `candidates` suite; its fitted temperature averages 0.995-1.10 over the main suite's tasks).
    "calibrated-few-shot": ("regmixup", {"level": "embeddings", "alpha": 20.0, "eta": 2.0}),
}
# The recipe of MixTrainer, MixTrainingArguments, MixDataCollator and `hfmix` when none is given, chosen from the
# few-shot quality benchmark (README, "Quality"). `MixupConfig()` itself stays plain mixup.
DEFAULT_RECIPE = "calibrated-few-shot"
C = TypeVar("C", bound=type[MixConfig])


def register_mixer(name: str) -> Callable[[C], C]:
    """Class decorator: register a `MixConfig` dataclass under `mix_type=name` (lower-case, unique)."""
    if not name or name != name.lower():
        raise ValueError(f"Mixer names are non-empty and lower-case, got {name!r}.")

    def decorate(cls: C) -> C:
        if name in _MIXERS and _MIXERS[name] is not cls:
            raise ValueError(f"mix_type {name!r} is already registered by {_MIXERS[name].__name__}.")
        cls.mix_type = name
        _MIXERS[name] = cls
        return cls

    return decorate


def list_mixers() -> list[str]:
    """The registered `mix_type` names, sorted."""
    return sorted(_MIXERS)


def list_recipes() -> dict[str, str]:
    """Every name `get_mix_config` takes: the registered mix_types and the aliases, each with what it builds."""
    names = {name: f"{cls.__name__}()" for name, cls in _MIXERS.items()}
    for alias, (mix_type, fields) in RECIPE_ALIASES.items():
        settings = ", ".join(f"{k}={v!r}" for k, v in fields.items())
        names[alias] = f"{_MIXERS[mix_type].__name__}({settings})"
    return dict(sorted(names.items()))


def get_mixer_class(mix_type: str) -> type[MixConfig]:
    if mix_type not in _MIXERS:
        raise ValueError(f"Unknown mix_type {mix_type!r}; known: {list_mixers()}.")
    return _MIXERS[mix_type]


def get_mix_config(spec: MixConfig | dict | str | os.PathLike | None = None, **overrides: Any) -> MixConfig:
    """Resolve a recipe from a config, a dict, a registered name, a local directory/JSON file or a Hub repo id.

    `overrides` replace fields: `get_mix_config("mixup", alpha=0.2, level="hidden")`. `None` means the default
    recipe, `DEFAULT_RECIPE` ("calibrated-few-shot": RegMixup at the word embeddings).
    """
    if spec is None:
        spec = DEFAULT_RECIPE
    if isinstance(spec, MixConfig):
        return type(spec).from_dict(spec.to_dict(), **overrides) if overrides else spec
    if isinstance(spec, dict):
        mix_type = spec.get("mix_type", "mixup")  # a recipe without a mix_type is mixup's (the default)
        if isinstance(mix_type, str) and mix_type in RECIPE_ALIASES:
            mix_type, fields = RECIPE_ALIASES[mix_type]
            spec = {**fields, **spec}
        return MixConfig.from_dict({**spec, "mix_type": mix_type}, **overrides)
    if isinstance(spec, (str, os.PathLike)):
        text = str(spec)
        if text in _MIXERS:
            return _MIXERS[text](**overrides)
        if text in RECIPE_ALIASES:
            mix_type, fields = RECIPE_ALIASES[text]
            return _MIXERS[mix_type](**{**fields, **overrides})
        if os.path.exists(text) or text.endswith(".json") or text.count("/") != 1:
            if not os.path.exists(text):
                raise ValueError(
                    f"{text!r} is neither a registered mix_type or alias ({list(list_recipes())}), an existing path, "
                    "nor a Hub repo id of the form 'owner/name'."
                )
        return MixConfig.from_pretrained(text, **overrides)
    raise TypeError(
        f"A mix config must be a MixConfig, a dict, a mix_type name, a path or a Hub repo id; got {type(spec).__name__}."
    )
