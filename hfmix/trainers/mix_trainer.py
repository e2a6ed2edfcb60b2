"""`MixTrainer`: a drop-in `transformers.Trainer` that trains on mixed batches."""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any, Literal

import torch
import transformers
from torch import nn
from transformers import TrainerCallback

from hfmix.calibration import TemperatureScaler
from hfmix.config import MixConfig
from hfmix.data_collators.mix_data_collator import MixDataCollator, pop_plan
from hfmix.integrations.peft import fix_prefix_tuning
from hfmix.losses.supervised_contrastive_loss import supervised_contrastive_loss
from hfmix.mixed_forward import MixedForward, mixed_forward
from hfmix.mixers.mixup import MixupConfig
from hfmix.partnered_dataset import ANCHORS_KEY, PARTNER_KEY, PartnerCollator, PartneredDataset, dataset_labels
from hfmix.placement import check_level, num_layers, unwrap_model
from hfmix.registry import get_mix_config
from hfmix.sampling import MixPlan
from hfmix.targets import infer_problem_type, logits_of, micro_batch_token_count, mix_targets, mixed_loss
from hfmix.temperature_folding import calibration_card, check_foldable, fold_temperature, write_calibration
from hfmix.trainers.base import RecipeTrainer


class MixTrainer(RecipeTrainer):
    """[`~transformers.Trainer`] that mixes training batches with a `MixConfig` recipe.

    Change `Trainer` to `MixTrainer` and add `mix_config=...` (or use `MixTrainingArguments(mix_config=...)`); the
    existing collator keeps working. The loss is computed here from the logits (soft cross-entropy, BCE, MSE, or
    interpolated token losses), so soft labels never reach the model's own loss. Evaluation and prediction are
    unmixed. Mix plans come from a generator seeded by (args.seed, process index, global step, micro-step), so a
    resumed run draws the plans of an uninterrupted one.

    With `pairing_scope="dataset"` each training row travels with a partner drawn from the whole training set
    (C-Mixup over all labels, or uniformly), redrawn every epoch; the batch then holds the anchors and their
    partners, and the loss is over the mixed anchors.

    The returned loss is a per-micro-batch mean (`loss_is_scaled_for_ga = False`), so gradient accumulation is
    exact; a `compute_loss_func` you pass must return a per-micro-batch mean too (it receives mixed targets).

    `calibrate="temperature"` (single-label classifiers, with an `eval_dataset`): when `train()` ends, T is fitted by
    NLL on the evaluation set's logits (`hfmix.calibration.TemperatureScaler`) and folded into the head (the last
    Linear's weight and bias divided by T, checked exact on an evaluation batch), so the model's own logits are
    calibrated for `pipeline`, `predict` and any code without hfmix. T is in `trainer.temperature`; each later
    `save_model()` writes `calibration.json` beside `mix_config.json` (method, T, n, the layer, NLL before and
    after), and `create_model_card()` adds a line. Checkpoints saved during training hold the unfolded model. A head
    folding is not exact for (a non-linear layer after its last Linear), a missing eval set, and regression or
    multi-label heads are refused at construction.
    """

    recipe_class = MixupConfig

    def __init__(
        self,
        model: nn.Module | None = None,
        args: transformers.TrainingArguments | None = None,
        *trainer_args: Any,
        mix_config: MixConfig | dict | str | None = None,
        calibrate: Literal[None, "temperature"] = None,
        **kwargs: Any,
    ):
        self.calibrate, self.temperature, self.calibration = calibrate, None, None
        collator = kwargs.get("data_collator") or (trainer_args[0] if trainer_args else None)
        self.mix_config = _resolve_config(mix_config, args, collator)
        if model is not None:
            fix_prefix_tuning(model)  # peft prefix tuning on transformers 5 (a no-op for every other model)
        super().__init__(model, args, *trainer_args, **kwargs)
        self._num_layers = self._check_model(self.model) if self.model is not None else None
        if isinstance(self.data_collator, MixDataCollator):
            self._adopt_collator(self.data_collator)
        self._mix_stats = torch.zeros(3, dtype=torch.float64)  # Σλ over mixed rows, mixed rows, rows
        if getattr(self.mix_config, "pairing_scope", "batch") == "dataset":
            if self.args.dataloader_persistent_workers and self.args.dataloader_num_workers > 0:
                raise ValueError(
                    "pairing_scope='dataset' redraws partners every epoch, which persistent DataLoader workers "
                    "would not see; set dataloader_persistent_workers=False."
                )
            self.add_callback(_PartnerEpochCallback(self))
        self._partnered: PartneredDataset | None = None
        if calibrate is not None:
            self._check_calibrate()

    # ------------------------------------------------------------------------------------------------ set-up
    def _check_model(self, model: nn.Module) -> int | None:
        """Fail at construction, with the fix, when the recipe's level cannot work on this model; return its depth
        for level='hidden'."""
        if self.mix_config.prob == 0:
            return None  # mixing off: a plain Trainer, whatever the level
        check_level(model, self.mix_config.level)
        if self.mix_config.level != "hidden":
            return None
        depth = num_layers(model)
        layers = self.mix_config.resolve_layers(depth)
        if self.mix_config.layers is None:  # record the layers really used (mix_config.json, the model card)
            self.mix_config = get_mix_config(self.mix_config, layers=list(layers))
        return depth

    def _adopt_collator(self, collator: MixDataCollator) -> None:
        """Give the collator the model's depth and the epoch, and keep the schedule on its path: with mix_stop < 1
        (or a method that also runs the clean batch) its level='inputs' plans are applied here, where the step is
        known, not in the DataLoader workers."""
        if collator.num_layers is None:
            collator.num_layers = self._num_layers
        if (self.mix_config.mix_stop < 1 or not self.mix_config.mixes_in_collator) and collator.mix_inputs:
            self.data_collator = dataclasses.replace(collator, mix_inputs=False)
        self.add_callback(_CollatorEpochCallback(self))

    def _hp_search_setup(self, trial: Any) -> None:
        """`Trainer.hyperparameter_search` sets `args.mix_config` per trial (`hfmix.recipe_search.hp_space`): use it."""
        if trial is not None and isinstance(getattr(self.args, "mix_config", None), MixConfig):
            self.args.mix_config = None  # transformers would cast the trial's dict to the old value's type
        super()._hp_search_setup(trial)
        chosen = getattr(self.args, "mix_config", None)
        if chosen is None and hasattr(self.args, "mix_config"):
            self.args.mix_config = chosen = self.mix_config
        elif chosen is not None and not isinstance(chosen, MixConfig):
            self.args.mix_config = chosen = get_mix_config(chosen)
        if isinstance(chosen, MixupConfig) and chosen != self.mix_config:
            self.mix_config = chosen
            self._num_layers = self._check_model(self.model) if self.model is not None else None

    def _mixing_active(self) -> bool:
        stop = self.mix_config.mix_stop
        return self.mix_config.prob > 0 and (
            stop >= 1 or self.state.max_steps <= 0 or self.state.global_step < stop * self.state.max_steps
        )

    def _get_dataloader(self, dataset: Any, *args: Any, is_training: bool = False, **kwargs: Any):
        collator = self.data_collator
        if not is_training and isinstance(collator, MixDataCollator):
            self.data_collator = collator.base_collator  # evaluation is never mixed
        if is_training and getattr(self.mix_config, "pairing_scope", "batch") == "dataset":
            dataset = self._partnered_dataset(dataset)
            if isinstance(collator, MixDataCollator):
                self.data_collator = dataclasses.replace(
                    collator, base_collator=PartnerCollator(collator.base_collator)
                )
            else:
                self.data_collator = PartnerCollator(collator)
        try:
            return super()._get_dataloader(dataset, *args, is_training=is_training, **kwargs)
        finally:
            self.data_collator = collator

    def _partnered_dataset(self, dataset: Any) -> PartneredDataset:
        """The training set with a partner per row from the whole set (its unused columns removed first)."""
        try:
            import datasets

            if isinstance(dataset, datasets.Dataset):
                dataset = self._remove_unused_columns(dataset, description="training")
        except ImportError:
            pass
        labels = None
        if self.mix_config.pairing == "label_similarity":
            labels = dataset_labels(dataset, ["labels", "label", *(self.label_names or [])])
            if not labels.is_floating_point():
                raise ValueError(
                    "pairing='label_similarity' needs float regression labels in the training set, got "
                    f"{labels.dtype}; cast the label column to float."
                )
        self._partnered = PartneredDataset(dataset, self.mix_config.dataset_partners, labels, seed=self.args.seed)
        self._partnered.set_epoch(int(self.state.epoch or 0))
        return self._partnered

    # --------------------------------------------------------------------------------------------------- loss
    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ):
        inputs = dict(inputs)
        plan, inputs_mixed = pop_plan(inputs)  # drawn by MixDataCollator (which may have mixed the inputs)
        anchors = inputs.pop(ANCHORS_KEY, None)  # partners from the dataset follow the anchors in this batch
        anchors = plan.num_anchors if plan is not None else None if anchors is None else int(anchors.reshape(-1)[0])
        labels = self._pop_labels(inputs)
        views = inputs.pop(self.mix_config.view_column, None)
        plan = self._training_plan(plan, inputs_mixed, labels, anchors) if model.training else None
        contrastive = self.mix_config.contrastive_weight > 0 and model.training

        def run(batch_plan: MixPlan | None) -> MixedForward:
            return mixed_forward(
                model,
                inputs,
                batch_plan,
                self.mix_config,
                labels=labels,
                num_anchors=anchors,
                inputs_mixed=inputs_mixed and batch_plan is plan,
                record_pooled=contrastive,
            )

        if model.training:
            loss, result = self.mix_config.batch_loss(run, plan, lambda r: self._mixed_loss(r, num_items_in_batch))
        else:
            result = run(None)
            loss = self._mixed_loss(result, num_items_in_batch)
        if contrastive:
            loss = loss + self.mix_config.contrastive_weight * self._contrastive_term(result, views)
        if model.training:
            self._record(result.plan, len(result.labels) if result.plan is None else result.plan.anchors)
        return (loss, result.outputs) if return_outputs else loss

    def _pop_labels(self, inputs: dict[str, Any]) -> torch.Tensor:
        """The batch's labels, from the first of `label_names` (TrainingArguments) that it carries."""
        names = list(self.label_names or ["labels"])
        found = [name for name in names if name in inputs]
        if not found:
            raise ValueError(
                f"MixTrainer needs labels in each batch: none of label_names={names} is in it (keys: "
                f"{sorted(inputs)}). Name the label column 'label' or 'labels', or set "
                "TrainingArguments(label_names=[<your label column>])."
            )
        labels = inputs.pop(found[0])
        for other in found[1:]:
            inputs.pop(other)
        return labels

    def _training_plan(
        self, plan: MixPlan | None, inputs_mixed: bool, labels: torch.Tensor, anchors: int | None
    ) -> MixPlan | None:
        """This batch's plan: the collator's, else one drawn here; None once the schedule (`mix_stop`) has switched
        mixing off (inputs the collator has already mixed stay mixed: MixTrainer defers them when mix_stop < 1)."""
        if not (inputs_mixed or self._mixing_active()):
            return None
        if plan is not None:
            return plan
        return self.mix_config.sample_plan(
            labels.shape[0],
            generator=self._step_generator(),
            labels=labels,
            num_layers=self._num_layers,
            num_anchors=anchors,
        )

    def _mixed_loss(self, result: MixedForward, num_items_in_batch: Any) -> torch.Tensor:
        """hfmix's loss of the (mixed) outputs, or the user's `compute_loss_func` on mixed targets."""
        base = unwrap_model(self.accelerator.unwrap_model(self.model))
        logits, labels, plan = logits_of(result.outputs, type(base).__name__), result.labels, result.plan
        problem_type = infer_problem_type(getattr(getattr(base, "config", None), "problem_type", None), logits, labels)
        if self.compute_loss_func is None:
            num_tokens = None  # token classification: the step's token count, for exact GA and DDP (as HF)
            if problem_type == "token_classification" and (plan is None or plan.num_anchors is None):
                processes = self.accelerator.num_processes if self.args.average_tokens_across_devices else 1
                steps = getattr(self, "current_gradient_accumulation_steps", self.args.gradient_accumulation_steps)
                num_tokens = micro_batch_token_count(num_items_in_batch, steps, processes)
            return mixed_loss(
                logits,
                labels,
                plan,
                problem_type,
                self.args.label_smoothing_factor,
                self.mix_config.multi_label,
                num_tokens=num_tokens,
            )
        union = problem_type == "multi_label_classification" and self.mix_config.multi_label == "union"
        targets = labels if plan is None else mix_targets(labels, plan.to(labels.device), logits.shape[-1], union)
        if plan is not None and plan.num_anchors is not None:
            targets, result.outputs["logits"] = targets[: plan.anchors], logits[: plan.anchors]
        return self.compute_loss_func(result.outputs, targets, num_items_in_batch=num_items_in_batch)

    def _contrastive_term(self, result: MixedForward, views: Any) -> torch.Tensor:
        """SupCon (`supervised_contrastive_loss`) on the pooled representation of the rows that were not mixed
        before the head (all rows at level='pooled', which is recorded before mixing): positives share a class id,
        or a source example (`view_column`) when labels are not class ids."""
        labels, plan, pooled = result.labels, result.plan, result.pooled
        rows = labels.shape[0] if plan is None else plan.anchors
        z = (pooled[:, 0] if pooled.dim() == 3 else pooled)[:rows]
        if not labels.is_floating_point() and labels.dim() == 1:
            groups = labels[:rows]
        elif views is not None:
            groups = torch.as_tensor(views, device=z.device).reshape(-1)[:rows]
        else:
            raise ValueError(
                f"The contrastive term needs class ids or a '{self.mix_config.view_column}' column naming each row's "
                f"source example (hfmix.augment adds it); labels here are {labels.dtype} {tuple(labels.shape)}."
            )
        keep = torch.ones(rows, dtype=torch.bool, device=z.device)
        if plan is not None and self.mix_config.level != "pooled":
            keep = ~plan.mixed[:rows].to(z.device)  # a row mixed before the head stands for two examples
        if int(keep.sum()) < 2:
            return z.sum() * 0.0
        return supervised_contrastive_loss(
            z[keep], groups[keep].to(z.device), temperature=self.mix_config.contrastive_temperature
        )

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        for column in (PARTNER_KEY, self.mix_config.view_column):
            if column not in self._signature_columns:
                self._signature_columns.append(column)  # the partner row and the source ids reach the collator

    # ------------------------------------------------------------------------------------ logging and saving
    def _record(self, plan: MixPlan | None, rows: int) -> None:
        if plan is not None:
            mixed = plan.mixed.cpu()
            self._mix_stats[0] += float(plan.lam.cpu()[mixed].sum())
            self._mix_stats[1] += float(mixed.sum())
        self._mix_stats[2] += rows

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._mix_stats[2] > 0:
            lam_sum, mixed, rows = self._mix_stats.tolist()
            logs["mix_fraction"] = round(mixed / rows, 4)
            logs["mix_lambda"] = round(lam_sum / mixed, 4) if mixed else 1.0
            self._mix_stats.zero_()
        super().log(logs, start_time)

    # ------------------------------------------------------------------------------- calibrate="temperature"
    def _check_calibrate(self) -> None:
        """Refuse, at construction, what `calibrate` cannot do: an unknown mode, no single eval set, a head other
        than single-label classification, a head that a temperature does not fold into exactly."""
        if self.calibrate != "temperature":
            raise ValueError(f"calibrate must be None or 'temperature', got {self.calibrate!r}.")
        if self.eval_dataset is None or isinstance(self.eval_dataset, dict):
            raise ValueError(
                "calibrate='temperature' fits T on the evaluation set after training: pass one eval_dataset "
                "(held-out data, not the training set)."
            )
        config = getattr(unwrap_model(self.model), "config", None)
        problem = getattr(config, "problem_type", None)
        if getattr(config, "num_labels", 2) < 2 or problem in ("regression", "multi_label_classification"):
            raise ValueError(
                f"calibrate='temperature' is for single-label classifiers; this model is {problem or 'regression'} "
                f"(num_labels={getattr(config, 'num_labels', None)})."
            )
        check_foldable(self.model, self._calibration_probe())

    def _calibration_probe(self) -> dict[str, Any]:
        batch = self._prepare_inputs(next(iter(self.get_eval_dataloader())))
        skip = {*(self.label_names or ["labels"]), "labels", "label", self.mix_config.view_column, PARTNER_KEY}
        return {k: v for k, v in batch.items() if k not in skip}

    def calibrate_temperature(self) -> float:
        """Fit T on the evaluation set and fold it into the head (see the class docstring); return T."""
        output = self.predict(self.eval_dataset, metric_key_prefix="calibration")
        logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
        logits, labels = torch.as_tensor(logits).float(), torch.as_tensor(output.label_ids)
        if logits.dim() != 2 or labels.shape != logits.shape[:1] or labels.is_floating_point():
            raise ValueError(
                f"calibrate='temperature' needs logits (N, C) and class ids (N,) on the evaluation set, got "
                f"{tuple(logits.shape)} and {labels.dtype} {tuple(labels.shape)}."
            )
        scaler = TemperatureScaler().fit(logits, labels)
        layer = fold_temperature(self.model, scaler.temperature, self._calibration_probe())
        nll = torch.nn.functional.cross_entropy
        self.temperature = scaler.temperature
        self.calibration = {
            "method": "temperature", "temperature": scaler.temperature, "fitted_on": "eval_dataset",
            "n": len(labels), "layer": layer, "optimizer": scaler.method, "converged": scaler.converged,
            "nll_before": float(nll(logits, labels)), "nll_after": float(nll(logits / scaler.temperature, labels)),
        }  # fmt: skip
        return scaler.temperature

    def train(self, *args: Any, **kwargs: Any):
        output = super().train(*args, **kwargs)
        if self.calibrate == "temperature":
            self.calibrate_temperature()
        return output

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        super()._save(output_dir, state_dict)
        if self.calibration is not None and self.args.should_save:
            write_calibration(output_dir if output_dir is not None else self.args.output_dir, self.calibration)

    def create_model_card(self, *args: Any, **kwargs: Any) -> None:
        super().create_model_card(*args, **kwargs)
        card = os.path.join(self.args.output_dir, "README.md")
        if self.calibration is not None and self.is_world_process_zero() and os.path.isfile(card):
            with open(card, "a", encoding="utf-8") as fh:
                fh.write(calibration_card(self.calibration))


