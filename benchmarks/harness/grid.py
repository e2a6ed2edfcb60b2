"""A resumable grid of benchmark runs, for the seed × method comparisons.

The grid is every combination of a few axes (seed, method, training size, ...), planned seed-major so that a
partial file already covers every cell of the tables. Each finished run is one JSON line in a file, stored with the
settings it depended on; a later invocation with the same settings skips the runs already there (an interrupted
benchmark resumes), and a stored run of a planned point with other settings is an error. A new setting of a
benchmark is a new entry of its settings dict, not a new script.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from harness.machine import quiet


Row = dict[str, Any]


class ResumableGrid:
    """Runs at every point of `axes`, stored in the JSON-lines file `path`.

    `axes` maps each axis name to its values, outermost first: the order in which runs are planned (put "seed"
    first). `key` names the axes in the order of a run's key tuple. `settings_of(point)` gives everything besides
    the axes that a run's scores depend on; it is stored in the row under "settings" and compared on resume.
    """

    def __init__(
        self,
        path: str,
        axes: Mapping[str, Sequence[Any]],
        key: Sequence[str],
        settings_of: Callable[[Mapping[str, Any]], dict[str, Any]],
    ) -> None:
        if sorted(key) != sorted(axes):
            raise ValueError(f"key {list(key)} must name each axis of {list(axes)} once.")
        self.path, self.axes, self.key, self.settings_of = path, dict(axes), tuple(key), settings_of

    def key_of(self, point: Mapping[str, Any]) -> tuple:
        """The key tuple of a planned point or a stored row."""
        return tuple(point[name] for name in self.key)

    def plan(self) -> list[Row]:
        """Every point of the grid, outermost axis first, each with its "settings"."""
        points = [dict(zip(self.axes, values, strict=True)) for values in itertools.product(*self.axes.values())]
        return [point | {"settings": self.settings_of(point)} for point in points]

    def load(self) -> dict[tuple, Row]:
        """The stored rows of planned runs, by key; exits with a message when one was run with other settings."""
        wanted = {self.key_of(p): p["settings"] for p in self.plan()}
        done: dict[tuple, Row] = {}
        if not os.path.exists(self.path):
            return done
        with open(self.path, encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        for row in rows:
            key = self.key_of(row)
            if key not in wanted:
                continue
            if row["settings"] != wanted[key]:
                point = ", ".join(f"{name} {value}" for name, value in zip(self.key, key, strict=True))
                raise SystemExit(
                    f"{self.path} holds {point} with other settings:\n"
                    f"  stored  {json.dumps(row['settings'], sort_keys=True)}\n"
                    f"  planned {json.dumps(wanted[key], sort_keys=True)}\n"
                    "Pass another --output (or the settings of that file)."
                )
            done[key] = row
        return done

    def pending(self, done: Mapping[tuple, Row]) -> list[Row]:
        """The planned runs not in `done`, in plan order; prints how many there are."""
        plan = self.plan()
        todo = [p for p in plan if self.key_of(p) not in done]
        print(
            f"{len(plan)} runs planned, {len(plan) - len(todo)} already in {self.path}, {len(todo)} to train.",
            flush=True,
        )
        return todo

    def record(self, row: Row, done: dict[tuple, Row]) -> None:
        """Append a finished run to the file at once, and to `done`."""
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        done[self.key_of(row)] = row

    def seed_rows(self, done: Mapping[tuple, Row], **cell: Any) -> list[Row]:
        """The stored runs of one cell (every axis but "seed" given), in the order of the seeds."""
        keys = (self.key_of(cell | {"seed": seed}) for seed in self.axes["seed"])
        return [done[key] for key in keys if key in done]

    def pairs(self, done: Mapping[tuple, Row], baseline: Mapping[str, Any], **cell: Any) -> list[tuple[Row, Row]]:
        """(run, baseline run) on each seed where both are stored; `baseline` overrides axes of `cell`, as
        {"method": "erm"}."""
        pairs = []
        for seed in self.axes["seed"]:
            treated, base = self.key_of(cell | {"seed": seed}), self.key_of({**cell, **baseline, "seed": seed})
            if treated in done and base in done:
                pairs.append((done[treated], done[base]))
        return pairs

    def run_then_report(
        self,
        train: Callable[[dict[tuple, Row]], None],
        report: Callable[[dict[tuple, Row], float], str],
        table_only: bool = False,
    ) -> None:
        """Load the stored runs, `train(done)` the rest with library logging quiet (unless `table_only`), and print
        `report(done, seconds this invocation took)`."""
        started = time.perf_counter()
        done = self.load()
        if not table_only:
            with quiet():
                train(done)
        print("\n" + report(done, time.perf_counter() - started), flush=True)

    def missing(self, done: Mapping[tuple, Row]) -> list[str]:
        """The planned runs not stored, as "a/b/c" in key order, in plan order."""
        keys = (self.key_of(p) for p in self.plan())
        return ["/".join(map(str, key)) for key in keys if key not in done]
