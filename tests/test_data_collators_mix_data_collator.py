"""`hfmix.data_collators.mix_data_collator`: MixDataCollator under the real conditions: plans that do not depend on
how many batches were collated before (resume is exact whichever side draws the plan), DataLoader workers, the
mix_stop schedule at level='inputs', soft labels for other trainers, and plans for model-level mixing."""

from __future__ import annotations

import pytest
import tiny
import torch
import transformers as tf

from hfmix import MixDataCollator, MixTrainer, MixupConfig


def _args(output_dir, **extra):
    defaults = dict(
        per_device_train_batch_size=4, learning_rate=5e-3, report_to=[], use_cpu=True, seed=0, logging_steps=1,
        save_strategy="no", disable_tqdm=True,
    )  # fmt: skip
    return tf.TrainingArguments(output_dir=str(output_dir), **{**defaults, **extra})


def test_a_batchs_plan_depends_on_its_content_and_epoch_not_on_batches_before_it():
    rows = tiny.text_dataset(n=8)
    collator = MixDataCollator(tiny.PadCollator(), MixupConfig(level="hidden"), seed=3, num_layers=2)
    first, second = [rows[i] for i in range(4)], [rows[i] for i in range(4, 8)]
    fresh = MixDataCollator(tiny.PadCollator(), MixupConfig(level="hidden"), seed=3, num_layers=2)
    collator(first)
    after_one = collator(second)
    alone = fresh(second)  # the same batch, collated first: the same plan
    assert torch.equal(after_one["mix_index"], alone["mix_index"]) and torch.equal(
        after_one["mix_lam"], alone["mix_lam"]
    )
    fresh.set_epoch(1)
    next_epoch = fresh(second)
    assert not torch.equal(next_epoch["mix_lam"], alone["mix_lam"])  # another epoch, another draw


@pytest.mark.parametrize("level", ["hidden", "inputs"])
def test_resume_with_collator_drawn_plans_ends_with_the_weights_of_an_uninterrupted_run(tmp_path, level):
    def trainer_for(output_dir):
        if level == "inputs":
            model, data = tiny.audio_model("wav2vec2"), tiny.audio_dataset("wav2vec2", n=16)
        else:
            model, data = tiny.text_model("bert"), tiny.text_dataset(n=16)
        collator = MixDataCollator(tiny.PadCollator(), MixupConfig(level=level, alpha=1.0), seed=5)
        args = _args(output_dir, num_train_epochs=2, save_strategy="steps", save_steps=3)
        return MixTrainer(model=model, args=args, train_dataset=data, data_collator=collator)

    full = trainer_for(tmp_path / "full")
    full.train()  # 4 steps an epoch, 8 in all; checkpoint-6 is in the middle of the second epoch
    resumed = trainer_for(tmp_path / "resumed")
    resumed.train(resume_from_checkpoint=str(tmp_path / "full/checkpoint-6"))
    for (name, a), b in zip(full.model.named_parameters(), resumed.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7, msg=name)
    assert all(torch.isfinite(p).all() for p in full.model.parameters())


def test_mix_stop_holds_when_the_collator_draws_audio_plans(tmp_path):
    collator = MixDataCollator(tiny.PadCollator(), MixupConfig(level="inputs", mix_stop=0.5), seed=1)
    trainer = MixTrainer(
        model=tiny.audio_model("wav2vec2"),
        args=_args(tmp_path, max_steps=6),
        train_dataset=tiny.audio_dataset("wav2vec2", n=24),
        data_collator=collator,
    )
    trainer.train()
    fractions = [h["mix_fraction"] for h in trainer.state.log_history if "mix_fraction" in h]
    assert len(fractions) == 6
    assert all(f > 0 for f in fractions[:3]) and fractions[3:] == [0.0, 0.0, 0.0]


def test_collator_mixes_audio_inputs_and_evaluation_uses_the_base_collator(tmp_path):
    collator = MixDataCollator(tiny.PadCollator(), MixupConfig(level="inputs"))
    train, evaluation = tiny.audio_dataset("wav2vec2", n=12), tiny.audio_dataset("wav2vec2", n=6, seed=1)
    trainer = MixTrainer(
        model=tiny.audio_model("wav2vec2"),
        args=tiny.make_args(tmp_path),
        train_dataset=train,
        eval_dataset=evaluation,
        data_collator=collator,
    )
    assert trainer.mix_config is collator.mix_config
    trainer.train()
    assert any(h.get("mix_fraction", 0) > 0 for h in trainer.state.log_history)
    assert trainer.get_eval_dataloader().collate_fn.__class__ is tiny.PadCollator
    assert trainer.get_train_dataloader().collate_fn is collator or isinstance(
        trainer.get_train_dataloader().collate_fn, MixDataCollator
    )


def test_collator_is_reproducible_with_dataloader_workers():
    data = tiny.audio_dataset("wav2vec2", n=16)
    collator = MixDataCollator(tiny.PadCollator(), MixupConfig(level="inputs"), seed=3)

    def plans():
        torch.manual_seed(0)
        loader = torch.utils.data.DataLoader(data, batch_size=4, num_workers=2, collate_fn=collator)
        return [(b["mix_index"].tolist(), b["mix_lam"].tolist(), b["input_values"].sum().item()) for b in loader]

    first, second = plans(), plans()
    assert first == second
    assert len({tuple(p[1]) for p in first}) > 1  # batches draw different λ


def test_collator_soft_labels_for_other_trainers():
    collator = MixDataCollator(tiny.PadCollator(), MixupConfig(level="inputs"), soft_labels=True, num_labels=3)
    rows = tiny.audio_dataset("wav2vec2", n=4)
    batch = collator([rows[i] for i in range(4)])
    assert batch["labels"].shape == (4, 3) and torch.allclose(batch["labels"].sum(-1), torch.ones(4))
    assert "mix_index" not in batch
    with pytest.raises(ValueError, match="num_labels"):
        MixDataCollator(tiny.PadCollator(), MixupConfig(level="inputs"), soft_labels=True)([rows[i] for i in range(4)])
    with pytest.raises(ValueError, match="soft_labels"):
        MixTrainer(
            model=tiny.audio_model("wav2vec2"),
            args=tf.TrainingArguments(output_dir="unused", report_to=[]),
            data_collator=collator,
        )


def test_collator_attaches_plans_for_model_level_mixing(tmp_path):
    collator = MixDataCollator(tiny.PadCollator(), MixupConfig(level="hidden"))
    trainer = MixTrainer(
        model=tiny.text_model("bert"),
        args=tiny.make_args(tmp_path),
        train_dataset=tiny.text_dataset(),
        data_collator=collator,
    )
    assert collator.num_layers == 2  # filled in from the model
    rows = tiny.text_dataset(n=5)
    batch = collator([rows[i] for i in range(5)])
    assert batch["mix_layer"].item() in (1, 2) and batch["mix_index"].shape == (5,)
    trainer.train()
