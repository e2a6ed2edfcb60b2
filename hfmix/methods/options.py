"""Resolving a method's recipe from a config (or dict / name / path) and keyword options, with clear errors."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, TypeVar

from hfmix.config import MixConfig
from hfmix.registry import get_mix_config


C = TypeVar("C", bound=MixConfig)


def recipe_from(
    cls: type[C], config: MixConfig | dict | str | None, options: dict[str, Any], refused: Iterable[str] = ()
) -> C:
    """`config` (default: the registered `cls.mix_type`) with `options` replacing its fields, validated.

    Raises `ValueError` naming unknown or `refused` option names and the valid ones, and `TypeError` when `config`
    resolves to another method's recipe.
    """
    valid = [f.name for f in dataclasses.fields(cls) if f.name not in refused]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"Unknown {cls.__name__} options {unknown}; valid: {valid}.")
    recipe = get_mix_config(config if config is not None else cls.mix_type, **options)
    if not isinstance(recipe, cls):
        raise TypeError(f"Expected a {cls.__name__}, got {type(recipe).__name__} (mix_type={recipe.mix_type!r}).")
    return recipe
