"""Decoupled Mixup (DM): mixup cross-entropy plus a regulariser that scores each mixed class without the other.

Liu, Li, Wang, Tan, Wu and Li, "Harnessing Hard Mixed Samples with Decoupled Regularizer", NeurIPS 2023,
arXiv:2203.10761 (code: Westlake-AI/openmixup, `soft_mix_cross_entropy` with `eta_weight` mode 'both'). For a
row mixing classes a ≠ b:

    L = −Σ_c ỹ_c·log softmax(z)_c + η·Σ_{i ∈ {a, b}} −log( e^{z_i} / Σ_{c ∉ {a, b} ∖ {i}} e^{z_c} )

each regulariser term is a softmax over its class and the classes not mixed: the other mixed class is left out.
Rows not mixed, or mixing two rows of the same class, get the mixup cross-entropy alone. With 2 classes the
regulariser is exactly 0 (each term is a softmax over one class), so DM is plain mixup there: hfmix warns.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from hfmix.losses.soft_target_cross_entropy import soft_target_cross_entropy
from hfmix.mixers.mixup import MixupConfig
from hfmix.mixers.rankmixup import class_ids
from hfmix.registry import register_mixer
from hfmix.sampling import MixPlan


CITATION = """\
@inproceedings{liu2023harnessing,
  title={Harnessing Hard Mixed Samples with Decoupled Regularizer},
  author={Liu, Zicheng and Li, Siyuan and Wang, Ge and Tan, Cheng and Wu, Lirong and Li, Stan Z.},
  booktitle={Advances in Neural Information Processing Systems},
  year={2023}
}"""


def decoupled_regularizer(logits: Tensor, own: Tensor, partner: Tensor, mixed: Tensor) -> Tensor:
    """mean_i 1(mixed_i, a_i ≠ b_i)·Σ_{i ∈ {a, b}} [logsumexp_{c ≠ other}(z_c) − z_i], the decoupled terms.

    Args:
        logits: (B, C); own, partner: (B,) class ids a and b of each row; mixed: (B,) bool, rows really mixed.
    Returns: scalar (float32), a mean over all B rows (rows without the term count as 0).
    """
    logits = logits.float()
    rows = torch.arange(len(logits), device=logits.device)
    active = (mixed & (own != partner)).float()
    total = logits.new_zeros(len(logits))
    for this, other in ((own, partner), (partner, own)):
        without_other = logits.index_put((rows, other), torch.tensor(float("-inf"), device=logits.device))
        total = total + torch.logsumexp(without_other, -1) - logits[rows, this]
    return (active * total).mean()


def decoupled_mixup_loss(logits: Tensor, labels: Tensor, index: Tensor, lam: Tensor, eta: float) -> Tensor:
    """DM loss: soft CE against ỹ = λ·onehot(y) + (1 − λ)·onehot(y[index]) plus η·`decoupled_regularizer`.

    logits: (B, C); labels: (B,) class ids; index: (B,) partners; lam: (B,) weight on the row itself (1 = not
    mixed). Returns: scalar.
    """
    onehot = F.one_hot(labels, logits.shape[-1]).float()
    targets = lam[:, None] * onehot + (1 - lam[:, None]) * onehot[index]
    mixed = (index != torch.arange(len(index), device=index.device)) & (lam < 1)
    return soft_target_cross_entropy(logits.float(), targets) + eta * decoupled_regularizer(
        logits, labels, labels[index], mixed
    )


@register_mixer("decoupled_mixup")
@dataclass
class DecoupledMixupConfig(MixupConfig):
    """Decoupled Mixup (single-label classification): hfmix's mixup loss plus η times the decoupled regulariser.
    One forward pass, like mixup. Reduces to: no plan, or a plan that mixes no row: plain cross-entropy; η = 0:
    mixup. The regulariser uses each row's own λ (openmixup assumes one λ per batch) and is averaged over all
    rows (openmixup adds the mean over same-class rows to the mean over mixed rows)."""

    eta: float = field(
        default=0.1,
        metadata={"help": "η, the weight of the decoupled regulariser: finite, >= 0 (openmixup's configs: 0.1)."},
    )

    citation = CITATION

    def validate(self) -> None:
        super().validate()
        if self.eta < 0:
            raise ValueError(f"eta must be >= 0 (the weight of the decoupled regulariser), got eta={self.eta}.")

    def batch_loss(
        self, run: Callable[[MixPlan | None], Any], plan: MixPlan | None, loss_of: Callable[[Any], Tensor]
    ) -> tuple[Tensor, Any]:
        """loss_of(mixed pass) + η·decoupled regulariser of its mixed rows."""
        result = run(plan)
        logits, labels = result.outputs["logits"], result.labels
        class_ids(logits, labels, "Decoupled Mixup")
        if logits.shape[-1] == 2 and self.eta > 0:
            warnings.warn(
                "Decoupled Mixup's regulariser is exactly 0 with 2 classes (leaving the partner's class out leaves a "
                "softmax over one class): this recipe trains as plain mixup. Use it with 3 or more classes.",
                UserWarning,
                stacklevel=2,
            )
        if result.plan is None:
            return loss_of(result), result
        done = result.plan.to(logits.device)
        rows = done.anchors
        reg = decoupled_regularizer(logits[:rows], labels[:rows], labels[done.index[:rows]], done.mixed[:rows])
        return loss_of(result) + self.eta * reg, result
