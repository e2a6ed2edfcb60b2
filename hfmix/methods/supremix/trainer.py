"""`SupReMixTrainer`: contrastive pre-training of a text or audio encoder for regression, then a linear probe."""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import Tensor, nn

from hfmix.methods.supremix.config import SupReMixConfig
from hfmix.methods.supremix.loss import SupReMixLoss, check_finite_labels
from hfmix.model_parts import capture_head_input, find_head, pooled_representation, unwrap_model
from hfmix.regression_metrics import regression_scores
from hfmix.sampling import make_generator
from hfmix.trainers.base import RecipeTrainer


class SupReMixTrainer(RecipeTrainer):
    """[`~transformers.Trainer`] that pre-trains an encoder with the SupReMix loss on a regression dataset.

    The model is any HF model for sequence classification/regression (text or audio, e.g.
    `AutoModelForSequenceClassification(num_labels=1)`) or a bare encoder; the embedding is the input of its task
    head (`SupReMixConfig.embedding`): for a decoder-only classifier (GPT-2, Llama, Qwen2, ...), whose head scores
    every position, the hidden state at each row's last real token, the position its prediction comes from. `train()` runs the contrastive pre-training (the head is not trained);
    `linear_probe()` then fits a ridge regressor on the frozen embeddings, writes it into a linear head, and
    reports MAE, RMSE, Pearson and Spearman on the evaluation set. Fine-tune afterwards with `Trainer` or
    `MixTrainer` if you like.

    Under several processes the embeddings and labels of all processes are gathered with gradients and each
    process's loss is its share of the global mean, so loss and gradients equal the single-process full-batch
    ones; the mixtures are drawn from a generator seeded by (seed, step, micro-step), equal on every process.
    The loss is the recipe's runtime, `self.supremix` (a `SupReMixLoss`).
    """

    recipe_class = SupReMixConfig
    default_recipe = "supremix"

    probe: nn.Linear | None = None  # set by `linear_probe`
    _eval_batches = 0

    @functools.cached_property
    def supremix(self) -> SupReMixLoss:
        """The recipe's loss runtime."""
        return SupReMixLoss(self.mix_config)

    # ------------------------------------------------------------------------------------------- embeddings
    def embed(self, model: nn.Module, inputs: dict[str, Any]) -> tuple[Tensor, Any]:
        """(B, H) embeddings of a batch (without labels) and the model's outputs."""
        base = unwrap_model(self.accelerator.unwrap_model(model))
        how = self.mix_config.embedding
        if how == "pooled" and _has_head(base):
            with capture_head_input(base) as captured:
                outputs = model(**inputs)
            return pooled_representation(base, inputs, captured[0]), outputs
        outputs = model(**inputs, output_hidden_states=True)
        if how == "pooled":
            pooled = getattr(outputs, "pooler_output", None)
            if pooled is None:
                raise ValueError(
                    f"embedding='pooled' needs a task head or a `pooler_output`; {type(base).__name__} has neither. "
                    "Use embedding='mean' or 'cls'."
                )
            return pooled, outputs
        hidden = outputs.hidden_states[-1] if outputs.get("hidden_states") else outputs.last_hidden_state
        if how == "cls":
            return hidden[:, 0], outputs
        mask = inputs.get("attention_mask")
        if mask is None or mask.shape != hidden.shape[:2]:  # audio: the mask counts samples, not frames
            return hidden.mean(1), outputs
        weights = mask.to(hidden.dtype)[..., None]
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1), outputs

    # --------------------------------------------------------------------------------------------------- loss
    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Tensor | int | None = None,
    ):
        inputs = dict(inputs)
        labels = inputs.pop("labels", None)
        if labels is None:
            raise ValueError(
                f"SupReMixTrainer needs regression `labels` in each batch (keys: {sorted(inputs)}); name the "
                "label column 'label' or 'labels'."
            )
        embeddings, outputs = self.embed(model, inputs)
        labels = labels.float().reshape(len(embeddings), -1)
        if labels.shape[1] != 1:
            raise ValueError(
                f"SupReMix needs one regression value per row, got labels of shape {tuple(labels.shape)}."
            )
        generator = self._generator(model.training)
        loss = self.supremix(embeddings, labels[:, 0], generator=generator, gather=None if model.training else False)
        # Every output takes part with weight 0: DDP then sees gradients (zeros) for the head and the pooler too,
        # and the graph survives a batch where no anchor has a positive.
        unused = [t.sum() for t in outputs.values() if isinstance(t, Tensor) and t.requires_grad]
        loss = loss + 0.0 * (embeddings.sum() + sum(unused))
        return (loss, outputs) if return_outputs else loss

    def _generator(self, training: bool) -> torch.Generator:
        if not training:  # evaluation: the same mixtures at every evaluation
            self._eval_batches += 1
            return make_generator(self.args.seed, -1, self._eval_batches)
        return self._step_generator(process=0)  # the same mixtures on every process

    def evaluate(self, *args: Any, **kwargs: Any) -> dict[str, float]:
        self._eval_batches = 0
        return super().evaluate(*args, **kwargs)

    # ------------------------------------------------------------------------------------------ linear probe
    @torch.no_grad()
    def dataset_embeddings(self, dataset: Any) -> tuple[Tensor, Tensor]:
        """Frozen (N, H) embeddings and (N,) labels of a whole dataset (gathered from every process)."""
        model = self.model.eval()
        embeddings, labels = [], []
        for batch in self.get_eval_dataloader(dataset):
            batch = self._prepare_inputs(batch)
            target = batch.pop("labels")
            embedding, _ = self.embed(model, batch)
            embedding, target = self.accelerator.gather_for_metrics((embedding.float(), target.float()))
            embeddings.append(embedding.cpu())
            labels.append(target.reshape(-1).cpu())
        return torch.cat(embeddings), torch.cat(labels)

    def linear_probe(
        self, train_dataset: Any = None, eval_dataset: Any = None, ridge: float = 1e-3
    ) -> dict[str, float]:
        """Fit y ≈ w·z + b by ridge regression on frozen embeddings of `train_dataset` (default: the training set)
        and score it on `eval_dataset` (default: the evaluation set): `probe_mae`, `probe_rmse`, `probe_pearson`,
        `probe_spearman` (and `probe_mse`), logged and returned.

        The probe is kept in `self.probe`; when the model's head is one `nn.Linear` with a bias on the embedding
        (BERT-style `classifier`, audio `classifier` after a projector, ...) it is written into the head, so the
        saved model predicts with it (a bias-free head, such as GPT-2's `score`, is left as it is).
        """
        if ridge < 0:
            raise ValueError(f"ridge must be >= 0, got {ridge}.")
        train_dataset = self.train_dataset if train_dataset is None else train_dataset
        eval_dataset = self.eval_dataset if eval_dataset is None else eval_dataset
        if train_dataset is None or eval_dataset is None:
            raise ValueError(
                "linear_probe needs a training and an evaluation dataset (pass them or set the trainer's)."
            )
        z, y = self.dataset_embeddings(train_dataset)
        check_finite_labels(y, "linear_probe: the training set's")
        z, y = z.double(), y.double()
        mean_z, mean_y = z.mean(0), y.mean()
        centred = z - mean_z
        gram = centred.T @ centred + ridge * len(z) * torch.eye(z.shape[1], dtype=torch.float64)
        weight = torch.linalg.solve(gram, centred.T @ (y - mean_y))
        bias = mean_y - mean_z @ weight
        self.probe = nn.Linear(z.shape[1], 1)
        self.probe.weight.data, self.probe.bias.data = weight[None].float(), bias.reshape(1).float()
        self._write_probe_into_head()
        test_z, test_y = self.dataset_embeddings(eval_dataset)
        scores = regression_scores(self.probe(test_z).reshape(-1), test_y)
        metrics = {f"probe_{name}": value for name, value in scores.items()}
        self.log(dict(metrics))
        return metrics

    def _write_probe_into_head(self) -> None:
        base = unwrap_model(self.accelerator.unwrap_model(self.model))
        if self.mix_config.embedding != "pooled" or not _has_head(base):
            return
        _, head = find_head(base)
        if isinstance(head, nn.Linear) and head.bias is not None and head.weight.shape == self.probe.weight.shape:
            head.weight.data.copy_(self.probe.weight.data)
            head.bias.data.copy_(self.probe.bias.data)


def _has_head(model: nn.Module) -> bool:
    try:
        find_head(model)
    except ValueError:
        return False
    return True
