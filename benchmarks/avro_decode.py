"""Time ReadAvro's decoding alone (no Beam): the columnar path (polars) and the fastavro path.

    .venv/bin/python benchmarks/avro_decode.py [--rows 300040] [--repeats 3] [--input FILE]

Workload: the taxi Avro file of benchmarks/run.py (benchmarks/_workloads.py:
work/data/taxi_<rows>_avro/taxi.avro, fastavro, deflate codec, fields
["null", long|double|string]), written if it is missing or stale, or --input.
Each repeat runs ReadAvro's work-unit function
(`connectors.avro._ReadUnitFn.process`) over the whole file as one work unit
in this process: blocks to RecordBatches under the value contract, as the
pipeline receives them. "fastavro" is the same function with the columnar
reader switched off (`columns_reader` returning None): fastavro's dicts and
`RecordBatch.from_pylist`, as every block was read before polars. Prints
seconds and rows/s per path (median of the repeats) and checks that both paths
give the same batches.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

import pyarrow as pa
from _workloads import convert_taxi, make_taxi_csv

from beam_ingest.connectors import _avro_schema, avro

DATA_DIR = Path(__file__).resolve().parent / "work" / "data"


def taxi_avro(rows: int) -> Path:
    """run.py's Avro file of `rows` taxi rows, written if missing or stale."""
    return convert_taxi(make_taxi_csv(rows, DATA_DIR), rows, ["avro"])["avro"]


def decode(path: str) -> tuple[float, pa.Table]:
    """Seconds to read the file as one work unit, and the batches read."""
    size = os.path.getsize(path)
    names = _avro_schema.common_schema([path]).names
    fn = avro._ReadUnitFn(tuple(names))
    start = time.perf_counter()
    batches = [out for out in fn.process((path, 0, size, size)) if isinstance(out, pa.RecordBatch)]
    return time.perf_counter() - start, pa.Table.from_batches(batches)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_040, help="taxi rows (default 300040)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per path (default 3)")
    parser.add_argument("--input", type=Path, help="an Avro file instead of the taxi workload")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.repeats < 1:
        parser.error("--rows and --repeats must be positive")
    path = str(args.input or taxi_avro(args.rows))
    print(f"{path}: {os.path.getsize(path) / 1e6:,.1f} MB; load average {os.getloadavg()}")
    tables = {}
    for name, patch in (
        ("columnar (polars)", mock.patch.object(avro, "columns_reader", avro.columns_reader)),
        ("fastavro", mock.patch.object(avro, "columns_reader", lambda *_: None)),
    ):
        with patch:
            runs = [decode(path) for _ in range(args.repeats)]
        seconds = statistics.median(s for s, _ in runs)
        tables[name] = table = runs[0][1]
        print(
            f"{name:>18}: {seconds:6.2f} s, {table.num_rows / seconds:>10,.0f} rows/s "
            f"({', '.join(f'{s:.2f}' for s, _ in runs)})"
        )
    first, second = tables.values()
    if not first.equals(second):
        print("the two paths read different batches", file=sys.stderr)
        return 1
    print(f"same {first.num_rows:,} rows from both paths")
    return 0


if __name__ == "__main__":
    sys.exit(main())
