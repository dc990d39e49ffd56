"""JSON Lines files to Arrow RecordBatches: `ReadJsonl`.

One JSON object per line; blank lines are skipped (they are not records);
`.gz`/`.bz2` files are decompressed by extension. A file is read in chunks of
whole lines (about 1 MB), and each chunk is parsed by pyarrow's JSON reader
with an explicit schema: no Python per record. Only a chunk that pyarrow
rejects, or whose result breaks a rule pyarrow does not check, takes the slow
path: `json.loads` line by line finds the bad lines, which are dead-lettered
with their line number and a reason, and the rest becomes the chunk's batch.

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

import re
from collections.abc import Iterator, Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
from apache_beam.io.filesystems import FileSystems

from beam_ingest.arrow_values import to_example_columns
from beam_ingest.bad_records import BadRecord
from beam_ingest.connectors import _jsonl_types as types
from beam_ingest.connectors._outputs import check_pattern, source_outputs
from beam_ingest.errors import ConfigError
from beam_ingest.files import FileInfo, match_files
from beam_ingest.schema import Kind, Schema

__all__ = ["ReadJsonl"]

_NAMESPACE = "beam_ingest"
_CHUNK_SIZE = 4 << 20
# pyarrow parses a chunk as blocks of about this size on its CPU thread pool.
_PARSE_BLOCK = 1 << 19
_BOM = b"\xef\xbb\xbf"
_BLANK_LINE = re.compile(rb"\n[ \t\r]*(?=\n)")
_WHITESPACE = b" \t\r"
_NEWLINE, _CR, _OPEN, _CLOSE = ord("\n"), ord("\r"), ord("{"), ord("}")


class ReadJsonl(beam.PTransform):
    """Reads JSON Lines files into typed `pyarrow.RecordBatch`es.

    Returns a dict of PCollections: `records` (RecordBatches under the value
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
        super().__init__(label)
        check_pattern("ReadJsonl", file_pattern)
        if schema is not None and (not isinstance(schema, Schema) or not schema.columns):
            raise ConfigError(
                f"ReadJsonl: schema must be a beam_ingest.schema.Schema with at least one "
                f"column, or None to infer it; got {schema!r}"
            )
        self.file_pattern = file_pattern
        self.schema = schema
        self._layout = types.Layout.from_schema(schema) if schema is not None else None
        self.files: list[FileInfo] = []

    def expand(self, pbegin: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        self.files = match_files(self.file_pattern)
        paths = [f.path for f in self.files]
        files = pbegin | "ListFiles" >> beam.Create(paths)
        if self._layout is None:
            layout = (
                files
                | "InferTypes" >> beam.ParDo(_InferTypesFn())
                | "MergeTypes" >> beam.CombineGlobally(_MergeTypes())
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


def _schema_of(layout: types.Layout) -> Schema:
    return layout.schema


# --- chunks of whole lines -------------------------------------------------


def _chunks(path: str) -> Iterator[tuple[int, bytes]]:
    """(number of its first line, bytes) of runs of whole lines, about
    `_CHUNK_SIZE` each; every chunk ends with a newline. A leading UTF-8
    byte-order mark is not part of the data."""
    line = 1
    pieces: list[bytes] = []
    with FileSystems.open(path) as f:  # AUTO compression: by extension
        first = True
        while block := f.read(_CHUNK_SIZE):
            if first:
                block, first = block.removeprefix(_BOM), False
            cut = block.rfind(b"\n") + 1
            if not cut:
                pieces.append(block)
                continue
            chunk = b"".join([*pieces, block[:cut]]) if pieces else block[:cut]
            pieces = [block[cut:]] if cut < len(block) else []
            yield line, chunk
            line += chunk.count(b"\n")
    if pieces:
        yield line, b"".join(pieces) + b"\n"


def _lines(first_line: int, chunk: bytes) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of each non-blank line of a chunk."""
    for i, raw in enumerate(chunk[:-1].split(b"\n")):
        if raw.strip(_WHITESPACE):
            yield first_line + i, raw


def _records_if_one_per_line(chunk: bytes) -> int | None:
    """The number of non-blank lines, if pyarrow's reading of the chunk can be
    checked by its row count: the chunk is UTF-8 (pyarrow does not check
    strings) and each non-blank line starts with `{` and ends with `}`.

    pyarrow reads `{..} {..}` on one line as two rows and an object spread
    over lines as one, so its row count proves one object per line only when
    no line can continue another: a line boundary inside an object would put
    `}` before `{` (no valid JSON) or leave a line not framed by braces.
    """
    if not chunk.isascii():
        try:
            chunk.decode("utf-8")
        except UnicodeDecodeError:
            return None
    data = np.frombuffer(chunk, np.uint8)
    newlines = np.flatnonzero(data == _NEWLINE)
    lines = len(newlines)
    starts = np.count_nonzero(data[newlines[:-1] + 1] == _OPEN) + (data[0] == _OPEN)
    before = data[newlines - 1]
    ends = np.count_nonzero(before == _CLOSE)
    crlf = newlines[before == _CR]
    ends += np.count_nonzero(data[crlf - 2] == _CLOSE)
    if starts == ends == lines:
        return lines
    records = lines - len(_BLANK_LINE.findall(b"\n" + chunk))
    return records if starts == ends == records else None


def _parse(chunk: bytes, schema: pa.Schema | None) -> pa.Table | None:
    """pyarrow's reading of a chunk, or None where pyarrow rejects it (or would
    crash on it: it recurses without limit into nested objects)."""
    if types.too_deep(chunk):
        return None
    options = (
        pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")
        if schema is not None
        else pa_json.ParseOptions()
    )
    blocks = _PARSE_BLOCK if len(chunk) > _PARSE_BLOCK else len(chunk) + 1
    while True:
        try:
            return pa_json.read_json(
                pa.BufferReader(chunk),
                read_options=pa_json.ReadOptions(
                    use_threads=blocks <= len(chunk), block_size=blocks
                ),
                parse_options=options,
            )
        except (pa.ArrowInvalid, UnicodeDecodeError) as e:
            if blocks > len(chunk) or "straddl" not in str(e):
                return None
            blocks = len(chunk) + 1  # a line longer than a block: the chunk as one block


# --- the inference pass ------------------------------------------------------


class _InferTypesFn(beam.DoFn):
    """One file to the first place of each kind of value at each field path."""

    def __init__(self) -> None:
        self._slow = beam.metrics.Metrics.counter(_NAMESPACE, "jsonl_infer_slow_chunks")

    def process(self, path: str) -> Iterator[types.Observations]:
        observer = types.Observer(path)
        for first_line, chunk in _chunks(path):
            records = _records_if_one_per_line(chunk)
            if records == 0:
                continue
            table = _parse(chunk, None) if records else None
            if table is not None and table.num_rows == records and types.plain_numbers(table):
                observer.observe_table(table, _LineOf(first_line, chunk, records))
                continue
            self._slow.inc()
            for line, raw in _lines(first_line, chunk):
                obj, _ = types.parse_line(raw)  # bad lines are dead-lettered by the read
                if obj is not None:
                    observer.observe_object(obj, line)
        yield observer.seen


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
                self._lines = [line for line, _ in _lines(self._first, self._chunk)]
        return self._lines[row]


class _MergeTypes(beam.CombineFn):
    def create_accumulator(self) -> types.Observations:
        return {}

    def add_input(self, acc: types.Observations, seen: types.Observations) -> types.Observations:
        return types.merge(acc, seen)

    def merge_accumulators(self, accumulators) -> types.Observations:
        merged: types.Observations = {}
        for acc in accumulators:
            types.merge(merged, acc)
        return merged

    def extract_output(self, acc: types.Observations) -> types.Layout:
        return types.resolve(acc)


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

    def process(self, path: str, layout: types.Layout) -> Iterator:
        lists: set[str] = set()
        bools: set[str] = set()
        schemas: dict[tuple[frozenset[str], frozenset[str]], pa.Schema] = {}
        read = bad_count = 0
        for first_line, chunk in _chunks(path):
            key = (frozenset(lists), frozenset(bools))
            if key not in schemas:
                schemas[key] = layout.arrow_schema(*key)
            records = _records_if_one_per_line(chunk)
            if records == 0:
                continue
            batch = _read_fast(chunk, records, layout, schemas[key]) if layout.columns else None
            if batch is not None:
                records = batch.num_rows
            else:
                self._slow.inc()
                hints = types.Hints()
                batch, bad, records = _read_slow(path, first_line, chunk, layout, hints)
                bad_count += len(bad)
                for record in bad:
                    yield beam.pvalue.TaggedOutput("bad_records", record)
                if layout.given:
                    lists |= hints.arrays
                    bools = (bools | hints.bools) - hints.numbers
            read += records
            if batch.num_rows:
                yield batch
        self._records.inc(read)
        self._bad.inc(bad_count)
        yield beam.pvalue.TaggedOutput("counts", (path, read))


def _read_fast(
    chunk: bytes, records: int | None, layout: types.Layout, schema: pa.Schema
) -> pa.RecordBatch | None:
    """The chunk's batch if pyarrow reads every line as one record that fits."""
    if records is None:
        return None
    table = _parse(chunk, schema)
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


def _conform(column: pa.Array, leaf: types.Leaf) -> pa.Array:
    """A column as its feature's contract type (a boolean in a FLOAT feature is 0.0/1.0)."""
    if leaf.kind is Kind.UNKNOWN:
        return pa.nulls(len(column))  # also `[]` everywhere: an empty Feature()
    target = types.CONTRACT_TYPES[leaf.kind]
    if pa.types.is_large_list(column.type):
        target = pa.large_list(target)
    return column if column.type == target else pc.cast(column, target)


def _read_slow(
    path: str, first_line: int, chunk: bytes, layout: types.Layout, hints: types.Hints
) -> tuple[pa.RecordBatch, list[BadRecord], int]:
    """Line by line: the good lines' batch, the bad lines, the number of records."""
    rows, bad, records = [], [], 0
    for line, raw in _lines(first_line, chunk):
        records += 1
        obj, reason = types.parse_line(raw)
        if obj is not None:
            row, reason = layout.fit(obj, hints)
            if row is not None:
                rows.append(row)
                continue
        text = raw.decode("utf-8", "surrogateescape").rstrip("\r")
        bad.append(BadRecord(path, line, reason, text))
    return layout.rows_to_batch(rows, hints.arrays), bad, records
