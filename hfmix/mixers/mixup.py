"""Mixup: linear interpolation of two examples and their targets, at any level of the model.

Zhang et al., "mixup: Beyond Empirical Risk Minimization", ICLR 2018, arXiv:1710.09412.
Hidden-state mixing (TMix / manifold mixup): Chen et al., "MixText", ACL 2020, arXiv:2004.12239;
Verma et al., "Manifold Mixup", ICML 2019, arXiv:1806.05236.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from hfmix.config import MixConfig
from hfmix.pairing import dataset_label_similarity_partners, label_similarity_partners, random_partners
from hfmix.registry import register_mixer
from hfmix.sampling import MAX_BETA_PARAMETER, MixPlan, sample_mix_plan


TMIX_LAYERS = (7, 9, 12)  # MixText's --mix-layers-set, for a 12-layer BERT
MIN_TEMPERATURE = 1e-4  # smaller τ only hardens the softmax; at τ ≲ 1e-38, 1/τ overflows float32 (NaN losses)
MAX_SNR_DB = 100.0  # |SNR| beyond 100 dB: one clip is 1e-5 of the other in amplitude, i.e. not mixed at all
Level = Literal["inputs", "embeddings", "hidden", "pooled"]

CITATION = """\
@inproceedings{zhang2018mixup,
  title={mixup: Beyond Empirical Risk Minimization},
  author={Zhang, Hongyi and Cisse, Moustapha and Dauphin, Yann N. and Lopez-Paz, David},
  booktitle={International Conference on Learning Representations},
  year={2018}
}"""
SENTENCE_MIXUP_CITATION = """\
@article{guo2019augmenting,
  title={Augmenting Data with Mixup for Sentence Classification: An Empirical Study},
  author={Guo, Hongyu and Mao, Yongyi and Zhang, Richong},
  journal={arXiv preprint arXiv:1905.08941},
  year={2019}
}"""  # wordMixup (embeddings) and senMixup (pooled)
LEVEL_CITATIONS = {
    "embeddings": SENTENCE_MIXUP_CITATION,
    "hidden": """\
