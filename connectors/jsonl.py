"""JSON Lines files to Arrow RecordBatches: `ReadJsonl`.

One JSON object per line; blank lines are skipped (they are not records);
`.gz`/`.bz2` files are decompressed by extension. A file is read in chunks of
whole lines (about 4 MiB, `_jsonl_chunks`), and each chunk is parsed by
pyarrow's JSON reader with an explicit schema: no Python per record. Only a
chunk that pyarrow rejects, or whose result breaks a rule pyarrow does not
check, takes the slow path: `json.loads` line by line finds the bad lines,
which are dead-lettered with their line number and a reason, and the rest
becomes the chunk's batch. Each batch names its file (`with_file`).

Types, unless a schema is given, are inferred over all records of the
pattern by a first pass (its result is a side input of the read):

- numbers: boolean -> integer -> float widen (a boolean is 0/1); strings are
  bytes. A field mixing kinds that do not widen (a number and a string, an
  object and a scalar or array) is a `ConfigError` naming the field, both
  kinds and the file:line of each; so is an array of objects or of arrays.
- objects flatten to `parent.child` features; arrays of scalars are lists (a
  field holding a scalar in one record and an array in another is a list).
- null, a missing field and `[]` are a present feature with no value; a
  field that has no value in any record is an empty `Feature()`.
- An integer beyond int64 in an integer field is a bad record. In a field
  with floats it is a float, like any number there (int widens to float). It
  never turns a field into a float field by itself, so a column of large ids
  fails loudly instead of losing precision in float32.

Features are in order of first appearance. With a given schema there is no
inference; a record is bad if a value does not fit its feature's kind (a
boolean fits INT and FLOAT; an integer fits FLOAT), if it has a field the
schema does not name (nothing is dropped silently), or if an object sits
where the schema has a feature. A name `parent.child` in a given schema means
the nested field; a key that itself contains a dot can only be read by
inference. As a given schema does not say which features hold arrays, a
feature's column is a list in batches from chunks where arrays were seen, a
scalar before (`ToTFExample` writes `x` and `[x]` alike).

Always bad records: a line that is not valid UTF-8 or not valid JSON
(including NaN/Infinity literals and pretty-printed objects spread over
lines), nested more than 100 levels deep, not an object, an object with a
repeated key or a lone surrogate escape, a null inside an array, a number
beyond the float range.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc

from beam_ingest.arrow_values import to_example_columns
from beam_ingest.bad_records import BadRecord
from beam_ingest.connectors._jsonl_chunks import chunks, lines, parse, records_if_one_per_line
from beam_ingest.connectors._jsonl_layout import CONTRACT_TYPES, Hints, Layout, Leaf, resolve
from beam_ingest.connectors._jsonl_types import (
    Observations,
    Observer,
    merge,
    parse_line,
    plain_numbers,
)
from beam_ingest.errors import ConfigError
from beam_ingest.files import FileInfo
from beam_ingest.schema import Kind, Schema
from beam_ingest.source import Source, SourceOutputs, check_pattern, source_outputs, with_file
from beam_ingest.transforms.merge import MergeCombineFn

__all__ = ["ReadJsonl"]

_NAMESPACE = "beam_ingest"


class ReadJsonl(Source):
    """Reads JSON Lines files into typed `pyarrow.RecordBatch`es.

    Returns `SourceOutputs`: `records` (RecordBatches under the value
    contract), `bad_records` (`BadRecord`, with 1-based line numbers),
    `counts` (`(file, records read)`; blank lines are not records) and
    `schema` (one `Schema`).

    Args:
        file_pattern: a glob on any Beam filesystem; `.gz`/`.bz2` files are
            decompressed by extension.
        schema: the features' kinds (`parent.child` names nested fields);
            None infers them over all records (a first pass whose result
            feeds the read as a side input).
        label: the transform's label.

    Raises:
        ConfigError: a bad argument (here); no file matches (when the
            pipeline is built); fields whose kinds do not widen (when the
            inference pass runs).
    """

    def __init__(
        self,
        file_pattern: str,
        *,
        schema: Schema | None = None,
        label: str | None = None,
    ) -> None:
        super().__init__()
        self.label = label
        check_pattern("ReadJsonl", file_pattern)
        if schema is not None and (not isinstance(schema, Schema) or not schema.columns):
            raise ConfigError(
                f"ReadJsonl: schema must be a beam_ingest.schema.Schema with at least one "
                f"column, or None to infer it; got {schema!r}"
            )
        self.file_pattern = file_pattern
        self.schema = schema
        self._layout = Layout.from_schema(schema) if schema is not None else None

    @classmethod
    def from_options(
        cls, pattern: str, options: Mapping[str, object], schema: Schema | None
    ) -> ReadJsonl:
        """`ReadJsonl` of `pattern` (JSONL has no options).

        Raises:
            ConfigError: a malformed pattern, or a schema whose names cannot be read
                from JSON.
        """
        return cls(pattern, schema=schema)

    @classmethod
    def profile(cls, paths: Sequence[str], options: Mapping[str, object]) -> tuple[int, Schema]:
        """(records read, inferred schema) of `paths`, read as `ReadJsonl` reads them.

        Raises:
            ConfigError: fields whose kinds do not widen, arrays of objects or
                of arrays, or two fields flattening to the same name.
        """
        seen: Observations = {}
        records = 0
        for path in paths:
            observed, count, _ = _observe_file(path)
            merge(seen, observed)
            records += count
        return records, resolve(seen).schema

    @property
    def files(self) -> list[FileInfo]:
        """Deprecated alias of `input_files()`, kept for one release."""
        return self.input_files()

    def expand(self, pbegin: beam.pvalue.PBegin) -> SourceOutputs:
        self._files = self.match(self.file_pattern)
        files = pbegin | "ListFiles" >> beam.Create([f.path for f in self._files])
        if self._layout is None:
            layout = (
                files
                | "InferTypes" >> beam.ParDo(_InferTypesFn())
                | "MergeTypes" >> beam.CombineGlobally(MergeCombineFn(dict, merge, resolve))
            )
            schema = layout | "Schema" >> beam.Map(_schema_of)
        else:
            layout = pbegin | "GivenLayout" >> beam.Create([self._layout])
            schema = pbegin | "GivenSchema" >> beam.Create([self.schema])
        read = files | "ReadLines" >> beam.ParDo(
            _ReadJsonlFileFn(), beam.pvalue.AsSingleton(layout)
        ).with_outputs("bad_records", "counts", main="records")
        return source_outputs(read, schema)

    def display_data(self) -> dict:
        given = f"given, {len(self.schema.columns)} features" if self.schema else "inferred"
        return {"file_pattern": self.file_pattern, "schema": given}


def _schema_of(layout: Layout) -> Schema:
    return layout.schema


# --- the inference pass ------------------------------------------------------


def _observe_file(path: str) -> tuple[Observations, int, int]:
    """The first place of each kind of value at each field path of one file,
    its records (non-blank lines) and the number of chunks read line by line."""
    observer = Observer(path)
    records = slow = 0
    for first_line, chunk in chunks(path):
        count = records_if_one_per_line(chunk)
        if count == 0:
            continue
        table = parse(chunk, None) if count else None
        if table is not None and table.num_rows == count and plain_numbers(table):
            observer.observe_table(table, _LineOf(first_line, chunk, count))
            records += count
            continue
        slow += 1
        for line, raw in lines(first_line, chunk):
            records += 1
            obj, _ = parse_line(raw)  # bad lines are dead-lettered by the read
            if obj is not None:
                observer.observe_object(obj, line)
    return observer.seen, records, slow


class _InferTypesFn(beam.DoFn):
    """One file to the first place of each kind of value at each field path."""

    def __init__(self) -> None:
        self._slow = beam.metrics.Metrics.counter(_NAMESPACE, "jsonl_infer_slow_chunks")

    def process(self, path: str) -> Iterator[Observations]:
        seen, _, slow = _observe_file(path)
        if slow:
            self._slow.inc(slow)
        yield seen


class _LineOf:
    """Row index -> line number in a chunk that holds one object per non-blank
    line (computed on first use: only rows holding a kind seen first need it)."""

    def __init__(self, first_line: int, chunk: bytes, records: int) -> None:
        self._first = first_line
        self._chunk = chunk
        self._records = records
        self._lines: Sequence[int] | None = None

    def __call__(self, row: int) -> int:
        if self._lines is None:
            if self._records == self._chunk.count(b"\n"):  # no blank line
                self._lines = range(self._first, self._first + self._records)
            else:
                self._lines = [line for line, _ in lines(self._first, self._chunk)]
        return self._lines[row]


# --- the read ------------------------------------------------------------------


class _ReadJsonlFileFn(beam.DoFn):
    """One file to typed RecordBatches, bad records and its record count.

    With a given schema the layout does not say which features hold arrays
    or booleans; a slow chunk that sees them makes the file's later chunks
    read them so (scalars still fit: the slow path wraps them).
    """

    def __init__(self) -> None:
        self._records = beam.metrics.Metrics.counter(_NAMESPACE, "jsonl_records_read")
        self._bad = beam.metrics.Metrics.counter(_NAMESPACE, "jsonl_bad_records")
        self._slow = beam.metrics.Metrics.counter(_NAMESPACE, "jsonl_slow_chunks")

    def process(self, path: str, layout: Layout) -> Iterator:
        lists: set[str] = set()
        bools: set[str] = set()
        schemas: dict[tuple[frozenset[str], frozenset[str]], pa.Schema] = {}
        read = bad_count = 0
        for first_line, chunk in chunks(path):
            key = (frozenset(lists), frozenset(bools))
            if key not in schemas:
                schemas[key] = layout.arrow_schema(*key)
            records = records_if_one_per_line(chunk)
            if records == 0:
                continue
            batch = _read_fast(chunk, records, layout, schemas[key]) if layout.columns else None
            if batch is not None:
                records = batch.num_rows
            else:
                self._slow.inc()
                hints = Hints()
                batch, bad, records = _read_slow(path, first_line, chunk, layout, hints)
                bad_count += len(bad)
                for record in bad:
                    yield beam.pvalue.TaggedOutput("bad_records", record)
                if layout.given:
                    lists |= hints.arrays
                    bools = (bools | hints.bools) - hints.numbers
            read += records
            if batch.num_rows:
                yield with_file(batch, path)
        self._records.inc(read)
        self._bad.inc(bad_count)
        yield beam.pvalue.TaggedOutput("counts", (path, read))


def _read_fast(
    chunk: bytes, records: int | None, layout: Layout, schema: pa.Schema
) -> pa.RecordBatch | None:
    """The chunk's batch if pyarrow reads every line as one record that fits."""
    if records is None:
        return None
    table = parse(chunk, schema)
    if table is None or table.num_rows != records:
        return None
    batch = table.combine_chunks().to_batches()[0]
    converted, failures = to_example_columns(batch)
    if failures:
        return None
    columns = []
    for leaf in layout.columns:
        column = converted.column(leaf.name)
        if not _fits(column):
            return None
        columns.append(_conform(column, leaf))
    return pa.RecordBatch.from_arrays(columns, names=[leaf.name for leaf in layout.columns])


