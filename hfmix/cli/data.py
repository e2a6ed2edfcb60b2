"""Data for the `hfmix` command: load a labelled text table, check its columns, infer the task, and split it
into train / calibration / test subsets (stratified for classification) that are the same for every run. The
embedded default (tweets and MiniLM) lives in `hfmix.demo.tweets`."""

from __future__ import annotations

import math
import os
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset, DatasetDict, Features, Value, load_dataset, load_from_disk

from hfmix.demo.tweets import load_embedded_tweets


FILE_BUILDERS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


def load_table(data: str | None) -> Dataset:
    """A `Dataset` from a local file (CSV/TSV/JSON/JSONL/Parquet), a `save_to_disk` directory, a Hub dataset name,
    or (None) the embedded tweet-sentiment corpus."""
    if data is None:
        return load_embedded_tweets()
    if os.path.isdir(data):
        return _load_directory(data)
    suffix = Path(data).suffix.lower()
    if os.path.isfile(data):
        return _load_file(data, suffix)
    if suffix in FILE_BUILDERS or data.startswith((".", "/", "~")) or data.count("/") > 1:
        raise ValueError(f"Data file not found: {data!r}. Pass --data with an existing file or directory.")
    try:
        return load_dataset(data, split="train")
    except Exception as err:  # offline, unknown name, gated: all end here
        raise ValueError(
            f"Could not load {data!r} as a local file or a Hub dataset ({type(err).__name__}: {err}). "
            "Pass --data with a local CSV/JSON/Parquet file or a save_to_disk directory."
        ) from err


def _load_directory(data: str) -> Dataset:
    try:
        loaded = load_from_disk(data)
    except FileNotFoundError as err:
        raise ValueError(
            f"{data!r} is a directory but not one written by `Dataset.save_to_disk` (no dataset_info.json and "
            "state.json). Pass --data with such a directory or with a CSV/JSON/Parquet file."
        ) from err
    if isinstance(loaded, DatasetDict):
        return loaded["train"] if "train" in loaded else next(iter(loaded.values()))
    return loaded


def _load_file(data: str, suffix: str) -> Dataset:
    if suffix not in FILE_BUILDERS:
        raise ValueError(f"Cannot read {data!r}: use a {', '.join(FILE_BUILDERS)} file or a save_to_disk directory.")
    if os.path.getsize(data) == 0:
        raise ValueError(f"Data file {data!r} is empty (0 bytes).")
    extra = {"delimiter": "\t"} if suffix == ".tsv" else {}
    try:
        table = load_dataset(FILE_BUILDERS[suffix], data_files=data, split="train", **extra)
    except Exception as err:  # the builders' errors: DatasetGenerationError (its cause says why), "no data", ...
        cause = err.__cause__ or err
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        if "corresponds to no data" in reason:
            raise ValueError(f"Data file {data!r} has no rows (a header only?).") from err
        raise ValueError(f"Cannot read {data!r} as a {suffix[1:]} file: {reason}") from err
    if len(table) == 0:
        raise ValueError(f"Data file {data!r} has no rows (a header only?).")
    return table


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
    """Check the columns, infer the task, drop empty and duplicated texts, and split (the same for a given seed).

    Column-wise, in Arrow: the texts stay there (only the rows of the three subsets become Python strings), the
    usable rows and the first of each duplicated text are found by Arrow compute, and the split works on row
    positions; only the labels of the usable rows are pulled into Python, once."""
    columns = _columns(table, text_column, label_column, text_pair_column)
    keep = _usable_rows(columns, text_column, label_column, text_pair_column)
    labels = _values(columns.column(label_column).take(keep))
    task, classes, targets = _targets(labels, label_column, task)
    if task == "regression":
        calibration_size = 0
    subsets = _split(targets if classes else None, len(keep), train_size, eval_size, calibration_size, seed)
    features = Features(
        {"text": Value("string"), "label": Value("float64" if classes is None else "int64")}
        | ({"text_pair": Value("string")} if text_pair_column else {})
    )

    def subset(positions: list[int]) -> Dataset:
        rows = pa.array(positions, type=pa.int64())
        chosen = keep.take(rows)
        data = {"text": columns.column(text_column).take(chosen).to_pylist(), "label": [targets[i] for i in positions]}
        if text_pair_column:
            data["text_pair"] = columns.column(text_pair_column).take(chosen).to_pylist()
        return Dataset.from_dict(data, features=features)

    train, calibration, test = subsets
    return Splits(task, classes, subset(train), subset(calibration), subset(test))


