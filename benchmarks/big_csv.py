"""A big CSV (2 GB of Chicago taxi rows by default) through `beam-ingest run`:
wall time and peak resident memory (the issue's figure: under 1 GB).

    .venv/bin/python benchmarks/big_csv.py                 # 2 GB, the real figure
    .venv/bin/python benchmarks/big_csv.py --gigabytes 0.1 # a quick check
    .venv/bin/python benchmarks/big_csv.py --deterministic # the cost of --deterministic

The CSV is the tfx wheel's taxi sample repeated (written once under
benchmarks/work/data/, reused), ingested with the default DirectRunner under
`/usr/bin/time -v` (start-up included). Peak RSS is the larger of GNU time's
maximum (largest single process) and the sampled sum over the process tree.
Output and logs go to benchmarks/work/big_csv/; a JSON line with the figures is
printed and written to benchmarks/work/big_csv/result_<size>.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/ is not a package

from _measure import count_splits, timed_run
from _workloads import TAXI_CSV, make_taxi_csv

BENCH_DIR = Path(__file__).resolve().parent
WORK_DIR = BENCH_DIR / "work"
LIMIT_MB = 1024


def _rows_for(gigabytes: float) -> int:
    body = TAXI_CSV.read_bytes().partition(b"\n")[2]
    per_row = len(body) / body.count(b"\n")
    return int(gigabytes * 1e9 / per_row)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gigabytes", type=float, default=2.0, help="CSV size (default 2)")
    parser.add_argument("--deterministic", action="store_true", help="run with --deterministic")
    parser.add_argument("--keep-output", action="store_true", help="keep the TFRecords")
    args = parser.parse_args(argv)
    rows = _rows_for(args.gigabytes)
    csv_file = make_taxi_csv(rows, WORK_DIR / "data")
    name = f"{args.gigabytes:g}gb" + ("_deterministic" if args.deterministic else "")
    run_dir = WORK_DIR / "big_csv" / name
    out = run_dir / "out"
    shutil.rmtree(out, ignore_errors=True)
    command = [
        str(Path(sys.executable).parent / "beam-ingest"),
        "run", "--format", "csv", "--input", str(csv_file), "--output", str(out),
        *(["--deterministic"] if args.deterministic else []),
    ]  # fmt: skip
    measured = timed_run(command, run_dir / "logs")
    report = json.loads((out / "ingest_report.json").read_text())
    examples = count_splits(out) if args.keep_output else None
    peak_mb = measured.peak_rss_kb / 1024
    result = {
        "csv_bytes": csv_file.stat().st_size,
        "rows": rows,
        "records_read": report["records_read"],
        "examples": report["examples"],
        "bad_records": report["bad_records"]["count"],
        "deterministic": args.deterministic,
        "wall_s": measured.wall_s,
        "rows_per_s": round(rows / measured.wall_s),
        "peak_rss_mb": round(peak_mb),
        "gnu_max_rss_mb": round(measured.gnu_max_rss_kb / 1024),
        "under_1_gb": peak_mb < LIMIT_MB,
        "split_files": examples,
    }
    (run_dir / f"result_{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    if not args.keep_output:
        shutil.rmtree(out, ignore_errors=True)
    return 0 if report["records_read"] == rows == report["examples"] else 1


if __name__ == "__main__":
    sys.exit(main())
