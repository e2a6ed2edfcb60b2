"""`GeodesicMixupTrainer`: contrastive fine-tuning of CLIP / CLAP-style dual encoders with m²-mix.

Oh et al., "Geodesic Multi-Modal Mixup for Robust Fine-Tuning", NeurIPS 2023, arXiv:2203.03897.
"""

from __future__ import annotations

from typing import Any

import torch
import transformers
from torch import Tensor, nn

from hfmix.embedding_metrics import retrieval_metrics
from hfmix.methods.geodesic_mixup.config import GeodesicMixupConfig
from hfmix.methods.geodesic_mixup.loss import GeodesicMixupLoss, geodesic_mixup_loss
from hfmix.placement import unwrap_model
from hfmix.trainers.base import RecipeTrainer


logger = transformers.logging.get_logger(__name__)


FIRST_MODALITY_KEYS = ("image_embeds", "audio_embeds")
TEXT_KEY = "text_embeds"


def logit_scales(model: nn.Module) -> tuple[Tensor, Tensor | None]:
    """The multiplicative logit scale(s) of a dual encoder: (s_first, s_text or None).

    `logit_scale_a` and `logit_scale_t` (ClapModel: audio → text and text → audio) take precedence over a shared
    `logit_scale` (CLIPModel). All are log-space parameters, as in transformers, and are exponentiated here.
    """
    model = unwrap_model(model)
    scale_a, scale_t = getattr(model, "logit_scale_a", None), getattr(model, "logit_scale_t", None)
    if isinstance(scale_a, Tensor) and isinstance(scale_t, Tensor):
        return scale_a.exp(), scale_t.exp()
    scale = getattr(model, "logit_scale", None)
    if isinstance(scale, Tensor):
        return scale.exp(), None
    raise TypeError(
        f"{type(model).__name__} has no log-space logit scale: GeodesicMixupTrainer needs a `logit_scale` "
        "parameter (CLIPModel) or `logit_scale_a` and `logit_scale_t` (ClapModel)."
    )


