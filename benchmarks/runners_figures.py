"""The runners' figures (issue 8): one ingestion on each local runner setup.

The workload is the taxi CSV repeated to `--rows` rows (default 1,500,200: the
15,002 rows 100 times), written as one file or cut into `--files` files of
whole rows under the same header. Each setup runs `beam-ingest run --format
csv` once per layout under `/usr/bin/time -v` (start-up and imports included):

- DirectRunner in process (the default);
- DirectRunner `--direct_running_mode=multi_processing`, 1 and 2 workers;
- PortableRunner, embedded job service, LOOPBACK workers (Flink's path).

The target is 2 workers at least 1.6x faster than 1. A CSV file is one work
unit (the reader streams it), so with one file the second worker has no file
to read: the layout with several files is the one that can scale.

Usage: .venv/bin/python benchmarks/runners_figures.py [--rows N] [--files 1 4]
Writes benchmarks/work/runners_figures.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _measure import count_splits, machine_info, package_versions, timed_run  # noqa: E402
from _workloads import make_taxi_csv  # noqa: E402

CLI = Path(sys.executable).with_name("beam-ingest")
SETUPS = {
    "direct, in process": [],
    "direct, multi_processing, 1 worker": [
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=1",
    ],
    "direct, multi_processing, 2 workers": [
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=2",
    ],
    "portable, embed, LOOPBACK": [
        "--runner=PortableRunner",
        "--job_endpoint=embed",
        "--environment_type=LOOPBACK",
    ],
}


def split_csv(source: Path, files: int, folder: Path) -> Path:
    """source cut into `files` CSV files of whole lines, each with the header.

    The taxi CSV has no quoted line breaks, so a line is a row.
    """
    marker = folder / ".complete"
    if marker.is_file() and marker.read_text() == f"{source} {source.stat().st_size}":
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with source.open("rb") as f:
        header = f.readline()
        lines = f.readlines()
    per_file = -(-len(lines) // files)
    for i in range(files):
        with (folder / f"part-{i:03d}.csv").open("wb") as out:
            out.write(header)
            out.writelines(lines[i * per_file : (i + 1) * per_file])
    marker.write_text(f"{source} {source.stat().st_size}")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=15_002 * 100)
    parser.add_argument("--files", type=int, nargs="+", default=[1, 4], metavar="N")
    parser.add_argument("--work", type=Path, default=HERE / "work")
    args = parser.parse_args(argv)
    source = make_taxi_csv(args.rows, args.work / "data")
    results = {
        "rows": args.rows,
        "machine": machine_info(),
        "packages": package_versions(),
        "runs": [],
    }
    for files in args.files:
        folder = (
            source.parent
            if files == 1
            else split_csv(source, files, args.work / "data" / f"taxi_{args.rows}_in_{files}")
        )
        for setup, beam_args in SETUPS.items():
            out = args.work / "runners" / "out"
            shutil.rmtree(out, ignore_errors=True)
            command = [str(CLI), "run", "--format", "csv", "--input", str(folder / "*.csv"),
                       "--output", str(out), "--", *beam_args]  # fmt: skip
            log = args.work / "runners" / "logs" / f"{files}-files-{setup.replace(' ', '_')}"
            measured = timed_run(command, log)
            examples = sum(count_splits(out).values())
            if examples != args.rows:
                raise SystemExit(f"{setup}: {examples} examples written, {args.rows} expected")
            run = {"files": files, "setup": setup, "wall_s": measured.wall_s,
                   "user_s": measured.user_s, "system_s": measured.system_s,
                   "peak_rss_mb": round(measured.peak_rss_kb / 1024),
                   "processes": measured.processes}  # fmt: skip
            results["runs"].append(run)
            print(f"{files} file(s), {setup}: {measured.wall_s:.1f} s", file=sys.stderr)
    shutil.rmtree(args.work / "runners" / "out", ignore_errors=True)
    (args.work / "runners_figures.json").write_text(json.dumps(results, indent=2) + "\n")
    print(_table(results))
    return 0


def _table(results: dict) -> str:
    lines = [
        f"{results['rows']:,} taxi rows, `beam-ingest run --format csv`, "
        f"{results['machine']['cores']} cores ({results['machine']['cpu']}).",
        "",
        "| files | setup | wall s | user+sys s | peak RSS MB | speed-up vs 1 worker |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for files in dict.fromkeys(r["files"] for r in results["runs"]):
        runs = {r["setup"]: r for r in results["runs"] if r["files"] == files}
        one = runs["direct, multi_processing, 1 worker"]["wall_s"]
        for setup, r in runs.items():
            lines.append(
                f"| {files} | {setup} | {r['wall_s']:.1f} | {r['user_s'] + r['system_s']:.1f} "
                f"| {r['peak_rss_mb']:,} | {one / r['wall_s']:.2f}x |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
