"""The CLIP contrastive loss plus geodesic multi-modal mixup (m²-mix) and its uni-modal terms (m³-mix).

Oh et al., "Geodesic Multi-Modal Mixup for Robust Fine-Tuning", NeurIPS 2023, arXiv:2203.03897.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hfmix.distributed import gather_with_grad
from hfmix.geodesic import slerp
from hfmix.losses.soft_target_cross_entropy import soft_target_cross_entropy
from hfmix.sampling import sample_lambda


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
    return_components: bool = False,
) -> Tensor | dict[str, Tensor]:
    """L = L_CLIP + weight·L_m² + unimodal_weight·(L_image-mix + L_text-mix) (Oh et al., arXiv:2203.03897).

    - L_CLIP: the symmetric InfoNCE of CLIP, (CE(s_i·I Tᵀ) + CE(s_t·T Iᵀ))/2 with the positive on the diagonal.
    - L_m² (m²-mix): the hard negatives h_j = slerp(image_j, text_j, λ) replace every off-diagonal logit, in both
      directions: row i of the image side is [s₂⟨i_i, t_i⟩ at j = i; s₂⟨i_i, h_j⟩ for j ≠ i], the text side the
      same with t_i; L_m² is the mean of the two cross-entropies (the official `main.py` sums them). s₂ is
      `mixed_logit_scale`, or the side's own scale when None.
    - L_image-mix / L_text-mix (the uni-modal terms of m³-mix): image_g is mixed with its mirror image_{N−1−g}
      (x̃_g = slerp(image_g, image_{N−1−g}, λ_u)) and scored against the texts with soft targets λ_u at g and
      1 − λ_u at N − 1 − g, in both directions (mixed images → texts, texts → mixed images); the same for texts.

    "image" is the first modality (image, audio, ...). Embeddings are L2-normalised here (a no-op for unit inputs,
    gradients included), and logits are computed in float32.

    Args:
        image_embeds: (B, D) this process's anchors of the first modality.
        text_embeds: (B, D) their paired second-modality embeddings.
        logit_scale: s_i, the multiplicative scale of the image → text logits (`model.logit_scale.exp()` for
            CLIP, `logit_scale_a.exp()` for CLAP); a float or a scalar tensor (gradients flow into it).
        lam: λ of the hard negatives, a float / 0-d tensor or one per candidate (N,).
        weight: w of the m²-mix term; 0 skips it.
        logit_scale_text: s_t for the text → image logits (CLAP's `logit_scale_t.exp()`); None means s_i.
        mixed_logit_scale: fixed scale of the m²-mix logits; None uses s_i and s_t.
        unimodal_weight: weight of the two uni-modal terms; 0 skips them.
        unimodal_lam: λ_u of the uni-modal terms, a float / 0-d tensor or one per candidate (N,).
        all_image_embeds, all_text_embeds: (N, D) the candidates gathered from every process (see
            `gather_with_grad`), with this process's rows at `offset`; None means the local batch (N = B).
        offset: index of this process's first row among the N candidates.
        return_components: return a dict with `loss` and the unweighted `contrastive_loss`, `m2_loss` and
            `unimodal_loss` (0 when skipped), all still attached to the graph.

    Returns: the scalar mean over the B local anchors (float32), or the dict.
    """
    if image_embeds.dim() != 2 or image_embeds.shape != text_embeds.shape:
        raise ValueError(
            f"image_embeds and text_embeds must both be (B, D), got {tuple(image_embeds.shape)} and "
            f"{tuple(text_embeds.shape)}."
        )
    if (all_image_embeds is None) != (all_text_embeds is None):
        raise ValueError("Pass both all_image_embeds and all_text_embeds, or neither.")
    if weight < 0 or unimodal_weight < 0:
        raise ValueError(f"weight and unimodal_weight must be >= 0, got {weight} and {unimodal_weight}.")
    batch, dim = image_embeds.shape
    img = F.normalize(image_embeds.float(), dim=-1)
    txt = F.normalize(text_embeds.float(), dim=-1)
    if all_image_embeds is None:
        all_img, all_txt, offset = img, txt, 0
    else:
        if all_image_embeds.shape != all_text_embeds.shape or all_image_embeds.dim() != 2:
            raise ValueError(
                f"all_image_embeds and all_text_embeds must both be (N, {dim}), got "
                f"{tuple(all_image_embeds.shape)} and {tuple(all_text_embeds.shape)}."
            )
        if all_image_embeds.shape[1] != dim or not 0 <= offset <= all_image_embeds.shape[0] - batch:
            raise ValueError(
                f"The {batch} local rows at offset={offset} must lie inside the gathered (N, {dim}) candidates, "
                f"got candidates of shape {tuple(all_image_embeds.shape)}."
            )
        all_img = F.normalize(all_image_embeds.float(), dim=-1)
        all_txt = F.normalize(all_text_embeds.float(), dim=-1)
    total = all_img.shape[0]
    s_i = _scale(logit_scale, "logit_scale")
    s_t = s_i if logit_scale_text is None else _scale(logit_scale_text, "logit_scale_text")
    rows = torch.arange(offset, offset + batch, device=img.device)

    sim_it = img @ all_txt.T  # (B, N) image anchors against every text
    sim_ti = txt @ all_img.T  # (B, N) text anchors against every image
    contrastive = (F.cross_entropy(s_i * sim_it, rows) + F.cross_entropy(s_t * sim_ti, rows)) / 2
    loss = contrastive
    zero = contrastive.new_zeros(())
    m2, unimodal = zero, zero

    if weight > 0:
        hard = slerp(all_img, all_txt, lam)  # (N, D) h_j = m_λ(image_j, text_j)
        positive = torch.zeros_like(sim_it, dtype=torch.bool)
        positive[torch.arange(batch, device=img.device), rows] = True
        m_i = s_i if mixed_logit_scale is None else _scale(mixed_logit_scale, "mixed_logit_scale")
        m_t = s_t if mixed_logit_scale is None else m_i
        logits_i = m_i * torch.where(positive, sim_it, img @ hard.T)
        logits_t = m_t * torch.where(positive, sim_ti, txt @ hard.T)
        m2 = (F.cross_entropy(logits_i, rows) + F.cross_entropy(logits_t, rows)) / 2
        loss = loss + weight * m2

    if unimodal_weight > 0:
        targets = _soft_targets(unimodal_lam, rows, total, img.device)
        mixed_img = slerp(all_img, all_img.flip(0), unimodal_lam)  # (N, D) x̃_g = m_λu(image_g, image_{N-1-g})
        mixed_txt = slerp(all_txt, all_txt.flip(0), unimodal_lam)
        image_mix = (
            soft_target_cross_entropy(s_i * mixed_img[rows] @ all_txt.T, targets)
            + soft_target_cross_entropy(s_t * txt @ mixed_img.T, targets)
        ) / 2
        text_mix = (
            soft_target_cross_entropy(s_i * img @ mixed_txt.T, targets)
            + soft_target_cross_entropy(s_t * mixed_txt[rows] @ all_img.T, targets)
        ) / 2
        unimodal = image_mix + text_mix
        loss = loss + unimodal_weight * unimodal

    if return_components:
        return {"loss": loss, "contrastive_loss": contrastive, "m2_loss": m2, "unimodal_loss": unimodal}
    return loss


class GeodesicMixupLoss(nn.Module):
    """`geodesic_mixup_loss` as a module that draws λ ~ Beta(beta, beta) itself, from its own `torch.Generator`.

    The generator is seeded with `seed`, so every process draws the same λ sequence: with
    `gather_across_processes=True` the loss on each process is then its share of the single-process full-batch
    loss, and DDP's averaged gradients equal the full-batch gradient. Pass `generator=` to `forward` to control
    the draws yourself (e.g. one seeded per step, as `GeodesicMixupTrainer` does).

    Args:
        weight, mixed_logit_scale, unimodal_weight: as in `geodesic_mixup_loss`.
        beta, unimodal_beta: concentrations of the Beta distributions of λ and λ_u (> 0).
        gather_across_processes: gather the embeddings of every process, with gradients, as candidates.
        seed: seed of the module's generator.
    """

    def __init__(
        self,
        weight: float = 0.02,
        beta: float = 0.5,
        mixed_logit_scale: float | None = None,
        unimodal_weight: float = 0.0,
        unimodal_beta: float = 0.5,
        gather_across_processes: bool = False,
        seed: int = 0,
    ):
        super().__init__()
        if not (beta > 0 and unimodal_beta > 0):
            raise ValueError(f"beta and unimodal_beta must be > 0, got {beta} and {unimodal_beta}.")
        if weight < 0 or unimodal_weight < 0:
            raise ValueError(f"weight and unimodal_weight must be >= 0, got {weight} and {unimodal_weight}.")
        if mixed_logit_scale is not None and not mixed_logit_scale > 0:
            raise ValueError(f"mixed_logit_scale must be None or > 0, got {mixed_logit_scale}.")
        self.weight, self.beta, self.mixed_logit_scale = weight, beta, mixed_logit_scale
        self.unimodal_weight, self.unimodal_beta = unimodal_weight, unimodal_beta
        self.gather_across_processes = gather_across_processes
        self.generator = torch.Generator().manual_seed(seed)

    def forward(
        self,
        image_embeds: Tensor,
        text_embeds: Tensor,
        logit_scale: Tensor | float,
        logit_scale_text: Tensor | float | None = None,
        *,
        generator: torch.Generator | None = None,
        return_components: bool = False,
    ) -> Tensor | dict[str, Tensor]:
        """image_embeds, text_embeds: (B, D); scales are multiplicative (already exponentiated)."""
        generator = generator if generator is not None else self.generator
        lam = float(sample_lambda(self.beta, 1, generator=generator)[0])
        lam_unimodal = float(sample_lambda(self.unimodal_beta, 1, generator=generator)[0])
        all_img = all_txt = None
        offset = 0
        if self.gather_across_processes:
            all_img, offset = gather_with_grad(image_embeds)
            all_txt, _ = gather_with_grad(text_embeds)
        return geodesic_mixup_loss(
            image_embeds,
            text_embeds,
            logit_scale,
            lam,
            weight=self.weight,
            logit_scale_text=logit_scale_text,
            mixed_logit_scale=self.mixed_logit_scale,
            unimodal_weight=self.unimodal_weight,
            unimodal_lam=lam_unimodal,
            all_image_embeds=all_img,
            all_text_embeds=all_txt,
            offset=offset,
            return_components=return_components,
        )

    def extra_repr(self) -> str:
        return (
            f"weight={self.weight}, beta={self.beta}, mixed_logit_scale={self.mixed_logit_scale}, "
            f"unimodal_weight={self.unimodal_weight}, gather_across_processes={self.gather_across_processes}"
        )
