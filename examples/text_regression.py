"""Text regression with mixup: predict human sentiment scores in [-4, 4]; ERM against mixup and C-Mixup.

What it shows: `hfmix.MixTrainer` on a one-output regression head (`num_labels=1, problem_type="regression"`). With
mixing on, MixTrainer trains with MSE against the *mixed* targets ỹ = λ·y_i + (1 − λ)·y_j. Four runs on the same
model, data and seed: ERM (`MixupConfig(prob=0.0)`), mixup of a hidden layer's output (TMix / manifold mixup),
mixup of the pooled representation, and C-Mixup at the hidden layer: `pairing="label_similarity"` draws each row's
partner within the batch with probability ∝ exp(−(y_i − y_j)² / 2σ²), σ = `--bandwidth` in label units (sentiment
points), so rows are mixed mostly with rows of similar score (Yao et al., NeurIPS 2022, arXiv:2210.05775; hfmix
implements the kernel within each batch, not over the whole training set as the paper does). Scores on held-out
sentences: MSE, MAE, Pearson and Spearman correlation (`hfmix.regression_metrics.regression_scores`).

Data: the VADER ground truth (Hutto & Gilbert, ICWSM 2014): sentences rated by around 20 people each on -4..4, the
score being their mean. It ships only in the vaderSentiment 3.3.2 SOURCE distribution, as
`additional_resources/hutto_ICWSM_2014.tar.gz` (the wheel lacks it). Without `--data` the script downloads that
sdist from PyPI once into `--cache-dir` (`pip download --no-deps --no-binary :all: vaderSentiment==3.3.2`) and reads
the subset named by `--subset`: tweets (4,200), movies (10,605), amazon (3,708) or nyt (5,190).

    bash scripts/install.sh demo && .venv/bin/python examples/text_regression.py            # ~3 minutes, 2 CPUs
    python examples/text_regression.py --data vaderSentiment-3.3.2.tar.gz --subset movies   # a downloaded sdist
    python examples/text_regression.py --model path/to/model --data scores.csv --text-column text --label-column y

`--data` takes the sdist, the inner hutto_ICWSM_2014.tar.gz, one `*_GroundTruth.txt` / `.tsv` file (id, score,
text; tab-separated, no header) or a CSV with a header. Caveats: one seed on 256 training sentences is noisy; the
bandwidth and alpha are not tuned; run several `--seed`s before drawing conclusions.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import tarfile
import time
from typing import Any

import torch
import transformers
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, TrainingArguments

from hfmix import MixTrainer, MixupConfig
from hfmix.cli.runs import markdown_table
from hfmix.demo.tweets import embedded_model_path
from hfmix.demo.vader import SUBSETS, default_cache_dir, fetch_vader, ground_truth_text, parse_ground_truth
from hfmix.metrics.regression import regression_scores


def load_scores(path: str, subset: str, text_column: str, label_column: str) -> tuple[list[str], list[float]]:
    if not os.path.isfile(path):
        raise ValueError(f"Data file not found: {path!r}.")
    if tarfile.is_tarfile(path):
        with tarfile.open(path) as archive:
            return parse_ground_truth(ground_truth_text(archive, f"{SUBSETS[subset]}_GroundTruth.txt"))
    if path.lower().endswith(".csv"):
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        missing = [c for c in (text_column, label_column) if rows and c not in rows[0]]
        if missing:
            raise ValueError(f"Columns {missing} are not in {path!r}; its columns are {list(rows[0])}.")
        return [r[text_column] for r in rows], [float(r[label_column]) for r in rows]
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        return parse_ground_truth(fh.read())


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    cache = default_cache_dir()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="Local model directory (default: all-MiniLM-L6-v2).")
    parser.add_argument("--data", default=None, help="sdist, tarball, GroundTruth TSV or CSV (default: fetch VADER).")
    parser.add_argument("--subset", choices=sorted(SUBSETS), default="tweets", help="Which VADER set, for tarballs.")
    parser.add_argument("--text-column", default="text", help="For a CSV.")
    parser.add_argument("--label-column", default="score", help="For a CSV.")
    parser.add_argument("--cache-dir", default=cache, help="Where the downloaded sdist is kept.")
    parser.add_argument("--train-size", type=int, default=256)
    parser.add_argument("--eval-size", type=int, default=500)
    parser.add_argument("--epochs", type=float, default=4)
    parser.add_argument("--alpha", type=float, default=0.4)
    parser.add_argument("--bandwidth", type=float, default=1.0, help="C-Mixup kernel width σ, in score points.")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output-dir", default="example_output/regression")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    model_path = args.model or embedded_model_path()
    data = args.data or fetch_vader(args.cache_dir)
    texts, scores = load_scores(data, args.subset, args.text_column, args.label_column)
    order = list(range(len(texts)))
    random.Random(args.seed).shuffle(order)
    if args.train_size + args.eval_size > len(order):
        raise ValueError(f"--train-size + --eval-size = {args.train_size + args.eval_size} > {len(order)} rows.")
    test, train = order[: args.eval_size], order[args.eval_size : args.eval_size + args.train_size]
    tokenizer = AutoTokenizer.from_pretrained(model_path)

    def encode(rows: list[int]):
        from datasets import Dataset

        return Dataset.from_dict({"text": [texts[i] for i in rows], "label": [scores[i] for i in rows]}).map(
            lambda b: tokenizer(b["text"], truncation=True, max_length=args.max_length),
            batched=True,
            remove_columns=["text"],
        )

    train_set, test_set = encode(train), encode(test)
    y = torch.tensor([scores[i] for i in train])
    print(
        f"{model_path}\n{data} ({args.subset if tarfile.is_tarfile(data) else 'file'}): {len(texts)} rows; "
        f"train {len(train_set)} (score mean {y.mean():.2f}, sd {y.std():.2f}), test {len(test_set)}",
        flush=True,
    )

    recipes = {
        "erm": MixupConfig(prob=0.0),
        "mixup-hidden": MixupConfig(level="hidden", alpha=args.alpha),
        "mixup-pooled": MixupConfig(level="pooled", alpha=args.alpha),
        "c-mixup-hidden": MixupConfig(
            level="hidden", alpha=args.alpha, pairing="label_similarity", bandwidth=args.bandwidth
        ),
    }
    rows = []
    for name, recipe in recipes.items():
        transformers.set_seed(args.seed)  # the same new head in every run
        model = AutoModelForSequenceClassification.from_pretrained(
            model_path, num_labels=1, problem_type="regression", ignore_mismatched_sizes=True
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
            train_dataset=train_set,
            data_collator=DataCollatorWithPadding(tokenizer),
            mix_config=recipe,
        )
        start = time.perf_counter()
        loss = trainer.train().training_loss
        seconds = round(time.perf_counter() - start, 1)
        prediction = trainer.predict(test_set)
        predicted = torch.as_tensor(prediction.predictions).float().reshape(-1)
        row = {
            "run": name,
            **regression_scores(predicted, torch.as_tensor(prediction.label_ids).float().reshape(-1)),
            "train_loss": loss,
            "train_seconds": seconds,
        }
        rows.append(row)
        print(
            f"  {name:<15} MSE {row['mse']:.4f}  MAE {row['mae']:.4f}  Pearson {row['pearson']:.4f}  "
            f"Spearman {row['spearman']:.4f}  ({seconds:.0f} s)",
            flush=True,
        )
    table = markdown_table(rows, "regression")
    print(f"\n{table}")
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "results.json"), "w", encoding="utf-8") as fh:
        json.dump(rows, fh, indent=2)
    return {"data": data, "rows": rows, "table": table}


if __name__ == "__main__":
    main()
