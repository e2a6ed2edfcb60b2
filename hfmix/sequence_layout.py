"""How a batch of token sequences must be laid out so that mixing two rows means what its targets say.

Three kinds of model need more than "mix position t of row i with position t of its partner":

- **Last-token classifiers** (decoder-only `*ForSequenceClassification`: GPT-2, Llama, Qwen2, Mistral, Gemma, ...)
  apply their `score` head to every position and keep each row's last real token. Under causal attention that
  token sees only the positions before it, so two rows are mixed aligned at their last real token (as left padding
  lays them out), whatever side the tokenizer pads: `align_at_last_token` moves each row's tokens to the end, and
  the mixed row's positions count up to its last token. Unmixed rows keep their own position ids, so their logits
  are the plain forward's.
- **Multiple choice** (`*ForMultipleChoice`): a row is (choices × tokens), flattened by the model to
  (B · choices, tokens) before the layers; a plan over B examples is spread over the choices (`per_choice`).
- **Encoder-decoder classifiers** (BART, T5): the decoder reads the encoder's output through cross-attention with
  the row's own mask and its own (unmixed) decoder tokens; only the pooled level mixes them correctly.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor

from hfmix.mixers.mixup import union_mask
from hfmix.sampling import MixPlan


def align_at_last_token(inputs: dict[str, Any], plan: MixPlan) -> dict[str, Any]:
    """The batch with each row's real tokens moved to the end (each row's last real token at position T − 1).

    Every (B, T) tensor of the batch moves with the tokens. `position_ids`: unmixed rows keep the positions their
    tokens had; a mixed row counts 0, 1, ... over the union of both rows' tokens, up to its last token. Rows with
    real tokens after padding (neither left nor right padded) cannot be aligned and raise `ValueError`.
    """
    mask = inputs.get("attention_mask")
    if mask is None or mask.dim() != 2:
        return inputs
    valid = mask.bool()
    length = valid.shape[1]
    positions = torch.arange(length, device=valid.device)
    last = (positions * valid).argmax(-1)
    first = torch.where(valid.any(1), valid.int().argmax(-1), 0)
    if bool(((valid.sum(1) != last - first + 1) & valid.any(1)).any()):
        raise ValueError(
            "A row's attention mask has padding between real tokens; a last-token classifier can only be mixed "
            "with left- or right-padded rows."
        )
    source = (positions[None, :] - (length - 1 - last)[:, None]) % length  # new position p takes old p − shift
    aligned = {key: _gather_rows(value, source, length, len(valid)) for key, value in inputs.items()}
    own_positions = inputs.get("position_ids")
    own_positions = (positions if own_positions is None else own_positions).expand_as(source).gather(1, source)
    index = plan.index.to(valid.device)
    union = union_mask(aligned["attention_mask"].bool(), index)
    union_positions = (union.long().cumsum(1) - 1).clamp(min=0)
    mixed = plan.mixed.to(valid.device)[:, None]
    aligned["position_ids"] = torch.where(mixed, union_positions, own_positions)
    return aligned


def _gather_rows(value: Any, source: Tensor, length: int, rows: int) -> Any:
    """A (B, T, ...) tensor with each row reordered along dim 1 by `source` (B, T); other values as they are."""
    if not isinstance(value, Tensor) or value.dim() < 2 or value.shape[:2] != (rows, length):
        return value
    index = source.reshape(*source.shape, *([1] * (value.dim() - 2))).expand_as(value)
    return value.gather(1, index)


def per_choice(plan: MixPlan, choices: int) -> MixPlan:
    """A plan over B multiple-choice examples spread over their (B · choices) flattened rows: row b·C + c is mixed
    with row index[b]·C + c, with example b's λ."""
    offsets = torch.arange(choices, device=plan.index.device)
    index = (plan.index[:, None] * choices + offsets).reshape(-1)
    masks = plan.masks
    if masks is not None:
        masks = dataclasses.replace(masks, lam=masks.lam.repeat_interleave(choices))
    snr = None if plan.snr_db is None else plan.snr_db.repeat_interleave(choices)
    return MixPlan(index, plan.lam.repeat_interleave(choices), plan.layer, None, snr, masks)


def flatten_choices(value: Any, batch: int, choices: int) -> Any:
    """(B, C, ...) → (B · C, ...) for a multiple-choice batch entry; other values as they are."""
    if isinstance(value, Tensor) and value.dim() >= 3 and value.shape[:2] == (batch, choices):
        return value.flatten(0, 1)
    return value
