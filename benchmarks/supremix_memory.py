"""SupReMix loss: peak memory and step time of hfmix's loss against the research code's dense formulation.

What it measures
    One forward + backward step of the SupReMix loss (Wu et al., "Mixup Your Own Pairs", arXiv:2309.16633) on a
    batch of B examples with 2 views each, features (B, 2, D) (D = 384 by default), so N = 2B rows, and age-like
    labels: integers drawn uniformly from [0, 100), as float (ties exist, so real positives exist beyond the other
    view), by:

    * `hfmix` - `hfmix.losses.supremix_loss` with its defaults (temperature 0.3, L1_inv distance
      weights, one Mix-neg mixture per (anchor, row) pair with α ~ Beta(2, 8), `num_positive_mixtures` = 32 Mix-pos
      pairs per anchor, gradients through the mixtures), except `positive_window` = 5 (`--window`), the research
      code's `--n 5`. The mixtures are drawn inside the call, so the step time includes drawing them. Every mixture
      logit comes from the N×N Gram matrix: O(N² + N·P) memory.
    * `dense` - a self-contained re-implementation of what the SupReMix research code does per step
      (`train_supremix.py`: `mixing_func`, then `supremix_loss.py`: `SupConLoss_v2` with `use_weight`, distance
      `L1_inv`): with y the labels of the N = 2B views (views of example r at rows r and r + B),
        - an (N, N, N, D) float32 mixture tensor, an (N, N, N) float32 mask (−1 unused, 0 Mix-neg, 1 Mix-pos) and
          an (N, N, N) float32 mixture-label tensor, all zero-/minus-one-initialised;
        - Mix-neg slots (i, j, k): i == j, k ≠ i, y_j ≠ y_k; mixture α·z_j + (1 − α)·z_k, α ~ Beta(2, 8) per slot,
          label α·y_j + (1 − α)·y_k;
        - Mix-pos slots: y_j < y_i < y_k with y_i − y_j < n and y_k − y_i < n (n = 5); α = (y_k − y_i)/(y_k − y_j)
          (clamped to [0, 1]); label y_i;
        - the mixtures are detached (the research code builds them from a CPU copy and detaches them), viewed as
          (N, N², D) and multiplied with the anchors by one `bmm`, giving (N, N²) mixture logits, concatenated with
          the (N, N) real-pair logits; the denominator weights every candidate by |y_i − y_a| + 1 (L1_inv), the
          numerator averages the log-probabilities over the real rows with the same label and the Mix-pos slots.
      The features are L2-normalised first (the research code feeds its projection head's output; hfmix
      normalises by default). The research code then compresses the mixture columns (`compress_mixtures`) before
      the loss; that step is left out (the full (N, N², D) tensor goes into the `bmm`): the (N, N, N, D) tensor is
      resident either way, and it is what dominates memory. The research code also builds the mixtures on the CPU
      and moves them to the GPU; here everything runs on the CPU, with torch pinned to one thread.

    The research code stabilises its log-sum-exp with two maxima, one over the real-pair logits and one over the
    mixture logits, and concatenates the shifted logits into one softmax; that reweights mixtures against real pairs
    by exp(max_mix − max_real) and changes the loss value. The timed dense step does that (`split` stabiliser, as
    the research code); the equality check below uses the same dense code with one joint stabiliser (`joint`),
    which is the loss as stated in the paper and computed by hfmix. The cost of the two is the same.

    The dense formulation needs N³·(D + 2)·4 bytes for its three (N, N, N) tensors (3.0 GiB at B = 64, D = 384;
    193 GiB, i.e. 207 GB, at B = 256). Where that exceeds `--memory-limit-gib` (default 16 GiB) it is not run and
    the table says "out of memory (needs X GiB)".

Equality check (before the measurements, in this process)
    On tiny batches (B = 4, so N = 8, D = 8, labels integers in [0, 6) so that ties and Mix-pos triples exist, and
    window n = 5), the dense formulation with the joint stabiliser and `supremix_loss` are given the same mixtures:
    the dense code's Mix-neg α for slot (i, i, k) is α_ik of one (N, N) Beta(2, 8) draw, which becomes
    `SupReMixMixtures.negative_alpha`; and hfmix's Mix-pos pairs are not sampled but enumerate every valid (j, k) of
    every anchor (padded with invalid pairs to the longest row), so both sides see exactly the same candidates and
    positives, Mix-neg and Mix-pos together. hfmix runs with `detach_mixtures=True`, as the dense code, so the
    gradients with respect to the (B, 2, D) features are compared too. The check reports the largest loss and
    gradient differences over `--check-batches` batches, and how far the research code's split stabiliser moves the
    loss on the same batches.

How time and memory are measured
    Every (implementation, B) runs in a fresh Python subprocess (this script with a hidden `--child` flag), so the
    peak of one measurement cannot be inherited from another. The child pins torch to one thread (`--threads`,
    default 1, as benchmarks/overhead.py: the machine is a shared 2-core VM), builds the features (a leaf tensor
    that requires grad) and labels, runs one untimed step on a B = 4 batch (lazy initialisation), collects garbage,
    resets the kernel's resident-set high-water mark (writing 5 to /proc/self/clear_refs) and reads the resident
    set size (VmRSS) as the baseline right before the first timed step. `peak memory` = VmHWM after that step −
    the baseline: everything the step (forward and backward) made resident; torch's CPU allocator hands big blocks
    back to the system, so this is the step's own peak (tracemalloc cannot see torch's allocations). Where
    clear_refs cannot be written, the baseline is the VmHWM before the step, which can only under-count (the note
    says so). `step time` is the median wall time of `--repeats` steps (default 5; fewer for slow steps, once
    `--max-seconds` have been spent after at least 2 steps).

Runtime
    The default run (B = 32, 64, 256, 1024 for both; dense runs at B = 32 and 64 only) took about 1 minute on one
    thread of a shared 2-core EPYC VM (the dense step at B = 64 takes ~3 s); `--quick` (B = 16, 32) takes about
    25 s, mostly the start-up of the subprocesses.

Usage
    python benchmarks/supremix_memory.py                 # the default series
    python benchmarks/supremix_memory.py --quick         # smoke run, seconds
    python benchmarks/supremix_memory.py --sizes 64 128 --dim 128 --memory-limit-gib 8
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
import warnings
from dataclasses import dataclass

from harness.machine import command_line, measurement_footer
from harness.memory import GIB, MIB, peak_note, run_child, time_and_peak


SIZES = (32, 64, 256, 1024)
QUICK_SIZES = (16, 32)
WARMUP_BATCH = 4
CHUNK = 2**16  # Mix-pos slots filled per chunk (the research code fills them in chunks as well)


@dataclass
class Row:
    method: str
    batch: int
    dim: int
    seconds: float | None = None
    peak: int | None = None
    note: str = ""

    @property
    def rows(self) -> int:
        return 2 * self.batch


# ------------------------------------------------------------------------------------------------------- set-up
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="Batch sizes B (N = 2B rows).")
    parser.add_argument("--quick", action="store_true", help=f"Smoke run: B = {', '.join(map(str, QUICK_SIZES))}.")
    parser.add_argument("--dim", type=int, default=384, help="Feature dimension D.")
    parser.add_argument("--window", type=float, default=5.0, help="Mix-pos label window n (research code: 5).")
    parser.add_argument("--temperature", type=float, default=0.3)
    parser.add_argument(
        "--memory-limit-gib",
        type=float,
        default=16.0,
        help="Do not run the dense formulation where its (N, N, N) tensors, N³·(D + 2)·4 bytes, exceed this.",
    )
    parser.add_argument("--repeats", type=int, default=5, help="Timed steps per measurement (median reported).")
    parser.add_argument("--max-seconds", type=float, default=30.0, help="Stop repeating after this (>= 2 steps).")
    parser.add_argument("--check-batches", type=int, default=5, help="Tiny batches for the equality check.")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads; 0 = torch's default.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "B"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sizes is None:
        args.sizes = list(QUICK_SIZES if args.quick else SIZES)
    if min(args.sizes) < 2 or args.dim < 1 or args.repeats < 1 or args.check_batches < 0 or args.threads < 0:
        parser.error("--sizes must be >= 2, --dim and --repeats >= 1, --check-batches and --threads >= 0.")
    if not (args.window > 0 and args.temperature > 0 and args.memory_limit_gib > 0 and args.max_seconds > 0):
        parser.error("--window, --temperature, --memory-limit-gib and --max-seconds must be > 0.")
    return args


def dense_bytes(batch: int, dim: int) -> int:
    """Bytes of the dense formulation's (N, N, N, D) mixtures and (N, N, N) mask and labels, float32."""
    n = 2 * batch
    return n**3 * (dim + 2) * 4


