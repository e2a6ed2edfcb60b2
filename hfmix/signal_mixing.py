"""Mixing signals (waveforms, spectrogram frames) of different lengths and loudness, and what λ the mix really has.

When two clips of different lengths are mixed, only their overlap is interpolated and the longer clip's tail
stays as it is (padding is never mixed in), so the mixed clip is *not* λ·x_i + (1 − λ)·x_j of whole clips: the
target weight must follow what was actually mixed. The AST dataloader (Gong et al., 2021) and torch-audiomentations
use the drawn λ regardless. Here the target λ is the own clip's share of the mixed clip's length
("length") or energy ("energy"):

    length: λ̃ = (λ·|both| + |own only|) / (|both| + |own only| + |partner only|)
    energy: λ̃ = E_own / (E_own + E_partner), E_own = λ²·Σ_both x_i² + Σ_own only x_i²,
            E_partner = (1 − λ)²·Σ_both x_j² + Σ_partner only x_j²

Mixing at a signal-to-noise ratio (own clip over partner, in dB) replaces Beta-λ: the interpolation weight that
gives that energy ratio over the overlap is λ = 1 / (1 + g), g = sqrt(E_i / (E_j · 10^(snr/10))).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor

from hfmix.config import MixConfig
from hfmix.mixers.mixup import mixup, union_mask
from hfmix.sampling import MixPlan


LambdaCorrection = Literal["none", "length", "energy"]
CONTINUOUS_INPUTS = ("input_values", "input_features", "inputs_embeds")


def time_first(x: Tensor, mask: Tensor | None) -> tuple[Tensor, int | None]:
    """x with its time axis at dim 1, and where it was: the (B, T) mask's T matches dim 1 or the last dim of x.

    Returns (x, None) when there is no mask or it fits neither axis (then the whole of x is treated as valid).
    """
    if mask is None or x.dim() < 2:
        return x, None
    if mask.shape == x.shape[:2]:
        return x, 1
    if x.dim() >= 3 and mask.shape == (x.shape[0], x.shape[-1]):
        return x.movedim(-1, 1), x.dim() - 1
    return x, None


def row_energy(x: Tensor, valid: Tensor | None) -> Tensor:
    """(B,) Σ x² over each row's valid time steps. x: (B, T, ...) time first; valid: (B, T) bool or None."""
    squares = x.float().pow(2).flatten(2).sum(-1) if x.dim() > 2 else x.float().pow(2)
    if valid is not None:
        squares = squares * valid
    return squares.sum(1)


def rms_normalize(x: Tensor, valid: Tensor | None, eps: float = 1e-8) -> Tensor:
    """Scale each row to unit RMS over its valid time steps (loudness normalisation before mixing).

    x: (B, T, ...) time first; valid: (B, T) bool or None. Silent rows stay silent.
    """
    count = (valid.sum(1) if valid is not None else torch.full((x.shape[0],), x.shape[1], device=x.device)).float()
    per_step = x[0, 0].numel()
    rms = (row_energy(x, valid) / (count * per_step).clamp(min=1)).sqrt()
    scale = torch.where(rms > eps, 1 / rms.clamp(min=eps), torch.ones_like(rms))
    return x * scale.reshape(-1, *([1] * (x.dim() - 1))).to(x.dtype)


def snr_lambda(x: Tensor, index: Tensor, snr_db: Tensor, valid: Tensor | None, mixed: Tensor) -> Tensor:
    """(B,) interpolation weights that mix each row with its partner at `snr_db` (B,) over their overlap.

    Rows that are not mixed (`mixed` False) or whose partner is silent over the overlap keep λ = 1.
    """
    both = None if valid is None else valid & valid[index]
    own, partner = row_energy(x, both), row_energy(x[index], both)
    gain = (own / (partner * 10 ** (snr_db.float() / 10)).clamp(min=1e-12)).sqrt()
    lam = 1 / (1 + gain)
    return torch.where(mixed & (partner > 0) & (own > 0), lam, torch.ones_like(lam))


