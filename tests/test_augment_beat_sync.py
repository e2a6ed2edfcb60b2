"""`hfmix.augment.beat_sync`: beat-synchronous mixup on click tracks."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
import torch
from datasets import Dataset

from hfmix.augment.audio_mixing import mix_clips
from hfmix.augment.beat_sync import (
    Beats,
    BeatSyncMixup,
    beat_offset,
    beat_sync_mix,
    estimate_beats,
    tempo_candidates,
)
from hfmix.sampling import make_generator


sf = pytest.importorskip("soundfile")


librosa = pytest.importorskip("librosa")


SR = 16000


HOP = 512


def _constant_dataset(lengths, num_classes=3):
    """Clip i is the constant i + 1 for lengths[i] samples: a mixed sample's value tells the weight used."""
    return Dataset.from_dict(
        {
            "audio": [{"array": np.full(n, i + 1.0, np.float32), "sampling_rate": SR} for i, n in enumerate(lengths)],
            "label": [i % num_classes for i in range(len(lengths))],
            "speaker": [f"s{i}" for i in range(len(lengths))],
        }
    )


def _clicks(bpm, start, seconds=3.0, sr=SR):
    times = np.arange(start, seconds, 60.0 / bpm)
    return librosa.clicks(times=times, sr=sr, length=int(seconds * sr)).astype(np.float32)


def _click_starts(y, frame=256, threshold=0.05):
    """Start times (s) of the click bursts: frames whose peak exceeds threshold · max, at rising edges."""
    frames = np.abs(y[: len(y) // frame * frame]).reshape(-1, frame).max(1) > threshold * np.abs(y).max()
    edges = np.flatnonzero(frames[1:] & ~frames[:-1]) + 1
    return (np.concatenate([[0] if frames[0] else [], edges]) * frame / SR).tolist()


# --- beat-synchronous mixup -------------------------------------------------------------------------------------
def test_tempo_candidates():
    assert tempo_candidates([120.0, 123.0, 90.0, 0.0, 126.5]) == [[1], [0, 4], [], [], [1]]
    assert tempo_candidates([120.0, 123.0], tolerance=0.01) == [[], []]
    with pytest.raises(ValueError, match="tolerance"):
        tempo_candidates([120.0], tolerance=-1)


def test_beat_alignment_on_click_tracks():
    own, partner = _clicks(120, 0.3), _clicks(120, 0.55)
    b_own, b_partner = estimate_beats(own, SR, hop_length=HOP), estimate_beats(partner, SR, hop_length=HOP)
    assert b_own.tempo == pytest.approx(120, rel=0.05) and b_partner.tempo == pytest.approx(120, rel=0.05)
    assert abs(b_own.first - 0.3) <= 2 * HOP / SR and abs(b_partner.first - 0.55) <= 2 * HOP / SR  # first beat kept
    offset = beat_offset(b_own, b_partner, SR)
    assert abs(offset - (0.3 - 0.55) * SR) <= HOP  # the partner's first click lands on the own clip's first click
    aligned, _ = mix_clips(own, partner, 0.5, offset=offset, length="own")
    unaligned, _ = mix_clips(own, partner, 0.5, length="own")
    starts = _click_starts(own)
    assert len(_click_starts(aligned)) == len(starts) and np.allclose(_click_starts(aligned), starts, atol=HOP / SR)
    assert len(_click_starts(unaligned)) > len(starts)
    assert beat_offset(Beats(0.0, np.zeros(0)), b_partner, SR) == 0


def test_beat_sync_map_pairs_by_tempo_and_aligns():
    clips = [_clicks(120, 0.3), _clicks(120, 0.55), _clicks(90, 0.1)]
    ds = Dataset.from_dict({"audio": [{"array": c, "sampling_rate": SR} for c in clips], "label": [0, 1, 2]})
    fn = BeatSyncMixup(num_classes=3, alpha=50.0, length="own", seed=0)
    out = ds.map(pickle.loads(pickle.dumps(fn)), batched=True, with_indices=True)
    assert out["augmented"] == [False, True, False, True, False]  # the 90 BPM clip is left unpaired
    assert out["partner_index"] == [-1, 1, -1, 0, -1]
    assert out["label"][1] == (0 if out["mix_lambda"][1] >= 0.5 else 1)
    for row in out.filter(lambda r: r["augmented"]):
        own = clips[row["source_index"]]
        np.testing.assert_allclose(row["soft_label"][2], 0.0)
        assert np.allclose(_click_starts(np.asarray(row["audio"], np.float32)), _click_starts(own), atol=HOP / SR)
    with pytest.raises(ValueError, match="no pairing"):
        BeatSyncMixup(num_classes=3, pairing="random")


def test_beat_sync_mix_on_the_fly():
    clips = [_clicks(120, 0.3), _clicks(120, 0.55, seconds=2.5), _clicks(90, 0.1)]
    mixed, plan = beat_sync_mix(clips, SR, generator=make_generator(0), alpha=50.0)
    assert plan.index.tolist() == [1, 0, 2] and plan.lam[2] == 1.0
    assert [len(m) for m in mixed] == [len(c) for c in clips]
    np.testing.assert_array_equal(mixed[2], clips[2])
    # the own clip is longer than the shifted partner: λ̃ exceeds the drawn weight (close to 0.5 at α = 50)
    assert 0.5 < float(plan.lam[0]) < 1
    again, plan2 = beat_sync_mix(clips, SR, generator=make_generator(0), alpha=50.0)
    assert torch.equal(plan.lam, plan2.lam) and all(np.array_equal(a, b) for a, b in zip(mixed, again, strict=True))
    buf = io.BytesIO()
    sf.write(buf, mixed[0], SR, format="WAV", subtype="FLOAT")  # a valid waveform
