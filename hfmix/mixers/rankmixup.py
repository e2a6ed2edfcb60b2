"""RankMixup: mixed samples must be ranked below the raw ones in confidence, and among themselves by λ.

Noh, Park, Lee and Ham, "RankMixup: Ranking-Based Mixup Training for Network Calibration", ICCV 2023,
arXiv:2308.11990 (code: cvlab-yonsei/RankMixup, `calibrate/losses/rankmixup.py`). Mixed samples get no mixup
cross-entropy, only the ranking term:

    MRL:    L = CE(z, y) + w·mean_i[1(ỹ_i not one-hot)·ReLU(max_c z̃_i,c − max_c z_i,c + m)]
    M-NDCG: L = CE(z, y) + w·mean_i[1 − NDCG_i] over the list [raw (relevance 1), K mixes (relevance max_c ỹ_c)]
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from hfmix.mixers.mixup import MixupConfig
from hfmix.registry import register_mixer
from hfmix.sampling import MixPlan, make_generator, sample_lambda, sample_mix_plan
from hfmix.targets import infer_problem_type, mix_targets


CITATION = """\
@inproceedings{noh2023rankmixup,
  title={RankMixup: Ranking-Based Mixup Training for Network Calibration},
  author={Noh, Jongyoun and Park, Hyekang and Lee, Junghyup and Ham, Bumsub},
  booktitle={Proceedings of the IEEE/CVF International Conference on Computer Vision},
  year={2023}
}"""


def class_ids(logits: Tensor, labels: Tensor, method: str) -> Tensor:
    """`labels` as (B,) class ids for single-label logits (B, C); a ValueError naming `method` for other heads."""
    if logits.dim() != 2 or logits.shape[-1] < 2 or labels.is_floating_point() or labels.shape != logits.shape[:1]:
        problem = infer_problem_type(None, logits, labels)
        raise ValueError(
            f"{method} is defined for single-label classification (logits (B, C), class ids (B,)); got logits "
            f"{tuple(logits.shape)} and {labels.dtype} labels {tuple(labels.shape)} ({problem}). Use MixupConfig, "
            "RegMixupConfig or MixupInferenceConfig for other heads."
        )
    return labels


def plan_generator(plan: MixPlan, salt: int) -> torch.Generator:
    """A generator seeded by the plan itself (its partners and λ), for draws beyond it: reproducible on resume,
    since plans are."""
    digest = hashlib.blake2b(digest_size=8)
    for tensor in (plan.index, plan.lam):
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return make_generator(int.from_bytes(digest.digest(), "little") >> 1, salt)


def mrl_term(clean_logits: Tensor, mixed_logits: Tensor, mixed_targets: Tensor, margin: float) -> Tensor:
    """Mixup-based ranking term: mean_{k,i}[1(ỹ_ki not one-hot)·ReLU(max z̃_ki − max z_i + margin)].

    clean_logits: (B, C); mixed_logits, mixed_targets: (K, B, C). The official code's mask broadcasts (B,)
    against (B, 1) into (B, B); here each row has its own mask, as the paper's formula. Returns: scalar.
    """
    mask = (mixed_targets.max(-1).values < 1).float()
    gap = mixed_logits.float().max(-1).values - clean_logits.float().max(-1).values
    return (mask * F.relu(gap + margin)).mean()


def mndcg_term(clean_logits: Tensor, mixed_logits: Tensor, mixed_targets: Tensor, rows: Tensor) -> Tensor:
    """Mixup-based NDCG term: Σ_i rows_i·(1 − NDCG_i) / B. List of row i: the raw sample (confidence max softmax,
    relevance 1) first, then its K mixes sorted by relevance max_c ỹ_c (descending, stable).

    DCG = Σ_r conf_r / log2(r + 1), IDCG = Σ_r rel_r / log2(r + 1), NDCG = DCG/IDCG, or IDCG/DCG when DCG > IDCG
    (as the official code). clean_logits (B, C); mixed_logits, mixed_targets (K, B, C); rows (B,) bool: rows in
    the term (mixed in some copy). Returns: scalar.
    """
    relevance = mixed_targets.max(-1).values.t()  # (B, K)
    confidence = mixed_logits.float().softmax(-1).max(-1).values.t()
    order = torch.argsort(relevance, dim=1, descending=True, stable=True)
    ones = torch.ones_like(relevance[:, :1])
    rel = torch.cat([ones, relevance.gather(1, order)], 1)
    conf = torch.cat([clean_logits.float().softmax(-1).max(-1, keepdim=True).values, confidence.gather(1, order)], 1)
    discount = torch.log2(torch.arange(2, rel.shape[1] + 2, device=rel.device, dtype=rel.dtype))
    dcg, idcg = (conf / discount).sum(1), (rel / discount).sum(1)
    ndcg = torch.where(idcg > dcg, dcg / idcg, idcg / dcg)
    return ((1 - ndcg) * rows.float()).mean()


@register_mixer("rankmixup")
@dataclass
class RankMixupConfig(MixupConfig):
    """RankMixup (single-label classification): CE on the clean batch plus a ranking term on `num_mixup` mixed
    copies (a forward pass each). Copy 1 is the batch's plan; further copies draw their own λ (and, with random
    in-batch pairing, their own partners) from a generator seeded by the plan.

    Reduces to: no plan, or a plan that mixes no row: the clean cross-entropy (one forward pass). Rows never mixed
    add 0 to the term (and MRL masks rows whose mixed target is still one-hot, as same-class pairs).
    """

    alpha: float = field(
        default=2.0, metadata={"help": "λ ~ Beta(alpha, alpha), in (0, 1000]; the official CIFAR setting is 2.0."}
    )
    loss: Literal["mrl", "mndcg"] = field(
        default="mrl", metadata={"help": "'mrl' (margin ranking of max logits) or 'mndcg' (NDCG over K mixes)."}
    )
    weight: float = field(default=0.1, metadata={"help": "w, the weight of the ranking term: finite, >= 0."})
    margin: float = field(default=2.0, metadata={"help": "m of MRL, in logits: finite, >= 0 (official 2.0 / 1.0)."})
    num_mixup: int | None = field(
        default=None,
        metadata={"help": "K, the mixed copies per batch, in [1, 16]; None = 1 for 'mrl', 3 for 'mndcg' (official)."},
    )

    citation = CITATION
    mixes_in_collator: ClassVar[bool] = False  # the clean batch is needed too: plans are applied in MixTrainer

    def validate(self) -> None:
        super().validate()
        if self.weight < 0:
            raise ValueError(f"weight must be >= 0, got weight={self.weight}.")
        if self.margin < 0:
            raise ValueError(f"margin must be >= 0, got margin={self.margin}.")
        if self.num_mixup is not None and not 1 <= self.num_mixup <= 16:
            raise ValueError(f"num_mixup must be in [1, 16] (one forward pass each), got num_mixup={self.num_mixup}.")
        if self.snr_db is not None:
            raise ValueError("snr_db: RankMixup ranks mixes by λ, which SNR mixing does not draw; leave snr_db None.")

    def copies(self, plan: MixPlan) -> list[MixPlan]:
        """The plans of the K mixed copies: `plan`, then K − 1 drawn from a generator seeded by it."""
        plans = [plan]
        for k in range(1, self.num_mixup or (3 if self.loss == "mndcg" else 1)):
            generator, size = plan_generator(plan, k), len(plan)
            if self.pairing == "random" and plan.num_anchors is None:
                fresh = sample_mix_plan(
                    size, alpha=self.alpha, generator=generator, prob=self.prob, lambda_per=self.lambda_per,
                    dominant_lambda=self.dominant_lambda,
                )  # fmt: skip
                plans.append(dataclasses.replace(fresh, layer=plan.layer).to(plan.lam.device))
                continue
            draws = 1 if self.lambda_per == "batch" else size
            lam = sample_lambda(self.alpha, draws, generator=generator, dominant=self.dominant_lambda).expand(size)
            plans.append(plan.with_lam(torch.where(plan.mixed.cpu(), lam, 1.0).to(plan.lam.device)))
        return plans

    def batch_loss(
        self, run: Callable[[MixPlan | None], Any], plan: MixPlan | None, loss_of: Callable[[Any], Tensor]
    ) -> tuple[Tensor, Any]:
        """loss_of(clean pass) + w·ranking term of the mixed copies; the result reported is the first copy."""
        clean = run(None)
        if plan is None or not bool(plan.mixed.any()):
            return loss_of(clean), clean
        plans = self.copies(plan)
        results = [run(p) for p in plans]
        logits, rows = clean.outputs["logits"], plan.anchors
        class_ids(logits, clean.labels, "RankMixup")
        targets = []
        for result in results:
            labels, num_classes = result.labels, logits.shape[-1]
            if result.plan is None:  # this copy mixed no row
                targets.append(F.one_hot(labels, num_classes).float()[:rows])
            else:
                targets.append(mix_targets(labels, result.plan.to(labels.device), num_classes)[:rows])
        mixed_logits = torch.stack([r.outputs["logits"][:rows] for r in results])
        targets = torch.stack(targets).to(logits.device)
        if self.loss == "mrl":
            term = mrl_term(logits, mixed_logits, targets, self.margin)
        else:
            ranked = torch.stack([p.mixed[:rows].cpu() for p in plans]).any(0).to(logits.device)
            term = mndcg_term(logits, mixed_logits, targets, ranked)
        return loss_of(clean) + self.weight * term, results[0]
