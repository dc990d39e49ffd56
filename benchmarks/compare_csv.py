"""Time `beam-ingest run` against TFX's CsvExampleGen on the same CSV file.

    .venv/bin/python benchmarks/compare_csv.py --rows 300000 [--repeats 3]

Workload: the Chicago taxi CSV that the tfx wheel ships (15,002 data rows and
a header), its data rows repeated `copies = ceil(rows / 15002)` times under one
header, so the file holds exactly copies * 15,002 rows (--rows 300000: 20
copies, 300,040 rows; --rows 1500000: 100 copies, 1,500,200 rows). It is one
file alone in its folder, benchmarks/work/data/taxi_<exact rows>/, reused when it
exists with the expected size.

Each repeat runs, in this order, each as a whole process under `/usr/bin/time -v`:

1. `.venv/bin/beam-ingest run --format csv --input FILE --output DIR --overwrite`
   (Beam's DirectRunner, its defaults);
2. `benchmarks/tfx_pipeline.py csv FOLDER ROOT`: CsvExampleGen(input_base=FOLDER)
   in a TFX pipeline on LocalDagRunner with an SQLite ML-metadata store.

Times and peak RSS therefore include interpreter start-up and imports. After
each run, the examples of every split are counted by reading the gzip
TFRecords back; the two tools must agree split by split. The result table is
printed and written to benchmarks/work/compare_csv_<rows>.md (raw numbers in
compare_csv_<rows>.json next to it). Exit status 1 if the counts differ, 2 if a
run fails (the tail of its stderr is printed; all logs stay in the run folder).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import importlib.metadata
import json
import math
import os
import platform
import shlex
import shutil
import statistics
import struct
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
WORK_DIR = BENCH_DIR / "work"
VENV_BIN = Path(sys.executable).parent
TAXI_CSV = (
    Path(sysconfig.get_paths()["purelib"])
    / "tfx/examples/chicago_taxi_pipeline/data/simple/data.csv"
)
GNU_TIME = Path("/usr/bin/time")
PACKAGES = ("apache-beam", "tfx", "tfx-bsl", "tensorflow", "pyarrow", "ml-metadata", "beam-ingest")
BEAM_INGEST = "beam-ingest"
TFX = "TFX CsvExampleGen"


# ---------------------------------------------------------------- workload


@dataclass(frozen=True)
class Workload:
    csv_file: Path
    rows: int
    copies: int
    source_rows: int

    @property
    def folder(self) -> Path:
        return self.csv_file.parent


def split_header(source: Path) -> tuple[bytes, bytes, int]:
    """The header line, the data lines (ending with a newline) and their count."""
    content = source.read_bytes()
    header, _, body = content.partition(b"\n")
    if body and not body.endswith(b"\n"):
        body += b"\n"
    return header + b"\n", body, body.count(b"\n")


def make_workload(rows: int, data_root: Path, source: Path = TAXI_CSV) -> Workload:
    """Write (or reuse) header + ceil(rows / source rows) copies of the source's data rows."""
    header, body, source_rows = split_header(source)
    copies = max(1, math.ceil(rows / source_rows))
    workload = Workload(
        csv_file=data_root / f"taxi_{copies * source_rows}" / "taxi.csv",
        rows=copies * source_rows,
        copies=copies,
        source_rows=source_rows,
    )
    expected_size = len(header) + copies * len(body)
    if workload.csv_file.is_file() and workload.csv_file.stat().st_size == expected_size:
        return workload
    workload.folder.mkdir(parents=True, exist_ok=True)
    # Written next to the folder, then renamed in: CsvExampleGen reads every file in it.
    partial = workload.folder.parent / f".{workload.folder.name}.partial"
    with partial.open("wb") as out:
        out.write(header)
        for _ in range(copies):
            out.write(body)
    partial.replace(workload.csv_file)
    return workload


# ---------------------------------------------------------------- timing


@dataclass(frozen=True)
class Timing:
    wall_s: float
    max_rss_kb: int
    user_s: float
    system_s: float
    cpu_percent: str


