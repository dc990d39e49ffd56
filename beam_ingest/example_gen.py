"""beam-ingest inside TFX: a drop-in executor for `FileBasedExampleGen`.

    from tfx.components.example_gen.component import FileBasedExampleGen
    from tfx.dsl.components.base import executor_spec
    from beam_ingest.example_gen import Executor, custom_config

    FileBasedExampleGen(
        input_base="data/",
        custom_config=custom_config(format="csv", max_bad_records=10),
        custom_executor_spec=executor_spec.BeamExecutorSpec(Executor),
    )

The only module of beam-ingest that imports TFX. TFX's `FileBasedDriver`
resolves `{SPAN}`/`{VERSION}` specs and `range_config` before the executor
runs; the executor receives concrete patterns relative to `input_base` and
runs the same pipeline as `beam-ingest run` (`Ingest`: columnar read, C++
encode, hash split, write, commit), with TFX's configuration translated into
the CLI's arguments so that both accept exactly the same options.

`custom_config` keys are the CLI's `run` options with `_` for `-`
(`format`, `max_bad_records`, `schema`, `delimiter`, `columns`,
`label_pattern`, `transform_fn`, ...), except those TFX's own configuration
owns (inputs, output, splits, partition feature, spans, compression);
`module_file` with `transform_fn` naming a function in it is TFX's spelling
of `transform_fn="FILE.py:FN"`. Without `format`, the format follows from
the input files' extension.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import io
import json
import os
from collections.abc import Mapping
from typing import Any

import apache_beam as beam
from google.protobuf import json_format, struct_pb2
from tfx import types
from tfx.components.example_gen import driver as tfx_driver
from tfx.components.example_gen import input_processor as tfx_input_processor
from tfx.components.example_gen import utils as tfx_utils
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.components.util import examples_utils
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from beam_ingest.errors import ConfigError, DataError, IngestError, from_pipeline_failure

__all__ = [
    "AvroExecutor",
    "CsvExecutor",
    "Executor",
    "ImageExecutor",
    "JsonlExecutor",
    "ParquetExecutor",
    "RegistryExampleGen",
    "RegistryExecutor",
    "TFRecordExecutor",
    "custom_config",
]

#: Input file extensions (after .gz/.bz2) and the format each means.
EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".avro": "avro",
    ".tfrecord": "tfrecord",
    ".tfrecords": "tfrecord",
    **{
        ext: "images" for ext in (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")
    },
}

#: `run` options that TFX's own configuration sets; not valid in custom_config.
_TFX_OWNED = frozenset(
    {
        "input",
        "input_split",
        "output",
        "split",
        "partition_feature",
        "span",
        "span_range",
        "last_spans",
        "overwrite",
        "verbose",
        "compression",
        "registry",
    }
)


def custom_config(**options: Any) -> example_gen_pb2.CustomConfig:
    """`FileBasedExampleGen(custom_config=...)` from keyword options.

    TFX's `CustomConfig` holds a `google.protobuf.Any`; this packs the options
    as a `Struct`. Keys are `run` options with `_` for `-`; a flag is `True`;
    `columns` may be a list.

        custom_config(format="csv", delimiter=";", max_bad_records=10)
    """
    struct = struct_pb2.Struct()
    struct.update({k: list(v) if isinstance(v, list | tuple) else v for k, v in options.items()})
    config = example_gen_pb2.CustomConfig()
    config.custom_config.Pack(struct)
    return config


def _custom_options(exec_properties: Mapping[str, Any]) -> dict[str, Any]:
    """The options in exec_properties' custom_config (a CustomConfig proto as
    JSON, as the TFX orchestrators pass it, or a plain JSON object)."""
    raw = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
    if not raw:
        return {}
    if isinstance(raw, example_gen_pb2.CustomConfig):
        raw = proto_utils.proto_to_json(raw)
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"custom_config: not a JSON object: {raw!r}") from e
    if isinstance(parsed, dict) and "custom_config" in parsed:
        packed = example_gen_pb2.CustomConfig()
        json_format.ParseDict(parsed, packed)
        if not packed.custom_config.Is(struct_pb2.Struct.DESCRIPTOR):
            raise ConfigError(
                "custom_config: expected a google.protobuf.Struct packed in CustomConfig "
                "(use beam_ingest.example_gen.custom_config(...)); got "
                f"{packed.custom_config.type_url!r}"
            )
        struct = struct_pb2.Struct()
        packed.custom_config.Unpack(struct)
        parsed = json_format.MessageToDict(struct)
    if not isinstance(parsed, dict):
        raise ConfigError(f"custom_config: not a JSON object: {raw!r}")
    return parsed


def _run_parser() -> argparse.ArgumentParser:
    from beam_ingest.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return subparsers.choices["run"]


def _option_argv(options: Mapping[str, Any], actions: Mapping[str, argparse.Action]) -> list[str]:
    """custom_config options as `run` arguments."""
    argv: list[str] = []
    for key, value in options.items():
        action = actions[key]
        flag = action.option_strings[-1]
        if isinstance(action, argparse._StoreTrueAction):
            if not isinstance(value, bool):
                raise ConfigError(f"custom_config: {key!r} must be true or false; got {value!r}")
            argv += [flag] if value else []
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # Struct holds every number as a double
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        if isinstance(value, bool | dict) or value is None:
            raise ConfigError(f"custom_config: {key!r} must be a string or number; got {value!r}")
        argv.append(f"{flag}={value}")
    return argv


def _parse_run(argv: list[str]) -> argparse.Namespace:
    parser = _run_parser()
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            return parser.parse_args(argv)
    except SystemExit:
        message = stderr.getvalue().strip().splitlines()
        raise ConfigError(
            f"custom_config: {message[-1] if message else 'invalid options'}"
        ) from None


def _format_from_files(patterns: Mapping[str, str]) -> str:
    from beam_ingest.files import match_files

    found: dict[str, str] = {}
    for split, pattern in patterns.items():
        for info in match_files(pattern, argument=f"input_config split {split!r}"):
            name = os.path.basename(info.path).lower()
            for suffix in (".gz", ".bz2"):
                name = name.removesuffix(suffix)
            ext = os.path.splitext(name)[1]
            if ext not in EXTENSIONS:
                raise ConfigError(
                    f"custom_config: no 'format' given and the extension of {info.path!r} "
                    f"does not name one; set format to one of {sorted(set(EXTENSIONS.values()))}"
                )
            found.setdefault(EXTENSIONS[ext], info.path)
    if len(found) > 1:
        raise ConfigError(
            "custom_config: no 'format' given and the input files' extensions name several: "
            + ", ".join(f"{fmt} ({path!r})" for fmt, path in sorted(found.items()))
        )
    return next(iter(found))


def _enum_name(enum, value: int) -> str:
    try:
        return enum.Name(value)
    except ValueError:
        return repr(value)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TfxRun:
    """What an ExampleGen execution asks for, translated for `Ingest`."""

    args: argparse.Namespace  # `beam-ingest run` arguments
    split_names: list[str]
    report_fields: dict[str, Any]


def translate(
    exec_properties: Mapping[str, Any],
    output_uri: str,
    *,
    fixed_format: str | None = None,
    registry: bool = False,
) -> TfxRun:
    """TFX's exec_properties as `beam-ingest run` arguments.

    Raises:
        ConfigError: an option TFX or beam-ingest does not support, named.
    """
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config
    )
    output_config = example_gen_pb2.Output()
    proto_utils.json_to_proto(
        exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config
    )
    payload = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
    if payload not in (None, example_gen_pb2.FORMAT_UNSPECIFIED, example_gen_pb2.FORMAT_TF_EXAMPLE):
        raise ConfigError(
            "output_data_format: beam-ingest writes tf.Example only (FORMAT_TF_EXAMPLE); got "
            f"{_enum_name(example_gen_pb2.PayloadFormat, payload)}"
        )
    file_format = exec_properties.get(standard_component_specs.OUTPUT_FILE_FORMAT_KEY)
    if file_format not in (
        None,
        example_gen_pb2.FILE_FORMAT_UNSPECIFIED,
        example_gen_pb2.FORMAT_TFRECORDS_GZIP,
    ):
        raise ConfigError(
            "output_file_format: beam-ingest writes gzip TFRecords only (FORMAT_TFRECORDS_GZIP); "
            f"got {_enum_name(example_gen_pb2.FileFormat, file_format)}"
        )
    if not input_config.splits:
        raise ConfigError("input_config: has no splits")
    base = exec_properties.get(standard_component_specs.INPUT_BASE_KEY) or ""
    if registry:  # input_base is the registry, patterns name its entries
        patterns = {s.name: s.pattern for s in input_config.splits}
    else:
        patterns = {
            s.name: os.path.join(base, s.pattern) if base else s.pattern
            for s in input_config.splits
        }

    options = _custom_options(exec_properties)
    if "module_file" in options:  # TFX's habit: a module file, and the function's name
        module_file, fn = options.pop("module_file"), options.get("transform_fn")
        if not isinstance(fn, str) or not fn.isidentifier():
            raise ConfigError(
                "custom_config: module_file needs transform_fn, the name of the function "
                f"in it; got transform_fn={fn!r}"
            )
        options["transform_fn"] = f"{module_file}:{fn}"
    run = _run_parser()
    actions = {a.dest: a for a in run._actions if a.option_strings and a.dest != "help"}
    unknown = sorted(set(options) - set(actions))
    owned = sorted(set(options) & _TFX_OWNED)
    valid = sorted(set(actions) - _TFX_OWNED)
    if unknown or owned:
        raise ConfigError(
            f"custom_config: {', '.join(map(repr, unknown + owned))} "
            + ("is" if len(unknown + owned) == 1 else "are")
            + (" set by TFX's input/output/range config" if owned and not unknown else " not known")
            + f"; valid keys: {valid}"
        )
    if registry:
        argv = ["--registry", base, "--output", output_uri]
    else:
        fmt = options.pop("format", None) or fixed_format or _format_from_files(patterns)
        if fixed_format and fmt != fixed_format:
            raise ConfigError(
                f"custom_config: format {fmt!r} given to the {fixed_format} executor; "
                "use beam_ingest.example_gen.Executor for other formats"
            )
        argv = ["--format", str(fmt), "--output", output_uri]
    splits = output_config.split_config.splits
    if splits:
        if len(input_config.splits) != 1:
            raise ConfigError(
                "output_config: hash splits need exactly one input split; got "
                f"{[s.name for s in input_config.splits]}"
            )
        argv += ["--input", patterns[input_config.splits[0].name]]
        argv += [f"--split={s.name}={s.hash_buckets}" for s in splits]
        if output_config.split_config.partition_feature_name:
            argv += ["--partition-feature", output_config.split_config.partition_feature_name]
    else:
        argv += [f"--input-split={name}={pattern}" for name, pattern in patterns.items()]
    argv += _option_argv(options, actions)
    args = _parse_run(argv)

    fields: dict[str, Any] = {}
    for key in (tfx_utils.SPAN_PROPERTY_NAME, tfx_utils.VERSION_PROPERTY_NAME):
        if exec_properties.get(key) is not None:
            fields[key] = exec_properties[key]
    if exec_properties.get(tfx_utils.FINGERPRINT_PROPERTY_NAME):
        fields["input_fingerprint"] = exec_properties[tfx_utils.FINGERPRINT_PROPERTY_NAME]
    return TfxRun(
        args=args,
        split_names=list(tfx_utils.generate_output_split_names(input_config, output_config)),
        report_fields=fields,
    )


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
        from beam_ingest.config_from_args import config_from_args
        from beam_ingest.ingest import Ingest

        self._log_startup(input_dict, output_dict, exec_properties)
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY]
        )
        run = translate(
            exec_properties, examples.uri, fixed_format=self.FORMAT, registry=self.REGISTRY
        )
        config = config_from_args(run.args)
        config = dataclasses.replace(
            config,
            # TFX made the artifact's folder; an earlier failed attempt of
            # this execution may have left files in it.
            overwrite=True,
            report_fields={**config.report_fields, **run.report_fields},
        )
        try:
            with self._make_beam_pipeline() as pipeline:
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
        examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_TF_EXAMPLE)
        examples_utils.set_file_format(examples, "tfrecords_gzip")
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
    from beam_ingest.config_from_args import config_from_args
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
    source = next(iter(config_from_args(run.args).split_sources.values()))
    read = pbegin | "Read" >> source
    _ = read["bad_records"] | "FailOnBadRecord" >> beam.Map(_fail_on_bad_record)
    return (
        read["records"]
        | "ToTFExample" >> ToTFExample()
        | "Unbatch" >> beam.FlatMap(lambda batch: batch.examples)
    )


def _fail_on_bad_record(bad) -> None:
    raise DataError(f"{bad.file}:{bad.record}: {bad.reason}")


def _read_report(output_dir: str) -> dict:
    from beam_ingest import files

    return json.loads(files.read_bytes(files.join(output_dir, "ingest_report.json")))


class CsvExecutor(Executor):
    """`Executor` for CSV only."""

    FORMAT = "csv"


class JsonlExecutor(Executor):
    """`Executor` for JSON Lines only."""

    FORMAT = "jsonl"


class ParquetExecutor(Executor):
    """`Executor` for Parquet only."""

    FORMAT = "parquet"


class AvroExecutor(Executor):
    """`Executor` for Avro only."""

    FORMAT = "avro"


class TFRecordExecutor(Executor):
    """`Executor` for TFRecords of tf.Example only."""

    FORMAT = "tfrecord"


class ImageExecutor(Executor):
    """`Executor` for folders of images only."""

    FORMAT = "images"


# --- the dataset registry as an ExampleGen ---------------------------------------------


class RegistryExecutor(Executor):
    """`Executor` whose `input_base` is a dataset registry (`beam_ingest.registry`)
    and whose input patterns are entry names; each entry's manifest gives its
    format and options. Used by `RegistryExampleGen`."""

    REGISTRY = True


class _RegistryInputProcessor(tfx_input_processor.InputProcessor):
    """Span and version from registry entry names, with beam-ingest's span
    rules (`beam_ingest.spans`), the way TFX's `FileBasedInputProcessor` finds
    them from file names: the latest span and in it the latest version, or the
    span a static `range_config` names. The fingerprint is the selected
    entries' names and file checksums, so a changed entry is a new input."""

    def __init__(self, root: str, splits, range_config=None) -> None:
        super().__init__(splits, range_config)
        from beam_ingest.registry import Registry

        self._registry = Registry(root)
        self._patterns = {split.name: split.pattern for split in splits}
        self._resolution = None

    def _resolve(self, span: int | None = None):
        from beam_ingest.spans import resolve

        def list_entries(glob: str):
            found = self._registry.list_entries(glob)
            if not found:
                raise ConfigError(
                    f"input_config: no entry of registry {self._registry.root!r} matches "
                    f"{glob!r} (patterns {self._patterns}); see `beam-ingest registry ls`"
                )
            return found

        self._resolution = resolve(self._patterns, span=span, list_files=list_entries)
        return self._resolution

    def resolve_span_and_version(self) -> tuple[int, int | None]:
        span = None
        if self._range_config and self._range_config.HasField("static_range"):
            span = self._range_config.static_range.start_span_number
        resolution = self._resolve(span)
        return resolution.span, resolution.version

    def get_latest_span(self) -> int:
        return self._resolve().span

    def get_latest_version(self, span: int) -> int | None:
        return self._resolve(span).version

    def get_pattern_for_span_version(self, pattern: str, span: int, version: int | None) -> str:
        resolution = self._resolution or self._resolve(span)
        for split in resolution.splits:
            if split.spec.pattern == pattern:
                return split.patterns[-1]
        raise ConfigError(f"input_config: pattern {pattern!r} is not one of {self._patterns}")

    def get_input_fingerprint(self, span: int, version: int | None) -> str:
        resolution = self._resolution or self._resolve(span)
        lines = []
        for split in resolution.splits:
            for info in split.files:
                entry = self._registry.show(info.path)
                files = ",".join(f"{f.name}:{f.sha256}" for f in entry.files)
                lines.append(f"split:{split.name},entry:{entry.name},files:{files}")
        return "\n".join(lines)


