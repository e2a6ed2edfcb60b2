"""Run by tests/test_trainers_mix_trainer.py under `torchrun --nproc_per_node 2`: MixTrainer on 2 CPU processes (gloo).

Trains twice from the same seed, records every mix plan each process draws, and writes (on rank 0) a JSON
report: whether the two runs ended with identical weights, whether the processes drew different plans, and
whether DDP kept the replicas in sync.
"""

import json
import sys

import tiny
import torch
import torch.distributed as dist
import transformers as tf

from hfmix import MixTrainer, MixupConfig


def train_once(output_dir: str):
    plans = []
    config = MixupConfig(level="hidden", alpha=1.0)
    original = type(config).sample_plan

    def recording(self, *args, **kwargs):
        plan = original(self, *args, **kwargs)
        plans.append((plan.index.tolist(), [round(v, 6) for v in plan.lam.tolist()], plan.layer))
        return plan

    type(config).sample_plan = recording
    try:
        args = tf.TrainingArguments(
            output_dir=output_dir,
            per_device_train_batch_size=4,
            max_steps=3,
            learning_rate=1e-2,
            report_to=[],
            use_cpu=True,
            save_strategy="no",
            seed=0,
            ddp_find_unused_parameters=False,
        )
        model = tiny.text_model("bert")
        trainer = MixTrainer(
            model=model,
            args=args,
            train_dataset=tiny.text_dataset(n=32),
            data_collator=tiny.PadCollator(),
            mix_config=config,
        )
        loss = trainer.train().training_loss
    finally:
        type(config).sample_plan = original
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    return flat, plans, loss


def main(report_path: str) -> None:
    first, plans, loss = train_once("/tmp/hfmix-ddp-a")
    second, plans_again, _ = train_once("/tmp/hfmix-ddp-b")
    world = dist.get_world_size()
    everyone = [None] * world
    dist.all_gather_object(everyone, {"plans": plans, "weights": first.tolist()[:64]})
    if dist.get_rank() == 0:
        report = {
            "world_size": world,
            "finite_loss": bool(torch.isfinite(torch.tensor(loss))),
            "reproducible": bool(torch.equal(first, second)) and plans == plans_again,
            "ranks_draw_different_plans": everyone[0]["plans"] != everyone[1]["plans"],
            "plans_per_rank": len(plans),
            "replicas_in_sync": everyone[0]["weights"] == everyone[1]["weights"],
        }
        with open(report_path, "w") as fh:
            json.dump(report, fh)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
