"""Avro object container files to Arrow RecordBatches: `ReadAvro`.

Work units are byte ranges of a file (`desired_bundle_size`, as Beam's
`ReadAllFromAvro`); a unit reads the blocks whose sync marker ends in its
range, so a big file is read in parallel and every block exactly once. Only
headers are read when the pipeline is built. Runs of blocks holding ~10k
records are decoded straight into Arrow columns by polars' Avro reader
(`_avro_columns`: the file's header plus the blocks' bytes is an Avro file to
it). fastavro, one dict per record, then `RecordBatch.from_pylist`, decodes
the rest: every block of a schema or codec polars does not read as fastavro
does, and blocks polars fails on or whose values break the value contract,
so that fastavro reports what is bad. Date, time, timestamp and uuid
annotations are dropped from the schema both decode with, so those values
arrive as the ints/strings Avro stores and Arrow types them column-wise (no
Python object per value, no range error for sentinels such as the largest long).

A block that cannot be read (bad sync marker, truncated, undecodable) is one
bad record whose `record` is its byte offset; reading resumes at the next
intact sync marker. A record whose values do not fit (invalid UTF-8, a null
inside an array, a decimal beyond its precision) is a bad record whose
`record` is its index in the file (blocks counted as their headers state).
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Iterator
from typing import Any, NamedTuple

import apache_beam as beam
import fastavro
import pyarrow as pa
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from beam_ingest.arrow_values import drop_rows, to_example_columns, unsupported_columns
from beam_ingest.bad_records import BadRecord
from beam_ingest.connectors._avro_columns import ColumnsReader, Frames, columns_reader, frame_blocks
from beam_ingest.connectors._outputs import check_bundle_size, check_pattern, source_outputs
from beam_ingest.errors import ConfigError
from beam_ingest.files import FileInfo, match_files
from beam_ingest.schema import Schema

__all__ = ["ReadAvro"]

_NAMESPACE = "beam_ingest"
_BATCH_ROWS = 10_000
_SYNC_SIZE = 16
_RAW_CHARS = 200
_VALUE_ERRORS = (pa.ArrowException, ValueError, TypeError, OverflowError)
_PRIMITIVES = {
    "null": pa.null(),
    "boolean": pa.bool_(),
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "bytes": pa.binary(),
    "string": pa.string(),
}
# (Avro type, logical type): read as the plain Avro value, typed by Arrow.
_PLAIN_LOGICAL = {
    ("int", "date"): pa.date32(),
    ("int", "time-millis"): pa.time32("ms"),
    ("long", "time-micros"): pa.time64("us"),
    ("long", "timestamp-millis"): pa.timestamp("ms", tz="UTC"),
    ("long", "timestamp-micros"): pa.timestamp("us", tz="UTC"),
    ("long", "timestamp-nanos"): pa.timestamp("ns", tz="UTC"),
    ("long", "local-timestamp-millis"): pa.timestamp("ms"),
    ("long", "local-timestamp-micros"): pa.timestamp("us"),
    ("long", "local-timestamp-nanos"): pa.timestamp("ns"),
    ("string", "uuid"): pa.string(),
}


class ReadAvro(beam.PTransform):
    """Reads Avro files into `pyarrow.RecordBatch`es under the value contract.

    Returns a dict of PCollections: `records` (RecordBatches), `bad_records`
    (`BadRecord`), `counts` (`(file, records read)` per work unit) and
    `schema` (one `Schema`). `["null", T]` unions are nullable T; records
    flatten to `parent.child`; enums are strings; decimals are floats; dates
    are days, times and timestamps microseconds (UTC).

    Args:
        file_pattern: a glob on any Beam filesystem.
        desired_bundle_size: bytes per work unit; a larger file is read by
            several workers.

    Raises:
        ConfigError: a bad argument; when the pipeline is built: no matching
            file, a file that is not Avro, a map, a union of several non-null
            types, an array of records or arrays, or files whose schemas
            differ after conversion.
        ImportError: files compressed with a codec whose library is missing
            (fastavro's message names it).
    """

    def __init__(
        self, file_pattern: str, *, desired_bundle_size: int = 64 << 20, label: str | None = None
    ) -> None:
        super().__init__(label)
        check_pattern("ReadAvro", file_pattern)
        check_bundle_size("ReadAvro", desired_bundle_size)
        self.file_pattern = file_pattern
        self.desired_bundle_size = desired_bundle_size
        self.files: list[FileInfo] = []

    def expand(self, pbegin: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        self.files = match_files(self.file_pattern)
        converted = _common_schema(self.files)
        step = self.desired_bundle_size
        units = [
            (f.path, start, min(start + step, f.size), f.size)
            for f in self.files
            for start in range(0, f.size, step)
        ]
        read = (
            pbegin
            | "WorkUnits" >> beam.Create(units)  # reshuffles the small unit descriptions
            | "ReadBlocks"
            >> beam.ParDo(_ReadUnitFn(tuple(converted.names))).with_outputs(
                "bad_records", "counts", main="records"
            )
        )
        return source_outputs(
            read, pbegin | "Schema" >> beam.Create([Schema.from_arrow(converted)])
        )

    def display_data(self) -> dict:
        return {"file_pattern": self.file_pattern, "bundle_size": self.desired_bundle_size}


# --- schemas ------------------------------------------------------------------


class _Header(NamedTuple):
    schema: Any  # the writer schema, as fastavro parsed it
    codec: str
    raw: bytes  # the header fastavro decodes blocks with (see `_PLAIN_LOGICAL`)
    end: int  # offset of the first block
    sync: bytes
    declared: Any  # the writer schema, as the file states it (JSON)


def _open(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _read_header(f) -> _Header:
    reader = fastavro.block_reader(f)
    end = f.tell()
    f.seek(end - _SYNC_SIZE)
    sync = f.read(_SYNC_SIZE)
    raw = io.BytesIO()
    declared = json.loads(reader.metadata["avro.schema"])
    fastavro.writer(raw, _plain(declared), [], codec=reader.codec, sync_marker=sync)
    return _Header(reader.writer_schema, reader.codec, raw.getvalue(), end, sync, declared)


def _plain(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_plain(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _plain(v) for k, v in schema.items()}
    if (str(out.get("type")), out.get("logicalType")) in _PLAIN_LOGICAL:
        del out["logicalType"]
    return out


class _Unsupported(Exception):
    """A field with no tf.Example form: `args` are (field, what it is)."""


def _arrow_type(schema: Any, field: str, named: dict, stack: tuple) -> pa.DataType:
    if isinstance(schema, list):
        branches = [s for s in schema if s != "null"]
        if len(branches) > 1:
            raise _Unsupported(field, f"a union of several non-null types {branches}")
        return _arrow_type(branches[0], field, named, stack) if branches else pa.null()
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return _PRIMITIVES[schema]
        if schema in stack:
            raise _Unsupported(field, f"the recursive type {schema!r}")
        return _arrow_type(named[schema], field, named, stack)
    kind, logical = schema["type"], schema.get("logicalType")
    if not isinstance(kind, str):
        return _arrow_type(kind, field, named, stack)
    if kind in ("record", "enum", "fixed"):
        named[schema["name"]] = schema
    if (kind, logical) in _PLAIN_LOGICAL:
        return _PLAIN_LOGICAL[(kind, logical)]
    if logical == "decimal" and kind in ("bytes", "fixed"):
        precision, scale = schema.get("precision"), schema.get("scale", 0)
        if not isinstance(precision, int) or precision < 1:
            raise _Unsupported(field, f"a decimal with precision {precision!r}")
        return (pa.decimal128 if precision <= 38 else pa.decimal256)(precision, scale)
    if kind == "record":
        inner = (*stack, schema["name"])
        return pa.struct(
            (f["name"], _arrow_type(f["type"], f"{field}.{f['name']}".lstrip("."), named, inner))
            for f in schema["fields"]
        )
    if kind == "array":
        return pa.list_(_arrow_type(schema["items"], field, named, stack))
    if kind == "map":
        raise _Unsupported(field, "an Avro map")
    if kind in ("enum", "fixed"):
        return pa.string() if kind == "enum" else pa.binary(schema["size"])
    return _arrow_type(kind, field, named, stack)  # a primitive or a named type


def _arrow_schema(schema: Any) -> pa.Schema:
    struct = _arrow_type(schema, "", {}, ())
    if not pa.types.is_struct(struct):
        raise _Unsupported("", f"a file of {struct} values, not of records")
    return pa.schema(list(struct))


def _file_schema(path: str) -> pa.Schema:
    """A file's Arrow schema under the value contract, from its header alone."""
    try:
        with _open(path) as f:
            header = _read_header(f)
    except OSError as e:
        raise ConfigError(f"--input: cannot read {path!r}: {e}") from e
    except Exception as e:
        raise ConfigError(f"--input: {path!r} is not a readable Avro file: {e!r}") from e
    if why := _codec_error(header.codec):
        raise ImportError(f"--input: {path!r} cannot be decoded: {why}")
    try:
        arrow = _arrow_schema(header.schema)
        for name, arrow_type in unsupported_columns(arrow):
            raise _Unsupported(name, f"{arrow_type} (an array of records or of arrays)")
    except _Unsupported as e:
        raise ConfigError(
            f"--input: field {e.args[0]!r} of {path!r} is {e.args[1]}, which has no "
            'tf.Example form (supported: primitives, enums, fixed, records, arrays, ["null", T])'
        ) from e
    return to_example_columns(pa.RecordBatch.from_pylist([], schema=arrow))[0].schema


@functools.cache
def _codec_error(codec: str) -> str | None:
    """Why blocks compressed with `codec` cannot be read here (a missing library).
    fastavro finds out only when it decodes a block, so a one-block file is tried."""
    try:
        buffer = io.BytesIO()
        fastavro.writer(buffer, "null", [None], codec=codec)
        buffer.seek(0)
        list(fastavro.reader(buffer))
    except ValueError as e:
        return str(e)
    return None


def _common_schema(files: list[FileInfo]) -> pa.Schema:
    first = _file_schema(files[0].path)
    expected = dict(zip(first.names, first.types, strict=True))
    for info in files[1:]:
        schema = _file_schema(info.path)
        got = dict(zip(schema.names, schema.types, strict=True))
        for name in [*expected, *(n for n in got if n not in expected)]:
            if expected.get(name) != got.get(name):
                raise ConfigError(
                    f"--input: files of one pattern must have compatible schemas: field "
                    f"{name!r} is {_shape(expected.get(name))} in {files[0].path!r} but "
                    f"{_shape(got.get(name))} in {info.path!r}"
                )
    return first


def _shape(t: pa.DataType | None) -> str:
    if t is None:
        return "absent"
    kind = Schema.from_arrow(pa.schema([("_", t)])).columns[0].kind.name.lower()
    return f"a list of {kind}" if pa.types.is_large_list(t) else kind


# --- reading ------------------------------------------------------------------


class _Spliced:
    """`header`, then the file from `pos`: fastavro reads any block as the first
    of a file. Reads stop at the end of the file (a corrupt length cannot ask
    for more) and seek first (the file handle is shared)."""

    def __init__(self, header: bytes, f, pos: int, size: int) -> None:
        self._head, self._f, self._pos, self._size = header, f, pos, size

    def read(self, n: int = -1) -> bytes:
        head = self._head if n < 0 else self._head[:n]
        self._head = self._head[len(head) :]
        n = self._size - self._pos if n < 0 else min(n - len(head), self._size - self._pos)
        if n <= 0:
            return head
        self._f.seek(self._pos)
        data = self._f.read(n)
        self._pos += len(data)
        return head + data

    def tell(self) -> int:
        return self._pos


def _next_sync(f, pos: int, sync: bytes, size: int) -> int:
    """Where the first sync marker at or after `pos` ends (`size` if none)."""
    f.seek(pos)
    carry = b""
    while pos < size and (chunk := f.read(min(1 << 16, size - pos))):
        data = carry + chunk
        if (found := data.find(sync)) >= 0:
            return pos - len(carry) + found + _SYNC_SIZE
        carry, pos = data[1 - _SYNC_SIZE :], pos + len(chunk)
    return size


def _blocks(f, header: _Header, size: int, pos: int, stop: int) -> Iterator[tuple]:
    """(offset, end, block, error) of each block starting in [pos, stop). Bytes
    that do not frame a block give block None and end at the next sync marker."""
    reader = None
    while pos < min(stop, size):
        if reader is None:
            spliced = _Spliced(header.raw, f, pos, size)
            reader = fastavro.block_reader(spliced, handle_unicode_errors="surrogateescape")
        try:
            block = next(reader)
        except OSError:
            raise
        except StopIteration:
            error: Exception = EOFError("the file ends inside a block header")
        except Exception as e:  # noqa: BLE001 - any failure to frame a block
            error = e
        else:
            yield pos, pos + block.size, block, None
            pos += block.size
            continue
        end = _next_sync(f, pos, header.sync, size)
        yield pos, end, None, error
        reader, pos = None, end


def _records_before(f, header: _Header, size: int, first: int) -> int:
    """Records in the file before the block at `first`, as block headers state."""
    blocks = _blocks(f, header, size, header.end, first)
    return sum(block.num_records for _, _, block, _ in blocks if block is not None)


class _ReadUnitFn(beam.DoFn):
    """One byte range of a file to RecordBatches, bad records and a count.

    Runs of blocks holding about `_BATCH_ROWS` records are decoded by polars
    into columns (`_avro_columns`); blocks polars cannot read, and every block
    of a schema it does not read, are decoded by fastavro into dicts, which
    report bad blocks and records."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self._names = list(names)
        self._read = beam.metrics.Metrics.counter(_NAMESPACE, "avro_records_read")
        self._bad = beam.metrics.Metrics.counter(_NAMESPACE, "avro_bad_records")
        self._corrupt = beam.metrics.Metrics.counter(_NAMESPACE, "avro_corrupt_blocks")

    def process(self, unit: tuple[str, int, int, int]) -> Iterator:
        path, start, stop, size = unit
        read = ordinal = 0  # records read; the file's records before `pos`, from `first`
        with _open(path) as f:
            header = _read_header(f)
            arrow = _arrow_schema(header.schema)
            pos = first = header.end
            if start > header.end:
                pos = first = _next_sync(f, start - _SYNC_SIZE, header.sync, size)
            first_index = functools.partial(_records_before, f, header, size, first)
            columns = columns_reader(header.declared, header.codec, header.sync, arrow)
            while pos < min(stop, size):
                slow_stop = stop
                if columns is not None:
                    frames = frame_blocks(f, header.sync, pos, stop, size, _BATCH_ROWS)
                    batch = self._columns(columns, frames)
                    if batch is not None:
                        if batch.num_rows:
                            yield batch
                        read, ordinal, pos = read + frames.rows, ordinal + frames.rows, frames.end
                        continue
                    # fastavro decodes these blocks again, or the one at `pos` that does not frame.
                    slow_stop = (frames.offsets[-1] if frames.offsets else pos) + 1
                pos, n, ordinal = yield from self._decode_rows(
                    path, f, header, arrow, first_index, size, (pos, slow_stop), ordinal
                )
                read += n
        self._read.inc(read)
        yield beam.pvalue.TaggedOutput("counts", (path, read))

    def _columns(self, columns: ColumnsReader, frames: Frames) -> pa.RecordBatch | None:
        """The framed blocks under the value contract, if polars reads them and all
        their values fit (else fastavro decodes them, to report what does not)."""
        batch = columns.read(frames.data, frames.rows) if frames.offsets else None
        if batch is None:
            return None
        converted, late = to_example_columns(batch)
        return None if late else converted.select(self._names)

    def _decode_rows(self, path, f, header, arrow, first_index, size, span, ordinal) -> Iterator:
        """Decodes the blocks starting in `span` (start, stop) with fastavro; returns
        (where it stopped, records read, `ordinal` after: the file's records before
        that point, counted from the unit's first block)."""
        pos, stop = span
        read, records, ordinals, end = 0, [], [], pos
        for at, end, block, error in _blocks(f, header, size, pos, stop):
            if error is None:
                try:
                    rows = list(block)
                except Exception as e:  # noqa: BLE001 - an undecodable block
                    error = e
            if error is not None:
                read += 1
                self._corrupt.inc()
                f.seek(at)
                reason = (
                    f"corrupt Avro block at byte {at}: {type(error).__name__}: {error}; "
                    f"bytes {at}-{end} skipped (resumed at the next sync marker)"
                )
                yield self._bad_record(path, at, reason, repr(f.read(32)))
                ordinal += block.num_records if block is not None else 0
                continue
            read += len(rows)
            records += rows
            ordinals += range(ordinal, ordinal + len(rows))
            ordinal += len(rows)
            if len(records) >= _BATCH_ROWS:
                yield from self._flush(path, records, ordinals, arrow, first_index)
                records, ordinals = [], []
        if records:
            yield from self._flush(path, records, ordinals, arrow, first_index)
        return end, read, ordinal

    def _bad_record(self, path: str, record: int, reason: str, raw: str):
        self._bad.inc()
        return beam.pvalue.TaggedOutput("bad_records", BadRecord(path, record, reason, raw))

    def _flush(self, path, records, ordinals, arrow, first_index) -> Iterator:
        failures: dict[int, str] = {}
        try:
            batch = pa.RecordBatch.from_pylist(records, schema=arrow)
            kept = range(len(records))
        except _VALUE_ERRORS:  # the slow path: find the records that do not fit
            failures = {i: why for i, rec in enumerate(records) if (why := _misfit(rec, arrow))}
            kept = [i for i in range(len(records)) if i not in failures]
            batch = pa.RecordBatch.from_pylist([records[i] for i in kept], schema=arrow)
        columns, late = to_example_columns(batch)
        if late:
            columns = drop_rows(columns, late)
            failures.update({kept[j]: why for j, why in late.items()})
        if columns.num_rows:
            yield columns.select(self._names)
        base = first_index() if failures else 0
        for i in sorted(failures):
            raw = repr(records[i])
            raw = raw if len(raw) <= _RAW_CHARS else raw[: _RAW_CHARS - 3] + "..."
            yield self._bad_record(path, base + ordinals[i], failures[i], raw)


def _misfit(record: dict, arrow: pa.Schema) -> str | None:
    for field in arrow:
        try:
            pa.array([record.get(field.name)], type=field.type)
        except _VALUE_ERRORS as e:
            return f"field {field.name!r}: {type(e).__name__}: {e}"
    return None
