"""Losses that plug into sentence-transformers' `SentenceTransformerTrainer` (needs `pip install hfmix[sentence-transformers]`).

Each wraps its method's loss runtime (`hfmix.losses.SupReMixLoss`, `hfmix.losses.GeodesicMixupLoss`) with the model.
"""

from typing import Any

from hfmix.integrations.sentence_transformers.geodesic_mixup_loss import GeodesicMixupRankingLoss
from hfmix.integrations.sentence_transformers.supremix_loss import SupReMixSentenceLoss, deprecated_alias


__all__ = ["GeodesicMixupRankingLoss", "SupReMixSentenceLoss"]


def __getattr__(name: str) -> Any:
    return deprecated_alias(name, globals())  # SupReMixLoss: the old name of SupReMixSentenceLoss
