"""Geodesic hard negatives (m²-mix) for in-batch contrastive training in sentence-transformers.

Oh et al., "Geodesic Multi-Modal Mixup for Robust Fine-Tuning", NeurIPS 2023, arXiv:2203.03897.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from hfmix.integrations.sentence_transformers.embedding import embed_columns
from hfmix.methods.geodesic_mixup.config import CITATION
from hfmix.methods.geodesic_mixup.loss import GeodesicMixupLoss


DATA_FORMAT = (
    "(anchor, positive) pairs or MNRL-style rows (anchor, positive, negative_1, ..., negative_k): the anchor column "
    "first, then its positive, then any hard-negative columns"
)


class GeodesicMixupRankingLoss(nn.Module):
    """In-batch contrastive loss (symmetric InfoNCE) plus geodesic mixed hard negatives, for (anchor, positive) pairs
    with optional hard negatives.

    For a batch of rows (a_i, p_i, n_i1, ..., n_ik) the embeddings are L2-normalised (sentence-transformers
    embeddings, CLIP checkpoints included, are not unit-norm), then

        L = (CE(s·â [p̂; n̂]ᵀ) + CE(s·p̂ âᵀ))/2 + weight·L_m²,

    where L_m² replaces every off-diagonal in-batch positive logit by the similarity to a hard negative
    h_j = slerp(â_j, p̂_j, λ), λ ~ Beta(beta, beta); the hard negatives of every row stay in the anchor → candidate
    denominator of both terms (see `hfmix.losses.geodesic_mixup_loss`). Returned as a dict, so the trainer logs
    `contrastive` and `geodesic_mixup` (the weighted term) separately; their sum is trained. With `weight=0` it is
    `MultipleNegativesRankingLoss(directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction")`.

    Inputs: a dataset whose columns are (anchor, positive) or (anchor, positive, negative_1, ...), anchor first; no
    label column is needed (a label is ignored). The loss is the recipe's runtime, `GeodesicMixupLoss`
    (`self.m2mix`), which draws λ from its own `torch.Generator` seeded with `seed`: every process draws the same λ,
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
        self.model = model
        self.scale = scale
        self.m2mix = GeodesicMixupLoss(
            seed=seed,
            weight=weight,
            beta=beta,
            mixed_logit_scale=mixed_scale,
            gather_across_processes=gather_across_devices,
        )

    def forward(
        self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        features = list(sentence_features)
        if len(features) < 2:
            raise ValueError(f"GeodesicMixupRankingLoss takes {DATA_FORMAT}; got {len(features)} text column(s).")
        return self.compute_loss_from_embeddings(embed_columns(self.model, features), labels)

    def compute_loss_from_embeddings(
        self, embeddings: list[Tensor], labels: Tensor | None = None
    ) -> dict[str, Tensor]:
        """embeddings: [anchor (B, D), positive (B, D), negative_1 (B, D), ...]; returns
        {'contrastive': ..., 'geodesic_mixup': ...}."""
        if len(embeddings) < 2:
            raise ValueError(f"GeodesicMixupRankingLoss takes {DATA_FORMAT}; got {len(embeddings)} embedding(s).")
        anchor, positive, *negatives = embeddings
        parts = self.m2mix(
            anchor,
            positive,
            self.scale,
            negative_embeds=torch.cat(negatives) if negatives else None,
            return_components=True,
        )
        return {
            "contrastive": parts["contrastive_loss"],
            "geodesic_mixup": self.m2mix.config.weight * parts["m2_loss"],
        }

    def get_config_dict(self) -> dict[str, Any]:
        config = self.m2mix.config
        return {
            "scale": self.scale,
            "weight": config.weight,
            "beta": config.beta,
            "mixed_scale": config.mixed_logit_scale,
            "gather_across_devices": config.gather_across_processes,
            "seed": self.m2mix.seed,
        }

    @property
    def citation(self) -> str:
        return CITATION
