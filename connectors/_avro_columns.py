"""Runs of Avro blocks to Arrow columns in one call, with polars' Avro reader.

fastavro decodes a block into one Python dict per record, and turning those
dicts into Arrow columns was most of `ReadAvro`'s time. polars decodes Avro
straight into Arrow arrays (in Rust). It reads whole files, so a run of blocks
becomes one: the file's header followed by the blocks' bytes, as they are in
the file, is a valid Avro container.

polars reads fewer schemas than fastavro and names bad data less precisely,
so it is only a fast path, and fastavro stays the reference:

- `columns_reader` returns None for a schema outside the shapes tested here
  (named-type references, nullable enums, decimals over 38 digits or 16 bytes,
  "null" fields below the top level, maps) or a codec polars lacks; `ReadAvro`
  then decodes every block with fastavro;
- `ColumnsReader.read` returns None when polars fails on the blocks (a corrupt
  block, invalid UTF-8, an enum index out of range, ...); `ReadAvro` decodes
  those blocks again with fastavro, which reports the bad block or record.

`frame_blocks` finds the blocks of a byte range without decoding them: their
headers (record count, byte size) and sync markers only.
"""

from __future__ import annotations

import io
from typing import Any, NamedTuple

import fastavro
import pyarrow as pa

__all__ = ["ColumnsReader", "Frames", "columns_reader", "frame_blocks"]

_SYNC_SIZE = 16
_HEAD_SIZE = 20  # two longs: a block's record count and byte size
_CODECS = frozenset({"null", "deflate", "snappy"})
_PRIMITIVES = frozenset({"boolean", "int", "long", "float", "double", "bytes", "string"})
_MAX_PRECISION = 38  # polars' decimals are 128-bit
_MAX_DECIMAL_BYTES = 16


class Frames(NamedTuple):
    """Consecutive whole blocks of a file, not decoded."""

    offsets: list[int]  # where each block starts in the file
    data: bytes  # the blocks holding records, as they are in the file
    rows: int  # records, as the blocks' headers state
    end: int  # where the last block ends (the start, when no block frames)


def frame_blocks(f, sync: bytes, pos: int, stop: int, size: int, max_rows: int) -> Frames:
    """The blocks starting in [pos, stop) of a file of `size` bytes, from `pos` up to
    the first that does not frame (a bad header, past the end of the file, no sync
    marker after its data), stopping once they hold `max_rows` records."""
    offsets: list[int] = []
    parts: list[bytes] = []
    rows, start = 0, pos
    while pos < min(stop, size) and rows < max_rows:
        f.seek(pos)
        head = f.read(min(_HEAD_SIZE, size - pos))
        count, at = _read_long(head, 0)
        length, at = _read_long(head, at)
        if count is None or length is None or count < 0 or length < 0:
            break
        total = at + length + _SYNC_SIZE
        if pos + total > size:
            break
        f.seek(pos)
        block = f.read(total)
        if len(block) != total or block[-_SYNC_SIZE:] != sync:
            break
        offsets.append(pos)
        if count:  # polars fails on a compressed block of no records
            parts.append(block)
            rows += count
        pos += total
    return Frames(offsets, b"".join(parts), rows, pos if offsets else start)


def _read_long(data: bytes, at: int) -> tuple[int | None, int]:
    """The zig-zag varint long at `at` and where it ends; None if `data` ends first."""
    value = shift = 0
    while at < len(data) and shift < 64:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (value >> 1) ^ -(value & 1), at
        shift += 7
    return None, at


class _Unreadable(Exception):
    """A schema polars does not read, or not as fastavro does."""


