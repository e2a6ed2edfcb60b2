"""Losses, one per file."""

from hfmix.losses.soft_target_cross_entropy import soft_target_cross_entropy


__all__ = ["soft_target_cross_entropy"]
