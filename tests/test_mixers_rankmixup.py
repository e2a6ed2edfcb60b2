"""`hfmix.mixers.rankmixup`: the RankMixup terms (MRL, mNDCG) against direct implementations of their formulas."""

import math

import tiny
import torch

from hfmix.mixers.rankmixup import mndcg_term, mrl_term
from hfmix.sampling import MixPlan
from hfmix.targets import mix_targets


B, C = tiny.CASE_ROWS, tiny.CASE_CLASSES


def test_rankmixup_terms_are_the_formulas():
    clean, labels, index, lam = tiny.random_case()
    g = torch.Generator().manual_seed(2)
    K, margin = 3, 1.5
    mixed = torch.randn(K, B, C, generator=g) * 3
    plans = [MixPlan(index, lam)] + [
        MixPlan(index[torch.randperm(B, generator=g)], torch.rand(B, generator=g)) for _ in range(K - 1)
    ]
    targets = torch.stack([mix_targets(labels, p, C) for p in plans])
    mrl = sum(
        float(targets[k, i].max() < 1) * max(mixed[k, i].max() - clean[i].max() + margin, 0)
        for k in range(K)
        for i in range(B)
    ) / (K * B)
    torch.testing.assert_close(mrl_term(clean, mixed, targets, margin), torch.as_tensor(mrl).float())
    rows = torch.tensor([True, True, True, True, False, True])
    total = 0.0
    for i in range(B):
        items = sorted(
            [(float(targets[k, i].max()), float(mixed[k, i].softmax(0).max())) for k in range(K)], key=lambda t: -t[0]
        )
        items = [(1.0, float(clean[i].softmax(0).max()))] + items
        dcg = sum(conf / math.log2(r + 2) for r, (_, conf) in enumerate(items))
        idcg = sum(rel / math.log2(r + 2) for r, (rel, _) in enumerate(items))
        ndcg = dcg / idcg if idcg > dcg else idcg / dcg
        total += (1 - ndcg) * bool(rows[i])
    torch.testing.assert_close(mndcg_term(clean, mixed, targets, rows), torch.tensor(total / B).float())
