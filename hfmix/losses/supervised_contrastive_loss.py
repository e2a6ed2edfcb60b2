"""Supervised contrastive loss (SupCon): rows of the same group attract, all other rows repel.

Khosla et al., "Supervised Contrastive Learning", NeurIPS 2020, arXiv:2004.11362 (the L_out form). For anchor i
with positives P(i) (the other rows of its group) and similarities s_ia = ⟨ẑ_i, ẑ_a⟩ / τ of L2-normalised rows:

    L_i = −mean_{p ∈ P(i)} [ s_ip − log Σ_{a ≠ i} exp(s_ia) ]

averaged over the anchors that have a positive.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


CITATION = """\
@inproceedings{khosla2020supcon,
  title={Supervised Contrastive Learning},
  author={Khosla, Prannay and Teterwak, Piotr and Wang, Chen and Sarna, Aaron and Tian, Yonglong and Isola, Phillip
          and Maschinot, Aaron and Liu, Ce and Krishnan, Dilip},
  booktitle={Advances in Neural Information Processing Systems},
  year={2020}
}"""


def supervised_contrastive_loss(embeddings: Tensor, groups: Tensor, *, temperature: float = 0.1) -> Tensor:
    """SupCon over a batch (module docstring).

    Args:
        embeddings: (N, D) float, one row per example (normalised here).
        groups: (N,) the group of each row (a class id, or the id of the source example of augmented copies).
        temperature: τ > 0.
    Returns: a scalar: the mean over anchors with a positive; a zero that keeps the graph when none has one.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}.")
    if embeddings.dim() != 2 or groups.shape != (len(embeddings),):
        raise ValueError(
            f"embeddings must be (N, D) and groups (N,); got {tuple(embeddings.shape)} and {tuple(groups.shape)}."
        )
    z = F.normalize(embeddings.float(), dim=-1)
    similarity = z @ z.T / temperature
    not_self = ~torch.eye(len(z), dtype=torch.bool, device=z.device)
    log_denominator = torch.logsumexp(similarity.masked_fill(~not_self, float("-inf")), dim=1)
    groups = groups.to(z.device)
    positive = not_self & (groups[:, None] == groups[None, :])
    count = positive.sum(1)
    has_positive = count > 0
    if not has_positive.any():
        return embeddings.sum() * 0.0
    mean_positive = torch.where(positive, similarity, 0.0).sum(1) / count.clamp(min=1)
    return (log_denominator - mean_positive)[has_positive].mean()
