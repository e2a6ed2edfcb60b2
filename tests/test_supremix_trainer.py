"""SupReMixTrainer on tiny models: the loss it trains is supremix_loss on the model's embedding, only the encoder
trains, the linear probe recovers a linear target, 2 processes equal 1 process on the full batch."""

import json

import pytest
import tiny
import torch
import transformers as tf
from test_trainer import make_args

from hfmix import SupReMixConfig, SupReMixTrainer
from hfmix.losses import supremix_loss
from hfmix.placement import find_head
from hfmix.sampling import make_generator


tf.logging.set_verbosity_error()


def trainer_for(tmp_path, model=None, dataset=None, config=None, **args):
    return SupReMixTrainer(
        model=model if model is not None else tiny.text_model("bert", num_labels=1),
        args=make_args(tmp_path, **args),
        train_dataset=dataset if dataset is not None else tiny.supremix_dataset(),
        eval_dataset=dataset if dataset is not None else tiny.supremix_dataset(seed=1),
        data_collator=tiny.PadCollator(),
        mix_config=config if config is not None else SupReMixConfig(num_positive_mixtures=4),
    )


def test_the_trained_loss_is_supremix_on_the_head_input(tmp_path):
    trainer = trainer_for(tmp_path)
    batch = tiny.PadCollator()([trainer.train_dataset[i] for i in range(6)])
    model = trainer.model.train()
    torch.manual_seed(0)
    loss = trainer.compute_loss(model, dict(batch))
    captured = []
    handle = find_head(model)[1].register_forward_pre_hook(lambda m, a: captured.append(a[0]))
    torch.manual_seed(0)  # the same dropout masks
    model(**{k: v for k, v in batch.items() if k != "labels"})
    handle.remove()
    expected = supremix_loss(
        captured[0], batch["labels"].float(), generator=make_generator(0, 0, 0, 0), num_positive_mixtures=4
    )
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("embedding", ["pooled", "mean", "cls"])
def test_pretraining_trains_the_encoder_not_the_head(tmp_path, embedding):
    trainer = trainer_for(
        tmp_path, config=SupReMixConfig(embedding=embedding), max_steps=2, save_strategy="steps", save_steps=2
    )
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    changed = {n for n, p in trainer.model.named_parameters() if not torch.equal(before[n], p)}
    assert "bert.encoder.layer.0.attention.self.query.weight" in changed
    assert not any(n.startswith("classifier") for n in changed)
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in trainer.state.log_history if "loss" in h)
    saved = json.loads((tmp_path / "checkpoint-2" / "mix_config.json").read_text())
    assert saved["mix_type"] == "supremix" and saved["embedding"] == embedding


def test_audio_encoder_pretrains(tmp_path):
    dataset = tiny.audio_dataset("wav2vec2", n=8)
    dataset = dataset.map(lambda row, i: {"label": float(i % 3)}, with_indices=True)
    trainer = trainer_for(tmp_path, model=tiny.audio_model("wav2vec2", num_labels=1), dataset=dataset, max_steps=2)
    before = trainer.model.wav2vec2.encoder.layers[0].attention.q_proj.weight.detach().clone()
    trainer.train()
    assert not torch.equal(before, trainer.model.wav2vec2.encoder.layers[0].attention.q_proj.weight)


def test_linear_probe_recovers_a_linear_target_and_writes_the_head(tmp_path):
    trainer = trainer_for(tmp_path, dataset=tiny.supremix_dataset(n=80))
    z, _ = trainer.dataset_embeddings(trainer.train_dataset)
    w = torch.randn(z.shape[1], generator=torch.Generator().manual_seed(0))
    target = (z.double() @ w.double() + 0.5).tolist()
    dataset = trainer.train_dataset.remove_columns("label").add_column("label", target)
    metrics = trainer.linear_probe(dataset, dataset, ridge=0.0)
    assert metrics["probe_pearson"] > 0.9999 and metrics["probe_mae"] < 1e-3 * (max(target) - min(target))
    assert set(metrics) == {"probe_mse", "probe_rmse", "probe_mae", "probe_pearson", "probe_spearman"}
    batch = tiny.PadCollator()([dataset[i] for i in range(4)])
    with torch.no_grad():
        logits = trainer.model.eval()(**{k: v for k, v in batch.items() if k != "labels"}).logits
    torch.testing.assert_close(logits.reshape(-1).double(), batch["labels"].double(), atol=1e-3, rtol=1e-3)


def test_two_processes_equal_one_process_on_the_full_batch(tmp_path):
    report = tmp_path / "two.pt"
    tiny.run_two_processes("supremix_distributed.py", str(report))
    two = torch.load(report)
    import supremix_distributed

    losses, weights = supremix_distributed.train(str(tmp_path / "one"), 8)
    assert two["world_size"] == 2 and len(two["losses"]) == 2
    assert two["losses"] == pytest.approx(losses, rel=1e-4)
    torch.testing.assert_close(two["weights"], weights, atol=1e-5, rtol=1e-4)


def test_clear_errors(tmp_path):
    with pytest.raises(TypeError, match="SupReMixConfig"):
        trainer_for(tmp_path, config={"mix_type": "mixup"})
    trainer = trainer_for(tmp_path)
    batch = tiny.PadCollator()([trainer.train_dataset[i] for i in range(3)])
    batch.pop("labels")
    with pytest.raises(ValueError, match="regression `labels`"):
        trainer.compute_loss(trainer.model, batch)
    with pytest.raises(ValueError, match="ridge"):
        trainer.linear_probe(ridge=-1)
