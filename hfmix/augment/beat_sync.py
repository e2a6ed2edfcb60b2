"""Beat-synchronous mixup (MusicLDM): mix music clips of similar tempo, aligned at their first beat.

Chen et al., "MusicLDM: Enhancing Novelty in Text-to-Music Generation Using Beat-Synchronous Mixup Strategies",
ICASSP 2024, https://huggingface.co/papers/2308.01546.

Steps, for each clip of a batch:

1. tempo and beats from librosa (`librosa.beat.beat_track` on the onset-strength envelope). librosa's tracker
   drops weak beats at the start (`trim=True`); the beat grid is extended backwards over onset peaks one beat
   period apart, so a clip's first beat is its first real beat, not the second or third;
2. partners: the other clips of the batch whose tempo is within `tolerance` (relative, 5% by default) of the
   clip's; one is drawn at random. A clip with no such partner gets no mixed row (it is left unpaired);
3. alignment: the partner is shifted so that its first beat falls on the clip's first beat (its head is cut when
   its first beat is later, it starts later when it is earlier). MusicLDM aligns at the first *downbeat* from a
   beat transformer; librosa estimates no downbeats, so the first beat stands in for it;
4. mixing at λ ~ Beta(α, α) over the overlap, λ̃ corrected for what was mixed (as `AudioMixup`).

Offline: `BeatSyncMixup` is `AudioMixup` with tempo pairing and beat alignment, for
`Dataset.map(fn, batched=True, with_indices=True)` (same columns: soft labels, `partner_index`, `mix_lambda`,
`augmented`). On the fly: `beat_sync_mix(arrays, sampling_rate, generator=...)` mixes a list of waveforms in a
collator and returns the mixed waveforms and a `MixPlan` for `hfmix.targets.mix_targets`; or
`ds.with_transform(BeatSyncMixup(..., keep_original=False))`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from hfmix.augment.audio_mixing import AudioMixup, mix_clips
from hfmix.sampling import MixPlan, sample_lambda
from hfmix.signal_mixing import LambdaCorrection


CITATION = """\
@inproceedings{chen2024musicldm,
  title={MusicLDM: Enhancing Novelty in Text-to-Music Generation Using Beat-Synchronous Mixup Strategies},
  author={Chen, Ke and Wu, Yusong and Liu, Haohe and Nezhurina, Marianna and Berg-Kirkpatrick, Taylor and
          Dubnov, Shlomo},
  booktitle={IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP)},
  year={2024}
}"""


@dataclass(frozen=True)
class Beats:
    """A clip's tempo (BPM; 0.0 when none was found) and beat times (seconds, ascending)."""

    tempo: float
    times: np.ndarray

    @property
    def first(self) -> float | None:
        return float(self.times[0]) if len(self.times) else None


def estimate_beats(y: np.ndarray, sampling_rate: int, *, hop_length: int = 512) -> Beats:
    """Tempo and beat times of a mono waveform with librosa, the first beat recovered when the tracker trims it.

    Backward extension: from the first tracked beat, step back one beat period (the median interval) at a time
    and keep the strongest onset within ±1/8 period as a beat while it is at least half the median onset
    strength at the tracked beats.
    """
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if len(y) < 2 * hop_length or not np.any(y):
        return Beats(0.0, np.zeros(0))
    envelope = librosa.onset.onset_strength(y=y, sr=sampling_rate, hop_length=hop_length)
    tempo, frames = librosa.beat.beat_track(onset_envelope=envelope, sr=sampling_rate, hop_length=hop_length)
    tempo = float(np.atleast_1d(tempo)[0])
    frames = [int(f) for f in np.atleast_1d(frames)]
    if len(frames) >= 2:
        period = float(np.median(np.diff(frames)))
        threshold = 0.5 * float(np.median(envelope[frames]))
        window = max(1, int(round(period / 8)))
        while True:
            center = int(round(frames[0] - period))
            low, high = max(0, center - window), min(len(envelope), center + window + 1)
            if center < 0 or high <= low or high > frames[0]:
                break
            peak = low + int(np.argmax(envelope[low:high]))
            if envelope[peak] < threshold or peak >= frames[0]:
                break
            frames.insert(0, peak)
    times = librosa.frames_to_time(np.asarray(frames, dtype=int), sr=sampling_rate, hop_length=hop_length)
    return Beats(tempo, np.asarray(times, dtype=np.float64))


def tempo_candidates(tempos: list[float], tolerance: float = 0.05) -> list[list[int]]:
    """For each clip, the other clips whose tempo is within `tolerance` of its own: |t_j − t_i| <= tolerance·t_i.

    Clips without a tempo (0) have no candidates and are no one's candidate.
    """
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0 (a fraction of the tempo, e.g. 0.05), got {tolerance}.")
    return [
        [j for j, tj in enumerate(tempos) if j != i and tj > 0 and abs(tj - ti) <= tolerance * ti] if ti > 0 else []
        for i, ti in enumerate(tempos)
    ]


