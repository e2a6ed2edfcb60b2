"""Collate throughput of `MixDataCollator` (waveform mixup and FMix, soft labels) against torch-audiomentations `Mix`.

What it measures
    Clips per second of turning a list of 32 examples (`input_values`: a float32 16 kHz waveform, `label`: one of 10
    classes) into a mixed training batch on one CPU thread, for clips of 1, 2, 5 and 10 s and for a batch of mixed
    lengths drawn uniformly from 1-10 s (padded to the longest). Every method starts from the same example lists and
    the same padding collator (`DataCollatorWithPadding(Wav2Vec2FeatureExtractor)`, which pads the waveforms and
    builds the attention mask), so the numbers are pad + mix + targets:

    * `pad only`           - the padding collator alone (the floor);
    * `hfmix mixup`        - `MixDataCollator(pad, MixupConfig(level="inputs"), soft_labels=True, num_labels=10)`:
                             λ ~ Beta(0.4, 0.4), a random permutation as partners, padding never mixed in, the
                             attention mask widened to the union, λ corrected for the mixed length (the default
                             `lambda_correction="length"`), and (B, 10) soft targets;
    * `hfmix mixup, λ raw`  - the same with `lambda_correction="none"`: targets from the drawn λ, uncorrected for
                             unequal lengths (what the AST recipe does), to show what the correction costs;
    * `hfmix mixup @SNR`   - the same with `snr_db=[0, 5]`: the partner mixed at 0-5 dB below the clip, as
                             torch-audiomentations `Mix` does (soft targets by the energy share);
    * `hfmix FMix`         - `MixDataCollator(pad, FMixConfig(level="inputs"), soft_labels=True, num_labels=10)`: one
                             low-frequency Fourier mask (decay power 3) per row over the waveform samples;
    * `t-a Mix`            - torch-audiomentations `Mix(min_snr_in_db=0, max_snr_in_db=5, mix_target="union",
                             p=1.0, output_type="dict")` on the padded (B, 1, T) batch with one-hot (B, 1, 1, 10)
                             targets, after the same padding collator. Its partners are drawn with replacement (a
                             clip can be mixed with itself), it mixes padding in, and its targets are the union
                             (element-wise max) of both one-hot labels, not soft labels.

    The methods are timed interleaved (in turn, order alternating every repetition) on the same batches, after a
    warm-up; the table gives the median over repetitions as clips per second (32 / seconds per batch) and the
    ratios hfmix / torch-audiomentations (> 1: hfmix is faster).

Environment (torch-audiomentations needs torchaudio, which pairs only with some torch releases; the project's own
.venv has torch 2.13, for which no torchaudio is published, so this benchmark has a venv of its own):

    python3 -m venv /tmp/audio-bench-venv
    /tmp/audio-bench-venv/bin/pip install --upgrade pip
    /tmp/audio-bench-venv/bin/pip install torch==2.9.1 'torchaudio==2.9.*' torch-audiomentations
    /tmp/audio-bench-venv/bin/pip install transformers==5.24.0 datasets==5.2.0 accelerate==1.15.0 numpy packaging
    /tmp/audio-bench-venv/bin/pip install --no-deps -e /work/main      # hfmix from this checkout
    nice -n 10 /tmp/audio-bench-venv/bin/python benchmarks/audio_collate.py

(On x86_64 PyPI's torch 2.9.1 is the CUDA build, several GB; the benchmark runs on the CPU.) The versions used are
printed with the table. `--quick` is a smoke run of a few seconds.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import numpy as np
import torch
import transformers
from harness.machine import describe_machine
from harness.timing import interleaved_medians
from transformers import DataCollatorWithPadding, Wav2Vec2FeatureExtractor

import hfmix
from hfmix import FMixConfig, MixDataCollator, MixupConfig


SAMPLE_RATE = 16_000
NUM_LABELS = 10


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=float, nargs="+", default=[1, 2, 5, 10], help="Clip lengths in seconds.")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--reps", type=int, default=30, help="Interleaved repetitions per length.")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batches", type=int, default=4, help="Different batches per length, used in turn.")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads.")
    parser.add_argument("--quick", action="store_true", help="Smoke run: 1 s and 2 s clips, 3 repetitions.")
    args = parser.parse_args(argv)
    if args.quick:
        args.lengths, args.reps, args.warmup, args.batches = [1, 2], 3, 1, 2
    return args


def make_examples(lengths_s: list[float], seed: int) -> list[dict[str, Any]]:
    """One example per length: a noisy harmonic tone (the content does not matter for the timing)."""
    rng = np.random.default_rng(seed)
    examples = []
    for i, seconds in enumerate(lengths_s):
        t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
        wave = np.sin(2 * np.pi * rng.uniform(100, 1000) * t) + 0.1 * rng.standard_normal(len(t))
        examples.append({"input_values": (rng.uniform(0.1, 1) * wave).astype(np.float32), "label": i % NUM_LABELS})
    return examples


def batches_for(length: float | None, args: argparse.Namespace) -> list[list[dict[str, Any]]]:
    rng = np.random.default_rng(int(1000 * (length or 0)))
    out = []
    for b in range(args.batches):
        if length is None:  # mixed lengths, 1-10 s
            lengths = list(rng.uniform(1, 10, args.batch_size))
        else:
            lengths = [length] * args.batch_size
        out.append(make_examples(lengths, seed=b))
    return out


def methods(seed: int = 0) -> dict[str, Callable[[list[dict[str, Any]]], Any]]:
    from torch_audiomentations.augmentations.mix import Mix  # not exported at the top level in 0.12.0

    extractor = Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=SAMPLE_RATE, do_normalize=False, return_attention_mask=True
    )
    pad = DataCollatorWithPadding(extractor, return_tensors="pt")
    soft = {"soft_labels": True, "num_labels": NUM_LABELS, "seed": seed}
    mixup = MixDataCollator(pad, MixupConfig(level="inputs"), **soft)
    mixup_raw = MixDataCollator(pad, MixupConfig(level="inputs", lambda_correction="none"), **soft)
    mixup_snr = MixDataCollator(pad, MixupConfig(level="inputs", snr_db=[0.0, 5.0]), **soft)
    fmix = MixDataCollator(pad, FMixConfig(level="inputs"), **soft)
    mix = Mix(min_snr_in_db=0.0, max_snr_in_db=5.0, mix_target="union", p=1.0, output_type="dict")
    eye = torch.eye(NUM_LABELS)

    def audiomentations_mix(features: list[dict[str, Any]]) -> dict[str, Any]:
        batch = pad(features)
        targets = eye[batch["labels"]][:, None, None, :]  # (B, channels, frames, classes), one-hot
        out = mix(batch["input_values"][:, None, :], sample_rate=SAMPLE_RATE, targets=targets)
        return {
            "input_values": out.samples[:, 0],
            "attention_mask": batch["attention_mask"],
            "labels": out.targets[:, 0, 0],
        }

    return {
        "pad only": pad,
        "hfmix mixup": mixup,
        "hfmix mixup, λ raw": mixup_raw,
        "hfmix mixup @SNR": mixup_snr,
        "hfmix FMix": fmix,
        "t-a Mix": audiomentations_mix,
    }


def check(functions: dict[str, Callable], batch: list[dict[str, Any]]) -> None:
    """Every mixing method returns (B, T) waveforms and (B, 10) targets; hfmix's are soft (rows sum to 1)."""
    for name, function in functions.items():
        if name == "pad only":
            continue
        out = function(batch)
        assert out["input_values"].shape[0] == len(batch) and out["labels"].shape == (len(batch), NUM_LABELS), name
        if name.startswith("hfmix"):
            assert torch.allclose(out["labels"].sum(-1), torch.ones(len(batch))), name


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    try:
        import torch_audiomentations  # noqa: F401
        import torchaudio
    except ImportError as error:
        sys.exit(
            f"benchmarks/audio_collate.py needs torchaudio and torch-audiomentations ({error}); see its docstring."
        )
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    functions = methods()
    rows = []
    for length in [*args.lengths, None]:
        batches = batches_for(length, args)
        check(functions, batches[0])
        seconds = interleaved_medians(functions, args.reps, args.warmup, inputs=batches)
        rate = {name: args.batch_size / s for name, s in seconds.items()}
        label = "1-10 s mixed" if length is None else f"{length:g} s"
        rows.append((label, rate))
        print(f"  {label:>12}: " + "  ".join(f"{n} {r:,.0f}/s" for n, r in rate.items()), flush=True)

    lines = [
        "",
        f"# Collate throughput: hfmix MixDataCollator vs torch-audiomentations Mix (hfmix {hfmix.__version__})",
        "",
        f"command: `{' '.join([sys.executable, *sys.argv])}`",
        f"machine: {describe_machine()}; {torch.get_num_threads()} torch thread(s)",
        f"versions: python {platform.python_version()}, torch {torch.__version__}, torchaudio {torchaudio.__version__}, "
        f"torch-audiomentations {version('torch-audiomentations')}, transformers {transformers.__version__}, "
        f"numpy {np.__version__}",
        f"batch {args.batch_size} clips at 16 kHz, 10 classes; median of {args.reps} interleaved repetitions over "
        f"{args.batches} batches per length, after {args.warmup} warm-up rounds; clips per second (higher is better)",
        "",
        "| clip length | pad only | hfmix mixup (soft) | hfmix mixup, λ raw (soft) | hfmix mixup @SNR (soft) | "
        "hfmix FMix (soft) | "
        "t-a Mix (union) | mixup / t-a | mixup@SNR / t-a | FMix / t-a |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r in rows:
        ta = r["t-a Mix"]
        lines.append(
            f"| {label} | {r['pad only']:,.0f} | {r['hfmix mixup']:,.0f} | {r['hfmix mixup, λ raw']:,.0f} | "
            f"{r['hfmix mixup @SNR']:,.0f} | "
            f"{r['hfmix FMix']:,.0f} | {ta:,.0f} | {r['hfmix mixup'] / ta:.2f}× | {r['hfmix mixup @SNR'] / ta:.2f}× | "
            f"{r['hfmix FMix'] / ta:.2f}× |"
        )
    lines += ["", f"total time: {time.perf_counter() - started:.0f} s"]
    report = "\n".join(lines)
    print(report, flush=True)
    return report


if __name__ == "__main__":
    main()
