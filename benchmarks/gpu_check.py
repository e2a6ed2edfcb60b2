"""One command for the checks that need a GPU: mixed precision, FSDP and DeepSpeed ZeRO-3 at every level.

    python benchmarks/gpu_check.py              # on a CUDA machine: prints one table (and writes gpu_check.json)
    python benchmarks/gpu_check.py --cpu-smoke  # here: the same script on CPU, with the GPU-only rows skipped

Rows (each: a tiny random BERT and Llama classifier, right padding, `MixTrainer` at every level):
- `bf16` / `fp16`: 8 steps with `TrainingArguments(bf16=True)` / `(fp16=True)`; the weights must stay finite and
  move, and the median step time is compared with a plain `Trainer` on the same batches (the overhead of mixing);
- `fsdp`: 2 steps under `fsdp="full_shard auto_wrap"` in a `torchrun` child with one process per GPU;
- `zero3`: 2 steps under DeepSpeed ZeRO-3 (installed with pip if missing; the row says so when it does not install).
transformers applies neither FSDP nor DeepSpeed on CPU, which is why this script exists.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import transformers as tf


LEVELS = ("embeddings", "hidden", "pooled")
FAMILIES = ("bert", "llama")


def tiny_model(family: str) -> tf.PreTrainedModel:
    torch.manual_seed(0)
    shape = dict(vocab_size=1000, hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                 intermediate_size=1024, max_position_embeddings=256, num_labels=3, pad_token_id=0)  # fmt: skip
    if family == "bert":
        return tf.BertForSequenceClassification(tf.BertConfig(**shape))
    return tf.LlamaForSequenceClassification(tf.LlamaConfig(**shape, num_key_value_heads=4))


def dataset(n: int = 64, seed: int = 0):
    from datasets import Dataset

    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(32, 128, (n,), generator=g).tolist()
    return Dataset.from_dict(
        {"input_ids": [torch.randint(5, 1000, (k,), generator=g).tolist() for k in lengths],
         "label": torch.randint(0, 3, (n,), generator=g).tolist()}
    )  # fmt: skip


def collate(features: list[dict]) -> dict:
    width = max(len(f["input_ids"]) for f in features)
    return {
        "input_ids": torch.tensor([f["input_ids"] + [0] * (width - len(f["input_ids"])) for f in features]),
        "attention_mask": torch.tensor([[1] * len(f["input_ids"]) + [0] * (width - len(f["input_ids"])) for f in features]),
        "labels": torch.tensor([f["label"] for f in features]),
    }  # fmt: skip


class StepTimer(tf.TrainerCallback):
    def __init__(self) -> None:
        self.times: list[float] = []

    def on_step_begin(self, args, state, control, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.times.append(time.perf_counter() - self._start)


def train(family: str, level: str | None, steps: int, **args) -> dict:
    """`level=None`: a plain Trainer. Returns finite/moved flags and the median step time (after the first)."""
    from hfmix import MixTrainer, MixupConfig

    model = tiny_model(family)
    before = [p.detach().float().cpu().clone() for p in model.parameters()]
    timer = StepTimer()
    with tempfile.TemporaryDirectory() as out:
        targs = tf.TrainingArguments(out, per_device_train_batch_size=8, max_steps=steps, report_to=[],
                                     save_strategy="no", remove_unused_columns=False, disable_tqdm=True,
                                     learning_rate=1e-3, **args)  # fmt: skip
        kw = dict(model=model, args=targs, train_dataset=dataset(), data_collator=collate, callbacks=[timer])
        trainer = tf.Trainer(**kw) if level is None else MixTrainer(**kw, mix_config=MixupConfig(level=level))
        trainer.train()
        after = [p.detach().float().cpu() for p in trainer.accelerator.unwrap_model(trainer.model).parameters()]
    finite = all(bool(torch.isfinite(p).all()) for p in after)
    moved = any(a.shape == b.shape and bool((a - b).abs().max() > 0) for a, b in zip(after, before, strict=False))
    return {"finite": finite, "moved": moved, "step_s": statistics.median(timer.times[1:] or timer.times)}


def precision_rows(cpu: bool) -> list[dict]:
    rows = []
    for dtype in ("bf16", "fp16"):
        if dtype == "fp16" and cpu:
            rows.append({"check": dtype, "result": "skipped: fp16 training needs CUDA"})
            continue
        for family in FAMILIES:
            plain = train(family, None, 8, **{dtype: True, "use_cpu": cpu})
            for level in LEVELS:
                mixed = train(family, level, 8, **{dtype: True, "use_cpu": cpu})
                ok = mixed["finite"] and mixed["moved"]
                rows.append({"check": dtype, "model": family, "level": level, "result": "ok" if ok else "FAILED",
                             "overhead": f"{mixed['step_s'] / plain['step_s']:.3f}x"})  # fmt: skip
    return rows


def distributed_rows(kind: str) -> list[dict]:
    """Run this script as `torchrun` children (one process per GPU) that train under FSDP or ZeRO-3."""
    if kind == "zero3":
        try:
            import deepspeed  # noqa: F401
        except ImportError:
            install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "deepspeed"], capture_output=True)
            if install.returncode:
                return [
                    {"check": kind, "result": "skipped: deepspeed did not install: " + install.stderr.decode()[-200:]}
                ]
    with tempfile.TemporaryDirectory() as out:
        report = os.path.join(out, "rows.json")
        command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={torch.cuda.device_count()}",
                   __file__, "--child", kind, "--report", report]  # fmt: skip
        run = subprocess.run(command, capture_output=True, text=True, timeout=900)
        if run.returncode or not os.path.exists(report):
            return [{"check": kind, "result": "FAILED: " + (run.stderr or run.stdout)[-400:]}]
        with open(report) as fh:
            return json.load(fh)


def child(kind: str, report: str) -> None:
    if kind == "fsdp":
        extra = dict(fsdp="full_shard auto_wrap", bf16=True)
    else:
        zero3 = {"zero_optimization": {"stage": 3}, "bf16": {"enabled": True}, "train_micro_batch_size_per_gpu": "auto",
                 "gradient_accumulation_steps": "auto", "train_batch_size": "auto"}  # fmt: skip
        extra = dict(deepspeed=zero3, bf16=True)
    rows = []
    for family in FAMILIES:
        for level in LEVELS:
            try:
                result = train(family, level, 2, **extra)
                ok = result["finite"] and result["moved"]
                rows.append({"check": kind, "model": family, "level": level, "result": "ok" if ok else "FAILED"})
            except Exception as err:  # noqa: BLE001 - one row per failure, the table goes on
                rows.append({"check": kind, "model": family, "level": level, "result": f"FAILED: {err!r}"[:200]})
    if int(os.environ.get("RANK", "0")) == 0:
        with open(report, "w") as fh:
            json.dump(rows, fh)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-smoke", action="store_true", help="Run on CPU; skip the GPU-only rows.")
    parser.add_argument("--child", choices=("fsdp", "zero3"), help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    parser.add_argument("--json", default="gpu_check.json", help="Where to write the rows.")
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.report)
    cpu = args.cpu_smoke or not torch.cuda.is_available()
    if not args.cpu_smoke and cpu:
        sys.exit("No CUDA device: run on a GPU machine, or pass --cpu-smoke to check the script here.")
    if cpu:
        torch.set_num_threads(1)
    device = "CPU" if cpu else torch.cuda.get_device_name(0)
    print(f"hfmix GPU check on {device}, torch {torch.__version__}, transformers {tf.__version__}")
    rows = precision_rows(cpu)
    for kind in ("fsdp", "zero3"):
        rows += [{"check": kind, "result": "skipped: needs CUDA"}] if cpu else distributed_rows(kind)
    print("| check | model | level | result | MixTrainer step / Trainer step |\n|---|---|---|---|---:|")
    for row in rows:
        print(f"| {row['check']} | {row.get('model', '')} | {row.get('level', '')} | {row['result']} | "
              f"{row.get('overhead', '')} |")  # fmt: skip
    with open(args.json, "w") as fh:
        json.dump({"device": device, "rows": rows}, fh, indent=2)
    if any(row["result"].startswith("FAILED") for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
