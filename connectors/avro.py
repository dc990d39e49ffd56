"""Avro object container files to Arrow RecordBatches: `ReadAvro`.

Work units are byte ranges of a file (`desired_bundle_size`, as Beam's
`ReadAllFromAvro`); a unit reads the blocks whose sync marker ends in its
range, so a big file is read in parallel and every block exactly once. Only
headers are read when the pipeline is built (`_avro_schema`). Runs of blocks of ~10k
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
from collections.abc import Iterator, Mapping, Sequence

import apache_beam as beam
import fastavro
import pyarrow as pa

from beam_ingest.arrow_values import drop_rows, to_example_columns
from beam_ingest.bad_records import BadRecord
from beam_ingest.connectors._avro_columns import ColumnsReader, Frames, columns_reader, frame_blocks
from beam_ingest.connectors._avro_schema import (
    SYNC_SIZE,
    Header,
    arrow_schema,
    common_schema,
    open_file,
    read_header,
)
from beam_ingest.errors import ConfigError
from beam_ingest.files import FileInfo
from beam_ingest.schema import Schema
from beam_ingest.source import (
    Source,
    SourceOutputs,
    check_bundle_size,
    check_pattern,
    source_outputs,
)

__all__ = ["ReadAvro"]

_NAMESPACE = "beam_ingest"
_BATCH_ROWS = 10_000
_RAW_CHARS = 200
_VALUE_ERRORS = (pa.ArrowException, ValueError, TypeError, OverflowError)


class ReadAvro(Source):
    """Reads Avro files into `pyarrow.RecordBatch`es under the value contract.

    Returns `SourceOutputs`: `records` (RecordBatches), `bad_records`
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
        super().__init__()
        self.label = label
        check_pattern("ReadAvro", file_pattern)
        check_bundle_size("ReadAvro", desired_bundle_size)
        self.file_pattern = file_pattern
        self.desired_bundle_size = desired_bundle_size

    @classmethod
    def from_options(
        cls, pattern: str, options: Mapping[str, object], schema: Schema | None
    ) -> ReadAvro:
        """The reader of `pattern` (Avro has no options).

        Raises:
            ConfigError: a schema is given (Avro files carry their own), or a
                malformed pattern.
        """
        if schema is not None:
            raise ConfigError("schema: Avro files carry their own schema; leave schema out")
        return cls(pattern)

    @classmethod
    def profile(cls, paths: Sequence[str], options: Mapping[str, object]) -> tuple[int, Schema]:
        """(records, schema) of Avro files: the schema from their headers, the
        records as their blocks' headers count them.

        Raises:
            ConfigError: a file `ReadAvro` refuses (see the class), or one whose
                blocks cannot be read.
        """
        schema = common_schema(list(paths))
        records = 0
        for path in paths:
            with open_file(path) as f:
                try:
                    records += sum(block.num_records for block in fastavro.block_reader(f))
                except Exception as e:  # fastavro raises several types
                    raise ConfigError(
                        f"registry push: {path!r} is not a readable Avro file: {e}"
                    ) from e
        return records, Schema.from_arrow(schema)

    @property
    def files(self) -> list[FileInfo]:
        """Deprecated alias of `input_files()`, kept for one release."""
        return self.input_files()

    def expand(self, pbegin: beam.pvalue.PBegin) -> SourceOutputs:
        self._files = self.match(self.file_pattern)
        converted = common_schema([f.path for f in self._files])
        step = self.desired_bundle_size
        units = [
            (f.path, start, min(start + step, f.size), f.size)
            for f in self._files
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
            return pos - len(carry) + found + SYNC_SIZE
        carry, pos = data[1 - SYNC_SIZE :], pos + len(chunk)
    return size


def _blocks(f, header: Header, size: int, pos: int, stop: int) -> Iterator[tuple]:
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


def _records_before(f, header: Header, size: int, first: int) -> int:
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
        with open_file(path) as f:
            header = read_header(f)
            arrow = arrow_schema(header.schema)
            pos = first = header.end
            if start > header.end:
                pos = first = _next_sync(f, start - SYNC_SIZE, header.sync, size)
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
