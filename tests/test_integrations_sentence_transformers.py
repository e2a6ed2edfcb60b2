"""`hfmix.integrations.sentence_transformers`: the m²-mix (GeodesicMixupRankingLoss) and SupReMix losses for
sentence-transformers train tiny models and compute the documented formulas."""

import pytest
import tiny
import torch

from hfmix.losses import GeodesicMixupLoss, SupReMixLoss, supremix_loss


# ------------------------------------------------------------------------------------------ sentence-transformers
def test_sentence_transformers_loss_trains_a_tiny_model(tmp_path):
    pytest.importorskip("sentence_transformers")
    from datasets import Dataset

    from hfmix.integrations.sentence_transformers import GeodesicMixupRankingLoss

    texts = [r["text"] for r in tiny.sentiment_rows(24)]
    model = tiny.sentence_transformer(tmp_path / "bert", texts)
    loss = GeodesicMixupRankingLoss(model, weight=0.5)
    assert loss.get_config_dict()["weight"] == 0.5 and "oh2023geodesic" in loss.citation
    assert isinstance(loss.m2mix, GeodesicMixupLoss) and loss.m2mix.config.weight == 0.5
    data = Dataset.from_dict({"anchor": texts[:16], "positive": [t.upper() for t in texts[:16]]})
    trainer = tiny.st_trainer(tmp_path, model, data, loss)
    tiny.train_and_check(trainer)
    assert any("geodesic_mixup" in entry for entry in trainer.state.log_history)
    with pytest.raises(ValueError, match=r"\(anchor, positive\) pairs or MNRL-style rows.*got 1 text column"):
        loss([{"input_ids": torch.ones(2, 3, dtype=torch.long)}], None)


def test_sentence_transformers_loss_trains_on_nli_triplets_with_hard_negatives(tmp_path):
    """(anchor, positive, negative): the MNRL format; the negatives are candidates of every anchor."""
    pytest.importorskip("sentence_transformers")
    from datasets import Dataset

    from hfmix.integrations.sentence_transformers import GeodesicMixupRankingLoss

    rows = tiny.sentiment_rows(30)
    texts = [r["text"] for r in rows]
    model = tiny.sentence_transformer(tmp_path / "bert", texts)
    nli = Dataset.from_dict(
        {"anchor": texts[:15], "positive": [t.upper() for t in texts[:15]], "negative": texts[15:30]}
    )
    loss = GeodesicMixupRankingLoss(model, weight=0.5)
    tiny.train_and_check(tiny.st_trainer(tmp_path, model, nli, loss))


def test_sentence_transformers_hard_negatives_match_mnrl_at_weight_zero_and_the_formula(tmp_path):
    pytest.importorskip("sentence_transformers")
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from hfmix.integrations.sentence_transformers import GeodesicMixupRankingLoss

    texts = [r["text"] for r in tiny.sentiment_rows(24)]
    model = tiny.sentence_transformer(tmp_path / "bert", texts).eval()
    anchor, positive, negative = (torch.randn(6, 32, generator=torch.Generator().manual_seed(k)) for k in range(3))
    mnrl = MultipleNegativesRankingLoss(
        model, scale=20.0, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction"
    )
    plain = GeodesicMixupRankingLoss(model, weight=0.0).compute_loss_from_embeddings([anchor, positive, negative])
    want = mnrl.compute_loss_from_embeddings([anchor, positive, negative], None)
    torch.testing.assert_close(plain["contrastive"], want)
    loss = GeodesicMixupRankingLoss(model, weight=0.5, seed=4)
    parts = loss.compute_loss_from_embeddings([anchor, positive, negative])
    lam, _ = GeodesicMixupLoss(seed=4).sample_lambdas()
    expected = tiny.geodesic_direct_loss(anchor, positive, 20.0, 20.0, lam, 0.5, None, 0.0, 0.5, negatives=negative)
    assert abs(float(parts["contrastive"] + parts["geodesic_mixup"]) - float(expected)) < 1e-5


