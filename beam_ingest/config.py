"""`build_config`: option values to an `IngestConfig`, the one way to make one.

The CLI, the TFX executor and the Flex Template launcher all parse their
options with the options model (`beam_ingest.options.parse_values`) and call
`build_config`; Python users may too (`build_config({"format": "csv", ...})`)
or build `IngestConfig` from sources themselves.
"""

from __future__ import annotations

from collections.abc import Mapping

from beam_ingest import formats, options
from beam_ingest.errors import ConfigError
from beam_ingest.ingest import IngestConfig
from beam_ingest.schema import Schema, load_schema
from beam_ingest.source import FlattenSources, Source, WithSpanFeature
from beam_ingest.splits import DEFAULT_SPLITS, parse_split
from beam_ingest.transforms.sequence_step import spec_from_options

__all__ = ["build_config", "input_splits", "span_selection"]


def build_config(given: Mapping[str, object], *, where: str = "options") -> IngestConfig:
    """The run's config from option values (option name -> value as given:
    strings or Python values; missing options take their defaults).

    Raises:
        ConfigError: an unknown option, an invalid value, or options that do
            not go together; the message names the option.
    """
    values = options.parse_values({k: v for k, v in given.items() if v is not None}, where=where)
    for group in options.EXCLUSIVE:
        chosen = [name for name in group if _given(values, name)]
        if len(chosen) > 1:
            raise ConfigError(f"{chosen[1]}: cannot go with {chosen[0]}; give one of {list(group)}")
    if not values["output"]:
        raise ConfigError("output: required: the output folder")
    own = None  # a format whose inputs are not files (queries) resolves its own
    if values["format"] and not values["registry"] and formats.get(values["format"]).inputs:
        values, *own = formats.get(values["format"]).resolve_inputs(values)
    if not values["input"] and not values["input_split"]:
        raise ConfigError("input: required: a glob of input files (or input_split NAME=PATTERN)")
    registry = values["registry"]
    fmt = None
    if registry:
        _refuse_with_registry(values)
    else:
        if not values["format"]:
            raise ConfigError(f"format: required unless `registry`; formats: {formats.names()}")
        fmt = formats.get(values["format"])
        _refuse_other_formats_options(fmt, values)
    schema = load_schema(values["schema"]) if values["schema"] else None
    sequence = spec_from_options(values, schema)  # checks a sequence schema against them
    schema = schema.flat() if schema is not None else None
    splits = (
        tuple(parse_split(f"{n}={b}") for n, b in values["split"])
        if values["split"]
        else DEFAULT_SPLITS
    )
    source, split_sources, fields = None, None, {}
    if values["input_split"]:
        if values["split"]:
            raise ConfigError("split: has no effect with `input_split` (inputs already split)")
        patterns = input_splits(values["input_split"])
        if registry:
            split_sources = {name: _registry_source(values, p) for name, p in patterns.items()}
        else:
            resolved, fields = own or _spanned(values, patterns)
            split_sources = {name: _sources(fmt, values, p, schema) for name, p in resolved.items()}
    elif registry:
        source = _registry_source(values, values["input"])
    else:
        resolved, fields = own or _spanned(values, {"all": values["input"]})
        source = _sources(fmt, values, resolved["all"], schema)
    return IngestConfig(
        output_dir=values["output"],
        source=source,
        split_sources=split_sources,
        splits=splits,
        partition_feature=values["partition_feature"],
        max_bad_records=values["max_bad_records"],
        num_shards=values["num_shards"],
        deterministic=values["deterministic"],
        shuffle=values["shuffle"],
        compression=values["compression"],
        compression_level=values["compression_level"],
        overwrite=values["overwrite"],
        report_fields=fields,
        transform_fn=values["transform_fn"],
        sequence=sequence,
        sink=_sink(given, values),
    )


