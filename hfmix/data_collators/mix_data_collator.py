"""`MixDataCollator`: wrap any HF collator and draw a mix plan per batch (and, for level='inputs', apply it)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from hfmix.config import MixConfig
from hfmix.mixers.mixup import MixupConfig
from hfmix.partnered_dataset import ANCHORS_KEY, anchor_rows
from hfmix.registry import get_mix_config
from hfmix.sampling import MixPlan, make_generator
from hfmix.signal_mixing import mix_continuous_inputs, signal_options
from hfmix.targets import mix_targets


APPLIED_KEY = "mix_applied"


@dataclass
class MixDataCollator:
    """Collate with `base_collator`, then draw this batch's `MixPlan`.

    - `level="inputs"`: the continuous inputs (`input_values`, `input_features`, `inputs_embeds`) are mixed here,
      in the DataLoader workers, with padding never mixed in and the attention mask widened to the union.
    - Other levels: the plan is attached for `MixTrainer` to apply inside the model.
    The plan travels as `mix_index` (B,), `mix_lam` (B,) and `mix_layer` (1,) tensors; `labels` stay as they are
    (MixTrainer mixes the targets), unless `soft_labels=True`, which replaces them by the mixed targets for use
    with another trainer or loop (integer class labels then need `num_labels`).

    With partners from the whole dataset (`PartneredDataset` rows, `base_collator` a `PartnerCollator`), the batch
    holds the anchors then their partners, and anchor i is mixed with its partner.

    Randomness: each batch's plan comes from a generator seeded by (`seed`, `epoch`, a fingerprint of the collated
    batch), so it does not depend on how many batches were collated before, in which DataLoader worker, or whether
    a resumed run skipped them: a resumed run draws exactly the plans of an uninterrupted one. `MixTrainer` sets
    `epoch` at the start of every epoch (`set_epoch`); a loop of your own may do the same.

    `mix_inputs=False` attaches level-'inputs' plans without applying them, for `MixTrainer` to apply in the main
    process when its schedule (`mix_stop`) says so.
    """

    base_collator: Callable[[list[dict[str, Any]]], dict[str, Any]]
    mix_config: MixConfig | dict | str | None = None
    seed: int = 0
    num_layers: int | None = field(default=None, metadata={"help": "Model depth, for level='hidden'."})
    soft_labels: bool = False
    num_labels: int | None = None
    epoch: int = field(default=0, metadata={"help": "The training epoch, part of every plan's seed (set_epoch)."})
    mix_inputs: bool = field(
        default=True, metadata={"help": "level='inputs': mix the inputs here (True) or only attach the plan."}
    )

    def __post_init__(self) -> None:
        self.mix_config = get_mix_config(self.mix_config)
        if not isinstance(self.mix_config, MixupConfig):
            raise TypeError(
                f"{type(self.mix_config).__name__} is not a batch-mixing recipe for MixDataCollator; it takes "
                "MixupConfig and its subclasses (FMixConfig, CutMixConfig)."
            )
        if self.soft_labels and self.mix_config.level != "inputs":
            raise ValueError("soft_labels=True needs level='inputs': other levels are mixed inside the model.")

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next batches belong to (part of their plans' seed)."""
        self.epoch = int(epoch)

    def __call__(self, features: list[dict[str, Any]], return_tensors: str | None = None) -> dict[str, Any]:
        batch = dict(self.base_collator(features))
        labels = batch.get("labels")
        anchors = batch.pop(ANCHORS_KEY, None)
        plan = self.mix_config.sample_plan(
            len(features) if anchors is None else 2 * len(features),
            generator=make_generator(self.seed, self.epoch, batch_fingerprint(batch)),
            labels=labels,
            num_layers=self.num_layers,
            num_anchors=None if anchors is None else int(anchors),
        )
        applied = self.mix_config.level == "inputs" and (self.mix_inputs or self.soft_labels)
        if applied:
            batch, plan = mix_continuous_inputs(batch, plan, *signal_options(self.mix_config))
        if self.soft_labels:
            if labels is None:
                raise ValueError("soft_labels=True but the batch has no `labels`.")
            if not labels.is_floating_point() and self.num_labels is None:
                raise ValueError(
                    "soft_labels=True with integer class labels needs num_labels=model.config.num_labels."
                )
            batch["labels"] = mix_targets(
                labels, plan, num_classes=self.num_labels, union=getattr(self.mix_config, "multi_label", "") == "union"
            )
            if anchors is not None:  # a plain loop trains on the mixed anchors only
                batch = {k: anchor_rows(v, len(plan), plan.anchors) for k, v in batch.items()}
            return batch
        batch["mix_index"], batch["mix_lam"] = plan.index, plan.lam
        if applied:
            batch[APPLIED_KEY] = torch.tensor([1])  # the inputs are mixed and `mix_lam` holds the targets' λ
        if plan.snr_db is not None:
            batch["mix_snr_db"] = plan.snr_db
        if plan.layer is not None:
            batch["mix_layer"] = torch.tensor([plan.layer])
        if anchors is not None:
            batch[ANCHORS_KEY] = anchors
        if plan.masks is not None:
            batch["mix_masks"] = plan.masks  # FMix / cut-mix masks, drawn at the model's sequence length
        return batch


def pop_plan(inputs: dict[str, Any]) -> tuple[MixPlan | None, bool]:
    """Remove a collator-attached plan from a batch: (the plan or None, whether the collator already applied it to
    the inputs)."""
    applied = bool(inputs.pop(APPLIED_KEY, False))
    if "mix_index" not in inputs:
        return None, False
    index, lam = inputs.pop("mix_index"), inputs.pop("mix_lam")
    layer, anchors = inputs.pop("mix_layer", None), inputs.pop(ANCHORS_KEY, None)
    plan = MixPlan(
        index.long(),
        lam.float(),
        None if layer is None else int(layer.reshape(-1)[0]),
        None if anchors is None else int(anchors.reshape(-1)[0]),
        snr_db=inputs.pop("mix_snr_db", None),
        masks=inputs.pop("mix_masks", None),
    )
    return plan, applied


def batch_fingerprint(batch: dict[str, Any]) -> int:
    """A 63-bit digest of a collated batch's tensors (names, shapes and values), to seed its plan."""
    digest = hashlib.blake2b(digest_size=8)
    for key in sorted(batch):
        value = batch[key]
        if isinstance(value, torch.Tensor):
            digest.update(f"{key}{tuple(value.shape)}{value.dtype}".encode())
            digest.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return int.from_bytes(digest.digest(), "little") >> 1
