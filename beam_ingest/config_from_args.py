"""The CLI's arguments to an `IngestConfig` (also used by the Flex Template)."""

from __future__ import annotations

import argparse

from beam_ingest.errors import ConfigError
from beam_ingest.ingest import IngestConfig
from beam_ingest.schema import load_schema
from beam_ingest.splits import DEFAULT_SPLITS, parse_split


def _csv(args: argparse.Namespace, pattern: str, schema):
    from beam_ingest.connectors.csv import CsvDialect, ReadCsv

    dialect = CsvDialect(
        delimiter=args.delimiter,
        quote_char=args.quote_char or None,
        escape_char=args.escape_char or None,
        encoding=args.encoding,
    )
    return ReadCsv(pattern, dialect=dialect, schema=schema)


def _parquet(args: argparse.Namespace, pattern: str, schema):
    from beam_ingest.connectors.parquet import ReadParquet

    if schema is not None:
        raise ConfigError("--schema: Parquet files carry their own schema; leave --schema out")
    columns = [c.strip() for c in args.columns.split(",")] if args.columns else None
    return ReadParquet(pattern, columns=columns)


def _tfrecord(args: argparse.Namespace, pattern: str, schema):
    from beam_ingest.connectors.tfrecord import ReadTFRecord

    if schema is not None:
        raise ConfigError("--schema: tf.Examples carry their own feature kinds; leave --schema out")
    return ReadTFRecord(pattern, compression=args.input_compression)


def _avro(args: argparse.Namespace, pattern: str, schema):
    from beam_ingest.connectors.avro import ReadAvro

    if schema is not None:
        raise ConfigError("--schema: Avro files carry their own schema; leave --schema out")
    return ReadAvro(pattern)


def _jsonl(args: argparse.Namespace, pattern: str, schema):
    from beam_ingest.connectors.jsonl import ReadJsonl

    return ReadJsonl(pattern, schema=schema)


def _images(args: argparse.Namespace, pattern: str, schema):
    from beam_ingest.connectors.images import ReadImages

    if schema is not None:
        raise ConfigError("--schema: image examples have fixed features; leave --schema out")
    classes = None
    if args.classes:
        from beam_ingest import files

        text = files.read_bytes(args.classes).decode("utf-8")
        classes = [line for line in text.splitlines() if line]
    return ReadImages(
        pattern,
        root=args.image_root,
        labels="none" if args.no_labels else None,
        label_pattern=args.label_pattern,
        manifest=args.labels,
        classes=classes,
        verify=args.verify_images,
    )


#: --format NAME -> a function building that format's source from the arguments.
SOURCES = {
    "avro": _avro,
    "csv": _csv,
    "images": _images,
    "jsonl": _jsonl,
    "parquet": _parquet,
    "tfrecord": _tfrecord,
}


def _source(args: argparse.Namespace, pattern: str, schema):
    if args.columns and args.format != "parquet":
        raise ConfigError(f"--columns: only --format parquet projects columns; got {args.format!r}")
    try:
        make = SOURCES[args.format]
    except KeyError:
        raise ConfigError(
            f"--format: {args.format!r} is not supported; formats: {sorted(SOURCES)}"
        ) from None
    return make(args, pattern, schema)


def _spanned(args: argparse.Namespace, patterns: dict[str, str]):
    """Resolves span/version specs; returns (patterns per split, report fields)."""
    wants = args.span is not None or args.span_range or args.last_spans is not None
    if not wants and not any("{" in p for p in patterns.values()):
        if args.span_feature:
            raise ConfigError("--span-feature: needs an input pattern with {SPAN} or a date spec")
        return {name: [(p, None)] for name, p in patterns.items()}, {}
    from beam_ingest.spans import resolve

    resolution = resolve(patterns, **span_selection(args))
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


