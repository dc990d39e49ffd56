"""Parquet files to Arrow RecordBatches: `ReadParquet`.

Work units are row groups: one element per (file, row group), listed from
the files' footers when the pipeline is built, so a big file is read in
parallel and never whole (pages are streamed through a 1 MiB buffer, batch by
batch).
Columns are put under the value contract by `arrow_values.to_example_columns`.

A column whose footer statistics show it null in every row of every file is
read as the null type (an empty `Feature()`, as TFX writes it), whatever type
it is declared with; without statistics it keeps its declared kind.

A file whose footer cannot be read (not Parquet, truncated) is one bad record;
so is a row group that fails while read (the rows after the failure in it are
not read). Page checksums, where the writer stored them, are verified.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping, Sequence

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from beam_ingest.arrow_values import drop_rows, to_example_columns, unsupported_columns
from beam_ingest.bad_records import BadRecord
from beam_ingest.errors import ConfigError
from beam_ingest.files import FileInfo
from beam_ingest.schema import Schema
from beam_ingest.source import Source, SourceOutputs, check_pattern, source_outputs, with_file

__all__ = ["ReadParquet"]

_NAMESPACE = "beam_ingest"
_BATCH_ROWS = 16_384
_RAW_CHARS = 1_000
_READ_OPTIONS = {
    "buffer_size": 1 << 20,
    "coerce_int96_timestamp_unit": "us",  # int96 beyond year 2262 fits in microseconds
    "page_checksum_verification": True,
}
_READ_ERRORS = (OSError, pa.ArrowException)


class ReadParquet(Source):
    """Reads Parquet files into `pyarrow.RecordBatch`es under the value contract.

    Returns `SourceOutputs`: `records` (RecordBatches), `bad_records`
    (`BadRecord`, `record` being the row index in the file), `counts`
    (`(file, records read)`, one per row group) and `schema` (one `Schema`).

    Args:
        file_pattern: a glob on any Beam filesystem.
        columns: the columns to read, in this order (a struct's field may be
            named `parent.child`); None reads them all.
        label: the transform's label.

    Raises:
        ConfigError: a bad argument here; when the pipeline is built (reading
            only the footers): no file matches, a projected column is missing,
            a column has no tf.Example form, or the files' schemas differ.
    """

    def __init__(
        self,
        file_pattern: str,
        *,
        columns: Sequence[str] | None = None,
        label: str | None = None,
    ) -> None:
        super().__init__()
        self.label = label
        check_pattern("ReadParquet", file_pattern)
        if columns is not None:
            if (
                isinstance(columns, str | bytes)
                or not isinstance(columns, Sequence)
                or not columns
                or not all(isinstance(c, str) and c for c in columns)
                or len(set(columns)) != len(columns)
            ):
                raise ConfigError(
                    f"columns: must be a non-empty list of distinct column names; got {columns!r}"
                )
            columns = list(columns)
        self.file_pattern = file_pattern
        self.columns = columns

    @classmethod
    def from_options(
        cls, pattern: str, options: Mapping[str, object], schema: Schema | None
    ) -> ReadParquet:
        """`ReadParquet` of `pattern` projecting the `columns` option (None: all).

        Raises:
            ConfigError: a schema is given (Parquet files carry their own), or
                `columns` is not a list of distinct names.
        """
        if schema is not None:
            raise ConfigError("schema: Parquet files carry their own schema; leave schema out")
        return cls(pattern, columns=options.get("columns"))

    @classmethod
    def profile(cls, paths: Sequence[str], options: Mapping[str, object]) -> tuple[int, Schema]:
        """(rows, schema) of `paths` from their footers, as `ReadParquet` reads them.

        Raises:
            ConfigError: a file is not readable Parquet, a projected column is
                missing, a column has no tf.Example form, or the schemas differ.
        """
        footers = [_read_footer(p, options.get("columns")) for p in paths]
        broken = [f for f in footers if f.error]
        if broken:
            raise ConfigError(f"registry push: {broken[0].path!r} is {broken[0].error}")
        converted = _common_schema(footers)
        return sum(f.metadata.num_rows for f in footers), Schema.from_arrow(converted)

    @property
    def files(self) -> list[FileInfo]:
        """Deprecated alias of `input_files()`, kept for one release."""
        return self.input_files()

    def expand(self, pbegin: beam.pvalue.PBegin) -> SourceOutputs:
        self._files = self.match(self.file_pattern)
        footers = [_read_footer(f.path, self.columns) for f in self._files]
        readable = [f for f in footers if f.error is None]
        converted = _common_schema(readable)
        all_null = _null_everywhere(readable, converted)
        schema = Schema.from_arrow(
            pa.schema([pa.field(f.name, pa.null()) if f.name in all_null else f for f in converted])
        )
        units = []
        for footer in footers:
            if footer.error is not None:
                units.append((footer.path, -1, 0, footer.error))
                continue
            first = 0
            for i in range(footer.metadata.num_row_groups):
                units.append((footer.path, i, first, ""))
                first += footer.metadata.row_group(i).num_rows
        read = (
            pbegin
            | "ListRowGroups" >> beam.Create(units)
            | "ReadRowGroups"
            >> beam.ParDo(_ReadRowGroupFn(self.columns, converted, all_null)).with_outputs(
                "bad_records", "counts", main="records"
            )
        )
        return source_outputs(read, pbegin | "Schema" >> beam.Create([schema]))

    def display_data(self) -> dict:
        return {"file_pattern": self.file_pattern, "columns": ",".join(self.columns or ["*"])}


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Footer:
    path: str
    metadata: pq.FileMetaData | None = None
    arrow_schema: pa.Schema | None = None  # after projection
    error: str | None = None


def _open(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _read_footer(path: str, columns: list[str] | None) -> _Footer:
    """The footer of one file, or why it cannot be read (a corrupt file)."""
    try:
        f = _open(path)
    except OSError as e:
        raise ConfigError(f"input: cannot read {path!r}: {e}") from e
    with f:
        try:
            parquet = pq.ParquetFile(f, **_READ_OPTIONS)
            known = _column_names(parquet.schema_arrow)
            missing = [c for c in columns or () if c not in known]
            if missing:
                raise ConfigError(
                    f"columns: {missing[0]!r} is not a column of {path!r}; its columns: {known}"
                )
            projected = parquet.read_row_groups([], columns=columns).schema  # reads no data
        except _READ_ERRORS as e:  # not ConfigError: neither an OSError nor an ArrowException
            return _Footer(path=path, error=f"not a readable Parquet file: {e}")
    return _Footer(path=path, metadata=parquet.metadata, arrow_schema=projected)


def _column_names(schema: pa.Schema) -> list[str]:
    """Top-level names and the `parent.child` names of struct fields."""
    names: list[str] = []

    def visit(name: str, t: pa.DataType) -> None:
        names.append(name)
        if pa.types.is_struct(t):
            for field in t:
                visit(f"{name}.{field.name}", field.type)

    for field in schema:
        visit(field.name, field.type)
    return names


def _convert_schema(footer: _Footer) -> pa.Schema:
    unsupported = unsupported_columns(footer.arrow_schema)
    if unsupported:
        listing = ", ".join(f"{name!r} ({t})" for name, t in unsupported)
        raise ConfigError(
            f"input: {footer.path!r} has columns with no tf.Example form (maps, lists of "
            f"structs, lists of lists): {listing}; leave them out with columns"
        )
    empty = pa.RecordBatch.from_pylist([], schema=footer.arrow_schema)
    schema = to_example_columns(empty)[0].schema
    repeated = sorted({n for n in schema.names if schema.names.count(n) > 1})
    if repeated:
        raise ConfigError(f"input: {footer.path!r} has several features named {repeated}")
    return schema


def _describe(t: pa.DataType) -> str:
    kind = Schema.from_arrow(pa.schema([pa.field("_", t)])).columns[0].kind
    prefix = "a list of " if pa.types.is_large_list(t) else ""
    return prefix + ("null" if kind.name == "UNKNOWN" else kind.name.lower())


def _has(path: str, t: pa.DataType | None) -> str:
    return f"{path!r} has it as {_describe(t)}" if t else f"{path!r} has no such column"


def _common_schema(footers: Sequence[_Footer]) -> pa.Schema:
    """The converted schema every readable file shares (empty if none is readable).

    Raises:
        ConfigError: a column has no tf.Example form, or two files differ.
    """
    if not footers:
        return pa.schema([])
    first = _convert_schema(footers[0])
    for footer in footers[1:]:
        schema = _convert_schema(footer)
        if schema.equals(first):
            continue
        for name in dict.fromkeys(first.names + schema.names):
            a = first.field(name).type if name in first.names else None
            b = schema.field(name).type if name in schema.names else None
            if a != b:
                raise ConfigError(
                    f"input: files of one pattern must share a schema; column {name!r}: "
                    f"{_has(footers[0].path, a)}, {_has(footer.path, b)}"
                )
        raise ConfigError(  # same columns and types, in another order
            f"input: files of one pattern must share a schema; {footers[0].path!r} has "
            f"columns {first.names}, {footer.path!r} has {schema.names}"
        )
    return first


def _null_everywhere(footers: Sequence[_Footer], schema: pa.Schema) -> frozenset[str]:
    """Scalar columns that the footers' statistics show null in every row."""
    candidates = {
        f.name
        for f in schema
        if not pa.types.is_null(f.type) and not pa.types.is_large_list(f.type)
    }
    if not any(f.metadata.num_rows for f in footers):
        return frozenset()
    for footer in footers:
        metadata = footer.metadata
        leaves = {
            metadata.schema.column(j).path: j
            for j in range(metadata.num_columns)
            if metadata.schema.column(j).max_repetition_level == 0
        }
        for i in range(metadata.num_row_groups):
            group = metadata.row_group(i)
            for name in list(candidates):
                stats = group.column(leaves[name]).statistics if name in leaves else None
                if stats is None or not stats.has_null_count or stats.null_count != group.num_rows:
                    candidates.discard(name)
    return frozenset(candidates)


