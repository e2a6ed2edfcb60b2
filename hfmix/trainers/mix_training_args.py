"""`MixTrainingArguments`: `TrainingArguments` plus the mixing recipe (TRL style: one dataclass, every field helped)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from transformers import TrainingArguments

from hfmix.config import MixConfig
from hfmix.registry import get_mix_config


@dataclass
class MixTrainingArguments(TrainingArguments):
    """[`~transformers.TrainingArguments`] with a `mix_config` field.

    `mix_config` takes a `MixConfig`, a dict (a JSON string on the command line), a registered name such as
    `"mixup"`, a path to a directory or `mix_config.json`, or a Hub repo id. It is resolved to a `MixConfig` here,
    so a bad recipe fails when the arguments are built, not mid-training.
    """

    _VALID_DICT_FIELDS = [*TrainingArguments._VALID_DICT_FIELDS, "mix_config"]

    mix_config: dict | str | None = field(
        default=None,
        metadata={
            "help": 'The mixing recipe: a dict / JSON string (e.g. \'{"mix_type": "mixup", "level": "hidden"}\'), '
            "a registered name ('mixup'), a path to mix_config.json or its directory, or a Hub repo id. "
            "None means hfmix's default mixup recipe."
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.mix_config, MixConfig):
            self.mix_config = get_mix_config(self.mix_config)

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if isinstance(out.get("mix_config"), MixConfig):
            out["mix_config"] = out["mix_config"].to_dict()
        return out