def _fits(column: pa.Array) -> bool:
    """False for a null inside a list or a NaN/Infinity (pyarrow accepts both)."""
    is_list = pa.types.is_large_list(column.type)
    values = column.flatten() if is_list else column
    if is_list and values.null_count:
        return False
    if pa.types.is_floating(values.type):
        return not pc.any(pc.invert(pc.is_finite(values))).as_py()
    return True


def _conform(column: pa.Array, leaf: Leaf) -> pa.Array:
    """A column as its feature's contract type (a boolean in a FLOAT feature is 0.0/1.0)."""
    if leaf.kind is Kind.UNKNOWN:
        return pa.nulls(len(column))  # also `[]` everywhere: an empty Feature()
    target = CONTRACT_TYPES[leaf.kind]
    if pa.types.is_large_list(column.type):
        target = pa.large_list(target)
    return column if column.type == target else pc.cast(column, target)


def _read_slow(
    path: str, first_line: int, chunk: bytes, layout: Layout, hints: Hints
) -> tuple[pa.RecordBatch, list[BadRecord], int]:
    """Line by line: the good lines' batch, the bad lines, the number of records."""
    rows, bad, records = [], [], 0
    for line, raw in lines(first_line, chunk):
        records += 1
        obj, reason = parse_line(raw)
        if obj is not None:
            row, reason = layout.fit(obj, hints)
            if row is not None:
                rows.append(row)
                continue
        text = raw.decode("utf-8", "surrogateescape").rstrip("\r")
        bad.append(BadRecord(path, line, reason, text))
    return layout.rows_to_batch(rows, hints.arrays), bad, records
