"""How much, and for which rows: `MixPlan` and the λ samplers. Randomness comes only from a `torch.Generator`."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from hfmix.pairing import random_partners


_SEED_MOD = 2**63 - 1
# The largest Beta(α, α) parameter a recipe may use. At α = 1000, λ already has a spread of only ±0.011 around ½
# (mixing is then a fixed 50/50 average); NumPy's sampler stays meaningful far beyond (it returns λ = 0 for every
# draw near α = 1e308 and NaN at α = inf), so the cap marks where a larger α means nothing new, not a numeric edge.
MAX_BETA_PARAMETER = 1000.0


@dataclass
class PositionMasks:
    """Per-position mixing weights (FMix, cut-mix), drawn when the mixed tensor's length is known.

    `draw(length, lam, generator) -> (B, length)` in {0, 1} with mean λ_i per row (within rounding); the same seed
    and length always give the same masks. `realized` is set by the hooks to each row's own share of what was
    really mixed (padding excluded), which the targets then use.
    """

    draw: Callable[..., Tensor]
    lam: Tensor
    seed: int
    axis: str = "time"
    realized: Tensor | None = None

    def weights(self, length: int) -> Tensor:
        return self.draw(length, self.lam.cpu(), generator=make_generator(self.seed, length)).float()


@dataclass(frozen=True)
class MixPlan:
    """One batch's mixing decision, drawn once and then applied to inputs, hidden states and targets.

    Attributes:
        index: (B,) long, the partner of each row. Rows that are not mixed point to themselves.
        lam: (B,) float, the weight on the row itself; 1.0 for rows that are not mixed.
        layer: for hidden-state mixing, the (1-based) layer whose output is mixed; otherwise None.
        num_anchors: for partners drawn from the whole dataset, the batch is 2·num_anchors rows: the anchors, then
            their partners (row num_anchors + i is anchor i's). Only the anchors are mixed and enter the loss.
            None: an ordinary batch, every row an anchor.
        snr_db: (B,) float, for signals mixed at a signal-to-noise ratio instead of at `lam` (level 'inputs'):
            the interpolation weight is found from the signals' energies when the plan is applied.
        masks: for masked mixing (FMix, cut-mix): the per-position weights replacing `lam` when applied; `lam` is
            then the share of positions each row keeps.
    """

    index: Tensor
    lam: Tensor
    layer: int | None = None
    num_anchors: int | None = None
    snr_db: Tensor | None = None
    masks: PositionMasks | None = None

    @property
    def mixed(self) -> Tensor:
        """(B,) bool: rows that really receive part of another row."""
        return (self.index != torch.arange(len(self.index), device=self.index.device)) & (self.lam < 1)

    @classmethod
    def identity(cls, batch_size: int, device: torch.device | str = "cpu") -> MixPlan:
        return cls(torch.arange(batch_size, device=device), torch.ones(batch_size, device=device))

    @property
    def anchors(self) -> int:
        """How many leading rows are anchors: the rows whose outputs are trained on."""
        return len(self.index) if self.num_anchors is None else self.num_anchors

    def with_partner_rows(self) -> MixPlan:
        """This plan for B anchors, extended over the B partner rows that follow them (left unmixed)."""
        if self.num_anchors is not None:
            raise ValueError("This plan already covers its partner rows.")
        size = len(self.index)
        partners = torch.arange(size, 2 * size)
        snr = None if self.snr_db is None else torch.cat([self.snr_db, torch.zeros(size)])
        masks = None
        if self.masks is not None:
            masks = dataclasses.replace(self.masks, lam=torch.cat([self.masks.lam, torch.ones(size)]))
        lam = torch.cat([self.lam, torch.ones(size)])
        return MixPlan(torch.cat([self.index, partners]), lam, self.layer, size, snr, masks)

    def with_lam(self, lam: Tensor) -> MixPlan:
        """The same pairing with other weights (e.g. λ corrected for what was really mixed)."""
        return dataclasses.replace(self, lam=lam, snr_db=None, masks=None)

    def weights(self, length: int) -> Tensor:
        """The interpolation weights for a tensor of `length` positions: (B,) λ, or (B, length) masks."""
        return self.lam if self.masks is None else self.masks.weights(length).to(self.lam.device)

    def to(self, device: torch.device | str) -> MixPlan:
        snr = None if self.snr_db is None else self.snr_db.to(device)
        return MixPlan(self.index.to(device), self.lam.to(device), self.layer, self.num_anchors, snr, self.masks)

    def __len__(self) -> int:
        return len(self.index)


def plan_seed(*parts: int) -> int:
    """Combine integers (training seed, process index, step, ...) into one generator seed, order-sensitively."""
    seed = 0x9E3779B97F4A7C15
    for part in parts:
        seed = (seed * 6364136223846793005 + int(part) + 1442695040888963407) % _SEED_MOD
    return seed


class MicroStepCounter:
    """Numbers the micro-batches of each optimizer step (several under gradient accumulation): calling it with the
    trainer's global step returns 0, 1, ... within that step. A generator seeded by (step, micro-step) makes a
    resumed run draw what an uninterrupted one drew."""

    def __init__(self) -> None:
        self._step, self._micro = -1, 0

    def __call__(self, step: int) -> int:
        self._micro = self._micro + 1 if step == self._step else 0
        self._step = step
        return self._micro


def make_generator(*parts: int) -> torch.Generator:
    return torch.Generator().manual_seed(plan_seed(*parts))


def sample_lambda(alpha: float, size: int, *, generator: torch.Generator, dominant: bool = False) -> Tensor:
    """λ ~ Beta(α, α), `size` draws (Zhang et al., "mixup: Beyond Empirical Risk Minimization", arXiv:1710.09412).

    torch's Beta sampler takes no generator, so the draws come from a NumPy generator seeded from `generator`.
    With `dominant=True`, λ := max(λ, 1 − λ) (MixText, Chen et al. 2020, arXiv:2004.12239).
    `alpha` must be finite, in (0, `MAX_BETA_PARAMETER`]: inf would give NaN λ (nothing mixed, silently).
    Returns: (size,) float32.
    """
    if not (math.isfinite(alpha) and 0 < alpha <= MAX_BETA_PARAMETER):
        raise ValueError(
            f"alpha must be a finite number in (0, {MAX_BETA_PARAMETER:g}] to sample λ ~ Beta(alpha, alpha), "
            f"got {alpha}."
        )
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    lam = torch.from_numpy(np.random.default_rng(seed).beta(alpha, alpha, size)).float()
    return torch.maximum(lam, 1 - lam) if dominant else lam


def sample_mix_plan(
    batch_size: int,
    *,
    alpha: float,
    generator: torch.Generator,
    prob: float = 1.0,
    lambda_per: str = "batch",
    dominant_lambda: bool = False,
    index: Tensor | None = None,
    layers: tuple[int, ...] | None = None,
) -> MixPlan:
    """Draw a `MixPlan`: a partner `index` (`random_partners` unless given), λ, and which rows mix.

    Each row is mixed with probability `prob`; rows left out (and rows paired with themselves, or drawn λ = 1)
    get λ = 1 and point to themselves, so a plan never pairs a row it does not mix (the union of attention masks
    would otherwise hand it the partner's tokens while its target credits none of them). `lambda_per="batch"` draws one λ for the batch, `"sample"` one per row.
    `layers` (hidden-state mixing) is the set the mixed layer is drawn from, uniformly.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
    if lambda_per not in ("batch", "sample"):
        raise ValueError(f"lambda_per must be 'batch' or 'sample', got {lambda_per!r}.")
    if index is None:
        index = random_partners(batch_size, generator=generator)
    index = index.cpu().long()
    if index.shape != (batch_size,):
        raise ValueError(f"index must have shape ({batch_size},), got {tuple(index.shape)}.")
    lam = sample_lambda(
        alpha, 1 if lambda_per == "batch" else batch_size, generator=generator, dominant=dominant_lambda
    ).expand(batch_size)
    chosen = torch.rand(batch_size, generator=generator) < prob
    layer = None
    if layers:
        layer = layers[int(torch.randint(0, len(layers), (1,), generator=generator))]
    rows = torch.arange(batch_size)
    chosen &= (index != rows) & (lam < 1)  # a row that takes nothing from its partner is not paired with it
    return MixPlan(torch.where(chosen, index, rows), torch.where(chosen, lam, torch.ones_like(lam)), layer)