def span_selection(args: argparse.Namespace) -> dict:
    """--span / --span-range / --last-spans as keyword arguments of `spans.resolve`."""
    if args.span_range:
        start, sep, end = args.span_range.partition(":")
        if not sep or not start.strip().isdigit() or not end.strip().isdigit():
            raise ConfigError(
                f"--span-range: expected A:B with span numbers; got {args.span_range!r}"
            )
        return {"span_range": (int(start), int(end))}
    if args.span is not None:
        return {"span": args.span}
    if args.last_spans is not None:
        return {"last_spans": args.last_spans}
    return {}


def _sources(args: argparse.Namespace, patterns: list[tuple[str, int | None]], schema):
    """One source per selected span (its concrete glob), with the span as a
    feature when --span-feature asks for it."""
    from beam_ingest.connectors._outputs import FlattenSources, WithSpanFeature

    sources = []
    for pattern, span in patterns:
        source = _source(args, pattern, schema)
        if args.span_feature:
            source = WithSpanFeature(source, args.span_feature, span)
        sources.append(source)
    return sources[0] if len(sources) == 1 else FlattenSources(sources)


def _registry_source(args: argparse.Namespace, pattern: str):
    """`--registry ROOT`: the pattern names entries; each manifest gives the
    format and its options, so format flags do not apply."""
    from beam_ingest.connectors.registry import ReadRegistry

    for flag, value in (
        ("--format", args.format),
        ("--schema", args.schema),
        ("--columns", args.columns),
        ("--span-feature", args.span_feature),
    ):
        if value:
            raise ConfigError(
                f"{flag}: not used with --registry (each entry's manifest names its format "
                f"and options); got {value!r}"
            )
    return ReadRegistry(pattern, registry=args.registry, **span_selection(args))


def config_from_args(args: argparse.Namespace) -> IngestConfig:
    """Builds the run's config from parsed `beam-ingest run` arguments.

    Raises:
        ConfigError: any argument that is not valid, named with its value.
    """
    registry = getattr(args, "registry", None)
    if not registry and not args.format:
        raise ConfigError(f"--format: required unless --registry; formats: {sorted(SOURCES)}")
    schema = load_schema(args.schema) if args.schema else None
    splits = tuple(parse_split(s) for s in args.split) if args.split else DEFAULT_SPLITS
    source, split_sources, fields = None, None, {}
    if args.input_split:
        if args.split:
            raise ConfigError("--split: has no effect with --input-split (inputs already split)")
        if registry:
            split_sources = {
                name: _registry_source(args, p)
                for name, p in input_splits(args.input_split).items()
            }
        else:
            resolved, fields = _spanned(args, input_splits(args.input_split))
            split_sources = {name: _sources(args, p, schema) for name, p in resolved.items()}
    elif registry:
        source = _registry_source(args, args.input)
    else:
        resolved, fields = _spanned(args, {"all": args.input})
        source = _sources(args, resolved["all"], schema)
    return IngestConfig(
        output_dir=args.output,
        source=source,
        split_sources=split_sources,
        splits=splits,
        partition_feature=args.partition_feature,
        max_bad_records=args.max_bad_records,
        num_shards=args.num_shards,
        deterministic=args.deterministic,
        shuffle=args.shuffle,
        compression=args.compression,
        compression_level=args.compression_level,
        overwrite=args.overwrite,
        report_fields=fields,
        transform_fn=getattr(args, "transform_fn", None),
    )


def input_splits(items: list[str]) -> dict[str, str]:
    """`--input-split NAME=PATTERN ...` as {name: pattern}.

    Raises:
        ConfigError: an item is not NAME=PATTERN, or a name is given twice.
    """
    splits: dict[str, str] = {}
    for item in items:
        name, sep, pattern = item.partition("=")
        if not sep or not name or not pattern:
            raise ConfigError(f"--input-split: expected NAME=PATTERN; got {item!r}")
        if name in splits:
            raise ConfigError(f"--input-split: split {name!r} is given twice")
        splits[name] = pattern
    return splits
