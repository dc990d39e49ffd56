"""The checks and medians of benchmarks/run.py's runs.

`check_counts` lists the problems (a run missing rows, tools that write TFX's
examples disagreeing, a tool splitting differently between repeats); `summarise`
gives each (format, rows, tool) its medians over the repeats.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from _plan import ALL_FORMATS, TABLE_FORMATS, TOOL_IDS, Workload, exact
from _tools import RunResult
from _workloads import TAXI_CSV


def rows_for_every_column(source: Path = TAXI_CSV) -> int:
    """The fewest leading rows of the taxi data in which every column has a value."""
    import pyarrow.csv as pa_csv

    table = pa_csv.read_csv(source)
    firsts = []
    for column in table.columns:
        valid = column.is_valid().to_pylist()
        firsts.append(valid.index(True) if True in valid else len(valid))
    return max(firsts) + 1


def check_counts(results: list[RunResult], workloads: list[Workload]) -> list[str]:
    """Problems: a run missing rows, exact tools disagreeing, a tool changing between repeats."""
    problems = []
    for r in results:
        if sum(r.splits.values()) != r.rows:
            problems.append(
                f"{r.fmt} {r.rows:,}: {r.label} #{r.repeat} wrote {sum(r.splits.values()):,} "
                f"examples, expected {r.rows:,}"
            )
    for w in workloads:
        for tool in {r.tool for r in results if (r.fmt, r.rows) == (w.fmt, w.rows)}:
            runs = [r for r in results if (r.fmt, r.rows, r.tool) == (w.fmt, w.rows, tool)]
            seen = {json.dumps(r.splits, sort_keys=True) for r in runs}
            if len(seen) > 1 and exact(tool, w.fmt):
                problems.append(
                    f"{w.name}: {runs[0].label} split differently between repeats: "
                    + "; ".join(sorted(seen))
                )
    every_column = rows_for_every_column()
    groups: dict[tuple[str, int], list[RunResult]] = {}
    for r in results:
        if exact(r.tool, r.fmt):
            key = ("tables", r.rows) if r.fmt in TABLE_FORMATS and r.rows >= every_column else None
            groups.setdefault(key or (r.fmt, r.rows), []).append(r)
    for (what, rows), runs in groups.items():
        by_counts: dict[str, list[str]] = {}
        for r in runs:
            name = f"{r.fmt} {r.label}"
            by_counts.setdefault(json.dumps(r.splits, sort_keys=True), [])
            if name not in by_counts[json.dumps(r.splits, sort_keys=True)]:
                by_counts[json.dumps(r.splits, sort_keys=True)].append(name)
        if len(by_counts) > 1:
            scope = "all table formats" if what == "tables" else what
            problems.append(
                f"{scope}, {rows:,} rows: examples per split differ between tools: "
                + "; ".join(f"{', '.join(names)}: {c}" for c, names in by_counts.items())
            )
    return problems


# ---------------------------------------------------------------- summary


@dataclass(frozen=True)
class Summary:
    label: str
    wall_s: float  # medians over the repeats
    peak_mb: float
    pss_mb: float
    processes: int
    cpu: str
    walls: tuple[float, ...]


def order(key: tuple[str, int, str]) -> tuple[int, int, int]:
    """(format, rows, tool) sorted by rows, then format and tool in their listed order."""
    fmt, rows, tool = key
    return rows, ALL_FORMATS.index(fmt), TOOL_IDS.index(tool)


def summarise(results: list[RunResult]) -> dict[tuple[str, int, str], Summary]:
    """{(format, rows, tool): Summary}."""
    keys = sorted({(r.fmt, r.rows, r.tool) for r in results}, key=order)
    out = {}
    for key in keys:
        runs = [r for r in results if (r.fmt, r.rows, r.tool) == key]
        ms = [r.measurement for r in runs]
        out[key] = Summary(
            label=runs[0].label,
            wall_s=statistics.median(m.wall_s for m in ms),
            peak_mb=statistics.median(m.peak_rss_kb for m in ms) * 1024 / 1e6,
            pss_mb=statistics.median(m.tree_pss_kb for m in ms) * 1024 / 1e6,
            processes=max(m.processes for m in ms),
            cpu=ms[len(ms) // 2].cpu_percent,
            walls=tuple(m.wall_s for m in ms),
        )
    return out


def ratio(summaries: dict, fmt: str, rows: int, num: str, den: str) -> float | None:
    a, b = summaries.get((fmt, rows, num)), summaries.get((fmt, rows, den))
    return a.wall_s / b.wall_s if a and b else None