def parse_clock(value: str) -> float:
    """GNU time's `h:mm:ss` or `m:ss.ss` to seconds."""
    seconds = 0.0
    for part in value.strip().split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def parse_gnu_time(report: str) -> Timing:
    fields = {}
    for line in report.splitlines():
        label, sep, value = line.strip().rpartition(": ")
        if sep:
            fields[label] = value.strip()
    return Timing(
        wall_s=parse_clock(fields["Elapsed (wall clock) time (h:mm:ss or m:ss)"]),
        max_rss_kb=int(fields["Maximum resident set size (kbytes)"]),
        user_s=float(fields["User time (seconds)"]),
        system_s=float(fields["System time (seconds)"]),
        cpu_percent=fields["Percent of CPU this job got"],
    )


def timed_run(command: list[str], log_dir: Path) -> Timing:
    """Run command under `/usr/bin/time -v`, its output to log_dir; fail with the log's tail."""
    log_dir.mkdir(parents=True, exist_ok=True)
    time_file, stdout_file, stderr_file = (
        log_dir / name for name in ("time.txt", "stdout.log", "stderr.log")
    )
    (log_dir / "command.txt").write_text(shlex.join(command) + "\n")
    with stdout_file.open("wb") as stdout, stderr_file.open("wb") as stderr:
        status = subprocess.run(
            [str(GNU_TIME), "-v", "-o", str(time_file), *command],
            stdout=stdout,
            stderr=stderr,
            check=False,
        ).returncode
    if status != 0:
        tail = "\n".join(stderr_file.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"exit status {status}: {shlex.join(command)}\n{tail}")
    return parse_gnu_time(time_file.read_text())


# ---------------------------------------------------------------- counting


def count_tfrecords(path: Path) -> int:
    """Records in one gzip TFRecord file: u64 length, u32 crc, data, u32 crc (crcs not checked)."""
    count = 0
    with gzip.open(path, "rb") as records:
        while header := records.read(12):
            if len(header) < 12:
                raise ValueError(f"{path}: truncated record header after {count} records")
            (length,) = struct.unpack("<Q", header[:8])
            if len(records.read(length + 4)) != length + 4:
                raise ValueError(f"{path}: truncated record after {count} records")
            count += 1
    return count


def count_splits(examples_dir: Path) -> dict[str, int]:
    """Examples per split of an ExampleGen-style folder (Split-<name>/*.gz)."""
    splits = sorted(examples_dir.glob("Split-*"))
    if not splits:
        raise FileNotFoundError(f"no Split-* folder in {examples_dir}")
    return {
        split.name.removeprefix("Split-"): sum(
            count_tfrecords(file) for file in sorted(split.glob("*.gz"))
        )
        for split in splits
    }


def tfx_examples_uri(metadata_path: Path) -> Path:
    """The uri of the one live Examples artifact recorded in the pipeline's ML-metadata."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(metadata_path)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(config)
    live = [
        artifact
        for artifact in store.get_artifacts_by_type("Examples")
        if artifact.state == metadata_store_pb2.Artifact.LIVE
    ]
    if len(live) != 1:
        raise RuntimeError(f"{metadata_path}: expected 1 live Examples artifact, got {len(live)}")
    return Path(live[0].uri)


# ---------------------------------------------------------------- the two tools


@dataclass(frozen=True)
class RunResult:
    tool: str
    repeat: int
    timing: Timing
    splits: dict[str, int]
    output: str


def run_beam_ingest(workload: Workload, run_dir: Path) -> RunResult:
    output = run_dir / "output"
    command = [
        str(VENV_BIN / "beam-ingest"),
        "run",
        "--format",
        "csv",
        "--input",
        str(workload.csv_file),
        "--output",
        str(output),
        "--overwrite",
    ]
    timing = timed_run(command, run_dir / "logs")
    splits = count_splits(output)
    check_beam_ingest_report(output / "ingest_report.json", splits)
    return RunResult(BEAM_INGEST, 0, timing, splits, str(output))


def check_beam_ingest_report(report_file: Path, counted: dict[str, int]) -> None:
    """beam-ingest's own report must state the counts read back from its files."""
    report = json.loads(report_file.read_text())
    reported = {name: split["examples"] for name, split in report["splits"].items()}
    if reported != counted:
        raise RuntimeError(f"{report_file}: reports {reported}, files hold {counted}")


