"""`hfmix.augment.audio_mixing`: offline audio mixup."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from datasets import Audio, Dataset

from hfmix.augment.audio_mixing import AudioMixup, load_audio, mix_clips


sf = pytest.importorskip("soundfile")


librosa = pytest.importorskip("librosa")


SR = 16000


def _constant_dataset(lengths, num_classes=3):
    """Clip i is the constant i + 1 for lengths[i] samples: a mixed sample's value tells the weight used."""
    return Dataset.from_dict(
        {
            "audio": [{"array": np.full(n, i + 1.0, np.float32), "sampling_rate": SR} for i, n in enumerate(lengths)],
            "label": [i % num_classes for i in range(len(lengths))],
            "speaker": [f"s{i}" for i in range(len(lengths))],
        }
    )


# --- mixing two clips -------------------------------------------------------------------------------------------
def test_mix_clips_length_correction_hand_computed():
    own, partner = np.ones(3, np.float32), np.zeros(5, np.float32)
    mixed, lam = mix_clips(own, partner, 0.6)
    np.testing.assert_allclose(mixed, [0.6, 0.6, 0.6, 0, 0], atol=1e-7)
    assert lam == pytest.approx(0.6 * 3 / 5)  # (λ·|both| + |own only|) / (|both| + |own only| + |partner only|)
    mixed, lam = mix_clips(own, partner, 0.6, length="own")  # partner cut to the own clip: plain λ
    assert len(mixed) == 3 and lam == pytest.approx(0.6)
    mixed, lam = mix_clips(np.ones(5, np.float32), np.zeros(3, np.float32), 0.6)  # own longer: its tail unmixed
    np.testing.assert_allclose(mixed, [0.6, 0.6, 0.6, 1, 1], atol=1e-7)
    assert lam == pytest.approx((0.6 * 3 + 2) / 5)
    mixed, lam = mix_clips(own, np.full(2, 2.0, np.float32), 0.6, offset=2)  # partner starts at sample 2
    np.testing.assert_allclose(mixed, [1, 1, 0.6 + 0.4 * 2, 2], atol=1e-6)
    assert lam == pytest.approx((0.6 * 1 + 2) / 4)
    mixed, _ = mix_clips(own, np.array([5.0, 6.0, 7.0], np.float32), 0.5, offset=-1)  # partner's head dropped
    np.testing.assert_allclose(mixed, [3.5, 4.0, 1.0], atol=1e-6)


def test_mix_clips_energy_correction_and_loudness():
    own, partner = np.ones(4, np.float32), np.full(2, 0.5, np.float32)
    _, lam = mix_clips(own, partner, 0.5, lambda_correction="energy")
    e_own, e_partner = 0.5**2 * 2 + 2, 0.5**2 * 0.25 * 2  # λ²Σ_both x² + Σ_own-only x², (1-λ)²Σ_both y²
    assert lam == pytest.approx(e_own / (e_own + e_partner), rel=1e-6)
    _, lam = mix_clips(own, partner, 0.3, lambda_correction="none")
    assert lam == pytest.approx(0.3)
    # loudness normalisation: both at unit RMS, the mix scaled back to the own clip's RMS (0.1 here)
    mixed, _ = mix_clips(np.full(4, 0.1, np.float32), np.full(4, 3.0, np.float32), 0.5, loudness_normalization=True)
    np.testing.assert_allclose(mixed, 0.1, rtol=1e-5)


def test_mix_clips_snr():
    own, partner = np.ones(100, np.float32), np.ones(100, np.float32)
    mixed, lam = mix_clips(own, partner, 0.99, snr_db=20.0)
    # gain g = sqrt(E_own / (E_partner·10^(20/10))) = 0.1; λ = 1 / (1 + g), target by energy share
    w = 1 / 1.1
    np.testing.assert_allclose(mixed, 1.0, rtol=1e-5)  # equal clips: any weights give 1
    assert lam == pytest.approx(w**2 / (w**2 + (1 - w) ** 2), rel=1e-5)


