"""The sentence embeddings of every input column, as sentence-transformers' own losses compute them."""

from __future__ import annotations

from torch import Tensor, nn


def embed_columns(model: nn.Module, sentence_features: list[dict[str, Tensor]]) -> list[Tensor]:
    """[(B, D) per column]: sentence-transformers' `embed_columns` (one forward for like-width columns), or one
    forward per column on versions without it."""
    try:
        from sentence_transformers.base.losses.merged_forward import embed_columns as merged
    except ImportError:
        return [model(features)["sentence_embedding"] for features in sentence_features]
    return merged(model, sentence_features)
