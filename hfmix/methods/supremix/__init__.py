"""SupReMix (Wu et al., "Mixup Your Own Pairs", arXiv:2309.16633): the recipe and its loss runtime. The trainer is
`hfmix.methods.supremix.trainer.SupReMixTrainer` (also `hfmix.SupReMixTrainer`); the sentence-transformers loss is
`hfmix.integrations.sentence_transformers.SupReMixSentenceLoss`."""

from hfmix.methods.supremix.config import SupReMixConfig
from hfmix.methods.supremix.loss import (
    SupReMixLoss,
    SupReMixMixtures,
    draw_supremix_mixtures,
    gathered_supremix_loss,
    supremix_loss,
)


__all__ = [
    "SupReMixConfig",
    "SupReMixLoss",
    "SupReMixMixtures",
    "draw_supremix_mixtures",
    "gathered_supremix_loss",
    "supremix_loss",
]
