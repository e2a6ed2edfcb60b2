"""A real 2-process CPU run of MixTrainer (torchrun, gloo): trains, each process draws its own plans, reproducible."""

import json
import os
import subprocess
import sys

import tiny


def test_two_process_training(tmp_path):
    report = tmp_path / "report.json"
    here = os.path.dirname(__file__)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",
    }
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        tiny.free_port(),
        os.path.join(here, "distributed_train.py"),
        str(report),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(report.read_text())
    assert result == {
        "world_size": 2,
        "finite_loss": True,
        "reproducible": True,
        "ranks_draw_different_plans": True,
        "plans_per_rank": 3,
        "replicas_in_sync": True,
    }
