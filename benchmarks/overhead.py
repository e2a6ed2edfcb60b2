"""Overhead of `hfmix.MixTrainer` against a plain `transformers.Trainer`: step time and peak memory.

What it measures
    The same randomly initialised BERT-style classifier (built from a `BertConfig`, nothing is downloaded; the default
    shape is BERT-mini's: hidden 256, 4 layers, 4 heads, WordPiece vocabulary of 30522), the same pre-collated batch
    (by default 16 rows of random token ids, 64-128 of 128 positions real and the rest padding, so attention masks
    matter) and the same optimizer (the Trainer's default AdamW; dropout on, as in training), trained by four
    variants:

    * `Trainer`    - plain `transformers.Trainer` (the model computes its own cross-entropy);
    * `hidden`     - `MixTrainer(mix_config=MixupConfig(level="hidden"))` (TMix / manifold mixup, the main target);
    * `embeddings` - `MixupConfig(level="embeddings")`;
    * `pooled`     - `MixupConfig(level="pooled")`.

    Target (from the issue): mixing adds under 3% to the step time and under 5% to the peak memory, i.e. it is one
    forward pass, never two. The `rows mixed` column is the fraction of rows MixTrainer really mixed (from its
    logging counters), to show that the mixing variants did mix.

How a step is timed
    Each variant owns a deep copy of the same initial model and its own trainer, optimizer and scheduler
    (`trainer.create_optimizer_and_scheduler`). One step is exactly what the Trainer's inner loop does for one
    micro-batch without gradient accumulation: `trainer.training_step(model, batch)` (forward, loss, backward), gradient
    clipping to `args.max_grad_norm`, `optimizer.step()`, `lr_scheduler.step()`, `optimizer.zero_grad(set_to_none)`,
    then `state.global_step += 1` (MixTrainer seeds its plan from the global step, so the plans differ from step to step
    as in real training); `trainer.current_gradient_accumulation_steps` is set to 1 by hand, as Trainer's own loop
    would. Driving the step directly on one fixed batch keeps data loading, collation, logging and callbacks out of
    the measurement: they are the same for all variants and only add noise (a callback timing `on_step_begin/end`
    would include them). The wall time of each step is taken with `time.perf_counter` (after `torch.cuda.synchronize`
    on CUDA).

    The machine may be shared, so the variants run interleaved: every round runs `--steps` steps of each variant,
    one step of each in turn (A B C D, B C D A, ...: the order rotates, so no variant always runs first or after the
    same one), with Python's cyclic garbage collector paused, and keeps each variant's median step time. The table
    reports the median over rounds of those medians, and the ratio to `Trainer` as the median over rounds of the
    per-round ratio (paired: both numbers of a ratio come from the same few seconds, so slow phases of the machine
    cancel), with the smallest and largest per-round ratio to show the noise. Every variant first runs `--warmup`
    untimed steps (allocator warm-up, optimizer state creation).

    On CPU the default is one intra-op thread (`--threads 1`). With as many OpenMP threads as cores, a second busy
    process on the machine makes every parallel region wait at its barrier for a thread that is descheduled: on a
    2-core machine shared with such a process a default-size step took 4.1 s with 2 threads and 0.5 s with 1, and
    its time swung with the other process's load. One thread measures the work a variant does, which is what the
    ratio is about, far more steadily. `--threads 0` uses torch's default (one per core) for an idle machine.

How peak memory is measured
    Peak memory is measured on separate, untimed steps after the timing (memory use of a step does not depend on the
    load of the machine, and the profiler would distort the timing). For each variant and each of `--memory-steps`
    steps (one is enough: for level="hidden" the mixed tensor has the same shape whichever layer is drawn):

    * `step peak` = the largest increase of allocated tensor memory over its value at the start of the step, anywhere
      in the step (activations, gradients, optimizer temporaries). On CUDA it is
      `torch.cuda.max_memory_allocated() - torch.cuda.memory_allocated()` after `torch.cuda.reset_peak_memory_stats()`.
      On CPU, where torch keeps no allocator statistics, the step runs under
      `torch.profiler.profile(profile_memory=True)`; every allocation and free of torch's CPU allocator is an event
      with a signed byte count, and the peak is the maximum of their running sum in time order. (Process RSS is
      useless here: it is a high-water mark shared by all variants in the process. Memory that oneDNN/OpenMP allocate
      outside torch's allocator is not counted, and it is the same for all variants.)
    * `resident` = the bytes of the variant's own parameters, buffers and optimizer state, which live across steps
      (gradients are set to None between steps, so they are part of the step peak).
    * `peak` = `resident` + the largest `step peak` over the memory steps. This is the peak the variant would have
      alone in a process; the other variants' models, which share the process, are not counted.

    Both the total peak and the step peak are reported with their ratio to `Trainer`: the total is what the 5% target
    is about, the step peak shows the extra activation memory of mixing without the weights and optimizer state.

    The defaults (10 rounds x 3 steps, 2 warm-up steps, 2 memory steps: 136 steps in all, about 0.5 s each on one
    core of a 2-core EPYC) take about 1.5 minutes; more `--rounds` narrow the per-round spread.

Usage
    python benchmarks/overhead.py                       # defaults: hidden 256, 4 layers, seq 128, batch 16
    python benchmarks/overhead.py --rounds 30            # less noise, about 3x longer
    python benchmarks/overhead.py --threads 0            # all cores (idle machine only, see above)
    python benchmarks/overhead.py --device cuda --hidden-size 768 --layers 12 --heads 12 --batch-size 32
"""

