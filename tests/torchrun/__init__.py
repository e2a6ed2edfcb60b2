"""Scripts that tests run under `torchrun --nproc_per_node 2` on the CPU (gloo), through `tiny.run_two_processes`.

Each is named for the trainer it runs: `<trainer module>.py` (mix_trainer.py, geodesic_mixup_trainer.py,
supremix_trainer.py). None is named `test_*.py`, so pytest never collects them.
"""
