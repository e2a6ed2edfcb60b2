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
from hfmix.metrics.calibration import TemperatureScaler, expected_calibration_error, reliability_diagram
from hfmix.metrics.classification import classification_scores
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
) -> dict[str, Any]:
    """Fine-tune a fresh copy of the model with `mix_config`; score it; write its reliability diagram."""
    run_args = copy.deepcopy(args)
    run_args.output_dir = os.path.join(args.output_dir, name)
    run_args.mix_config = mix_config
    transformers.set_seed(args.seed)  # the same new head in every run
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
        args=run_args,
        train_dataset=encoded["train"],
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        mix_config=mix_config,
    )
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    if save_model:
        trainer.save_model()
    test = trainer.predict(encoded["test"])
    logits, labels = torch.as_tensor(test.predictions).float(), torch.as_tensor(test.label_ids)
    row: dict[str, Any] = {"run": name, "recipe": mix_config.to_dict(), "train_seconds": round(seconds, 1)}
    if splits.classes is None:
        row.update(regression_scores(logits.reshape(-1), labels.float().reshape(-1)))
        return row
    row.update(classification_scores(logits, labels.long()))
    if len(encoded["calibration"]):
        calibration = trainer.predict(encoded["calibration"])
        scaler = TemperatureScaler().fit(
            torch.as_tensor(calibration.predictions).float(), torch.as_tensor(calibration.label_ids).long()
        )
        row["temperature"] = round(scaler.temperature, 4)
        row["ece_ts"] = expected_calibration_error(scaler(logits), labels.long())
    if run_args.should_save:
        os.makedirs(run_args.output_dir, exist_ok=True)
        path = os.path.join(run_args.output_dir, "reliability.png")
        try:
            reliability_diagram(logits, labels.long(), path=path, title=name)
            row["reliability_diagram"] = path
        except ImportError:
            row["reliability_diagram"] = None  # matplotlib not installed: no picture, scores unaffected
    return row


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