# --------------------------------------------------------------------------------- the dense formulation
def dense_supremix_loss(features, labels, negative_alpha, *, window: float, temperature: float, stabiliser: str):
    """SupReMix as the research code computes it, with dense (N, N, N, D) mixtures (see the module docstring).

    Args:
        features: (B, 2, D) float32, two views per example (normalised here).
        labels: (B,) float labels.
        negative_alpha: (N, N) weights; the Mix-neg mixture of slot (i, i, k) uses negative_alpha[i, k].
        stabiliser: 'split' (the research code: one max over the real-pair logits and another over the mixture
            logits) or 'joint' (one max over both: the loss as stated, as hfmix computes it).
    Returns: the scalar loss (mean over the N anchors).
    """
    import torch
    import torch.nn.functional as F

    batch, views, dim = features.shape
    z = F.normalize(torch.cat(features.unbind(1)), dim=-1)  # (N, D): views of example r at rows r and r + B
    y = labels.float().repeat(views)
    n = len(y)

    # ---- mixing: three (N, N, N) tensors, indexed [anchor i, first row j, second row k]
    source = z.detach()  # the research code mixes a detached CPU copy of the features
    mixtures = torch.zeros(n, n, n, dim)
    mixture_label = torch.zeros(n, n, n)
    mask = torch.full((n, n, n), -1.0)
    i = torch.arange(n).view(-1, 1, 1)
    j = torch.arange(n).view(1, -1, 1)
    k = torch.arange(n).view(1, 1, -1)
    y_i, y_j, y_k = y.view(-1, 1, 1), y.view(1, -1, 1), y.view(1, 1, -1)
    negative = (i == j) & (i != k) & (y_j != y_k)
    positive = (y_j < y_i) & (y_i < y_k) & (y_i - y_j < window) & (y_k - y_i < window)
    mask[negative] = 0.0
    mask[positive] = 1.0

    ii, jj, kk = negative.nonzero(as_tuple=True)
    alpha = negative_alpha.float()[ii, kk].unsqueeze(1)
    mixtures[ii, jj, kk] = alpha * source[jj] + (1 - alpha) * source[kk]
    mixture_label[ii, jj, kk] = alpha.squeeze(1) * y[jj] + (1 - alpha.squeeze(1)) * y[kk]

    slots = positive.nonzero()
    for start in range(0, len(slots), CHUNK):
        ii, jj, kk = slots[start : start + CHUNK].T
        alpha = ((y[kk] - y[ii]) / (y[kk] - y[jj]).clamp(min=1e-9)).clamp(0, 1).unsqueeze(1)
        mixtures[ii, jj, kk] = alpha * source[jj] + (1 - alpha) * source[kk]
        mixture_label[ii, jj, kk] = y[ii]
    del negative, positive, slots
    mixtures = mixtures.view(n, n * n, dim)  # (N, N², D), as `rearrange(..., 'b n m d -> b (n m) d')`
    mask = mask.view(n, n * n)
    mixture_label = mixture_label.view(n, n * n)

    # ---- SupCon_v2 with mixtures and L1_inv weights
    real_logits = z @ z.T / temperature  # (N, N)
    mixture_logits = torch.bmm(mixtures, z.unsqueeze(2)).squeeze(2) / temperature  # (N, N²)
    if stabiliser == "split":
        real_logits = real_logits - real_logits.max(1, keepdim=True).values.detach()
        mixture_logits = mixture_logits - mixture_logits.max(1, keepdim=True).values.detach()
        logits = torch.cat([real_logits, mixture_logits], dim=1)
    elif stabiliser == "joint":
        logits = torch.cat([real_logits, mixture_logits], dim=1)
        logits = logits - logits.max(1, keepdim=True).values.detach()
    else:
        raise ValueError(f"stabiliser must be 'split' or 'joint', got {stabiliser!r}")
    not_self = ~torch.eye(n, dtype=torch.bool)
    real_positive = (y[:, None] == y[None, :]) & not_self
    positive_mask = torch.cat([real_positive, mask == 1], dim=1)
    candidate_mask = torch.cat([not_self, mask != -1], dim=1)
    weights = torch.cat([(y[:, None] - y[None, :]).abs() + 1, (y[:, None] - mixture_label).abs() + 1], dim=1)
    denominator = (logits.exp() * candidate_mask * weights).sum(1, keepdim=True)
    log_prob = logits - denominator.log()
    mean_log_prob_positive = (positive_mask * log_prob).sum(1) / positive_mask.sum(1)
    return -mean_log_prob_positive.mean()  # τ / τ_base = 1, as the research script


