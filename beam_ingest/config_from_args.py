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


#: --format NAME -> a function building that format's source from the arguments.
SOURCES = {
    "avro": _avro,
    "csv": _csv,
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


def config_from_args(args: argparse.Namespace) -> IngestConfig:
    """Builds the run's config from parsed `beam-ingest run` arguments.

    Raises:
        ConfigError: any argument that is not valid, named with its value.
    """
    schema = load_schema(args.schema) if args.schema else None
    splits = tuple(parse_split(s) for s in args.split) if args.split else DEFAULT_SPLITS
    source, split_sources = None, None
    if args.input_split:
        split_sources = {}
        for item in args.input_split:
            name, sep, pattern = item.partition("=")
            if not sep or not name or not pattern:
                raise ConfigError(f"--input-split: expected NAME=PATTERN; got {item!r}")
            if name in split_sources:
                raise ConfigError(f"--input-split: split {name!r} is given twice")
            split_sources[name] = _source(args, pattern, schema)
        if args.split:
            raise ConfigError("--split: has no effect with --input-split (inputs already split)")
    else:
        source = _source(args, args.input, schema)
    return IngestConfig(
        output_dir=args.output,
        source=source,
        split_sources=split_sources,
        splits=splits,
        partition_feature=args.partition_feature,
        max_bad_records=args.max_bad_records,
        num_shards=args.num_shards,
        compression=args.compression,
        overwrite=args.overwrite,
    )
