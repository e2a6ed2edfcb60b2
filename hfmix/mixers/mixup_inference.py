"""Mixup inference in training (MIT): recover the raw samples' outputs from two mixes, train on one-hot labels.

Wang, Li, Zhao, Heng and Zhang, "On the Pitfall of Mixup for Uncertainty Calibration", CVPR 2023 (code:
dengbaowang/Mixup-Inference-in-Training, method 'MIT-L'). Mixup's soft targets act as a confidence penalty that
makes models less calibratable (worse after temperature scaling). MIT mixes each pair twice,

    z₁ = f(λ₁·x_a + (1 − λ₁)·x_b),  z₂ = f(λ₂·x_a + (1 − λ₂)·x_b),  λ₁ = max(u, 1 − u), λ₂ = min(v, 1 − v),
    u, v ~ Beta(α, α) redrawn until λ₁ − λ₂ >= margin,

solves the two equations z_k = λ_k·z_a + (1 − λ_k)·z_b for the raw outputs ("decoupling" at the end of the
forward pass),

    ẑ_a = ((1 − λ₂)·z₁ − (1 − λ₁)·z₂) / (λ₁ − λ₂),   ẑ_b = (λ₁·z₂ − λ₂·z₁) / (λ₁ − λ₂),

and trains on L = ½·CE(ẑ_a, y_a) + ½·CE(ẑ_b, y_b) with the original one-hot labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import Tensor

from hfmix.mixers.mixup import MixupConfig
from hfmix.mixers.rankmixup import plan_generator
from hfmix.registry import register_mixer
from hfmix.sampling import MixPlan, sample_lambda


MAX_ROUNDS = 100  # rejection rounds for λ₁ − λ₂ >= margin (validate() refuses settings that would need more)
CITATION = """\
@inproceedings{wang2023pitfall,
  title={On the Pitfall of Mixup for Uncertainty Calibration},
  author={Wang, Deng-Bao and Li, Lanqing and Zhao, Peilin and Heng, Pheng-Ann and Zhang, Min-Ling},
  booktitle={Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition},
  year={2023}
}"""


def sample_mit_lambdas(alpha: float, margin: float, size: int, *, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """(λ₁, λ₂), each (size,): λ₁ = max(u, 1 − u), λ₂ = min(v, 1 − v), u, v ~ Beta(α, α), each pair redrawn until
    λ₁ − λ₂ >= margin (the official rejection loop)."""
    lam1, lam2 = torch.ones(size), torch.ones(size)
    todo = torch.ones(size, dtype=torch.bool)
    for _ in range(MAX_ROUNDS):
        rows = todo.nonzero().flatten()
        u = sample_lambda(alpha, len(rows), generator=generator, dominant=True)
        v = 1 - sample_lambda(alpha, len(rows), generator=generator, dominant=True)
        ok = u - v >= margin
        lam1[rows[ok]], lam2[rows[ok]] = u[ok], v[ok]
        todo[rows[ok]] = False
        if not todo.any():
            return lam1, lam2
    raise ValueError(f"alpha={alpha} almost never draws λ₁ − λ₂ >= margin={margin}; lower margin or alpha.")


def decouple(logits1: Tensor, logits2: Tensor, lam1: Tensor, lam2: Tensor) -> tuple[Tensor, Tensor]:
    """The raw outputs (ẑ_a, ẑ_b) of two mixes z_k = λ_k·z_a + (1 − λ_k)·z_b of the same pair.

    logits1, logits2: (B, ...) outputs of the mixes at λ₁ and λ₂ (B,). Rows with λ₁ = λ₂ (not mixed) give
    (z₁, z₂) unchanged. Returns: two tensors shaped like logits1.
    """
    shape = (-1,) + (1,) * (logits1.dim() - 1)
    lam1, lam2 = lam1.to(logits1).reshape(shape), lam2.to(logits1).reshape(shape)
    gap = lam1 - lam2
    mixed = gap != 0
    gap = torch.where(mixed, gap, torch.ones_like(gap))  # no 0/0 in the rows left as they are (NaN gradients)
    own = ((1 - lam2) * logits1 - (1 - lam1) * logits2) / gap
    partner = (lam1 * logits2 - lam2 * logits1) / gap
    return torch.where(mixed, own, logits1), torch.where(mixed, partner, logits2)


def mixup_inference_loss(
    logits1: Tensor, logits2: Tensor, labels: Tensor, index: Tensor, lam1: Tensor, lam2: Tensor
) -> Tensor:
    """MIT's loss for single-label classification: ½·CE(ẑ_a, y) + ½·CE(ẑ_b, y[index]), means over rows.

    logits1, logits2: (B, C) outputs of row i mixed with row index[i] at λ₁ (B,) and at λ₂ (B,); labels: (B,)
    class ids. Rows not mixed (λ₁ = λ₂ = 1, index[i] = i) give ½·CE(z₁, y) + ½·CE(z₂, y). Returns: scalar.
    """
    own, partner = decouple(logits1.float(), logits2.float(), lam1, lam2)
    ce = torch.nn.functional.cross_entropy
    return 0.5 * ce(own, labels) + 0.5 * ce(partner, labels[index])


@register_mixer("mixup_inference")
@dataclass
class MixupInferenceConfig(MixupConfig):
    """Mixup inference in training (MIT-L): two mixes of each pair, outputs decoupled at the end of the forward
    pass, each head's plain (unmixed) loss on the recovered outputs against the original labels (one-hot CE for
    classification). Two forward passes per step. The plan gives the partners and the mixed rows; MIT draws its
    own (λ₁, λ₂) (per batch or per row, `lambda_per`) from a generator seeded by the plan.

    Reduces to: no plan, or a plan that mixes no row: the clean loss (one forward pass). Rows left unmixed get
    ½·loss(z₁) + ½·loss(z₂) of their two clean passes.
    """

    alpha: float = field(
        default=1.0, metadata={"help": "u, v ~ Beta(alpha, alpha), in (0, 1000]; the official runs use 1.0."}
    )
    margin: float = field(
        default=0.5,
        metadata={
            "help": "Draws are repeated until λ₁ − λ₂ >= margin, in (0, 1): the decoupling divides by λ₁ − λ₂ "
            "(official default 0.5; its README also runs 0, which hfmix refuses: λ₁ = λ₂ is singular)."
        },
    )
    lambda_correction: Literal["none", "length", "energy"] = field(
        default="none",
        metadata={"help": "Must be 'none': the decoupling inverts the interpolation weights themselves."},
    )

    citation = CITATION
    mixes_in_collator: ClassVar[bool] = False  # two mixes of each batch: plans are applied in MixTrainer

    def validate(self) -> None:
        super().validate()
        if not 0 < self.margin < 1:
            raise ValueError(f"margin must be in (0, 1) (λ₁ − λ₂ >= margin), got margin={self.margin}.")
        if self.lambda_correction != "none":
            raise ValueError(f"lambda_correction must be 'none' for MIT, got {self.lambda_correction!r}.")
        if self.snr_db is not None:
            raise ValueError("snr_db: MIT draws its own (λ₁, λ₂); SNR mixing does not apply. Leave snr_db None.")
        if self.prob > 0:  # the rejection loop must end: an acceptance rate below 1 % is refused
            u, v = np.random.default_rng(0).beta(self.alpha, self.alpha, (2, 4096))
            accepted = (np.maximum(u, 1 - u) - np.minimum(v, 1 - v) >= self.margin).mean()
            if accepted < 0.01:
                raise ValueError(
                    f"margin={self.margin} with alpha={self.alpha}: only {accepted:.2%} of draws have "
                    "λ₁ − λ₂ >= margin; lower margin (or alpha)."
                )

    def batch_loss(
        self, run: Callable[[MixPlan | None], Any], plan: MixPlan | None, loss_of: Callable[[Any], Tensor]
    ) -> tuple[Tensor, Any]:
        """½·loss_of(ẑ_a against y) + ½·loss_of(ẑ_b against y[index]); the result reported is the λ₁ pass."""
        from hfmix.mixed_forward import MixedForward

        if plan is None or not bool(plan.mixed.any()):
            result = run(plan)
            return loss_of(result), result
        draws = 1 if self.lambda_per == "batch" else len(plan)
        lam1, lam2 = sample_mit_lambdas(self.alpha, self.margin, draws, generator=plan_generator(plan, 0))
        mixed, one = plan.mixed.cpu(), torch.ones(len(plan))
        lam1, lam2 = torch.where(mixed, lam1, one), torch.where(mixed, lam2, one)
        plan1, plan2 = plan.with_lam(lam1.to(plan.lam.device)), plan.with_lam(lam2.to(plan.lam.device))
        first, second = run(plan1), run(plan2)
        rows, labels = plan.anchors, first.labels
        own, partner = decouple(
            first.outputs["logits"][:rows], second.outputs["logits"][:rows], lam1[:rows], lam2[:rows]
        )
        index = plan.index[:rows].to(labels.device)
        loss = loss_of(MixedForward({"logits": own}, labels[:rows], None))
        return 0.5 * loss + 0.5 * loss_of(MixedForward({"logits": partner}, labels[index], None)), first
