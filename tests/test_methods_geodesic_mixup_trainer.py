"""`hfmix.methods.geodesic_mixup.trainer`: GeodesicMixupTrainer on tiny CLIP / CLAP, its contract, and a real
2-process run (tests/torchrun/geodesic_mixup_trainer.py)."""

import json
import math

import pytest
import tiny
import torch
import transformers as tf

from hfmix.methods.geodesic_mixup import GeodesicMixupConfig
from hfmix.methods.geodesic_mixup.trainer import GeodesicMixupTrainer


torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------------- trainer
def trainer_args(tmp_path, **kw):
    defaults = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        per_device_eval_batch_size=4,
        max_steps=3,
        learning_rate=5e-3,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        seed=0,
        logging_steps=1,
        logging_nan_inf_filter=False,  # a NaN loss must show as NaN, not as 0.0
        remove_unused_columns=False,
    )
    return tf.TrainingArguments(**{**defaults, **kw})


def test_trainer_fine_tunes_clip_saves_the_recipe_and_reports_embedding_metrics(tmp_path):
    model = tiny.clip_model()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    config = GeodesicMixupConfig(weight=0.5, weight_schedule="linear")
    trainer = GeodesicMixupTrainer(
        model=model,
        args=trainer_args(tmp_path, max_steps=3, save_strategy="steps", save_steps=3),
        train_dataset=tiny.paired_dataset("image", n=10),
        eval_dataset=tiny.paired_dataset("image", n=7, seed=1),
        mix_config=config,
    )
    tiny.train_and_check(trainer)
    logs = [entry for entry in trainer.state.log_history if "m2_loss" in entry]
    assert logs and [entry["mix_weight"] for entry in logs] == pytest.approx([0.5, 0.5 * 2 / 3, 0.5 / 3], abs=1e-6)
    for name in ("logit_scale", "text_projection.weight", "visual_projection.weight"):
        assert not torch.equal(before[name], model.get_parameter(name)), name
    assert GeodesicMixupConfig.from_pretrained(tmp_path / "checkpoint-3") == config
    metrics = trainer.evaluate()
    for key in ("eval_loss", "eval_i2t_recall@1", "eval_t2i_recall@5", "eval_alignment", "eval_uniformity"):
        assert key in metrics and math.isfinite(metrics[key]), key
    assert "geodesic_mixup" in model.model_tags and "hfmix" in model.model_tags


def test_trainer_fine_tunes_clap_with_two_temperatures_and_unimodal_terms(tmp_path):
    model = tiny.clap_model()
    before = (model.logit_scale_a.item(), model.logit_scale_t.item())
    trainer = GeodesicMixupTrainer(
        model=model,
        args=trainer_args(tmp_path, max_steps=2, per_device_train_batch_size=3),
        train_dataset=tiny.paired_dataset("audio", n=6),
        mix_config={"mix_type": "geodesic_mixup", "weight": 0.3, "unimodal_weight": 0.2, "mixed_logit_scale": 14.3},
        compute_embedding_metrics=False,
    )
    tiny.train_and_check(trainer)
    assert model.logit_scale_a.item() != before[0] and model.logit_scale_t.item() != before[1]
    assert any("unimodal_loss" in entry for entry in trainer.state.log_history)


def test_trainer_odd_last_batch_and_contract_errors(tmp_path):
    trainer = GeodesicMixupTrainer(
        model=tiny.clip_model(),
        args=trainer_args(tmp_path, max_steps=-1, num_train_epochs=1, per_device_train_batch_size=2),
        train_dataset=tiny.paired_dataset("image", n=5),  # batches of 2, 2, 1
    )
    tiny.train_and_check(trainer)
    assert trainer.state.global_step == 3
    from hfmix.trainers.mix_training_args import MixTrainingArguments

    common = dict(output_dir=str(tmp_path), use_cpu=True, report_to=[])
    args = MixTrainingArguments(**common, mix_config={"mix_type": "geodesic_mixup", "weight": 0.1})
    assert GeodesicMixupTrainer(model=tiny.clip_model(), args=args).mix_config.weight == 0.1
    default = GeodesicMixupTrainer(model=tiny.clip_model(), args=MixTrainingArguments(**common))
    assert default.mix_config == GeodesicMixupConfig()  # MixTrainingArguments' default recipe is not geodesic
    with pytest.raises(TypeError, match="GeodesicMixupConfig"):
        GeodesicMixupTrainer(model=tiny.clip_model(), args=trainer_args(tmp_path), mix_config="mixup")
    with pytest.raises(TypeError, match="logit scale"):
        GeodesicMixupTrainer(model=tiny.text_model(), args=trainer_args(tmp_path))


def test_two_process_run_matches_the_single_process_full_batch(tmp_path):
    report = tmp_path / "report.json"
    tiny.run_two_processes("geodesic_mixup_trainer.py", str(report), timeout=180)
    result = json.loads(report.read_text())
    result.pop("max_grad_diff")
    assert result == {
        "world_size": 2,
        "same_lambda_as_one_process": True,
        "loss_matches": True,
        "grads_match": True,
        "logit_scale_grad_matches": True,
        "finite_weights_that_moved": True,
        "finite_losses_that_moved": True,
        "replicas_in_sync": True,
        "sentence_transformers_not_imported": True,  # `import hfmix` and these modules leave it optional
    }


def test_an_evaluation_set_with_no_batch_warns(tmp_path, caplog):
    import logging

    from hfmix import GeodesicMixupTrainer

    trainer = GeodesicMixupTrainer(
        model=tiny.clip_model(),
        args=tf.TrainingArguments(
            output_dir=str(tmp_path),
            per_device_eval_batch_size=8,
            dataloader_drop_last=True,
            report_to=[],
            use_cpu=True,
        ),
        eval_dataset=tiny.paired_dataset(n=4),
    )
    with caplog.at_level(logging.WARNING):
        metrics = trainer.evaluate()
    assert not any("recall" in k for k in metrics) and "gave no batch" in caplog.text
