"""`hfmix.mixers.masked_mixing`: what FMix and cut-mix share, mixup by a per-position mask along one axis:
how the masks are applied to inputs, embeddings and hidden states, and the targets that follow them."""

import pytest
import tiny
import torch

from hfmix import CutMixConfig, FMixConfig, MixConfig, MixDataCollator, MixPlan, MixTrainer
from hfmix.placement import mix_continuous_inputs, mixing


def plan_of(config, batch_size, seed=0, **kwargs):
    return config.sample_plan(batch_size, generator=tiny.gen(seed), **kwargs)


def test_inputs_are_mixed_by_the_mask_along_time_or_frequency():
    x = torch.randn(4, 12, 6, generator=tiny.gen())  # AST layout (B, T, F)
    plan = plan_of(FMixConfig(level="inputs", decay_power=1.0), 4)
    out, targets = mix_continuous_inputs({"input_values": x}, plan)
    m = plan.weights(12)[:, :, None]
    torch.testing.assert_close(out["input_values"], m * x + (1 - m) * x[plan.index])
    torch.testing.assert_close(targets.lam, plan.weights(12).mean(1))
    band = plan_of(CutMixConfig(level="inputs", axis="frequency"), 4)
    out, targets = mix_continuous_inputs({"input_values": x}, band)
    f = band.weights(6)[:, None, :]
    torch.testing.assert_close(out["input_values"], f * x + (1 - f) * x[band.index])
    torch.testing.assert_close(targets.lam, band.weights(6).mean(1))


def test_padding_is_excluded_from_the_masked_share():
    x = torch.ones(2, 8)
    mask = torch.tensor([[1] * 8, [1] * 4 + [0] * 4])
    plan = MixPlan(torch.tensor([1, 0]), torch.full((2,), 0.5))
    masked = FMixConfig(level="inputs").sample_plan(2, generator=tiny.gen())
    plan = MixPlan(plan.index, plan.lam, masks=masked.masks)
    _, targets = mix_continuous_inputs({"input_values": x, "attention_mask": mask}, plan, "length")
    m = plan.weights(8)
    expected_0 = (m[0, :4].sum() + 4) / 8  # own tail kept
    expected_1 = m[1, :4].sum() / 8  # the partner's tail fills its padding
    torch.testing.assert_close(targets.lam, torch.stack([expected_0, expected_1]))


def test_embeddings_and_hidden_states_are_mixed_by_masks_at_their_own_length():
    model = tiny.text_model("bert").eval()
    batch = tiny.PadCollator()([tiny.text_dataset(n=4)[i] for i in range(4)])
    batch.pop("labels")
    plan = plan_of(FMixConfig(level="embeddings", decay_power=1.0), 4)
    seen = []
    with torch.no_grad(), mixing(model, batch, plan, "embeddings") as forward:
        probe = model.get_input_embeddings().register_forward_hook(lambda module, args, out: seen.append(out))
        model(**forward)
        probe.remove()
    embeds = seen[0]  # the embedding module's output after the mixing hook (registered before the probe)
    plain = model.get_input_embeddings()(batch["input_ids"])
    valid = batch["attention_mask"].bool()
    m = plan.weights(plain.shape[1])
    both, other = valid & valid[plan.index], valid[plan.index]
    w = torch.where(both, m, torch.where(other, 0.0, 1.0))[..., None]
    torch.testing.assert_close(embeds, w * plain + (1 - w) * plain[plan.index])
    assert plan.masks.realized is not None and plan.masks.realized.shape == (4,)

    hidden_plan = plan_of(FMixConfig(level="hidden", layers=[1]), 4, num_layers=2)
    with torch.no_grad():
        states = model(**batch, output_hidden_states=True).hidden_states[1]
        with mixing(model, batch, hidden_plan, "hidden") as forward:
            mixed = model(**forward, output_hidden_states=True).hidden_states[1]
    m = hidden_plan.weights(states.shape[1])
    w = torch.where(both, m, torch.where(other, 0.0, 1.0))[..., None]
    torch.testing.assert_close(mixed, w * states + (1 - w) * states[hidden_plan.index], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("config", [FMixConfig(level="hidden"), CutMixConfig(level="embeddings")])
def test_trainer_trains_with_masks_and_targets_follow_what_was_mixed(tmp_path, config):
    received = []

    def loss_func(outputs, targets, num_items_in_batch=None):
        received.append(targets)
        return -(targets * outputs.logits.log_softmax(-1)).sum(-1).mean()

    trainer = MixTrainer(
        model=tiny.text_model("bert"),
        args=tiny.make_args(tmp_path, max_steps=2),
        train_dataset=tiny.text_dataset(),
        data_collator=MixDataCollator(tiny.PadCollator(), config),
        compute_loss_func=loss_func,
    )
    trainer.train()
    assert len(received) == 2 and all(torch.allclose(t.sum(-1), torch.ones(len(t))) for t in received)


def test_masked_configs_round_trip_and_refuse_what_cannot_work(tmp_path):
    config = FMixConfig(level="inputs", decay_power=2.0, axis="frequency", mask_per="batch")
    config.save_pretrained(tmp_path)
    assert MixConfig.from_pretrained(tmp_path) == config
    with pytest.raises(ValueError, match="pooled"):
        FMixConfig(level="pooled")
    with pytest.raises(ValueError, match="frequency"):
        CutMixConfig(level="hidden", axis="frequency")
    with pytest.raises(ValueError, match="lambda_per='batch'"):
        FMixConfig(mask_per="batch", lambda_per="sample")
    with pytest.raises(ValueError, match="decay_power"):
        FMixConfig(decay_power=-1.0)
    with pytest.raises(ValueError, match="spectrogram"):
        mix_continuous_inputs(
            {"input_values": torch.ones(2, 5)}, plan_of(CutMixConfig(level="inputs", axis="frequency"), 2)
        )
