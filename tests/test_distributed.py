"""A real 2-process CPU run of MixTrainer (torchrun, gloo): trains, each process draws its own plans, reproducible."""

import json

import tiny


def test_two_process_training(tmp_path):
    report = tmp_path / "report.json"
    tiny.run_two_processes("distributed_train.py", str(report))
    result = json.loads(report.read_text())
    assert result == {
        "world_size": 2,
        "finite_loss": True,
        "reproducible": True,
        "ranks_draw_different_plans": True,
        "plans_per_rank": 3,
        "replicas_in_sync": True,
    }
