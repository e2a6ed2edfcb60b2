"""SupReMixTrainer on tiny models: the loss it trains is supremix_loss on the model's embedding, only the encoder
trains, the linear probe recovers a linear target, 2 processes equal 1 process on the full batch."""

import json

import pytest
import tiny
import torch
import transformers as tf

from hfmix import SupReMixConfig, SupReMixTrainer
from hfmix.losses import supremix_loss
from hfmix.placement import find_head
from hfmix.sampling import make_generator


tf.logging.set_verbosity_error()


def trainer_for(tmp_path, model=None, dataset=None, config=None, **args):
    return SupReMixTrainer(
        model=model if model is not None else tiny.text_model("bert", num_labels=1),
        args=tiny.make_args(tmp_path, **args),
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
    tiny.train_and_check(trainer)
    changed = {n for n, p in trainer.model.named_parameters() if not torch.equal(before[n], p)}
    assert "bert.encoder.layer.0.attention.self.query.weight" in changed
    assert not any(n.startswith("classifier") for n in changed)
    saved = json.loads((tmp_path / "checkpoint-2" / "mix_config.json").read_text())
    assert saved["mix_type"] == "supremix" and saved["embedding"] == embedding


def test_audio_encoder_pretrains(tmp_path):
    dataset = tiny.audio_dataset("wav2vec2", n=8)
    dataset = dataset.map(lambda row, i: {"label": float(i % 3)}, with_indices=True)
    trainer = trainer_for(tmp_path, model=tiny.audio_model("wav2vec2", num_labels=1), dataset=dataset, max_steps=2)
    before = trainer.model.wav2vec2.encoder.layers[0].attention.q_proj.weight.detach().clone()
    tiny.train_and_check(trainer)
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
    tiny.run_two_processes("supremix_trainer.py", str(report))
    two = torch.load(report)
    from torchrun import supremix_trainer as script

    losses, weights = script.train(str(tmp_path / "one"), 8)
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


# ------------------------------------------------------------------------------------ decoder-only classifiers
def decoder_model(arch):
    """A tiny random decoder-only classifier (hidden 32, 2 layers) with a pad token id, built from its config."""
    torch.manual_seed(0)
    size = dict(hidden_size=32, num_attention_heads=2, num_labels=1, pad_token_id=0, vocab_size=tiny.VOCAB)
    if arch == "gpt2":
        config = tf.GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=64, vocab_size=tiny.VOCAB, num_labels=1)
        config.pad_token_id = 0
        return tf.GPT2ForSequenceClassification(config).eval()
    config = tf.LlamaConfig(**size, num_hidden_layers=2, intermediate_size=37, max_position_embeddings=64)
    return tf.LlamaForSequenceClassification(config).eval()


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_decoder_only_embedding_is_the_last_real_token(tmp_path, arch, side):
    """The pooled embedding of a GPT-2 / Llama classifier is the hidden state its prediction comes from: each row's
    last real token (found as the model finds it, from pad_token_id). A middle real token changes it."""
    trainer = trainer_for(tmp_path, model=decoder_model(arch))

    def batch(rows):
        longest = max(map(len, rows))
        fill = [[0] * (longest - len(r)) for r in rows]
        ids = [r + f if side == "right" else f + r for r, f in zip(rows, fill, strict=True)]
        mask = [[1] * len(r) + f if side == "right" else f + [1] * len(r) for r, f in zip(rows, fill, strict=True)]
        return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}

    with torch.no_grad():
        base, outputs = trainer.embed(trainer.model, batch([[5, 6, 7, 8, 9, 10], [11, 12, 13], [14, 15, 16, 17]]))
        middle, _ = trainer.embed(trainer.model, batch([[5, 6, 99, 8, 9, 10], [11, 98, 13], [14, 15, 16, 17]]))
    torch.testing.assert_close(trainer.model.score(base), outputs.logits, atol=1e-5, rtol=1e-5)
    assert (middle[0] - base[0]).abs().max() > 1e-4 and (middle[1] - base[1]).abs().max() > 1e-4
    torch.testing.assert_close(middle[2], base[2], atol=1e-5, rtol=1e-5)  # a row left as it was


def test_decoder_only_padding_does_not_move_the_embedding(tmp_path):
    """Right padding: more padding tokens, or padding positions marked as attended, change nothing; the last
    real token does change it (token 0 alone, the old embedding, never depended on the rest of the row)."""
    trainer = trainer_for(tmp_path, model=decoder_model("gpt2"))
    ids = torch.tensor([[5, 6, 7, 8, 0, 0], [9, 10, 11, 12, 13, 14]])
    mask = (ids != 0).long()
    with torch.no_grad():
        base, _ = trainer.embed(trainer.model, {"input_ids": ids, "attention_mask": mask})
        longer = torch.cat([ids, torch.zeros(2, 3, dtype=torch.long)], 1)
        extended, _ = trainer.embed(trainer.model, {"input_ids": longer, "attention_mask": (longer != 0).long()})
        attended, _ = trainer.embed(trainer.model, {"input_ids": ids, "attention_mask": torch.ones_like(ids)})
        last = ids.clone()
        last[0, 3] = 50
        moved, _ = trainer.embed(trainer.model, {"input_ids": last, "attention_mask": mask})
    torch.testing.assert_close(extended, base, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(attended, base, atol=1e-5, rtol=1e-5)
    assert (moved[0] - base[0]).abs().max() > 1e-4


def test_decoder_only_model_pretrains(tmp_path):
    trainer = trainer_for(tmp_path, model=decoder_model("llama"), max_steps=3)
    trainer.model.train()
    before = trainer.model.model.layers[0].self_attn.q_proj.weight.detach().clone()
    tiny.train_and_check(trainer)
    assert not torch.equal(before, trainer.model.model.layers[0].self_attn.q_proj.weight)


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_labels_are_refused_naming_the_rows(tmp_path, bad):
    dataset = tiny.supremix_dataset()
    labels = list(dataset["label"])
    labels[3] = bad
    dataset = dataset.remove_columns("label").add_column("label", labels)
    trainer = trainer_for(tmp_path, dataset=dataset, max_steps=1, per_device_train_batch_size=16)
    batch = tiny.PadCollator()([dataset[i] for i in range(6)])
    with pytest.raises(ValueError, match=r"finite.*rows \[3\]"):
        trainer.compute_loss(trainer.model, batch)
    with pytest.raises(ValueError, match=r"finite.*rows \[\d+\] hold \[(inf|-inf|nan)\]"):
        trainer.train()  # the whole (shuffled) dataset in one batch
    with pytest.raises(ValueError, match=r"finite.*rows \[3\]"):
        trainer.linear_probe(dataset, tiny.supremix_dataset(seed=1))
