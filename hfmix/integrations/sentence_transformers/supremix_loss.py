"""SupReMix for sentence-transformers: contrastive regression on a text column with a score column.

Wu et al., "Mixup Your Own Pairs", arXiv:2309.16633.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from hfmix.losses.supremix_loss import CITATION, gathered_supremix_loss, supremix_loss
from hfmix.mixers.supremix import SupReMixConfig
from hfmix.registry import get_mix_config


class SupReMixLoss(nn.Module):
    """`SentenceTransformerTrainer` loss: SupReMix on the sentence embeddings, with the dataset's score as label.

    Data: one text column (or several views of the same row, e.g. an original and an augmented text: views of a
    row are positives of each other) followed by a `score` / `label` column with one float per row. The options
    are those of `SupReMixConfig` (pass one, a dict, or keyword arguments); `gather_across_processes` contrasts
    against the embeddings of every process, gathered with gradients. Mixtures are drawn from the loss's own
    `torch.Generator` (seed, call count): equal on every process.

    Args:
        model: the `SentenceTransformer` being trained (kept as `self.model`, as sentence-transformers expects).
        mix_config: a `SupReMixConfig` (or dict / name / path); keyword `options` override its fields.
        seed: seed of the mixture generator.
    """

    citation = CITATION

    def __init__(
        self, model: nn.Module, mix_config: SupReMixConfig | dict | str | None = None, seed: int = 0, **options: Any
    ):
        super().__init__()
        config = get_mix_config(mix_config if mix_config is not None else "supremix", **options)
        if not isinstance(config, SupReMixConfig):
            raise TypeError(f"SupReMixLoss needs a SupReMixConfig, got {type(config).__name__}.")
        self.model, self.mix_config, self.seed, self._calls = model, config, seed, 0

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        features = list(sentence_features)
        if labels is None:
            raise ValueError(
                "SupReMixLoss needs a float score per row: add a 'score' (or 'label') column after the text column."
            )
        views = torch.stack([self.model(f)["sentence_embedding"] for f in features], dim=1)  # (B, V, D)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self._calls)
        self._calls += 1
        options = self.mix_config.loss_options()
        if self.mix_config.gather_across_processes:
            return gathered_supremix_loss(views, labels.float(), generator=generator, **options)
        return supremix_loss(views, labels.float(), generator=generator, **options)

    def get_config_dict(self) -> dict[str, Any]:
        return self.mix_config.to_dict()