from __future__ import annotations

import argparse
import copy
import gc
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import transformers
from datasets import Dataset
from harness.machine import quiet
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments, default_data_collator

import hfmix
from hfmix import MixTrainer, MixupConfig


BASELINE = "Trainer"
LEVELS = ("hidden", "embeddings", "pooled")
TIME_TARGET, MEMORY_TARGET = 1.03, 1.05
MIB = 2**20


@dataclass
class Variant:
    """One trainer under test, with the step times and memory measured for it."""

    name: str
    trainer: Trainer
    round_medians: list[float] = field(default_factory=list)  # seconds, one per round
    resident: int = 0  # bytes of parameters, buffers and optimizer state
    step_peaks: list[int] = field(default_factory=list)  # bytes above the start of the step, one per memory step

    @property
    def peak(self) -> int:
        return self.resident + max(self.step_peaks)


# ------------------------------------------------------------------------------------------------------- set-up
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--hidden-size", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--intermediate-size", type=int, default=None, help="Default: 4 x hidden size.")
    parser.add_argument("--vocab-size", type=int, default=30522, help="Default: BERT's WordPiece vocabulary.")
    parser.add_argument("--num-labels", type=int, default=3)
    parser.add_argument("--seq-len", type=int, default=128, help="Padded length; rows have 50-100%% real tokens.")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=10, help="Interleaved rounds (each runs every variant).")
    parser.add_argument("--steps", type=int, default=3, help="Timed steps per variant per round.")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed steps per variant before the first round.")
    parser.add_argument("--memory-steps", type=int, default=2, help="Steps per variant for the memory peak.")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads. Default: 1 on CPU (see the module docstring), torch's default on CUDA. "
        "0 = torch's default (one per core).",
    )
    parser.add_argument("--levels", nargs="+", choices=LEVELS, default=list(LEVELS), help="Mixing levels to compare.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available.")
    if min(args.rounds, args.steps, args.memory_steps) < 1 or args.warmup < 0:
        parser.error("--rounds, --steps and --memory-steps must be >= 1, --warmup >= 0.")
    if args.threads is not None and args.threads < 0:
        parser.error("--threads must be >= 0.")
    if args.batch_size < 2:
        parser.error("--batch-size must be >= 2: mixing pairs rows of a batch.")
    return args


def build_model(args: argparse.Namespace) -> BertForSequenceClassification:
    torch.manual_seed(args.seed)
    config = BertConfig(
        vocab_size=args.vocab_size,
        hidden_size=args.hidden_size,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        intermediate_size=args.intermediate_size or 4 * args.hidden_size,
        max_position_embeddings=max(512, args.seq_len),
        num_labels=args.num_labels,
    )
    return BertForSequenceClassification(config)


