"""`ParquetSink`: split examples to Parquet files, one column per feature.

Examples made from Arrow rows arrive with those rows as the columns
tfx_bsl's decoder would give back (`takes_columns`: `ExampleList.columns`),
so they are written without decoding; other examples (TFRecord input, fixed
shards staged as TFRecords, shuffled ones) are decoded back to columns with
tfx_bsl's C++ decoder. Either way the split hash, the counts and the
pass-through sources stay the same for every output format.

Columns are typed from the run's schema: int64, float32 or binary; a
feature that never holds two values or more is a plain, nullable column,
where no value (an absent feature, or an empty list as CSV's empty cells
write) is a null; any other is a `large_list` of values, where an empty list
stays empty and an absent feature is a null.

A part file's column types are fixed when it opens, so a batch that needs a
wider type (a column seen for the first time, a second value, int then
float) closes the file and opens a next piece with the widened types. At
commit (`finish`), the run's types are the widest of all pieces and the
schema's kinds, and the few pieces that differ are rewritten row group by
row group. Row groups hold at most `_ROW_GROUP_ROWS` rows or about
`_ROW_GROUP_BYTES` of Arrow data, so memory stays flat.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from beam_ingest import files, framing, options
from beam_ingest.schema import Kind, Schema
from beam_ingest.sink import Sink
from beam_ingest.transforms.shards import (
    caps_report,
    check_common,
    common_options,
    write_parts,
)
from beam_ingest.transforms.write import StagedFile

__all__ = ["ParquetSink", "read_table"]

_PREFIX = "data_parquet"
_ROW_GROUP_ROWS = 131_072
_ROW_GROUP_BYTES = 32 << 20
_DECODE = 4096
_RANK = {pa.null(): 0, pa.int64(): 1, pa.float32(): 2, pa.large_binary(): 3}
_OF_KIND = {Kind.UNKNOWN: pa.null(), Kind.INT: pa.int64(), Kind.FLOAT: pa.float32(),
            Kind.BYTES: pa.large_binary()}  # fmt: skip


_IN_FLIGHT = 2
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _background() -> ThreadPoolExecutor:
    """The process's one Parquet writer thread (a FIFO: each part's lists in order)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="beam-ingest-parquet")
        return _POOL


class _Incompatible(Exception):
    """A batch needs wider column types than the open file has."""


def _value_type(t: pa.DataType) -> tuple[bool, pa.DataType]:
    """(is a list, the value type normalized to int64/float32/large_binary/null)."""
    is_list = pa.types.is_list(t) or pa.types.is_large_list(t)
    v = t.value_type if is_list else t
    if pa.types.is_null(v):
        return is_list, pa.null()
    if pa.types.is_integer(v):
        return is_list, pa.int64()
    if pa.types.is_floating(v):
        return is_list, pa.float32()
    return is_list, pa.large_binary()


def _arrow_type(is_list: bool, value: pa.DataType) -> pa.DataType:
    if pa.types.is_null(value):
        return pa.null()
    return pa.large_list(value) if is_list else value


