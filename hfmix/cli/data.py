"""Data for the `hfmix` command: load a labelled text table, check its columns, infer the task, and split it
into train / calibration / test subsets (stratified for classification) that are the same for every run. The
embedded default (tweets and MiniLM) lives in `hfmix.demo.tweets`."""

from __future__ import annotations

import os
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

from hfmix.demo.tweets import load_embedded_tweets


FILE_BUILDERS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


def load_table(data: str | None) -> Dataset:
    """A `Dataset` from a local file (CSV/TSV/JSON/JSONL/Parquet), a `save_to_disk` directory, a Hub dataset name,
    or (None) the embedded tweet-sentiment corpus."""
    if data is None:
        return load_embedded_tweets()
    if os.path.isdir(data):
        loaded = load_from_disk(data)
        if isinstance(loaded, DatasetDict):
            return loaded["train"] if "train" in loaded else next(iter(loaded.values()))
        return loaded
    suffix = Path(data).suffix.lower()
    if os.path.isfile(data):
        if suffix not in FILE_BUILDERS:
            raise ValueError(
                f"Cannot read {data!r}: use a {', '.join(FILE_BUILDERS)} file or a save_to_disk directory."
            )
        extra = {"delimiter": "\t"} if suffix == ".tsv" else {}
        return load_dataset(FILE_BUILDERS[suffix], data_files=data, split="train", **extra)
    if suffix in FILE_BUILDERS or data.startswith((".", "/", "~")) or data.count("/") > 1:
        raise ValueError(f"Data file not found: {data!r}. Pass --data with an existing file or directory.")
    try:
        return load_dataset(data, split="train")
    except Exception as err:  # offline, unknown name, gated: all end here
        raise ValueError(
            f"Could not load {data!r} as a local file or a Hub dataset ({type(err).__name__}: {err}). "
            "Pass --data with a local CSV/JSON/Parquet file or a save_to_disk directory."
        ) from err


@dataclass
class Splits:
    """Texts and targets of each subset. `classes` is None for regression."""

    task: str
    classes: list[str] | None
    train: Dataset
    calibration: Dataset
    test: Dataset


def prepare(
    table: Dataset,
    text_column: str,
    label_column: str,
    task: str = "auto",
    train_size: int | None = None,
    eval_size: int = 1000,
    calibration_size: int = 500,
    seed: int = 42,
    text_pair_column: str | None = None,
) -> Splits:
    """Check the columns, infer the task, drop empty and duplicated texts, and split (the same for a given seed)."""
    columns = table.column_names
    for name, flag in (
        (text_column, "--text_column"),
        (label_column, "--label_column"),
        (text_pair_column, "--text_pair_column"),
    ):
        if name is not None and name not in columns:
            raise ValueError(
                f"Column {name!r} is not in the data; its columns are {columns}. Pass {flag} with one of them."
            )
    texts, pairs, raw = table[text_column], table[text_pair_column] if text_pair_column else None, table[label_column]
    keep, seen = [], set()
    for i, (text, label) in enumerate(zip(texts, raw, strict=True)):
        key = (text, pairs[i] if pairs else None)
        if isinstance(text, str) and text.strip() and label is not None and label != "" and key not in seen:
            seen.add(key)
            keep.append(i)
    task, classes, targets = _targets([raw[i] for i in keep], label_column, task)
    rows = {"text": [texts[i] for i in keep], "label": targets}
    if pairs:
        rows["text_pair"] = [pairs[i] for i in keep]
    if task == "regression":
        calibration_size = 0
    train, calibration, test = _split(
        targets if classes else None, len(keep), train_size, eval_size, calibration_size, seed
    )
    everything = Dataset.from_dict(rows)
    return Splits(task, classes, everything.select(train), everything.select(calibration), everything.select(test))


def _targets(raw: list, label_column: str, task: str) -> tuple[str, list[str] | None, list]:
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw)
    integers = numbers and all(float(v).is_integer() for v in raw)
    if task == "auto":
        task = "classification" if not numbers or integers else "regression"
    if task == "regression":
        if not numbers:
            example = next(v for v in raw if not isinstance(v, (int, float)))
            raise ValueError(
                f"Column {label_column!r} holds {example!r}, not numbers; regression needs numeric labels (or use --task classification)."
            )
        return task, None, [float(v) for v in raw]
    if task != "classification":
        raise ValueError(f"--task must be auto, classification or regression, got {task!r}.")
    if numbers and not integers:
        raise ValueError(
            f"Column {label_column!r} holds non-integer numbers; use --task regression, or a column of class names/ids."
        )
    names = sorted(
        {str(int(v)) if numbers else str(v) for v in raw},
        key=lambda c: (0, int(c)) if c.lstrip("-").isdigit() else (1, c),
    )
    if len(names) < 2:
        raise ValueError(
            f"Column {label_column!r} has {len(names)} distinct label(s); classification needs at least 2."
        )
    if len(names) > max(50, len(raw) // 5):
        raise ValueError(
            f"Column {label_column!r} has {len(names)} distinct labels in {len(raw)} rows: that is not a class column; use --task regression or another --label_column."
        )
    position = {c: i for i, c in enumerate(names)}
    return task, names, [position[str(int(v)) if numbers else str(v)] for v in raw]


def _allocate(counts: dict[int, int], total: int) -> dict[int, int]:
    """Split `total` across classes in proportion to `counts` (largest remainder), at least 1 each where possible."""
    available = sum(counts.values())
    quota = {c: total * n / available for c, n in counts.items()}
    take = {c: min(counts[c], max(1, int(q))) for c, q in quota.items()}
    for c in sorted(quota, key=lambda c: quota[c] - int(quota[c]), reverse=True):
        if sum(take.values()) >= total:
            break
        if take[c] < counts[c]:
            take[c] += 1
    while sum(take.values()) > total:  # "at least 1" overshot: trim the largest classes
        c = max(take, key=take.get)
        take[c] -= 1
    return take


def _split(
    labels: Sequence[int] | None, n: int, train_size: int | None, eval_size: int, calibration_size: int, seed: int
) -> tuple[list[int], list[int], list[int]]:
    """Disjoint test, calibration and train row indices (stratified by `labels` when given)."""
    wanted = eval_size + calibration_size + (train_size or 1)
    if eval_size < 1 or calibration_size < 0 or (train_size is not None and train_size < 1):
        raise ValueError("--eval_size and --train_size must be >= 1 and --calibration_size >= 0.")
    if wanted > n:
        raise ValueError(
            f"--eval_size {eval_size} + --calibration_size {calibration_size} + --train_size {train_size or 1} needs "
            f"{wanted} rows; the data has {n} usable rows. Lower them."
        )
    rng = random.Random(seed)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        groups[labels[i] if labels is not None else 0].append(i)
    for rows in groups.values():
        rng.shuffle(rows)
    subsets = []
    for size in (eval_size, calibration_size, train_size):
        counts = {c: len(rows) for c, rows in groups.items() if rows}
        take = counts if size is None else (_allocate(counts, size) if size else {})
        chosen = [i for c, k in take.items() for i in groups[c][:k]]
        for c, k in take.items():
            groups[c] = groups[c][k:]
        rng.shuffle(chosen)
        subsets.append(chosen)
    test, calibration, train = subsets
    return train, calibration, test
