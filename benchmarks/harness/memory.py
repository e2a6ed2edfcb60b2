"""Peak resident memory of one call, measured in a fresh process (Linux).

torch's allocations are invisible to tracemalloc, so memory is read from /proc: reset the high-water mark
(`clear_refs` 5), note VmRSS, make the call, and read VmHWM. A fresh process per measurement keeps one
measurement's allocations out of the next one's peak: the parent runs the benchmark script again with its child
arguments (`run_child`), the child measures (`time_and_peak`) and prints one JSON line.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


MIB, GIB = 2**20, 2**30


def proc_status(field: str) -> int:
    """A `VmXXX:  123 kB` field of /proc/self/status, in bytes."""
    with open("/proc/self/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_high_water_mark() -> bool:
    """Reset VmHWM to the current RSS; False where the kernel does not allow it (then the peak may under-count)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="utf-8") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


@dataclass
class TimedPeak:
    """The seconds of each call, the peak memory of the first call above the resident memory before it (bytes),
    whether that peak is exact (the high-water mark could be reset), and what the first call returned."""

    times: list[float]
    peak: int
    exact_peak: bool
    first: Any


def time_and_peak(call: Callable[[], Any], more: Callable[[list[float]], bool]) -> TimedPeak:
    """Call `call` once, then again while `more(times so far)`; the peak memory is that of the first call. Run it
    after a warm-up, with the inputs already built."""
    gc.collect()
    exact = reset_high_water_mark()
    baseline = proc_status("VmRSS") if exact else proc_status("VmHWM")
    times: list[float] = []
    while not times or more(times):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
        if len(times) == 1:
            peak, first = proc_status("VmHWM") - baseline, result
    return TimedPeak(times, peak, exact, first)


def run_child(script: str, arguments: list[str], threads: int) -> tuple[dict[str, Any] | None, str]:
    """Run `python script *arguments` in a fresh process with `threads` OpenMP/MKL threads (0: their default) and
    quiet libraries; return the JSON object of its last output line and "", or None and why it failed."""
    command = [sys.executable, os.path.abspath(script), *arguments]
    environment = dict(os.environ, TRANSFORMERS_VERBOSITY="error", PYTHONWARNINGS="ignore")
    if threads > 0:
        environment.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    done = subprocess.run(command, capture_output=True, text=True, env=environment)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"failed (exit status {done.returncode}: {last})"
    return json.loads(done.stdout.strip().splitlines()[-1]), ""


def peak_note(exact_peak: bool) -> list[str]:
    """The note of a measurement whose peak may under-count, as a list to extend a row's notes with."""
    return [] if exact_peak else ["peak may under-count (no clear_refs)"]