# --- AudioMixup in Dataset.map ----------------------------------------------------------------------------------
def test_map_keeps_originals_and_corrects_lambda_by_hand():
    lengths = [800, 1200, 1000, 400, 1600, 600]
    ds = _constant_dataset(lengths)
    out = ds.map(AudioMixup(num_classes=3, seed=3), batched=True, with_indices=True, batch_size=6)
    assert len(out) == 12
    originals = out.filter(lambda r: not r["augmented"])
    assert originals["source_index"] == list(range(6)) and originals["partner_index"] == [-1] * 6
    assert originals["label"] == ds["label"] and originals["speaker"] == ds["speaker"]
    assert originals["mix_lambda"] == [1.0] * 6
    for row, n in zip(originals, lengths, strict=True):
        np.testing.assert_array_equal(row["audio"], np.full(n, row["source_index"] + 1.0))
        assert row["soft_label"] == np.eye(3)[row["label"]].tolist()
    mixed = out.filter(lambda r: r["augmented"])
    assert mixed["source_index"] == list(range(6))
    for row in mixed:
        i, j = row["source_index"], row["partner_index"]
        assert j != i and 0 <= j < 6
        li, lj, ci, cj = lengths[i], lengths[j], i + 1.0, j + 1.0
        audio = np.asarray(row["audio"])
        assert len(audio) == max(li, lj)
        w = (audio[0] - cj) / (ci - cj)  # the weight used over the overlap
        np.testing.assert_allclose(audio[: min(li, lj)], w * ci + (1 - w) * cj, rtol=1e-5)
        np.testing.assert_allclose(audio[min(li, lj) :], ci if li > lj else cj)  # the longer tail, unmixed
        expected = (w * min(li, lj) + max(0, li - lj)) / max(li, lj)
        assert row["mix_lambda"] == pytest.approx(expected, abs=1e-5)
        soft = np.zeros(3)
        soft[i % 3] += expected
        soft[j % 3] += 1 - expected
        np.testing.assert_allclose(row["soft_label"], soft, atol=1e-5)
        assert row["label"] == (i % 3 if expected >= 0.5 else j % 3)
        assert row["speaker"] == f"s{i}"


def test_map_num_proc_2_equals_num_proc_1():
    ds = _constant_dataset([300 + 37 * i for i in range(16)], num_classes=4)
    fn = AudioMixup(num_classes=4, num_mix=2, prob=0.7, seed=11)
    one = ds.map(fn, batched=True, with_indices=True, batch_size=4, num_proc=1)
    two = ds.map(fn, batched=True, with_indices=True, batch_size=4, num_proc=2)
    assert one.to_dict() == two.to_dict()
    assert 16 < len(one) <= 48 and sum(one["augmented"]) == len(one) - 16
    other = ds.map(AudioMixup(num_classes=4, num_mix=2, prob=0.7, seed=12), batched=True, with_indices=True)
    assert other["mix_lambda"] != one["mix_lambda"]


def test_labels_multi_label_and_regression():
    audio = [{"array": np.full(100, i + 1.0, np.float32), "sampling_rate": SR} for i in range(4)]
    multi = Dataset.from_dict({"audio": audio, "tags": [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]]})
    for how in ("interpolate", "union"):
        fn = AudioMixup(label_column="tags", label_type="multi_label", num_classes=3, multi_label=how, alpha=1.0)
        out = multi.map(fn, batched=True, with_indices=True)
        assert "soft_label" not in out.column_names
        for row in out:
            i, j, lam = row["source_index"], row["partner_index"], row["mix_lambda"]
            own = np.array(multi[i]["tags"], float)
            if j < 0:
                assert row["tags"] == own.tolist()
                continue
            other = np.array(multi[j]["tags"], float)
            want = np.maximum(own, other) if how == "union" else lam * own + (1 - lam) * other
            np.testing.assert_allclose(row["tags"], want, atol=1e-6)
    reg = Dataset.from_dict({"audio": audio, "y": [0.1, 2.5, -1.0, 7.25]})
    out = reg.map(AudioMixup(label_column="y", label_type="regression"), batched=True, with_indices=True)
    for row in out:
        i, j, lam = row["source_index"], row["partner_index"], row["mix_lambda"]
        want = reg[i]["y"] if j < 0 else lam * reg[i]["y"] + (1 - lam) * reg[j]["y"]
        assert row["y"] == pytest.approx(want, abs=1e-5)
    assert out.filter(lambda r: not r["augmented"])["y"] == reg["y"]  # originals exact


def test_soft_labels_into_label_column_and_output_column():
    ds = _constant_dataset([100, 200, 300])
    out = ds.map(
        AudioMixup(num_classes=3, soft_label_column="label", output_column="wave"), batched=True, with_indices=True
    )
    assert out.column_names.count("label") == 1 and "soft_label" not in out.column_names
    assert all(len(v) == 3 and sum(v) == pytest.approx(1) for v in out["label"])
    assert [a is None for a in out["audio"]] == out["augmented"]  # source column kept for originals only
    np.testing.assert_array_equal(out[0]["wave"], np.full(100, 1.0))


