"""Scaling of dataset-level C-Mixup partner sampling: time and peak memory, hfmix against the dense N×N matrix.

What it measures
    Drawing one C-Mixup partner for every row of a dataset of N regression labels, with
    P(j | i) ∝ exp(−||y_i − y_j||² / 2σ²) over all N rows, j = i included (Yao et al., "C-Mixup", NeurIPS 2022,
    arXiv:2210.05775), by:

    * `hfmix`  - `hfmix.pairing.dataset_label_similarity_partners` with its defaults. 1-D labels take its exact
      rejection sampler over binned windows of the sorted labels (O(N log N) time, memory independent of N beyond
      the O(N) labels and partners); K-D labels take its exact chunked path (`cdist` of 4096 anchors against all N
      rows at a time: O(N²) time, O(4096·N) memory).
    * `dense`  - the formulation of the C-Mixup research code (`src/algorithm.py`, `get_mixup_sample_rate`): an N×N
      float64 matrix whose row i is exp(−(y_i − y_j)²/2σ²), normalised to sum to one, then one partner per row drawn
      from its row (the research code draws `np.random.choice(N, p=P[i])` for the anchors of each batch; one epoch
      draws one partner per row, which is what is timed here). The research code fills the matrix with one
      `sklearn.neighbors.KernelDensity` fit and `score_samples` per row, in a Python loop: that would take hours at
      N = 3·10^4, so this benchmark builds the same matrix vectorised (row blocks of about 64 MiB of labels
      differences, squared, scaled and exponentiated in place, then normalised) and draws the partners by inverse
      CDF (a cumulative sum and a binary search per row, again by row blocks). Its time is therefore a lower bound
      for the research code, and so is its memory: the research code appends N float64 rows to a list and then
      copies them into one `np.array`, holding two N×N copies for a moment. What matters is the N×N float64 matrix,
      8·N² bytes, which both have.

    Labels are standard normal, float32 (1-D, and 2-D for the K-D series), bandwidth σ = 0.1 by default (`--sigma`).

How time and memory are measured
    Every (method, labels, N) runs in a fresh Python subprocess (this script with a hidden `--child` flag), so the
    peak of one measurement cannot be inherited from another. The child imports torch and hfmix, pins torch to one
    thread (`--threads`, default 1, as in benchmarks/overhead.py: the machine is a shared 2-core VM), draws the
    labels, runs the method once on the first 1,000 labels to warm up (lazy initialisation), collects garbage,
    resets the kernel's resident-set high-water mark (writing 5 to /proc/self/clear_refs, Linux ≥ 4.0) and reads
    the resident set size (VmRSS) as the baseline, right before the call. `peak memory` = VmHWM after the call −
    that baseline: everything the call made resident (torch's CPU allocator returns big blocks to the system, so
    this is the call's own peak). Where clear_refs cannot be written, the baseline is the VmHWM before the call,
    which can only under-count (the table says so). `time` is the `time.perf_counter` wall time of that first call;
    calls under 0.5 s are repeated, up to 5 calls in all, and the fastest is reported.

    The dense method is never run where its matrix alone, 8·N² bytes, exceeds `--memory-limit-gib` (default 16 GiB,
    for a machine with 24 GB and other jobs on it): such a row says "out of memory (needs X GiB)" and is not run.
    The largest N whose matrix fits the limit, and the machine's total memory, are printed below the table.

Quality check
    Every row that ran also reports the mean partner distance, mean over i of |y_i − y_partner(i)| (the Euclidean
    norm for 2-D labels), against its value in the limit N → ∞ (self-pairs then have no mass). For standard normal
    labels the partner offset d = y_partner − y_i given y_i is normal with mean −y_i·σ²/(1+σ²) and variance
    σ²/(1+σ²), so over all i, d ~ N(0, s²) per coordinate with s² = σ²(1 + 2σ²)/(1 + σ²)² (s = 0.99995σ at
    σ = 0.1): the expected mean distance is s·sqrt(2/π) for 1-D labels and s·sqrt(π/2) for 2-D (Rayleigh). At small
    N the measured value is somewhat lower, because the self-pair (distance 0) carries a noticeable share of each
    row's mass: 1/Z_i with Z_i ≈ 1 + (N − 1)·σ·sqrt(2π)·density(y_i) in 1-D and 1 + (N − 1)·2πσ²·density(y_i) in
    2-D (about 1 + N·σ² at the centre: a quarter of the rows keep themselves at N = 10^3, σ = 0.1). The note gives
    the share of self-pairs and the ratio over the other rows as well, which is close to 1 at every N. A sampler
    that cheated (a narrower window, the wrong kernel, partners from the neighbours in sorted order) would miss the
    ratio by far more than that.

Runtime
    The default run (hfmix 1-D at N = 10^3 ... 10^7, hfmix 2-D at 10^3, 10^4, 3·10^4, dense at 10^3, 10^4,
    3·10^4 and the sizes it cannot hold) took about 3 to 4 minutes on one thread of a shared 2-core EPYC VM: hfmix at
    N = 10^7 alone takes ~45 s, and the 2-D path and the dense matrix are O(N²) in time (which is why their series
    stop at 3·10^4). `--quick` runs up to N = 10^4 in a few seconds, as a smoke test.

Usage
    python benchmarks/cmixup_scaling.py                           # the default series, a few minutes
    python benchmarks/cmixup_scaling.py --quick                   # smoke run, seconds
    python benchmarks/cmixup_scaling.py --sizes 1e6 --kd-sizes --dense-sizes 2e4 --sigma 0.05
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from harness.machine import command_line, measurement_footer, total_memory
from harness.memory import GIB, MIB, peak_note, run_child, time_and_peak


SIZES = (10**3, 10**4, 10**5, 10**6, 10**7)
KD_SIZES = (10**3, 10**4, 3 * 10**4)
DENSE_SIZES = (10**3, 10**4, 3 * 10**4, 5 * 10**4, 10**5, 10**6, 10**7)
QUICK_SIZES, QUICK_KD_SIZES, QUICK_DENSE_SIZES = (10**3, 10**4), (10**3,), (10**3, 10**4, 10**5)
WARMUP_ROWS = 1000
MIN_TIMED_S, MAX_CALLS = 0.5, 5


@dataclass
class Row:
    method: str
    dims: int
    n: int
    seconds: float | None = None
    peak: int | None = None
    note: str = ""


# ------------------------------------------------------------------------------------------------------- set-up
def size(text: str) -> int:
    """An N given as 1000, 1e4 or 3e4."""
    value = float(text)
    if not (value >= 1 and value == int(value)):
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text}")
    return int(value)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", type=size, nargs="*", default=None, help="N for hfmix, 1-D labels.")
    parser.add_argument("--kd-sizes", type=size, nargs="*", default=None, help="N for hfmix, 2-D labels (O(N²)).")
    parser.add_argument("--dense-sizes", type=size, nargs="*", default=None, help="N for the dense N×N matrix.")
    parser.add_argument("--quick", action="store_true", help="Smoke run: N up to 10^4 (defaults of the lists).")
    parser.add_argument("--sigma", type=float, default=0.1, help="Kernel bandwidth σ, in label units.")
    parser.add_argument(
        "--memory-limit-gib",
        type=float,
        default=16.0,
        help="Do not run the dense method where its N×N float64 matrix (8·N² bytes) exceeds this many GiB.",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads; 0 = torch's default.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", nargs=3, metavar=("METHOD", "DIMS", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.sigma > 0 or not args.memory_limit_gib > 0 or args.threads < 0:
        parser.error("--sigma and --memory-limit-gib must be > 0, --threads >= 0.")
    if args.sizes is None:
        args.sizes = list(QUICK_SIZES if args.quick else SIZES)
    if args.kd_sizes is None:
        args.kd_sizes = list(QUICK_KD_SIZES if args.quick else KD_SIZES)
    if args.dense_sizes is None:
        args.dense_sizes = list(QUICK_DENSE_SIZES if args.quick else DENSE_SIZES)
    return args


# ------------------------------------------------------------------------------------------- the two samplers
def dense_partners(y, sigma: float, generator):
    """The C-Mixup research code's N×N float64 sampling matrix, built vectorised, then one partner per row."""
    import torch

    n = len(y)
    y = y.double()
    block = max(1, (64 * MIB) // (8 * n))  # rows per block of temporaries (the cumulative sums)
    rate = torch.empty((n, n), dtype=torch.float64)
    for start in range(0, n, block):
        rows = rate[start : start + block]
        torch.sub(y[start : start + block, None], y[None, :], out=rows)
        rows.square_().mul_(-1 / (2 * sigma**2)).exp_()
        rows.div_(rows.sum(1, keepdim=True))
    partners = torch.empty(n, dtype=torch.long)
    for start in range(0, n, block):
        cdf = rate[start : start + block].cumsum(1)
        u = torch.rand((len(cdf), 1), generator=generator, dtype=torch.float64) * cdf[:, -1:]
        partners[start : start + block] = torch.searchsorted(cdf, u).squeeze(1).clamp_(max=n - 1)
    return partners


def sampler(method: str, sigma: float) -> Callable:
    if method == "dense":
        return lambda y, g: dense_partners(y, sigma, g)
    from hfmix.pairing import dataset_label_similarity_partners

    return lambda y, g: dataset_label_similarity_partners(y, sigma, generator=g)


def expected_distance(sigma: float, dims: int) -> float:
    """Mean partner distance as N → ∞ for standard normal labels (see the module docstring)."""
    s = sigma * math.sqrt(1 + 2 * sigma**2) / (1 + sigma**2)
    return s * (math.sqrt(2 / math.pi) if dims == 1 else math.sqrt(math.pi / 2))


# ------------------------------------------------------------------------------------------- one measurement


def child(args: argparse.Namespace) -> None:
    """Measure one (method, dims, N) in this fresh process and print one JSON line."""
    method, dims, n = args.child[0], int(args.child[1]), int(args.child[2])
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    draw = sampler(method, args.sigma)
    generator = torch.Generator().manual_seed(args.seed)
    y = torch.randn((n,) if dims == 1 else (n, dims), generator=generator)
    draw(y[:WARMUP_ROWS], generator)
    measured = time_and_peak(
        lambda: draw(y, generator), more=lambda times: sum(times) < MIN_TIMED_S and len(times) < MAX_CALLS
    )
    first = measured.first
    distances = (y - y[first]).abs() if dims == 1 else (y - y[first]).norm(dim=1)
    others = first != torch.arange(n)
    result = {
        "seconds": min(measured.times),
        "calls": len(measured.times),
        "peak": measured.peak,
        "exact_peak": measured.exact_peak,
        "distance": distances.double().mean().item(),
        "other_distance": distances[others].double().mean().item() if others.any() else float("nan"),
        "self": 1 - others.double().mean().item(),
    }
    print(json.dumps(result))


def measure(args: argparse.Namespace, method: str, dims: int, n: int) -> Row:
    row = Row(method, dims, n)
    if method == "dense" and 8 * n * n > args.memory_limit_gib * GIB:
        row.note = (
            f"out of memory (needs {8 * n * n / GIB:,.1f} GiB for the N×N float64 matrix > limit "
            f"{args.memory_limit_gib:g} GiB); not run"
        )
        return row
    arguments = ["--child", method, str(dims), str(n)]
    arguments += ["--sigma", repr(args.sigma), "--threads", str(args.threads), "--seed", str(args.seed)]
    result, failure = run_child(__file__, arguments, args.threads)
    if result is None:
        row.note = failure
        return row
    row.seconds, row.peak = result["seconds"], result["peak"]
    expected = expected_distance(args.sigma, dims)
    notes = [
        f"mean partner distance {result['distance']:.4f} vs {expected:.4f} as N→∞ "
        f"(ratio {result['distance'] / expected:.3f}); self-pairs {100 * result['self']:.1f}%, ratio without "
        f"them {result['other_distance'] / expected:.3f}"
    ]
    if method == "dense":
        notes.append(f"matrix {8 * n * n / MIB:,.0f} MiB")
    if result["calls"] > 1:
        notes.append(f"fastest of {result['calls']} calls")
    notes += peak_note(result["exact_peak"])
    row.note = "; ".join(notes)
    return row


# ------------------------------------------------------------------------------------------------------- report


def report(args: argparse.Namespace, rows: list[Row], command: str, elapsed: float) -> str:
    lines = [
        "## Dataset-level C-Mixup partner sampling: time and peak memory",
        "",
        f"- command: `{command}`",
        f"- labels: standard normal, float32; σ = {args.sigma:g}; one partner per row, self-pairs allowed",
        f"- dense limit: {args.memory_limit_gib:g} GiB for the N×N float64 matrix",
        "",
        "| method | labels | N | time (s) | peak memory (MiB) | note |",
        "|---|---|---:|---:|---:|---|",
    ]
    for row in rows:
        seconds = "-" if row.seconds is None else f"{row.seconds:.3f}"
        peak = "-" if row.peak is None else f"{row.peak / MIB:,.1f}"
        lines.append(f"| {row.method} | {row.dims}-D | {row.n:,} | {seconds} | {peak} | {row.note} |")
    memory = total_memory()
    fits_limit = math.isqrt(int(args.memory_limit_gib * GIB) // 8)
    lines += [
        "",
        (
            f"The dense N×N float64 matrix fits the {args.memory_limit_gib:g} GiB limit up to N = {fits_limit:,}"
            + (
                f"; the machine's whole memory ({memory / GIB:.1f} GiB) would hold it up to N = "
                f"{math.isqrt(memory // 8):,} with nothing else running (the research code's list-then-array "
                f"copy needs twice that: N = {math.isqrt(memory // 16):,})."
                if memory
                else "."
            )
        ),
        "",
        *measurement_footer(args.threads, elapsed),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        child(args)
        return
    command = command_line("benchmarks/cmixup_scaling.py", argv)
    plan = [("hfmix", 1, n) for n in args.sizes] + [("hfmix", 2, n) for n in args.kd_sizes]
    plan += [("dense", 1, n) for n in args.dense_sizes]
    started = time.perf_counter()
    rows = []
    for method, dims, n in plan:
        rows.append(measure(args, method, dims, n))
        row = rows[-1]
        took = "not run" if row.seconds is None else f"{row.seconds:.2f} s, {row.peak / MIB:,.0f} MiB"
        print(f"{method} {dims}-D N={n:,}: {took}", file=sys.stderr, flush=True)
    print(report(args, rows, command, time.perf_counter() - started))


if __name__ == "__main__":
    main()
