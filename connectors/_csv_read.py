"""Reading one work unit of `ReadCsv`: planning ranges, cell batches, bad rows.

A work unit (`Range`) is a byte range of a file. `PlanRangesFn` cuts a big
file at record starts (`_csv_ranges.plan_ranges`); `FileBatches` streams a
range's cells as binary columns with pyarrow, whatever the size of its
records; `ReadRangeFn` types them under the schema and dead-letters bad rows.

pyarrow neither reports line numbers when quoted fields may hold newlines nor
rejects a quote left open at the end of a file. So when a range has any bad
row, one more pass over it with Python's `csv` module (the same dialect)
finds each bad row's line and raw text (`_locate`). Ranges without bad rows
never take that path.
"""

from __future__ import annotations

import codecs
import io
import itertools
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import apache_beam as beam
import pyarrow as pa
import pyarrow.csv as pa_csv
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from beam_ingest.arrow_values import drop_rows
from beam_ingest.bad_records import BadRecord
from beam_ingest.connectors import _csv_values
from beam_ingest.connectors._csv_ranges import plan_ranges
from beam_ingest.errors import DataError
from beam_ingest.files import open_input
from beam_ingest.schema import Schema
from beam_ingest.source import with_file

if TYPE_CHECKING:
    from beam_ingest.connectors.csv import CsvDialect

__all__ = [
    "MAX_BLOCK_SIZE",
    "FileBatches",
    "PlanRangesFn",
    "Range",
    "ReadRangeFn",
    "open_batches",
    "open_range",
]

_NAMESPACE = "beam_ingest"
_BLOCK_SIZE = 1 << 20
MAX_BLOCK_SIZE = 1 << 30  # a record bigger than this is a DataError
_UTF8_BOM = b"\xef\xbb\xbf"
# Encodings in which bytes below 0x80 are always the ASCII characters (so a
# line feed, quote or delimiter byte is never part of another character).
_SPLITTABLE_ENCODINGS = ("utf-8", "utf-8-sig", "ascii", "latin-1", "iso8859-", "cp125")

#: A work unit: (path, start byte, end byte or None for the end of the file,
#: number of the line at start). A range starting at 0 holds the header.
Range = tuple[str, int, int | None, int]


def open_range(
    path: str, quote: bytes | None = None, start: int = 0, end: int | None = None
) -> tuple[io.BufferedReader, _Stream]:
    """The bytes [start, end) of a file (end None: to its end), decompressed
    by extension, and the stream under it (which counts `quote` bytes)."""
    raw = open_input(path)  # a truncated or corrupt .gz raises DataError
    if start:
        raw.seek(start)
    stream = _Stream(raw, quote, None if end is None else end - start)
    return io.BufferedReader(stream, _BLOCK_SIZE), stream


def _splittable(path: str, dialect: CsvDialect) -> bool:
    """Whether a file can be cut at byte offsets found by looking at bytes."""
    encoding = codecs.lookup(dialect.encoding).name
    return (
        dialect.escape_char is None
        and CompressionTypes.detect_compression_type(path) == CompressionTypes.UNCOMPRESSED
        and encoding.startswith(_SPLITTABLE_ENCODINGS)
        and all(c is None or c.isascii() for c in (dialect.delimiter, dialect.quote_char))
    )


class PlanRangesFn(beam.DoFn):
    """(path, size) to the file's work units: one, or ranges cut at record starts."""

    def __init__(self, dialect: CsvDialect, bundle: int) -> None:
        self._dialect = dialect
        self._bundle = bundle

    def process(self, file: tuple[str, int]) -> Iterator[Range]:
        path, size = file
        if size <= self._bundle or not _splittable(path, self._dialect):
            yield (path, 0, None, 1)
            return
        dialect = self._dialect
        utf8 = codecs.lookup(dialect.encoding).name.startswith("utf-8")
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
            ranges = plan_ranges(
                raw,
                size,
                self._bundle,
                delimiter=dialect.delimiter.encode("ascii"),
                quote=dialect.quote_char.encode("ascii") if dialect.quote_char else None,
                bom=_UTF8_BOM if utf8 else b"",
            )
        for start, end, line in ranges:
            yield (path, start, end, line)