@inproceedings{chen2020mixtext,
  title={MixText: Linguistically-Informed Interpolation of Hidden Space for Semi-Supervised Text Classification},
  author={Chen, Jiaao and Yang, Zichao and Yang, Diyi},
  booktitle={Proceedings of the 58th Annual Meeting of the Association for Computational Linguistics},
  year={2020}
}
@inproceedings{verma2019manifold,
  title={Manifold Mixup: Better Representations by Interpolating Hidden States},
  author={Verma, Vikas and Lamb, Alex and Beckham, Christopher and Najafi, Amir and Mitliagkas, Ioannis and
          Lopez-Paz, David and Bengio, Yoshua},
  booktitle={International Conference on Machine Learning},
  year={2019}
}""",
    "pooled": SENTENCE_MIXUP_CITATION,
}


def mixup(x: Tensor, index: Tensor, lam: Tensor | float, mask: Tensor | None = None) -> Tensor:
    """x̃_i = λ_i·x_i + (1 − λ_i)·x_index[i].

    Args:
        x: (B, ...) any continuous tensor (inputs, embeddings, hidden states, targets).
        index: (B,) long, partner of each row.
        lam: the weight on the row itself: a scalar, (B,) per row, or per position (FMix / cut-mix masks): a
            tensor whose shape is a prefix of x's with 1 where it broadcasts, e.g. (B, T) along dim 1 or
            (B, 1, F) along dim 2.
        mask: optional (B, T) validity of x along dim 1 (1 = real, 0 = padding). Padding is never mixed in:
            where only one of the two rows is real, the output takes that row's value; both real → mixed.
    Returns: (B, ...) same shape and dtype as x.
    """
    if index.shape != (x.shape[0],):
        raise ValueError(
            f"index must have shape ({x.shape[0]},) for x of shape {tuple(x.shape)}, got {tuple(index.shape)}."
        )
    weight = torch.as_tensor(lam, dtype=torch.float32, device=x.device)
    if weight.dim() == 0:
        weight = weight.expand(x.shape[0])
    fits = weight.dim() <= x.dim() and all(w in (1, n) for w, n in zip(weight.shape[1:], x.shape[1:], strict=False))
    if weight.shape[0] != x.shape[0] or not fits:
        raise ValueError(
            f"lam must be a scalar, (B,) = ({x.shape[0]},) or per position with a prefix of x's shape "
            f"{tuple(x.shape)}, got {tuple(weight.shape)}."
        )
    if mask is not None:
        if x.dim() < 2 or mask.shape != x.shape[:2]:
            raise ValueError(
                f"mask must have shape (B, T) = {tuple(x.shape[:2])} to match x, got {tuple(mask.shape)}."
            )
        extra = (1,) * max(weight.dim() - 2, 0)
        own, other = mask.bool().reshape(*mask.shape, *extra), mask.bool()[index].reshape(*mask.shape, *extra)
        weight = weight if weight.dim() >= 2 else weight[:, None]
        weight = torch.where(other, weight * own, 1.0)  # both real: λ; only the partner real: 0; else: 1
    weight = weight.reshape(weight.shape + (1,) * (x.dim() - weight.dim())).to(x.dtype)
    return torch.lerp(x[index], x, weight)  # x[index] + λ·(x − x[index]) in one pass


def union_mask(mask: Tensor, index: Tensor) -> Tensor:
    """The attention mask of mixed rows: row i may attend wherever row i or row index[i] may.

    Works for 2-D (B, T) 0/1 masks and for the 4-D (B, 1, Q, K) masks that layers receive, whether boolean
    (True = attend), integer (1 = attend) or additive float (0 = attend, dtype-min = masked).
    """
    return mask | mask[index] if mask.dtype == torch.bool else torch.maximum(mask, mask[index])


@register_mixer("mixup")
@dataclass
class MixupConfig(MixConfig):
    """Mixup at the input, word-embedding, hidden-state (TMix / manifold) or pooled level."""

    alpha: float = field(
        default=0.4,
        metadata={
            "help": "λ ~ Beta(alpha, alpha), in (0, 1000] (0 is allowed only with prob=0). At 1000, λ is ½ ± 0.01: "
            "larger values mean nothing more (and inf would make λ NaN)."
        },
    )
    level: Level = field(
        default="embeddings",
        metadata={
            "help": "Where to mix: 'inputs' (continuous model inputs: input_values, input_features, inputs_embeds), "
            "'embeddings' (word embeddings), 'hidden' (the output of a layer drawn from `layers`), 'pooled' "
            "(the input of the classification head)."
        },
    )
    layers: list[int] | None = field(
        default=None,
        metadata={
            "help": "For level='hidden': the 1-based layers whose output may be mixed, one drawn per batch. None = "
            "MixText's {7, 9, 12} of a 12-layer model, scaled to the model's depth (round(k*L/12))."
        },
    )
    prob: float = field(default=1.0, metadata={"help": "Probability that a row is mixed, in [0, 1]."})
    lambda_per: Literal["batch", "sample"] = field(
        default="batch", metadata={"help": "One λ per batch (as in the mixup paper) or one per row."}
    )
    dominant_lambda: bool = field(
        default=False, metadata={"help": "λ := max(λ, 1 − λ), so a mixed row stays closer to its own example."}
    )
    pairing: Literal["random", "label_similarity"] = field(
        default="random",
        metadata={"help": "Partners: a random permutation, or by label similarity (C-Mixup, regression)."},
    )
    bandwidth: float = field(
        default=1.0,
        metadata={"help": "σ of the label-similarity kernel exp(-|y_i - y_j|² / 2σ²), in label units; finite, > 0."},
    )
    pairing_scope: Literal["batch", "dataset"] = field(
        default="batch",
        metadata={
            "help": "Where partners come from: the same batch (free), or the whole training set (C-Mixup's "
            "sampler; MixTrainer then adds each anchor's partner row to the batch, redrawn every epoch)."
        },
    )
    mix_stop: float = field(
        default=1.0,
        metadata={"help": "Fraction of training after which mixing switches off, in (0, 1]; 1.0 = mix throughout."},
    )
    lambda_correction: Literal["none", "length", "energy"] = field(
        default="length",
        metadata={
            "help": "level='inputs': the target weight of a mixed clip is its own share of what was really mixed "
            "(clips of different lengths only overlap): by 'length', by 'energy', or the drawn λ ('none')."
        },
    )
    loudness_normalization: bool = field(
        default=False, metadata={"help": "level='inputs': scale each clip to unit RMS before mixing."}
    )
    snr_db: list[float] | None = field(
        default=None,
        metadata={
            "help": "level='inputs': mix the partner at a signal-to-noise ratio drawn uniformly from [low, high] dB "
            "(own clip over partner) instead of at Beta-λ; targets follow the energy share. [low, high] with "
            "-100 <= low <= high <= 100."
        },
    )
    contrastive_weight: float = field(
        default=0.0,
        metadata={
            "help": "Weight of a supervised contrastive term (SupCon) on the pooled representation, added to the "
            "loss: rows of the same class, or of the same source example (`view_column`), are positives. Finite, >= 0 "
            "(0 = off)."
        },
    )
    contrastive_temperature: float = field(
        default=0.1, metadata={"help": "τ of the contrastive term: finite, >= 1e-4 (tiny τ overflows 1/τ)."}
    )
    view_column: str = field(
        default="source_index",
        metadata={
            "help": "Column naming each row's source example (hfmix.augment writes it): an original and its "
            "augmented copies are positives of each other. Needed for the contrastive term when labels are not "
            "class ids (regression, multi-label)."
        },
    )
    multi_label: Literal["interpolate", "union"] = field(
        default="interpolate",
        metadata={
            "help": "Multi-label targets of a mixed row: λ·y_i + (1 − λ)·y_j, or the union max(y_i, y_j) (AST-style)."
        },
    )

    citation = CITATION
    mixes_in_collator: ClassVar[bool] = True  # MixDataCollator may apply level='inputs' plans in its workers

    def validate(self) -> None:
        # Floats are already finite (MixConfig's type check); these are the ranges of the fields' help texts.
        if not 0 <= self.prob <= 1:
            raise ValueError(f"prob must be in [0, 1], got {self.prob}.")
        if not 0 <= self.alpha <= MAX_BETA_PARAMETER:
            raise ValueError(f"alpha must be in (0, {MAX_BETA_PARAMETER:g}], got alpha={self.alpha}.")
        if self.prob > 0 and not self.alpha > 0:
            raise ValueError(f"alpha must be > 0 when mixing is on (prob={self.prob}), got alpha={self.alpha}.")
        if not 0 < self.mix_stop <= 1:
            raise ValueError(f"mix_stop must be in (0, 1], got {self.mix_stop}.")
        if not self.bandwidth > 0:
            raise ValueError(f"bandwidth must be > 0, got {self.bandwidth}.")
        if self.contrastive_weight < 0:
            raise ValueError(f"contrastive_weight must be >= 0 (0 = off), got {self.contrastive_weight}.")
        if not self.contrastive_temperature >= MIN_TEMPERATURE:
            raise ValueError(
                f"contrastive_temperature must be >= {MIN_TEMPERATURE:g} (τ > 0; tiny τ overflows 1/τ), got "
                f"{self.contrastive_temperature}."
            )
        if self.snr_db is not None:
            if len(self.snr_db) != 2 or self.snr_db[0] > self.snr_db[1]:
                raise ValueError(f"snr_db must be [low, high] in dB with low <= high, got {list(self.snr_db)}.")
            if max(abs(v) for v in self.snr_db) > MAX_SNR_DB:
                raise ValueError(f"snr_db must lie in [-{MAX_SNR_DB:g}, {MAX_SNR_DB:g}] dB, got {list(self.snr_db)}.")
            if self.level != "inputs":
                raise ValueError(f"snr_db mixes signals and needs level='inputs', got level={self.level!r}.")
        if self.layers is not None:
            if not self.layers or any(k < 1 for k in self.layers):
                raise ValueError(f"layers must be a non-empty list of 1-based layer numbers, got {list(self.layers)}.")
            if self.level != "hidden":
                raise ValueError(f"layers is only used with level='hidden', got level={self.level!r}.")

    def resolve_layers(self, num_layers: int) -> tuple[int, ...]:
        """The layers to draw from for a model with `num_layers` layers; entries past the depth are an error."""
        if self.layers is None:
            return tuple(sorted({max(1, int(k * num_layers / 12 + 0.5)) for k in TMIX_LAYERS}))
        too_deep = [k for k in self.layers if k > num_layers]
        if too_deep:
            raise ValueError(
                f"layers={list(self.layers)}: {too_deep} past the model's depth of {num_layers} layers; "
                f"use layer numbers in 1..{num_layers}."
            )
        return tuple(self.layers)

    def sample_plan(
        self,
        batch_size: int,
        *,
        generator: torch.Generator,
        labels: Tensor | None = None,
        num_layers: int | None = None,
        num_anchors: int | None = None,
    ) -> MixPlan:
        """Draw this batch's plan. `labels` are needed for label-similarity pairing, `num_layers` for 'hidden'.

        `num_anchors`: the batch holds num_anchors anchors followed by their partners from the dataset
        (pairing_scope='dataset', see `dataset_partners`); anchor i is mixed with row num_anchors + i.
        """
        index = None
        if num_anchors is not None:
            if batch_size != 2 * num_anchors:
                raise ValueError(
                    f"A batch with dataset partners has 2 · num_anchors rows, got {batch_size} rows for "
                    f"num_anchors={num_anchors}."
                )
            batch_size, index = num_anchors, torch.arange(num_anchors, 2 * num_anchors)
        elif self.pairing == "label_similarity":
            index = label_similarity_partners(
                _regression_labels(labels), self.bandwidth, generator=generator, exclude_self=True
            )
        layers = None
        if self.level == "hidden":
            if num_layers is None:
                raise ValueError("level='hidden' needs the model's number of layers (num_layers).")
            layers = self.resolve_layers(num_layers)
        plan = sample_mix_plan(
            batch_size,
            alpha=self.alpha if self.prob > 0 else 1.0,
            generator=generator,
            prob=self.prob,
            lambda_per=self.lambda_per,
            dominant_lambda=self.dominant_lambda,
            index=index,
            layers=layers,
        )
        if self.snr_db is not None:
            low, high = self.snr_db
            snr = low + (high - low) * torch.rand(len(plan), generator=generator)
            plan = dataclasses.replace(plan, snr_db=torch.where(plan.mixed, snr, torch.zeros_like(snr)))
        return plan if num_anchors is None else plan.with_partner_rows()

    def card_citation(self) -> str:
        """mixup's paper, and the paper of the level used (TMix / Manifold Mixup for 'hidden', ...)."""
        level = LEVEL_CITATIONS.get(self.level)
        return self.citation if level is None else f"{self.citation}\n{level}"

    def batch_loss(
        self, run: Callable[[MixPlan | None], Any], plan: MixPlan | None, loss_of: Callable[[Any], Tensor]
    ) -> tuple[Tensor, Any]:
        """The training loss of one batch, and the forward result to report (its outputs, its plan).

        `run(plan)` runs the model on the batch with `plan` applied (None: unmixed) and returns a
        `hfmix.mixed_forward.MixedForward`; `loss_of(result)` is the mixup loss of a result against its mixed
        targets (soft CE, BCE, MSE or token CE, as the head needs). Mixup trains on the mixed pass alone; methods
        that also need the clean pass, or other losses (RegMixup, RankMixup, ...), override this.
        """
        result = run(plan)
        return loss_of(result), result

    def dataset_partners(self, labels: Tensor | None, num_rows: int, *, generator: torch.Generator) -> Tensor:
        """One partner per training row, drawn from the whole dataset (pairing_scope='dataset').

        'label_similarity': C-Mixup's kernel over all rows (`dataset_label_similarity_partners`, O(N) memory);
        'random': a random derangement of the rows. Returns: (num_rows,) long.
        """
        if self.pairing == "label_similarity":
            labels = _regression_labels(labels)
            return dataset_label_similarity_partners(labels, self.bandwidth, generator=generator, exclude_self=True)
        return random_partners(num_rows, generator=generator)


def _regression_labels(labels: Tensor | None) -> Tensor:
    if labels is None or not labels.is_floating_point():
        raise ValueError("pairing='label_similarity' needs float regression labels (B,) or (B, K) in the batch.")
    return labels
