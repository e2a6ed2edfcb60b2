"""Losses that plug into sentence-transformers' `SentenceTransformerTrainer` (needs `pip install hfmix[sentence-transformers]`)."""

from hfmix.integrations.sentence_transformers.geodesic_mixup_loss import GeodesicMixupRankingLoss
from hfmix.integrations.sentence_transformers.supremix_loss import SupReMixLoss


__all__ = ["GeodesicMixupRankingLoss", "SupReMixLoss"]
