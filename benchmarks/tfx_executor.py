"""Issue 7's figure: a whole TFX pipeline run on LocalDagRunner with
beam-ingest's ExampleGen executor against the same pipeline with TFX's
CsvExampleGen, on the taxi CSV repeated 20 times (300,040 rows).

    .venv/bin/python benchmarks/tfx_executor.py [--rows 300040] [--repeats 3]

Each repeat runs both pipelines (alternating) as whole processes under
`/usr/bin/time -v`: one ExampleGen component, default splits, an SQLite
ML-metadata store; so times and peak RSS include Python, TFX and TensorFlow
start-up. Example counts per split must agree. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _measure import count_splits, timed_run
from _workloads import make_taxi_csv
from run import WORK_DIR, tfx_examples_uri

TOOLS = ("beam-ingest executor", "TFX CsvExampleGen")


def run_inner(tool: str, input_folder: str, root: str) -> None:
    """The pipeline itself (in the timed child process)."""
    from tfx.components.example_gen.component import FileBasedExampleGen
    from tfx.components.example_gen.csv_example_gen.component import CsvExampleGen
    from tfx.dsl.components.base import executor_spec
    from tfx.orchestration import metadata
    from tfx.orchestration import pipeline as tfx_pipeline
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner

    if tool == TOOLS[0]:
        from beam_ingest.example_gen import Executor

        component = FileBasedExampleGen(
            input_base=input_folder,
            custom_executor_spec=executor_spec.BeamExecutorSpec(Executor),
        )
    else:
        component = CsvExampleGen(input_base=input_folder)
    LocalDagRunner().run(
        tfx_pipeline.Pipeline(
            pipeline_name="bench",
            pipeline_root=root,
            components=[component],
            enable_cache=False,
            metadata_connection_config=metadata.sqlite_metadata_connection_config(
                f"{root}/metadata.sqlite"
            ),
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_040)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--inner", nargs=3, metavar=("TOOL", "INPUT", "ROOT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.inner:
        run_inner(*args.inner)
        return 0
    csv_file = make_taxi_csv(args.rows, WORK_DIR / "data")
    results: dict[str, list] = {tool: [] for tool in TOOLS}
    counts: dict[str, dict] = {}
    for repeat in range(args.repeats):
        for index, tool in enumerate(TOOLS):
            root = WORK_DIR / "tfx_executor" / f"{index}-{repeat}"
            if root.exists():
                import shutil

                shutil.rmtree(root)
            root.mkdir(parents=True)
            command = [sys.executable, __file__, "--inner", tool, str(csv_file.parent), str(root)]
            timing = timed_run(command, root / "logs")
            counts[tool] = count_splits(tfx_examples_uri(root / "metadata.sqlite"))
            results[tool].append(timing)
            print(
                f"{tool} #{repeat + 1}: {timing.wall_s:.1f} s, {timing.peak_rss_kb / 1024:.0f} MiB"
            )
    if counts[TOOLS[0]] != counts[TOOLS[1]]:
        print(f"example counts differ: {counts}")
        return 1
    ours, theirs = (statistics.median(t.wall_s for t in results[tool]) for tool in TOOLS)
    print(f"\n{args.rows:,} rows, median of {args.repeats}; counts per split {counts[TOOLS[0]]}\n")
    print("| pipeline | wall s | peak RSS MiB |\n| --- | ---: | ---: |")
    for tool in TOOLS:
        wall = statistics.median(t.wall_s for t in results[tool])
        rss = statistics.median(t.peak_rss_kb for t in results[tool]) / 1024
        print(f"| {tool} | {wall:.1f} | {rss:,.0f} |")
    print(f"\nbeam-ingest's executor: {theirs / ours:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
