"""The benchmark harness of issue 10: beam-ingest against TFX, a pandas loop and a floor.

    .venv/bin/python benchmarks/run.py [--rows 300040,1500200] [--repeats 3]
        [--formats csv,jsonl,parquet,avro,images] [--tools beam1,beam2,tfx,pandas,floor,startup]
        [--images 10000] [--scaling] [--scaling-rows 15002,150020,1500200] [--quick]

`make bench` runs `run.py --scaling` (every default). `--quick` is a smoke run of
every tool on tiny inputs (about 3 minutes on 2 cores); its report goes to
benchmarks/work/quick/, not to RESULTS.md.

Workloads (benchmarks/_workloads.py): the Chicago taxi CSV of the tfx wheel,
15,002 data rows, repeated to each --rows (the defaults are whole copies: 20
and 100), and the same rows as JSONL, Parquet and Avro; --images seeded JPEGs
of 256x256 in 10 class folders; a 10-row CSV for the start-up check.

Tools (--tools):

- beam1: `beam-ingest run --format F --input X --output D --overwrite`
  (DirectRunner's defaults: one worker, in the CLI's process);
- beam2: the same with `-- --direct_running_mode=multi_processing
  --direct_num_workers=2`;
- tfx: benchmarks/tfx_pipeline.py, TFX's CsvExampleGen (csv) or FileBasedExampleGen
  with `parquet_executor` / `avro_executor` (parquet, avro), on LocalDagRunner;
- pandas: benchmarks/pandas_loop.py, pandas read, one tf.train.Example per row,
  tf.io.TFRecordWriter (images: the same loop with Pillow);
- floor: benchmarks/floor.py, pyarrow read, tfx_bsl's C++ encoder, sha256, gzip,
  one process, no Beam (csv, jsonl, parquet, avro);
- startup: `beam-ingest run` on the 10-row CSV, wall time, and whether it imports
  TensorFlow (one more run under `python -X importtime`).

Every repeat runs every (workload, tool) once, in order, so tools alternate.
Each run is a whole process under `/usr/bin/time -v`; its memory is the larger
of GNU time's maximum RSS and the sampled sum over its process tree
(benchmarks/_measure.py). The report gives medians over the repeats.

Checks, after every run, reading the gzip TFRecords back: every run wrote every
row; the tools whose examples are TFX's (beam1, beam2, pandas, and TFX's
CsvExampleGen) have the same examples per split, for every format of one row
count; every tool the same split counts in every repeat. TFX's Parquet and Avro
executors drop zeros (`dict_to_example`) and the floor's bytes are not
deterministic, so only their totals are checked. Across formats the check needs
every column to hold a value somewhere: the taxi data's pickup_census_tract has
one value, in its last row, so below 15,002 rows it is null everywhere and the
formats differ by design (JSONL omits the key, Avro types it), and only
per-format checks are made. Any failed check: exit status 1, after the report.
A failed run: exit status 2 (its logs stay under benchmarks/work/runs/).

Outputs: a marked section of benchmarks/RESULTS.md (or --results FILE)
rewritten, the chart results.png next to it, and the raw numbers in
benchmarks/work/results.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/ is not a package

from _chart import draw_chart
from _measure import GNU_TIME, RunFailed, machine_info, package_versions
from _plan import (
    ALL_FORMATS,
    BENCH_DIR,
    STARTUP_ROWS,
    TABLE_FORMATS,
    TOOL_IDS,
    VENV_BIN,
    Workload,
    supports,
)
from _report import render, write_section
from _summary import check_counts, summarise
from _tools import run_all, run_startup, tfx_examples_uri
from _workloads import TAXI_CSV, convert_taxi, make_images, make_taxi_csv

# benchmarks/tfx_executor.py imports WORK_DIR and tfx_examples_uri from here.
__all__ = ["WORK_DIR", "main", "tfx_examples_uri"]

WORK_DIR = BENCH_DIR / "work"
RESULTS_FILE = BENCH_DIR / "RESULTS.md"
DEFAULT_ROWS = (300_040, 1_500_200)
DEFAULT_SCALING = (15_002, 150_020, 1_500_200)
QUICK_ROWS = (15_002,)
QUICK_SCALING = (150, 1_500, 15_002)
QUICK_IMAGES = 100


def parse_list(text: str, choices: tuple[str, ...], option: str) -> list[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in items if item not in choices]
    if unknown or not items:
        raise argparse.ArgumentTypeError(
            f"{option}: {unknown or text!r} not known; choose from {', '.join(choices)}"
        )
    return items


def parse_ints(text: str) -> list[int]:
    try:
        values = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows",
        type=parse_ints,
        default=None,
        help="comma-separated row counts (default 300040,1500200; quick 15002)",
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="runs per tool (default 3; quick 1)"
    )
    parser.add_argument(
        "--formats",
        type=lambda t: parse_list(t, ALL_FORMATS, "--formats"),
        default=list(ALL_FORMATS),
        help=f"comma-separated, from {','.join(ALL_FORMATS)} (default all)",
    )
    parser.add_argument(
        "--tools",
        type=lambda t: parse_list(t, TOOL_IDS, "--tools"),
        default=list(TOOL_IDS),
        help=f"comma-separated, from {','.join(TOOL_IDS)} (default all)",
    )
    parser.add_argument("--images", type=int, default=None, help="JPEGs (default 10000; quick 100)")
    parser.add_argument("--scaling", action="store_true", help="also run the CSV scaling series")
    parser.add_argument(
        "--scaling-rows",
        type=parse_ints,
        default=None,
        help="its three sizes, 0.1x,1x,10x (default 15002,150020,1500200; quick 150,1500,15002)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, 1 repeat, report to benchmarks/work/quick/",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="Markdown file whose marked section is rewritten (default "
        "benchmarks/RESULTS.md; quick benchmarks/work/quick/RESULTS.md)",
    )
    parser.add_argument("--work-dir", type=Path, default=WORK_DIR, help="data and run folders")
    parser.add_argument(
        "--keep-outputs", action="store_true", help="keep every run's output, not only its logs"
    )
    args = parser.parse_args(argv)
    args.rows = args.rows or list(QUICK_ROWS if args.quick else DEFAULT_ROWS)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.images = args.images or (QUICK_IMAGES if args.quick else 10_000)
    args.scaling_rows = args.scaling_rows or list(QUICK_SCALING if args.quick else DEFAULT_SCALING)
    if args.results is None:
        args.results = args.work_dir / "quick" / "RESULTS.md" if args.quick else RESULTS_FILE
    if args.repeats < 1 or args.images < 1:
        parser.error("--repeats and --images must be positive")
    if args.scaling and len(args.scaling_rows) != 3:
        parser.error(f"--scaling-rows: give three sizes (0.1x,1x,10x), got {args.scaling_rows}")
    return args


def build_plan(
    args: argparse.Namespace, data: Path
) -> tuple[list[Workload], list[tuple[Workload, str]]]:
    workloads: list[Workload] = []
    table_formats = [f for f in args.formats if f in TABLE_FORMATS]
    for rows in args.rows:
        if table_formats:
            csv_file = make_taxi_csv(rows, data)
            for fmt, path in convert_taxi(csv_file, rows, table_formats).items():
                workloads.append(Workload(fmt, rows, path))
    if "images" in args.formats:
        root, _ = make_images(args.images, data)
        workloads.append(Workload("images", args.images, root))
    if args.scaling:
        for rows in args.scaling_rows:
            if not any(w.fmt == "csv" and w.rows == rows for w in workloads):
                workloads.append(
                    Workload("csv", rows, make_taxi_csv(rows, data), scaling_only=True)
                )
    plan = [(w, t) for w in workloads for t in args.tools if supports(t, w.fmt)]
    return workloads, plan


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for required in (GNU_TIME, VENV_BIN / "beam-ingest", TAXI_CSV):
        if not required.exists():
            sys.exit(f"missing {required}; run with the project's .venv/bin/python")
    started = dt.datetime.now().astimezone()
    clock = time.monotonic()
    work = args.work_dir.resolve()
    workloads, plan = build_plan(args, work / "data")
    print(
        f"plan: {len(plan)} runs x {args.repeats} repeat(s) over {len(workloads)} workloads",
        flush=True,
    )
    runs_dir = work / "runs"
    startup = None
    try:
        results = run_all(plan, runs_dir, args.repeats, args.keep_outputs)
        if "startup" in args.tools:
            tiny = make_taxi_csv(STARTUP_ROWS, work / "data")
            startup = run_startup(tiny, runs_dir / "startup", max(args.repeats, 3))
    except (RunFailed, ValueError, FileNotFoundError) as error:
        print(f"run failed: {error}\nlogs: {runs_dir}", file=sys.stderr)
        return 2
    problems = check_counts(results, workloads)
    summaries = summarise(results)
    main_rows = [
        n for n in args.rows if any(r.rows == n and r.fmt in TABLE_FORMATS for r in results)
    ]
    args.results.parent.mkdir(parents=True, exist_ok=True)
    chart = args.results.with_name("results.png") if summaries else None
    if chart is not None:
        draw_chart(chart, summaries, main_rows, args.scaling_rows if args.scaling else None)
    cli = sys.argv[1:] if argv is None else argv
    section = render(
        command=shlex.join([".venv/bin/python", "benchmarks/run.py", *cli]),
        started=started,
        minutes=(time.monotonic() - clock) / 60,
        workloads=workloads,
        results=results,
        startup=startup,
        problems=problems,
        main_rows=main_rows,
        scaling_rows=args.scaling_rows if args.scaling else None,
        chart=chart,
        repeats=args.repeats,
    )
    write_section(args.results, section)
    raw = {
        "command": cli,
        "started": started.isoformat(),
        "machine": machine_info(),
        "versions": package_versions(),
        "runs": [
            {
                **asdict(r),
                "measurement": {**asdict(r.measurement), "peak_rss_kb": r.measurement.peak_rss_kb},
            }
            for r in results
        ],
        "startup": startup,
        "problems": problems,
    }
    raw_file = (args.results.parent if args.quick else work) / "results.json"
    raw_file.write_text(json.dumps(raw, indent=2, default=str) + "\n")
    print("\n" + section)
    print(f"written: {args.results}, {chart}, {raw_file}")
    if problems:
        print("CHECKS FAILED:\n" + "\n".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
