"""Partners from the whole training set (pairing_scope='dataset'): the rows that travel together, the batches they
make, the loss over the anchors, and MixTrainer at every level, across epochs and through a resume."""

import pytest
import tiny
import torch
import transformers as tf
from datasets import Dataset

from hfmix import MixDataCollator, MixPlan, MixTrainer, MixupConfig
from hfmix.partnered_dataset import PartnerCollator, PartneredDataset, dataset_labels
from hfmix.targets import mixed_loss


tf.logging.set_verbosity_error()
C_MIXUP = dict(pairing="label_similarity", pairing_scope="dataset", bandwidth=0.05)


def clustered_regression(n=16, seed=0):
    """Token rows whose float labels sit in two clusters 10 apart: C-Mixup must never pair across them."""
    data = tiny.text_dataset(n=n, seed=seed, task="regression").to_dict()
    data["label"] = [(10.0 if i % 2 else 0.0) + 0.001 * i for i in range(n)]
    return Dataset.from_dict(data)


def test_rows_carry_their_partner_and_collate_as_anchors_then_partners():
    dataset = clustered_regression(n=10)
    labels = dataset_labels(dataset, ["labels", "label"])
    paired = PartneredDataset(dataset, MixupConfig(**C_MIXUP).dataset_partners, labels, seed=3)
    rows = [paired[i] for i in range(4)]
    for i, row in enumerate(rows):
        partner = int(paired.partners[i])
        assert partner != i and abs(labels[partner] - labels[i]) < 1  # same cluster, never itself
        assert row["mix_partner"]["input_ids"] == dataset[partner]["input_ids"]
    batch = PartnerCollator(tiny.PadCollator())(rows)
    assert batch["mix_anchors"].tolist() == [4] and batch["input_ids"].shape[0] == 8
    assert batch["labels"][:4].tolist() == labels[:4].float().tolist()
    assert batch["labels"][4:].tolist() == labels[paired.partners[:4]].float().tolist()
    with pytest.raises(ValueError, match="PartneredDataset"):
        PartnerCollator(tiny.PadCollator())([dataset[0]])


def test_partners_are_redrawn_each_epoch_and_equal_on_every_process():
    dataset = tiny.text_dataset(n=40)
    draw = MixupConfig(pairing_scope="dataset").dataset_partners  # uniform partners: a derangement
    first, other_process = PartneredDataset(dataset, draw, None, seed=1), PartneredDataset(dataset, draw, None, seed=1)
    first.set_epoch(0)
    other_process.set_epoch(0)
    epoch0 = first.partners.clone()
    assert torch.equal(epoch0, other_process.partners) and (epoch0 != torch.arange(40)).all()
    first.set_epoch(1)
    assert not torch.equal(first.partners, epoch0)
    first.set_epoch(0)
    assert torch.equal(first.partners, epoch0)


def test_loss_is_over_the_anchors_against_their_partners():
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 1), torch.randn(6)
    plan = MixPlan(torch.tensor([3, 4, 2]), torch.tensor([0.3, 0.6, 1.0])).with_partner_rows()
    expected = torch.stack(
        [(logits[i, 0] - (lam * labels[i] + (1 - lam) * labels[j])) ** 2 for i, j, lam in [(0, 3, 0.3), (1, 4, 0.6)]]
        + [(logits[2, 0] - labels[2]) ** 2]
    ).mean()
    torch.testing.assert_close(mixed_loss(logits, labels, plan, "regression"), expected)
    class_logits, classes = torch.randn(6, 3), torch.tensor([0, 1, 2, 2, 0, 1])
    direct = (
        -(
            0.3 * class_logits[0].log_softmax(-1)[0]
            + 0.7 * class_logits[0].log_softmax(-1)[2]
            + 0.6 * class_logits[1].log_softmax(-1)[1]
            + 0.4 * class_logits[1].log_softmax(-1)[0]
            + class_logits[2].log_softmax(-1)[2]
        )
        / 3
    )
    torch.testing.assert_close(mixed_loss(class_logits, classes, plan, "single_label_classification"), direct)


