"""What every benchmark prints about where it ran, and how it keeps library logging quiet while it runs."""

from __future__ import annotations

import logging
import os
import platform
import warnings
from collections.abc import Iterator
from contextlib import contextmanager


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def total_memory() -> int:
    """Bytes of memory on this machine (0 when /proc/meminfo cannot be read)."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            return int(meminfo.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0


def describe_machine() -> str:
    """CPU, system, usable cores, memory, torch threads, GPU and load average, in one line."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    text = (
        f"{cpu_model()}, {platform.system()} {platform.machine()}, {cores} usable CPU cores ({os.cpu_count()} total)"
    )
    memory = total_memory()
    if memory:
        text += f", {memory / 2**30:.1f} GiB memory"
    text += f", torch {torch.__version__} with {torch.get_num_threads()} thread(s)"
    if torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name()}"
    if hasattr(os, "getloadavg"):
        text += ", load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    return text


@contextmanager
def quiet() -> Iterator[None]:
    """Silence transformers', datasets' and accelerate's informational logging and Python warnings."""
    import datasets
    import transformers

    level = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    logging.getLogger("accelerate").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            transformers.logging.set_verbosity(level)
