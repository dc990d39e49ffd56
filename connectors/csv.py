"""CSV files to Arrow RecordBatches: `ReadCsv`.

Reading is pyarrow's streaming CSV reader (columnar, one block in memory at a
time). Cells are read as bytes, typed by `_csv_values` (TFX's inference rules)
and returned as typed columns: int64, float64, large_binary, or null for a
column that is empty everywhere.

pyarrow neither reports line numbers when quoted fields may hold newlines nor
rejects a quote left open at the end of a file. So when a file has any bad
row, one more pass over that file with Python's `csv` module (the same
dialect) finds each bad row's line and raw text. Files without bad rows never
take that path.

Work units are byte ranges: a file bigger than `desired_bundle_size` is cut
at record starts by a planning step in the pipeline (`_csv_ranges`: one scan
that follows the quoting), so both passes read a big file on several workers.
A range other than a file's first is given the header's names; its bad
records still name lines of the whole file. Compressed files, files with an
escape character and encodings where a line feed or quote byte may be part of
another character are one unit.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import itertools
from collections.abc import Iterator, Sequence

import apache_beam as beam
import pyarrow as pa
import pyarrow.csv as pa_csv
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from beam_ingest.arrow_values import drop_rows
from beam_ingest.bad_records import BadRecord
from beam_ingest.connectors import _csv_values
from beam_ingest.connectors._csv_ranges import plan_ranges
from beam_ingest.connectors._outputs import (
    check_bundle_size,
    check_pattern,
    source_outputs,
    with_file,
)
from beam_ingest.errors import ConfigError, DataError
from beam_ingest.files import FileInfo, match_files
from beam_ingest.schema import Kind, Schema

__all__ = ["CsvDialect", "ReadCsv"]

_NAMESPACE = "beam_ingest"
_BLOCK_SIZE = 1 << 20
_MAX_BLOCK_SIZE = 1 << 30  # a record bigger than this is a DataError
_UTF8_BOM = b"\xef\xbb\xbf"
# Encodings in which bytes below 0x80 are always the ASCII characters (so a
# line feed, quote or delimiter byte is never part of another character).
_SPLITTABLE_ENCODINGS = ("utf-8", "utf-8-sig", "ascii", "latin-1", "iso8859-", "cp125")

# A work unit: (path, start byte, end byte or None for the end of the file,
# number of the line at start). A range starting at 0 holds the header.
_Range = tuple[str, int, int | None, int]


@dataclasses.dataclass(frozen=True, kw_only=True)
class CsvDialect:
    """How the files are written. Defaults: RFC 4180 with `"` quotes, UTF-8."""

    delimiter: str = ","
    quote_char: str | None = '"'
    escape_char: str | None = None
    encoding: str = "utf-8"

    def __post_init__(self) -> None:
        for name in ("delimiter", "quote_char", "escape_char"):
            value = getattr(self, name)
            if value is None and name != "delimiter":
                continue
            if not isinstance(value, str) or len(value) != 1 or value in "\r\n":
                raise ConfigError(
                    f"--{name.replace('_', '-')}: must be one character other than a "
                    f"line break; got {value!r}"
                )
        if self.delimiter in (self.quote_char, self.escape_char):
            raise ConfigError(f"--delimiter: {self.delimiter!r} is also the quote or escape char")
        try:
            "".encode(self.encoding)
        except LookupError as e:
            raise ConfigError(f"--encoding: unknown encoding {self.encoding!r}") from e

    @property
    def python_encoding(self) -> str:
        # A UTF-8 byte-order mark is not part of the data.
        return (
            "utf-8-sig"
            if self.encoding.lower().replace("_", "-") in ("utf-8", "utf8")
            else self.encoding
        )

    def reader(self, lines: io.TextIOBase) -> Iterator[list[str]]:
        csv.field_size_limit(_MAX_BLOCK_SIZE)  # the default, 128 KiB, is far too small
        return csv.reader(
            lines,
            delimiter=self.delimiter,
            quotechar=self.quote_char or '"',
            quoting=csv.QUOTE_MINIMAL if self.quote_char else csv.QUOTE_NONE,
            escapechar=self.escape_char,
            doublequote=True,
            strict=False,
        )


class ReadCsv(beam.PTransform):
    """Reads CSV files with a header row into typed `pyarrow.RecordBatch`es.

    Returns a dict of PCollections: `records` (RecordBatches), `bad_records`
    (`BadRecord`), `counts` (`(file, records read)`) and `schema` (one `Schema`).

    Args:
        file_pattern: a glob on any Beam filesystem; `.gz`/`.bz2` files are
            decompressed by extension.
        dialect: delimiter, quote and escape characters, encoding.
        schema: the columns' kinds; None infers them as TFX does (a first pass
            over all files whose result feeds the conversion as a side input).
        desired_bundle_size: bytes per work unit; a bigger file is cut into
            about equal ranges at record starts, read by several workers.

    Raises:
        ConfigError: the pattern is malformed or `desired_bundle_size` is not
            an int >= 1 (when built: no file matches, headers differ, ...).
    """

    def __init__(
        self,
        file_pattern: str,
        *,
        dialect: CsvDialect = CsvDialect(),
        schema: Schema | None = None,
        desired_bundle_size: int = 32 << 20,
        label: str | None = None,
    ) -> None:
        super().__init__(label)
        check_pattern("ReadCsv", file_pattern)
        check_bundle_size("ReadCsv", desired_bundle_size)
        self.file_pattern = file_pattern
        self.dialect = dialect
        self.schema = schema
        self.desired_bundle_size = desired_bundle_size
        self.files: list[FileInfo] = []

    def expand(self, pbegin: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        self.files = match_files(self.file_pattern)
        header = _common_header(self.files, self.dialect)
        files = pbegin | "ListFiles" >> beam.Create([(f.path, f.size) for f in self.files])
        ranges = (
            files
            | "PlanRanges" >> beam.ParDo(_PlanRangesFn(self.dialect, self.desired_bundle_size))
            | "ShuffleRanges" >> beam.Reshuffle()
        )
        if self.schema is None:
            schema = (
                ranges
                | "InferTypes" >> beam.ParDo(_InferKindsFn(header, self.dialect))
                | "MergeTypes" >> beam.CombineGlobally(_MergeKinds(header))
            )
        else:
            _check_schema_covers(self.schema, header, self.files[0].path)
            schema = pbegin | "GivenSchema" >> beam.Create([self.schema])
        read = ranges | "ReadRows" >> beam.ParDo(
            _ReadCsvFileFn(header, self.dialect), beam.pvalue.AsSingleton(schema)
        ).with_outputs("bad_records", "counts", main="records")
        return source_outputs(read, schema)

    def display_data(self) -> dict:
        return {
            "file_pattern": self.file_pattern,
            "delimiter": self.dialect.delimiter,
            "bundle_size": self.desired_bundle_size,
        }


def _open(
    path: str, quote: bytes | None = None, start: int = 0, end: int | None = None
) -> tuple[io.BufferedReader, _Stream]:
    """The bytes [start, end) of a file (end None: to its end)."""
    raw = FileSystems.open(path)
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


class _PlanRangesFn(beam.DoFn):
    """(path, size) to the file's work units: one, or ranges cut at record starts."""

    def __init__(self, dialect: CsvDialect, bundle: int) -> None:
        self._dialect = dialect
        self._bundle = bundle

    def process(self, file: tuple[str, int]) -> Iterator[_Range]:
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


