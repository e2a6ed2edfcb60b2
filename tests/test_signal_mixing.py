"""Audio inputs: clips of different lengths, λ corrected for what was really mixed, loudness, SNR mixing,
Whisper-layout masks and multi-label unions."""

import pytest
import tiny
import torch

from hfmix import MixDataCollator, MixPlan, MixTrainer, MixupConfig
from hfmix.placement import mix_continuous_inputs
from hfmix.signal_mixing import corrected_lambda, rms_normalize, snr_lambda
from hfmix.targets import mix_targets


def two_clips():
    x = torch.tensor([[1.0, 1.0, 2.0, 2.0], [3.0, 3.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    return x, mask, MixPlan(torch.tensor([1, 0]), torch.tensor([0.5, 0.5]))


def test_length_and_energy_corrections_against_hand_computed_values():
    x, mask, plan = two_clips()
    valid = mask.bool()
    # length: row 0 keeps its 2-step tail: (0.5·2 + 2) / 4; row 1 gets the partner's tail: (0.5·2) / 4
    lengths = corrected_lambda(x, plan.index, plan.lam, valid, "length")
    torch.testing.assert_close(lengths, torch.tensor([0.75, 0.25]))
    # energy: row 0 own 0.25·(1 + 1) + (4 + 4) = 8.5, partner 0.25·(9 + 9) = 4.5; row 1 the mirror image
    energies = corrected_lambda(x, plan.index, plan.lam, valid, "energy")
    torch.testing.assert_close(energies, torch.tensor([8.5 / 13, 4.5 / 13]))
    torch.testing.assert_close(corrected_lambda(x, plan.index, plan.lam, valid, "none"), plan.lam)
    unmixed = MixPlan(torch.tensor([0, 1]), torch.ones(2))
    torch.testing.assert_close(corrected_lambda(x, unmixed.index, unmixed.lam, valid, "energy"), torch.ones(2))


def test_padding_is_never_mixed_and_targets_follow_the_correction():
    x, mask, plan = two_clips()
    out, targets = mix_continuous_inputs({"input_values": x, "attention_mask": mask}, plan, "length")
    torch.testing.assert_close(out["input_values"][0], torch.tensor([2.0, 2.0, 2.0, 2.0]))  # overlap mixed, tail own
    torch.testing.assert_close(out["input_values"][1], torch.tensor([2.0, 2.0, 2.0, 2.0]))  # tail from the partner
    assert out["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 1]]
    torch.testing.assert_close(targets.lam, torch.tensor([0.75, 0.25]))
    padded = torch.tensor([[1.0, 5.0, 0.0], [2.0, 0.0, 0.0]])
    out, _ = mix_continuous_inputs(
        {"input_values": padded, "attention_mask": torch.tensor([[1, 1, 0], [1, 0, 0]])}, plan, "length"
    )
    assert out["input_values"][:, 2].tolist() == [0.0, 0.0]  # padding in both rows stays padding


def test_whisper_layout_masks_run_along_the_last_axis():
    features = torch.stack([torch.ones(3, 4), torch.full((3, 4), 3.0)])  # (B, F, T)
    features[1, :, 2:] = -9.0  # padding frames of row 1
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    out, targets = mix_continuous_inputs(
        {"input_features": features, "attention_mask": mask}, MixPlan(torch.tensor([1, 0]), torch.full((2,), 0.5))
    )
    assert (out["input_features"][0, :, :2] == 2.0).all() and (out["input_features"][0, :, 2:] == 1.0).all()
    assert (out["input_features"][1, :, 2:] == 1.0).all()  # the partner's frames, never the padding value
    torch.testing.assert_close(targets.lam, torch.full((2,), 0.5))  # lambda_correction="none" by default here


def test_snr_mixing_reaches_the_requested_energy_ratio():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 100, generator=g) * torch.tensor([[1.0], [3.0], [0.5], [2.0]])
    index, snr = torch.tensor([1, 2, 3, 0]), torch.tensor([10.0, 0.0, -5.0, 3.0])
    lam = snr_lambda(x, index, snr, None, torch.ones(4, dtype=torch.bool))
    own, partner = (lam[:, None] * x).pow(2).sum(1), ((1 - lam[:, None]) * x[index]).pow(2).sum(1)
    torch.testing.assert_close(10 * torch.log10(own / partner), snr)


def test_loudness_normalization_gives_unit_rms_over_the_real_samples():
    x = torch.tensor([[2.0, -2.0, 2.0, 0.0], [0.5, 0.5, 0.5, 0.5], [0.0, 0.0, 0.0, 0.0]])
    valid = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 0, 0]]).bool()
    out = rms_normalize(x, valid)
    rms = ((out**2) * valid).sum(1) / valid.sum(1)
    torch.testing.assert_close(rms[:2], torch.ones(2))
    assert (out[2] == 0).all()  # silence stays silence