def draw_negative_alpha(n: int, generator):
    """(N, N) Beta(2, 8) draws, from torch's generator (one per (anchor, row) pair; slot (i, i, k) uses [i, k])."""
    import numpy as np
    import torch

    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return torch.from_numpy(np.random.default_rng(seed).beta(2.0, 8.0, (n, n)))


# ---------------------------------------------------------------------------------------- equality check
def enumerated_mixtures(y, negative_alpha, window: float):
    """A `SupReMixMixtures` holding the dense code's Mix-neg α and every valid Mix-pos pair (j, k) of each anchor."""
    import torch

    from hfmix.losses import SupReMixMixtures

    y = y.double()
    n = len(y)
    pairs = []
    for i in range(n):
        below = [j for j in range(n) if y[j] < y[i] and y[i] - y[j] < window]
        above = [k for k in range(n) if y[i] < y[k] and y[k] - y[i] < window]
        pairs.append([(j, k) for j in below for k in above])
    width = max(1, max(len(p) for p in pairs))
    first = torch.zeros(n, width, dtype=torch.long)
    second = torch.zeros(n, width, dtype=torch.long)
    valid = torch.zeros(n, width, dtype=torch.bool)
    for i, row in enumerate(pairs):
        for p, (j, k) in enumerate(row):
            first[i, p], second[i, p], valid[i, p] = j, k, True
    alpha = torch.where(valid, (y[second] - y[:, None]) / (y[second] - y[first]), torch.ones(n, width).double())
    differs = y[:, None] != y[None, :]
    return SupReMixMixtures(negative_alpha.double(), differs, first, second, alpha, valid), int(valid.sum())