def _read_header(path: str, dialect: CsvDialect) -> list[str]:
    try:
        with _open(path)[0] as raw:
            # Decoding reads ahead past the header: only the header's own
            # cells must decode (bad bytes further down are bad records).
            text = io.TextIOWrapper(
                raw, encoding=dialect.python_encoding, errors="surrogateescape", newline=""
            )
            for row in dialect.reader(text):
                if row:
                    break
            else:
                raise ConfigError(f"--input: {path!r} is empty; a CSV file needs a header row")
    except OSError as e:
        raise ConfigError(f"--input: cannot read {path!r}: {e}") from e
    try:
        "".join(row).encode("utf-8")
    except UnicodeEncodeError as e:
        raise ConfigError(
            f"--input: the header of {path!r} is not valid {dialect.encoding}; set --encoding"
        ) from e
    return row


_OTHER_DELIMITERS = (",", ";", "\t", "|")


def _check_delimiter(path: str, header: list[str], dialect: CsvDialect) -> None:
    """A header read as one column holding another usual delimiter is almost
    always a wrong --delimiter (a one-column file would otherwise come out
    with every row as one string). A quoted name is taken as meant."""
    others = [d for d in _OTHER_DELIMITERS if d != dialect.delimiter and d in header[0]]
    if len(header) != 1 or not others:
        return
    with _open(path)[0] as raw:
        start = raw.read(4).decode(dialect.python_encoding, "replace").lstrip("\ufeff")
    if dialect.quote_char and start.startswith(dialect.quote_char):
        return
    raise ConfigError(
        f"--delimiter: the header of {path!r} is one column {header[0]!r} when split on "
        f"{dialect.delimiter!r}; it holds {others[0]!r}: set --delimiter {others[0]!r} "
        "(or quote the name if the file really has one column)"
    )


def _common_header(files: Sequence[FileInfo], dialect: CsvDialect) -> list[str]:
    first = _read_header(files[0].path, dialect)
    _check_delimiter(files[0].path, first, dialect)
    duplicates = sorted({n for n in first if first.count(n) > 1})
    if duplicates:
        raise ConfigError(f"--input: the header of {files[0].path!r} repeats {duplicates}")
    for info in files[1:]:
        header = _read_header(info.path, dialect)
        if header != first:
            raise ConfigError(
                f"--input: files of one split must share a header: {files[0].path!r} has "
                f"{first}, {info.path!r} has {header}"
            )
    return first


