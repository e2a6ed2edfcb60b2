"""Geodesic multi-modal mixup (m²-mix; Oh et al., arXiv:2203.03897): the recipe and its loss runtime. The mixer is
`hfmix.mixers.geodesic_mixup.slerp`; the trainer is `hfmix.methods.geodesic_mixup.trainer.GeodesicMixupTrainer`
(also `hfmix.GeodesicMixupTrainer`); the sentence-transformers loss is
`hfmix.integrations.sentence_transformers.GeodesicMixupRankingLoss`."""

from hfmix.methods.geodesic_mixup.config import GeodesicMixupConfig
from hfmix.methods.geodesic_mixup.loss import GeodesicMixupLoss, geodesic_mixup_loss


__all__ = ["GeodesicMixupConfig", "GeodesicMixupLoss", "geodesic_mixup_loss"]