def equality_check(args: argparse.Namespace) -> list[str]:
    """Dense (joint stabiliser) against `supremix_loss` given the same mixtures, on tiny batches."""
    import torch

    from hfmix.losses import supremix_loss

    batch, dim = 4, 8
    generator = torch.Generator().manual_seed(args.seed)
    loss_gap = grad_gap = split_gap = 0.0
    negatives = positives = 0
    for _ in range(args.check_batches):
        features = torch.randn(batch, 2, dim, generator=generator)
        labels = torch.randint(0, 6, (batch,), generator=generator).float()
        y = labels.repeat(2)
        alpha = draw_negative_alpha(2 * batch, generator)
        mixtures, count = enumerated_mixtures(y, alpha, args.window)
        negatives += int(mixtures.negative_valid.sum())
        positives += count
        results = []
        for name in ("dense", "hfmix"):
            leaf = features.clone().requires_grad_(True)
            if name == "dense":
                loss = dense_supremix_loss(
                    leaf, labels, alpha, window=args.window, temperature=args.temperature, stabiliser="joint"
                )
            else:
                loss = supremix_loss(
                    leaf, labels, mixtures=mixtures, temperature=args.temperature, detach_mixtures=True
                )
            loss.backward()
            results.append((loss.detach(), leaf.grad))
        (dense_loss, dense_grad), (hfmix_loss, hfmix_grad) = results
        loss_gap = max(loss_gap, abs(float(dense_loss - hfmix_loss)))
        grad_gap = max(grad_gap, float((dense_grad - hfmix_grad).abs().max()))
        split = dense_supremix_loss(
            features, labels, alpha, window=args.window, temperature=args.temperature, stabiliser="split"
        )
        split_gap = max(split_gap, abs(float(split - dense_loss)))
    if args.check_batches == 0:
        return ["Equality check: skipped (--check-batches 0)."]
    passed = loss_gap < 1e-5 and grad_gap < 1e-5
    return [
        (
            f"Equality check ({'PASSED' if passed else 'FAILED'}, tolerance 1e-5): on {args.check_batches} batches "
            f"of B = {batch} (N = {2 * batch}), D = {dim}, labels integers in [0, 6), window {args.window:g}, "
            f"{negatives} Mix-neg and {positives} Mix-pos mixtures in all, the dense formulation with one joint "
            f"log-sum-exp stabiliser and `supremix_loss` given the same mixtures (Mix-neg α from the same draws, "
            f"every valid Mix-pos pair enumerated, `detach_mixtures=True`) differ by at most {loss_gap:.2e} in the "
            f"loss and {grad_gap:.2e} in the gradient w.r.t. the features. The research code's split stabiliser "
            f"(separate maxima for real pairs and mixtures) moves the loss by up to {split_gap:.3f} on the same "
            "batches."
        )
    ]


