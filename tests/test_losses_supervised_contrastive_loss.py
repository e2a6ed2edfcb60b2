"""The supervised contrastive term MixTrainer can add: the SupCon formula on the pooled representation, positives
by class or by source example, rows mixed before the head left out, and the EDA pipeline end to end."""

import pytest
import tiny
import torch
import torch.nn.functional as F
from datasets import Dataset

from hfmix import MixTrainer, MixupConfig
from hfmix.placement import find_head


def supcon(z, groups, tau):
    """Khosla et al.'s SupCon, written out: mean over anchors with a positive of −mean_p log softmax_{a≠i}."""
    z = F.normalize(z.double(), dim=-1)
    s = z @ z.T / tau
    losses = []
    for i in range(len(z)):
        others = [a for a in range(len(z)) if a != i]
        positives = [a for a in others if groups[a] == groups[i]]
        if positives:
            log_den = torch.logsumexp(s[i, others], 0)
            losses.append(-torch.stack([s[i, p] - log_den for p in positives]).mean())
    return torch.stack(losses).mean()


def quiet_model(num_labels=3):
    return tiny.text_model(
        "bert", num_labels=num_labels, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    ).train()


def batch_of(dataset, n=6):
    return tiny.PadCollator()([dataset[i] for i in range(n)])


def pooled_and_logits(model, batch):
    captured = []
    handle = find_head(model)[1].register_forward_pre_hook(lambda m, a: captured.append(a[0]))
    logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    handle.remove()
    return captured[0], logits


def test_the_term_is_supcon_over_class_ids(tmp_path):
    model = quiet_model()
    trainer = MixTrainer(
        model=model,
        args=tiny.make_args(tmp_path),
        train_dataset=tiny.text_dataset(),
        data_collator=tiny.PadCollator(),
        mix_config=MixupConfig(prob=0.0, contrastive_weight=0.5, contrastive_temperature=0.2),
    )
    batch = batch_of(trainer.train_dataset)
    loss = trainer.compute_loss(model, dict(batch))
    pooled, logits = pooled_and_logits(model, batch)
    expected = F.cross_entropy(logits, batch["labels"]) + 0.5 * supcon(pooled, batch["labels"].tolist(), 0.2)
    torch.testing.assert_close(loss.double(), expected.double(), rtol=1e-5, atol=1e-6)


def test_regression_rows_use_their_source_example_as_positives(tmp_path):
    data = tiny.text_dataset(n=8, task="regression").to_dict()
    data["source_index"] = [0, 0, 1, 1, 2, 2, 3, 3]
    dataset = Dataset.from_dict(data)
    model = quiet_model(num_labels=1)
    trainer = MixTrainer(
        model=model,
        args=tiny.make_args(tmp_path),
        train_dataset=dataset,
        data_collator=tiny.PadCollator(),
        mix_config=MixupConfig(prob=0.0, contrastive_weight=1.0),
    )
    batch = batch_of(dataset, 8)
    loss = trainer.compute_loss(model, dict(batch))
    pooled, logits = pooled_and_logits(model, {k: v for k, v in batch.items() if k != "source_index"})
    expected = F.mse_loss(logits.squeeze(-1), batch["labels"].float()) + supcon(pooled, data["source_index"], 0.1)
    torch.testing.assert_close(loss.double(), expected.double(), rtol=1e-5, atol=1e-6)
    trainer.train()  # the column survives remove_unused_columns and is popped before the forward
    with pytest.raises(ValueError, match="source_index"):
        trainer.compute_loss(model, {k: v for k, v in batch.items() if k != "source_index"})


def test_rows_mixed_before_the_head_are_left_out(tmp_path):
    losses = {}
    for level, weight in [("embeddings", 0.0), ("embeddings", 1.0), ("pooled", 0.0), ("pooled", 1.0)]:
        model = quiet_model()
        trainer = MixTrainer(
            model=model,
            args=tiny.make_args(tmp_path),
            train_dataset=tiny.text_dataset(),
            data_collator=tiny.PadCollator(),
            mix_config=MixupConfig(level=level, contrastive_weight=weight),
        )
        trainer.state.global_step = 0
        losses[level, weight] = trainer.compute_loss(model, dict(batch_of(trainer.train_dataset))).item()
    assert losses["embeddings", 1.0] == pytest.approx(losses["embeddings", 0.0])  # every row mixed: no term
    assert losses["pooled", 1.0] > losses["pooled", 0.0] + 1e-3  # pooled: recorded before mixing


def test_eda_rows_train_with_the_contrastive_term(tmp_path):
    from hfmix.augment import EDA

    rows = tiny.sentiment_rows(12)
    path = tiny.save_tiny_text_model(tmp_path / "model", [r["text"] for r in rows])
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

    tokenizer = AutoTokenizer.from_pretrained(path)
    synonyms = {"good": ["great"], "bad": ["awful"], "love": ["like"]}
    classes = {"neg": 0, "neu": 1, "pos": 2}
    dataset = Dataset.from_list([{"text": r["text"], "label": classes[r["label"]]} for r in rows])
    dataset = dataset.map(EDA(synonyms, num_aug=1, seed=0), batched=True, with_indices=True)
    dataset = dataset.map(lambda b: tokenizer(b["text"]), batched=True, remove_columns=["text", "augmented"])
    assert "source_index" in dataset.column_names and len(dataset) == 24
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=3)
    trainer = MixTrainer(
        model=model,
        args=tiny.make_args(tmp_path / "out", max_steps=3),
        train_dataset=dataset,
        data_collator=DataCollatorWithPadding(tokenizer),
        mix_config=MixupConfig(level="pooled", prob=0.5, contrastive_weight=0.5),
    )
    assert torch.isfinite(torch.tensor(trainer.train().training_loss))


def test_contrastive_settings_are_checked():
    with pytest.raises(ValueError, match="contrastive_weight"):
        MixupConfig(contrastive_weight=-1.0)
    with pytest.raises(ValueError, match="contrastive_temperature"):
        MixupConfig(contrastive_temperature=0.0)
