"""Geodesic hard negatives (m²-mix) for in-batch contrastive training in sentence-transformers.

Oh et al., "Geodesic Multi-Modal Mixup for Robust Fine-Tuning", NeurIPS 2023, arXiv:2203.03897.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from hfmix.distributed import gather_with_grad
from hfmix.losses.geodesic_mixup_loss import geodesic_mixup_loss
from hfmix.mixers.geodesic_mixup import CITATION
from hfmix.sampling import sample_lambda


def _embed(model: nn.Module, sentence_features: list[dict[str, Tensor]]) -> list[Tensor]:
    try:
        from sentence_transformers.base.losses.merged_forward import embed_columns
    except ImportError:  # older sentence-transformers: one forward per column
        return [model(features)["sentence_embedding"] for features in sentence_features]
    return embed_columns(model, sentence_features)


class GeodesicMixupRankingLoss(nn.Module):
    """In-batch contrastive loss (symmetric InfoNCE) plus geodesic mixed hard negatives, for (anchor, positive) pairs.

    For a batch of pairs (a_i, p_i) the embeddings are L2-normalised (sentence-transformers embeddings, CLIP
    checkpoints included, are not unit-norm), then

        L = (CE(s·â p̂ᵀ) + CE(s·p̂ âᵀ))/2 + weight·L_m²,

    where L_m² replaces every off-diagonal logit by the similarity to a hard negative h_j = slerp(â_j, p̂_j, λ),
    λ ~ Beta(beta, beta) (see `hfmix.losses.geodesic_mixup_loss`). Returned as a dict, so the trainer logs
    `contrastive` and `geodesic_mixup` (the weighted term) separately; their sum is trained.

    Inputs: a dataset with exactly two text (or image) columns, anchor first; no label column is needed (a label
    is ignored). λ comes from the loss's own `torch.Generator` seeded with `seed`: every process draws the same λ,
    so with `gather_across_devices=True` (candidates gathered from all devices with gradients) each process holds
    its share of the full-batch loss.

    Args:
        model: the `SentenceTransformer` being trained (kept as `self.model`, as sentence-transformers expects).
        scale: the multiplicative logit scale s (1/τ); 20 like `MultipleNegativesRankingLoss`.
        weight: weight of the m²-mix term (>= 0).
        beta: λ ~ Beta(beta, beta), > 0.
        mixed_scale: a separate scale for the m²-mix logits; None uses `scale`.
        gather_across_devices: use the embeddings of every process as candidates (needs equal batch sizes).
        seed: seed of the λ generator.
    """

    def __init__(
        self,
        model: nn.Module,
        scale: float = 20.0,
        weight: float = 0.1,
        beta: float = 0.5,
        mixed_scale: float | None = None,
        gather_across_devices: bool = False,
        seed: int = 0,
    ):
        super().__init__()
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale}.")
        if not weight >= 0:
            raise ValueError(f"weight must be >= 0, got {weight}.")
        if not beta > 0:
            raise ValueError(f"beta must be > 0, got {beta}.")
        if mixed_scale is not None and not mixed_scale > 0:
            raise ValueError(f"mixed_scale must be None or > 0, got {mixed_scale}.")
        self.model = model
        self.scale, self.weight, self.beta, self.mixed_scale = scale, weight, beta, mixed_scale
        self.gather_across_devices = gather_across_devices
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        features = list(sentence_features)
        if len(features) != 2:
            raise ValueError(
                f"GeodesicMixupRankingLoss takes (anchor, positive) pairs: exactly 2 input columns, got {len(features)}."
            )
        anchor, positive = _embed(self.model, features)
        return self.compute_loss_from_embeddings([anchor, positive], labels)

    def compute_loss_from_embeddings(
        self, embeddings: list[Tensor], labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        """embeddings: [anchor (B, D), positive (B, D)]; returns {'contrastive': ..., 'geodesic_mixup': ...}."""
        anchor, positive = embeddings
        lam = float(sample_lambda(self.beta, 1, generator=self.generator)[0])
        all_anchor = all_positive = None
        offset = 0
        if self.gather_across_devices:
            all_anchor, offset = gather_with_grad(anchor)
            all_positive, _ = gather_with_grad(positive)
            if offset == 0 and all_anchor is anchor:
                all_anchor = all_positive = None  # one process: nothing to gather
        parts = geodesic_mixup_loss(
            anchor,
            positive,
            self.scale,
            lam,
            weight=self.weight,
            mixed_logit_scale=self.mixed_scale,
            all_image_embeds=all_anchor,
            all_text_embeds=all_positive,
            offset=offset,
            return_components=True,
        )
        return {"contrastive": parts["contrastive_loss"], "geodesic_mixup": self.weight * parts["m2_loss"]}

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "weight": self.weight,
            "beta": self.beta,
            "mixed_scale": self.mixed_scale,
            "gather_across_devices": self.gather_across_devices,
            "seed": self.seed,
        }

    @property
    def citation(self) -> str:
        return CITATION
