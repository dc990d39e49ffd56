"""Arrow columns to the value contract (docs/formats.md), for every columnar source.

Connectors that read typed data (Parquet, Avro, JSONL) hand their batches to
`to_example_columns`, which returns columns `ToTFExample` encodes directly:

| Arrow type                         | column after                       |
| ---------------------------------- | ---------------------------------- |
| int8..int64, uint8..uint32, bool   | int64 (bool as 0/1)                |
| uint64                             | int64; above int64 max: bad record |
| float16/32/64, decimal             | float64 (float32 when encoded)     |
| string, binary (any width)         | large_binary (UTF-8 for strings)   |
| date32/date64                      | int64 days since 1970-01-01        |
| timestamp (any unit, any zone)     | int64 microseconds since the epoch, UTC |
| time32/time64                      | int64 microseconds since midnight  |
| dictionary                         | its decoded values                 |
| list / large_list / fixed list     | a list of the above                |
| struct                             | one column per field, `parent.child` |
| null                               | null (an empty `Feature()`)        |

Maps, lists of structs and lists of lists have no tf.Example form:
`unsupported_columns` names them so a connector can refuse them before the
pipeline starts.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_INT64_MAX = 2**63 - 1
_US_PER_DAY = 86_400_000_000


def _describe(t: pa.DataType) -> str:
    return str(t)


def unsupported_columns(schema: pa.Schema) -> list[tuple[str, str]]:
    """(column, type) of every column with no tf.Example form, structs flattened."""
    found: list[tuple[str, str]] = []

    def visit(name: str, t: pa.DataType) -> None:
        if pa.types.is_struct(t):
            for i in range(t.num_fields):
                visit(f"{name}.{t.field(i).name}", t.field(i).type)
        elif _is_list(t):
            value = t.value_type
            if pa.types.is_dictionary(value):
                value = value.value_type
            if _is_list(value) or pa.types.is_struct(value) or not _scalar_ok(value):
                found.append((name, _describe(t)))
        elif not _scalar_ok(t):
            found.append((name, _describe(t)))

    for field in schema:
        visit(field.name, field.type)
    return found


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def _scalar_ok(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        return _scalar_ok(t.value_type)
    return (
        pa.types.is_integer(t)
        or pa.types.is_boolean(t)
        or pa.types.is_floating(t)
        or pa.types.is_decimal(t)
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
        or pa.types.is_date(t)
        or pa.types.is_timestamp(t)
        or pa.types.is_time(t)
        or pa.types.is_null(t)
    )


def drop_rows(batch: pa.RecordBatch, rows) -> pa.RecordBatch:
    """The batch without the rows at these indices (bad rows, dead-lettered)."""
    rows = list(rows)
    if not rows:
        return batch
    keep = np.ones(batch.num_rows, dtype=bool)
    keep[rows] = False
    return batch.filter(pa.array(keep))


def to_example_columns(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, dict[int, str]]:
    """The batch under the value contract, and {row: reason} for rows that break it.

    Rows named in the dict (a uint64 above int64 max) hold nulls there; the
    caller drops them and dead-letters them.

    Raises:
        ValueError: a column with no tf.Example form (call
            `unsupported_columns` first to report it as a configuration error).
    """
    names: list[str] = []
    columns: list[pa.Array] = []
    failures: dict[int, str] = {}
    for field, column in zip(batch.schema, batch.columns, strict=True):
        _flatten(field.name, column, names, columns, failures)
    return pa.RecordBatch.from_arrays(columns, names=names), failures


def _flatten(name, column, names, columns, failures) -> None:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_struct(column.type):
        for i, child in enumerate(column.flatten()):
            _flatten(f"{name}.{column.type.field(i).name}", child, names, columns, failures)
        return
    names.append(name)
    columns.append(_convert(name, column, failures))


def _convert(name: str, column: pa.Array, failures: dict[int, str]) -> pa.Array:
    t = column.type
    if _is_list(t):
        if pa.types.is_fixed_size_list(t):
            column = pc.cast(column, pa.large_list(t.value_type))
        # Failures inside lists (uint64 overflow, a null item: a tf.Example
        # list cannot hold one) are reported for the row holding the list.
        flat = column.flatten()
        inner: dict[int, str] = {}
        values = _scalar(name, flat, inner)
        if flat.null_count:
            for i in pc.indices_nonzero(flat.is_null()).to_pylist():
                inner.setdefault(i, f"column {name!r}: a list holds a null item")
        if inner:
            parents = pc.list_parent_indices(column).to_pylist()
            for value_index, reason in inner.items():
                failures.setdefault(parents[value_index], reason)
        return rebuild_list(column, values, keep_nulls=True)
    return _scalar(name, column, failures)


def rebuild_list(column: pa.Array, values: pa.Array, *, keep_nulls: bool) -> pa.LargeListArray:
    """A large list with `column`'s list lengths over `values` (its flattened,
    converted values). Offsets are rebuilt from the lengths, so a sliced array
    or a null list backed by a non-empty range cannot misalign them. A null list
    stays null with `keep_nulls`, else it becomes `[]`."""
    lengths = pc.fill_null(pc.list_value_length(column), 0)
    offsets = pa.concat_arrays(
        [pa.array([0], pa.int64()), pc.cumulative_sum(pc.cast(lengths, pa.int64()))]
    )
    mask = column.is_null() if keep_nulls and column.null_count else None
    return pa.LargeListArray.from_arrays(offsets, values, mask=mask)


def _scalar(name: str, column: pa.Array, failures: dict[int, str]) -> pa.Array:
    t = column.type
    if pa.types.is_dictionary(t):
        column = column.dictionary_decode()
        t = column.type
    if pa.types.is_null(t):
        return column
    if pa.types.is_uint64(t):
        too_big = pc.fill_null(pc.greater(column, pa.scalar(_INT64_MAX, pa.uint64())), False)
        for i in pc.indices_nonzero(too_big).to_pylist():
            failures.setdefault(
                i, f"column {name!r}: {column[i].as_py()} is above the int64 maximum"
            )
        column = pc.if_else(too_big, pa.scalar(None, pa.uint64()), column)
        return pc.cast(column, pa.int64())
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return pc.cast(column, pa.int64())
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return pc.cast(column, pa.float64())
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pc.cast(column, pa.large_binary())
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return pc.cast(column, pa.large_binary())
    if pa.types.is_date32(t):
        return pc.cast(pc.cast(column, pa.int32()), pa.int64())
    if pa.types.is_date64(t):
        return pc.divide(pc.cast(column, pa.int64()), 86_400_000)
    if pa.types.is_timestamp(t):
        if t.unit == "ns":  # to microseconds: truncation toward zero, no overflow possible
            return pc.cast(pc.divide(pc.cast(column, pa.int64()), 1000), pa.int64())
        # Seconds and milliseconds beyond the int64 microsecond range are bad rows.
        factor = {"s": 1_000_000, "ms": 1_000, "us": 1}[t.unit]
        raw = pc.cast(column, pa.int64())
        limit = _INT64_MAX // factor
        out_of_range = pc.fill_null(pc.greater(pc.abs(raw), limit), False)
        for i in pc.indices_nonzero(out_of_range).to_pylist():
            failures.setdefault(
                i,
                f"column {name!r}: timestamp {raw[i].as_py()} {t.unit} is beyond "
                "the int64 microsecond range",
            )
        raw = pc.if_else(out_of_range, pa.scalar(None, pa.int64()), raw)
        return pc.multiply(raw, factor)
    if pa.types.is_time(t):
        micros = pc.cast(column, pa.time64("us"), safe=False)
        return pc.cast(micros, pa.int64())
    raise ValueError(f"column {name!r} has type {t}, which has no tf.Example form")
