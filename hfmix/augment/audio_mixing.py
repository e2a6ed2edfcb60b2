"""Offline audio mixup for `datasets.Dataset.map(batched=True, with_indices=True)`, for any labelled audio dataset.

`AudioMixup` keeps every row and adds mixed rows after it: each mixed row is a clip mixed with a partner from the
same batch (a random other row, or one chosen by a function of yours), at λ ~ Beta(α, α) or at a signal-to-noise
ratio drawn from a range, optionally after RMS loudness normalisation. Clips of different lengths are mixed over
their overlap only (the longer clip's tail stays as it is; padding is never mixed in) and the target weight λ̃ is
corrected for what was really mixed, by length or energy (`hfmix.signal_mixing`). Labels follow λ̃: class ids
become soft labels, multi-label targets are interpolated or united, regression targets interpolated.

Reading audio. datasets 5 decodes `Audio` columns only through torchcodec, which is often absent (and cannot be
installed with the CPU torch wheel). Each value of the audio column may be:

* a decoded clip: a dict (or torchcodec decoder) with "array" and "sampling_rate", as `Audio()` yields when
  torchcodec works;
* undecoded audio, as `Audio(decode=False)` yields: a dict with "bytes" (used when not None) and "path";
* a file path (str or `os.PathLike`), or raw file bytes;
* a plain float array/list, taken to be at `sampling_rate` already.

Files and bytes are decoded with soundfile; multi-channel audio is averaged to mono (as datasets does); clips at
another rate are resampled with librosa (`resample=True`), or rejected with a `ValueError` that names both rates.

Output columns (choose the names in the constructor):

* the audio: float32 arrays at `sampling_rate`, written into the audio column itself (the default; datasets cannot
  encode `{"array", "sampling_rate"}` back into an `Audio` column without torchcodec, so every row gets a plain
  array), or into `output_column`, in which case the source column is kept and is None in the mixed rows;
* labels: class ids stay in the label column (a mixed row takes the id of the clip with the larger weight, so the
  `ClassLabel` feature survives) and `soft_label` holds float lists of `num_classes` for every row, one-hot for the
  original rows (so the column has one type); set `soft_label_column=label_column` to put the soft labels into the
  label column instead. Multi-label and regression targets are written back into the label column as floats;
* `augmented` (bool), `source_index` (dataset index of the row a row comes from), `partner_index` (dataset index of
  the partner, -1 for original rows) and `mix_lambda` (λ̃, the target weight of the own clip; 1.0 for originals).

Determinism. The randomness of each new row (its partner, whether it is made, λ or the SNR) comes from a generator
seeded with (seed, row index, copy number), the index being the one `map(..., with_indices=True)` passes. Partners
come from the same batch, so the output depends on which rows share a batch: with `num_proc=k`, datasets cuts the
dataset into k contiguous shards and batches each from its start, so `num_proc=k` equals `num_proc=1` whenever
`batch_size` divides the shard lengths (e.g. the dataset length is a multiple of k · batch_size).
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch

from hfmix.mixers.mixup import mixup
from hfmix.sampling import MixPlan, make_generator, plan_seed, sample_lambda
from hfmix.signal_mixing import LambdaCorrection, corrected_lambda, rms_normalize, snr_lambda
from hfmix.targets import mix_targets


LabelType = Literal["class", "multi_label", "regression"]
Pairing = Literal["random"] | Callable[[dict[str, list], list[int]], Sequence[int | None]]
_NONE_INDEX = -1


def load_audio(
    value: Any,
    sampling_rate: int,
    *,
    resample: bool = True,
    where: str = "",
) -> np.ndarray:
    """One clip as a mono float32 waveform at `sampling_rate` (see the module docstring for accepted values).

    `where` names the clip in error messages (e.g. "row 3"). Raises `ValueError` when the clip's rate differs from
    `sampling_rate` and `resample` is False, and when a value cannot be read.
    """
    where = f" ({where})" if where else ""
    rate = sampling_rate
    if hasattr(value, "get_all_samples") or (isinstance(value, Mapping) and value.get("array") is not None):
        array = np.asarray(value["array"], dtype=np.float32)  # decoded clip (dict or torchcodec AudioDecoder)
        rate = (value.get("sampling_rate") if isinstance(value, Mapping) else value["sampling_rate"]) or sampling_rate
        if array.ndim == 2:  # (channels, time), as librosa and torchcodec lay it out
            array = array.mean(0)
    elif isinstance(value, Mapping) and (value.get("bytes") is not None or value.get("path") is not None):
        array, rate = _read_file(value["bytes"] if value.get("bytes") is not None else value["path"], where)
    elif isinstance(value, (str, os.PathLike, bytes, bytearray)):
        array, rate = _read_file(value, where)
    elif isinstance(value, (np.ndarray, list, tuple, torch.Tensor)):
        array = np.asarray(value, dtype=np.float32)
    else:
        raise ValueError(
            f"Cannot read audio{where} from a {type(value).__name__}: expected a dict with 'array' and "
            "'sampling_rate', a dict with 'bytes'/'path' (Audio(decode=False)), a file path, bytes or a float array."
        )
    if array.ndim != 1:
        raise ValueError(f"Audio{where} must be 1-D (time) or 2-D (channels, time), got shape {array.shape}.")
    rate = int(rate)
    if rate != sampling_rate:
        if not resample:
            raise ValueError(
                f"Audio{where} has sampling rate {rate} Hz but sampling_rate={sampling_rate} Hz and resample=False: "
                f"pass resample=True (librosa resamples to {sampling_rate} Hz), or sampling_rate={rate} if all "
                "clips share that rate."
            )
        import librosa

        array = librosa.resample(array, orig_sr=rate, target_sr=sampling_rate).astype(np.float32)
    return array


def _read_file(source: Any, where: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    try:
        data, rate = sf.read(
            io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source, dtype="float32", always_2d=True
        )
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        name = "bytes" if isinstance(source, (bytes, bytearray)) else repr(os.fspath(source))
        raise ValueError(f"soundfile cannot read the audio{where} from {name}: {error}") from error
    return data.mean(1), int(rate)


def mix_clips(
    own: np.ndarray,
    partner: np.ndarray,
    lam: float,
    *,
    offset: int = 0,
    snr_db: float | None = None,
    lambda_correction: LambdaCorrection = "length",
    loudness_normalization: bool = False,
    length: Literal["longest", "own"] = "longest",
) -> tuple[np.ndarray, float]:
    """Mix `partner` into `own` over their overlap; return the mixed clip and λ̃, the own clip's target weight.

    Args:
        own, partner: 1-D waveforms at the same rate, of any lengths.
        lam: the interpolation weight of `own` where both clips are present (ignored when `snr_db` is given).
        offset: where the partner starts on the own clip's time axis, in samples; a negative offset drops the
            partner's first -offset samples (used to align beats).
        snr_db: mix at this signal-to-noise ratio (own over partner, over the overlap) instead of at `lam`;
            λ̃ then follows the energy share.
        lambda_correction: λ̃ by "length", "energy" or the drawn λ ("none"); see `hfmix.signal_mixing`.
        loudness_normalization: scale both clips to unit RMS before mixing; the mix is then scaled back to the own
            clip's RMS, so mixed rows are as loud as the rows they come from.
        length: the mixed clip spans both clips ("longest": the longer tail is kept unmixed) or only the own clip
            ("own": the partner is cut to it, as the AST recipe does).
    Returns: (float32 waveform, λ̃ as a float).
    """
    if offset < 0:
        partner, offset = partner[-offset:], 0
    own_t, partner_t = torch.as_tensor(own, dtype=torch.float32), torch.as_tensor(partner, dtype=torch.float32)
    total = len(own_t) if length == "own" else max(len(own_t), offset + len(partner_t))
    used = max(0, min(len(partner_t), total - offset))
    x = torch.zeros(2, total)
    valid = torch.zeros(2, total, dtype=torch.bool)
    x[0, : len(own_t)], valid[0, : len(own_t)] = own_t, True
    x[1, offset : offset + used], valid[1, offset : offset + used] = partner_t[:used], True
    own_rms = None
    if loudness_normalization:
        own_rms = own_t.pow(2).mean().sqrt() if len(own_t) else torch.tensor(0.0)
        x = rms_normalize(x, valid)
    index = torch.tensor([1, 0])
    weights = torch.tensor([float(lam), 1 - float(lam)])
    if snr_db is not None:
        snr = torch.tensor([float(snr_db), -float(snr_db)])
        weights = snr_lambda(x, index, snr, valid, torch.ones(2, dtype=torch.bool))
        weights = torch.stack([weights[0], 1 - weights[0]])
        lambda_correction = "energy"
    target = corrected_lambda(x, index, weights, valid, lambda_correction)[0]
    mixed = mixup(x, index, weights, mask=valid)[0]
    if own_rms is not None and own_rms > 0:
        mixed = mixed * own_rms
    return mixed.numpy().astype(np.float32, copy=False), float(target)


class AudioMixup:
    """Audio mixup as a picklable callable for `Dataset.map(fn, batched=True, with_indices=True)`.

    Keeps the original rows (unless `keep_original=False`) and adds up to `num_mix` mixed rows after each, with
    soft / mixed labels and columns recording the partner and λ (module docstring).

    Args:
        audio_column: the column holding the audio (decoded dicts, `Audio(decode=False)` dicts, paths, bytes or
            float arrays).
        label_column: the targets, or None for unlabelled data. `label_type` says what they are: "class" (int
            ids; needs `num_classes`), "multi_label" (0/1 lists of length num_classes) or "regression" (a float or
            a list of floats per row).
        num_classes: the number of classes, for class labels (e.g. `ds.features["label"].num_classes`).
        sampling_rate: the rate of the output audio; clips at other rates are resampled when `resample` is True
            and rejected with a `ValueError` otherwise.
        alpha: λ ~ Beta(alpha, alpha), the weight of the own clip over the overlap.
        snr_db: `(low, high)` in dB: mix the partner at an SNR drawn uniformly from the range instead of at Beta-λ
            (then λ̃ is the energy share).
        num_mix: mixed rows per row (each with its own partner draw and λ); `prob`: probability that each is made.
        pairing: "random" (a uniformly drawn other row of the batch) or a function `(batch, positions) -> list`
            giving each row's partner as a position in the batch, or None for no mixed row.
        lambda_correction: "length" (default), "energy" or "none" (the drawn λ); see `hfmix.signal_mixing`.
        loudness_normalization: normalise both clips to unit RMS before mixing (the mix keeps the own clip's RMS).
        length: "longest" (the mixed clip spans both clips) or "own" (the partner is cut to the own clip).
        multi_label: "interpolate" (λ̃·y_i + (1 − λ̃)·y_j) or "union" (max(y_i, y_j)) for multi-label targets.
        output_column: None writes float32 arrays into `audio_column`; a name writes them there and keeps the
            source column (None in mixed rows).
        soft_label_column: where class labels' soft labels go (every row, one-hot for originals); None for none,
            `label_column` to replace the ids.
        keep_original: keep the original rows. `False` with `num_mix=1` returns one row per row (mixed when it has
            a partner), which is what `Dataset.with_transform` needs.
        seed: with the row index, seeds each new row's generator.

    On the fly: `train.with_transform(AudioMixup(..., keep_original=False))` mixes each DataLoader batch afresh at
    every access (rows are seeded from seed, `torch.initial_seed()` and a call counter, as `hfmix.augment.EDA`);
    give the Trainer `TrainingArguments(remove_unused_columns=False)`.
    """

    def __init__(
        self,
        *,
        audio_column: str = "audio",
        label_column: str | None = "label",
        label_type: LabelType = "class",
        num_classes: int | None = None,
        sampling_rate: int = 16000,
        resample: bool = True,
        alpha: float = 0.4,
        snr_db: tuple[float, float] | None = None,
        num_mix: int = 1,
        prob: float = 1.0,
        pairing: Pairing = "random",
        lambda_correction: LambdaCorrection = "length",
        loudness_normalization: bool = False,
        length: Literal["longest", "own"] = "longest",
        multi_label: Literal["interpolate", "union"] = "interpolate",
        output_column: str | None = None,
        soft_label_column: str | None = "soft_label",
        keep_original: bool = True,
        seed: int = 0,
        marker_column: str = "augmented",
        source_column: str = "source_index",
        partner_column: str = "partner_index",
        lambda_column: str = "mix_lambda",
    ):
        _check_options(
            label_column, label_type, num_classes, alpha, snr_db, num_mix, prob, pairing, lambda_correction, length,
            multi_label, sampling_rate,
        )  # fmt: skip
        self.audio_column, self.label_column, self.label_type = audio_column, label_column, label_type
        self.num_classes, self.sampling_rate, self.resample = num_classes, sampling_rate, bool(resample)
        self.alpha, self.snr_db, self.num_mix, self.prob = float(alpha), snr_db, num_mix, float(prob)
        self.pairing, self.lambda_correction = pairing, lambda_correction
        self.loudness_normalization, self.length, self.multi_label = bool(loudness_normalization), length, multi_label
        self.output_column = output_column or audio_column
        self.soft_label_column = soft_label_column if label_type == "class" and label_column is not None else None
        self.keep_original, self.seed = bool(keep_original), int(seed)
        self.marker_column, self.source_column = marker_column, source_column
        self.partner_column, self.lambda_column = partner_column, lambda_column
        self._calls = 0

    # --- hooks that `BeatSyncMixup` overrides -----------------------------------------------------------------
    def _analyze(self, signals: list[np.ndarray]) -> Any:
        """Per-batch analysis the pairing and alignment need (none here)."""
        return None

    def _candidates(self, batch: dict[str, list], positions: list[int], signals: list[np.ndarray], info: Any):
        """For each row, the batch positions it may be mixed with."""
        n = len(signals)
        if self.pairing == "random":
            return [_Others(n, i) for i in range(n)]
        chosen = list(self.pairing(batch, positions))
        if len(chosen) != n:
            raise ValueError(f"pairing returned {len(chosen)} partners for a batch of {n} rows.")
        for p in chosen:
            if p is not None and not 0 <= p < n:
                raise ValueError(f"pairing returned partner position {p}, outside the batch of {n} rows.")
        return [[] if p is None else [int(p)] for p in chosen]

    def _offset(self, own: int, partner: int, info: Any) -> int:
        """Where the partner starts on the own clip's time axis, in samples."""
        return 0

    # --- rows -------------------------------------------------------------------------------------------------
    def __call__(
        self, batch: dict[str, list], indices: list[int] | None = None, rank: int | None = None
    ) -> dict[str, list]:
        """`rank` (from `with_rank=True`) is accepted and ignored."""
        if isinstance(indices, int):  # map(with_rank=True) without with_indices passes the rank second
            indices = None
        if self.audio_column not in batch:
            raise ValueError(f"audio_column {self.audio_column!r} is not in the batch; its columns are {list(batch)}.")
        if self.label_column is not None and self.label_column not in batch:
            raise ValueError(
                f"label_column {self.label_column!r} is not in the batch; its columns are {list(batch)}. "
                "Pass label_column=None for unlabelled audio."
            )
        n = len(batch[self.audio_column])
        if indices is None:  # with_transform: no dataset index; fresh draws at every call
            self._calls += 1
            seeds = [plan_seed(self.seed, torch.initial_seed(), self._calls, i) for i in range(n)]
            indices = [_NONE_INDEX] * n
        else:
            if len(indices) != n:
                raise ValueError(f"Got {len(indices)} indices for a batch of {n} rows.")
            seeds = [plan_seed(self.seed, i) for i in indices]
        signals = [
            load_audio(v, self.sampling_rate, resample=self.resample, where=f"row {i}" if i >= 0 else f"position {p}")
            for p, (v, i) in enumerate(zip(batch[self.audio_column], indices, strict=True))
        ]
        info = self._analyze(signals)
        candidates = self._candidates(batch, list(range(n)), signals, info)

        rows: list[tuple[int, int | None, np.ndarray, float]] = []  # (own position, partner position, audio, λ̃)
        for i in range(n):
            mixed_rows = []
            for copy in range(self.num_mix):
                generator = make_generator(seeds[i], copy)
                options = candidates[i]
                j = options[int(torch.randint(len(options), (1,), generator=generator))] if options else None
                made = float(torch.rand(1, generator=generator)) < self.prob
                if self.snr_db is None:
                    lam, snr = float(sample_lambda(self.alpha, 1, generator=generator)[0]), None
                else:
                    low, high = self.snr_db
                    lam, snr = 1.0, low + (high - low) * float(torch.rand(1, generator=generator))
                if j is None or not made:
                    continue
                audio, target = mix_clips(
                    signals[i],
                    signals[j],
                    lam,
                    offset=self._offset(i, j, info),
                    snr_db=snr,
                    lambda_correction=self.lambda_correction,
                    loudness_normalization=self.loudness_normalization,
                    length=self.length,
                )
                mixed_rows.append((i, j, audio, target))
            if self.keep_original or not mixed_rows:
                rows.append((i, None, signals[i], 1.0))
            rows.extend(mixed_rows)
        return self._assemble(batch, indices, rows)

    def _assemble(
        self, batch: dict[str, list], indices: list[int], rows: list[tuple[int, int | None, np.ndarray, float]]
    ) -> dict[str, list]:
        special = {self.marker_column, self.source_column, self.partner_column, self.lambda_column}
        special |= {self.output_column, self.audio_column}
        if self.label_column is not None:
            special |= {self.label_column} | ({self.soft_label_column} - {None})
        chained = self.marker_column in batch and self.source_column in batch
        markers = batch[self.marker_column] if chained else [False] * len(indices)
        sources = batch[self.source_column] if chained else list(indices)
        out = {k: [v[r[0]] for r in rows] for k, v in batch.items() if k not in special}
        if self.output_column != self.audio_column:
            out[self.audio_column] = [batch[self.audio_column][r[0]] if r[1] is None else None for r in rows]
        out[self.output_column] = [r[2] for r in rows]
        if self.label_column is not None:
            out.update(self._labels(batch[self.label_column], rows))
        out[self.marker_column] = [bool(markers[r[0]]) if r[1] is None else True for r in rows]
        out[self.source_column] = [sources[r[0]] for r in rows]
        out[self.partner_column] = [_NONE_INDEX if r[1] is None else indices[r[1]] for r in rows]
        out[self.lambda_column] = [float(r[3]) for r in rows]
        return out

    def _labels(self, labels: list, rows: list[tuple[int, int | None, np.ndarray, float]]) -> dict[str, list]:
        """Targets of every output row, through `hfmix.targets.mix_targets` (own rows, then partner rows)."""
        own = [r[0] for r in rows]
        partner = [r[0] if r[1] is None else r[1] for r in rows]
        lam = torch.tensor([r[3] for r in rows], dtype=torch.float32)
        m = len(rows)
        if self.label_type == "class":
            values = torch.as_tensor(labels)
            if values.is_floating_point() or values.dim() != 1:
                raise ValueError(
                    f"label_type='class' needs one integer class id per row in {self.label_column!r}, got "
                    f"{values.dtype} values of shape {tuple(values.shape)}; use label_type='multi_label' or "
                    "'regression' for other targets."
                )
            bad = values[(values < 0) | (values >= self.num_classes)]
            if len(bad):
                raise ValueError(
                    f"Class label {int(bad[0])} is out of range for num_classes={self.num_classes} (valid: 0.."
                    f"{self.num_classes - 1}); unlabelled rows (-1) cannot be mixed."
                )
        else:
            values = torch.as_tensor(np.asarray(labels, dtype=np.float32))
            if self.label_type == "multi_label" and (values.dim() != 2 or values.shape[1] != self.num_classes):
                raise ValueError(
                    f"label_type='multi_label' needs a 0/1 list of num_classes={self.num_classes} per row in "
                    f"{self.label_column!r}, got shape {tuple(values.shape)}."
                )
        stacked = torch.cat([values[own], values[partner]])
        plan = MixPlan(torch.cat([torch.arange(m, 2 * m), torch.arange(m)]), torch.cat([lam, torch.ones(m)]))
        union = self.label_type == "multi_label" and self.multi_label == "union"
        mixed = mix_targets(stacked, plan, num_classes=self.num_classes, union=union)[:m]
        if self.label_type != "class":  # original rows keep their values exactly (no float32 round trip)
            kept = [_as_float(labels[r[0]]) if r[1] is None else v for r, v in zip(rows, mixed.tolist(), strict=True)]
            return {self.label_column: kept}
        out = {}
        if self.soft_label_column is not None:
            out[self.soft_label_column] = mixed.tolist()
        if self.soft_label_column != self.label_column:  # the id of the clip with the larger weight
            dominant = torch.where(lam >= 0.5, values[own], values[partner])
            out[self.label_column] = dominant.tolist()
        return out

    def __repr__(self) -> str:
        how = f"snr_db={self.snr_db}" if self.snr_db is not None else f"alpha={self.alpha}"
        return (
            f"{type(self).__name__}({how}, num_mix={self.num_mix}, prob={self.prob}, "
            f"sampling_rate={self.sampling_rate}, lambda_correction={self.lambda_correction!r}, seed={self.seed})"
        )


def _as_float(value: Any) -> float | list[float]:
    return [float(v) for v in value] if isinstance(value, (list, tuple, np.ndarray)) else float(value)


class _Others(Sequence):
    """The batch positions 0..n-1 except `own`, without building the list."""

    def __init__(self, n: int, own: int):
        self.n, self.own = n, own

    def __len__(self) -> int:
        return max(0, self.n - 1)

    def __getitem__(self, k):
        if not 0 <= k < len(self):
            raise IndexError(k)
        return k + (k >= self.own)


def _check_options(
    label_column, label_type, num_classes, alpha, snr_db, num_mix, prob, pairing, lambda_correction, length,
    multi_label, sampling_rate,
) -> None:  # fmt: skip
    """`AudioMixup`'s options, each refused with a `ValueError` naming it."""
    if label_type not in ("class", "multi_label", "regression"):
        raise ValueError(f"label_type must be 'class', 'multi_label' or 'regression', got {label_type!r}.")
    if label_column is not None and label_type in ("class", "multi_label"):
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(
                f"label_type={label_type!r} needs num_classes (an int >= 1), got {num_classes!r}; e.g. "
                "num_classes=ds.features['label'].num_classes."
            )
    if not (math.isfinite(alpha) and 0 < alpha <= 1000):
        raise ValueError(f"alpha must be finite, in (0, 1000], got {alpha}.")
    if snr_db is not None and (len(snr_db) != 2 or snr_db[0] > snr_db[1] or not all(map(math.isfinite, snr_db))):
        raise ValueError(f"snr_db must be (low, high) in finite dB with low <= high, got {snr_db!r}.")
    if isinstance(num_mix, bool) or not isinstance(num_mix, int) or num_mix < 1:
        raise ValueError(f"num_mix must be an integer >= 1, got {num_mix!r}.")
    if not 0 <= prob <= 1:
        raise ValueError(f"prob must be in [0, 1], got {prob}.")
    if pairing != "random" and not callable(pairing):
        raise ValueError(f"pairing must be 'random' or a function (batch, positions) -> partners, got {pairing!r}.")
    if lambda_correction not in ("none", "length", "energy"):
        raise ValueError(f"lambda_correction must be 'none', 'length' or 'energy', got {lambda_correction!r}.")
    if length not in ("longest", "own"):
        raise ValueError(f"length must be 'longest' or 'own', got {length!r}.")
    if multi_label not in ("interpolate", "union"):
        raise ValueError(f"multi_label must be 'interpolate' or 'union', got {multi_label!r}.")
    if isinstance(sampling_rate, bool) or not isinstance(sampling_rate, int) or sampling_rate < 1:
        raise ValueError(f"sampling_rate must be a positive int (Hz), got {sampling_rate!r}.")
