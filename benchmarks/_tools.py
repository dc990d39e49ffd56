"""The tool runners of benchmarks/run.py: one timed, counted run of a tool on a workload.

beam1/beam2 run the `beam-ingest` CLI, tfx runs benchmarks/tfx_pipeline.py (its
examples found through ML-metadata), pandas and floor run benchmarks/pandas_loop.py
and benchmarks/floor.py; startup times `beam-ingest run` on a tiny CSV and lists
what it imports. Every run is a whole process under `/usr/bin/time -v`
(benchmarks/_measure.py).
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

from _measure import Measurement, RunFailed, count_splits, timed_run
from _plan import BENCH_DIR, STARTUP_ROWS, VENV_BIN, Workload, tool_label


@dataclass
class RunResult:
    tool: str
    label: str
    fmt: str
    rows: int
    repeat: int
    measurement: Measurement
    splits: dict[str, int]
    notes: dict[str, object] = field(default_factory=dict)


def beam_command(workload: Workload, output: Path, workers: int) -> list[str]:
    source = f"{workload.input}/**" if workload.fmt == "images" else str(workload.input)
    command = [str(VENV_BIN / "beam-ingest"), "run", "--format", workload.fmt]
    command += ["--input", source, "--output", str(output), "--overwrite"]
    if workers > 1:
        command += ["--", "--direct_running_mode=multi_processing"]
        command += [f"--direct_num_workers={workers}"]
    return command


def check_beam_report(output: Path, counted: dict[str, int]) -> None:
    report = json.loads((output / "ingest_report.json").read_text())
    reported = {name: split["examples"] for name, split in report["splits"].items()}
    if reported != counted:
        raise RunFailed(f"{output}: ingest_report.json says {reported}, the files hold {counted}")


def tfx_examples_uri(metadata_path: Path) -> Path:
    """The uri of the one live Examples artifact recorded in the pipeline's ML-metadata."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(metadata_path)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    live = [
        artifact
        for artifact in metadata_store.MetadataStore(config).get_artifacts_by_type("Examples")
        if artifact.state == metadata_store_pb2.Artifact.LIVE
    ]
    if len(live) != 1:
        raise RunFailed(f"{metadata_path}: expected 1 live Examples artifact, got {len(live)}")
    return Path(live[0].uri)


def run_tool(tool: str, workload: Workload, run_dir: Path, repeat: int) -> RunResult:
    """One timed run of tool on workload in run_dir (fresh), its output counted."""
    output = run_dir / "output"
    logs = run_dir / "logs"
    notes: dict[str, object] = {}
    python = sys.executable
    if tool in ("beam1", "beam2"):
        measurement = timed_run(beam_command(workload, output, 2 if tool == "beam2" else 1), logs)
        splits = count_splits(output)
        check_beam_report(output, splits)
    elif tool == "tfx":
        metadata_path = run_dir / "metadata.sqlite"
        command = [python, str(BENCH_DIR / "tfx_pipeline.py"), workload.fmt]
        command += [str(workload.input.parent), str(output), "--metadata-path", str(metadata_path)]
        measurement = timed_run(command, logs)
        splits = count_splits(tfx_examples_uri(metadata_path))
    else:
        script = "pandas_loop.py" if tool == "pandas" else "floor.py"
        command = [python, str(BENCH_DIR / script), workload.fmt, str(workload.input), str(output)]
        measurement = timed_run(command, logs)
        splits = count_splits(output)
        if tool == "floor":
            printed = json.loads((logs / "stdout.log").read_text().strip().splitlines()[-1])
            notes["tensorflow_imported"] = printed["tensorflow_imported"]
    return RunResult(
        tool,
        tool_label(tool, workload.fmt),
        workload.fmt,
        workload.rows,
        repeat,
        measurement,
        splits,
        notes,
    )


def run_startup(csv_file: Path, runs_dir: Path, repeats: int) -> dict[str, object]:
    """`beam-ingest run` on the 10-row CSV: wall times, and whether TensorFlow is imported."""
    walls = []
    for repeat in range(1, repeats + 1):
        run_dir = runs_dir / f"startup-{repeat}"
        shutil.rmtree(run_dir, ignore_errors=True)
        output = run_dir / "output"
        workload = Workload("csv", STARTUP_ROWS, csv_file)
        measurement = timed_run(beam_command(workload, output, 1), run_dir / "logs")
        splits = count_splits(output)
        if sum(splits.values()) != STARTUP_ROWS:
            raise RunFailed(f"start-up run wrote {splits}, expected {STARTUP_ROWS} examples")
        walls.append(measurement.wall_s)
        print(f"[startup #{repeat}] {measurement.wall_s:.2f} s", flush=True)
    run_dir = runs_dir / "startup-importtime"
    shutil.rmtree(run_dir, ignore_errors=True)
    command = [sys.executable, "-X", "importtime", str(VENV_BIN / "beam-ingest")]
    command += beam_command(Workload("csv", STARTUP_ROWS, csv_file), run_dir / "output", 1)[1:]
    timed_run(command, run_dir / "logs")
    imported = sorted(
        {
            line.rsplit("|", 1)[1].strip()
            for line in (run_dir / "logs" / "stderr.log").read_text().splitlines()
            if line.startswith("import time:") and "|" in line
        }
    )
    heavy = sorted({m.split(".")[0] for m in imported} & {"tensorflow", "tfx", "pandas"})
    return {
        "walls": walls,
        "median_s": statistics.median(walls),
        "tensorflow_imported": any(m.split(".")[0] == "tensorflow" for m in imported),
        "heavy_modules": heavy[:10],
        "modules": len(imported),
    }


def remove_outputs(run_dir: Path) -> None:
    """Delete a run's data, keeping its logs."""
    for child in run_dir.iterdir():
        if child.name != "logs":
            shutil.rmtree(child) if child.is_dir() else child.unlink()


def run_all(
    plan: list[tuple[Workload, str]], runs_dir: Path, repeats: int, keep: bool
) -> list[RunResult]:
    results = []
    total = repeats * len(plan)
    for repeat in range(1, repeats + 1):
        for workload, tool in plan:
            run_dir = runs_dir / workload.slug / f"{tool}-{repeat}"
            shutil.rmtree(run_dir, ignore_errors=True)
            result = run_tool(tool, workload, run_dir, repeat)
            results.append(result)
            m = result.measurement
            print(
                f"[{len(results)}/{total}] {workload.name}, {result.label} #{repeat}: "
                f"{m.wall_s:.1f} s, peak RSS {m.peak_rss_kb * 1024 / 1e6:,.0f} MB "
                f"({m.processes} process(es)), CPU {m.cpu_percent}, splits {result.splits}",
                flush=True,
            )
            if not keep:
                remove_outputs(run_dir)
    return results
