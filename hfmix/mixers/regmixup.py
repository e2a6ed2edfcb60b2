"""RegMixup: mixup as a regulariser added to the clean cross-entropy, with a large α.

Pinto, Yang, Lim, Torr and Dokania, "Using Mixup as a Regularizer Can Surprisingly Improve Accuracy and
Out-of-Distribution Robustness", NeurIPS 2022, arXiv:2206.14502 (code: FrancescoPinto/RegMixup).

    L = CE(f(x), y) + η·[λ·CE(f(x̃), y_i) + (1 − λ)·CE(f(x̃), y_j)],   x̃ = λ·x_i + (1 − λ)·x_j,  λ ~ Beta(α, α)

The clean batch and the mixed batch both go through the model (two forward passes), so a step costs about twice
a plain step; that is the method's cost, not hfmix's. The official code runs them as one batch of 2B rows and
averages over the 2B rows, which is ½·L at η = 1 (a constant factor).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch.nn.functional as F
from torch import Tensor

from hfmix.losses.soft_target_cross_entropy import soft_target_cross_entropy
from hfmix.mixers.mixup import MixupConfig
from hfmix.registry import register_mixer
from hfmix.sampling import MixPlan


CITATION = """\
@inproceedings{pinto2022regmixup,
  title={Using Mixup as a Regularizer Can Surprisingly Improve Accuracy and Out-of-Distribution Robustness},
  author={Pinto, Francesco and Yang, Harry and Lim, Ser-Nam and Torr, Philip H. S. and Dokania, Puneet K.},
  booktitle={Advances in Neural Information Processing Systems},
  year={2022}
}"""


def regmixup_loss(clean_logits: Tensor, mixed_logits: Tensor, labels: Tensor, index: Tensor, lam: Tensor, eta: float):
    """RegMixup's loss for single-label classification (Pinto et al., NeurIPS 2022, eq. 2).

    L = mean_i CE(z_i, y_i) + η·mean_i[λ_i·CE(z̃_i, y_i) + (1 − λ_i)·CE(z̃_i, y_index[i])]

    Args:
        clean_logits: (B, C) logits z of the clean batch.
        mixed_logits: (B, C) logits z̃ of the mixed batch (row i mixed with row index[i] at weight λ_i).
        labels: (B,) long class ids.
        index: (B,) long partners; lam: (B,) float weights on the row itself (1 for rows left unmixed).
        eta: weight of the mixup term, >= 0.
    Returns: scalar tensor (float32).
    """
    targets = F.one_hot(labels, clean_logits.shape[-1]).float()
    mixed_targets = lam[:, None] * targets + (1 - lam[:, None]) * targets[index]
    clean = F.cross_entropy(clean_logits.float(), labels)
    return clean + eta * soft_target_cross_entropy(mixed_logits.float(), mixed_targets)


@register_mixer("regmixup")
@dataclass
class RegMixupConfig(MixupConfig):
    """RegMixup: clean cross-entropy plus η times the mixup loss of the mixed batch (any head: the mixup term is
    hfmix's mixup loss of that head, soft CE for classification, BCE multi-label, MSE regression).

    Reduces to: no plan (prob=0, or after `mix_stop`): the clean loss alone, one forward pass. A plan that mixes no
    row: the mixed batch is the clean batch, so (1 + η)·clean loss (one forward pass).
    """

    alpha: float = field(
        default=20.0,
        metadata={
            "help": "λ ~ Beta(alpha, alpha), in (0, 1000]. RegMixup wants a large alpha (mixed rows far from the "
            "clean ones): 20 is the official code's default, the paper also runs 10."
        },
    )
    eta: float = field(
        default=1.0, metadata={"help": "η, the weight of the mixup term added to the clean loss: finite, >= 0."}
    )

    citation = CITATION
    mixes_in_collator: ClassVar[bool] = False  # the clean batch is needed too: plans are applied in MixTrainer

    def validate(self) -> None:
        super().validate()
        if self.eta < 0:
            raise ValueError(f"eta must be >= 0 (the weight of the mixup term), got eta={self.eta}.")

    def batch_loss(
        self, run: Callable[[MixPlan | None], Any], plan: MixPlan | None, loss_of: Callable[[Any], Tensor]
    ) -> tuple[Tensor, Any]:
        """loss_of(clean pass) + η·loss_of(mixed pass); the result reported is the mixed pass."""
        clean = run(None)
        if plan is None:
            return loss_of(clean), clean
        mixed = run(plan) if bool(plan.mixed.any()) else clean
        return loss_of(clean) + self.eta * loss_of(mixed), mixed