def run_tfx_pipeline(fmt: str, input_folder: Path, run_dir: Path) -> RunResult:
    """TFX's ExampleGen for `fmt` (benchmarks/tfx_pipeline.py) on every file in
    input_folder, timed as a whole process; the tool name is left to the caller."""
    pipeline_root = run_dir / "pipeline_root"
    metadata_path = run_dir / "metadata.sqlite"
    command = [sys.executable, str(BENCH_DIR / "tfx_pipeline.py"), fmt, str(input_folder)]
    command += [str(pipeline_root), "--metadata-path", str(metadata_path)]
    timing = timed_run(command, run_dir / "logs")
    examples = tfx_examples_uri(metadata_path)
    return RunResult("", 0, timing, count_splits(examples), str(examples))


def run_tfx(workload: Workload, run_dir: Path) -> RunResult:
    return replace(run_tfx_pipeline("csv", workload.folder, run_dir), tool=TFX)


Runner = Callable[[Workload, Path], RunResult]
TOOLS: dict[str, tuple[str, Runner]] = {
    BEAM_INGEST: ("beam_ingest", run_beam_ingest),
    TFX: ("tfx", run_tfx),
}


def run_all(workload: Workload, runs_dir: Path, repeats: int, keep: bool) -> list[RunResult]:
    """repeats x (beam-ingest, TFX), each in a fresh folder; outputs deleted unless keep."""
    results = []
    total = repeats * len(TOOLS)
    for repeat in range(1, repeats + 1):
        for tool, (slug, runner) in TOOLS.items():
            run_dir = runs_dir / f"{slug}-{repeat}"
            shutil.rmtree(run_dir, ignore_errors=True)
            result = replace(runner(workload, run_dir), repeat=repeat)
            results.append(result)
            print(
                f"[{len(results)}/{total}] {tool} #{repeat}: {result.timing.wall_s:.1f} s, "
                f"peak RSS {result.timing.max_rss_kb / 1024:,.0f} MiB, splits {result.splits}",
                flush=True,
            )
            if not keep:
                remove_outputs(run_dir)
    return results


def remove_outputs(run_dir: Path) -> None:
    """Delete a run's data, keeping its logs."""
    for child in run_dir.iterdir():
        if child.name != "logs":
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()


# ---------------------------------------------------------------- checks and report


def count_problems(results: list[RunResult], rows: int) -> list[str]:
    """Every run must hold all rows, and both tools the same counts per split."""
    problems = []
    for result in results:
        if sum(result.splits.values()) != rows:
            problems.append(
                f"{result.tool} #{result.repeat}: {sum(result.splits.values()):,} examples, "
                f"expected {rows:,}"
            )
    runs_by_counts: dict[str, list[str]] = {}
    for result in results:
        counts = json.dumps(result.splits, sort_keys=True)
        runs_by_counts.setdefault(counts, []).append(f"{result.tool} #{result.repeat}")
    if len(runs_by_counts) > 1:
        problems.append(
            "split counts differ between runs: "
            + "; ".join(f"{', '.join(runs)}: {counts}" for counts, runs in runs_by_counts.items())
        )
    return problems


def machine_info() -> dict[str, str]:
    meminfo = Path("/proc/meminfo").read_text().split("\n", 1)[0]  # MemTotal: N kB
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "memory": f"{int(meminfo.split()[1]) / 1024**2:.1f} GiB",
        "cpu": cpu_model,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def package_versions() -> dict[str, str]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def summary_rows(results: list[RunResult], rows: int) -> list[list[str]]:
    medians = {
        tool: statistics.median(r.timing.wall_s for r in results if r.tool == tool)
        for tool in TOOLS
    }
    table = []
    for tool in TOOLS:
        runs = [r for r in results if r.tool == tool]
        wall = medians[tool]
        rss_mib = statistics.median(r.timing.max_rss_kb for r in runs) / 1024
        table.append(
            [
                tool,
                f"{wall:.1f}",
                f"{rows / wall:,.0f}",
                f"{rss_mib:,.0f}",
                f"{wall / medians[BEAM_INGEST]:.2f}",
                ", ".join(f"{r.timing.wall_s:.1f}" for r in runs),
            ]
        )
    return table


