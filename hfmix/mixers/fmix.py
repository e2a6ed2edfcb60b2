"""FMix over one axis: mix two sequences with a binary mask cut from low-frequency Fourier noise.

Harris et al., "FMix: Enhancing Mixed Sample Data Augmentation", arXiv:2002.12047 (`ecs-vlc/FMix`, whose masks
work in 1-D). A grey signal with power spectrum 1/f^decay_power is drawn, and the ⌊λ·L⌉ positions with the largest
values keep the row's own content; the rest come from the partner. Larger `decay_power` gives smoother masks
(fewer, longer segments). Usable on waveforms, spectrogram time or frequency axes, word embeddings and hidden
states.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import torch
from torch import Tensor

from hfmix.mixers.masked_mixing import MaskedMixupConfig
from hfmix.registry import register_mixer


CITATION = """\
@article{harris2020fmix,
  title={FMix: Enhancing Mixed Sample Data Augmentation},
  author={Harris, Ethan and Marcu, Antonia and Painter, Matthew and Niranjan, Mahesan and Pr{\\"u}gel-Bennett, Adam
          and Hare, Jonathon},
  journal={arXiv preprint arXiv:2002.12047},
  year={2020}
}"""
# At δ = 6 the masks are already one contiguous block (checked for L = 8 to 160000); beyond, the spectrum's largest
# factor L^δ soon overflows float32 (δ = 10 at L = 16000) and the masks come out of NaN noise.
MAX_DECAY_POWER = 6.0


def fmix_mask(
    length: int, lam: Tensor | float, *, generator: torch.Generator, decay_power: float = 3.0, shared: bool = False
) -> Tensor:
    """Binary FMix masks over `length` positions, one per λ (or one `shared` by all rows).

    Args:
        lam: (B,) or a scalar, the share of positions each row keeps (mask = 1).
        decay_power: δ of the 1/f^δ spectrum; FMix's default is 3.
    Returns: (B, length) float in {0, 1}, row i with exactly round(λ_i · length) ones.
    """
    if length < 1 or not decay_power >= 0:
        raise ValueError(f"length must be >= 1 and decay_power >= 0, got {length} and {decay_power}.")
    lam = torch.as_tensor(lam, dtype=torch.float64).reshape(-1)
    rows = 1 if shared else len(lam)
    freqs = torch.fft.rfftfreq(length)
    scale = freqs.clamp(min=1.0 / length).pow(-decay_power)
    noise = torch.randn(2, rows, len(freqs), generator=generator)
    grey = torch.fft.irfft(torch.complex(noise[0], noise[1]) * scale, n=length).expand(len(lam), -1)
    keep = (lam * length).round().long()
    threshold = torch.stack(  # the keep_i-th largest value of each row, by selection (O(L)), not a sort
        [row.kthvalue(int(length - k + 1)).values if k > 0 else row.max() for row, k in zip(grey, keep, strict=True)]
    )[:, None]
    mask = (grey >= threshold) & (keep[:, None] > 0)
    ties = mask.sum(1) != keep  # equal noise values straddling the threshold: rank those rows exactly
    if ties.any():
        order = grey[ties].argsort(dim=-1, descending=True, stable=True)
        ranks = torch.empty_like(order).scatter_(-1, order, torch.arange(length).expand_as(order))
        mask[ties] = ranks < keep[ties, None]
    return mask.float()


@register_mixer("fmix")
@dataclass
class FMixConfig(MaskedMixupConfig):
    """Mixup with FMix masks along the sequence (time) axis, or the frequency axis of spectrogram inputs."""

    alpha: float = field(
        default=1.0, metadata={"help": "λ ~ Beta(alpha, alpha), the share each row keeps; in (0, 1000]."}
    )
    decay_power: float = field(
        default=3.0,
        metadata={
            "help": "δ of the mask's 1/f^δ spectrum, in [0, 6]: larger = smoother masks (fewer segments; "
            "at 6 one block), and beyond, L^δ overflows float32 on long signals."
        },
    )

    citation = CITATION

    def validate(self) -> None:
        super().validate()
        if not 0 <= self.decay_power <= MAX_DECAY_POWER:
            raise ValueError(f"decay_power must be in [0, {MAX_DECAY_POWER:g}], got {self.decay_power}.")

    def mask_function(self):
        return functools.partial(fmix_mask, decay_power=self.decay_power, shared=self.mask_per == "batch")
