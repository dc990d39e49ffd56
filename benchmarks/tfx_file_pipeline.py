"""Run TFX's Parquet or Avro ExampleGen executor on one input folder, on LocalDagRunner.

    .venv/bin/python benchmarks/tfx_file_pipeline.py {parquet,avro} INPUT_FOLDER PIPELINE_ROOT

The pipeline has the one component, FileBasedExampleGen(input_base=INPUT_FOLDER)
with TFX's custom executor for the format (`parquet_executor.Executor` or
`avro_executor.Executor`, as a BeamExecutorSpec), default input config (every
file in the folder) and split config (train=2, eval=1), no Beam arguments (so
Beam's DirectRunner with its defaults) and an SQLite ML-metadata store at
PIPELINE_ROOT/metadata.sqlite (or --metadata-path). The Examples artifact is
written under PIPELINE_ROOT/FileBasedExampleGen/examples/<id>/.
benchmarks/compare_formats.py runs this script as a separate process to time it;
it is the Parquet/Avro counterpart of benchmarks/tfx_csv_pipeline.py.

TFX is installed with --no-deps here, so TFX is imported by module path
(`from tfx import v1` would import tensorflow-data-validation, not installed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.components.example_gen.custom_executors import avro_executor, parquet_executor
from tfx.dsl.components.base import executor_spec
from tfx.orchestration import metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx_csv_pipeline import METADATA_FILE

EXECUTORS = {"parquet": parquet_executor.Executor, "avro": avro_executor.Executor}


def build_pipeline(
    executor: str, input_folder: Path, pipeline_root: Path, metadata_path: Path
) -> tfx_pipeline.Pipeline:
    """A pipeline of FileBasedExampleGen alone, reading every file in input_folder."""
    example_gen = FileBasedExampleGen(
        input_base=str(input_folder),
        custom_executor_spec=executor_spec.BeamExecutorSpec(EXECUTORS[executor]),
    )
    return tfx_pipeline.Pipeline(
        pipeline_name=f"compare_formats_{executor}",
        pipeline_root=str(pipeline_root),
        components=[example_gen],
        enable_cache=False,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(str(metadata_path)),
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("executor", choices=sorted(EXECUTORS), help="TFX custom executor")
    parser.add_argument("input_folder", type=Path, help="folder holding the input file(s)")
    parser.add_argument("pipeline_root", type=Path, help="TFX pipeline root (outputs)")
    parser.add_argument(
        "--metadata-path",
        type=Path,
        default=None,
        help=f"SQLite ML-metadata file (default: PIPELINE_ROOT/{METADATA_FILE})",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    input_folder = args.input_folder.resolve()
    pipeline_root = args.pipeline_root.resolve()
    metadata_path = (args.metadata_path or pipeline_root / METADATA_FILE).resolve()
    pipeline_root.mkdir(parents=True, exist_ok=True)
    metadata_path.parent.mkdir(parents=True, exist_ok=True)
    LocalDagRunner().run(build_pipeline(args.executor, input_folder, pipeline_root, metadata_path))


if __name__ == "__main__":
    main()
