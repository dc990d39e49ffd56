"""CSV files to Arrow RecordBatches: `ReadCsv`.

Reading is pyarrow's streaming CSV reader (columnar, one block in memory at a
time). Cells are read as bytes, typed by `_csv_values` (TFX's inference rules)
and returned as typed columns: int64, float64, large_binary, or null for a
column that is empty everywhere.

pyarrow neither reports line numbers when quoted fields may hold newlines nor
rejects a quote left open at the end of a file. So when a file has any bad
row, one more pass over that file with Python's `csv` module (the same
dialect) finds each bad row's line and raw text. Files without bad rows never
take that path (`_csv_read`).

Work units are byte ranges: a file bigger than `desired_bundle_size` is cut
at record starts by a planning step in the pipeline (`_csv_ranges`: one scan
that follows the quoting), so both passes read a big file on several workers.
A range other than a file's first is given the header's names; its bad
records still name lines of the whole file. Compressed files, files with an
escape character and encodings where a line feed or quote byte may be part of
another character are one unit.

The header every file shares and the inferred kinds are `_csv_header`'s.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
from collections.abc import Iterator, Mapping, Sequence

import apache_beam as beam

from beam_ingest.connectors._csv_header import (
    InferKindsFn,
    check_schema_covers,
    common_header,
    kinds_schema,
    merge_kinds,
    scan_range,
)
from beam_ingest.connectors._csv_read import MAX_BLOCK_SIZE, PlanRangesFn, ReadRangeFn
from beam_ingest.errors import ConfigError
from beam_ingest.files import FileInfo
from beam_ingest.schema import Kind, Schema
from beam_ingest.source import (
    Source,
    SourceOutputs,
    check_bundle_size,
    check_pattern,
    source_outputs,
)
from beam_ingest.transforms.merge import MergeCombineFn

__all__ = ["CsvDialect", "ReadCsv"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class CsvDialect:
    """How the files are written. Defaults: RFC 4180 with `"` quotes, UTF-8.

    Raises:
        ConfigError: a character that is not one character or is a line
            break, a delimiter that is also the quote or escape character, or
            an unknown encoding.
    """

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
                    f"{name}: must be one character other than a line break; got {value!r}"
                )
        if self.delimiter in (self.quote_char, self.escape_char):
            raise ConfigError(f"delimiter: {self.delimiter!r} is also the quote or escape char")
        try:
            "".encode(self.encoding)
        except LookupError as e:
            raise ConfigError(f"encoding: unknown encoding {self.encoding!r}") from e

    @classmethod
    def from_options(cls, options: Mapping[str, object]) -> CsvDialect:
        """The dialect of option values named as its fields (missing ones: defaults).

        Raises:
            ConfigError: a value the dialect refuses.
        """
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{name: options[name] for name in names if name in options})

    @property
    def python_encoding(self) -> str:
        """The encoding for Python's codecs (a UTF-8 byte-order mark is not data)."""
        return (
            "utf-8-sig"
            if self.encoding.lower().replace("_", "-") in ("utf-8", "utf8")
            else self.encoding
        )

    def reader(self, lines: io.TextIOBase) -> Iterator[list[str]]:
        """Python's `csv.reader` of this dialect over lines of text."""
        csv.field_size_limit(MAX_BLOCK_SIZE)  # the default, 128 KiB, is far too small
        return csv.reader(
            lines,
            delimiter=self.delimiter,
            quotechar=self.quote_char or '"',
            quoting=csv.QUOTE_MINIMAL if self.quote_char else csv.QUOTE_NONE,
            escapechar=self.escape_char,
            doublequote=True,
            strict=False,
        )


class ReadCsv(Source):
    """Reads CSV files with a header row into typed `pyarrow.RecordBatch`es.

    Returns `SourceOutputs`: `records` (RecordBatches), `bad_records`
    (`BadRecord`), `counts` (`(file, records read)`) and `schema` (one `Schema`).

    Args:
        file_pattern: a glob on any Beam filesystem; `.gz`/`.bz2` files are
            decompressed by extension.
        dialect: delimiter, quote and escape characters, encoding.
        schema: the columns' kinds; None infers them as TFX does (a first pass
            over all files whose result feeds the conversion as a side input).
        desired_bundle_size: bytes per work unit; a bigger file is cut into
            about equal ranges at record starts, read by several workers.
        label: the transform's label.

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
        super().__init__()
        self.label = label
        check_pattern("ReadCsv", file_pattern)
        check_bundle_size("ReadCsv", desired_bundle_size)
        self.file_pattern = file_pattern
        self.dialect = dialect
        self.schema = schema
        self.desired_bundle_size = desired_bundle_size

    @classmethod
    def from_options(
        cls, pattern: str, options: Mapping[str, object], schema: Schema | None
    ) -> ReadCsv:
        """`ReadCsv` of `pattern` with the dialect of the `delimiter`,
        `quote_char`, `escape_char` and `encoding` options.

        Raises:
            ConfigError: a value the dialect refuses, or a malformed pattern.
        """
        return cls(pattern, dialect=CsvDialect.from_options(options), schema=schema)

    @classmethod
    def profile(cls, paths: Sequence[str], options: Mapping[str, object]) -> tuple[int, Schema]:
        """(records read, inferred schema) of `paths`, read as `ReadCsv` reads them.

        Raises:
            ConfigError: a value the dialect refuses, or files `ReadCsv` refuses
                (no header, headers that differ, ...).
        """
        dialect = CsvDialect.from_options(options)
        header = common_header(list(paths), dialect)
        kinds: dict[str, Kind] = {}
        records = 0
        for path in paths:
            seen, read = scan_range((path, 0, None, 1), header, dialect)
            merge_kinds(kinds, seen)
            records += read
        return records, kinds_schema(header, kinds)

    @property
    def files(self) -> list[FileInfo]:
        """Deprecated alias of `input_files()`, kept for one release."""
        return self.input_files()

    def expand(self, pbegin: beam.pvalue.PBegin) -> SourceOutputs:
        self._files = self.match(self.file_pattern)
        header = common_header([f.path for f in self._files], self.dialect)
        files = pbegin | "ListFiles" >> beam.Create([(f.path, f.size) for f in self._files])
        ranges = (
            files
            | "PlanRanges" >> beam.ParDo(PlanRangesFn(self.dialect, self.desired_bundle_size))
            | "ShuffleRanges" >> beam.Reshuffle()
        )
        if self.schema is None:
            merge = MergeCombineFn(dict, merge_kinds, functools.partial(kinds_schema, header))
            schema = (
                ranges
                | "InferTypes" >> beam.ParDo(InferKindsFn(header, self.dialect))
                | "MergeTypes" >> beam.CombineGlobally(merge)
            )
        else:
            check_schema_covers(self.schema, header, self._files[0].path)
            schema = pbegin | "GivenSchema" >> beam.Create([self.schema])
        read = ranges | "ReadRows" >> beam.ParDo(
            ReadRangeFn(header, self.dialect), beam.pvalue.AsSingleton(schema)
        ).with_outputs("bad_records", "counts", main="records")
        return source_outputs(read, schema)

    def display_data(self) -> dict:
        return {
            "file_pattern": self.file_pattern,
            "delimiter": self.dialect.delimiter,
            "bundle_size": self.desired_bundle_size,
        }