def beat_offset(own: Beats, partner: Beats, sampling_rate: int) -> int:
    """Samples by which to shift the partner so that its first beat falls on the own clip's first beat (0 when
    either has no beat); the `offset` of `mix_clips`."""
    if own.first is None or partner.first is None:
        return 0
    return int(round((own.first - partner.first) * sampling_rate))


class BeatSyncMixup(AudioMixup):
    """Beat-synchronous mixup as a picklable callable for `Dataset.map(fn, batched=True, with_indices=True)`.

    Takes every argument of `AudioMixup` (audio, labels, soft labels, λ, columns, seeding) except `pairing`, plus:

    Args:
        tolerance: relative tempo difference allowed between partners (0.05 = 5%).
        hop_length: librosa's frame hop for onsets and beats; the alignment is exact to about one hop
            (hop_length / sampling_rate seconds).
        align: shift the partner to the first beat (True), or mix tempo-matched clips unaligned (False).

    Beat tracking runs once per clip per batch; tempo pairs are found within a batch, so use batches large enough
    to hold clips of similar tempo (e.g. `batch_size=64`), or sort the dataset by a tempo column first.
    """

    def __init__(self, *, tolerance: float = 0.05, hop_length: int = 512, align: bool = True, **kwargs: Any):
        if "pairing" in kwargs:
            raise ValueError("BeatSyncMixup pairs clips by tempo; it takes no pairing argument.")
        super().__init__(**kwargs)
        if not tolerance >= 0:
            raise ValueError(f"tolerance must be >= 0 (a fraction of the tempo, e.g. 0.05), got {tolerance}.")
        if isinstance(hop_length, bool) or not isinstance(hop_length, int) or hop_length < 1:
            raise ValueError(f"hop_length must be a positive int, got {hop_length!r}.")
        self.tolerance, self.hop_length, self.align = float(tolerance), hop_length, bool(align)

    def _analyze(self, signals: list[np.ndarray]) -> list[Beats]:
        return [estimate_beats(s, self.sampling_rate, hop_length=self.hop_length) for s in signals]

    def _candidates(self, batch, positions, signals, info: list[Beats]) -> list[list[int]]:
        return tempo_candidates([b.tempo for b in info], self.tolerance)

    def _offset(self, own: int, partner: int, info: list[Beats]) -> int:
        return beat_offset(info[own], info[partner], self.sampling_rate) if self.align else 0

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", tolerance={self.tolerance}, align={self.align})"


def beat_sync_mix(
    signals: list[np.ndarray],
    sampling_rate: int,
    *,
    generator: torch.Generator,
    alpha: float = 0.4,
    tolerance: float = 0.05,
    hop_length: int = 512,
    align: bool = True,
    lambda_correction: LambdaCorrection = "length",
    loudness_normalization: bool = False,
    length: Literal["longest", "own"] = "own",
    beats: list[Beats] | None = None,
) -> tuple[list[np.ndarray], MixPlan]:
    """Beat-synchronous mixup of a batch of waveforms, on the fly (in a collator or a `with_transform`).

    Each clip with a tempo partner in the batch is replaced by its mix with that partner (aligned at the first
    beat, λ ~ Beta(α, α)); clips without one are returned unchanged. `length="own"` (the default here) keeps each
    clip's length, so the batch pads as before. Pass `beats` (from `estimate_beats`, e.g. stored in a dataset
    column) to skip beat tracking.

    Returns: the waveforms (float32) and a `MixPlan` (index: partner per row, self when unpaired; lam: λ̃, 1.0 when
    unpaired) for the targets: `hfmix.targets.mix_targets(labels, plan, num_classes)`.
    """
    if beats is None:
        beats = [estimate_beats(s, sampling_rate, hop_length=hop_length) for s in signals]
    if len(beats) != len(signals):
        raise ValueError(f"Got {len(beats)} beat analyses for {len(signals)} signals.")
    candidates = tempo_candidates([b.tempo for b in beats], tolerance)
    lams = sample_lambda(alpha, max(1, len(signals)), generator=generator)
    out, index, weights = [], list(range(len(signals))), [1.0] * len(signals)
    for i, options in enumerate(candidates):
        if not options:
            out.append(np.asarray(signals[i], dtype=np.float32))
            continue
        j = options[int(torch.randint(len(options), (1,), generator=generator))]
        audio, target = mix_clips(
            signals[i],
            signals[j],
            float(lams[i]),
            offset=beat_offset(beats[i], beats[j], sampling_rate) if align else 0,
            lambda_correction=lambda_correction,
            loudness_normalization=loudness_normalization,
            length=length,
        )
        out.append(audio)
        index[i], weights[i] = j, target
    return out, MixPlan(torch.tensor(index, dtype=torch.long), torch.tensor(weights, dtype=torch.float32))