def open_batches(
    stream,
    header: list[str],
    dialect: CsvDialect,
    on_invalid: Callable[[object], str],
    block_size: int = _BLOCK_SIZE,
    names: list[str] | None = None,
) -> pa_csv.CSVStreamingReader:
    """Cells as binary columns; `names` are the columns of a stream without a header."""
    return pa_csv.open_csv(
        stream,
        read_options=pa_csv.ReadOptions(
            block_size=block_size, encoding=dialect.encoding, column_names=names
        ),
        parse_options=pa_csv.ParseOptions(
            delimiter=dialect.delimiter,
            quote_char=dialect.quote_char or False,
            double_quote=True,
            escape_char=dialect.escape_char or False,
            newlines_in_values=True,
            ignore_empty_lines=True,
            invalid_row_handler=on_invalid,
        ),
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.binary() for name in header},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
            check_utf8=False,
        ),
    )


class FileBatches:
    """A range's cell batches, whatever the size of its records.

    pyarrow fails on a record bigger than its block ("straddling object"):
    the file is then read again with a block four times bigger, the rows
    already returned skipped, up to `MAX_BLOCK_SIZE`. `on_restart` is called
    before a new reading (whose invalid rows are reported again). After the
    iteration, `quotes` counts the range's quote characters.

    Raises (while iterated):
        DataError: a record, or a quote left open, runs over `MAX_BLOCK_SIZE`.
    """

    def __init__(self, rng: Range, header, dialect, on_invalid, on_restart=None) -> None:
        self._args = (header, dialect, on_invalid)
        self._path, self._start, self._end, _ = rng
        self._names = header if self._start else None  # only the first range has the header
        self._on_restart = on_restart
        self._quote = dialect.quote_char.encode() if dialect.quote_char else None
        self.quotes = 0

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        block, done = _BLOCK_SIZE, 0
        while True:
            buffered, stream = open_range(self._path, self._quote, self._start, self._end)
            skip = done
            try:
                with buffered:
                    for batch in open_batches(buffered, *self._args, block, self._names):
                        if skip >= batch.num_rows:
                            skip -= batch.num_rows
                            continue
                        batch, skip = batch.slice(skip), 0
                        done += batch.num_rows
                        yield batch
                self.quotes = stream.quotes
                return
            except pa.ArrowInvalid as e:
                if "straddl" not in str(e):
                    raise
                if block >= MAX_BLOCK_SIZE:
                    raise DataError(
                        f"{self._path}: a record is larger than {MAX_BLOCK_SIZE >> 20} MiB, "
                        "or a quote left open runs over that much of the file"
                    ) from e
                block *= 4
                if self._on_restart:
                    self._on_restart()


class _Stream(io.RawIOBase):
    """A Beam file as a standard binary stream (Beam's CompressedFile is not
    one), counting quote characters on the way: an odd count at the end means
    a quoted field was left open, which pyarrow accepts silently. `limit`:
    the bytes to read at most (None: to the end). A file whose last line has
    no line break ends with one added, so that a header-only file like
    `a,b` (TFX's own test data) reads as a header, not as an empty block."""

    def __init__(self, raw, quote: bytes | None = None, limit: int | None = None) -> None:
        self._raw = raw
        self._quote = quote
        self._left = limit
        self._last = b"\n"  # the last byte given; at the end of the file: add a \n?
        self.quotes = 0

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()

    def readinto(self, buffer) -> int:
        size = len(buffer) if self._left is None else min(len(buffer), self._left)
        data = self._raw.read(size) if size else b""
        if not data and size and self._last not in b"\r\n":  # the end of the file
            data, self._last = b"\n", b"\n"
            buffer[:1] = data
            return 1
        if data:
            self._last = data[-1:]
        if self._left is not None:
            self._left -= len(data)
        if self._quote:
            self.quotes += data.count(self._quote)
        buffer[: len(data)] = data
        return len(data)