class _PartnerEpochCallback(TrainerCallback):
    """Redraws the dataset-level partners at the start of every epoch (before the DataLoader starts workers)."""

    def __init__(self, trainer: MixTrainer):
        self.trainer = trainer

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.trainer._partnered is not None:
            self.trainer._partnered.set_epoch(int(state.epoch or 0))


class _CollatorEpochCallback(TrainerCallback):
    """Tells MixDataCollator the epoch (part of its plans' seed) before each epoch's DataLoader starts."""

    def __init__(self, trainer: MixTrainer):
        self.trainer = trainer

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        collator = self.trainer.data_collator
        if not isinstance(collator, MixDataCollator):
            return
        try:  # the Trainer's own count: the epoch this global step falls in (exact on resume too)
            per_epoch = max(math.ceil(len(kwargs["train_dataloader"]) / args.gradient_accumulation_steps), 1)
            collator.set_epoch(state.global_step // per_epoch)
        except (KeyError, TypeError):  # a DataLoader without a length
            collator.set_epoch(int(state.epoch or 0))


def _resolve_config(mix_config: MixConfig | dict | str | None, args: Any, collator: Any) -> MixConfig:
    """The recipe: the `mix_config` argument, else `args.mix_config`, else the collator's, else default mixup."""
    from_collator = collator.mix_config if isinstance(collator, MixDataCollator) else None
    if isinstance(collator, MixDataCollator) and collator.soft_labels:
        raise ValueError(
            "MixDataCollator(soft_labels=True) is for other trainers; MixTrainer mixes the targets itself. "
            "Drop soft_labels."
        )
    chosen = mix_config if mix_config is not None else getattr(args, "mix_config", None)
    config = get_mix_config(chosen if chosen is not None else from_collator)
    if from_collator is not None and chosen is not None and config.to_dict() != from_collator.to_dict():
        raise ValueError(
            "MixTrainer got one mix_config and its MixDataCollator another; pass the recipe once (to the collator)."
        )
    if not isinstance(config, MixupConfig):
        raise TypeError(
            f"{type(config).__name__} is not a batch-mixing recipe; MixTrainer takes MixupConfig and its subclasses "
            "(FMixConfig, CutMixConfig); SupReMixConfig and GeodesicMixupConfig have trainers of their own."
        )
    return config
