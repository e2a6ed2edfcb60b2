"""What the benchmarks share, written once:

- `stats`: mean ± sample std over seeds, paired differences to a baseline, and the "within one std" reading;
- `grid`: a resumable grid of runs (every combination of a few axes, one JSON line per finished run);
- `memory`: peak resident memory of one call, measured in a fresh process;
- `timing`: median times of functions called in turn;
- `machine`: where a benchmark ran (CPU, memory, threads, versions), its command line, and quiet library logging.

A benchmark script imports these as `harness.stats` etc.: `python benchmarks/NAME.py` puts `benchmarks/` first
on `sys.path`.
"""
