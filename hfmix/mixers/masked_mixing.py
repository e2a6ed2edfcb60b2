"""What FMix and cut-mix share: mixup whose weight is a per-position mask instead of one λ per row."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from hfmix.mixers.mixup import MixupConfig
from hfmix.sampling import MixPlan, PositionMasks


@dataclass
class MaskedMixupConfig(MixupConfig):
    """A `MixupConfig` whose rows keep a masked share λ of their positions and take the rest from the partner.

    Subclasses provide `mask_function()`: `(length, lam, generator) -> (B, length)` masks. Targets use each row's
    own share of what was really mixed (padding excluded), so they match the mask within rounding.
    """

    mask_per: Literal["sample", "batch"] = field(
        default="sample",
        metadata={"help": "One mask per row, or one mask for the whole batch (needs lambda_per='batch')."},
    )
    axis: Literal["time", "frequency"] = field(
        default="time",
        metadata={
            "help": "The axis the mask runs along: 'time' (sequence positions, waveform samples, spectrogram frames) "
            "or 'frequency' (spectrogram bins; level='inputs' with 3-D features only)."
        },
    )

    def validate(self) -> None:
        super().validate()
        if self.level == "pooled":
            raise ValueError(f"{type(self).__name__} masks positions of a sequence; level='pooled' has none.")
        if self.snr_db is not None:
            raise ValueError(f"{type(self).__name__} mixes by masks; snr_db is for MixupConfig(level='inputs').")
        if self.axis == "frequency" and self.level != "inputs":
            raise ValueError("axis='frequency' masks spectrogram bins and needs level='inputs'.")
        if self.mask_per == "batch" and self.lambda_per != "batch":
            raise ValueError("mask_per='batch' shares one mask, so it needs lambda_per='batch'.")

    def mask_function(self):
        raise NotImplementedError

    def sample_plan(
        self,
        batch_size: int,
        *,
        generator: torch.Generator,
        labels: Tensor | None = None,
        num_layers: int | None = None,
        num_anchors: int | None = None,
    ) -> MixPlan:
        plan = super().sample_plan(
            batch_size,
            generator=generator,
            labels=labels,
            num_layers=num_layers,
            num_anchors=num_anchors,
        )
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        masks = PositionMasks(self.mask_function(), plan.lam.clone(), seed, self.axis)
        return dataclasses.replace(plan, masks=masks)