def corrected_lambda(
    x: Tensor, index: Tensor, lam: Tensor, valid: Tensor | None, correction: LambdaCorrection
) -> Tensor:
    """(B,) the own clip's share of each mixed clip, by length or energy (module docstring).

    x: (B, T, ...) time first, *before* mixing; lam: the interpolation weights used, (B,) per row or per
    position (an FMix / cut-mix mask, (B, T) or (B, 1, F)); valid: (B, T) bool. "none" returns λ per row (the mask
    mean for per-position weights).
    """
    if correction not in ("none", "length", "energy"):
        raise ValueError(f"lambda_correction must be 'none', 'length' or 'energy', got {correction!r}.")
    if correction == "none":
        return lam if lam.dim() == 1 else lam.float().flatten(1).mean(1)
    if valid is None:
        valid = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
    if lam.dim() == 1:  # one λ per row: counts and energies per row, no (B, T) weights
        return _row_corrected_lambda(x, index, lam.float(), valid, correction)
    weight = lam.float().reshape(lam.shape + (1,) * (x.dim() - lam.dim())).expand(x.shape)
    step = (1,) * (x.dim() - 2)
    both, own_only, partner_only = (
        m.reshape(*m.shape, *step) for m in (valid & valid[index], valid & ~valid[index], ~valid & valid[index])
    )
    if correction == "length":
        per_step = x[0, 0].numel()
        own = (weight * both).flatten(1).sum(1) / per_step + own_only.flatten(1).sum(1)
        partner = ((1 - weight) * both).flatten(1).sum(1) / per_step + partner_only.flatten(1).sum(1)
    else:  # "energy"
        own_sq, partner_sq = x.float().pow(2), x[index].float().pow(2)
        own = (weight.pow(2) * own_sq * both + own_sq * own_only).flatten(1).sum(1)
        partner = ((1 - weight).pow(2) * partner_sq * both + partner_sq * partner_only).flatten(1).sum(1)
    total = own + partner
    fallback = weight.flatten(1).mean(1)
    return torch.where(total > 0, own / total.clamp(min=1e-12), fallback)


def _row_corrected_lambda(
    x: Tensor, index: Tensor, lam: Tensor, valid: Tensor, correction: LambdaCorrection
) -> Tensor:
    both = valid & valid[index]
    if correction == "length":
        shared, own_total = both.sum(1), valid.sum(1)
        own = lam * shared + (own_total - shared)
        partner = (1 - lam) * shared + (own_total[index] - shared)
    else:  # "energy"
        squares = x.float().pow(2)
        squares = squares.flatten(2).sum(-1) if squares.dim() > 2 else squares  # (B, T)
        own_total = (squares * valid).sum(1)
        own_both, partner_both = (squares * both).sum(1), (squares[index] * both).sum(1)
        own = lam**2 * own_both + (own_total - own_both)
        partner = (1 - lam) ** 2 * partner_both + (own_total[index] - partner_both)
    total = own + partner
    return torch.where(total > 0, own / total.clamp(min=1e-12), lam)


def prefix_lengths(valid: Tensor) -> Tensor | None:
    """(B,) lengths when every row of the (B, T) mask is real samples then padding (what padding collators make);
    None otherwise."""
    first_padding = valid.view(torch.uint8).argmin(dim=1)  # a bool is a byte: no copy
    lengths = torch.where(valid.all(dim=1), valid.shape[1], first_padding)
    for row, length in zip(valid, lengths.tolist(), strict=True):
        if bool(row[length:].any()):  # a real sample after padding
            return None
    return lengths


