"""The TFX executor: `Ingest` inside a `FileBasedExampleGen` execution.

One generic `Executor` reads every format of the format table; the format
comes from `custom_config` or the input files' extensions. `executor_for`
makes the thin per-format classes (`CsvExecutor`, ...) that
`beam_ingest.example_gen` names, for TFX users who give a class path.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping
from typing import Any

import apache_beam as beam
from tfx import types
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from beam_ingest import formats
from beam_ingest.errors import DataError, IngestError, from_pipeline_failure
from beam_ingest.tfx_config import TfxRun, translate

__all__ = ["Executor", "executor_for"]


def _payload_format(run: TfxRun, config=None) -> str:
    if config is not None and config.sink.payload_format != "FORMAT_TF_EXAMPLE":
        return config.sink.payload_format  # Parquet
    if config is not None and config.payload_format != "FORMAT_TF_EXAMPLE":
        return config.payload_format  # tf.SequenceExamples (sequence options or input)
    fmt = run.values.get("format")
    return formats.get(fmt).payload_format if fmt else "FORMAT_TF_EXAMPLE"


class Executor(BaseExampleGenExecutor):
    """`FileBasedExampleGen` executor for every format beam-ingest reads.

    Writes TFX's layout into the Examples artifact (`Split-<name>/` gzip
    TFRecords, deterministic tf.Example bytes in TFX's hash splits), plus
    `schema.pbtxt`, `ingest_report.json` and, for bad records, `errors/`.
    Sets `split_names`, `payload_format` and `file_format` on the artifact,
    and the counts as custom properties.

    Raises:
        ConfigError: a bad configuration (before anything runs).
        DataError: more bad records than `max_bad_records` allows.
    """

    #: The format a per-format subclass is fixed to.
    FORMAT: str | None = None
    #: input_base is a dataset registry and patterns name its entries.
    REGISTRY = False

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        from beam_ingest.config import build_config
        from beam_ingest.ingest import Ingest

        self._log_startup(input_dict, output_dict, exec_properties)
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY]
        )
        run = translate(
            exec_properties, examples.uri, fixed_format=self.FORMAT, registry=self.REGISTRY
        )
        config = build_config(run.values, where="custom_config")
        config = dataclasses.replace(
            config,
            # TFX made the artifact's folder; an earlier failed attempt of
            # this execution may have left files in it.
            overwrite=True,
            report_fields={**config.report_fields, **run.report_fields},
        )
        try:
            with self._pipeline() as pipeline:
                _ = pipeline | "Ingest" >> Ingest(config)
        except IngestError:
            raise
        except Exception as e:
            error = from_pipeline_failure(e)
            if error is None:
                raise
            raise error from e
        report = _read_report(examples.uri)
        examples.split_names = artifact_utils.encode_split_names(run.split_names)
        examples_utils.set_payload_format(
            examples, example_gen_pb2.PayloadFormat.Value(_payload_format(run, config))
        )
        examples_utils.set_file_format(examples, config.sink.file_format)
        examples.set_int_custom_property("beam_ingest_examples", report["examples"])
        examples.set_int_custom_property("beam_ingest_bad_records", report["bad_records"]["count"])
        if "registry" in report:
            checksums = {
                entry["name"]: {f["name"]: f["sha256"] for f in entry["files"]}
                for selection in report["registry"].values()
                for entry in selection["entries"]
            }
            examples.set_string_custom_property(
                "registry_entries", json.dumps(checksums, sort_keys=True)
            )

    def _pipeline(self) -> beam.Pipeline:
        """TFX's pipeline factory if the orchestrator gave one, else a pipeline
        with beam-ingest's runner defaults (`beam_ingest.runners`)."""
        if self._make_beam_pipeline_fn is not None:
            return self._make_beam_pipeline_fn()
        from beam_ingest.runners import pipeline_options

        return beam.Pipeline(options=pipeline_options(self._beam_pipeline_args or []))

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        """TFX's per-split extension point, for code that calls TFX's own
        `GenerateExamplesByBeam`: one input pattern to serialized examples.
        `Do` does not use it (it runs the whole `Ingest`). Here bad records
        fail the pipeline, since the caller has nowhere to put them."""
        return functools.partial(_InputToExamples, fixed_format=self.FORMAT)


@beam.ptransform_fn
@beam.typehints.with_output_types(bytes)
def _InputToExamples(
    pbegin: beam.pvalue.PBegin,
    exec_properties: Mapping[str, Any],
    split_pattern: str,
    *,
    fixed_format: str | None,
) -> beam.PCollection:
    from beam_ingest.config import build_config
    from beam_ingest.transforms.encode import ToTFExample

    properties = dict(exec_properties)
    properties[standard_component_specs.INPUT_CONFIG_KEY] = proto_utils.proto_to_json(
        example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name="single_split", pattern=split_pattern)]
        )
    )
    properties[standard_component_specs.OUTPUT_CONFIG_KEY] = proto_utils.proto_to_json(
        example_gen_pb2.Output()
    )
    run = translate(properties, "unused", fixed_format=fixed_format)
    source = next(iter(build_config(run.values, where="custom_config").split_sources.values()))
    read = pbegin | "Read" >> source
    _ = read.bad_records | "FailOnBadRecord" >> beam.Map(_fail_on_bad_record)
    return (
        read.records
        | "ToTFExample" >> ToTFExample()
        | "Unbatch" >> beam.FlatMap(lambda batch: batch.examples)
    )


def _fail_on_bad_record(bad) -> None:
    raise DataError(f"{bad.file}:{bad.record}: {bad.reason}")


def _read_report(output_dir: str) -> dict:
    from beam_ingest import files

    return json.loads(files.read_bytes(files.join(output_dir, "ingest_report.json")))


@functools.cache
def executor_for(format_name: str) -> type[Executor]:
    """The `Executor` subclass fixed to one format, named as the format table says.

    Raises:
        ConfigError: no such format.
    """
    fmt = formats.get(format_name)
    name = fmt.executor or f"{fmt.name.title()}Executor"
    return type(
        name,
        (Executor,),
        {
            "FORMAT": fmt.name,
            "__doc__": f"`Executor` for {fmt.name} only ({fmt.description}).",
            "__module__": "beam_ingest.example_gen",
            "__qualname__": name,
        },
    )
