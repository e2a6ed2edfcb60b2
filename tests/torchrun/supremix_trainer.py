"""Run by tests/test_methods_supremix_trainer.py under `torchrun --nproc_per_node 2`: SupReMixTrainer on 2 CPU processes
(gloo), 4 rows per process; rank 0 writes the losses and final weights for comparison with 1 process × 8 rows."""

import sys

import tiny
import torch
import torch.distributed as dist
import transformers as tf

from hfmix import SupReMixConfig, SupReMixTrainer


def train(output_dir: str, batch_size: int) -> tuple[list[float], torch.Tensor]:
    model = tiny.text_model("bert", num_labels=1, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    args = tf.TrainingArguments(
        output_dir=output_dir,
        per_device_train_batch_size=batch_size,
        max_steps=2,
        learning_rate=0.5,
        optim="sgd",  # Adam's first steps are ≈ lr·sign(g): float noise in near-zero gradients would flip them
        logging_steps=1,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        seed=0,
    )
    trainer = SupReMixTrainer(
        model=model,
        args=args,
        train_dataset=tiny.supremix_dataset(),
        data_collator=tiny.PadCollator(),
        mix_config=SupReMixConfig(num_positive_mixtures=4),
    )
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return losses, torch.cat([p.detach().flatten() for p in model.parameters()])


if __name__ == "__main__":
    losses, weights = train(sys.argv[1] + "-run", 4)
    if dist.get_rank() == 0:
        torch.save({"losses": losses, "weights": weights, "world_size": dist.get_world_size()}, sys.argv[1])
    dist.barrier()
    dist.destroy_process_group()