def _sink(given: Mapping[str, object], values: Mapping[str, object]):
    """The output format's sink; another output format's option is refused."""
    chosen = formats.output_format(values["output_format"])
    for name in formats.output_names():
        for option in formats.output_format(name).options:
            if given.get(option) is not None and option not in chosen.options:
                raise ConfigError(
                    f"{option}: only applies to `output_format` {name!r}; got `output_format` "
                    f"{chosen.name!r}"
                )
    sink_class = chosen.sink_class()
    sequences = values.get("sequence_key") or values.get("payload") == "sequence_example"
    if sink_class.payload_format == "FORMAT_PARQUET" and (
        sequences or values.get("payload") == "proto"
    ):
        what = "tf.SequenceExamples (`sequence_key`, `payload`)" if sequences else "protos"
        raise ConfigError(
            f"output_format: {chosen.name!r} holds tf.Example columns, not {what}; write them "
            "as TFRecords or ArrayRecords"
        )
    values = dict(values)
    if values["deterministic"] and not values["num_shards"]:
        values["num_shards"] = 1  # as IngestConfig does: a fixed count, 1 unless given
    return sink_class.from_options(values)


def _given(values: Mapping[str, object], name: str) -> bool:
    option = options.get(name)
    return values[name] not in (None, [], option.default)


def _refuse_other_formats_options(fmt: formats.Format, values: Mapping[str, object]) -> None:
    own = {o.name for o in fmt.options}
    for other in formats.all_formats():
        for option in other.options:
            if option.name not in own and _given(values, option.name):
                users = [f.name for f in formats.all_formats() if option in f.options]
                raise ConfigError(
                    f"{option.name}: only applies to format {' or '.join(users)}; "
                    f"got format {fmt.name!r}"
                )


def _refuse_with_registry(values: Mapping[str, object]) -> None:
    """With a registry each entry's manifest gives the format and its options."""
    format_options = {o.name for f in formats.all_formats() for o in f.options}
    for name in ("format", "schema", "span_feature", *sorted(format_options)):
        if _given(values, name):
            raise ConfigError(
                f"{name}: not used with `registry` (each entry's manifest names its format "
                f"and options); got {values[name]!r}"
            )


def _spanned(values: Mapping[str, object], patterns: dict[str, str]):
    """Resolves span/version specs; returns (patterns per split, report fields)."""
    selection = span_selection(values)
    if not selection and not any("{" in p for p in patterns.values()):
        if values["span_feature"]:
            raise ConfigError("span_feature: needs an input pattern with {SPAN} or a date spec")
        return {name: [(p, None)] for name, p in patterns.items()}, {}
    from beam_ingest.spans import resolve

    resolution = resolve(patterns, **selection)
    spans = [s.span for s in resolution.selected]
    fields = {
        "span": resolution.span,
        "spans": list(resolution.spans),
        "version": resolution.version,
        "input_fingerprint": resolution.fingerprint,
    }
    return {
        split.name: list(zip(split.patterns, spans, strict=True)) for split in resolution.splits
    }, fields


def span_selection(values: Mapping[str, object]) -> dict:
    """span / span_range / last_spans as keyword arguments of `spans.resolve`."""
    if values.get("span_range"):
        return {"span_range": tuple(values["span_range"])}
    if values.get("span") is not None:
        return {"span": values["span"]}
    if values.get("last_spans") is not None:
        return {"last_spans": values["last_spans"]}
    return {}


def _sources(
    fmt: formats.Format,
    values: Mapping[str, object],
    patterns: list[tuple[str, int | None]],
    schema: Schema | None,
) -> Source:
    """One source per selected span (its concrete glob), with the span as a
    feature when span_feature asks for it."""
    source_class = fmt.source_class()
    format_options = fmt.option_values(dict(values))
    sources = []
    for pattern, span in patterns:
        source = source_class.from_options(pattern, format_options, schema)
        if values["span_feature"]:
            source = WithSpanFeature(source, values["span_feature"], span)
        sources.append(source)
    return sources[0] if len(sources) == 1 else FlattenSources(sources)


def _registry_source(values: Mapping[str, object], pattern: str) -> Source:
    from beam_ingest.connectors.registry import ReadRegistry

    return ReadRegistry(pattern, registry=values["registry"], **span_selection(values))


def input_splits(items: list) -> dict[str, str]:
    """input_split items (`NAME=PATTERN` or (name, pattern)) as {name: pattern}.

    Raises:
        ConfigError: an item is malformed, or a name is given twice.
    """
    splits: dict[str, str] = {}
    for item in items:
        name, pattern = item if isinstance(item, tuple) else options.name_value("PATTERN")(item)
        if name in splits:
            raise ConfigError(f"input_split: split {name!r} is given twice")
        splits[name] = pattern
    return splits
