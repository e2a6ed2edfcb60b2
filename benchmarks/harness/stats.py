"""Statistics of benchmark runs over seeds: mean ± sample std, paired differences to a baseline run on the same
seed, and whether a difference lies within one baseline std (the reading the quality benchmarks print)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


Row = Mapping[str, Any]


def mean_std(values: Iterable[float | None], decimals: int = 3, signed: bool = False, mark_single: bool = True) -> str:
    """ "mean ± std" of the values (None and NaN left out) with `decimals` decimals; "-" when none is left; one value
    alone is printed as it is, followed by " (n=1)" when `mark_single`. `signed` prints the mean with its sign (for
    differences)."""
    kept = [v for v in values if v is not None and not math.isnan(v)]
    sign = "+" if signed else ""
    if not kept:
        return "-"
    if len(kept) == 1:
        return f"{kept[0]:{sign}.{decimals}f}" + (" (n=1)" if mark_single else "")
    return f"{statistics.mean(kept):{sign}.{decimals}f} ± {statistics.stdev(kept):.{decimals}f}"


def paired_differences(pairs: Sequence[tuple[Row, Row]], key: str) -> list[float]:
    """`treated[key] - baseline[key]` for each (treated, baseline) pair of rows, in order."""
    return [treated[key] - baseline[key] for treated, baseline in pairs]


def wins(pairs: Sequence[tuple[Row, Row]], key: str, higher_is_better: bool = True) -> str:
    """ "k/n": on how many of the n pairs the treated row's `key` beats the baseline's (strictly)."""
    better = sum((t[key] > b[key]) if higher_is_better else (t[key] < b[key]) for t, b in pairs)
    return f"{better}/{len(pairs)}"


def against_baseline_std(treated: Sequence[float], baseline: Sequence[float], higher_is_better: bool) -> str:
    """The difference of means, signed, and "within 1 std" when it is no larger than the baseline's sample std
    over seeds (not distinguishable), else "better" or "worse". The baseline needs two or more values."""
    delta = statistics.mean(treated) - statistics.mean(baseline)
    if abs(delta) <= statistics.stdev(baseline):
        word = "within 1 std"
    else:
        word = "better" if (delta > 0) == higher_is_better else "worse"
    return f"{delta:+.3f} ({word})"


def mean_ci95(values: Sequence[float], decimals: int = 3) -> str:
    """ "mean [low, high]": the mean with its 95% confidence interval (Student's t over the values, e.g. paired
    differences over seeds); "-" with no value, the value alone with one."""
    kept = [v for v in values if v is not None and not math.isnan(v)]
    if not kept:
        return "-"
    mean = statistics.mean(kept)
    if len(kept) == 1:
        return f"{mean:+.{decimals}f} (n=1)"
    half = _T95[min(len(kept) - 1, len(_T95)) - 1] * statistics.stdev(kept) / math.sqrt(len(kept))
    return f"{mean:+.{decimals}f} [{mean - half:+.{decimals}f}, {mean + half:+.{decimals}f}]"


# Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom (then ~1.96).
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip
