"""Alias of `hfmix.metrics.embedding`, where the paired-embedding metrics live: alignment, uniformity,
retrieval recall@k and zero-shot classification."""

from hfmix.metrics.embedding import (
    alignment,
    class_embeddings,
    recall_at_k,
    retrieval_metrics,
    uniformity,
    zero_shot_accuracy,
    zero_shot_logits,
)


__all__ = [
    "alignment",
    "class_embeddings",
    "recall_at_k",
    "retrieval_metrics",
    "uniformity",
    "zero_shot_accuracy",
    "zero_shot_logits",
]
