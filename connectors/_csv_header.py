"""The header and the inferred kinds of `ReadCsv`'s files.

`common_header` reads the header every file must share (and catches a wrong
delimiter); `InferKindsFn` gives one range's `{column: kind}` under TFX's
inference rules (`_csv_values.infer_kind`), and `merge_kinds`/`kinds_schema`
merge those into the schema (in `MergeCombineFn`, or in `ReadCsv.profile`).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import apache_beam as beam

from beam_ingest.connectors import _csv_values
from beam_ingest.connectors._csv_read import FileBatches, Range, open_range
from beam_ingest.errors import ConfigError
from beam_ingest.schema import Kind, Schema

if TYPE_CHECKING:
    from beam_ingest.connectors.csv import CsvDialect

__all__ = [
    "InferKindsFn",
    "check_schema_covers",
    "common_header",
    "kinds_schema",
    "merge_kinds",
    "scan_range",
]

_OTHER_DELIMITERS = (",", ";", "\t", "|")


def _read_header(path: str, dialect: CsvDialect) -> list[str]:
    try:
        with open_range(path)[0] as raw:
            # Decoding reads ahead past the header: only the header's own
            # cells must decode (bad bytes further down are bad records).
            text = io.TextIOWrapper(
                raw, encoding=dialect.python_encoding, errors="surrogateescape", newline=""
            )
            for row in dialect.reader(text):
                if row:
                    break
            else:
                raise ConfigError(f"input: {path!r} is empty; a CSV file needs a header row")
    except OSError as e:
        raise ConfigError(f"input: cannot read {path!r}: {e}") from e
    try:
        "".join(row).encode("utf-8")
    except UnicodeEncodeError as e:
        raise ConfigError(
            f"input: the header of {path!r} is not valid {dialect.encoding}; set encoding"
        ) from e
    return row


def _check_delimiter(path: str, header: list[str], dialect: CsvDialect) -> None:
    """A header read as one column holding another usual delimiter is almost
    always a wrong delimiter (a one-column file would otherwise come out
    with every row as one string). A quoted name is taken as meant."""
    others = [d for d in _OTHER_DELIMITERS if d != dialect.delimiter and d in header[0]]
    if len(header) != 1 or not others:
        return
    with open_range(path)[0] as raw:
        start = raw.read(4).decode(dialect.python_encoding, "replace").lstrip("\ufeff")
    if dialect.quote_char and start.startswith(dialect.quote_char):
        return
    raise ConfigError(
        f"delimiter: the header of {path!r} is one column {header[0]!r} when split on "
        f"{dialect.delimiter!r}; it holds {others[0]!r}: set delimiter={others[0]!r} "
        "(or quote the name if the file really has one column)"
    )


def common_header(paths: Sequence[str], dialect: CsvDialect) -> list[str]:
    """The header row every file has.

    Raises:
        ConfigError: a file is empty or unreadable, its header does not
            decode, repeats a name or looks split on the wrong delimiter, or
            two files' headers differ.
    """
    first = _read_header(paths[0], dialect)
    _check_delimiter(paths[0], first, dialect)
    duplicates = sorted({n for n in first if first.count(n) > 1})
    if duplicates:
        raise ConfigError(f"input: the header of {paths[0]!r} repeats {duplicates}")
    for path in paths[1:]:
        header = _read_header(path, dialect)
        if header != first:
            raise ConfigError(
                f"input: files of one split must share a header: {paths[0]!r} has "
                f"{first}, {path!r} has {header}"
            )
    return first


def check_schema_covers(schema: Schema, header: list[str], path: str) -> None:
    """Checks that a given schema names exactly the header's columns.

    Raises:
        ConfigError: a column of the header is not in the schema, or the
            schema names a column the header does not have.
    """
    missing = [n for n in header if n not in schema.names]
    extra = [n for n in schema.names if n not in header]
    if missing or extra:
        raise ConfigError(
            f"schema: must name exactly the header's columns of {path!r}; "
            f"not in the schema: {missing}, not in the header: {extra}"
        )


def scan_range(rng: Range, header: list[str], dialect: CsvDialect) -> tuple[dict[str, Kind], int]:
    """One range's {column: kind}, and its records read (rows pyarrow rejects
    included, as `ReadRangeFn` counts them)."""
    invalid = [0]

    def on_invalid(row) -> str:
        invalid[0] += 1
        return "skip"

    def on_restart() -> None:
        invalid[0] = 0

    kinds = dict.fromkeys(header, Kind.UNKNOWN)
    rows = 0
    for batch in FileBatches(rng, header, dialect, on_invalid, on_restart):
        rows += batch.num_rows
        for name in header:
            if kinds[name] is not Kind.BYTES:
                kinds[name] = max(kinds[name], _csv_values.infer_kind(batch.column(name)))
    return kinds, rows + invalid[0]


class InferKindsFn(beam.DoFn):
    """One range's cells to {column: kind} under TFX's inference rules."""

    def __init__(self, header: list[str], dialect: CsvDialect) -> None:
        self._header = header
        self._dialect = dialect

    def process(self, rng: Range) -> Iterator[dict[str, Kind]]:
        yield scan_range(rng, self._header, self._dialect)[0]


def merge_kinds(acc: dict[str, Kind], kinds: dict[str, Kind]) -> dict[str, Kind]:
    """The wider kind of each column (INT < FLOAT < BYTES), into `acc`."""
    for name, kind in kinds.items():
        acc[name] = max(acc.get(name, Kind.UNKNOWN), kind)
    return acc


def kinds_schema(header: Iterable[str], kinds: dict[str, Kind]) -> Schema:
    """The schema of the header's columns with their merged kinds."""
    return Schema.from_kinds((n, kinds.get(n, Kind.UNKNOWN)) for n in header)
