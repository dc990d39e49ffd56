"""The registry's two figures (issue 6).

1. Listing: a registry of `--entries` entries named `bench/v{span}_{version}-train`
   (100 versions per span); the time of `Registry.ls` and `Registry.resolve` with
   the pattern `bench/v{SPAN}_{VERSION}-train` (one `FileSystems.match`, then
   one manifest read per selected entry). Target: under 3 s for 10,000 entries.
   One entry is pushed for real; the others are copies of its folder with
   their own manifest (the layout `push` writes), which is much faster to make.
2. Reading: `beam-ingest run` on the `--rows`-row taxi CSV directly and from
   a registry entry holding the same file (checksums verified, the schema
   stored at push used instead of inference). Target: the registry adds under
   10% to the wall time. Each command runs `--repeats` times, alternating; the
   median is reported.

Usage: .venv/bin/python benchmarks/registry_figures.py [--entries N] [--rows N]
Writes benchmarks/work/registry_figures.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from _workloads import make_taxi_csv  # noqa: E402

from beam_ingest.registry import Registry  # noqa: E402


def _listing(work: Path, entries: int) -> dict:
    root = work / "registry_list"
    if not (root / ".complete").exists() or (root / ".complete").read_text() != str(entries):
        shutil.rmtree(root, ignore_errors=True)
        seed = work / "seed.csv"
        seed.write_text("a,b\n1,x\n2,y\n")
        registry = Registry(str(root))
        first = registry.push("bench/v0_0-train", [str(seed)], format="csv")
        template = first.to_json()
        source = root / "bench" / "v0_0-train"
        for i in range(1, entries):
            name = f"bench/v{i // 100}_{i % 100}-train"
            folder = root / name
            (folder / "files").mkdir(parents=True)
            shutil.copyfile(source / "files" / "seed.csv", folder / "files" / "seed.csv")
            (folder / "manifest.json").write_text(json.dumps({**template, "name": name}))
        (root / ".complete").write_text(str(entries))
    registry = Registry(str(root))
    pattern = "bench/v{SPAN}_{VERSION}-train"
    started = time.perf_counter()
    names = registry.ls(pattern)
    ls_seconds = time.perf_counter() - started
    started = time.perf_counter()
    selected, _ = registry.resolve(pattern)
    resolve_seconds = time.perf_counter() - started
    assert len(names) == entries, len(names)
    return {
        "entries": entries,
        "ls_seconds": round(ls_seconds, 3),
        "resolve_seconds": round(resolve_seconds, 3),
        "selected": [e.name for e in selected],
    }


def _run(argv: list[str], out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "beam_ingest.cli", *argv, "--output", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def _reading(work: Path, rows: int, repeats: int) -> dict:
    csv = make_taxi_csv(rows, HERE / "work" / "data")
    root = work / "registry_read"
    registry = Registry(str(root))
    name = f"taxi/v{rows}_1"
    push_seconds = None
    if not registry.exists(name):
        started = time.perf_counter()
        registry.push(name, [str(csv)], format="csv")
        push_seconds = round(time.perf_counter() - started, 3)
    direct, from_registry = [], []
    for _ in range(repeats):
        direct.append(_run(["run", "--format", "csv", "--input", str(csv)], work / "out_direct"))
        from_registry.append(
            _run(["run", "--registry", str(root), "--input", name], work / "out_registry")
        )
    a, b = statistics.median(direct), statistics.median(from_registry)
    return {
        "rows": rows,
        "bytes": os.path.getsize(csv),
        "push_seconds": push_seconds,
        "direct_seconds": [round(s, 2) for s in direct],
        "registry_seconds": [round(s, 2) for s in from_registry],
        "overhead": round(b / a - 1, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = HERE / "work" / "registry_figures"
    work.mkdir(parents=True, exist_ok=True)
    result = {
        "listing": _listing(work, args.entries),
        "reading": _reading(work, args.rows, args.repeats),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    (HERE / "work" / "registry_figures.json").write_text(json.dumps(result, indent=2))
    listing, reading = result["listing"], result["reading"]
    print("| figure | target | measured |\n| --- | --- | --- |")
    print(
        f"| ls of {listing['entries']:,} entries, span pattern | < 3 s | "
        f"{listing['ls_seconds']} s (resolve: {listing['resolve_seconds']} s) |"
    )
    print(
        f"| read {reading['rows']:,}-row taxi CSV from the registry vs directly | < +10% | "
        f"{reading['overhead']:+.1%} (median of {args.repeats}: "
        f"{statistics.median(reading['registry_seconds'])} s vs "
        f"{statistics.median(reading['direct_seconds'])} s) |"
    )


if __name__ == "__main__":
    main()
