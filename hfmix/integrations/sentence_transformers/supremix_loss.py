"""SupReMix for sentence-transformers: contrastive regression on a text column with a score column.

Wu et al., "Mixup Your Own Pairs", arXiv:2309.16633.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from hfmix.integrations.sentence_transformers.embedding import embed_columns
from hfmix.methods.supremix.config import CITATION, SupReMixConfig
from hfmix.methods.supremix.loss import (
    SupReMixLoss as _SupReMixLoss,
)  # the runtime; `SupReMixLoss` here is the old name


class SupReMixSentenceLoss(nn.Module):
    """`SentenceTransformerTrainer` loss: SupReMix on the sentence embeddings, with the dataset's score as label.

    Data: one text column followed by a `score` (or `label`) column with one finite float per row: the score is a
    property of that text (a rating, a reading level, a sentiment intensity), and rows with close scores are
    pulled together. Several text columns are read as views of the same row (an original and an augmented copy,
    two crops of one document: positives of each other) only with `columns_are_views=True`; otherwise they are
    refused, because (sentence1, sentence2, score) is the layout of pair data such as STS, whose score rates the
    *pair* (use `CosineSimilarityLoss` or `CoSENTLoss` there).

    The loss is the recipe's runtime, `SupReMixLoss` (`self.supremix`): mixtures from its own `torch.Generator`
    (seed, call count), equal on every process; `gather_across_processes` contrasts against the embeddings of
    every process, gathered with gradients.

    Args:
        model: the `SentenceTransformer` being trained (kept as `self.model`, as sentence-transformers expects).
        mix_config: a `SupReMixConfig` (or dict / name / path); keyword `options` override its fields.
        seed: seed of the mixture generator.
        columns_are_views: accept several text columns as views of the same text.
    """

    citation = CITATION

    def __init__(
        self,
        model: nn.Module,
        mix_config: SupReMixConfig | dict | str | None = None,
        seed: int = 0,
        columns_are_views: bool = False,
        **options: Any,
    ):
        super().__init__()
        self.model = model
        self.supremix = _SupReMixLoss(mix_config, seed=seed, **options)
        self.columns_are_views = columns_are_views

    @property
    def mix_config(self) -> SupReMixConfig:
        return self.supremix.config

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        features = list(sentence_features)
        if labels is None:
            raise ValueError(
                "SupReMixSentenceLoss needs a float score per row: add a 'score' (or 'label') column after the text "
                "column."
            )
        if len(features) > 1 and not self.columns_are_views:
            raise ValueError(
                f"SupReMixSentenceLoss got {len(features)} text columns and a score: that is the layout of pair data "
                "such as STS (sentence1, sentence2, score), whose score rates the pair, not each text. SupReMix "
                "needs one text column and a per-row regression `score` (a property of that text). If the columns "
                "are views of the same text (e.g. an original and an augmented copy), pass columns_are_views=True; "
                "for pair scores use CosineSimilarityLoss or CoSENTLoss."
            )
        views = embed_columns(self.model, features)
        return self.supremix(torch.stack(views, dim=1), labels.float())  # views: (B, V, D)

    def get_config_dict(self) -> dict[str, Any]:
        return {**self.mix_config.to_dict(), "columns_are_views": self.columns_are_views, "seed": self.supremix.seed}


def __getattr__(name: str) -> Any:
    return deprecated_alias(name, globals())


def deprecated_alias(name: str, namespace: dict[str, Any]) -> Any:
    """`SupReMixLoss`, the old name of `SupReMixSentenceLoss`, with a `FutureWarning` (module `__getattr__`)."""
    if name != "SupReMixLoss":
        raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
    warnings.warn(
        "hfmix.integrations.sentence_transformers.SupReMixLoss is renamed SupReMixSentenceLoss (SupReMixLoss is "
        "hfmix.losses.SupReMixLoss, the loss runtime that takes no model); the old name will be removed.",
        FutureWarning,
        stacklevel=3,
    )
    return SupReMixSentenceLoss