class _RegistryDriver(tfx_driver.Driver):
    def get_input_processor(self, splits, range_config=None, input_base_uri=None):
        return _RegistryInputProcessor(input_base_uri, splits, range_config)


class RegistryExampleGen(FileBasedExampleGen):
    """An ExampleGen that ingests dataset registry entries.

        RegistryExampleGen("klue_sts/v{SPAN}_{VERSION}-train", registry="gs://bucket/registry")

    Each pipeline run ingests the newest entry (latest span, then latest
    version) that the pattern names, or the span of a static `range_config`;
    `input_config` gives several splits (one pattern each), `output_config`
    hash splits as usual. The Examples artifact records `span`, `version`,
    `input_fingerprint` (entry names and file checksums) and
    `registry_entries` (JSON: entry -> file -> sha256). Files are verified
    against their manifest's sha256 while they are read.

    Raises:
        ConfigError: neither or both of `pattern` and `input_config`.
    """

    DRIVER_CLASS = _RegistryDriver

    def __init__(
        self,
        pattern: str | None = None,
        *,
        registry: str | None = None,
        input_config: example_gen_pb2.Input | None = None,
        output_config: example_gen_pb2.Output | None = None,
        range_config=None,
        custom_config: example_gen_pb2.CustomConfig | None = None,
    ) -> None:
        from beam_ingest.registry import Registry

        if (pattern is None) == (input_config is None):
            raise ConfigError(
                "RegistryExampleGen: give an entry name pattern or an input_config, not both"
            )
        if pattern is not None:
            input_config = example_gen_pb2.Input(
                splits=[example_gen_pb2.Input.Split(name="single_split", pattern=pattern)]
            )
        super().__init__(
            input_base=Registry(registry).root,
            input_config=input_config,
            output_config=output_config,
            custom_config=custom_config,
            range_config=range_config,
            custom_executor_spec=executor_spec.BeamExecutorSpec(RegistryExecutor),
        )