class _ReadRowGroupFn(beam.DoFn):
    """One row group (or one unreadable file) to batches, bad records and a count."""

    def __init__(
        self, columns: list[str] | None, schema: pa.Schema, all_null: frozenset[str]
    ) -> None:
        self._columns = columns
        self._schema = schema
        self._all_null = all_null
        self._rows = beam.metrics.Metrics.counter(_NAMESPACE, "parquet_records_read")
        self._bad = beam.metrics.Metrics.counter(_NAMESPACE, "parquet_bad_records")
        self._groups = beam.metrics.Metrics.counter(_NAMESPACE, "parquet_row_groups_read")

    def process(self, unit: tuple[str, int, int, str]) -> Iterator:
        path, group, first, error = unit
        read = bad = 0
        if error:
            yield beam.pvalue.TaggedOutput("bad_records", BadRecord(path, first, error, ""))
            read = bad = 1
        else:
            try:
                with _open(path) as f:
                    batches = pq.ParquetFile(f, **_READ_OPTIONS).iter_batches(
                        _BATCH_ROWS, row_groups=[group], columns=self._columns, use_threads=False
                    )
                    for batch in batches:
                        records, failures = self._convert(batch)
                        if records.num_rows:
                            yield with_file(records, path)
                        for i, reason in sorted(failures.items()):
                            raw = _raw(batch, i)
                            yield beam.pvalue.TaggedOutput(
                                "bad_records", BadRecord(path, first + read + i, reason, raw)
                            )
                        read += batch.num_rows
                        bad += len(failures)
            except _READ_ERRORS as e:
                reason = f"row group {group} cannot be read from row {first + read} on: {e}"
                yield beam.pvalue.TaggedOutput(
                    "bad_records", BadRecord(path, first + read, reason, "")
                )
                read += 1
                bad += 1
            self._groups.inc()
        self._rows.inc(read)
        self._bad.inc(bad)
        yield beam.pvalue.TaggedOutput("counts", (path, read))

    def _convert(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, dict[int, str]]:
        records, failures = to_example_columns(batch)
        if not records.schema.equals(self._schema):
            raise pa.ArrowInvalid("its schema changed since the pipeline was built")
        for name in self._all_null:
            i = records.schema.get_field_index(name)
            records = records.set_column(i, name, pa.nulls(records.num_rows))
        return drop_rows(records, failures), failures


def _raw(batch: pa.RecordBatch, row: int) -> str:
    """A short JSON-ish text of one row (non-JSON values as their str())."""
    text = json.dumps(batch.slice(row, 1).to_pylist()[0], default=str, ensure_ascii=False)
    return text if len(text) <= _RAW_CHARS else text[:_RAW_CHARS] + "..."
