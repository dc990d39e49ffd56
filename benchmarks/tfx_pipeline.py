"""Run one TFX ExampleGen on one input folder, as a TFX pipeline on LocalDagRunner.

    .venv/bin/python benchmarks/tfx_pipeline.py {csv,parquet,avro} INPUT_FOLDER PIPELINE_ROOT

`csv` is TFX's `CsvExampleGen`; `parquet` and `avro` are `FileBasedExampleGen`
with TFX's custom executor for the format (`parquet_executor.Executor`,
`avro_executor.Executor`). The pipeline has that one component, the default
input config (every file in the folder) and split config (train=2, eval=1),
no Beam arguments (so Beam's DirectRunner with its defaults) and an SQLite
ML-metadata store at PIPELINE_ROOT/metadata.sqlite (or --metadata-path).
benchmarks/run.py runs this script as a separate process to time it, and
finds its Examples artifact in the store.

TFX is installed with --no-deps here, so TFX is imported by module path
(`from tfx import v1` would import tensorflow-data-validation, not installed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.components.example_gen.csv_example_gen.component import CsvExampleGen
from tfx.components.example_gen.custom_executors import avro_executor, parquet_executor
from tfx.dsl.components.base import executor_spec
from tfx.orchestration import metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.local.local_dag_runner import LocalDagRunner

METADATA_FILE = "metadata.sqlite"
EXECUTORS = {"parquet": parquet_executor.Executor, "avro": avro_executor.Executor}
FORMATS = ("csv", *EXECUTORS)


def build_pipeline(
    fmt: str, input_folder: Path, pipeline_root: Path, metadata_path: Path
) -> tfx_pipeline.Pipeline:
    """A pipeline of the format's ExampleGen alone, reading every file in input_folder."""
    if fmt == "csv":
        example_gen = CsvExampleGen(input_base=str(input_folder))
    else:
        example_gen = FileBasedExampleGen(
            input_base=str(input_folder),
            custom_executor_spec=executor_spec.BeamExecutorSpec(EXECUTORS[fmt]),
        )
    return tfx_pipeline.Pipeline(
        pipeline_name=f"compare_{fmt}",
        pipeline_root=str(pipeline_root),
        components=[example_gen],
        enable_cache=False,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(str(metadata_path)),
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("format", choices=FORMATS, help="input format: which ExampleGen")
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
    LocalDagRunner().run(build_pipeline(args.format, input_folder, pipeline_root, metadata_path))


if __name__ == "__main__":
    main()
