"""The benchmarks' shared harness (benchmarks/harness): statistics, the resumable grid, timing and the memory
measurement, on small made-up runs."""

import sys
from pathlib import Path

import pytest


sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from harness.grid import ResumableGrid  # noqa: E402
from harness.memory import run_child, time_and_peak  # noqa: E402
from harness.stats import against_baseline_std, mean_std, paired_differences, wins  # noqa: E402
from harness.timing import interleaved_medians  # noqa: E402


def test_mean_std_formats():
    assert mean_std([1.0, 2.0, 3.0]) == "2.000 ± 1.000"
    assert mean_std([0.5, None, float("nan"), 1.5], decimals=2, signed=True) == "+1.00 ± 0.71"
    assert mean_std([0.25]) == "0.250 (n=1)"
    assert mean_std([0.25], mark_single=False) == "0.250"
    assert mean_std([]) == mean_std([None]) == "-"


def test_paired_statistics():
    pairs = [({"acc": 0.8}, {"acc": 0.7}), ({"acc": 0.6}, {"acc": 0.65}), ({"acc": 0.9}, {"acc": 0.9})]
    assert paired_differences(pairs, "acc") == pytest.approx([0.1, -0.05, 0.0])
    assert wins(pairs, "acc") == "1/3"
    assert wins(pairs, "acc", higher_is_better=False) == "1/3"
    assert against_baseline_std([0.9, 0.9], [0.5, 0.6], higher_is_better=True) == "+0.350 (better)"
    assert against_baseline_std([0.9, 0.9], [0.5, 0.6], higher_is_better=False) == "+0.350 (worse)"
    assert against_baseline_std([0.56, 0.56], [0.5, 0.6], higher_is_better=True) == "+0.010 (within 1 std)"


def test_grid_plans_seed_major_resumes_and_refuses_other_settings(tmp_path, capsys):
    path = str(tmp_path / "runs" / "grid.jsonl")
    axes = {"seed": [0, 1], "method": ["erm", "mixup"]}
    runs = ResumableGrid(path, axes, key=("method", "seed"), settings_of=lambda p: {"steps": 4})
    plan = runs.plan()
    assert [(p["seed"], p["method"]) for p in plan] == [(0, "erm"), (0, "mixup"), (1, "erm"), (1, "mixup")]
    done = runs.load()
    assert done == {} and len(runs.pending(done)) == 4
    for p in plan[:3]:
        runs.record(p | {"accuracy": 0.5 + p["seed"]}, done)
    assert "4 runs planned, 0 already" in capsys.readouterr().out
    resumed = runs.load()
    assert resumed == done and [runs.key_of(p) for p in runs.pending(resumed)] == [("mixup", 1)]
    assert runs.missing(resumed) == ["mixup/1"]
    assert [r["seed"] for r in runs.seed_rows(resumed, method="erm")] == [0, 1]
    assert [(a["method"], b["method"]) for a, b in runs.pairs(resumed, {"method": "erm"}, method="mixup")] == [
        ("mixup", "erm")
    ]
    other = ResumableGrid(path, axes, key=("method", "seed"), settings_of=lambda p: {"steps": 8})
    with pytest.raises(SystemExit, match="holds method erm, seed 0 with other settings"):
        other.load()
    with pytest.raises(ValueError, match="must name each axis"):
        ResumableGrid(path, axes, key=("method",), settings_of=dict)


def test_interleaved_medians_alternate_the_order_and_cycle_the_inputs():
    calls = []
    medians = interleaved_medians(
        {"a": lambda x: calls.append(("a", x)), "b": lambda x: calls.append(("b", x))}, 2, 1, inputs=[10, 20]
    )
    assert set(medians) == {"a", "b"} and all(m >= 0 for m in medians.values())
    assert calls == [("b", 10), ("a", 10), ("a", 20), ("b", 20), ("b", 10), ("a", 10)]


def test_time_and_peak_calls_while_asked_and_keeps_the_first_result():
    results = iter(range(10))
    measured = time_and_peak(lambda: next(results), more=lambda times: len(times) < 3)
    assert len(measured.times) == 3 and measured.first == 0 and measured.peak >= 0


def test_run_child_returns_the_last_json_line_or_why_it_failed(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(
        "import json, os, sys\n"
        "if sys.argv[1] == 'fail':\n"
        "    sys.exit('bad child')\n"
        "print('noise')\n"
        "print(json.dumps({'threads': os.environ.get('OMP_NUM_THREADS')}))\n"
    )
    assert run_child(str(script), ["ok"], threads=1) == ({"threads": "1"}, "")
    result, failure = run_child(str(script), ["fail"], threads=0)
    assert result is None and failure == "failed (exit status 1: bad child)"


def test_few_shot_workers_share_each_recipe_evenly():
    from few_shot_quality import snake_shard

    recipes = ["erm", "regmixup"] * 6  # the plan alternates a fast and a slow recipe
    for workers in (2, 3):
        shares = [[r for i, r in enumerate(recipes) if snake_shard(i, workers) == w] for w in range(workers)]
        assert sorted(sum(shares, [])) == sorted(recipes)  # every run is dealt to exactly one worker
        assert all(abs(s.count("regmixup") - s.count("erm")) <= 1 for s in shares), shares