# ------------------------------------------------------------------------------------------- one measurement


def child(args: argparse.Namespace) -> None:
    """Measure one (method, B) in this fresh process and print one JSON line."""
    method, batch = args.child[0], int(args.child[1])
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    import torch

    from hfmix.losses import supremix_loss

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(args.seed)

    def step(features, labels) -> float:
        if method == "dense":
            alpha = draw_negative_alpha(2 * len(labels), generator)
            loss = dense_supremix_loss(
                features, labels, alpha, window=args.window, temperature=args.temperature, stabiliser="split"
            )
        else:
            loss = supremix_loss(
                features, labels, generator=generator, temperature=args.temperature, positive_window=args.window
            )
        loss.backward()
        features.grad = None
        return float(loss)

    def data(size: int):
        features = torch.randn(size, 2, args.dim, generator=generator).requires_grad_(True)
        return features, torch.randint(0, 100, (size,), generator=generator).float()

    step(*data(WARMUP_BATCH))
    features, labels = data(batch)
    measured = time_and_peak(
        lambda: step(features, labels),
        more=lambda times: len(times) < args.repeats and (len(times) < 2 or sum(times) < args.max_seconds),
    )
    result = {
        "seconds": statistics.median(measured.times),
        "steps": len(measured.times),
        "peak": measured.peak,
        "exact_peak": measured.exact_peak,
        "loss": measured.first,
    }
    print(json.dumps(result))


