"""What every hfmix trainer shares (`hfmix.trainers.base.RecipeTrainer`): the recipe read back on resume, the
layers really used recorded, label columns named by `label_names`."""

from __future__ import annotations

import json
import logging

import pytest
import tiny
import torch
import transformers as tf

from hfmix import MixTrainer, MixupConfig


def _trainer(output_dir, mix_config, data=None, **extra):
    settings = dict(per_device_train_batch_size=4, max_steps=4, save_strategy="steps", save_steps=2, report_to=[],
                    use_cpu=True, disable_tqdm=True)  # fmt: skip
    args = tf.TrainingArguments(output_dir=str(output_dir), **{**settings, **extra})
    return MixTrainer(
        model=tiny.text_model("bert"),
        args=args,
        train_dataset=data if data is not None else tiny.text_dataset(n=16),
        data_collator=tiny.PadCollator(),
        mix_config=mix_config,
    )


def test_the_layers_really_used_are_recorded(tmp_path):
    trainer = _trainer(tmp_path, MixupConfig(level="hidden"))
    trainer.train()
    saved = json.loads((tmp_path / "checkpoint-2/mix_config.json").read_text())
    assert saved["layers"] == [1, 2]  # MixText's {7, 9, 12} scaled to a 2-layer model


def test_resuming_with_another_recipe_warns_naming_the_fields(tmp_path, caplog):
    _trainer(tmp_path / "run", MixupConfig(level="hidden", alpha=0.4)).train()
    resumed = _trainer(tmp_path / "again", MixupConfig(level="hidden", alpha=2.0))
    with caplog.at_level(logging.WARNING, logger="hfmix"):
        resumed.train(resume_from_checkpoint=str(tmp_path / "run/checkpoint-2"))
    assert "alpha=0.4 there, 2.0 now" in caplog.text


@pytest.mark.parametrize("content", ["{not json", '{"mix_type": "mixup", "alpha": "high"}', b"\xff\xfe\x00"])
def test_resuming_from_a_corrupt_recipe_fails_naming_the_file(tmp_path, content):
    _trainer(tmp_path / "run", MixupConfig(level="hidden")).train()
    path = tmp_path / "run/checkpoint-2/mix_config.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError, match="mix_config.json is corrupt"):
        _trainer(tmp_path / "again", MixupConfig(level="hidden")).train(resume_from_checkpoint=str(path.parent))


def test_a_custom_label_column_named_in_label_names_is_used(tmp_path):
    data = tiny.text_dataset(n=16).rename_column("label", "stars")

    def collate(features):
        batch = tiny.PadCollator()([{k: v for k, v in f.items() if k != "stars"} for f in features])
        batch["stars"] = torch.tensor([f["stars"] for f in features])
        return batch

    trainer = _trainer(tmp_path, MixupConfig(level="hidden"), data, label_names=["stars"])
    trainer.data_collator = collate
    before = [p.detach().clone() for p in trainer.model.parameters()]
    trainer.train()
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert any((p - b).abs().max() > 0 for p, b in zip(trainer.model.parameters(), before, strict=True))
    trainer.args.label_names = None
    trainer.label_names = ["labels"]
    with pytest.raises(ValueError, match=r"label_names=\['labels'\].*TrainingArguments\(label_names"):
        trainer.compute_loss(trainer.model, {"input_ids": torch.ones(2, 3, dtype=torch.long), "stars": torch.zeros(2)})


def test_the_model_card_cites_the_paper_of_the_level_used(tmp_path):
    trainer = _trainer(tmp_path, MixupConfig(level="hidden"))
    trainer.create_model_card()
    card = (tmp_path / "README.md").read_text()
    assert "zhang2018mixup" in card and "chen2020mixtext" in card and "verma2019manifold" in card
    assert "chen2020mixtext" not in MixupConfig(level="pooled").card_citation()


@pytest.mark.parametrize("level", ["embeddings", "hidden", "pooled"])
def test_gradient_checkpointing_and_torch_compile_give_the_eager_losses(tmp_path, level):
    def losses(**extra):
        torch.manual_seed(0)
        trainer = _trainer(tmp_path / str(len(extra)), MixupConfig(level=level, alpha=1.0), logging_steps=1,
                           save_strategy="no", **extra)  # fmt: skip
        trainer.train()
        assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
        return [h["loss"] for h in trainer.state.log_history if "loss" in h]

    eager = losses()
    assert len(set(eager)) > 1  # the loss moved
    checkpointed = losses(gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": False})
    assert checkpointed == pytest.approx(eager, rel=1e-5, abs=1e-6)
    compiled = losses(torch_compile=True, torch_compile_backend="eager")
    assert compiled == pytest.approx(eager, rel=1e-4, abs=1e-5)