def _columns(table: Dataset, text_column: str, label_column: str, text_pair_column: str | None) -> pa.Table:
    """The text, label (and pair) columns as one Arrow table (any `select`/`shuffle` of the dataset applied),
    checked: present, and text columns of strings."""
    names = table.column_names
    for name, flag in (
        (text_column, "--text_column"),
        (label_column, "--label_column"),
        (text_pair_column, "--text_pair_column"),
    ):
        if name is not None and name not in names:
            raise ValueError(
                f"Column {name!r} is not in the data; its columns are {names}. Pass {flag} with one of them."
            )
    wanted = list(dict.fromkeys(c for c in (text_column, label_column, text_pair_column) if c is not None))
    columns = table.select_columns(wanted).with_format("arrow")[:]
    for name, flag in ((text_column, "--text_column"), (text_pair_column, "--text_pair_column")):
        kind = columns.schema.field(name).type if name is not None else pa.string()
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)):
            raise ValueError(f"Column {name!r} holds {kind}, not text. Pass {flag} with a column of texts.")
    return columns


def _values(column: pa.ChunkedArray) -> list:
    """The Python values of a column; a column of strings through its dictionary, so that each distinct string is
    one Python object (a label column of a few class names stays small)."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return column.to_pylist()
    encoded = column.combine_chunks().dictionary_encode()
    names = encoded.dictionary.to_pylist()
    return [None if i is None else names[i] for i in encoded.indices.to_pylist()]


def _usable_rows(columns: pa.Table, text_column: str, label_column: str, text_pair_column: str | None) -> pa.Array:
    """Positions (ascending) of the rows with a non-blank text and a label, the first of each duplicated text
    (text and pair)."""
    text, label = columns.column(text_column), columns.column(label_column)
    text = text.cast(pa.string())  # a no-op for strings; a column of nulls has no usable row
    blank = pc.or_(pc.utf8_is_space(text), pc.equal(text, ""))  # utf8_is_space: non-empty and only whitespace
    usable = pc.and_kleene(pc.is_valid(text), pc.invert(blank))
    usable = pc.and_kleene(usable, pc.is_valid(label))
    if pa.types.is_string(label.type) or pa.types.is_large_string(label.type):
        usable = pc.and_kleene(usable, pc.not_equal(label, ""))
    usable = pc.fill_null(usable, False)
    rows = pc.indices_nonzero(usable).to_pylist()
    keys = text.filter(usable).to_pylist()  # only texts are compared; a dict of them is the cheapest in memory
    if text_pair_column:
        keys = list(zip(keys, columns.column(text_pair_column).filter(usable).to_pylist(), strict=True))
    first: dict = {}
    for row, key in zip(rows, keys, strict=True):
        if key not in first:
            first[key] = row
    return pa.array(first.values(), type=pa.int64())  # ascending: rows are visited in order


def _targets(raw: list, label_column: str, task: str) -> tuple[str, list[str] | None, list]:
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw)
    infinite = [v for v in raw if numbers and not math.isfinite(v)]
    if infinite:  # in the test split they would make every metric NaN; in the training split, the loss
        raise ValueError(
            f"Column {label_column!r} holds {len(infinite)} label(s) that are not finite ({infinite[0]!r}); "
            "labels must be finite numbers: drop or fix those rows."
        )
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
