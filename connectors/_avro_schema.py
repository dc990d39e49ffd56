"""Avro headers to Arrow schemas (for `ReadAvro`).

Only headers are read: the writer schema is converted to the Arrow schema
fastavro's records are read with (`arrow_schema`), then to the value
contract's columns (`common_schema`), which every file of a pattern must
share. `["null", T]` unions are nullable T; records flatten to
`parent.child`; enums are strings; decimals are floats (under the value
contract). Date, time, timestamp and uuid annotations are dropped
from the schema blocks are decoded with (`Header.raw`), so those values
arrive as the ints/strings Avro stores and Arrow types them column-wise.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Sequence
from typing import Any, NamedTuple

import fastavro
import pyarrow as pa
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from beam_ingest.arrow_values import to_example_columns, unsupported_columns
from beam_ingest.errors import ConfigError
from beam_ingest.schema import Schema

__all__ = ["SYNC_SIZE", "Header", "arrow_schema", "common_schema", "open_file", "read_header"]

SYNC_SIZE = 16
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


class Header(NamedTuple):
    """What reading needs of a file's header."""

    schema: Any  # the writer schema, as fastavro parsed it
    codec: str
    raw: bytes  # the header fastavro decodes blocks with (see `_PLAIN_LOGICAL`)
    end: int  # offset of the first block
    sync: bytes
    declared: Any  # the writer schema, as the file states it (JSON)


def open_file(path: str):
    """The file, opened without Beam's decompression (Avro compresses blocks)."""
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def read_header(f) -> Header:
    """The header of the Avro file `f`; `f` is left after it (at the first block)."""
    reader = fastavro.block_reader(f)
    end = f.tell()
    f.seek(end - SYNC_SIZE)
    sync = f.read(SYNC_SIZE)
    raw = io.BytesIO()
    declared = json.loads(reader.metadata["avro.schema"])
    fastavro.writer(raw, _plain(declared), [], codec=reader.codec, sync_marker=sync)
    return Header(reader.writer_schema, reader.codec, raw.getvalue(), end, sync, declared)


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


def arrow_schema(schema: Any) -> pa.Schema:
    """The Arrow schema fastavro's records of a writer schema are read with.

    Raises:
        _Unsupported: a field with no tf.Example form (`common_schema` says
            which, as a ConfigError).
    """
    struct = _arrow_type(schema, "", {}, ())
    if not pa.types.is_struct(struct):
        raise _Unsupported("", f"a file of {struct} values, not of records")
    return pa.schema(list(struct))


def _file_schema(path: str) -> pa.Schema:
    """A file's Arrow schema under the value contract, from its header alone."""
    try:
        with open_file(path) as f:
            header = read_header(f)
    except OSError as e:
        raise ConfigError(f"input: cannot read {path!r}: {e}") from e
    except Exception as e:
        raise ConfigError(f"input: {path!r} is not a readable Avro file: {e!r}") from e
    if why := _codec_error(header.codec):
        raise ImportError(f"input: {path!r} cannot be decoded: {why}")
    try:
        arrow = arrow_schema(header.schema)
        for name, arrow_type in unsupported_columns(arrow):
            raise _Unsupported(name, f"{arrow_type} (an array of records or of arrays)")
    except _Unsupported as e:
        raise ConfigError(
            f"input: field {e.args[0]!r} of {path!r} is {e.args[1]}, which has no "
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


def common_schema(paths: Sequence[str]) -> pa.Schema:
    """The files' Arrow schema under the value contract, from their headers.

    Raises:
        ConfigError: a file cannot be read or is not Avro, a field has no
            tf.Example form, or the files' schemas differ after conversion.
        ImportError: the files' codec needs a library that is missing.
    """
    first = _file_schema(paths[0])
    expected = dict(zip(first.names, first.types, strict=True))
    for path in paths[1:]:
        schema = _file_schema(path)
        got = dict(zip(schema.names, schema.types, strict=True))
        for name in [*expected, *(n for n in got if n not in expected)]:
            if expected.get(name) != got.get(name):
                raise ConfigError(
                    f"input: files of one pattern must have compatible schemas: field "
                    f"{name!r} is {_shape(expected.get(name))} in {paths[0]!r} but "
                    f"{_shape(got.get(name))} in {path!r}"
                )
    return first


def _shape(t: pa.DataType | None) -> str:
    if t is None:
        return "absent"
    kind = Schema.from_arrow(pa.schema([("_", t)])).columns[0].kind.name.lower()
    return f"a list of {kind}" if pa.types.is_large_list(t) else kind