def mix_prefix_clips(
    x: Tensor,
    index: Tensor,
    lam: Tensor,
    lengths: Tensor,
    correction: LambdaCorrection,
    snr_db: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """`mixup` and `corrected_lambda` for clips padded at the end, row by row on the real samples only.

    The same result as the general path (overlap interpolated, the longer clip's tail kept, padding never mixed
    in) in about two passes over the batch instead of eight. x: (B, T, ...) time first; lam, lengths: (B,).
    With `snr_db` (B,), each row's weight is the one that mixes at that SNR over the overlap (`snr_lambda`) and the
    targets follow the energy share. Returns (mixed x, (B,) target weights).
    """
    out = x.clone()
    target = lam.float().clone()
    if snr_db is not None:
        correction = "energy"
    for i, (j, weight) in enumerate(zip(index.tolist(), lam.tolist(), strict=True)):
        if j == i or weight >= 1:
            continue
        own_length, partner_length = int(lengths[i]), int(lengths[j])
        overlap = min(own_length, partner_length)
        if snr_db is not None:
            own_energy, partner_energy = (
                float(x[i, :overlap].float().pow(2).sum()),
                float(x[j, :overlap].float().pow(2).sum()),
            )
            if own_energy > 0 and partner_energy > 0:
                gain = (own_energy / (partner_energy * 10 ** (float(snr_db[i]) / 10))) ** 0.5
                weight = 1 / (1 + gain)
            else:
                weight = 1.0  # a silent overlap: nothing to set an SNR against (as `snr_lambda`)
        out[i, :overlap] = torch.lerp(x[j, :overlap], x[i, :overlap], weight)
        if partner_length > own_length:
            out[i, own_length:partner_length] = x[j, own_length:partner_length]
        if correction == "length":
            own = weight * overlap + max(own_length - partner_length, 0)
            partner = (1 - weight) * overlap + max(partner_length - own_length, 0)
        elif correction == "energy":
            own = weight**2 * float(x[i, :overlap].float().pow(2).sum()) + float(
                x[i, overlap:own_length].float().pow(2).sum()
            )
            partner = (1 - weight) ** 2 * float(x[j, :overlap].float().pow(2).sum()) + float(
                x[j, overlap:partner_length].float().pow(2).sum()
            )
        else:
            continue
        if own + partner > 0:
            target[i] = own / (own + partner)
    return out, target


def mix_continuous_inputs(
    inputs: dict[str, Any],
    plan: MixPlan,
    lambda_correction: LambdaCorrection = "none",
    loudness_normalization: bool = False,
) -> tuple[dict[str, Any], MixPlan]:
    """Mix the continuous inputs (waveforms, spectrogram features, inputs_embeds) of a batch.

    Padding (per `attention_mask`, aligned with dim 1 or with the last dim, as Whisper features) is never mixed
    in; clips may be loudness-normalised first; a plan with `snr_db` is mixed at that SNR. Returns the new inputs
    and the plan whose λ are the targets' weights (`lambda_correction`, see `hfmix.signal_mixing`).
    """
    keys = [k for k in CONTINUOUS_INPUTS if isinstance(inputs.get(k), Tensor) and inputs[k].is_floating_point()]
    if not keys:
        raise ValueError(
            "level='inputs' mixes continuous inputs (input_values, input_features, inputs_embeds) and the batch has "
            f"none (keys: {sorted(inputs)}). Token ids cannot be interpolated: use level='embeddings' for text."
        )
    inputs, mask = dict(inputs), inputs.get("attention_mask")
    target_plan = None
    for key in keys:
        x, axis = time_first(inputs[key], mask)
        p = plan.to(x.device)
        valid = None if axis is None else mask.to(x.device).bool()
        if loudness_normalization:
            x = rms_normalize(x, valid)
        correction = "energy" if p.snr_db is not None else lambda_correction
        lengths = prefix_lengths(valid) if valid is not None and p.masks is None else None
        if lengths is not None:  # clips padded at the end: mix row by row over the real samples
            mixed, target = mix_prefix_clips(x, p.index, p.lam, lengths, correction, p.snr_db)
        else:
            lam = _input_weights(x, p, valid)
            mixed, target = mixup(x, p.index, lam, valid), corrected_lambda(x, p.index, lam, valid, correction)
        if target_plan is None:
            target_plan = plan.with_lam(target.to(plan.lam.device))
        inputs[key] = mixed if axis is None or axis == 1 else mixed.movedim(1, -1)
    if mask is not None:
        inputs["attention_mask"] = union_mask(mask, plan.index.to(mask.device))
    return inputs, target_plan


def _input_weights(x: Tensor, plan: MixPlan, valid: Tensor | None) -> Tensor:
    """The interpolation weights for time-first inputs x: λ, SNR-derived λ, or masks along time or frequency."""
    if plan.snr_db is not None:
        return snr_lambda(x, plan.index, plan.snr_db, valid, plan.mixed)
    if plan.masks is None:
        return plan.lam
    if plan.masks.axis == "time":
        return plan.weights(x.shape[1])
    if x.dim() < 3:
        raise ValueError(
            f"axis='frequency' needs spectrogram inputs (B, T, F) or (B, F, T); got shape {tuple(x.shape)}."
        )
    return plan.weights(x.shape[2])[:, None, :]


def signal_options(config: MixConfig) -> tuple[LambdaCorrection, bool]:
    """(lambda_correction, loudness_normalization) of a recipe, for `mix_continuous_inputs`."""
    return getattr(config, "lambda_correction", "none"), getattr(config, "loudness_normalization", False)