def _natural(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Decoded list columns as plain columns where no row has two values or more
    (no value, absent or an empty list, is a null there)."""
    columns = []
    for column in batch.columns:
        if pa.types.is_large_list(column.type) and len(column):
            lengths = pc.fill_null(pc.list_value_length(column), 0)
            if pc.max(lengths).as_py() <= 1:
                none = pc.not_equal(lengths, 1).to_numpy(zero_copy_only=False)
                starts = pa.array(column.offsets.to_numpy()[:-1], mask=none)
                column = pc.take(column.values, starts)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _widen(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    list_a, va = _value_type(a)
    list_b, vb = _value_type(b)
    value = va if _RANK[va] >= _RANK[vb] else vb
    return _arrow_type(list_a or list_b, value)


def _union(schema: pa.Schema, other: pa.Schema) -> pa.Schema:
    types = {f.name: f.type for f in schema}
    for field in other:
        types[field.name] = (
            _widen(types[field.name], field.type) if field.name in types else field.type
        )
    return pa.schema(list(types.items()))


def _cast(column: pa.Array, target: pa.DataType) -> pa.Array:
    is_list, value = _value_type(target)
    if pa.types.is_null(target):
        if not pa.types.is_null(column.type):
            raise _Incompatible
        return column
    if pa.types.is_null(column.type):
        return pa.nulls(len(column), target)
    column_list, column_value = _value_type(column.type)
    if column_list and not is_list:
        raise _Incompatible
    if _RANK[column_value] > _RANK[value]:
        raise _Incompatible
    if is_list and not column_list:  # one value a row, as a list of one
        offsets = pa.array(range(len(column) + 1), pa.int64())
        column = pa.LargeListArray.from_arrays(offsets, column, mask=column.is_null())
    if value == pa.large_binary() and column_value != value:  # a number read as text
        column = pc.cast(column, pa.large_list(pa.large_string()) if is_list else pa.large_string())
    return column if column.type == target else pc.cast(column, target)


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """`batch` with exactly `schema`'s columns and types.

    Raises:
        _Incompatible: the batch has a column or a type `schema` cannot hold.
    """
    if any(name not in schema.names for name in batch.schema.names):
        raise _Incompatible
    columns = []
    for field in schema:
        index = batch.schema.get_field_index(field.name)
        column = pa.nulls(batch.num_rows, field.type) if index < 0 else batch.column(index)
        columns.append(_cast(column, field.type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


class _ParquetFile:
    """One Parquet file of fixed column types; row groups buffered up to the bounds."""

    def __init__(self, path: str, schema: pa.Schema, compression: str) -> None:
        self.path = path
        self.schema = schema
        self.records = 0
        self._file = FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED)
        codec = None if compression == "none" else compression
        self._writer = pq.ParquetWriter(self._file, schema, compression=codec)
        self._buffer: list[pa.RecordBatch] = []
        self._buffered = 0

    def write(self, batch: pa.RecordBatch) -> None:
        self._buffer.append(batch)
        self.records += batch.num_rows
        self._buffered += batch.nbytes
        rows = sum(b.num_rows for b in self._buffer)
        if rows >= _ROW_GROUP_ROWS or self._buffered >= _ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            table = pa.Table.from_batches(self._buffer, schema=self.schema)
            self._writer.write_table(table, row_group_size=table.num_rows)
        self._buffer, self._buffered = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()
        self._file.close()


class ParquetPart:
    """A `beam_ingest.sink.PartFile` of Parquet pieces (`path`, `path.1`, ...):
    a new piece opens when a batch needs wider column types."""

    def __init__(self, path: str, compression: str) -> None:
        from tfx_bsl.coders import example_coder

        self.path = path
        self.records = 0
        self._compression = compression
        self._decoder = example_coder.ExamplesToRecordBatchDecoder()
        self._file: _ParquetFile | None = None
        self._pieces: list[tuple[str, int]] = []
        self._pending: collections.deque[Future] = collections.deque()

    def write(self, examples: list[bytes]) -> None:
        # Decoding, conversion and writing run on one background thread (the
        # decoder and Parquet's encoder release the GIL), at most _IN_FLIGHT
        # lists behind, so that the pipeline's thread goes on reading.
        self.records += len(examples)
        while len(self._pending) >= _IN_FLIGHT:
            self._pending.popleft().result()
        self._pending.append(_background().submit(self._write_now, examples))

    def _write_now(self, examples: list[bytes]) -> None:
        columns = getattr(examples, "columns", None)  # made from Arrow rows: no decoding
        if columns is not None:
            self.write_batch(_natural(columns))
            return
        for start in range(0, len(examples), _DECODE):
            batch = _natural(self._decoder.DecodeBatch(examples[start : start + _DECODE]))
            self.write_batch(batch)

    def write_batch(self, batch: pa.RecordBatch) -> None:
        if self._file is not None:
            try:
                conformed = _conform(batch, self._file.schema)
            except _Incompatible:
                schema = _union(self._file.schema, batch.schema)
                self._close_piece()
                self._open(schema)
                conformed = _conform(batch, schema)
        else:
            self._open(batch.schema)
            conformed = _conform(batch, self._file.schema)
        self._file.write(conformed)

    def _open(self, schema: pa.Schema) -> None:
        n = len(self._pieces)
        self._file = _ParquetFile(
            self.path if not n else f"{self.path}.{n}", schema, self._compression
        )

    def _close_piece(self) -> None:
        self._file.close()
        self._pieces.append((self._file.path, self._file.records))
        self._file = None

    def close(self) -> None:
        while self._pending:
            self._pending.popleft().result()  # a failed write surfaces here
        if self._file is None:  # no example: still one (empty) file
            self._open(pa.schema([]))
        self._close_piece()

    def pieces(self) -> list[tuple[str, int]]:
        return list(self._pieces)


def read_table(path: str) -> pa.Table:
    """A whole Parquet output file (on any Beam filesystem)."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return pq.read_table(f)


def _target(pieces: Sequence[pa.Schema], schema: Schema) -> pa.Schema:
    """The run's column types: the schema's kinds, widened by every piece's types."""
    found = pa.schema([])
    for piece in pieces:
        found = _union(found, piece)
    types = {c.name: _OF_KIND[c.kind] for c in schema.columns}
    for field in found:
        types[field.name] = _widen(types.get(field.name, pa.null()), field.type)
    return pa.schema(list(types.items()))


@dataclasses.dataclass(frozen=True, kw_only=True)
class ParquetSink(Sink):
    """Parquet output files: `Split-<name>/data_parquet-SSSSS-of-NNNNN.parquet`.

    Args:
        compression: the column codec, "zstd" (default), "snappy" or "none".
        num_shards, deterministic, shuffle, max_shard_bytes,
            max_records_per_shard: as `TFRecordSink`'s; the bytes of a shard
            are its serialized examples' (its file is smaller).

    Raises:
        ConfigError: an invalid argument, named.
    """

    compression: str = "zstd"
    num_shards: int = 0
    deterministic: bool = False
    shuffle: bool = False
    max_shard_bytes: int | None = None
    max_records_per_shard: int | None = None

    name = "parquet"
    payload_format = "FORMAT_PARQUET"
    takes_columns = True
    file_format = "FILE_FORMAT_PARQUET"

    def __post_init__(self) -> None:
        check_common(self)
        options.check("parquet_compression", self.compression)

    @classmethod
    def from_options(cls, values: Mapping[str, object]) -> ParquetSink:
        return cls(compression=values["parquet_compression"], **common_options(values))

    def write(self, stage_dir: str) -> beam.PTransform:
        return write_parts(self, stage_dir)

    def open_part(self, path: str) -> ParquetPart:
        return ParquetPart(path, self.compression)

    def shard_name(self, index: int, total: int) -> str:
        return files.shard_name(_PREFIX, index, total, ".parquet")

    def empty_file(self) -> bytes:
        schema = getattr(self, "_schema", None) or pa.schema([])
        sink = pa.BufferOutputStream()
        pq.write_table(schema.empty_table(), sink)
        return sink.getvalue().to_pybytes()

    def merge(self, parts: Sequence[StagedFile], path: str) -> None:
        # Fixed shards: TFRecord parts, decoded twice (types first, then rows)
        # so that the shard is one file of one set of column types.
        from tfx_bsl.coders import example_coder

        decoder = example_coder.ExamplesToRecordBatchDecoder()

        def batches():
            for part in parts:
                records = framing.read_records(part.path)
                while chunk := [r for _, r in zip(range(_DECODE), records, strict=False)]:
                    yield _natural(decoder.DecodeBatch(chunk))

        schema = pa.schema([])
        for batch in batches():
            schema = _union(schema, batch.schema)
        out = _ParquetFile(path, schema, self.compression)
        for batch in batches():
            out.write(_conform(batch, schema))
        out.close()

    def finish(self, staged: list[StagedFile], schema: Schema) -> list[StagedFile]:
        schemas = {}
        for part in staged:
            with FileSystems.open(part.path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                schemas[part.path] = pq.read_schema(f)
        target = _target(list(schemas.values()), schema)
        object.__setattr__(self, "_schema", target)  # for empty_file
        key = {f.name: _value_type(f.type) for f in target}
        for part in staged:  # column order aside: readers take columns by name
            if {f.name: _value_type(f.type) for f in schemas[part.path]} != key:
                self._rewrite(part.path, target)
        return staged

    def _rewrite(self, path: str, target: pa.Schema) -> None:
        """The file at `path` with the run's column types, row group by row group."""
        temporary = f"{path}.conform"
        out = _ParquetFile(temporary, target, self.compression)
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=_DECODE):
                out.write(_conform(batch, target))
        out.close()
        FileSystems.delete([path])
        FileSystems.rename([temporary], [path])

    @classmethod
    def read_rows(cls, path: str, limit: int) -> list[dict]:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=max(limit, 1)):
                return batch.to_pylist()[:limit]
        return []

    def report(self) -> dict[str, object]:
        return {
            "output_format": self.name,
            "parquet_compression": self.compression,
            **caps_report(self),
        }
