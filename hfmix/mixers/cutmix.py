"""Cut-mix over one axis: a contiguous span (a time band, or a frequency band) comes from the partner.

Yun et al., "CutMix: Regularization Strategy to Train Strong Classifiers with Localizable Features",
arXiv:1905.04899, here in 1-D along a sequence, a waveform, or a spectrogram's time or frequency axis (as
SpecAugment-style band masking, with the band filled by the partner instead of zeros).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import Tensor

from hfmix.mixers.masked_mixing import MaskedMixupConfig
from hfmix.registry import register_mixer


CITATION = """\
@inproceedings{yun2019cutmix,
  title={CutMix: Regularization Strategy to Train Strong Classifiers with Localizable Features},
  author={Yun, Sangdoo and Han, Dongyoon and Oh, Seong Joon and Chun, Sanghyuk and Choe, Junsuk and Yoo, Youngjoon},
  booktitle={International Conference on Computer Vision},
  year={2019}
}"""


def span_mask(length: int, lam: Tensor | float, *, generator: torch.Generator, shared: bool = False) -> Tensor:
    """Masks that keep each row except one contiguous span of round((1 − λ)·length) positions.

    Args:
        lam: (B,) or a scalar, the share of positions each row keeps.
    Returns: (B, length) float in {0, 1}; the span starts uniformly among the positions where it fits.
    """
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}.")
    lam = torch.as_tensor(lam, dtype=torch.float64).reshape(-1)
    cut = ((1 - lam) * length).round().long()
    draws = torch.rand(1 if shared else len(lam), generator=generator, dtype=torch.float64).expand(len(lam))
    start = (draws * (length - cut + 1)).floor().long().clamp(max=length - cut)
    positions = torch.arange(length)
    inside = (positions >= start[:, None]) & (positions < (start + cut)[:, None])
    return (~inside).float()


@register_mixer("cutmix")
@dataclass
class CutMixConfig(MaskedMixupConfig):
    """Mixup with one contiguous span per row taken from the partner (time band or frequency band)."""

    citation = CITATION

    def mask_function(self):
        return functools.partial(span_mask, shared=self.mask_per == "batch")
