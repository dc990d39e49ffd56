"""Taxi rows (1,500,200 by default) through `beam-ingest run` into each output
format (issue 21): wall time, output bytes, peak RSS, and the read-back
throughput of each output through its natural reader (tf.data for TFRecord,
pyarrow for Parquet, Grain's ArrayRecordDataSource for ArrayRecord).

    .venv/bin/python benchmarks/output_formats.py                  # the figure
    .venv/bin/python benchmarks/output_formats.py --rows 100000 --repeats 1

The CSV is written once (benchmarks/work/data/); the formats run alternately,
`--repeats` times each, under `/usr/bin/time -v` (start-up included); the
medians are printed as one JSON line and written to
benchmarks/work/output_formats/result_<rows>.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/ is not a package

from _measure import timed_run
from _workloads import make_taxi_csv

WORK_DIR = Path(__file__).resolve().parent / "work"
FORMATS = ("tfrecord", "parquet", "array_record")

_READERS = {
    "tfrecord": """
import glob, sys, time, tensorflow as tf
paths = sorted(glob.glob(sys.argv[1] + "/Split-*/*"))
start = time.perf_counter()
n = 0
for batch in tf.data.TFRecordDataset(paths, compression_type="GZIP").batch(4096):
    n += int(batch.shape[0])
print(n, time.perf_counter() - start)
""",
    "parquet": """
import glob, sys, time, pyarrow.parquet as pq
paths = sorted(glob.glob(sys.argv[1] + "/Split-*/*.parquet"))
start = time.perf_counter()
n = 0
for path in paths:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=65536):
        n += batch.num_rows
print(n, time.perf_counter() - start)
""",
    "array_record": """
import glob, sys, time, grain.python as grain
paths = sorted(glob.glob(sys.argv[1] + "/Split-*/*"))
start = time.perf_counter()
source = grain.ArrayRecordDataSource(paths)
n = 0
for first in range(0, len(source), 4096):
    n += len(source.__getitems__(list(range(first, min(first + 4096, len(source))))))
print(n, time.perf_counter() - start)
""",
}


def _read_back(fmt: str, out: Path) -> tuple[int, float]:
    done = subprocess.run(
        [sys.executable, "-c", _READERS[fmt], str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    records, seconds = done.stdout.split()[-2:]
    return int(records), float(seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_500_200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    csv_file = make_taxi_csv(args.rows, WORK_DIR / "data")
    run_dir = WORK_DIR / "output_formats" / str(args.rows)
    runs: dict[str, list[dict]] = {fmt: [] for fmt in FORMATS}
    for repeat in range(args.repeats):
        for fmt in FORMATS:
            out = run_dir / f"out_{fmt}"
            shutil.rmtree(out, ignore_errors=True)
            command = [
                str(Path(sys.executable).parent / "beam-ingest"),
                "run", "--format", "csv", "--input", str(csv_file), "--output", str(out),
                "--output-format", fmt,
            ]  # fmt: skip
            measured = timed_run(command, run_dir / f"logs_{fmt}_{repeat}")
            report = json.loads((out / "ingest_report.json").read_text())
            records, seconds = _read_back(fmt, out)
            assert records == report["examples"] == args.rows, (fmt, records, report["examples"])
            runs[fmt].append(
                {
                    "wall_s": measured.wall_s,
                    "peak_rss_mb": measured.peak_rss_kb / 1024,
                    "output_bytes": sum(s["bytes"] for s in report["splits"].values()),
                    "read_records_per_s": records / seconds,
                }
            )
            print(fmt, repeat, json.dumps(runs[fmt][-1]), flush=True)
            time.sleep(1)
    medians = {
        fmt: {key: round(statistics.median(r[key] for r in found), 2) for key in found[0]}
        for fmt, found in runs.items()
    }
    base = medians["tfrecord"]["wall_s"]
    for fmt in FORMATS:
        medians[fmt]["vs_tfrecord_time"] = round(medians[fmt]["wall_s"] / base, 3)
    result = {"rows": args.rows, "repeats": args.repeats, "medians": medians, "runs": runs}
    (run_dir / f"result_{args.rows}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"rows": args.rows, "medians": medians}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