def _check_schema_covers(schema: Schema, header: list[str], path: str) -> None:
    missing = [n for n in header if n not in schema.names]
    extra = [n for n in schema.names if n not in header]
    if missing or extra:
        raise ConfigError(
            f"--schema: must name exactly the header's columns of {path!r}; "
            f"not in the schema: {missing}, not in the header: {extra}"
        )


def _open_batches(
    stream,
    header: list[str],
    dialect: CsvDialect,
    on_invalid,
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


class _FileBatches:
    """A range's cell batches, whatever the size of its records.

    pyarrow fails on a record bigger than its block ("straddling object"):
    the file is then read again with a block four times bigger, the rows
    already returned skipped, up to `_MAX_BLOCK_SIZE`. `on_restart` is called
    before a new reading (whose invalid rows are reported again). After the
    iteration, `quotes` counts the range's quote characters.
    """

    def __init__(self, rng: _Range, header, dialect, on_invalid, on_restart=None) -> None:
        self._args = (header, dialect, on_invalid)
        self._path, self._start, self._end, _ = rng
        self._names = header if self._start else None  # only the first range has the header
        self._on_restart = on_restart
        self._quote = dialect.quote_char.encode() if dialect.quote_char else None
        self.quotes = 0

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        block, done = _BLOCK_SIZE, 0
        while True:
            buffered, stream = _open(self._path, self._quote, self._start, self._end)
            skip = done
            try:
                with buffered:
                    for batch in _open_batches(buffered, *self._args, block, self._names):
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
                if block >= _MAX_BLOCK_SIZE:
                    raise DataError(
                        f"{self._path}: a record is larger than {_MAX_BLOCK_SIZE >> 20} MiB, "
                        "or a quote left open runs over that much of the file"
                    ) from e
                block *= 4
                if self._on_restart:
                    self._on_restart()


class _Stream(io.RawIOBase):
    """A Beam file as a standard binary stream (Beam's CompressedFile is not
    one), counting quote characters on the way: an odd count at the end means
    a quoted field was left open, which pyarrow accepts silently. `limit`:
    the bytes to read at most (None: to the end)."""

    def __init__(self, raw, quote: bytes | None = None, limit: int | None = None) -> None:
        self._raw = raw
        self._quote = quote
        self._left = limit
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
        if self._left is not None:
            self._left -= len(data)
        if self._quote:
            self.quotes += data.count(self._quote)
        buffer[: len(data)] = data
        return len(data)


class _InferKindsFn(beam.DoFn):
    """One range's cells to {column: kind} under TFX's inference rules."""

    def __init__(self, header: list[str], dialect: CsvDialect) -> None:
        self._header = header
        self._dialect = dialect

    def process(self, rng: _Range) -> Iterator[dict[str, Kind]]:
        kinds = dict.fromkeys(self._header, Kind.UNKNOWN)
        for batch in _FileBatches(rng, self._header, self._dialect, lambda row: "skip"):
            for name in self._header:
                if kinds[name] is not Kind.BYTES:
                    kinds[name] = max(kinds[name], _csv_values.infer_kind(batch.column(name)))
        yield kinds


class _MergeKinds(beam.CombineFn):
    def __init__(self, header: list[str]) -> None:
        self._header = header

    def create_accumulator(self) -> dict[str, Kind]:
        return {}

    def add_input(self, acc: dict[str, Kind], kinds: dict[str, Kind]) -> dict[str, Kind]:
        for name, kind in kinds.items():
            acc[name] = max(acc.get(name, Kind.UNKNOWN), kind)
        return acc

    def merge_accumulators(self, accumulators) -> dict[str, Kind]:
        merged: dict[str, Kind] = {}
        for acc in accumulators:
            self.add_input(merged, acc)
        return merged

    def extract_output(self, acc: dict[str, Kind]) -> Schema:
        return Schema.from_kinds((n, acc.get(n, Kind.UNKNOWN)) for n in self._header)


class _ReadCsvFileFn(beam.DoFn):
    """One range to typed RecordBatches, bad records and its (file, record count)."""

    def __init__(self, header: list[str], dialect: CsvDialect) -> None:
        self._header = header
        self._dialect = dialect
        self._rows = beam.metrics.Metrics.counter(_NAMESPACE, "csv_records_read")
        self._bad = beam.metrics.Metrics.counter(_NAMESPACE, "csv_bad_records")

    def process(self, rng: _Range, schema: Schema) -> Iterator:
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
        batches = _FileBatches(rng, self._header, self._dialect, on_invalid, on_restart)
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


def _records(rng: _Range, dialect: CsvDialect) -> Iterator[tuple[int, list[str], str]]:
    """(first line, cells, raw text) of each non-blank record of a range, less the header."""
    path, start, end, line = rng
    with _open(path, None, start, end)[0] as raw:
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
    rng: _Range, dialect: CsvDialect, width: int, failures: dict[int, str], open_quote: bool
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
