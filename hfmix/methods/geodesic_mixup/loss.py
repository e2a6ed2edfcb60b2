"""The CLIP contrastive loss plus geodesic multi-modal mixup (m²-mix) and its uni-modal terms (m³-mix), and the
m²-mix runtime (`GeodesicMixupLoss`) that `GeodesicMixupTrainer` and the sentence-transformers
`GeodesicMixupRankingLoss` call.

Oh et al., "Geodesic Multi-Modal Mixup for Robust Fine-Tuning", NeurIPS 2023, arXiv:2203.03897.

`geodesic_mixup_loss` is L = L_CLIP + weight·L_m² + unimodal_weight·(L_image-mix + L_text-mix):

- L_CLIP: the symmetric InfoNCE of CLIP, (CE(s_i·I Tᵀ) + CE(s_t·T Iᵀ))/2 with the positive on the diagonal.
- L_m² (m²-mix): the hard negatives h_j = slerp(image_j, text_j, λ) replace every off-diagonal logit, in both
  directions: row i of the image side is [s₂⟨i_i, t_i⟩ at j = i; s₂⟨i_i, h_j⟩ for j ≠ i], the text side the
  same with t_i; L_m² is the mean of the two cross-entropies (the official `main.py` sums them). s₂ is
  `mixed_logit_scale`, or the side's own scale when None.
- L_image-mix / L_text-mix (the uni-modal terms of m³-mix): image_g is mixed with its mirror image_{N−1−g}
  (x̃_g = slerp(image_g, image_{N−1−g}, λ_u)) and scored against the texts with soft targets λ_u at g and
  1 − λ_u at N − 1 − g, in both directions (mixed images → texts, texts → mixed images); the same for texts.
- Hard negatives of the second modality (`negative_embeds`, e.g. the `negative` columns of MNRL-style data) are
  extra candidates of the image → text direction, in L_CLIP and in L_m² alike (they stay in the denominator; m²-mix
  adds the mixed negatives); they are not mixed and not anchors.

"image" is the first modality (image, audio, an anchor text), "text" the second. Embeddings are L2-normalised
here (a no-op for unit inputs, gradients included), and logits are computed in float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hfmix.distributed import gather_with_grad, world_size
from hfmix.methods.geodesic_mixup.config import CITATION, GeodesicMixupConfig
from hfmix.methods.options import recipe_from
from hfmix.mixers.geodesic_mixup import slerp
from hfmix.sampling import sample_lambda


@dataclass
class _Batch:
    """Normalised float32 embeddings: this process's (B, D) rows, the (N, D) candidates with the local rows at
    `rows`, and the (M, D) hard negatives of the second modality (M may be 0)."""

    img: Tensor
    txt: Tensor
    all_img: Tensor
    all_txt: Tensor
    negatives: Tensor
    rows: Tensor


def geodesic_mixup_loss(
    image_embeds: Tensor,
    text_embeds: Tensor,
    logit_scale: Tensor | float,
    lam: Tensor | float = 0.5,
    *,
    weight: float = 1.0,
    logit_scale_text: Tensor | float | None = None,
    mixed_logit_scale: Tensor | float | None = None,
    unimodal_weight: float = 0.0,
    unimodal_lam: Tensor | float = 0.5,
    all_image_embeds: Tensor | None = None,
    all_text_embeds: Tensor | None = None,
    offset: int = 0,
    negative_embeds: Tensor | None = None,
    return_components: bool = False,
) -> Tensor | dict[str, Tensor]:
    """L = L_CLIP + weight·L_m² + unimodal_weight·(L_image-mix + L_text-mix) (see the module docstring).

    Args:
        image_embeds, text_embeds: (B, D) this process's anchors of the first modality and their pairs.
        logit_scale: s_i, the multiplicative scale of the image → text logits (`model.logit_scale.exp()` for
            CLIP, `logit_scale_a.exp()` for CLAP); a float or a scalar tensor (gradients flow into it).
        lam, unimodal_lam: λ of the hard negatives and λ_u of the uni-modal terms, a float / 0-d tensor or one
            per candidate (N,).
        weight, unimodal_weight: weights of the m²-mix and uni-modal terms (>= 0); 0 skips a term.
        logit_scale_text: s_t for the text → image logits (CLAP's `logit_scale_t.exp()`); None means s_i.
        mixed_logit_scale: fixed scale of the m²-mix logits; None uses s_i and s_t.
        all_image_embeds, all_text_embeds: (N, D) the candidates gathered from every process (`gather_with_grad`),
            with this process's rows at `offset`; None means the local batch (N = B).
        negative_embeds: (M, D) hard negatives of the second modality (gathered too, if the candidates are).
        return_components: return a dict with `loss` and the unweighted `contrastive_loss`, `m2_loss` and
            `unimodal_loss` (0 when skipped), all still attached to the graph.

    Returns: the scalar mean over the B local anchors (float32), or the dict.
    """
    if weight < 0 or unimodal_weight < 0:
        raise ValueError(f"weight and unimodal_weight must be >= 0, got {weight} and {unimodal_weight}.")
    batch = _batch(image_embeds, text_embeds, all_image_embeds, all_text_embeds, offset, negative_embeds)
    s_i = _scale(logit_scale, "logit_scale")
    s_t = s_i if logit_scale_text is None else _scale(logit_scale_text, "logit_scale_text")
    sim_it = batch.img @ torch.cat([batch.all_txt, batch.negatives]).T  # (B, N + M) image anchors vs every text
    sim_ti = batch.txt @ batch.all_img.T  # (B, N) text anchors against every image
    contrastive = (F.cross_entropy(s_i * sim_it, batch.rows) + F.cross_entropy(s_t * sim_ti, batch.rows)) / 2
    zero = contrastive.new_zeros(())
    m2, unimodal = zero, zero
    if weight > 0:
        m_i = s_i if mixed_logit_scale is None else _scale(mixed_logit_scale, "mixed_logit_scale")
        m2 = _m2_term(batch, sim_it, sim_ti, lam, m_i, s_t if mixed_logit_scale is None else m_i)
    if unimodal_weight > 0:
        unimodal = _unimodal_term(batch, unimodal_lam, s_i, s_t)
    loss = contrastive + weight * m2 + unimodal_weight * unimodal
    if return_components:
        return {"loss": loss, "contrastive_loss": contrastive, "m2_loss": m2, "unimodal_loss": unimodal}
    return loss


def _batch(
    img: Tensor, txt: Tensor, all_img: Tensor | None, all_txt: Tensor | None, offset: int, negatives: Tensor | None
) -> _Batch:
    if img.dim() != 2 or img.shape != txt.shape:
        raise ValueError(
            f"image_embeds and text_embeds must both be (B, D), got {tuple(img.shape)} and {tuple(txt.shape)}."
        )
    if (all_img is None) != (all_txt is None):
        raise ValueError("Pass both all_image_embeds and all_text_embeds, or neither.")
    size, dim = img.shape
    if all_img is None:
        all_img, all_txt, offset = img, txt, 0
    elif all_img.shape != all_txt.shape or all_img.dim() != 2:
        raise ValueError(
            f"all_image_embeds and all_text_embeds must both be (N, {dim}), got {tuple(all_img.shape)} and "
            f"{tuple(all_txt.shape)}."
        )
    elif all_img.shape[1] != dim or not 0 <= offset <= all_img.shape[0] - size:
        raise ValueError(
            f"The {size} local rows at offset={offset} must lie inside the gathered (N, {dim}) candidates, got "
            f"candidates of shape {tuple(all_img.shape)}."
        )
    if negatives is None:
        negatives = txt.new_zeros(0, dim)
    elif negatives.dim() != 2 or negatives.shape[1] != dim:
        raise ValueError(f"negative_embeds must be (M, {dim}), got {tuple(negatives.shape)}.")
    unit = [F.normalize(t.float(), dim=-1) for t in (img, txt, all_img, all_txt, negatives)]
    return _Batch(*unit, rows=torch.arange(offset, offset + size, device=img.device))


def _m2_term(batch: _Batch, sim_it: Tensor, sim_ti: Tensor, lam: Tensor | float, m_i: Any, m_t: Any) -> Tensor:
    """L_m²: every off-diagonal in-batch logit replaced by the similarity to h_j = m_λ(image_j, text_j)."""
    hard = slerp(batch.all_img, batch.all_txt, lam)  # (N, D)
    total = len(hard)
    positive = torch.zeros_like(sim_ti, dtype=torch.bool)
    positive[torch.arange(len(batch.rows), device=positive.device), batch.rows] = True
    mixed_it = torch.where(positive, sim_it[:, :total], batch.img @ hard.T)
    logits_i = m_i * torch.cat([mixed_it, sim_it[:, total:]], dim=1)  # hard negatives stay
    logits_t = m_t * torch.where(positive, sim_ti, batch.txt @ hard.T)
    return (F.cross_entropy(logits_i, batch.rows) + F.cross_entropy(logits_t, batch.rows)) / 2


def _unimodal_term(batch: _Batch, lam: Tensor | float, s_i: Any, s_t: Any) -> Tensor:
    """L_image-mix + L_text-mix: each candidate mixed with its mirror, scored with soft targets both ways
    (`F.cross_entropy` with class probabilities as targets)."""
    rows, all_img, all_txt = batch.rows, batch.all_img, batch.all_txt
    targets = _soft_targets(lam, rows, len(all_img), all_img.device)
    mixed_img = slerp(all_img, all_img.flip(0), lam)  # (N, D) x̃_g = m_λu(image_g, image_{N-1-g})
    mixed_txt = slerp(all_txt, all_txt.flip(0), lam)
    image_mix = (
        F.cross_entropy(s_i * mixed_img[rows] @ all_txt.T, targets)
        + F.cross_entropy(s_t * batch.txt @ mixed_img.T, targets)
    ) / 2
    text_mix = (
        F.cross_entropy(s_i * batch.img @ mixed_txt.T, targets)
        + F.cross_entropy(s_t * mixed_txt[rows] @ all_img.T, targets)
    ) / 2
    return image_mix + text_mix


def _scale(value: Tensor | float, name: str) -> Tensor | float:
    if isinstance(value, Tensor) and value.numel() != 1:
        raise ValueError(f"{name} must be a scalar (a float or a one-element tensor), got shape {tuple(value.shape)}.")
    return value.reshape(()).float() if isinstance(value, Tensor) else float(value)


def _soft_targets(lam: Tensor | float, rows: Tensor, total: int, device: torch.device) -> Tensor:
    """(B, N): λ at column `rows[i]` and 1 − λ at its mirror N − 1 − rows[i] (the two add up when they coincide)."""
    weight = torch.as_tensor(lam, dtype=torch.float32, device=device)
    if weight.dim() == 0:
        weight = weight.expand(total)
    targets = torch.zeros(len(rows), total, device=device)
    targets[torch.arange(len(rows), device=device), rows] += weight[rows]
    targets[torch.arange(len(rows), device=device), total - 1 - rows] += 1 - weight[rows]
    return targets


class GeodesicMixupLoss(nn.Module):
    """The m²-mix runtime: one `GeodesicMixupConfig`'s loss, drawing λ, gathering and applying the schedule.

    Each training call draws (λ, λ_u) ~ Beta(beta, beta), Beta(unimodal_beta, unimodal_beta) from `generator`
    (default: the module's own, seeded with `seed`, so every process draws the same sequence), scales both mixup
    weights by the schedule's factor at `progress` = global_step / max_steps (and `epoch`), gathers the embeddings
    of every process with gradients when `gather_across_processes` is set and there are several processes (the loss
    on each process is then its share of the single-process full-batch loss, and DDP's averaged gradients equal the
    full-batch gradient), and computes `geodesic_mixup_loss`. `last_lambdas` and `last_factor` keep the draw.

    Args:
        config: a `GeodesicMixupConfig` (or dict / name / path); default the registered defaults.
        seed: seed of the module's own generator.
        options: `GeodesicMixupConfig` fields that replace the config's (`weight`, `beta`, ...).
    """

    citation = CITATION

    def __init__(self, config: GeodesicMixupConfig | dict | str | None = None, *, seed: int = 0, **options: Any):
        super().__init__()
        self.config = recipe_from(GeodesicMixupConfig, config, options)
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.last_lambdas: tuple[float, float] | None = None
        self.last_factor = 1.0

    def gathers(self) -> bool:
        """Whether a training call gathers the candidates of every process."""
        return self.config.gather_across_processes and world_size() > 1

    def schedule_factor(self, progress: float, epoch: float = 0.0) -> float:
        """The factor on both mixup weights at `progress` = global_step / max_steps in [0, 1] (and `epoch`)."""
        t = min(max(float(progress), 0.0), 1.0)
        schedule = self.config.weight_schedule
        if schedule == "linear":
            return 1.0 - t
        if schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * t))
        if schedule == "inverse_epoch":
            return 1.0 / (math.floor(max(float(epoch), 0.0)) + 1.0)
        return 1.0

    def sample_lambdas(self, generator: torch.Generator | None = None) -> tuple[float, float]:
        """One batch's (λ for the hard negatives, λ_u for the uni-modal terms), from `generator` only."""
        generator = self.generator if generator is None else generator
        lam = float(sample_lambda(self.config.beta, 1, generator=generator)[0])
        lam_unimodal = float(sample_lambda(self.config.unimodal_beta, 1, generator=generator)[0])
        return lam, lam_unimodal

    def forward(
        self,
        image_embeds: Tensor,
        text_embeds: Tensor,
        logit_scale: Tensor | float,
        logit_scale_text: Tensor | float | None = None,
        *,
        negative_embeds: Tensor | None = None,
        generator: torch.Generator | None = None,
        progress: float = 0.0,
        epoch: float = 0.0,
        return_components: bool = False,
    ) -> Tensor | dict[str, Tensor]:
        """image_embeds, text_embeds: (B, D); negative_embeds: (M, D) hard negatives of the second modality, or
        None; the scales are multiplicative (already exponentiated)."""
        lam, lam_unimodal = self.last_lambdas = self.sample_lambdas(generator)
        factor = self.last_factor = self.schedule_factor(progress, epoch)
        gathered: dict[str, Any] = {}
        if self.gathers():
            gathered["all_image_embeds"], gathered["offset"] = gather_with_grad(image_embeds)
            gathered["all_text_embeds"], _ = gather_with_grad(text_embeds)
            if negative_embeds is not None:
                negative_embeds, _ = gather_with_grad(negative_embeds)
        return geodesic_mixup_loss(
            image_embeds,
            text_embeds,
            logit_scale,
            lam,
            weight=self.config.weight * factor,
            logit_scale_text=logit_scale_text,
            mixed_logit_scale=self.config.mixed_logit_scale,
            unimodal_weight=self.config.unimodal_weight * factor,
            unimodal_lam=lam_unimodal,
            negative_embeds=negative_embeds,
            return_components=return_components,
            **gathered,
        )

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config.to_dict().items() if k != "hfmix_version")
