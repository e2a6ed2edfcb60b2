"""Losses, one per file."""

from hfmix.losses.geodesic_mixup_loss import GeodesicMixupLoss, geodesic_mixup_loss
from hfmix.losses.soft_target_cross_entropy import soft_target_cross_entropy
from hfmix.losses.supremix_loss import SupReMixLoss, SupReMixMixtures, draw_supremix_mixtures, supremix_loss


__all__ = [
    "GeodesicMixupLoss",
    "SupReMixLoss",
    "SupReMixMixtures",
    "draw_supremix_mixtures",
    "geodesic_mixup_loss",
    "soft_target_cross_entropy",
    "supremix_loss",
]
