"""Run TFX's CsvExampleGen on one input folder, as a TFX pipeline on LocalDagRunner.

    .venv/bin/python benchmarks/tfx_csv_pipeline.py INPUT_FOLDER PIPELINE_ROOT

The pipeline has the one component, default split config (train=2, eval=1),
no Beam arguments (so Beam's DirectRunner with its defaults) and an SQLite
ML-metadata store at PIPELINE_ROOT/metadata.sqlite (or --metadata-path). The
Examples artifact is written under PIPELINE_ROOT/CsvExampleGen/examples/<id>/.
benchmarks/compare_csv.py runs this script as a separate process to time it.

TFX is installed with --no-deps here, so TFX is imported by module path
(`from tfx import v1` would import tensorflow-data-validation, not installed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tfx.components.example_gen.csv_example_gen.component import CsvExampleGen
from tfx.orchestration import metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.local.local_dag_runner import LocalDagRunner

PIPELINE_NAME = "compare_csv"
METADATA_FILE = "metadata.sqlite"


def build_pipeline(
    input_folder: Path, pipeline_root: Path, metadata_path: Path
) -> tfx_pipeline.Pipeline:
    """A pipeline of CsvExampleGen alone, reading every file in input_folder."""
    example_gen = CsvExampleGen(input_base=str(input_folder))
    return tfx_pipeline.Pipeline(
        pipeline_name=PIPELINE_NAME,
        pipeline_root=str(pipeline_root),
        components=[example_gen],
        enable_cache=False,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(str(metadata_path)),
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input_folder", type=Path, help="folder holding the CSV file(s)")
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
    LocalDagRunner().run(build_pipeline(input_folder, pipeline_root, metadata_path))


if __name__ == "__main__":
    main()