def first_two_swap(batch, positions):
    """A pairing function: rows 0 and 1 of each batch swap, the others stay unpaired."""
    return [1, 0] + [None] * (len(positions) - 2)


def test_pairing_function_and_unpaired_rows():
    ds = _constant_dataset([100] * 5)
    fn = AudioMixup(num_classes=3, pairing=first_two_swap)
    out = ds.map(fn, batched=True, with_indices=True)
    assert len(out) == 7 and out["partner_index"] == [-1, 1, -1, 0, -1, -1, -1]
    pickle.loads(pickle.dumps(fn))


def test_on_the_fly_keep_original_false():
    ds = _constant_dataset([100, 150, 200, 250])
    fn = AudioMixup(num_classes=3, keep_original=False, alpha=1.0)
    batch = ds[:4]
    first, second = fn(batch), fn(batch)  # no indices: with_transform; fresh draws per call
    assert len(first["audio"]) == 4 and all(first["augmented"])
    assert first["mix_lambda"] != second["mix_lambda"]
    assert len(ds.with_transform(fn)[:4]["audio"]) == 4


# --- reading audio ----------------------------------------------------------------------------------------------
def test_sampling_rate_mismatch_error_and_resampling():
    clip = {"array": np.sin(np.arange(8000) / 5).astype(np.float32), "sampling_rate": 8000}
    with pytest.raises(ValueError, match=r"8000 Hz but sampling_rate=16000 Hz and resample=False.*resample=True"):
        load_audio(clip, 16000, resample=False, where="row 0")
    assert len(load_audio(clip, 16000)) == 16000
    ds = Dataset.from_dict({"audio": [clip, {**clip, "sampling_rate": 16000}], "label": [0, 1]})
    with pytest.raises(ValueError, match="row 0"):
        ds.map(AudioMixup(num_classes=2, resample=False), batched=True, with_indices=True)
    out = ds.map(AudioMixup(num_classes=2, resample=True), batched=True, with_indices=True)
    assert len(out[0]["audio"]) == 16000 and len(out[2]["audio"]) == 8000


def test_paths_and_bytes_inputs(tmp_path):
    rng = np.random.default_rng(0)
    clips = [rng.uniform(-0.5, 0.5, n).astype(np.float32) for n in (1600, 2400, 3200)]
    paths = []
    for k, clip in enumerate(clips):
        paths.append(str(tmp_path / f"clip{k}.wav"))
        sf.write(paths[-1], clip, SR, subtype="FLOAT")
    stereo = np.stack([clips[0], -clips[0]], axis=1) + 0.25  # averaged to mono: 0.25
    sf.write(tmp_path / "stereo.wav", stereo, 8000, subtype="FLOAT")
    with open(paths[1], "rb") as f:
        raw = f.read()
    assert np.array_equal(load_audio(raw, SR), clips[1])
    np.testing.assert_allclose(load_audio(str(tmp_path / "stereo.wav"), 8000), 0.25, atol=1e-6)
    with pytest.raises(ValueError, match="soundfile cannot read"):
        load_audio(b"not audio", SR)

    by_path = Dataset.from_dict({"audio": paths, "label": [0, 1, 2]})
    by_bytes = Dataset.from_dict(
        {"audio": [{"bytes": open(p, "rb").read(), "path": None} for p in paths], "label": [0, 1, 2]}
    ).cast_column("audio", Audio(decode=False))
    by_path_dict = Dataset.from_dict(
        {"audio": [{"bytes": None, "path": p} for p in paths], "label": [0, 1, 2]}
    ).cast_column("audio", Audio(decode=False))
    results = []
    for ds in (by_path, by_bytes, by_path_dict):
        out = ds.map(AudioMixup(num_classes=3, seed=5), batched=True, with_indices=True)
        assert len(out) == 6
        for row in out.filter(lambda r: not r["augmented"]):
            np.testing.assert_array_equal(row["audio"], clips[row["source_index"]])
        results.append(out.to_dict())
    assert results[0] == results[1] == results[2]


def test_argument_errors():
    with pytest.raises(ValueError, match="num_classes"):
        AudioMixup()
    with pytest.raises(ValueError, match="snr_db"):
        AudioMixup(num_classes=2, snr_db=(10, 0))
    ds = _constant_dataset([10, 10])
    with pytest.raises(ValueError, match="out of range for num_classes=2"):
        Dataset.from_dict({"audio": ds["audio"], "label": [0, 5]}).map(
            AudioMixup(num_classes=2), batched=True, with_indices=True
        )
    with pytest.raises(ValueError, match="label_column 'y' is not in the batch"):
        AudioMixup(label_column="y", label_type="regression")(ds[:2], [0, 1])
