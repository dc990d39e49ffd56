"""TFX's ExampleGen configuration as beam-ingest option values.

`translate` reads an execution's `exec_properties` (input_config,
output_config, range config results, custom_config) and gives the option
values `beam_ingest.config.build_config` takes: the same options, parsed and
checked by the same options model as the CLI's, with no argv in between.

`custom_config` keys are the option names (`format`, `max_bad_records`,
`schema`, `delimiter`, `columns`, `label_pattern`, `transform_fn`, ...),
except those TFX's own configuration owns (inputs, output, splits, partition
feature, spans, compression); `module_file` with `transform_fn` naming a
function in it is TFX's spelling of `transform_fn="FILE.py:FN"`. Without
`format`, the format follows from the input files' extension (the format
table's extensions).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format, struct_pb2
from tfx.components.example_gen import utils as tfx_utils
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from beam_ingest import formats, options
from beam_ingest.errors import ConfigError

__all__ = ["TfxRun", "custom_config", "translate"]


def custom_config(**values: Any) -> example_gen_pb2.CustomConfig:
    """`FileBasedExampleGen(custom_config=...)` from keyword options.

    TFX's `CustomConfig` holds a `google.protobuf.Any`; this packs the options
    as a `Struct`. Keys are `run` options with `_` for `-`; a flag is `True`;
    `columns` may be a list.

        custom_config(format="csv", delimiter=";", max_bad_records=10)
    """
    struct = struct_pb2.Struct()
    struct.update({k: list(v) if isinstance(v, list | tuple) else v for k, v in values.items()})
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


def _format_from_files(patterns: Mapping[str, str]) -> str:
    from beam_ingest.files import is_folder, is_marker, list_dir, match_files

    found: dict[str, str] = {}
    for split, pattern in patterns.items():
        if is_folder(pattern):  # a folder: its files of a known format decide
            base = pattern.rstrip("/")
            paths = [p for p in list_dir(base) if not is_marker(p[len(base) :].lstrip("/"))]
            paths = [p for p in paths if formats.by_extension(p)] or paths[:1]
        else:
            argument = f"input_config split {split!r}"
            paths = [info.path for info in match_files(pattern, argument=argument)]
        for path in paths:
            fmt = formats.by_extension(path)
            if fmt is None:
                raise ConfigError(
                    f"custom_config: no 'format' given and the extension of {path!r} "
                    f"does not name one; set format to one of {formats.names()}"
                )
            found.setdefault(fmt.name, path)
    if len(found) > 1:
        raise ConfigError(
            "custom_config: no 'format' given and the input files' extensions name several: "
            + ", ".join(f"{fmt} ({path!r})" for fmt, path in sorted(found.items()))
        )
    if not found:
        raise ConfigError(f"input_config: no input file under {sorted(patterns.values())}")
    return next(iter(found))


def _enum_name(enum, value: int) -> str:
    try:
        return enum.Name(value)
    except ValueError:
        return repr(value)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TfxRun:
    """What an ExampleGen execution asks for, as option values for `build_config`."""

    values: dict[str, Any]
    split_names: list[str]
    report_fields: dict[str, Any]

    @property
    def args(self) -> argparse.Namespace:
        """Deprecated (one release): the values as an argparse Namespace."""
        return argparse.Namespace(**self.values)


def _check_output_formats(exec_properties: Mapping[str, Any]) -> None:
    payload = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
    if payload not in (
        None,
        example_gen_pb2.FORMAT_UNSPECIFIED,
        example_gen_pb2.FORMAT_TF_EXAMPLE,
        example_gen_pb2.FORMAT_TF_SEQUENCE_EXAMPLE,  # with the sequence options (`translate`)
        example_gen_pb2.FORMAT_PARQUET,  # Parquet output (`_implied_output_format`)
        example_gen_pb2.FORMAT_PROTO,  # TFRecords of any proto, payload proto (`translate`)
    ):
        raise ConfigError(
            "output_data_format: beam-ingest writes tf.Example only (FORMAT_TF_EXAMPLE), or "
            "tf.SequenceExample (FORMAT_TF_SEQUENCE_EXAMPLE) with sequence_key or payload "
            "sequence_example, or Parquet (FORMAT_PARQUET), or TFRecords of other protos "
            "(FORMAT_PROTO) with payload proto; got "
            f"{_enum_name(example_gen_pb2.PayloadFormat, payload)}"
        )
    file_format = exec_properties.get(standard_component_specs.OUTPUT_FILE_FORMAT_KEY)
    if file_format not in (
        None,
        example_gen_pb2.FILE_FORMAT_UNSPECIFIED,
        example_gen_pb2.FORMAT_TFRECORDS_GZIP,
        example_gen_pb2.FILE_FORMAT_PARQUET,
    ):
        raise ConfigError(
            "output_file_format: beam-ingest writes gzip TFRecords (FORMAT_TFRECORDS_GZIP) or "
            "Parquet (FILE_FORMAT_PARQUET); "
            f"got {_enum_name(example_gen_pb2.FileFormat, file_format)}"
        )


def _implied_output_format(exec_properties: Mapping[str, Any], values: dict[str, Any]) -> None:
    """output_data_format FORMAT_PARQUET or output_file_format FILE_FORMAT_PARQUET
    select the output format whose sink writes it (custom_config `output_format`
    may say the same, not otherwise)."""
    specs = standard_component_specs
    asked = {
        specs.OUTPUT_DATA_FORMAT_KEY: ("payload_format", example_gen_pb2.PayloadFormat),
        specs.OUTPUT_FILE_FORMAT_KEY: ("file_format", example_gen_pb2.FileFormat),
    }
    for key, (attribute, enum) in asked.items():
        value = exec_properties.get(key)
        name = _enum_name(enum, value) if isinstance(value, int) else None
        if name not in ("FORMAT_PARQUET", "FILE_FORMAT_PARQUET"):
            continue
        writers = [
            out
            for out in formats.output_names()
            if getattr(formats.output_format(out).sink_class(), attribute) == name
        ]
        if values.get("output_format") not in (None, *writers):
            raise ConfigError(
                f"custom_config: output_format {values['output_format']!r} does not write "
                f"{name}, which {key} asks for; use output_format {writers[0]!r}"
            )
        values["output_format"] = writers[0]


def _check_sequence_payload(exec_properties: Mapping[str, Any], values: Mapping[str, Any]) -> None:
    """output_data_format FORMAT_TF_SEQUENCE_EXAMPLE (FORMAT_PROTO) must come
    with the options that make SequenceExamples (read protos); the artifact
    records what the run writes."""
    payload = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
    makes = values.get("sequence_key") or values.get("payload") == "sequence_example"
    if payload == example_gen_pb2.FORMAT_TF_SEQUENCE_EXAMPLE and not makes:
        raise ConfigError(
            "output_data_format: FORMAT_TF_SEQUENCE_EXAMPLE needs custom_config sequence_key "
            "(to build sequences) or payload sequence_example (TFRecord input of them)"
        )
    if payload == example_gen_pb2.FORMAT_PROTO and values.get("payload") != "proto":
        raise ConfigError(
            "output_data_format: FORMAT_PROTO needs TFRecord input of serialized protos "
            f"(format tfrecord, payload 'proto'); got format {values.get('format')!r}, payload "
            f"{values.get('payload')!r}"
        )


def _user_options(exec_properties: Mapping[str, Any]) -> dict[str, Any]:
    """custom_config's options, checked against the options TFX lets it set."""
    given = _custom_options(exec_properties)
    if "module_file" in given:  # TFX's habit: a module file, and the function's name
        module_file, fn = given.pop("module_file"), given.get("transform_fn")
        if not isinstance(fn, str) or not fn.isidentifier():
            raise ConfigError(
                "custom_config: module_file needs transform_fn, the name of the function "
                f"in it; got transform_fn={fn!r}"
            )
        given["transform_fn"] = f"{module_file}:{fn}"
    everything = options.all_options()
    allowed = [o for o in everything if o.tfx]
    owned = sorted(set(given) & {o.name for o in everything if not o.tfx})
    if owned:
        raise ConfigError(
            f"custom_config: {', '.join(map(repr, owned))} "
            + ("is" if len(owned) == 1 else "are")
            + f" set by TFX's input/output/range config; valid keys: "
            f"{sorted(o.name for o in allowed)}"
        )
    options.parse_values(given, where="custom_config", allowed=allowed)  # names the bad key
    return given


