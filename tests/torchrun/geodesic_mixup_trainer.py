"""Run by tests/test_methods_geodesic_mixup_trainer.py under `torchrun --nproc_per_node 2`: GeodesicMixupTrainer on 2 CPU processes (gloo).

1. Each process computes the trainer's loss on its half of a fixed global batch (embeddings gathered with
   gradients); the mean of the losses and the mean of the gradients are compared with the single-process loss
   and gradients on the full batch, with the λ a single process would draw.
2. A short DDP training run: finite weights and logged losses that moved, replicas stay in sync.
3. `import hfmix` and the geodesic modules do not import sentence-transformers (an optional dependency).
Rank 0 writes a JSON report.
"""

import copy
import json
import math
import sys

import tiny
import torch
import torch.distributed as dist
import transformers as tf

import hfmix  # noqa: F401
from hfmix import GeodesicMixupConfig, GeodesicMixupTrainer
from hfmix.losses import GeodesicMixupLoss, geodesic_mixup_loss
from hfmix.sampling import make_generator


def flat_grad(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


def main(report_path: str) -> None:
    torch.set_num_threads(1)
    optional_left_alone = "sentence_transformers" not in sys.modules
    args = tf.TrainingArguments(
        output_dir="/tmp/hfmix-geodesic-ddp",
        per_device_train_batch_size=3,
        max_steps=2,
        learning_rate=1e-2,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        seed=0,
        logging_steps=1,
        logging_nan_inf_filter=False,
        remove_unused_columns=False,
    )
    rank, world = args.process_index, args.world_size
    config = GeodesicMixupConfig(weight=0.5, unimodal_weight=0.3, mixed_logit_scale=10.0)
    model = tiny.clip_model()
    reference = copy.deepcopy(model)
    data = tiny.paired_dataset("image", n=6, seed=1)
    batch = {k: torch.tensor(data[k]) for k in data.column_names}
    local = {k: v[rank * 3 : (rank + 1) * 3] for k, v in batch.items()}

    trainer = GeodesicMixupTrainer(model=model, args=args, mix_config=config)
    model.train()
    loss = trainer.compute_loss(model, local)
    loss.backward()
    grads = flat_grad(model)
    dist.all_reduce(grads)
    grads /= world
    mean_loss = loss.detach().clone()
    dist.all_reduce(mean_loss)
    mean_loss /= world

    expected_lambdas = GeodesicMixupLoss(config).sample_lambdas(
        make_generator(0, 0, 0, 0)
    )  # what one process draws at step 0
    reference.train()
    out = reference(**batch)
    full = geodesic_mixup_loss(
        out.image_embeds,
        out.text_embeds,
        reference.logit_scale.exp(),
        expected_lambdas[0],
        weight=config.weight,
        mixed_logit_scale=config.mixed_logit_scale,
        unimodal_weight=config.unimodal_weight,
        unimodal_lam=expected_lambdas[1],
    )
    full.backward()
    ref_grads = flat_grad(reference)
    scale_grad = model.logit_scale.grad.clone()
    dist.all_reduce(scale_grad)

    trained = training_run(args, config)
    if rank == 0:
        report = {
            "world_size": world,
            "same_lambda_as_one_process": trainer.last_lambdas == expected_lambdas,
            "loss_matches": abs(float(mean_loss) - float(full.detach())) < 1e-5,
            "grads_match": bool(torch.allclose(grads, ref_grads, atol=1e-5, rtol=1e-4)),
            "logit_scale_grad_matches": abs(float(scale_grad) / world - float(reference.logit_scale.grad)) < 1e-5,
            "max_grad_diff": float((grads - ref_grads).abs().max()),
            **trained,
            "sentence_transformers_not_imported": optional_left_alone,
        }
        with open(report_path, "w") as fh:
            json.dump(report, fh)
    dist.barrier()
    dist.destroy_process_group()


def training_run(args: tf.TrainingArguments, config: GeodesicMixupConfig) -> dict[str, bool]:
    """A short DDP run: finite weights that moved, finite logged losses that moved, replicas in sync."""
    model = tiny.clip_model(seed=1)
    before = torch.cat([p.detach().flatten() for p in model.parameters()])
    run = GeodesicMixupTrainer(
        model=model, args=args, train_dataset=tiny.paired_dataset("image", n=12, seed=2), mix_config=config
    )
    run.train()
    weights = torch.cat([p.detach().flatten() for p in model.parameters()])
    everyone = [None] * args.world_size
    dist.all_gather_object(everyone, weights[:256].tolist())
    losses = [h["loss"] for h in run.state.log_history if "loss" in h]
    return {
        "finite_weights_that_moved": bool(torch.isfinite(weights).all() and not torch.equal(before, weights)),
        "finite_losses_that_moved": len(losses) >= 2 and all(map(math.isfinite, losses)) and len(set(losses)) > 1,
        "replicas_in_sync": everyone[0] == everyone[1],
    }


if __name__ == "__main__":
    main(sys.argv[1])
