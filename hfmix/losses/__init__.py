"""Losses: the pure functions and the loss modules, one per file or per method folder (`hfmix.methods`)."""

from hfmix.losses.soft_target_cross_entropy import soft_target_cross_entropy
from hfmix.methods.geodesic_mixup.loss import GeodesicMixupLoss, geodesic_mixup_loss
from hfmix.methods.supremix.loss import SupReMixLoss, SupReMixMixtures, draw_supremix_mixtures, supremix_loss


__all__ = [
    "GeodesicMixupLoss",
    "SupReMixLoss",
    "SupReMixMixtures",
    "draw_supremix_mixtures",
    "geodesic_mixup_loss",
    "soft_target_cross_entropy",
    "supremix_loss",
]