class ReadRangeFn(beam.DoFn):
    """One range to typed RecordBatches, bad records and its (file, record count)."""

    def __init__(self, header: list[str], dialect: CsvDialect) -> None:
        self._header = header
        self._dialect = dialect
        self._rows = beam.metrics.Metrics.counter(_NAMESPACE, "csv_records_read")
        self._bad = beam.metrics.Metrics.counter(_NAMESPACE, "csv_bad_records")

    def process(self, rng: Range, schema: Schema) -> Iterator:
        path, _, end, _ = rng
        invalid = [0]

        def on_invalid(row) -> str:
            invalid[0] += 1
            return "skip"

        def on_restart() -> None:
            invalid[0] = 0

        failures: dict[int, str] = {}  # data-row ordinal -> reason
        rows = 0
        held: tuple[int, pa.RecordBatch] | None = None
        batches = FileBatches(rng, self._header, self._dialect, on_invalid, on_restart)
        for batch in batches:
            typed, batch_failures = _to_typed(batch, schema)
            failures.update({rows + i: r for i, r in batch_failures.items()})
            # The last batch is held back until the end of the range shows
            # whether its last row was left open by an unbalanced quote.
            if held is not None:
                yield with_file(_without(*held, failures.keys()), path)
            held = (rows, typed)
            rows += batch.num_rows
        # Ranges end at record starts: only the file's last one can end in an open quote.
        open_quote = self._dialect.escape_char is None and batches.quotes % 2 == 1 and end is None
        bad: list[BadRecord] = []
        excluded: set[int] = set(failures)
        if failures or invalid[0] or open_quote:
            bad, dropped = _locate(rng, self._dialect, len(self._header), failures, open_quote)
            excluded |= dropped
        if held is not None:
            last = _without(*held, excluded)
            if last.num_rows:
                yield with_file(last, path)
        read = rows + invalid[0]
        self._rows.inc(read)
        self._bad.inc(len(bad))
        for record in bad:
            yield beam.pvalue.TaggedOutput("bad_records", record)
        yield beam.pvalue.TaggedOutput("counts", (path, read))


def _to_typed(batch: pa.RecordBatch, schema: Schema) -> tuple[pa.RecordBatch, dict[int, str]]:
    """Cells to typed columns, and {row: reason} for rows with a cell that does not fit."""
    columns, failures = [], {}
    for column in schema.columns:
        values, column_failures = _csv_values.convert(batch.column(column.name), column.kind)
        columns.append(values)
        for row, reason in column_failures.items():
            failures.setdefault(row, f"column {column.name!r}: {reason}")
    return pa.RecordBatch.from_arrays(columns, names=list(schema.names)), failures


def _without(start: int, batch: pa.RecordBatch, excluded) -> pa.RecordBatch:
    """The batch less the rows whose file ordinal (start + index) is excluded."""
    end = start + batch.num_rows
    return drop_rows(batch, [o - start for o in excluded if start <= o < end])


def _records(rng: Range, dialect: CsvDialect) -> Iterator[tuple[int, list[str], str]]:
    """(first line, cells, raw text) of each non-blank record of a range, less the header."""
    path, start, end, line = rng
    with open_range(path, None, start, end)[0] as raw:
        # A byte-order mark can only be at the file's start.
        encoding = dialect.python_encoding if start == 0 else dialect.encoding
        text = io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")
        lines = _LineCounter(text, line - 1)
        reader = dialect.reader(lines)
        header_seen = start > 0
        while True:
            start = lines.line + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            raw_text = lines.take()
            if not row:
                continue
            if not header_seen:
                header_seen = True
                continue
            yield start, row, raw_text.rstrip("\r\n")


class _LineCounter:
    """Feeds lines to csv.reader and keeps them for the raw text of a record."""

    def __init__(self, text: io.TextIOBase, line: int = 0) -> None:
        self._text = text
        self.line = line  # lines read before the first
        self._pending: list[str] = []

    def __iter__(self) -> _LineCounter:
        return self

    def __next__(self) -> str:
        line = self._text.readline()
        if not line:
            raise StopIteration
        self.line += 1
        self._pending.append(line)
        return line

    def take(self) -> str:
        text, self._pending = "".join(self._pending), []
        return text


def _locate(
    rng: Range, dialect: CsvDialect, width: int, failures: dict[int, str], open_quote: bool
) -> tuple[list[BadRecord], set[int]]:
    """Line and raw text of each bad row (the slow path, taken only by bad files).

    Returns the bad records, and the ordinals of rows that pyarrow returned but
    that turn out bad here: the last record, when a quote was left open (it
    then runs to the end of the file, so it can only be the last one).
    """
    path = rng[0]
    bad: list[BadRecord] = []
    dropped: set[int] = set()
    ordinal = -1  # of the rows pyarrow returned for the range
    previous = None
    for item in itertools.chain(_records(rng, dialect), [None]):
        if previous is not None:
            start, row, text = previous
            if item is None and open_quote:
                if len(row) == width:
                    ordinal += 1
                    dropped.add(ordinal)
                reason = (
                    f"unbalanced quote: the field opened on line {start} "
                    "runs to the end of the file"
                )
                bad.append(BadRecord(path, start, reason, text))
            elif len(row) != width:
                reason = f"wrong field count: expected {width}, got {len(row)}"
                bad.append(BadRecord(path, start, reason, text))
            else:
                ordinal += 1
                if ordinal in failures:
                    bad.append(BadRecord(path, start, failures[ordinal], text))
        previous = item
    return bad, dropped