def display_path(path: Path) -> str:
    """path relative to the project when it is inside it."""
    project = BENCH_DIR.parent
    return str(path.relative_to(project)) if path.is_relative_to(project) else str(path)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def runs_table(results: list[RunResult]) -> str:
    """One row per run: wall, peak RSS, CPU, as GNU time measured them."""
    return markdown_table(
        ["#", "tool", "wall s", "peak RSS MiB", "user s", "sys s", "CPU"],
        [
            [
                str(r.repeat),
                r.tool,
                f"{r.timing.wall_s:.2f}",
                f"{r.timing.max_rss_kb / 1024:,.0f}",
                f"{r.timing.user_s:.1f}",
                f"{r.timing.system_s:.1f}",
                r.timing.cpu_percent,
            ]
            for r in results
        ],
    )


def environment_lines(versions: dict[str, str]) -> list[str]:
    """The machine and package versions, as report lines."""
    return [
        "Machine: " + ", ".join(f"{k} {v}" for k, v in machine_info().items()) + ".",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
        "",
    ]


def render_report(
    workload: Workload, results: list[RunResult], problems: list[str], command: str
) -> str:
    repeats = max(r.repeat for r in results)
    splits = sorted({name for r in results for name in r.splits})
    by_tool = {tool: next(r for r in results if r.tool == tool) for tool in TOOLS}
    size_mb = workload.csv_file.stat().st_size / 1e6
    parts = [
        f"# beam-ingest run vs TFX CsvExampleGen: CSV, {workload.rows:,} rows",
        "",
        f"`{command}` on {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}.",
        "",
        f"Workload: `{display_path(workload.csv_file)}`, {workload.copies} x "
        f"the {workload.source_rows:,} taxi data rows = {workload.rows:,} rows, "
        f"{size_mb:,.1f} MB. {repeats} run(s) per tool, alternating; medians.",
        "",
        markdown_table(
            [
                "tool",
                "median wall s",
                "rows/s",
                "median peak RSS MiB",
                "time / beam-ingest time",
                "wall s of each run",
            ],
            summary_rows(results, workload.rows),
        ),
        "",
        "Examples per split (first run of each tool; every run is checked):",
        "",
        markdown_table(
            ["split", *TOOLS, "equal"],
            [
                [
                    name,
                    *(f"{by_tool[t].splits.get(name, 0):,}" for t in TOOLS),
                    "yes" if len({by_tool[t].splits.get(name) for t in TOOLS}) == 1 else "NO",
                ]
                for name in splits
            ],
        ),
        "",
        "Counts: " + ("all runs agree, all rows present." if not problems else "PROBLEMS"),
        *(f"- {problem}" for problem in problems),
        "",
        "Runs:",
        "",
        runs_table(results),
        "",
        *environment_lines(package_versions()),
        "Whole processes under `/usr/bin/time -v` (interpreter start-up and imports "
        "included); peak RSS is GNU time's maximum resident set size, the largest "
        "single process. Both run on Beam's DirectRunner with its defaults.",
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
    print(f"workload: {workload.csv_file} ({workload.rows:,} rows)", flush=True)
    runs_dir = work_dir / f"compare_csv_{args.rows}"
    try:
        results = run_all(workload, runs_dir, args.repeats, args.keep_outputs)
    except (RuntimeError, ValueError, FileNotFoundError) as error:
        print(f"run failed: {error}\nlogs: {runs_dir}", file=sys.stderr)
        return 2
    problems = count_problems(results, workload.rows)
    cli_args = sys.argv[1:] if argv is None else argv
    command = shlex.join([".venv/bin/python", "benchmarks/compare_csv.py", *cli_args])
    report = render_report(workload, results, problems, command)
    report_file = work_dir / f"compare_csv_{args.rows}.md"
    report_file.write_text(report)
    raw = {"workload": {**asdict(workload), "csv_file": str(workload.csv_file)}}
    raw["runs"] = [asdict(result) for result in results]
    report_file.with_suffix(".json").write_text(json.dumps(raw, indent=2) + "\n")
    print("\n" + report)
    print(f"written to {report_file}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
