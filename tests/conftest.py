import os
import sys


os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(__file__))

import torch  # noqa: E402


# Tiny models gain nothing from intra-op threads, and tests fork `Dataset.map(num_proc=2)` workers: a child forked
# from a parent whose OpenMP pool is running can deadlock in its first parallel region.
torch.set_num_threads(1)
