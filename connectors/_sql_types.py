"""SQL result columns to the value contract: the type rules of `ReadSql`.

The drivers give Arrow batches; `check_schema` refuses, before the pipeline
runs, every column with no tf.Example form (naming the column and its SQL
type), and `prepare` turns what `beam_ingest.arrow_values` does not know into
what it does; `arrow_values.to_example_columns` does the rest:

| SQL type                                   | feature                              |
| ------------------------------------------ | ------------------------------------ |
| integer, smallint, bigint, boolean         | int64 (boolean as 0/1)               |
| real, double precision, float              | float                                |
| numeric / decimal                          | float; exact text with decimal_as=string |
| text, varchar, char, uuid, json, bytea, blob | bytes (uuid as its 36-character text) |
| date                                       | int64 microseconds since the epoch  |
| time                                       | int64 microseconds since midnight    |
| timestamp, timestamptz                     | int64 microseconds since the epoch, UTC (1) |
| (with time_as=string)                      | ISO-8601 text, e.g. 2024-01-02T03:04:05.678901Z |
| arrays (any dimensions, flattened)         | a multi-valued feature               |
| composite types, structs                   | one feature per field, `parent.child` |
| NULL                                       | the key present, no value |

(1) A timestamp without time zone is taken as UTC. Refused (cast them in
the query): interval, money, timetz, inet/cidr,
macaddr, geometric and range types, maps, arrays of composites.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from beam_ingest.arrow_values import rebuild_list, to_example_columns, unsupported_columns
from beam_ingest.errors import ConfigError

__all__ = ["check_schema", "prepare", "sql_type"]

_US_PER_DAY = 86_400_000_000
_PG_TYPE = b"POSTGRESQL:type"
_REFUSED_PG = {"money": "numeric"}
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def sql_type(field: pa.Field) -> str:
    """The column's SQL type as the driver tells it (else its Arrow type)."""
    metadata = field.metadata or {}
    if _PG_TYPE in metadata:
        name = metadata[_PG_TYPE].decode()
        return name[1:] + "[]" if name.startswith("_") else name
    t = field.type
    if isinstance(t, pa.BaseExtensionType):
        return getattr(t, "type_name", None) or t.extension_name
    return str(t)


def _opaque_name(t: pa.DataType) -> str | None:
    return getattr(t, "type_name", None) if isinstance(t, pa.BaseExtensionType) else None


def _refusal(field: pa.Field, t: pa.DataType, path: str) -> str | None:
    """Why the column (or its part at `path`) has no feature form, or None."""
    metadata = field.metadata or {}
    pg = metadata.get(_PG_TYPE, b"").decode()
    if pg in _REFUSED_PG:
        return f"cast it, e.g. {path}::{_REFUSED_PG[pg]}"
    if isinstance(t, pa.BaseExtensionType):
        if t.extension_name in ("arrow.uuid", "arrow.json"):
            return None
        if _opaque_name(t) == "numeric":
            return None
        return f"cast it in the query, e.g. {path}::text"
    if pa.types.is_interval(t) or pa.types.is_duration(t):
        return f"cast it, e.g. extract(epoch from {path})"
    if pa.types.is_struct(t):
        for child in t:
            reason = _refusal(child, child.type, f"{path}.{child.name}")
            if reason:
                return reason
        return None
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        value = t.value_field
        if pa.types.is_struct(value.type) or pa.types.is_list(value.type):
            return "unnest it in the query"
        return _refusal(value, value.type, path)
    storage = pa.schema([pa.field("_", t)])
    if unsupported_columns(storage):
        return "cast it in the query"
    return None


def check_schema(schema: pa.Schema, query: str) -> None:
    """Refuses columns with no tf.Example form and repeated names.

    Raises:
        ConfigError: naming the column, its SQL type and the query.
    """
    seen: set[str] = set()
    for field in schema:
        if field.name in seen:
            raise ConfigError(
                f"query: two columns are named {field.name!r}; give them distinct names "
                f"(AS ...) in {query!r}"
            )
        seen.add(field.name)
        reason = _refusal(field, field.type, field.name)
        if reason:
            raise ConfigError(
                f"query: column {field.name!r} has SQL type {sql_type(field)}, which has no "
                f"tf.Example form; {reason}. Query: {query!r}"
            )


def prepare(batch: pa.RecordBatch, decimal_as: str, time_as: str):
    """The batch under the value contract, and {row: reason} of bad rows
    (`arrow_values.to_example_columns` after the SQL-specific rules)."""
    arrays = [_column(c, decimal_as, time_as) for c in batch.columns]
    fields = [pa.field(f.name, a.type) for f, a in zip(batch.schema, arrays, strict=True)]
    return to_example_columns(pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields)))


def _column(column: pa.Array, decimal_as: str, time_as: str) -> pa.Array:
    t = column.type
    if isinstance(t, pa.BaseExtensionType):
        if t.extension_name == "arrow.uuid":
            return _uuid_text(column.storage)
        storage = column.storage
        if _opaque_name(t) == "numeric" and decimal_as == "float":
            return pc.cast(storage, pa.float64())
        return storage
    if pa.types.is_struct(t):
        children = [_column(column.field(i), decimal_as, time_as) for i in range(t.num_fields)]
        return pa.StructArray.from_arrays(
            children,
            names=[f.name for f in t],
            mask=column.is_null() if column.null_count else None,
        )
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        if pa.types.is_fixed_size_list(t):
            column = pc.cast(column, pa.large_list(t.value_type))
        values = _column(column.flatten(), decimal_as, time_as)
        return rebuild_list(column, values, keep_nulls=True)
    if pa.types.is_decimal(t):
        return pc.cast(column, pa.string()) if decimal_as == "string" else column
    if pa.types.is_date(t):
        if time_as == "string":
            return pc.strftime(pc.cast(column, pa.timestamp("s")), "%Y-%m-%d")
        days = pc.cast(pc.cast(column, pa.date32()), pa.int32())
        return pc.multiply(pc.cast(days, pa.int64()), _US_PER_DAY)
    if pa.types.is_timestamp(t):
        if time_as == "string":
            zone = "Z" if t.tz else ""
            utc = pc.cast(column, pa.timestamp(t.unit))  # the UTC wall clock
            return pc.strftime(utc, "%Y-%m-%dT%H:%M:%S" + zone)
        return column
    if pa.types.is_time(t) and time_as == "string":
        return pc.cast(pc.cast(column, pa.time64("us")), pa.string())
    return column


def _uuid_text(storage: pa.FixedSizeBinaryArray) -> pa.Array:
    """16-byte UUIDs as their canonical 36-character lower-case text."""
    n = len(storage)
    data = storage.buffers()[1]
    raw = np.frombuffer(data, dtype=np.uint8, count=16 * n, offset=16 * storage.offset)
    raw = raw.reshape(n, 16)
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2] = _HEX[raw >> 4]
    hexed[:, 1::2] = _HEX[raw & 15]
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    for start, end, at in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        text[:, at : at + end - start] = hexed[:, start:end]
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(36), n, [None, pa.py_buffer(text)])
    if storage.null_count:
        fixed = pc.if_else(storage.is_null(), pa.scalar(None, pa.binary(36)), fixed)
    return pc.cast(fixed, pa.large_binary())