def measure(args: argparse.Namespace, method: str, batch: int) -> Row:
    row = Row(method, batch, args.dim)
    needed = dense_bytes(batch, args.dim)
    if method == "dense" and needed > args.memory_limit_gib * GIB:
        row.note = (
            f"out of memory (needs {needed / GIB:,.1f} GiB for the (N, N, N, D) mixtures, mask and labels > limit "
            f"{args.memory_limit_gib:g} GiB); not run"
        )
        return row
    arguments = ["--child", method, str(batch)]
    for flag in ("dim", "window", "temperature", "repeats", "max_seconds", "threads", "seed"):
        arguments += ["--" + flag.replace("_", "-"), repr(getattr(args, flag))]
    result, failure = run_child(__file__, arguments, args.threads)
    if result is None:
        row.note = failure
        return row
    row.seconds, row.peak = result["seconds"], result["peak"]
    notes = [f"loss {result['loss']:.3f}"]
    if method == "dense":
        notes.append(f"(N, N, N) tensors {needed / MIB:,.0f} MiB; split stabiliser, as the research code")
    else:
        notes.append("P = 32 Mix-pos per anchor, gradients through the mixtures")
    notes.append(f"median of {result['steps']} steps")
    notes += peak_note(result["exact_peak"])
    row.note = "; ".join(notes)
    return row


# ------------------------------------------------------------------------------------------------------- report


def report(args: argparse.Namespace, rows: list[Row], check: list[str], command: str, elapsed: float) -> str:
    lines = [
        "## SupReMix loss: peak memory and step time, hfmix against the dense (N, N, N, D) formulation",
        "",
        f"- command: `{command}`",
        (
            f"- batch: features (B, 2, D) with standard normal entries (L2-normalised in the loss), labels integers "
            f"in [0, 100) as float; temperature {args.temperature:g}, L1_inv weights, Mix-neg α ~ Beta(2, 8), Mix-pos "
            f"window {args.window:g}; one step = forward + backward of the loss, mixtures drawn inside the step"
        ),
        f"- dense limit: {args.memory_limit_gib:g} GiB for its (N, N, N) tensors, N³·(D + 2)·4 bytes",
        "",
        "| implementation | B | N = 2B | D | step time (s) | peak memory (MiB) | note |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        seconds = "-" if row.seconds is None else f"{row.seconds:.4f}"
        peak = "-" if row.peak is None else f"{row.peak / MIB:,.1f}"
        lines.append(f"| {row.method} | {row.batch:,} | {row.rows:,} | {row.dim} | {seconds} | {peak} | {row.note} |")
    measured = {(row.method, row.batch): row for row in rows if row.seconds is not None}
    ratios = [
        f"B = {row.batch:,}: dense takes {row.peak / max(fast.peak, 1):,.0f}× hfmix's peak memory and "
        f"{row.seconds / fast.seconds:,.0f}× its step time"
        for (method, batch), row in measured.items()
        if method == "dense" and (fast := measured.get(("hfmix", batch))) is not None
    ]
    lines += [
        "",
        *(["Ratios (dense / hfmix): " + "; ".join(ratios) + "."] if ratios else []),
        "",
        *check,
        "",
        *measurement_footer(args.threads, elapsed),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        child(args)
        return
    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    command = command_line("benchmarks/supremix_memory.py", argv)
    started = time.perf_counter()
    check = equality_check(args)
    print(check[0], file=sys.stderr, flush=True)
    rows = []
    for method in ("hfmix", "dense"):
        for batch in args.sizes:
            rows.append(measure(args, method, batch))
            row = rows[-1]
            took = "not run" if row.seconds is None else f"{row.seconds:.3f} s, {row.peak / MIB:,.0f} MiB"
            print(f"{method} B={batch:,}: {took}", file=sys.stderr, flush=True)
    print(report(args, rows, check, command, time.perf_counter() - started))


if __name__ == "__main__":
    main()
