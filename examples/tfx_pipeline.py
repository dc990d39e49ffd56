"""A TFX pipeline with beam-ingest as its ExampleGen, and a downstream step
that reads the Examples artifact the way TFX components do (tfx_bsl's TFXIO).

    .venv/bin/python examples/tfx_pipeline.py                # the taxi CSV
    .venv/bin/python examples/tfx_pipeline.py --input-base DIR --format parquet
    .venv/bin/python examples/tfx_pipeline.py -- --direct_num_workers=2 ...

Runs on TFX's LocalDagRunner with an SQLite ML-metadata store under --root
(default: ./tfx_example). Arguments after `--` are Beam pipeline options for
the ExampleGen (e.g. --runner=DataflowRunner ...).
"""

# No `from __future__ import annotations`: TFX's @component reads the
# annotations as objects.

import argparse
import os
import sys
from typing import TypedDict

from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.components.base import executor_spec
from tfx.orchestration import metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.types import artifact_utils, standard_artifacts

from beam_ingest.example_gen import Executor, custom_config

TAXI = os.path.join(
    os.path.dirname(sys.modules["tfx"].__file__),
    "examples", "chicago_taxi_pipeline", "data", "simple",
)  # fmt: skip


class Counts(TypedDict):
    rows: int
    columns: int


@component
def CountExamples(
    examples: InputArtifact[standard_artifacts.Examples],
) -> Counts:
    """A downstream consumer: reads every split through tfx_bsl's TFXIO, as
    StatisticsGen or Transform would, with the schema beam-ingest wrote."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2
    from tfx_bsl.public import tfxio

    with open(os.path.join(examples.uri, "schema.pbtxt")) as f:
        schema = text_format.Parse(f.read(), schema_pb2.Schema())
    rows = 0
    for split in artifact_utils.decode_split_names(examples.split_names):
        source = tfxio.TFExampleRecord(
            file_pattern=os.path.join(examples.uri, f"Split-{split}", "*"),
            schema=schema,
            telemetry_descriptors=["beam_ingest_example"],
        )
        options = tfxio.RecordBatchesOptions(batch_size=4096, num_epochs=1, shuffle=False)
        split_rows = sum(batch.num_rows for batch in source.RecordBatches(options))
        print(f"{split}: {split_rows} examples, {len(schema.feature)} features")
        rows += split_rows
    return {"rows": rows, "columns": len(schema.feature)}


def build_pipeline(
    input_base: str, root: str, fmt: str | None = None, beam_args: list[str] | None = None
) -> tfx_pipeline.Pipeline:
    options = {"format": fmt} if fmt else {}
    example_gen = FileBasedExampleGen(
        input_base=input_base,
        custom_config=custom_config(**options),
        custom_executor_spec=executor_spec.BeamExecutorSpec(Executor),
    )
    count = CountExamples(examples=example_gen.outputs["examples"])
    return tfx_pipeline.Pipeline(
        pipeline_name="beam_ingest_example",
        pipeline_root=root,
        components=[example_gen, count],
        enable_cache=False,
        metadata_connection_config=metadata.sqlite_metadata_connection_config(
            os.path.join(root, "metadata.sqlite")
        ),
        beam_pipeline_args=beam_args or [],
    )


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    beam_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-base", default=TAXI, help="folder of input files")
    parser.add_argument("--format", help="input format (default: from the files' extension)")
    parser.add_argument("--root", default="tfx_example", help="pipeline root")
    args = parser.parse_args(argv)
    root = os.path.abspath(args.root)
    os.makedirs(root, exist_ok=True)
    LocalDagRunner().run(build_pipeline(args.input_base, root, args.format, beam_args))


if __name__ == "__main__":
    main()