def test_sentence_transformers_loss_is_supremix_and_trains(tmp_path):
    from datasets import Dataset

    from hfmix.integrations.sentence_transformers import SupReMixSentenceLoss

    texts = [r["text"] for r in tiny.sentiment_rows(24)]
    model = tiny.sentence_transformer(tmp_path / "bert", texts)
    loss = SupReMixSentenceLoss(model, temperature=0.2, num_positive_mixtures=4, seed=3, columns_are_views=True)
    assert loss.get_config_dict()["temperature"] == 0.2 and "arXiv:2309.16633" in loss.citation
    assert isinstance(loss.supremix, SupReMixLoss) and loss.mix_config.temperature == 0.2
    # the value: supremix_loss on the two views' sentence embeddings, mixtures from the loss's generator
    features = [model.tokenize(texts[:6]), model.tokenize([t.upper() for t in texts[:6]])]
    scores = torch.tensor([0.0, 1.0, 1.0, 2.0, 3.0, 3.0])
    model.eval()
    value = loss(features, scores)
    with torch.no_grad():
        views = torch.stack([model(dict(f))["sentence_embedding"] for f in features], 1)
    expected = supremix_loss(
        views, scores, generator=torch.Generator().manual_seed(3 * 1_000_003), temperature=0.2, num_positive_mixtures=4
    )
    torch.testing.assert_close(value.detach(), expected)
    model.train()
    data = Dataset.from_dict({"text": texts[:16], "score": [float(i % 4) for i in range(16)]})
    tiny.train_and_check(tiny.st_trainer(tmp_path, model, data, loss))
    with pytest.raises(ValueError, match="score"):
        loss(features, None)
    with pytest.raises(TypeError, match="SupReMixConfig"):
        SupReMixSentenceLoss(model, mix_config="mixup")


def test_sentence_transformers_views_train_when_declared(tmp_path):
    from datasets import Dataset

    from hfmix.integrations.sentence_transformers import SupReMixSentenceLoss

    texts = [r["text"] for r in tiny.sentiment_rows(24)]
    model = tiny.sentence_transformer(tmp_path / "bert", texts)
    data = Dataset.from_dict(
        {"text": texts[:15], "augmented": [t.upper() for t in texts[:15]], "score": [float(i % 3) for i in range(15)]}
    )
    loss = SupReMixSentenceLoss(model, num_positive_mixtures=4, columns_are_views=True)
    tiny.train_and_check(tiny.st_trainer(tmp_path, model, data, loss))


def test_sentence_transformers_refuses_sts_pairs_with_a_score(tmp_path):
    """(sentence1, sentence2, score) rates the pair: read as two views with a per-row label it trains nonsense."""
    from datasets import Dataset

    from hfmix.integrations.sentence_transformers import SupReMixSentenceLoss

    texts = [r["text"] for r in tiny.sentiment_rows(24)]
    model = tiny.sentence_transformer(tmp_path / "bert", texts)
    sts = Dataset.from_dict({"sentence1": texts[:10], "sentence2": texts[10:20], "score": [i / 10 for i in range(10)]})
    trainer = tiny.st_trainer(tmp_path, model, sts, SupReMixSentenceLoss(model))
    with pytest.raises(ValueError, match=r"pair data such as STS.*one text column.*columns_are_views=True"):
        trainer.train()


def test_sentence_transformers_old_name_still_imports_with_a_warning():
    import hfmix.integrations.sentence_transformers as st
    from hfmix.integrations.sentence_transformers.supremix_loss import SupReMixSentenceLoss

    with pytest.warns(FutureWarning, match="SupReMixSentenceLoss"):
        from hfmix.integrations.sentence_transformers import SupReMixLoss as old
    assert old is SupReMixSentenceLoss and "SupReMixLoss" not in st.__all__
    with pytest.warns(FutureWarning, match="SupReMixSentenceLoss"):
        from hfmix.integrations.sentence_transformers.supremix_loss import SupReMixLoss as old_module_name
    assert old_module_name is SupReMixSentenceLoss
