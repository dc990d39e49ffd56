"""What the registry knows per format: options, the connector, rows and schema.

A registry entry stores its format's options (the CSV dialect, Parquet
columns, ...) and, computed when it is pushed, its record count and schema.
Both are computed with the connectors' own code (the same header and type
inference for CSV, the same footer and schema conversion for Parquet, ...),
without a pipeline, so that a push of a few files takes no Beam start-up.
Records are counted as the connector counts records read: bad ones included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import apache_beam as beam

from beam_ingest.errors import ConfigError
from beam_ingest.schema import Kind, Schema

#: format -> {option: default}. Options not listed are refused.
OPTIONS: dict[str, dict[str, object]] = {
    "avro": {},
    "csv": {"delimiter": ",", "quote_char": '"', "escape_char": None, "encoding": "utf-8"},
    "images": {"labels": None, "label_pattern": None, "classes": None, "verify": False},
    "jsonl": {},
    "parquet": {"columns": None},
    "tfrecord": {"compression": "auto"},
}
FORMATS = tuple(sorted(OPTIONS))


def check_format(format: str) -> str:
    """Raises ConfigError unless `format` is one the registry stores."""
    if format not in OPTIONS:
        raise ConfigError(f"--format: {format!r} is not supported; formats: {list(FORMATS)}")
    return format


def normalize_options(format: str, options: Mapping[str, object] | None) -> dict[str, object]:
    """The format's options with defaults filled in, checked by building the
    connector once (connectors check their arguments at construction).

    Raises:
        ConfigError: an unknown format or option, or a value the connector refuses.
    """
    known = OPTIONS[check_format(format)]
    given = dict(options or {})
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ConfigError(
            f"registry push: option(s) {unknown} do not apply to format {format!r}; "
            f"its options: {sorted(known) or 'none'}"
        )
    merged = {**known, **given}
    if merged.get("columns") is not None:
        merged["columns"] = list(merged["columns"])
    if merged.get("classes") is not None:
        merged["classes"] = list(merged["classes"])
    connector(format, "unused/files/**", "unused/files", merged, None)
    return merged


def connector(
    format: str,
    pattern: str,
    root: str,
    options: Mapping[str, object],
    schema: Schema | None,
) -> beam.PTransform:
    """The connector reading an entry's files (`pattern`, under `root`).

    Raises:
        ConfigError: an option the connector refuses.
    """
    if format == "csv":
        from beam_ingest.connectors.csv import CsvDialect, ReadCsv

        return ReadCsv(pattern, dialect=CsvDialect(**options), schema=schema)
    if format == "jsonl":
        from beam_ingest.connectors.jsonl import ReadJsonl

        return ReadJsonl(pattern)
    if format == "parquet":
        from beam_ingest.connectors.parquet import ReadParquet

        return ReadParquet(pattern, columns=options["columns"])
    if format == "avro":
        from beam_ingest.connectors.avro import ReadAvro

        return ReadAvro(pattern)
    if format == "tfrecord":
        from beam_ingest.connectors.tfrecord import ReadTFRecord

        return ReadTFRecord(pattern, compression=options["compression"])
    from beam_ingest.connectors.images import ReadImages

    return ReadImages(
        pattern,
        root=root,
        labels=options["labels"],
        label_pattern=options["label_pattern"],
        classes=options["classes"],
        verify=options["verify"],
    )


def profile(format: str, paths: Sequence[str], options: Mapping[str, object]) -> tuple[int, Schema]:
    """(records, schema) of an entry's files, as its connector would see them.

    Raises:
        ConfigError: files the connector would refuse (no header, schemas that
            differ between files, an unsupported column, ...).
    """
    return _PROFILES[format](list(paths), options)


def _csv(paths: list[str], options: Mapping[str, object]) -> tuple[int, Schema]:
    import pyarrow as pa

    from beam_ingest.connectors import _csv_values
    from beam_ingest.connectors import csv as csv_connector
    from beam_ingest.files import FileInfo

    dialect = csv_connector.CsvDialect(**options)
    header = csv_connector._common_header([FileInfo(p, 0, 0.0) for p in paths], dialect)
    kinds = dict.fromkeys(header, Kind.UNKNOWN)
    records = 0
    for path in paths:
        invalid = [0]

        def on_invalid(row, invalid=invalid) -> str:
            invalid[0] += 1
            return "skip"

        with csv_connector._open(path)[0] as raw:
            for batch in csv_connector._open_batches(raw, header, dialect, on_invalid):
                records += batch.num_rows
                for name in header:
                    if kinds[name] is not Kind.BYTES:
                        column: pa.Array = batch.column(name)
                        kinds[name] = max(kinds[name], _csv_values.infer_kind(column))
        records += invalid[0]
    return records, Schema.from_kinds(kinds.items())


def _jsonl(paths: list[str], options: Mapping[str, object]) -> tuple[int, Schema]:
    from beam_ingest.connectors import _jsonl_types as types
    from beam_ingest.connectors import jsonl

    seen: types.Observations = {}
    records = 0
    for path in paths:
        for observed in jsonl._InferTypesFn().process(path):
            seen = types.merge(seen, observed)
        for first_line, chunk in jsonl._chunks(path):
            records += sum(1 for _ in jsonl._lines(first_line, chunk))
    return records, types.resolve(seen).schema


def _parquet(paths: list[str], options: Mapping[str, object]) -> tuple[int, Schema]:
    from beam_ingest.connectors import parquet

    footers = [parquet._read_footer(p, options["columns"]) for p in paths]
    broken = [f for f in footers if f.error]
    if broken:
        raise ConfigError(f"registry push: {broken[0].path!r} is {broken[0].error}")
    converted = parquet._common_schema(footers)
    return sum(f.metadata.num_rows for f in footers), Schema.from_arrow(converted)


def _avro(paths: list[str], options: Mapping[str, object]) -> tuple[int, Schema]:
    import fastavro
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    from beam_ingest.connectors import avro
    from beam_ingest.files import FileInfo

    schema = avro._common_schema([FileInfo(p, 0, 0.0) for p in paths])
    records = 0
    for path in paths:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            try:
                records += sum(block.num_records for block in fastavro.block_reader(f))
            except Exception as e:  # fastavro raises several types
                raise ConfigError(
                    f"registry push: {path!r} is not a readable Avro file: {e}"
                ) from e
    return records, Schema.from_arrow(schema)


def _tfrecord(paths: list[str], options: Mapping[str, object]) -> tuple[int, Schema]:
    from tfx_bsl.coders import example_coder

    from beam_ingest.files import read_records
    from beam_ingest.schema import merge_schemas

    if options["compression"] != "auto":
        # read_records decompresses by extension only; the connector's options
        # are honoured when the entry is read.
        raise ConfigError(
            "registry push: TFRecord entries are read with compression 'auto' (gzip by the "
            f".gz extension); got compression={options['compression']!r}; name the files .gz"
        )
    decoder = example_coder.ExamplesToRecordBatchDecoder()
    records, schemas, buffer = 0, [], []

    def kinds(buffer: list[bytes], path: str) -> Schema:
        try:
            return Schema.from_arrow(decoder.DecodeBatch(buffer).schema)
        except Exception as e:  # tfx_bsl raises its own types
            raise ConfigError(
                f"registry push: {path!r} holds records that are no tf.Example: {e}"
            ) from e

    for path in paths:
        try:
            for record in read_records(path):
                records += 1
                buffer.append(record)
                if len(buffer) == 1000:
                    schemas.append(kinds(buffer, path))
                    buffer = []
        except (ValueError, OSError) as e:
            raise ConfigError(
                f"registry push: {path!r} is not a readable TFRecord file: {e}"
            ) from e
        if buffer:
            schemas.append(kinds(buffer, path))
            buffer = []
    return records, merge_schemas(schemas)


def _images(paths: list[str], options: Mapping[str, object]) -> tuple[int, Schema]:
    from beam_ingest.connectors import images

    records = sum(1 for p in paths if p.lower().endswith(images._EXTENSIONS))
    if not records:
        raise ConfigError(
            f"registry push: none of the {len(paths)} files is an image "
            f"(extensions {', '.join(images._EXTENSIONS)})"
        )
    columns = list(images._COLUMNS)
    if options["labels"] != "none":
        columns += images._LABEL_COLUMNS
    return records, Schema.from_kinds(columns)


_PROFILES = {
    "avro": _avro,
    "csv": _csv,
    "images": _images,
    "jsonl": _jsonl,
    "parquet": _parquet,
    "tfrecord": _tfrecord,
}