@pytest.mark.parametrize("level", ["embeddings", "hidden", "pooled"])
def test_trainer_mixes_each_anchor_with_a_similar_partner_from_the_dataset(tmp_path, level):
    received, batch_rows = [], []

    def loss_func(outputs, targets, num_items_in_batch=None):
        received.append(targets.detach().clone())
        return torch.nn.functional.mse_loss(outputs.logits.squeeze(-1), targets)

    model = tiny.text_model("bert", num_labels=1)
    model.register_forward_hook(lambda module, args, output: batch_rows.append(output.logits.shape[0]))
    trainer = MixTrainer(
        model=model,
        args=tiny.make_args(tmp_path, max_steps=4, per_device_train_batch_size=3),
        train_dataset=clustered_regression(n=12),
        data_collator=tiny.PadCollator(),
        compute_loss_func=loss_func,
        mix_config=MixupConfig(level=level, alpha=1.0, **C_MIXUP),
    )
    before = [p.detach().clone() for p in model.parameters()]
    trainer.train()
    assert batch_rows == [6] * 4  # 3 anchors + their 3 partners
    targets = torch.cat(received)
    assert targets.shape == (12,)
    near_zero, near_ten = targets.abs() < 0.1, (targets - 10).abs() < 0.1
    assert (near_zero | near_ten).all()  # mixed only within a cluster: partners by label similarity
    label_values = torch.tensor(clustered_regression(12)["label"])
    assert ((targets[:, None] - label_values).abs().min(1).values > 1e-5).sum() >= 6  # interpolated, not labels
    assert all(h["mix_fraction"] == 1.0 for h in trainer.state.log_history if "mix_fraction" in h)
    assert sum(not torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True)) > 0


def test_resume_across_an_epoch_boundary_ends_with_the_same_weights(tmp_path):
    def trainer_for(output_dir):
        return MixTrainer(
            model=tiny.text_model("bert", num_labels=1),
            args=tiny.make_args(output_dir, max_steps=8, save_strategy="steps", save_steps=5),
            train_dataset=clustered_regression(n=16),
            data_collator=tiny.PadCollator(),
            mix_config=MixupConfig(level="hidden", alpha=1.0, **C_MIXUP),
        )

    full = trainer_for(tmp_path / "full")
    full.train()  # 4 steps per epoch: the checkpoint at step 5 is inside the second epoch
    resumed = trainer_for(tmp_path / "resumed")
    resumed.train(resume_from_checkpoint=str(tmp_path / "full/checkpoint-5"))
    for (name, a), b in zip(full.model.named_parameters(), resumed.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)
    assert full._partnered.epoch == 1 and resumed._partnered.epoch == 1


def test_mixing_off_trains_on_the_anchors_alone(tmp_path):
    rows = []
    model = tiny.text_model("bert", num_labels=1)
    model.register_forward_hook(lambda module, args, output: rows.append(output.logits.shape[0]))
    trainer = MixTrainer(
        model=model,
        args=tiny.make_args(tmp_path, max_steps=4),
        train_dataset=clustered_regression(),
        data_collator=tiny.PadCollator(),
        mix_config=MixupConfig(level="pooled", mix_stop=0.5, **C_MIXUP),
    )
    trainer.train()
    assert rows == [8, 8, 4, 4]  # anchors + partners while mixing, then the anchors alone


def test_collator_mixes_audio_inputs_with_dataset_partners(tmp_path):
    model = tiny.audio_model("wav2vec2")
    rows = []
    model.register_forward_hook(lambda module, args, output: rows.append(output.logits.shape[0]))
    config = MixupConfig(level="inputs", pairing_scope="dataset")
    trainer = MixTrainer(
        model=model,
        args=tiny.make_args(tmp_path, max_steps=2),
        train_dataset=tiny.audio_dataset("wav2vec2"),
        data_collator=MixDataCollator(tiny.PadCollator(), config),
    )
    trainer.train()
    assert rows == [8, 8]
    assert all(h["mix_fraction"] == 1.0 for h in trainer.state.log_history if "mix_fraction" in h)


def test_collator_soft_labels_keep_the_anchors_only():
    dataset = tiny.audio_dataset("wav2vec2", n=6)
    paired = PartneredDataset(dataset, MixupConfig(pairing_scope="dataset").dataset_partners, None)
    collator = MixDataCollator(
        PartnerCollator(tiny.PadCollator()), MixupConfig(level="inputs"), soft_labels=True, num_labels=3
    )
    batch = collator([paired[i] for i in range(4)])
    assert batch["labels"].shape == (4, 3) and batch["input_values"].shape[0] == 4 and "mix_anchors" not in batch


def test_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="float regression labels"):
        MixTrainer(
            model=tiny.text_model("bert"),
            args=tiny.make_args(tmp_path),
            train_dataset=tiny.text_dataset(),  # integer class labels
            data_collator=tiny.PadCollator(),
            mix_config=MixupConfig(**C_MIXUP),
        ).train()
    with pytest.raises(ValueError, match="persistent"):
        MixTrainer(
            model=tiny.text_model("bert"),
            args=tiny.make_args(tmp_path, dataloader_num_workers=1, dataloader_persistent_workers=True),
            train_dataset=tiny.text_dataset(),
            data_collator=tiny.PadCollator(),
            mix_config=MixupConfig(pairing_scope="dataset"),
        )
    with pytest.raises(ValueError, match="none of"):
        dataset_labels(Dataset.from_dict({"x": [1.0]}), ["labels", "label"])
