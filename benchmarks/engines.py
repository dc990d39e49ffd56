"""One CSV ingestion on each engine: DirectRunner, embedded Flink, standalone
Flink with parallelism 1 and 2, standalone Spark.

For each engine: the wall time of a 10-row run (start-up: job server, cluster
job submission, workers), the wall time of a run over N rows (the Chicago taxi
CSV that the tfx wheel ships, 15k rows, replicated), and the peak memory of the
run summed over every process it involves: the `beam-ingest` process tree
(job-server JVM and SDK workers included), the cluster's JVMs and the Beam
worker pool's tree, sampled from /proc every 0.2 s with psutil. The idle
clusters' own memory is reported too (it is part of each standalone peak).

    .venv/bin/python benchmarks/engines.py --rows 300000
    .venv/bin/python benchmarks/engines.py --rows 20000 --engines direct,flink-2

A standalone cluster the script starts (engines/cluster.py) it also stops; one
that was already up is left up. An engine that cannot run here is reported with
its error, not left out. Results: a table on stdout and benchmarks/work/engines.json.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "engines"))

import cluster  # noqa: E402  engines/cluster.py

BIN = Path(sys.executable).parent
TAXI = (
    Path(sys.prefix)
    / "lib/python3.11/site-packages/tfx/examples/chicago_taxi_pipeline/data/simple/data.csv"
)
ENGINES = {
    "direct": [],
    "flink-embedded": ["--runner=FlinkRunner"],
    "flink-1": ["--runner=FlinkRunner", "--flink_master=localhost:8081", "--parallelism=1"],
    "flink-2": ["--runner=FlinkRunner", "--flink_master=localhost:8081", "--parallelism=2"],
    "spark": ["--runner=SparkRunner", "--spark_master_url=spark://127.0.0.1:7077"],
}
NEEDS = {"flink-1": "flink", "flink-2": "flink", "spark": "spark"}


def replicate_csv(rows: int, path: Path) -> Path:
    if path.is_file() and sum(1 for _ in path.open()) == rows + 1:
        return path
    with TAXI.open() as f:
        header, *body = f.readlines()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        out.write(header)
        out.writelines(itertools.islice(itertools.cycle(body), rows))
    return path


def cluster_pids(engine: str) -> list[int]:
    pids = list(cluster.pids("worker-pool"))
    if NEEDS.get(engine) == "flink":
        pids += cluster.flink_jvm_pids()
    if NEEDS.get(engine) == "spark":
        pids += cluster.spark_jvm_pids()
    return pids


def tree_rss(roots: list[int]) -> int:
    """Bytes of RSS summed over the processes `roots` and all their descendants."""
    seen, total = set(), 0
    for root in roots:
        try:
            top = psutil.Process(root)
            procs = [top, *top.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in procs:
            if proc.pid in seen:
                continue
            seen.add(proc.pid)
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
    return total


def timed(command: list[str], extra_roots: list[int]) -> dict:
    """Runs `command`; its wall time and the peak RSS of it plus extra_roots' trees."""
    started = time.time()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss([process.pid, *extra_roots]))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = process.communicate()
    wall = time.time() - started
    done.set()
    sampler.join()
    result = {"wall_s": round(wall, 1), "peak_rss_mb": round(peak / 2**20)}
    if process.returncode != 0:
        lines = [line for line in err.splitlines() if line.strip()]
        result["error"] = lines[-1] if lines else f"exit {process.returncode}"
    return result


def ingest(csv: Path, out: Path, beam_args: list[str]) -> list[str]:
    return [str(BIN / "beam-ingest"), "run", "--format", "csv", "--input", str(csv),
            "--output", str(out), "--overwrite", "--", *beam_args]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "work" / "engines")
    args = parser.parse_args(argv)
    engines = args.engines.split(",")
    small = replicate_csv(10, args.work / "csv-10.csv")
    big = replicate_csv(args.rows, args.work / f"csv-{args.rows}.csv")
    started_here: list[str] = []
    results: dict[str, dict] = {}
    clusters: dict[str, dict] = {}
    try:
        for engine in engines:
            need = NEEDS.get(engine)
            row: dict = {}
            if need and need not in clusters:
                t0 = time.time()
                up = subprocess.run([sys.executable, str(ROOT / "engines" / "cluster.py"),
                                     f"{need}-up"], capture_output=True, text=True)  # fmt: skip
                clusters[need] = {"up_s": round(time.time() - t0, 1)}
                if up.returncode != 0:
                    clusters[need]["error"] = up.stderr.strip().splitlines()[-1]
                else:
                    started_here.append(need)
                    time.sleep(2)
                    idle = tree_rss(cluster_pids(engine))
                    clusters[need]["idle_rss_mb"] = round(idle / 2**20)
            if need and "error" in clusters[need]:
                results[engine] = {"error": f"{need}-up: {clusters[need]['error']}"}
                continue
            roots = cluster_pids(engine) if need else []
            row["startup_10_rows"] = timed(
                ingest(small, args.work / "out-small", ENGINES[engine]), roots
            )
            if "error" not in row["startup_10_rows"]:
                row["rows"] = timed(ingest(big, args.work / "out-big", ENGINES[engine]), roots)
            results[engine] = row
            print(engine, json.dumps(row), flush=True)
    finally:
        for need in reversed(started_here):
            subprocess.run([sys.executable, str(ROOT / "engines" / "cluster.py"), f"{need}-down"],
                           capture_output=True)  # fmt: skip
    report = {"rows": args.rows, "cpus": os.cpu_count(), "engines": results, "clusters": clusters}
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work.parent / "engines.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{args.rows:,} CSV rows, {os.cpu_count()} cores\n")
    print("| engine | 10-row run (s) | run (s) | rows/s | peak RSS, all processes (MB) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for engine, row in results.items():
        run, small_run = row.get("rows", {}), row.get("startup_10_rows", {})
        error = row.get("error") or small_run.get("error") or run.get("error")
        if error:
            print(f"| {engine} | not run: {error} | | | |")
            continue
        rate = args.rows / run["wall_s"] if run.get("wall_s") else 0
        print(f"| {engine} | {small_run['wall_s']} | {run['wall_s']} | {rate:,.0f} | "
              f"{run['peak_rss_mb']:,} |")  # fmt: skip
    for name, info in clusters.items():
        print(f"\n{name} cluster: up in {info['up_s']} s" + (
            f", idle RSS {info['idle_rss_mb']:,} MB (JVMs + worker pool)"
            if "idle_rss_mb" in info else f": {info.get('error')}"))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
