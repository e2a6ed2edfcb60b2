"""Checks that a short training run really trained: transformers' `logging_nan_inf_filter` logs a NaN loss as 0.0,
so a finite logged loss alone proves nothing. Used by the SupReMix and m²-mix tests."""

import math

import torch


def st_trainer(tmp_path, model, data, loss, **overrides):
    """A `SentenceTransformerTrainer` for 3 logged steps of batch 5 on the CPU, NaN losses logged as NaN."""
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    options = dict(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=5,
        max_steps=3,
        learning_rate=1e-2,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
        logging_nan_inf_filter=False,
    )
    args = SentenceTransformerTrainingArguments(**{**options, **overrides})
    return SentenceTransformerTrainer(model=model, args=args, train_dataset=data, loss=loss)


def train_and_check(trainer, model=None):
    """Train, then assert finite weights of which some moved and finite logged losses that are not all equal."""
    model = trainer.model if model is None else model
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    result = trainer.train()
    after = dict(model.named_parameters())
    assert all(torch.isfinite(p).all() for p in after.values()), "non-finite weights after training"
    assert any(not torch.equal(before[name], p) for name, p in after.items()), "no weight moved"
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) >= 2 and all(math.isfinite(x) for x in losses) and len(set(losses)) > 1, losses
    return result