def translate(
    exec_properties: Mapping[str, Any],
    output_uri: str,
    *,
    fixed_format: str | None = None,
    registry: bool = False,
) -> TfxRun:
    """TFX's exec_properties as option values for `beam_ingest.config.build_config`.

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
    _check_output_formats(exec_properties)
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
    values = _user_options(exec_properties)
    _implied_output_format(exec_properties, values)
    values["output"] = output_uri
    if registry:
        values["registry"] = base
    else:
        fmt = values.pop("format", None) or fixed_format or _format_from_files(patterns)
        if fixed_format and fmt != fixed_format:
            raise ConfigError(
                f"custom_config: format {fmt!r} given to the {fixed_format} executor; "
                "use beam_ingest.example_gen.Executor for other formats"
            )
        values["format"] = fmt
        asked = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
        payload = "payload" in [o.name for o in formats.get(fmt).options]
        implied = {
            example_gen_pb2.FORMAT_TF_SEQUENCE_EXAMPLE: "sequence_example",
            example_gen_pb2.FORMAT_PROTO: "proto",
        }
        if payload and asked in implied:  # ImportExampleGen's way to say so
            values.setdefault("payload", implied[asked])
    _check_sequence_payload(exec_properties, values)
    splits = output_config.split_config.splits
    if splits:
        if len(input_config.splits) != 1:
            raise ConfigError(
                "output_config: hash splits need exactly one input split; got "
                f"{[s.name for s in input_config.splits]}"
            )
        values["input"] = patterns[input_config.splits[0].name]
        values["split"] = [f"{s.name}={s.hash_buckets}" for s in splits]
        if output_config.split_config.partition_feature_name:
            values["partition_feature"] = output_config.split_config.partition_feature_name
    else:
        values["input_split"] = [f"{name}={pattern}" for name, pattern in patterns.items()]

    fields: dict[str, Any] = {}
    for key in (tfx_utils.SPAN_PROPERTY_NAME, tfx_utils.VERSION_PROPERTY_NAME):
        if exec_properties.get(key) is not None:
            fields[key] = exec_properties[key]
    if exec_properties.get(tfx_utils.FINGERPRINT_PROPERTY_NAME):
        fields["input_fingerprint"] = exec_properties[tfx_utils.FINGERPRINT_PROPERTY_NAME]
    return TfxRun(
        values=values,
        split_names=list(tfx_utils.generate_output_split_names(input_config, output_config)),
        report_fields=fields,
    )
