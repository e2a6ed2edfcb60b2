"""`hfmix.pairing`: random partners and C-Mixup's label-similarity partners, in the batch and over the whole dataset
(the formula on small N, O(chunk · N) memory, the truncation bound)."""

import pytest
import tiny
import torch

from hfmix.functional import (
    dataset_label_similarity_partners,
    label_similarity_partners,
    random_partners,
)


def dense(labels, sigma, exclude_self):
    y = labels if labels.dim() == 2 else labels[:, None]
    weights = torch.exp(-(torch.cdist(y.double(), y.double()) ** 2) / (2 * sigma**2))
    if exclude_self:
        weights.fill_diagonal_(0)
    return weights / weights.sum(1, keepdim=True)  # the research code's N×N matrix, row-normalised


@pytest.mark.parametrize("exclude_self", [False, True])
@pytest.mark.parametrize("shape", [(7,), (7, 2)])
def test_partner_distribution_matches_the_dense_formula(shape, exclude_self):
    labels = torch.randn(*shape, generator=tiny.gen(1))
    expected = dense(labels, 0.8, exclude_self)
    g = tiny.gen()
    draws = torch.stack(
        [
            dataset_label_similarity_partners(labels, 0.8, generator=g, exclude_self=exclude_self, chunk_size=3)
            for _ in range(4000)
        ]
    )
    empirical = torch.stack([torch.bincount(draws[:, i], minlength=7) / len(draws) for i in range(7)]).double()
    assert (0.5 * (empirical - expected).abs().sum(1)).max() < 0.035


@pytest.mark.parametrize("exclude_self", [False, True])
def test_spread_labels_match_the_dense_formula(exclude_self):
    # 60 labels over 20σ: every window is partial, bins are clipped at both ends, duplicates included
    labels = torch.cat([torch.rand(56, generator=tiny.gen(2)) * 6, torch.tensor([1.0, 1.0, 1.0, 6.5])])
    expected = dense(labels, 0.3, exclude_self)
    g = tiny.gen(3)
    draws = torch.stack(
        [dataset_label_similarity_partners(labels, 0.3, generator=g, exclude_self=exclude_self) for _ in range(3000)]
    )
    empirical = torch.stack([torch.bincount(draws[:, i], minlength=60) / len(draws) for i in range(60)]).double()
    assert (0.5 * (empirical - expected).abs().sum(1)).max() < 0.06


def test_memory_does_not_grow_with_n(monkeypatch):
    sizes = []
    multinomial, cdist = torch.multinomial, torch.cdist
    monkeypatch.setattr(torch, "multinomial", lambda x, *a, **k: sizes.append(x.numel()) or multinomial(x, *a, **k))
    monkeypatch.setattr(torch, "cdist", lambda a, b: (lambda d: sizes.append(d.numel()) or d)(cdist(a, b)))
    for n in (3000, 30000):  # 1-D: chunk × (8 · truncation) bins, whatever N
        labels = torch.rand(n, generator=tiny.gen()) * 10
        partners = dataset_label_similarity_partners(labels, 5.0, generator=tiny.gen(), chunk_size=64)
        assert max(sizes) <= 64 * 8 * 6 and (labels[partners] - labels).abs().max() <= 6 * 5.0
    sizes.clear()  # K-D labels: exact, chunk × N, the chunk capped at 2**22 kernel values
    dataset_label_similarity_partners(
        torch.rand(3000, 2, generator=tiny.gen()), 0.5, generator=tiny.gen(), chunk_size=64
    )
    assert max(sizes) == 64 * 3000
    sizes.clear()
    dataset_label_similarity_partners(
        torch.rand(5000, 2, generator=tiny.gen()), 0.5, generator=tiny.gen(), chunk_size=4096
    )
    assert max(sizes) <= 2**22


def test_truncation_never_pairs_across_a_gap_and_respects_the_bound():
    labels = torch.cat([torch.zeros(50), torch.full((50,), 10.0)])  # two clusters 10 apart
    partners = dataset_label_similarity_partners(labels, 1.0, generator=tiny.gen(), truncation=6.0)
    assert ((labels[partners] - labels).abs() == 0).all()
    # the dense probability of crossing the gap is what truncation drops; it is below the documented bound
    crossing = dense(labels, 1.0, False)[0, 50:].sum().item()
    assert crossing <= (len(labels) - 1) * torch.exp(torch.tensor(-(6.0**2) / 2)).item()


def test_exclude_self_and_isolated_rows():
    labels = torch.tensor([0.0, 0.1, 0.2, 50.0])  # the last row has nobody within 6σ
    partners = dataset_label_similarity_partners(labels, 1.0, generator=tiny.gen(), exclude_self=True)
    assert (partners[:3] != torch.arange(3)).all() and partners[3] == 3


def test_reproducible_and_checked():
    labels = torch.randn(100, generator=tiny.gen())
    torch.testing.assert_close(
        dataset_label_similarity_partners(labels, 1.0, generator=tiny.gen(5)),
        dataset_label_similarity_partners(labels, 1.0, generator=tiny.gen(5)),
    )
    with pytest.raises(ValueError, match="NaN"):
        dataset_label_similarity_partners(torch.tensor([0.0, float("nan")]), 1.0, generator=tiny.gen())
    with pytest.raises(ValueError, match="bandwidth"):
        dataset_label_similarity_partners(labels, 0.0, generator=tiny.gen())


@pytest.mark.parametrize("batch_size", [1, 2, 3, 7, 8])
def test_random_partners_any_batch_size(batch_size):
    index = random_partners(batch_size, generator=tiny.gen())
    assert sorted(index.tolist()) == list(range(batch_size))  # a permutation
    if batch_size > 1:
        assert (index != torch.arange(batch_size)).all()  # nobody mixed with itself
    torch.testing.assert_close(index, random_partners(batch_size, generator=tiny.gen()))


def test_label_similarity_partner_distribution_matches_the_formula():
    labels = torch.tensor([0.0, 0.1, 0.5, 1.0, 1.2, 3.0])
    sigma = 0.5
    dense = torch.exp(-((labels[:, None] - labels[None, :]) ** 2) / (2 * sigma**2))
    expected = dense / dense.sum(1, keepdim=True)  # C-Mixup's P(j | i), j = i included
    g = tiny.gen()
    draws = torch.stack([label_similarity_partners(labels, sigma, generator=g) for _ in range(6000)])
    empirical = torch.stack([torch.bincount(draws[:, i], minlength=6) / len(draws) for i in range(6)])
    total_variation = 0.5 * (empirical - expected).abs().sum(1)
    assert total_variation.max() < 0.03, total_variation


def test_label_similarity_excluding_self_and_multi_dimensional_labels():
    labels = torch.randn(8, 3)
    draws = torch.stack(
        [label_similarity_partners(labels, 1.0, generator=tiny.gen(s), exclude_self=True) for s in range(200)]
    )
    assert (draws != torch.arange(8)).all()
    with pytest.raises(ValueError, match="NaN"):
        label_similarity_partners(torch.tensor([0.0, float("nan")]), 1.0, generator=tiny.gen())
    with pytest.raises(ValueError, match="bandwidth"):
        label_similarity_partners(torch.zeros(3), 0.0, generator=tiny.gen())
