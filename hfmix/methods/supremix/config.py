"""SupReMix recipe: supervised contrastive pre-training for regression with mixtures as hard pairs.

Wu et al., "Mixup Your Own Pairs", arXiv:2309.16633. The config is the one list of the method's options: the
runtime `SupReMixLoss` (`loss.py`) is built from it, and the trainer and the sentence-transformers loss call that.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from hfmix.config import MixConfig
from hfmix.registry import register_mixer


CITATION = """\
@article{wu2023supremix,
  title={Mixup Your Own Pairs},
  author={Wu, Yilei and others},
  journal={arXiv preprint arXiv:2309.16633},
  year={2023}
}"""
# Fields that say where the embedding comes from and whether to gather, not how the loss is computed.
RUNTIME_FIELDS = ("embedding", "gather_across_processes")


@register_mixer("supremix")
@dataclass
class SupReMixConfig(MixConfig):
    """Everything `SupReMixTrainer` needs: the loss's options, where the embedding comes from, and gathering."""

    temperature: float = field(default=0.3, metadata={"help": "τ of the similarities (the research default, 0.3)."})
    base_temperature: float | None = field(
        default=None, metadata={"help": "τ_b in the (τ / τ_b) loss scale; None = temperature (scale 1)."}
    )
    distance_weight: Literal["l1", "l2", "none"] = field(
        default="l1", metadata={"help": "Denominator weights |Δy| + 1 ('l1'), Δy² + 1 ('l2') or 1 ('none')."}
    )
    negative_alpha: list[float] = field(
        default_factory=lambda: [2.0, 8.0],
        metadata={"help": "Beta(a, b) of the anchor's weight in Mix-neg mixtures (the paper's Beta(2, 8))."},
    )
    num_positive_mixtures: int = field(default=32, metadata={"help": "Mix-pos mixtures drawn per anchor."})
    positive_window: float | None = field(
        default=None, metadata={"help": "Mix-pos partners lie within this label distance of the anchor; None = any."}
    )
    label_tolerance: float = field(
        default=0.0, metadata={"help": "Real rows with |Δy| <= tolerance are positives (0: equal labels only)."}
    )
    mix_negatives: bool = field(default=True, metadata={"help": "Add Mix-neg (anchor-inclusive) hard negatives."})
    mix_positives: bool = field(default=True, metadata={"help": "Add Mix-pos (anchor-exclusive) hard positives."})
    detach_mixtures: bool = field(
        default=False, metadata={"help": "Stop gradients through the mixtures (the research code does)."}
    )
    normalize: bool = field(default=True, metadata={"help": "L2-normalise embeddings before the similarities."})
    embedding: Literal["pooled", "mean", "cls"] = field(
        default="pooled",
        metadata={
            "help": "The embedding trained: 'pooled' = the input of the task head (each model's own pooling; "
            "`pooler_output` for a bare encoder), 'mean' = masked mean of the last hidden states, 'cls' = the "
            "first token's last hidden state."
        },
    )
    gather_across_processes: bool = field(
        default=True,
        metadata={"help": "Contrast against the global batch of all processes (gathered with gradients)."},
    )

    citation = CITATION

    def validate(self) -> None:
        if not self.temperature > 0 or (self.base_temperature is not None and not self.base_temperature > 0):
            raise ValueError(
                f"temperature and base_temperature must be > 0, got {self.temperature}, {self.base_temperature}."
            )
        if len(self.negative_alpha) != 2 or not 0 < min(self.negative_alpha) <= max(self.negative_alpha) <= 1000:
            raise ValueError(
                f"negative_alpha must be two Beta parameters in (0, 1000], got {list(self.negative_alpha)}."
            )
        if self.num_positive_mixtures < 0:
            raise ValueError(f"num_positive_mixtures must be >= 0, got {self.num_positive_mixtures}.")
        if self.positive_window is not None and not self.positive_window > 0:
            raise ValueError(f"positive_window must be > 0 or None, got {self.positive_window}.")
        if self.label_tolerance < 0:
            raise ValueError(f"label_tolerance must be >= 0, got {self.label_tolerance}.")

    def loss_options(self) -> dict[str, Any]:
        """The keyword arguments of `supremix_loss` this recipe sets: every field but `RUNTIME_FIELDS`."""
        options = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in RUNTIME_FIELDS}
        options["negative_alpha"] = tuple(self.negative_alpha)
        return options
