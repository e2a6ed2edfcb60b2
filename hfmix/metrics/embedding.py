"""Quality metrics of paired embeddings: alignment, uniformity, retrieval recall@k, zero-shot classification.

Alignment and uniformity: Wang & Isola, "Understanding Contrastive Representation Learning through Alignment and
Uniformity on the Hypersphere", ICML 2020, arXiv:2005.10242. They are the metrics that Oh et al., "Geodesic
Multi-Modal Mixup for Robust Fine-Tuning", NeurIPS 2023, arXiv:2203.03897, use to show what m²-mix changes.
Every function L2-normalises its inputs first and works in float32.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor


def _unit(x: Tensor, name: str) -> Tensor:
    if x.dim() != 2:
        raise ValueError(f"{name} must be (N, D), got shape {tuple(x.shape)}.")
    return F.normalize(x.detach().float(), dim=-1)


def _paired(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    if x.dim() != 2 or x.shape != y.shape:
        raise ValueError(f"Paired embeddings must both be (N, D), got {tuple(x.shape)} and {tuple(y.shape)}.")
    return _unit(x, "x"), _unit(y, "y")


def alignment(x: Tensor, y: Tensor, alpha: float = 2.0) -> float:
    """E‖x̂_i − ŷ_i‖^α over the N pairs (lower is better aligned). x, y: (N, D) paired embeddings."""
    x, y = _paired(x, y)
    return float((x - y).norm(dim=-1).pow(alpha).mean())


def uniformity(x: Tensor, t: float = 2.0) -> float:
    """log E_{i<j} exp(−t‖x̂_i − x̂_j‖²) over distinct pairs (lower is more uniform). x: (N, D), N ≥ 2."""
    x = _unit(x, "x")
    if x.shape[0] < 2:
        raise ValueError(f"uniformity needs at least 2 embeddings, got {x.shape[0]}.")
    return float(torch.pdist(x, p=2).pow(2).mul(-t).exp().mean().log())


def recall_at_k(
    queries: Tensor, gallery: Tensor, ks: Iterable[int] = (1, 5), chunk_size: int = 1024
) -> dict[int, float]:
    """Paired retrieval: query i's only correct item is gallery item i. Returns {k: fraction of queries whose
    correct item ranks in the top k by cosine similarity}. Ties are broken in the query's favour (the rank is the
    number of items strictly more similar than the correct one). Memory is O(chunk_size · N).

    queries, gallery: (N, D).
    """
    q, g = _paired(queries, gallery)
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be positive integers, got {ks}.")
    ranks = []
    for start in range(0, q.shape[0], chunk_size):
        sim = q[start : start + chunk_size] @ g.T  # (chunk, N)
        rows = torch.arange(sim.shape[0], device=sim.device)
        correct = sim[rows, rows + start].unsqueeze(1)
        ranks.append((sim > correct).sum(dim=1))
    rank = torch.cat(ranks)
    return {k: float((rank < k).float().mean()) for k in ks}


def retrieval_metrics(image_embeds: Tensor, text_embeds: Tensor, ks: Iterable[int] = (1, 5)) -> dict[str, float]:
    """Recall@k both ways for a paired eval set, plus alignment and the uniformity of all 2N embeddings
    together (the joint embedding space; the official code's `lunif` call passes the image embeddings twice). Keys: `i2t_recall@k`, `t2i_recall@k`, `alignment`,
    `uniformity`. image_embeds, text_embeds: (N, D)."""
    ks = tuple(ks)
    out = {f"i2t_recall@{k}": v for k, v in recall_at_k(image_embeds, text_embeds, ks).items()}
    out.update({f"t2i_recall@{k}": v for k, v in recall_at_k(text_embeds, image_embeds, ks).items()})
    out["alignment"] = alignment(image_embeds, text_embeds)
    out["uniformity"] = uniformity(torch.cat([image_embeds, text_embeds], dim=0))
    return out


def class_embeddings(text_embeds: Tensor) -> Tensor:
    """Zero-shot class vectors: (C, D) normalised as is, or (C, P, D) prompt ensembles averaged over the P
    prompts after normalising and normalised again (the CLIP recipe). Returns (C, D)."""
    if text_embeds.dim() == 3:
        return F.normalize(F.normalize(text_embeds.float(), dim=-1).mean(dim=1), dim=-1)
    return _unit(text_embeds, "class text_embeds")


def zero_shot_logits(embeds: Tensor, class_text_embeds: Tensor, logit_scale: Tensor | float = 100.0) -> Tensor:
    """Zero-shot classifier logits s·⟨x̂_n, ĉ_c⟩: embeds (N, D), class_text_embeds (C, D) or (C, P, D) → (N, C).

    `logit_scale` is multiplicative (CLIP's `logit_scale.exp()`, 100 for trained OpenAI CLIP); feed the logits to
    `hfmix.metrics.calibration` to measure the calibration of the zero-shot classifier.
    """
    x = _unit(embeds, "embeds")
    classes = class_embeddings(class_text_embeds)
    if classes.shape[-1] != x.shape[-1]:
        raise ValueError(f"embeds (N, {x.shape[-1]}) and class embeddings (C, {classes.shape[-1]}) differ in D.")
    scale = logit_scale.detach().float() if isinstance(logit_scale, Tensor) else float(logit_scale)
    return scale * x @ classes.T


def zero_shot_accuracy(embeds: Tensor, class_text_embeds: Tensor, labels: Tensor) -> float:
    """Top-1 accuracy of the zero-shot classifier. embeds (N, D), class_text_embeds (C, D) or (C, P, D), labels (N,)."""
    logits = zero_shot_logits(embeds, class_text_embeds)
    if labels.shape != (logits.shape[0],):
        raise ValueError(f"labels must have shape ({logits.shape[0]},), got {tuple(labels.shape)}.")
    return float((logits.argmax(dim=-1).cpu() == labels.cpu()).float().mean())