class GeodesicMixupTrainer(RecipeTrainer):
    """[`~transformers.Trainer`] for contrastive fine-tuning of a dual encoder with geodesic multi-modal mixup.

    Works with `CLIPModel` (image–text), `ClapModel` (audio–text; `logit_scale_a` scales the audio → text logits,
    `logit_scale_t` the text → audio ones) and any dual encoder that keeps this duck-typed contract:
    - `model(**batch)` returns a mapping or `ModelOutput` with `text_embeds` and one of `image_embeds` /
      `audio_embeds` (B, D); or name the two keys with `embedding_keys=(first, second)`. They are L2-normalised
      here (a no-op for CLIP and CLAP, whose forward already normalises);
    - the model has a log-space `logit_scale` parameter, or `logit_scale_a` and `logit_scale_t`. If the forward
      does not use them, keep `ddp_find_unused_parameters=False` under DDP (they are used in the loss only).
    The batch holds the model's inputs (`input_ids`, `attention_mask`, `pixel_values` / `input_features`, ...);
    `labels` and `return_loss` are dropped. The model's own loss is never used (transformers' CLAP loss scores the
    text → audio direction twice; here each direction has its own scale).

    Training loss: the recipe's runtime, `self.m2mix` (a `GeodesicMixupLoss`), a per-micro-batch mean
    (`loss_is_scaled_for_ga = False`, so gradient accumulation is exact). λ comes from a `torch.Generator` seeded
    by (args.seed, process index, global step, micro-step), as in `MixTrainer`. Under several processes with
    `gather_across_processes=True`, embeddings are gathered with gradients and every process uses the generator of
    process 0, so the step equals the single-process step on the global batch (loss, λ and gradients). The
    weight schedule follows `state.global_step / state.max_steps`.

    Evaluation reports the plain contrastive loss (`eval_loss`, unmixed, local to each process) and, with
    `compute_embedding_metrics=True`, recall@1/5 both ways, alignment and uniformity over the whole eval set
    (`eval_i2t_recall@1`, ...; `image` is the first modality). `predict` returns the loss only.
    """

    recipe_class = GeodesicMixupConfig
    default_recipe = "geodesic_mixup"

    def __init__(
        self,
        model: nn.Module | None = None,
        args: transformers.TrainingArguments | None = None,
        *trainer_args: Any,
        mix_config: GeodesicMixupConfig | dict | str | None = None,
        embedding_keys: tuple[str, str] | None = None,
        compute_embedding_metrics: bool = True,
        **kwargs: Any,
    ):
        if embedding_keys is not None and len(embedding_keys) != 2:
            raise ValueError(f"embedding_keys must be two output names (first, second), got {embedding_keys!r}.")
        self.embedding_keys = tuple(embedding_keys) if embedding_keys is not None else None
        self.compute_embedding_metrics = compute_embedding_metrics
        super().__init__(model, args, *trainer_args, mix_config=mix_config, **kwargs)
        if self.model is not None:
            logit_scales(self.model)  # fail at construction when the contract is not met
        self.m2mix = GeodesicMixupLoss(self.mix_config)
        self._stats = torch.zeros(6, dtype=torch.float64)  # Σ contrastive, m², uni-modal, λ, factor; count
        self._eval_embeds: list[tuple[Tensor, Tensor]] | None = None
        self.last_lambdas: tuple[float, float] | None = None

    # ------------------------------------------------------------------------------------------------ helpers
    def _progress(self) -> float:
        max_steps = self.state.max_steps
        return self.state.global_step / max_steps if max_steps and max_steps > 0 else 0.0

    def _embeddings(self, outputs: Any) -> tuple[Tensor, Tensor]:
        def get(key: str) -> Tensor | None:
            try:
                return outputs[key]
            except (KeyError, TypeError):
                return getattr(outputs, key, None)

        if self.embedding_keys is not None:
            keys = self.embedding_keys
        else:
            first = next((k for k in FIRST_MODALITY_KEYS if get(k) is not None), None)
            keys = (first, TEXT_KEY) if first is not None else None
        values = [get(k) for k in keys] if keys is not None else [None]
        if any(v is None for v in values):
            available = list(outputs.keys()) if hasattr(outputs, "keys") else type(outputs).__name__
            raise ValueError(
                f"The model output has no {keys or ('image_embeds or audio_embeds', TEXT_KEY)} (it has {available}); "
                "pass embedding_keys=(first, second) to GeodesicMixupTrainer."
            )
        return values[0], values[1]

    # --------------------------------------------------------------------------------------------------- loss
    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Tensor | int | None = None,
    ):
        inputs = {k: v for k, v in inputs.items() if k not in ("labels", "return_loss")}
        outputs = model(**inputs)
        first, text = self._embeddings(outputs)
        scale, scale_text = logit_scales(self.accelerator.unwrap_model(model))
        if model.training:
            generator = self._step_generator(process=0 if self.m2mix.gathers() else None)
            parts = self.m2mix(
                first,
                text,
                scale,
                scale_text,
                generator=generator,
                progress=self._progress(),
                epoch=self.state.epoch or 0.0,
                return_components=True,
            )
            self.last_lambdas = self.m2mix.last_lambdas
            values = torch.stack([parts["contrastive_loss"], parts["m2_loss"], parts["unimodal_loss"]]).detach()
            self._stats[:3] += values.cpu().double()  # one device sync for the three logged components
            self._stats[3:] += torch.tensor([self.last_lambdas[0], self.m2mix.last_factor, 1.0], dtype=torch.float64)
        else:  # the plain contrastive loss, local to this process
            parts = geodesic_mixup_loss(
                first, text, scale, weight=0.0, logit_scale_text=scale_text, return_components=True
            )
            if self._eval_embeds is not None:
                self._eval_embeds.append(self.accelerator.gather_for_metrics((first.detach(), text.detach())))
        loss = parts["loss"]
        return (loss, outputs) if return_outputs else loss

    def prediction_step(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
    ) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        """The unmixed contrastive loss of the batch; no logits or labels are returned."""
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad(), self.compute_loss_context_manager():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    def evaluation_loop(
        self,
        dataloader: Any,
        description: str,
        prediction_loss_only: bool | None = None,
        ignore_keys: list[str] | None = None,
        metric_key_prefix: str = "eval",
    ):
        self._eval_embeds = [] if self.compute_embedding_metrics else None
        try:
            output = super().evaluation_loop(
                dataloader, description, prediction_loss_only, ignore_keys, metric_key_prefix
            )
        finally:
            collected, self._eval_embeds = self._eval_embeds, None
        if self.compute_embedding_metrics and not collected:
            logger.warning(
                "GeodesicMixupTrainer: the evaluation set gave no batch, so no retrieval metrics were computed "
                "(is it smaller than per_device_eval_batch_size with dataloader_drop_last=True?)."
            )
        if collected:
            first = torch.cat([c[0] for c in collected]).float().cpu()
            text = torch.cat([c[1] for c in collected]).float().cpu()
            if first.shape[0] >= 2:
                for name, value in retrieval_metrics(first, text).items():
                    output.metrics[f"{metric_key_prefix}_{name}"] = value
        return output

    # ------------------------------------------------------------------------------------ logging and saving
    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._stats[5] > 0:
            contrastive, m2, unimodal, lam, factor, count = (self._stats / self._stats[5]).tolist()
            logs["contrastive_loss"] = round(contrastive, 4)
            logs["m2_loss"] = round(m2, 4)
            if self.mix_config.unimodal_weight > 0:
                logs["unimodal_loss"] = round(unimodal, 4)
            logs["mix_lambda"] = round(lam, 4)
            logs["mix_weight"] = round(self.mix_config.weight * factor, 6)
            self._stats.zero_()
        super().log(logs, start_time)
