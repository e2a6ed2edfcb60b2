"""Median times of functions called in turn, the order alternating, so that a slow phase of a shared machine
falls on every function alike."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any


def interleaved_medians(
    functions: dict[str, Callable[..., Any]], reps: int, warmup: int, inputs: Sequence[Any] | None = None
) -> dict[str, float]:
    """Median seconds of each function over `reps` rounds after `warmup` untimed rounds; a round calls every
    function once, in the given order on odd rounds and reversed on even ones. With `inputs`, round r calls each
    function with `inputs[r % len(inputs)]`; without, with no argument."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    names = list(functions)
    for rep in range(reps + warmup):
        arguments = () if inputs is None else (inputs[rep % len(inputs)],)
        for name in names if rep % 2 else names[::-1]:
            started = time.perf_counter()
            functions[name](*arguments)
            if rep >= warmup:
                times[name].append(time.perf_counter() - started)
    return {name: statistics.median(t) for name, t in times.items()}
