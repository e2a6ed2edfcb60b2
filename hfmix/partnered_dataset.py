"""Partners from the whole training set: each row travels with the row it will be mixed with.

C-Mixup (Yao et al., "C-Mixup: Improving Generalization in Regression", NeurIPS 2022, arXiv:2210.05775) draws the
partner of every anchor from the whole dataset by label similarity; AST-style audio mixup draws it uniformly.
`PartneredDataset` redraws the partners at every epoch (the same on every process, so a distributed sampler can
shard the anchors freely) and `PartnerCollator` collates anchors and partners into one padded batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from hfmix.sampling import make_generator


PARTNER_KEY = "mix_partner"
ANCHORS_KEY = "mix_anchors"
_PARTNER_STREAM = 7919  # keeps the partner draws independent of the mix-plan draws seeded from the same seed


class PartneredDataset(Dataset):
    """`dataset[i]` plus, under `"mix_partner"`, the row drawn as its partner for the current epoch.

    Args:
        dataset: any map-style dataset of dict rows (a `datasets.Dataset` included).
        draw_partners: `(labels, num_rows, generator) -> (num_rows,) long`, e.g. `MixupConfig.dataset_partners`.
        labels: (N,) or (N, K) labels of the rows, or None when the pairing ignores them.
        seed: partners of epoch e come from a generator seeded with (seed, e): reproducible, equal on all ranks.
    Call `set_epoch(e)` before each epoch (`MixTrainer` does); partners are drawn once per epoch, O(N) memory.
    """

    def __init__(
        self,
        dataset: Any,
        draw_partners: Callable[..., Tensor],
        labels: Tensor | None,
        seed: int = 0,
    ):
        self.dataset, self.draw_partners, self.labels, self.seed = dataset, draw_partners, labels, seed
        self.epoch: int | None = None
        self.partners: Tensor | None = None

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch or self.partners is None:
            generator = make_generator(self.seed, _PARTNER_STREAM, epoch)
            self.partners = self.draw_partners(self.labels, len(self.dataset), generator=generator).cpu()
            self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if self.partners is None:
            self.set_epoch(0)
        row = dict(self.dataset[i])
        row[PARTNER_KEY] = dict(self.dataset[int(self.partners[i])])
        return row


@dataclass
class PartnerCollator:
    """Collate B `PartneredDataset` rows into one batch of 2B rows (the anchors, then their partners, padded
    together by `base_collator`) and record B under `"mix_anchors"`."""

    base_collator: Callable[[list[dict[str, Any]]], dict[str, Any]]

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        anchors, partners = [], []
        for feature in features:
            anchor = dict(feature)
            partner = anchor.pop(PARTNER_KEY, None)
            if partner is None:
                raise ValueError(
                    f"PartnerCollator needs rows from a PartneredDataset (a {PARTNER_KEY!r} entry); got keys "
                    f"{sorted(feature)}."
                )
            anchors.append(anchor)
            partners.append({key: partner[key] for key in anchor})  # the columns the anchor kept
        batch = dict(self.base_collator(anchors + partners))
        batch[ANCHORS_KEY] = torch.tensor([len(anchors)])
        return batch


def anchor_rows(value: Any, rows: int, anchors: int) -> Any:
    """The anchors' part of one batch entry: `value[:anchors]` for a tensor with one row per batch row."""
    return value[:anchors] if isinstance(value, Tensor) and value.dim() and len(value) == rows else value


def dataset_labels(dataset: Any, names: Sequence[str]) -> Tensor:
    """The label column of a whole dataset as one tensor, (N,) or (N, K): the first of `names` it has."""
    columns = getattr(dataset, "column_names", None)
    if columns is not None:
        for name in names:
            if name in columns:
                return torch.as_tensor(np.asarray(dataset[name]))
        raise ValueError(
            f"pairing_scope='dataset' needs the labels of the whole training set: none of "
            f"{list(names)} is a column of the training dataset (columns: {columns})."
        )
    first = dataset[0]
    name = next((n for n in names if n in first), None)
    if name is None:
        raise ValueError(
            f"pairing_scope='dataset' needs the labels of the whole training set: rows have none of {list(names)} "
            f"(keys: {sorted(first)})."
        )
    return torch.as_tensor(np.asarray([dataset[i][name] for i in range(len(dataset))]))
