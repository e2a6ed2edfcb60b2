"""Geodesic multi-modal mixup (m²-mix, and the uni-modal terms of m³-mix) for contrastive dual encoders.

Oh et al., "Geodesic Multi-Modal Mixup for Robust Fine-Tuning", NeurIPS 2023, arXiv:2203.03897. This file holds
the Hub-shareable recipe; the mixer is `hfmix.mixers.geodesic_mixup.slerp`, and the runtime built from the recipe
(λ draws, gathering, the weight schedule, the loss) is `GeodesicMixupLoss` in `loss.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from hfmix.config import MixConfig
from hfmix.registry import register_mixer


CITATION = """\
@inproceedings{oh2023geodesic,
  title={Geodesic Multi-Modal Mixup for Robust Fine-Tuning},
  author={Oh, Changdae and So, Junhyuk and Byun, Hoyoon and Lim, YongTaek and Shin, Minchul and Jeon, Jong-June and Song, Kyungwoo},
  booktitle={Advances in Neural Information Processing Systems},
  year={2023},
  eprint={2203.03897},
  archivePrefix={arXiv}
}"""

WeightSchedule = Literal["constant", "linear", "cosine", "inverse_epoch"]


@register_mixer("geodesic_mixup")
@dataclass
class GeodesicMixupConfig(MixConfig):
    """m²-mix: geodesic hard negatives h_j = slerp(image_j, text_j, λ) for CLIP / CLAP-style contrastive training.

    The loss is L_CLIP + w(t)·L_m² + w_u(t)·(L_image-mix + L_text-mix), with λ ~ Beta(beta, beta) drawn once per
    batch, and w(t) = weight × the schedule's factor at training progress t (the uni-modal weight follows the same
    schedule). L_m² averages its two directions, like the CLIP loss; the official `main.py` sums them, so its
    `--mmmix 0.01` is `weight=0.02` here.
    """

    beta: float = field(default=0.5, metadata={"help": "λ ~ Beta(beta, beta) for the hard negatives (> 0)."})
    weight: float = field(
        default=0.02,
        metadata={
            "help": "Weight w of the m²-mix term (>= 0; 0 = plain contrastive loss). Official sweep: 0.002-0.1."
        },
    )
    mixed_logit_scale: float | None = field(
        default=None,
        metadata={
            "help": "Fixed logit scale 1/τ₂ of the m²-mix term (its positive and hard-negative logits), > 0. None: "
            "use the model's own learned scale(s). The official main.py uses 1/0.07 ≈ 14.3 with --sep_scale; its "
            "README's ClipLoss multiplies by 0.01 (a ~1400x disagreement), so this is explicit."
        },
    )
    unimodal_weight: float = field(
        default=0.0,
        metadata={
            "help": "Weight of the uni-modal m³-mix terms (image-image and text-text geodesic mixup with soft "
            "targets, each row mixed with its mirror in the global batch); 0 turns them off."
        },
    )
    unimodal_beta: float = field(default=0.5, metadata={"help": "λ ~ Beta(unimodal_beta, unimodal_beta), > 0."})
    weight_schedule: WeightSchedule = field(
        default="constant",
        metadata={
            "help": "Decay of the mixup weights over training: 'constant', 'linear' (1 − t), 'cosine' "
            "((1 + cos πt)/2), with t = global_step / max_steps, or 'inverse_epoch' (1/(epoch + 1), the "
            "official --schedule)."
        },
    )
    gather_across_processes: bool = field(
        default=True,
        metadata={
            "help": "Under several processes, gather embeddings with gradients so negatives come from the global "
            "batch and the loss and gradients equal the single-process full-batch values."
        },
    )

    citation = CITATION

    def validate(self) -> None:
        from hfmix.sampling import MAX_BETA_PARAMETER  # floats are already finite (MixConfig's type check)

        for name in ("beta", "unimodal_beta"):
            if not 0 < getattr(self, name) <= MAX_BETA_PARAMETER:
                raise ValueError(f"{name} must be in (0, {MAX_BETA_PARAMETER:g}], got {getattr(self, name)}.")
        for name in ("weight", "unimodal_weight"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number >= 0, got {value}.")
        if self.mixed_logit_scale is not None and not (
            self.mixed_logit_scale > 0 and math.isfinite(self.mixed_logit_scale)
        ):
            raise ValueError(f"mixed_logit_scale must be None or a finite number > 0, got {self.mixed_logit_scale}.")
