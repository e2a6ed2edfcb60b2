"""What every benchmark prints about where it ran (machine, versions, command line), how it sets its torch threads,
and how it keeps library logging quiet while it runs."""

from __future__ import annotations

import logging
import os
import platform
import shlex
import sys
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


def command_line(script: str, argv: list[str] | None) -> str:
    """The command that ran `script`: the interpreter's own arguments when `argv` is None (run from the shell),
    else `script` and `argv` (called from Python)."""
    return shlex.join(sys.orig_argv if argv is None else [script, *argv])


def use_threads(threads: int) -> None:
    """Run torch on `threads` intra-op threads (0: torch's default, one per core) and tokenizers on one."""
    import torch

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if threads > 0:
        torch.set_num_threads(threads)


def measurement_footer(threads: int, elapsed: float) -> list[str]:
    """The machine and versions lines that end the memory benchmarks' reports."""
    import torch

    import hfmix

    return [
        f"- machine: {describe_machine()}; measured with {threads if threads > 0 else 'default'} thread(s)",
        (
            f"- versions: hfmix {hfmix.__version__}, torch {torch.__version__}, python {platform.python_version()}; "
            f"wall time {elapsed:.0f} s"
        ),
    ]
