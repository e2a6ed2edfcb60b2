"""The `hfmix` command end to end on a tiny model and a tiny dataset made here."""

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import tiny
from datasets import Dataset

from hfmix import MixConfig, MixupConfig, get_mix_config
from hfmix.cli import main
from hfmix.cli.arguments import parse_options


FAST = [
    "--num_train_epochs",
    "1",
    "--per_device_train_batch_size",
    "8",
    "--eval_size",
    "12",
    "--calibration_size",
    "9",
    "--max_length",
    "16",
]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    rows = tiny.sentiment_rows(60)
    with open(root / "tweets.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    Dataset.from_list(rows).to_json(root / "tweets.jsonl")
    Dataset.from_list(rows).save_to_disk(str(root / "saved"))
    model = tiny.save_tiny_text_model(root / "model", [r["text"] for r in rows])
    return root, model


def test_compare_end_to_end(assets, tmp_path, capsys):
    root, model = assets
    code = main(
        [
            "compare",
            "--model_name_or_path",
            model,
            "--data",
            str(root / "tweets.csv"),
            *FAST,
            "--recipes",
            "hidden",
            "pooled",
            "--output_dir",
            str(tmp_path),
        ]
    )
    assert code == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert [r["run"] for r in results["rows"]] == ["erm", "erm + TS", "hidden", "pooled"]
    erm, erm_ts = results["rows"][:2]
    assert erm_ts["ece"] == erm["ece_ts"] and erm_ts["nll"] == erm["nll_ts"]  # what users do today: ERM, then TS
    results["rows"].pop(1)
    assert results["classes"] == ["neg", "neu", "pos"] and results["sizes"] == {
        "train": 39,
        "calibration": 9,
        "test": 12,
    }
    for row in results["rows"]:
        assert 0 <= row["accuracy"] <= 1 and row["nll"] > 0 and 0 <= row["ece"] <= 1 and 0 <= row["ece_ts"] <= 1
        assert (tmp_path / row["run"] / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    assert results["rows"][0]["recipe"]["prob"] == 0.0 and results["rows"][1]["recipe"]["level"] == "hidden"
    assert results["rows"][1]["recipe"]["mix_type"] == "regmixup"  # a level is the default recipe at that level
    out = capsys.readouterr().out
    assert "| run | accuracy | macro-F1 | NLL | ECE | Brier | ECE after TS |" in out and "| hidden |" in out


def test_compare_with_no_recipe_shows_the_default_against_erm_and_erm_with_ts(assets, tmp_path):
    root, model = assets
    argv = ["compare", "--model_name_or_path", model, "--data", str(root / "tweets.csv"), *FAST]
    assert main([*argv, "--output_dir", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert [r["run"] for r in rows] == ["erm", "erm + TS", "default (regmixup-embeddings)"]
    assert rows[2]["recipe"] == get_mix_config(None).to_dict() | {"hfmix_version": rows[2]["recipe"]["hfmix_version"]}


def test_train_saves_the_model_with_its_recipe(assets, tmp_path):
    root, model = assets
    code = main(
        [
            "train",
            "--model_name_or_path",
            model,
            "--data",
            str(root / "tweets.jsonl"),
            *FAST,
            "--level",
            "pooled",
            "--alpha",
            "0.3",
            "--output_dir",
            str(tmp_path),
        ]
    )
    assert code == 0
    # the flags apply to the default recipe (calibrated-few-shot: RegMixup)
    assert MixConfig.from_pretrained(tmp_path / "regmixup-pooled") == get_mix_config(None, level="pooled", alpha=0.3)
    assert (tmp_path / "regmixup-pooled" / "model.safetensors").exists()


def test_regression_from_a_saved_dataset(assets, tmp_path):
    root, model = assets
    code = main(
        [
            "train",
            "--model_name_or_path",
            model,
            "--data",
            str(root / "saved"),
            "--label_column",
            "score",
            *FAST,
            "--output_dir",
            str(tmp_path),
        ]
    )
    assert code == 0
    row = json.loads((tmp_path / "results.json").read_text())["rows"][0]
    assert json.loads((tmp_path / "results.json").read_text())["task"] == "regression"
    assert {"mse", "mae", "pearson", "spearman"} <= set(row)


def test_recipe_file_and_override_precedence(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("level: hidden\nalpha: 0.7\nnum_train_epochs: 3\nlearning_rate: 0.001\ntrain_size: 30\n")
    script, config, training = parse_options(
        ["--config", str(recipe), "--alpha", "0.2", "--output_dir", str(tmp_path)]
    )
    assert config == get_mix_config(None, level="hidden", alpha=0.2)  # the flag beats the file
    assert training.num_train_epochs == 3 and training.learning_rate == 0.001 and script.train_size == 30
    script, config, training = parse_options(["--output_dir", str(tmp_path)])
    assert config == get_mix_config(None) and training.num_train_epochs == 8  # the built-in defaults
    saved = tmp_path / "saved_recipe"
    MixupConfig(level="pooled", alpha=0.9).save_pretrained(saved)
    _, config, _ = parse_options(["--mix_config", str(saved), "--prob", "0.5", "--output_dir", str(tmp_path)])
    assert config == MixupConfig(level="pooled", alpha=0.9, prob=0.5)
    (tmp_path / "bad.yaml").write_text("levle: hidden\n")
    with pytest.raises(ValueError, match=r"Unknown options \['levle'\]"):
        parse_options(["--config", str(tmp_path / "bad.yaml")])


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--data", "no/such/file.csv"], "Data file not found: 'no/such/file.csv'"),
        (["--text_column", "tweet"], "Column 'tweet' is not in the data; its columns are"),
        (["--label_column", "score", "--task", "classification"], "non-integer numbers; use --task regression"),
        (["--label_column", "text", "--task", "regression"], "not numbers; regression needs numeric labels"),
        (["--recipes", "nosuchmix"], "Unknown recipe 'nosuchmix'"),
        (["--recipes", "supremix"], "has a trainer of its own"),
        (["--config", "missing.yaml"], "Recipe file not found"),
    ],
)
def test_clear_errors(assets, tmp_path, capsys, extra, message):
    root, model = assets
    argv = [
        "compare",
        "--model_name_or_path",
        model,
        "--data",
        str(root / "tweets.csv"),
        *FAST,
        "--output_dir",
        str(tmp_path),
        *extra,
    ]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_config_show_save_push(tmp_path, capsys, monkeypatch):
    assert main(["config", "show", "--level", "hidden", "--layers", "2", "4"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["mix_type"] == "mixup" and shown["layers"] == [2, 4]
    assert main(["config", "save", str(tmp_path / "r"), "--alpha", "0.2"]) == 0
    assert MixConfig.from_pretrained(tmp_path / "r").alpha == 0.2
    assert "Saved" in capsys.readouterr().out
    assert main(["config", "show", str(tmp_path / "r"), "--prob", "0.5"]) == 0
    assert json.loads(capsys.readouterr().out) | {"hfmix_version": None} == MixupConfig(
        alpha=0.2, prob=0.5
    ).to_dict() | {"hfmix_version": None}
    pushed = {}
    monkeypatch.setattr(MixupConfig, "push_to_hub", lambda self, repo_id, **kw: pushed.update(repo=repo_id, cfg=self))
    assert main(["config", "push", "me/recipe", "--level", "pooled"]) == 0
    assert pushed["repo"] == "me/recipe" and pushed["cfg"].level == "pooled"
    assert main(["config", "push"]) == 2
    assert "needs a Hub repo id" in capsys.readouterr().err


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "hfmix"
    for command in ([str(script), "--help"], [sys.executable, "-m", "hfmix.cli", "--help"]):
        done = subprocess.run(command, capture_output=True, text=True)
        assert done.returncode == 0 and "hfmix train" in done.stdout, done.stderr


def test_regression_scores_against_the_formulas():
    import torch

    from hfmix.regression_metrics import regression_scores

    predictions, targets = torch.tensor([1.0, 2.0, 2.0, 4.0]), torch.tensor([1.0, 3.0, 2.0, 5.0])
    scores = regression_scores(predictions, targets)
    assert scores["mse"] == pytest.approx((0 + 1 + 0 + 1) / 4) and scores["mae"] == pytest.approx(0.5)
    assert scores["rmse"] == pytest.approx(0.5**0.5)
    # tie-averaged ranks: predictions [0, 1.5, 1.5, 3], targets [0, 2, 1, 3] (as scipy.stats.spearmanr)
    a, b = torch.tensor([0, 1.5, 1.5, 3.0]), torch.tensor([0, 2, 1, 3.0])
    a, b = a - a.mean(), b - b.mean()
    assert scores["spearman"] == pytest.approx(float((a * b).sum() / (a.norm() * b.norm())))
    assert math.isnan(regression_scores(torch.ones(4), targets)["pearson"])  # a constant has no correlation


def test_compare_runs_the_masked_mixers_by_name(assets, tmp_path):
    root, model = assets
    argv = ["compare", "--model_name_or_path", model, "--data", str(root / "tweets.csv"), *FAST]
    assert main([*argv, "--output_dir", str(tmp_path), "--recipes", "erm", "fmix", "cutmix"]) == 0
    runs = [row["run"] for row in json.loads((tmp_path / "results.json").read_text())["rows"]]
    assert runs == ["erm", "erm + TS", "fmix-embeddings", "cutmix-embeddings"]


def test_prepare_reads_columns_not_rows(monkeypatch):
    """`prepare` on a big table pulls each column once (issue 13: row-by-row indexing of a lazy column took 24 min
    at 10^6 rows); its split is the same as before for a given seed."""
    from datasets.arrow_dataset import Column

    from hfmix.cli.data import prepare

    n = 20_000
    table = Dataset.from_dict(
        {"text": [f"tweet {i % 19_000}" if i % 50 else " " for i in range(n)], "label": [i % 3 for i in range(n)]}
    )
    calls = {"column": 0, "dataset": 0}
    column_getitem, dataset_getitem = Column.__getitem__, Dataset.__getitem__

    def count(kind, original):
        def getitem(self, key):
            calls[kind] += 1
            return original(self, key)

        return getitem

    monkeypatch.setattr(Column, "__getitem__", count("column", column_getitem))
    monkeypatch.setattr(Dataset, "__getitem__", count("dataset", dataset_getitem))
    splits = prepare(table, "text", "label", train_size=256, seed=42)
    assert calls["column"] == 0 and calls["dataset"] <= 3, calls
    assert (len(splits.train), len(splits.calibration), len(splits.test)) == (256, 500, 1000)
    monkeypatch.undo()
    texts = [t for s in (splits.train, splits.calibration, splits.test) for t in s["text"]]
    assert len(set(texts)) == len(texts) and all(t.strip() for t in texts)  # no blank, no duplicate
    assert splits.test["text"][:3] == ["tweet 11303", "tweet 11837", "tweet 17910"]  # the split of hfmix 0.1.0


def test_a_typed_flag_wins_over_the_mix_config_even_at_its_default(tmp_path):
    recipe = tmp_path / "recipe"
    MixupConfig(alpha=16.0, level="hidden").save_pretrained(recipe)
    _, config, _ = parse_options(["--mix_config", str(recipe), "--alpha", "0.4", "--output_dir", str(tmp_path)])
    assert config.alpha == 0.4 and config.level == "hidden"  # 0.4 is MixupConfig's default alpha
    _, config, _ = parse_options(["--mix_config", str(recipe), "--level", "embeddings", "--output_dir", str(tmp_path)])
    assert config.level == "embeddings" and config.alpha == 16.0  # embeddings is the default level
    _, config, _ = parse_options(["--mix_config", str(recipe), "--output_dir", str(tmp_path)])
    assert config == MixupConfig(alpha=16.0, level="hidden")  # nothing typed: the recipe as saved
    assert main(["config", "show", str(recipe / "mix_config.json"), "--alpha", "0.4"]) == 0


def test_a_mix_config_without_mix_type_is_mixup(tmp_path):
    _, config, _ = parse_options(["--mix_config", '{"alpha": 0.3, "level": "pooled"}', "--output_dir", str(tmp_path)])
    assert config == MixupConfig(alpha=0.3, level="pooled")
    (tmp_path / "recipe.yaml").write_text("mix_config: {alpha: 0.3}\nnum_train_epochs: 2\n")
    _, config, training = parse_options(["--config", str(tmp_path / "recipe.yaml"), "--output_dir", str(tmp_path)])
    assert config == MixupConfig(alpha=0.3) and training.num_train_epochs == 2


def test_config_list_prints_every_recipe_name(capsys):
    from hfmix.registry import list_recipes

    assert main(["config", "list"]) == 0
    out = capsys.readouterr().out
    for name, builds in list_recipes().items():
        assert f"{name} " in out and builds in out
    assert "tmix" in out and "mixup" in out


def test_train_calibrate_temperature_folds_t_into_the_saved_model(assets, tmp_path):
    root, model = assets
    argv = ["train", "--model_name_or_path", model, "--data", str(root / "tweets.csv"), *FAST]
    assert main([*argv, "--calibrate", "temperature", "--output_dir", str(tmp_path)]) == 0
    saved = tmp_path / "regmixup-embeddings"
    calibration = json.loads((saved / "calibration.json").read_text())
    row = json.loads((tmp_path / "results.json").read_text())["rows"][0]
    assert calibration["method"] == "temperature" and calibration["n"] == 9  # the calibration rows
    assert row["temperature"] == pytest.approx(calibration["temperature"], abs=1e-4)
    assert (saved / "model.safetensors").exists() and (saved / "mix_config.json").exists()
    assert main([*argv, "--calibrate", "temperature", "--label_column", "score", "--output_dir", str(tmp_path)]) == 2


def test_tune_writes_the_best_recipe_scored_on_validation_rows(assets, tmp_path, capsys, monkeypatch):
    pytest.importorskip("optuna")
    from hfmix.cli import runs

    root, model = assets
    scored = []
    original = runs.predictions
    monkeypatch.setattr(
        "hfmix.cli.commands.predictions", lambda trainer, data: scored.append(len(data)) or original(trainer, data)
    )
    argv = ["tune", "--model_name_or_path", model, "--data", str(root / "tweets.csv"), *FAST]
    assert main([*argv, "--n_trials", "2", "--tune_seed", "0", "--output_dir", str(tmp_path)]) == 0
    assert scored == [9, 9]  # each trial on the 9 calibration rows, never on the 12 test rows
    best = MixConfig.from_pretrained(tmp_path / "mix_config.json")
    table = (tmp_path / "tune_results.md").read_text()
    assert table.startswith("| rank | trial | recipe | NLL | ECE | accuracy |") and table.count("\n") == 4
    out = capsys.readouterr().out
    assert f"hfmix train --mix_config {tmp_path / 'mix_config.json'}" in out
    _, again, _ = parse_options(["--mix_config", str(tmp_path / "mix_config.json"), "--output_dir", str(tmp_path)])
    assert again == best  # ready for `hfmix train --mix_config`


def test_tune_without_optuna_says_how_to_install_it(assets, tmp_path, capsys, monkeypatch):
    root, model = assets
    monkeypatch.setitem(sys.modules, "optuna", None)
    assert (
        main(
            ["tune", "--model_name_or_path", model, "--data", str(root / "tweets.csv"), "--output_dir", str(tmp_path)]
        )
        == 2
    )
    assert 'pip install "hfmix[tune]"' in capsys.readouterr().err