def _polars_schema(schema: Any, *, nullable: bool = False, in_array: bool = False) -> Any:
    """The schema as given to polars; logical types other than decimal are dropped,
    as `ReadAvro` types the plain values (see its `_PLAIN_LOGICAL`). `nullable`:
    inside a union with null, at any depth (polars panics on an enum there).

    Raises:
        _Unreadable: a shape polars reads differently or not at all.
    """
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return schema
        raise _Unreadable(schema)  # "null" outside a union, or a named type's reference
    if isinstance(schema, list):
        branches = [s for s in schema if s != "null"]
        if len(schema) != 2 or len(branches) != 1 or isinstance(branches[0], list):
            raise _Unreadable(schema)
        branch = _polars_schema(branches[0], nullable=True, in_array=in_array)
        return [branch if s != "null" else s for s in schema]
    if not isinstance(schema, dict) or not isinstance(schema.get("type"), str):
        raise _Unreadable(schema)
    kind = schema["type"]
    out = {k: v for k, v in schema.items() if k != "logicalType"}
    if schema.get("logicalType") == "decimal" and kind in ("bytes", "fixed"):
        precision, scale = schema.get("precision"), schema.get("scale", 0)
        if not (
            isinstance(precision, int)
            and isinstance(scale, int)
            and 0 <= scale <= precision <= _MAX_PRECISION
            and (kind == "bytes" or schema.get("size", 0) <= _MAX_DECIMAL_BYTES)
        ):
            raise _Unreadable(schema)
        return {**out, "logicalType": "decimal"}
    if kind in _PRIMITIVES or kind == "fixed":
        return out
    if kind == "enum" and not (nullable or in_array):
        return out
    if kind == "record" and not in_array:
        return {**out, "fields": [_polars_field(f, nullable) for f in schema["fields"]]}
    if kind == "array" and not in_array:
        return {**out, "items": _polars_schema(schema["items"], in_array=True)}
    raise _Unreadable(schema)


def _polars_field(field: dict, nullable: bool = False) -> dict:
    return {**field, "type": _polars_schema(field["type"], nullable=nullable)}


def _is_null(schema: Any) -> bool:
    return schema == "null" or (isinstance(schema, dict) and schema.get("type") == "null")


class ColumnsReader:
    """Decodes runs of blocks of files with one header into RecordBatches of `arrow`."""

    def __init__(self, header: bytes, arrow: pa.Schema) -> None:
        self._header, self._arrow = header, arrow

    def read(self, data: bytes, rows: int, *, probe: bool = False) -> pa.RecordBatch | None:
        """The records of whole blocks, as `arrow`; None if polars cannot read them
        or they do not hold the `rows` records their headers state. `probe`: read
        even no blocks with polars."""
        import polars as pl
        from polars.exceptions import PanicException

        if not rows and not probe:  # polars fails on a compressed file of no blocks
            return pa.RecordBatch.from_pylist([], schema=self._arrow) if not data else None
        try:
            table = pl.read_avro(io.BytesIO(self._header + data)).to_arrow()
            if table.num_rows != rows:
                return None
            columns = [
                table.column(f.name).combine_chunks().cast(f.type)
                if f.name in table.column_names
                else pa.nulls(rows, f.type)  # a "null" field, left out for polars
                for f in self._arrow
            ]
        except (Exception, PanicException):  # noqa: BLE001 - fastavro decodes these blocks again
            return None
        return pa.RecordBatch.from_arrays(columns, schema=self._arrow)


def columns_reader(schema: Any, codec: str, sync: bytes, arrow: pa.Schema) -> ColumnsReader | None:
    """A reader for blocks written with this schema (JSON, logical types as in the
    file), codec and sync marker, read as `arrow`; None if polars cannot be used."""
    if codec not in _CODECS or not isinstance(schema, dict) or schema.get("type") != "record":
        return None
    try:
        fields = [_polars_field(f) for f in schema["fields"] if not _is_null(f["type"])]
        if not fields:
            return None
        headers = []
        for header_codec in (codec, "null"):
            buffer = io.BytesIO()
            schema = {**schema, "fields": fields}
            fastavro.writer(buffer, schema, [], codec=header_codec, sync_marker=sync)
            headers.append(buffer.getvalue())
    except (_Unreadable, ValueError, TypeError, KeyError, fastavro.schema.SchemaParseException):
        return None
    # polars reads the schema, and its columns cast to `arrow`: tried on a file of no blocks.
    if ColumnsReader(headers[1], arrow).read(b"", 0, probe=True) is None:
        return None
    return ColumnsReader(headers[0], arrow)