def build_dataset(args: argparse.Namespace) -> Dataset:
    """`batch_size` rows of random token ids, [CLS] ... [SEP], 50-100% of `seq_len` real tokens, padded to `seq_len`."""
    g = torch.Generator().manual_seed(args.seed)
    rows: dict[str, list] = {"input_ids": [], "token_type_ids": [], "attention_mask": [], "label": []}
    for _ in range(args.batch_size):
        length = int(torch.randint(max(3, args.seq_len // 2), args.seq_len + 1, (1,), generator=g))
        ids = torch.randint(1000, args.vocab_size, (length - 2,), generator=g).tolist()
        pad = args.seq_len - length
        rows["input_ids"].append([101] + ids + [102] + [0] * pad)
        rows["token_type_ids"].append([0] * args.seq_len)
        rows["attention_mask"].append([1] * length + [0] * pad)
        rows["label"].append(int(torch.randint(0, args.num_labels, (1,), generator=g)))
    return Dataset.from_dict(rows)


def build_variants(args: argparse.Namespace, output_dir: str) -> list[Variant]:
    base = build_model(args)
    dataset = build_dataset(args)
    training_args = TrainingArguments(
        output_dir=output_dir,
        per_device_train_batch_size=args.batch_size,
        use_cpu=args.device == "cpu",
        seed=args.seed,
        report_to="none",
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
    )
    common: dict[str, Any] = {"args": training_args, "train_dataset": dataset, "data_collator": default_data_collator}
    variants = [Variant(BASELINE, Trainer(model=copy.deepcopy(base), **common))]
    for level in dict.fromkeys(args.levels):  # each level once, in the order given
        trainer = MixTrainer(model=copy.deepcopy(base), mix_config=MixupConfig(level=level), **common)
        variants.append(Variant(level, trainer))
    for variant in variants:
        trainer = variant.trainer
        trainer.create_optimizer_and_scheduler(num_training_steps=10**6)
        trainer.current_gradient_accumulation_steps = 1  # set by Trainer's training loop, which is not run here
    return variants


def fixed_batch(trainer: Trainer, batch_size: int) -> dict[str, torch.Tensor]:
    """The first `batch_size` rows of the training set, collated by the trainer's own collator."""
    rows = [trainer.train_dataset[i] for i in range(batch_size)]
    return trainer.data_collator(rows)


# ----------------------------------------------------------------------------------------------------- one step
def train_step(trainer: Trainer, batch: dict[str, torch.Tensor]) -> None:
    """One optimizer step, as in `Trainer`'s inner loop (one micro-batch, no gradient accumulation)."""
    model = trainer.model
    trainer.training_step(model, dict(batch))
    if trainer.args.max_grad_norm:
        trainer.accelerator.clip_grad_norm_(model.parameters(), trainer.args.max_grad_norm)
    trainer.optimizer.step()
    trainer.lr_scheduler.step()
    trainer.optimizer.zero_grad(set_to_none=True)
    trainer.state.global_step += 1


def synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed_step(trainer: Trainer, batch: dict[str, torch.Tensor], device: str) -> float:
    """Seconds of wall time of one `train_step`."""
    synchronize(device)
    start = time.perf_counter()
    train_step(trainer, batch)
    synchronize(device)
    return time.perf_counter() - start


def run_round(variants: list[Variant], batch: dict[str, torch.Tensor], steps: int, device: str, first: int) -> None:
    """`steps` steps of every variant, one step of each in turn, the order rotated by one at every turn; record each
    variant's median. Python's cyclic garbage collector is paused for the round, so it cannot land in one variant."""
    times: dict[str, list[float]] = {v.name: [] for v in variants}
    gc.collect()
    gc.disable()
    try:
        for turn in range(first, first + steps):
            k = turn % len(variants)
            for variant in variants[k:] + variants[:k]:
                times[variant.name].append(timed_step(variant.trainer, batch, device))
    finally:
        gc.enable()
    for variant in variants:
        variant.round_medians.append(statistics.median(times[variant.name]))


# ------------------------------------------------------------------------------------------------------- memory
def resident_bytes(trainer: Trainer) -> int:
    """Bytes of the model's parameters and buffers and of the optimizer state (each storage counted once)."""
    tensors: list[torch.Tensor] = [*trainer.model.parameters(), *trainer.model.buffers()]
    for state in trainer.optimizer.state.values():
        tensors += [v for v in state.values() if isinstance(v, torch.Tensor)]
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    return sum(storages.values())


def cuda_step_peak(step: Callable[[], None]) -> int:
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = torch.cuda.memory_allocated()
    step()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - start


def cpu_step_peak(step: Callable[[], None]) -> int:
    """Peak of the running sum of torch's CPU allocations and frees during `step`, from the profiler's events."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    with torch.profiler.profile(activities=activities, profile_memory=True) as prof:
        step()
    events = [
        (e.start_ns(), e.nbytes())
        for e in prof.profiler.kineto_results.events()
        if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU
    ]
    if not events:
        raise RuntimeError("The profiler recorded no CPU memory events; cannot measure the peak on this build.")
    live = peak = 0
    for _, nbytes in sorted(events):
        live += nbytes
        peak = max(peak, live)
    return peak


def measure_memory(variant: Variant, batch: dict[str, torch.Tensor], steps: int, device: str) -> None:
    gc.collect()
    variant.resident = resident_bytes(variant.trainer)
    measure = cuda_step_peak if device == "cuda" else cpu_step_peak
    variant.step_peaks = [measure(lambda: train_step(variant.trainer, batch)) for _ in range(steps)]


# ------------------------------------------------------------------------------------------------------- report
def ratios(variant: Variant, baseline: Variant) -> list[float]:
    return [v / b for v, b in zip(variant.round_medians, baseline.round_medians, strict=True)]


def machine(device: str) -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    text = (
        f"{platform.machine()} {platform.system()}, {cores} usable CPU cores ({os.cpu_count()} total), "
        f"torch threads {torch.get_num_threads()}"
    )
    if device == "cuda":
        text += f", GPU {torch.cuda.get_device_name()}"
    return text


def mixed_fraction(trainer: Trainer) -> str:
    """Fraction of training rows MixTrainer really mixed (from its logging counters): proof that mixing ran."""
    stats = getattr(trainer, "_mix_stats", None)
    if stats is None or not stats[2] > 0:
        return "-"
    return f"{float(stats[1] / stats[2]):.2f}"


def report(args: argparse.Namespace, variants: list[Variant], command: str, elapsed: float) -> str:
    baseline = variants[0]
    params = sum(p.numel() for p in baseline.trainer.model.parameters()) / 1e6
    lines = [
        "## hfmix MixTrainer overhead",
        "",
        f"- command: `{command}`",
        (
            f"- versions: hfmix {hfmix.__version__}, torch {torch.__version__}, "
            f"transformers {transformers.__version__}, python {platform.python_version()}"
        ),
        f"- machine: {machine(args.device)}; device `{args.device}`",
        (
            f"- model: BertForSequenceClassification from config, hidden {args.hidden_size}, {args.layers} layers, "
            f"{args.heads} heads, vocab {args.vocab_size}, {params:.1f}M params; batch {args.batch_size} x seq "
            f"{args.seq_len}; fp32, AdamW, dropout on"
        ),
        (
            f"- timing: {args.rounds} interleaved rounds x {args.steps} steps per variant, after {args.warmup} "
            f"warm-up step(s); memory: max over {args.memory_steps} step(s); wall time {elapsed:.0f} s"
        ),
        "",
        (
            "| variant | rows mixed | step time (ms) | time ratio | per-round ratio min-max | peak memory (MiB) "
            "| memory ratio | step peak (MiB) | step peak ratio |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v in variants:
        ms = 1000 * statistics.median(v.round_medians)
        if v is baseline:
            name, time_ratio, spread = BASELINE, "1.000", "-"
        else:
            r = ratios(v, baseline)
            name, time_ratio, spread = (
                f"MixTrainer {v.name}",
                f"{statistics.median(r):.3f}",
                f"{min(r):.3f}-{max(r):.3f}",
            )
        step_peak = max(v.step_peaks)
        lines.append(
            f"| {name} | {mixed_fraction(v.trainer)} | {ms:.1f} | {time_ratio} | {spread} | {v.peak / MIB:.1f} "
            f"| {v.peak / baseline.peak:.3f} | {step_peak / MIB:.1f} | {step_peak / max(baseline.step_peaks):.3f} |"
        )
    lines += ["", f"Targets: time ratio < {TIME_TARGET}, memory ratio < {MEMORY_TARGET}."]
    for v in variants[1:]:
        time_ratio = statistics.median(ratios(v, baseline))
        memory_ratio = v.peak / baseline.peak
        lines.append(
            f"- {v.name}: time {'meets' if time_ratio < TIME_TARGET else 'MISSES'} ({time_ratio:.3f}), "
            f"memory {'meets' if memory_ratio < MEMORY_TARGET else 'MISSES'} ({memory_ratio:.3f})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    command = shlex.join(sys.orig_argv if argv is None else ["benchmarks/overhead.py", *argv])
    threads = args.threads if args.threads is not None else (1 if args.device == "cpu" else 0)
    if threads > 0:
        torch.set_num_threads(threads)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as output_dir, quiet():
        variants = build_variants(args, output_dir)
        batch = fixed_batch(variants[0].trainer, args.batch_size)
        for variant in variants:
            for _ in range(args.warmup):
                timed_step(variant.trainer, batch, args.device)
        for r in range(args.rounds):
            run_round(variants, batch, args.steps, args.device, first=r * args.steps)
            summary = ", ".join(f"{v.name} {1000 * v.round_medians[-1]:.0f}" for v in variants)
            print(f"round {r + 1}/{args.rounds}: median step ms: {summary}", file=sys.stderr, flush=True)
        for variant in variants:
            measure_memory(variant, batch, args.memory_steps, args.device)
    print(report(args, variants, command, time.perf_counter() - started))


if __name__ == "__main__":
    main()
