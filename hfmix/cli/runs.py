"""One training run of the `hfmix` command (a fresh model, one recipe, MixTrainer) and its scores on the test
subset: accuracy, macro-F1, NLL, ECE (15 bins), Brier and ECE after temperature scaling for classification;
MSE, MAE, Pearson and Spearman for regression."""

from __future__ import annotations

import copy
import os
import time
from typing import Any

import torch
import transformers
from transformers import AutoModelForSequenceClassification, DataCollatorWithPadding, PreTrainedTokenizerBase

from hfmix.cli.data import Splits
from hfmix.config import MixConfig
from hfmix.metrics.calibration import (
    reliability_diagram,
)
from hfmix.metrics.classification import classification_scores, scores_after_temperature_scaling
from hfmix.metrics.regression import regression_scores
from hfmix.trainers import MixTrainer, MixTrainingArguments


def tokenize(splits: Splits, tokenizer: PreTrainedTokenizerBase, max_length: int) -> dict[str, Any]:
    def encode(batch: dict[str, list]) -> dict[str, Any]:
        return tokenizer(batch["text"], batch.get("text_pair"), truncation=True, max_length=max_length)

    columns = [c for c in ("text", "text_pair") if c in splits.train.column_names]
    return {
        name: getattr(splits, name).map(encode, batched=True, remove_columns=columns)
        for name in ("train", "calibration", "test")
    }


def train_run(
    name: str,
    mix_config: MixConfig,
    model_path: str,
    tokenizer: PreTrainedTokenizerBase,
    splits: Splits,
    encoded: dict[str, Any],
    args: MixTrainingArguments,
    save_model: bool = False,
    calibrate: str | None = None,
) -> dict[str, Any]:
    """Fine-tune a fresh copy of the model with `mix_config`; score it on the test rows; write its reliability
    diagram. `calibrate="temperature"`: T is fitted on the calibration rows and folded into the saved model."""
    run_args = copy.deepcopy(args)
    run_args.output_dir = os.path.join(args.output_dir, name)
    run_args.mix_config = mix_config
    trainer, seconds = fit(mix_config, model_path, tokenizer, splits, encoded, run_args, calibrate)
    if save_model:
        trainer.save_model()
    row: dict[str, Any] = {"run": name, "recipe": mix_config.to_dict(), "train_seconds": round(seconds, 1)}
    logits, labels = predictions(trainer, encoded["test"])
    if splits.classes is None:
        row.update(regression_scores(logits.reshape(-1), labels.float().reshape(-1)))
        return row
    row.update(classification_scores(logits, labels.long()))
    if trainer.temperature is not None:  # already folded into the head: the test logits are the scaled ones
        row["temperature"], row["ece_ts"] = round(trainer.temperature, 4), row["ece"]
    elif len(encoded["calibration"]):
        row.update(scores_after_temperature_scaling(logits, labels, *predictions(trainer, encoded["calibration"])))
        row["temperature"] = round(row["temperature"], 4)
    if run_args.should_save:
        row["reliability_diagram"] = _diagram(logits, labels, run_args.output_dir, name)
    return row


def fit(
    mix_config: MixConfig,
    model_path: str,
    tokenizer: PreTrainedTokenizerBase,
    splits: Splits,
    encoded: dict[str, Any],
    args: MixTrainingArguments,
    calibrate: str | None = None,
) -> tuple[MixTrainer, float]:
    """A fresh copy of the model (the same new head in every run) trained with `mix_config` on the train rows; the
    trainer and the seconds its `train()` took."""
    transformers.set_seed(args.seed)
    if splits.classes is None:
        model = AutoModelForSequenceClassification.from_pretrained(
            model_path, num_labels=1, problem_type="regression", ignore_mismatched_sizes=True
        )
    else:
        model = AutoModelForSequenceClassification.from_pretrained(
            model_path,
            num_labels=len(splits.classes),
            id2label=dict(enumerate(splits.classes)),
            label2id={c: i for i, c in enumerate(splits.classes)},
            ignore_mismatched_sizes=True,  # a head of another size is replaced by a new one
        )
    trainer = MixTrainer(
        model=model,
        args=args,
        train_dataset=encoded["train"],
        eval_dataset=encoded["calibration"] if calibrate else None,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        mix_config=mix_config,
        calibrate=calibrate,
    )
    start = time.perf_counter()
    trainer.train()
    return trainer, time.perf_counter() - start


def predictions(trainer: MixTrainer, dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Float logits and the labels of `dataset`."""
    output = trainer.predict(dataset)
    return torch.as_tensor(output.predictions).float(), torch.as_tensor(output.label_ids)


def _diagram(logits: torch.Tensor, labels: torch.Tensor, directory: str, name: str) -> str | None:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "reliability.png")
    try:
        reliability_diagram(logits, labels.long(), path=path, title=name)
    except ImportError:
        return None  # matplotlib not installed: no picture, scores unaffected
    return path


CLASSIFICATION_COLUMNS = [
    ("accuracy", "accuracy"),
    ("macro_f1", "macro-F1"),
    ("nll", "NLL"),
    ("ece", "ECE"),
    ("brier", "Brier"),
    ("ece_ts", "ECE after TS"),
    ("train_seconds", "train s"),
]
REGRESSION_COLUMNS = [
    ("mse", "MSE"),
    ("mae", "MAE"),
    ("pearson", "Pearson"),
    ("spearman", "Spearman"),
    ("train_seconds", "train s"),
]


def markdown_table(rows: list[dict[str, Any]], task: str) -> str:
    columns = REGRESSION_COLUMNS if task == "regression" else CLASSIFICATION_COLUMNS
    lines = ["| run | " + " | ".join(title for _, title in columns) + " |", "|---|" + "---:|" * len(columns)]
    for row in rows:
        cells = [
            f"{row[key]:.4f}" if isinstance(row.get(key), float) and key != "train_seconds" else str(row.get(key, "-"))
            for key, _ in columns
        ]
        lines.append(f"| {row['run']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