def test_multi_label_union_and_interpolation():
    labels = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    plan = MixPlan(torch.tensor([1, 0, 2]), torch.tensor([0.7, 0.7, 1.0]))
    union = mix_targets(labels, plan, union=True)
    assert union.tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 1]]
    torch.testing.assert_close(mix_targets(labels, plan)[0], torch.tensor([0.7, 0.3, 0.0]))


def test_collator_corrects_lambda_for_clip_lengths():
    dataset = tiny.audio_dataset("wav2vec2", n=6)
    features = [dataset[i] for i in range(6)]
    lengths = torch.tensor([len(f["input_values"]) for f in features])
    collator = MixDataCollator(tiny.PadCollator(), MixupConfig(level="inputs", alpha=1.0), seed=3)
    batch = collator(features)
    index = batch["mix_index"]
    both = torch.minimum(lengths, lengths[index]).float()
    longest = torch.maximum(lengths, lengths[index]).float()
    own_tail = (lengths - lengths[index]).clamp(min=0).float()
    # the same collator seed without the correction gives the drawn λ; every row must follow the length formula
    replay = MixDataCollator(
        tiny.PadCollator(), MixupConfig(level="inputs", alpha=1.0, lambda_correction="none"), seed=3
    )
    drawn = replay(features)["mix_lam"]
    torch.testing.assert_close(batch["mix_lam"], (drawn * both + own_tail) / longest)


def test_trainer_mixes_waveforms_at_an_snr_and_checks_the_recipe(tmp_path):
    config = MixupConfig(level="inputs", snr_db=[0.0, 10.0], loudness_normalization=True, multi_label="union")
    trainer = MixTrainer(
        model=tiny.audio_model("wav2vec2"),
        args=tiny.make_args(tmp_path, max_steps=2),
        train_dataset=tiny.audio_dataset("wav2vec2"),
        data_collator=tiny.PadCollator(),
        mix_config=config,
    )
    trainer.train()
    lambdas = [h["mix_lambda"] for h in trainer.state.log_history if "mix_lambda" in h]
    assert lambdas and all(0.5 <= v <= 10 / 11 + 1e-4 for v in lambdas)  # energy share of 0-10 dB: 0.5-0.909
    with pytest.raises(ValueError, match="level='inputs'"):
        MixupConfig(level="hidden", snr_db=[0.0, 10.0])
    with pytest.raises(ValueError, match="low <= high"):
        MixupConfig(level="inputs", snr_db=[10.0, 0.0])
    with pytest.raises(ValueError, match="lambda_correction"):
        MixupConfig(level="inputs", lambda_correction="loudness")


@pytest.mark.parametrize("correction", ["length", "energy", "none"])
def test_the_row_by_row_path_for_end_padded_clips_equals_the_general_formula(correction):
    from hfmix.mixers.mixup import mixup
    from hfmix.signal_mixing import mix_prefix_clips, prefix_lengths

    g = torch.Generator().manual_seed(0)
    lengths = torch.tensor([50, 20, 35, 50, 1, 8])
    valid = torch.arange(50) < lengths[:, None]
    x = torch.randn(6, 50, 3, generator=g) * valid[..., None]  # (B, T, F) features, zero padding
    index, lam = torch.tensor([1, 0, 3, 2, 5, 5]), torch.tensor([0.3, 0.7, 0.5, 0.9, 0.2, 1.0])
    assert prefix_lengths(valid).tolist() == lengths.tolist()
    mixed, target = mix_prefix_clips(x, index, lam, lengths, correction)
    torch.testing.assert_close(mixed, mixup(x, index, lam, valid))
    torch.testing.assert_close(target, corrected_lambda(x, index, lam, valid, correction))
    holes = valid.clone()
    holes[0, 10] = False
    assert prefix_lengths(holes) is None  # a gap inside a clip: the general path


def test_snr_mixing_of_end_padded_clips_equals_the_general_path():
    from hfmix.mixers.mixup import mixup
    from hfmix.signal_mixing import mix_prefix_clips

    g = torch.Generator().manual_seed(1)
    lengths = torch.tensor([40, 25, 40, 10])
    valid = torch.arange(40) < lengths[:, None]
    x = torch.randn(4, 40, generator=g) * valid
    x[3] = 0.0  # a silent clip
    index, lam, snr = torch.tensor([1, 2, 3, 0]), torch.full((4,), 0.5), torch.tensor([0.0, 5.0, -3.0, 10.0])
    mixed, target = mix_prefix_clips(x, index, lam, lengths, "none", snr)
    weights = snr_lambda(x, index, snr, valid, torch.ones(4, dtype=torch.bool))
    torch.testing.assert_close(mixed, mixup(x, index, weights, valid))
    torch.testing.assert_close(target, corrected_lambda(x, index, weights, valid, "energy"))
