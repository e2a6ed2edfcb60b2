"""`hfmix train --train_size 256` on a big CSV: time and peak memory of reading the table and splitting it.

What it measures
    `hfmix.cli.data.load_table` + `hfmix.cli.data.prepare` on a CSV of `--rows` rows (default 10^6) with the
    command's defaults (1,000 test rows, 500 calibration rows, seed 42) and `--train_size 256`: the work the
    command does before it tokenizes anything. The CSV is written to a temporary directory first (not timed): a
    `text` column of distinct tweet-like texts (plus 1% duplicated and 0.5% empty texts, which `prepare` drops)
    and a `label` column of three classes (negative / neutral / positive) in proportions 5 : 3 : 2.

How time and memory are measured
    In a fresh Python subprocess (this script with a hidden `--child` flag), with its own empty `datasets` cache
    in the temporary directory, so `load_table` really converts the CSV to Arrow (as on a first `hfmix train`) and
    no earlier measurement's peak is inherited. The child warms up on a 100-row CSV (imports, lazy set-up), then
    `harness.memory.time_and_peak` times one call of load + prepare and reads its peak resident memory above the
    resident memory right before it (VmHWM after a clear_refs reset; see `harness/memory.py`). The load and the
    prepare seconds are reported separately, the peak is that of both together.

Usage
    python benchmarks/cli_prepare.py                 # 10^6 rows: writes a ~45 MB CSV, a minute or so
    python benchmarks/cli_prepare.py --rows 1e5      # a quick run
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import tempfile
import time
import warnings

from harness.machine import command_line, measurement_footer, use_threads
from harness.memory import MIB, peak_note, run_child, time_and_peak


WORDS = {
    "negative": ["awful", "sad", "broken", "late", "angry", "worst", "boring", "rude"],
    "neutral": ["today", "bus", "monday", "coffee", "news", "office", "weather", "train"],
    "positive": ["great", "love", "happy", "best", "sunny", "fun", "win", "thanks"],
}


def write_csv(path: str, rows: int, seed: int = 0) -> None:
    """`rows` rows of distinct tweet-like texts and three labels, with 1% duplicates and 0.5% empty texts."""
    rng = random.Random(seed)
    labels = rng.choices(list(WORDS), weights=(5, 3, 2), k=rows)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        for i, label in enumerate(labels):
            draw = rng.random()
            if draw < 0.005:
                text = ""
            elif draw < 0.015 and i:
                text = f"tweet {i - 1}"  # a duplicate of a text written before (or of nothing: then distinct)
            else:
                text = f"{' '.join(rng.choices(WORDS[label], k=4))} tweet {i}"
            writer.writerow([text, label])


def child(args: argparse.Namespace) -> None:
    warnings.simplefilter("ignore")
    import datasets

    from hfmix.cli.data import load_table, prepare

    datasets.disable_progress_bars()
    warm = os.path.join(args.child, "warm.csv")
    write_csv(warm, 100)
    prepare(load_table(warm), "text", "label", train_size=10, eval_size=20, calibration_size=10)
    path, seconds = os.path.join(args.child, "big.csv"), {}

    def call():
        start = time.perf_counter()
        table = load_table(path)
        seconds["load"] = time.perf_counter() - start
        start = time.perf_counter()
        splits = prepare(table, "text", "label", train_size=args.train_size, seed=args.seed)
        seconds["prepare"] = time.perf_counter() - start
        return splits

    measured = time_and_peak(call, more=lambda times: False)
    splits = measured.first
    sizes = {k: len(getattr(splits, k)) for k in ("train", "calibration", "test")}
    print(json.dumps({**seconds, "peak": measured.peak, "exact_peak": measured.exact_peak, "sizes": sizes}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=lambda s: int(float(s)), default=10**6, help="CSV rows (1e6, 100000, ...).")
    parser.add_argument("--train_size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return
    use_threads(1)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as root:
        write_csv(os.path.join(root, "big.csv"), args.rows)
        megabytes = os.path.getsize(os.path.join(root, "big.csv")) / 1e6
        os.environ["HF_DATASETS_CACHE"] = os.path.join(root, "cache")
        arguments = ["--child", root, "--train_size", str(args.train_size), "--seed", str(args.seed)]
        result, failure = run_child(__file__, arguments, threads=1)
    if result is None:
        print(f"cli_prepare: {failure}", file=sys.stderr)
        sys.exit(1)
    sizes = result["sizes"]
    notes = "; ".join([f"train/calibration/test {sizes['train']}/{sizes['calibration']}/{sizes['test']}"])
    notes += "".join(f"; {n}" for n in peak_note(result["exact_peak"]))
    print(
        "\n".join(
            [
                "## `hfmix train --train_size 256`: reading and splitting a big CSV",
                "",
                f"- command: `{command_line('benchmarks/cli_prepare.py', argv)}`",
                "",
                "| rows | CSV (MB) | load_table (s) | prepare (s) | total (s) | peak memory (MiB) | note |",
                "|---:|---:|---:|---:|---:|---:|---|",
                f"| {args.rows:,} | {megabytes:.0f} | {result['load']:.2f} | {result['prepare']:.2f} | "
                f"{result['load'] + result['prepare']:.2f} | {result['peak'] / MIB:,.0f} | {notes} |",
                "",
                *measurement_footer(1, time.perf_counter() - started),
            ]
        )
    )


if __name__ == "__main__":
    main()
