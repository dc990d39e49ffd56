"""Time `beam-ingest run` on Parquet, Avro, JSONL and CSV against TFX's Parquet and Avro executors.

    .venv/bin/python benchmarks/compare_formats.py --rows 300000 [--repeats 3]

Workload: the taxi CSV of benchmarks/compare_csv.py (its data rows repeated to
at least --rows, see there), converted once to the other formats, each file
alone in its folder (TFX reads every file of input_base), reused while it is
newer than the CSV and holds the same number of rows:

- benchmarks/work/data/taxi_<rows>_parquet/taxi.parquet: pyarrow's defaults
  (snappy, row groups of up to 1Mi rows);
- benchmarks/work/data/taxi_<rows>_avro/taxi.avro: fastavro, deflate codec,
  fields ["null", long|double|string];
- benchmarks/work/data/taxi_<rows>_jsonl/taxi.jsonl: one object per row, empty
  cells omitted, ints as JSON ints, floats as JSON floats (`0.0`), strings.

Column types are the ones CSV inference gives (`beam_ingest.connectors.
_csv_values.infer_kind` on the CSV read with every column as a string): in the
taxi data, INT, FLOAT and STRING columns; an empty cell is a null.

Each repeat runs, in this order, each as a whole process under `/usr/bin/time -v`:
`beam-ingest run --format F --input FILE --output DIR --overwrite` for F = csv,
jsonl, parquet, then TFX parquet, beam-ingest avro, then TFX avro, where TFX is
`benchmarks/tfx_pipeline.py {parquet,avro} FOLDER ROOT`
(FileBasedExampleGen with TFX's custom executor, LocalDagRunner, SQLite
ML-metadata). Everything runs on Beam's DirectRunner with its defaults.

Every run must write every row (examples summed over splits = rows), and each
tool the same split counts in every repeat. The split counts of TFX and
beam-ingest are NOT compared: TFX's parquet/avro executors (`dict_to_example`)
write a zero or empty value as an empty Feature, so their examples, and with
them the hash split, differ. The report is printed and written to
benchmarks/work/compare_formats_<rows>.md (raw numbers in .json next to it).
Exit status 1 if a count check fails, 2 if a run fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import shlex
import shutil
import statistics
import sys
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import fastavro
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from compare_csv import (
    GNU_TIME,
    TAXI_CSV,
    VENV_BIN,
    WORK_DIR,
    RunResult,
    Workload,
    check_beam_ingest_report,
    count_splits,
    display_path,
    environment_lines,
    make_workload,
    markdown_table,
    package_versions,
    remove_outputs,
    run_tfx_pipeline,
    runs_table,
    timed_run,
)

from beam_ingest.connectors._csv_values import convert, infer_kind
from beam_ingest.schema import Kind

FORMATS = ("csv", "jsonl", "parquet", "avro")
TFX_FORMATS = ("parquet", "avro")
AVRO_CODEC = "deflate"
BATCH_ROWS = 10_000
BEAM_INGEST = "beam-ingest"
TFX = "TFX"
ARROW_TYPES = {Kind.INT: pa.int64(), Kind.FLOAT: pa.float64(), Kind.BYTES: pa.string()}
AVRO_TYPES = {Kind.INT: "long", Kind.FLOAT: "double", Kind.BYTES: "string"}
# Targets of the issue: TFX time / beam-ingest time, JSONL time / CSV time, peak RSS.
MIN_SPEEDUP = 5.0
MAX_JSONL_RATIO = 2.0
MAX_RSS_MB = 600


# ---------------------------------------------------------------- workload conversion


def typed_table(csv_file: Path) -> tuple[pa.Table, dict[str, Kind]]:
    """The CSV as a table typed as CSV inference types it; empty cells are nulls."""
    names = csv_file.open("rb").readline().decode().rstrip("\r\n").split(",")
    strings = pa_csv.read_csv(
        csv_file,
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            null_values=[""],
            strings_can_be_null=True,
        ),
    )
    columns, kinds = [], {}
    for name in strings.column_names:
        cells = strings.column(name).combine_chunks()
        kind = kinds[name] = infer_kind(cells)
        if kind is Kind.UNKNOWN:  # empty everywhere
            columns.append(pa.nulls(len(cells), pa.string()))
            continue
        values, failures = convert(cells, kind)
        if failures:
            raise ValueError(f"{csv_file}: column {name}: {next(iter(failures.values()))}")
        columns.append(values.cast(ARROW_TYPES[kind]))
    return pa.table(columns, names=strings.column_names), kinds


def avro_schema(kinds: dict[str, Kind]) -> dict:
    return {
        "type": "record",
        "name": "TaxiTrip",
        "namespace": "beam_ingest.benchmarks",
        "fields": [
            {"name": name, "type": ["null", AVRO_TYPES.get(kind, "string")], "default": None}
            for name, kind in kinds.items()
        ],
    }


def records(table: pa.Table) -> Iterator[dict]:
    for batch in table.to_batches(max_chunksize=BATCH_ROWS):
        yield from batch.to_pylist()


def write_parquet(table: pa.Table, kinds: dict[str, Kind], path: Path) -> None:
    pq.write_table(table, path)


def write_avro(table: pa.Table, kinds: dict[str, Kind], path: Path) -> None:
    with path.open("wb") as out:
        fastavro.writer(out, fastavro.parse_schema(avro_schema(kinds)), records(table), AVRO_CODEC)


def write_jsonl(table: pa.Table, kinds: dict[str, Kind], path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in records(table):
            present = {name: value for name, value in row.items() if value is not None}
            out.write(json.dumps(present, ensure_ascii=False, allow_nan=False) + "\n")


def count_rows(path: Path, fmt: str) -> int:
    """Rows of a converted file, cheaply: footer, block headers or newlines."""
    if fmt == "parquet":
        return pq.ParquetFile(path).metadata.num_rows
    if fmt == "avro":
        with path.open("rb") as avro:
            return sum(block.num_records for block in fastavro.block_reader(avro))
    with path.open("rb") as lines:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: lines.read(1 << 24), b""))


WRITERS = {"parquet": write_parquet, "avro": write_avro, "jsonl": write_jsonl}


def converted_file(workload: Workload, fmt: str) -> Path:
    folder = workload.folder.parent / f"{workload.folder.name}_{fmt}"
    return folder / f"{workload.csv_file.stem}.{fmt}"


def make_inputs(workload: Workload) -> dict[str, Path]:
    """{format: input file}, converting the CSV to the formats whose file is missing or stale."""
    inputs = {"csv": workload.csv_file}
    csv_mtime = workload.csv_file.stat().st_mtime
    table = kinds = None
    for fmt, write in WRITERS.items():
        path = inputs[fmt] = converted_file(workload, fmt)
        if (
            path.is_file()
            and path.stat().st_mtime >= csv_mtime
            and count_rows(path, fmt) == workload.rows
        ):
            continue
        if table is None:
            print(f"typing {workload.csv_file} ...", flush=True)
            table, kinds = typed_table(workload.csv_file)
        print(f"writing {path} ...", flush=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written next to the folder, then renamed in: TFX reads every file in it.
        partial = path.parent.parent / f".{path.parent.name}.partial"
        write(table, kinds, partial)
        partial.replace(path)
    return inputs


def describe_inputs(inputs: dict[str, Path]) -> list[str]:
    lines = []
    for fmt, path in inputs.items():
        detail = ""
        if fmt == "parquet":
            meta = pq.ParquetFile(path).metadata
            codec = meta.row_group(0).column(0).compression.lower()
            detail = f", {meta.num_row_groups} row group(s), {codec}"
        elif fmt == "avro":
            with path.open("rb") as avro:
                detail = f", {fastavro.reader(avro).codec} codec"
        lines.append(
            f"- {fmt}: `{display_path(path)}`, {path.stat().st_size / 1e6:,.1f} MB{detail}"
        )
    return lines


# ---------------------------------------------------------------- the tools


@dataclass(frozen=True)
class Tool:
    engine: str  # BEAM_INGEST or TFX
    fmt: str

    @property
    def name(self) -> str:
        return f"{self.engine} {self.fmt}"

    @property
    def slug(self) -> str:
        return f"{self.engine.lower().replace('-', '_')}-{self.fmt}"

    def run(self, inputs: dict[str, Path], run_dir: Path) -> RunResult:
        runner = run_beam_ingest if self.engine == BEAM_INGEST else run_tfx
        return replace(runner(self.fmt, inputs[self.fmt], run_dir), tool=self.name)


def run_beam_ingest(fmt: str, input_file: Path, run_dir: Path) -> RunResult:
    output = run_dir / "output"
    command = [str(VENV_BIN / "beam-ingest"), "run", "--format", fmt, "--input", str(input_file)]
    command += ["--output", str(output), "--overwrite"]
    timing = timed_run(command, run_dir / "logs")
    splits = count_splits(output)
    check_beam_ingest_report(output / "ingest_report.json", splits)
    return RunResult("", 0, timing, splits, str(output))


def run_tfx(fmt: str, input_file: Path, run_dir: Path) -> RunResult:
    return run_tfx_pipeline(fmt, input_file.parent, run_dir)


TOOLS = [
    Tool(BEAM_INGEST, "csv"),
    Tool(BEAM_INGEST, "jsonl"),
    Tool(BEAM_INGEST, "parquet"),
    Tool(TFX, "parquet"),
    Tool(BEAM_INGEST, "avro"),
    Tool(TFX, "avro"),
]


def run_all(inputs: dict[str, Path], runs_dir: Path, repeats: int, keep: bool) -> list[RunResult]:
    """repeats x TOOLS in order, each in a fresh folder; outputs deleted unless keep."""
    results = []
    total = repeats * len(TOOLS)
    for repeat in range(1, repeats + 1):
        for tool in TOOLS:
            run_dir = runs_dir / f"{tool.slug}-{repeat}"
            shutil.rmtree(run_dir, ignore_errors=True)
            result = replace(tool.run(inputs, run_dir), repeat=repeat)
            results.append(result)
            print(
                f"[{len(results)}/{total}] {tool.name} #{repeat}: {result.timing.wall_s:.1f} s, "
                f"peak RSS {result.timing.max_rss_kb / 1024:,.0f} MiB, splits {result.splits}",
                flush=True,
            )
            if not keep:
                remove_outputs(run_dir)
    return results


# ---------------------------------------------------------------- checks and report


def count_problems(results: list[RunResult], rows: int) -> list[str]:
    """Every run must hold all rows, and each tool the same split counts in every repeat."""
    problems = []
    for result in results:
        if sum(result.splits.values()) != rows:
            problems.append(
                f"{result.tool} #{result.repeat}: {sum(result.splits.values()):,} examples, "
                f"expected {rows:,}"
            )
    for tool in TOOLS:
        counts = {json.dumps(r.splits, sort_keys=True) for r in results if r.tool == tool.name}
        if len(counts) > 1:
            problems.append(f"{tool.name}: split counts differ between repeats: {sorted(counts)}")
    return problems


@dataclass(frozen=True)
class Summary:
    wall_s: float  # median
    rss_mib: float  # median
    max_rss_mb: float  # largest over the runs, in MB (10^6 bytes)
    walls: list[float]


def summarise(results: list[RunResult]) -> dict[str, Summary]:
    summaries = {}
    for tool in TOOLS:
        runs = [r for r in results if r.tool == tool.name]
        summaries[tool.name] = Summary(
            wall_s=statistics.median(r.timing.wall_s for r in runs),
            rss_mib=statistics.median(r.timing.max_rss_kb for r in runs) / 1024,
            max_rss_mb=max(r.timing.max_rss_kb for r in runs) * 1024 / 1e6,
            walls=[r.timing.wall_s for r in runs],
        )
    return summaries


def format_rows(summaries: dict[str, Summary], rows: int) -> list[list[str]]:
    table = []
    for fmt in FORMATS:
        ours = summaries[f"{BEAM_INGEST} {fmt}"]
        line = [fmt, f"{ours.wall_s:.1f}", f"{rows / ours.wall_s:,.0f}", f"{ours.rss_mib:,.0f}"]
        theirs = summaries.get(f"{TFX} {fmt}")
        if theirs is None:
            line += ["-", "-", "-", "-"]
        else:
            line += [
                f"{theirs.wall_s:.1f}",
                f"{rows / theirs.wall_s:,.0f}",
                f"{theirs.rss_mib:,.0f}",
                f"{theirs.wall_s / ours.wall_s:.2f}",
            ]
        line.append("; ".join(", ".join(f"{w:.1f}" for w in s.walls) for s in (ours, theirs) if s))
        table.append(line)
    return table


def target_rows(summaries: dict[str, Summary]) -> list[list[str]]:
    def verdict(ok: bool) -> str:
        return "yes" if ok else "**NO**"

    table = []
    for fmt in TFX_FORMATS:
        speedup = summaries[f"{TFX} {fmt}"].wall_s / summaries[f"{BEAM_INGEST} {fmt}"].wall_s
        table.append(
            [
                f"{fmt}: at least {MIN_SPEEDUP:g}x faster than TFX's executor",
                f"{speedup:.2f}x",
                verdict(speedup >= MIN_SPEEDUP),
            ]
        )
    ratio = summaries[f"{BEAM_INGEST} jsonl"].wall_s / summaries[f"{BEAM_INGEST} csv"].wall_s
    table.append(
        [
            f"jsonl: within {MAX_JSONL_RATIO:g}x of csv",
            f"{ratio:.2f}x",
            verdict(ratio <= MAX_JSONL_RATIO),
        ]
    )
    for fmt in FORMATS:
        peak = summaries[f"{BEAM_INGEST} {fmt}"].max_rss_mb
        table.append(
            [
                f"{fmt}: peak RSS under {MAX_RSS_MB} MB (largest run)",
                f"{peak:,.0f} MB",
                verdict(peak < MAX_RSS_MB),
            ]
        )
    return table


def split_rows(results: list[RunResult]) -> list[list[str]]:
    first = {tool.name: next(r for r in results if r.tool == tool.name) for tool in TOOLS}
    names = sorted({name for r in results for name in r.splits})
    table = [[name, *(f"{first[t.name].splits.get(name, 0):,}" for t in TOOLS)] for name in names]
    table.append(["**total**", *(f"{sum(first[t.name].splits.values()):,}" for t in TOOLS)])
    return table


def versions() -> dict[str, str]:
    found = package_versions()
    found["fastavro"] = importlib.metadata.version("fastavro")
    return found


def render_report(
    workload: Workload,
    inputs: dict[str, Path],
    results: list[RunResult],
    problems: list[str],
    command: str,
) -> str:
    repeats = max(r.repeat for r in results)
    summaries = summarise(results)
    ours = {t.fmt: t.name for t in TOOLS if t.engine == BEAM_INGEST}
    split_counts = {
        json.dumps(next(r for r in results if r.tool == n).splits) for n in ours.values()
    }
    jsonl_ratio = summaries[ours["jsonl"]].wall_s / summaries[ours["csv"]].wall_s
    parts = [
        f"# beam-ingest run vs TFX's Parquet/Avro executors: {workload.rows:,} rows",
        "",
        f"`{command}` on {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}.",
        "",
        f"Workload: {workload.copies} x the {workload.source_rows:,} taxi data rows = "
        f"{workload.rows:,} rows, the CSV converted once to each format "
        "(types as CSV inference gives them: INT, FLOAT, STRING; empty cells are nulls):",
        "",
        *describe_inputs(inputs),
        "",
        f"{repeats} run(s) per tool, alternating; medians. TFX is FileBasedExampleGen with "
        "`parquet_executor.Executor` / `avro_executor.Executor` on LocalDagRunner "
        "(for CSV against CsvExampleGen see compare_csv.py).",
        "",
        markdown_table(
            [
                "format",
                "beam-ingest median wall s",
                "beam-ingest rows/s",
                "beam-ingest peak RSS MiB",
                "TFX median wall s",
                "TFX rows/s",
                "TFX peak RSS MiB",
                "TFX time / beam-ingest time",
                "wall s of each run (beam-ingest; TFX)",
            ],
            format_rows(summaries, workload.rows),
        ),
        "",
        f"JSONL / CSV time (beam-ingest): {jsonl_ratio:.2f}.",
        "",
        "Targets:",
        "",
        markdown_table(["target", "measured", "met"], target_rows(summaries)),
        "",
        "Examples per split (first run of each tool; every run is checked):",
        "",
        markdown_table(["split", *(t.name for t in TOOLS)], split_rows(results)),
        "",
        "Only totals are compared with TFX: its parquet/avro executors write a zero or "
        "empty value as an empty Feature (`dict_to_example`), so their examples differ "
        "from beam-ingest's and the hash split puts different rows in each split. "
        "The four beam-ingest formats "
        + (
            "split identically."
            if len(split_counts) == 1
            else "do NOT split identically (their examples differ)."
        ),
        "",
        "Counts: " + ("every run wrote every row." if not problems else "PROBLEMS"),
        *(f"- {problem}" for problem in problems),
        "",
        "Runs:",
        "",
        runs_table(results),
        "",
        *environment_lines(versions()),
        "Whole processes under `/usr/bin/time -v` (interpreter start-up and imports "
        "included); peak RSS is GNU time's maximum resident set size, the largest "
        "single process. All run on Beam's DirectRunner with its defaults.",
        "",
    ]
    return "\n".join(parts)


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows",
        type=int,
        default=300_000,
        help="at least this many rows (whole copies of the taxi data; default 300000)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per tool (default 3)")
    parser.add_argument("--work-dir", type=Path, default=WORK_DIR, help="data and outputs")
    parser.add_argument(
        "--keep-outputs", action="store_true", help="keep every run's outputs, not only logs"
    )
    args = parser.parse_args(argv)
    if args.rows < 1 or args.repeats < 1:
        parser.error("--rows and --repeats must be positive")
    return args


def check_environment() -> None:
    for required in (GNU_TIME, VENV_BIN / "beam-ingest", TAXI_CSV):
        if not required.exists():
            sys.exit(f"missing {required}; run with the project's .venv/bin/python")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_environment()
    work_dir = args.work_dir.resolve()
    workload = make_workload(args.rows, work_dir / "data")
    inputs = make_inputs(workload)
    print(f"workload: {workload.rows:,} rows in {', '.join(map(str, inputs.values()))}")
    runs_dir = work_dir / f"compare_formats_{args.rows}"
    try:
        results = run_all(inputs, runs_dir, args.repeats, args.keep_outputs)
    except (RuntimeError, ValueError, FileNotFoundError) as error:
        print(f"run failed: {error}\nlogs: {runs_dir}", file=sys.stderr)
        return 2
    problems = count_problems(results, workload.rows)
    cli_args = sys.argv[1:] if argv is None else argv
    command = shlex.join([".venv/bin/python", "benchmarks/compare_formats.py", *cli_args])
    report = render_report(workload, inputs, results, problems, command)
    report_file = work_dir / f"compare_formats_{args.rows}.md"
    report_file.write_text(report)
    raw = {
        "workload": {**asdict(workload), "csv_file": str(workload.csv_file)},
        "inputs": {fmt: str(path) for fmt, path in inputs.items()},
        "avro_codec": AVRO_CODEC,
        "runs": [asdict(result) for result in results],
    }
    report_file.with_suffix(".json").write_text(json.dumps(raw, indent=2) + "\n")
    print("\n" + report)
    print(f"written to {report_file}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
