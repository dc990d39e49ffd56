"""BigQuery result columns to the value contract: the type rules of `ReadBigQuery`.

A BigQuery schema (the JSON `bq show --schema` prints and `tables.get`
returns: fields of `name`, `type`, `mode` and, for a RECORD, `fields`) becomes
the Arrow schema the BigQuery Storage Read API's Arrow format has
(`arrow_schema`), the rows Beam's `ReadFromBigQuery` yields (dicts, from the
Storage API's Arrow or Avro) become RecordBatches of it (`to_batch`), and
`_sql_types.prepare`, the SQL source's rules, does the rest:

| BigQuery type          | Arrow (Storage API)   | feature                                 |
| ---------------------- | --------------------- | --------------------------------------- |
| INT64, BOOL            | int64, bool           | int64 (BOOL as 0/1)                     |
| FLOAT64                | double                | float                                   |
| NUMERIC                | decimal128(38, 9)     | float; exact text with decimal_as=string |
| BIGNUMERIC             | decimal256(76, 38)    | the same                                |
| STRING, GEOGRAPHY, JSON | string               | bytes (GEOGRAPHY as WKT)                |
| BYTES                  | binary                | bytes                                   |
| DATE                   | date32                | int64 microseconds since the epoch      |
| TIME                   | time64[us]            | int64 microseconds since midnight       |
| TIMESTAMP              | timestamp[us, UTC]    | int64 microseconds since the epoch, UTC |
| DATETIME               | timestamp[us]         | the same, the civil time taken as UTC   |
| (with time_as=string)  |                       | ISO-8601 text                           |
| mode REPEATED          | list                  | a multi-valued feature                  |
| RECORD / STRUCT        | struct                | one feature per field, `parent.child`   |
| NULL                   | null                  | the key present, no value               |

Refused, naming the column and its type: INTERVAL, RANGE and any other type,
and a REPEATED RECORD (an ARRAY<STRUCT>: UNNEST it in the query).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from beam_ingest.arrow_values import rebuild_list
from beam_ingest.connectors import _sql_types
from beam_ingest.errors import ConfigError

__all__ = ["arrow_schema", "bq_type", "load_schema", "prepare", "to_batch"]

#: BigQuery type (and its legacy SQL alias) -> the Storage Read API's Arrow type.
_SCALARS: dict[str, pa.DataType] = {
    "INT64": pa.int64(), "INTEGER": pa.int64(),
    "FLOAT64": pa.float64(), "FLOAT": pa.float64(),
    "BOOL": pa.bool_(), "BOOLEAN": pa.bool_(),
    "STRING": pa.string(), "BYTES": pa.binary(),
    "NUMERIC": pa.decimal128(38, 9), "DECIMAL": pa.decimal128(38, 9),
    "BIGNUMERIC": pa.decimal256(76, 38), "BIGDECIMAL": pa.decimal256(76, 38),
    "DATE": pa.date32(), "TIME": pa.time64("us"),
    "DATETIME": pa.timestamp("us"), "TIMESTAMP": pa.timestamp("us", tz="UTC"),
    "GEOGRAPHY": pa.string(), "JSON": pa.string(),
}  # fmt: skip
_RECORD = ("RECORD", "STRUCT")
_HINTS = {
    "INTERVAL": "e.g. EXTRACT(DAY FROM {c}) or CAST({c} AS STRING)",
    "RANGE": "e.g. RANGE_START({c}) AS {c}_start, RANGE_END({c}) AS {c}_end",
}


def load_schema(given: object) -> list[dict]:
    """BigQuery schema fields from what `bq show --schema` prints (a JSON list),
    `tables.get`'s `{"schema": {"fields": [...]}}` or `{"fields": [...]}`, as
    JSON text, parsed JSON, or google-cloud-bigquery `SchemaField`s.

    Raises:
        ConfigError: not a BigQuery schema.
    """
    value = json.loads(given) if isinstance(given, str | bytes) else given
    if isinstance(value, Mapping):
        value = value.get("schema", value)
        value = value.get("fields") if isinstance(value, Mapping) else value
    if not isinstance(value, Sequence) or isinstance(value, str) or not value:
        raise ConfigError(
            "bigquery_schema: expected a BigQuery schema, a JSON list of fields "
            '{"name", "type", "mode"} as `bq show --schema` prints it'
        )
    fields = [f.to_api_repr() if hasattr(f, "to_api_repr") else f for f in value]
    for field in fields:
        if not isinstance(field, Mapping) or not {"name", "type"} <= set(field):
            raise ConfigError(f"bigquery_schema: a field needs a name and a type; got {field!r}")
    return [dict(f) for f in fields]


def bq_type(field: Mapping) -> str:
    """The field's type as BigQuery's SQL spells it: `ARRAY<STRUCT<a INT64>>`."""
    kind = str(field["type"]).upper()
    if kind in _RECORD:
        children = field.get("fields") or []
        kind = "STRUCT<" + ", ".join(f"{f['name']} {bq_type(f)}" for f in children) + ">"
    return f"ARRAY<{kind}>" if str(field.get("mode", "")).upper() == "REPEATED" else kind


def _arrow_type(field: Mapping, path: str, where: str) -> pa.DataType:
    kind = str(field["type"]).upper()
    repeated = str(field.get("mode", "NULLABLE")).upper() == "REPEATED"
    if kind in _RECORD:
        if repeated:
            raise ConfigError(
                f"{where}: column {path!r} has BigQuery type {bq_type(field)}, which has no "
                f"tf.Example form (a list of records); UNNEST it in the query, or select its "
                f"fields as arrays: ARRAY(SELECT x.f FROM UNNEST({path}) x) AS {path}_f"
            )
        children = [
            pa.field(f["name"], _arrow_type(f, f"{path}.{f['name']}", where))
            for f in field.get("fields") or []
        ]
        value = pa.struct(children)
    elif kind in _SCALARS:
        value = _SCALARS[kind]
    else:
        hint = _HINTS.get(kind, "CAST it in the query, e.g. CAST({c} AS STRING)")
        raise ConfigError(
            f"{where}: column {path!r} has BigQuery type {bq_type(field)}, which has no "
            f"tf.Example form; {hint.format(c=path)}"
        )
    return pa.list_(value) if repeated else value


def arrow_schema(fields: Sequence[Mapping], where: str = "query") -> pa.Schema:
    """The Arrow schema of rows of these BigQuery fields, each Arrow field
    holding its BigQuery type (`bq_type`) in its metadata.

    Raises:
        ConfigError: a column with no tf.Example form (named, with its
            BigQuery type and what to do), or two columns of one name.
    """
    seen: set[str] = set()
    out = []
    for field in fields:
        if field["name"] in seen:
            raise ConfigError(f"{where}: two columns are named {field['name']!r}")
        seen.add(field["name"])
        t = _arrow_type(field, field["name"], where)
        out.append(pa.field(field["name"], t, metadata={b"bigquery:type": bq_type(field).encode()}))
    schema = pa.schema(out)
    _sql_types.check_schema(schema, where)  # the SQL rules agree: nothing left unencodable
    return schema


_UNFIT = (pa.ArrowException, TypeError, ValueError, OverflowError)


def _datetime_text(value: object) -> object:
    """A DATETIME as the Avro path gives it (`2024-01-02T03:04:05.678901`, the
    Storage API's Avro string with sqlType DATETIME) as a naive datetime."""
    if isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value)
        except ValueError:
            return value  # not a DATETIME: the row does not fit, a dead letter
    return value


def _fix(value: object, t: pa.DataType) -> object:
    """One value as pyarrow takes it for type `t` (DATETIME text parsed)."""
    if value is None:
        return None
    if pa.types.is_timestamp(t) and t.tz is None:
        return _datetime_text(value)
    if pa.types.is_struct(t) and isinstance(value, Mapping):
        return {f.name: _fix(value.get(f.name), f.type) for f in t}
    if pa.types.is_list(t) and isinstance(value, list | tuple):
        return [_fix(v, t.value_type) for v in value]
    return value


def _needs_fix(t: pa.DataType) -> bool:
    if pa.types.is_timestamp(t):
        return t.tz is None
    if pa.types.is_struct(t):
        return any(_needs_fix(f.type) for f in t)
    if pa.types.is_list(t):
        return _needs_fix(t.value_type)
    return False


def to_batch(rows: Sequence[Mapping], schema: pa.Schema) -> tuple[pa.RecordBatch, dict[int, str]]:
    """Rows (dicts as `ReadFromBigQuery` yields them) as a RecordBatch of
    `schema`, and {row: reason} of rows that do not fit it (those rows hold
    nulls in the batch, for the caller to drop: indices stay the rows')."""
    fixing = [f.name for f in schema if _needs_fix(f.type)]
    if fixing:
        types = {f.name: f.type for f in schema}
        rows = [{**r, **{n: _fix(r.get(n), types[n]) for n in fixing}} for r in rows]
    try:
        return pa.RecordBatch.from_pylist(list(rows), schema=schema), {}
    except _UNFIT:
        pass  # find the rows that fail, one by one
    kept, failures = [], {}
    for i, row in enumerate(rows):
        try:
            pa.RecordBatch.from_pylist([row], schema=schema)
        except _UNFIT as e:
            failures[i] = f"a value does not fit the result's BigQuery schema: {e}"
            row = {}
        kept.append(row)
    return pa.RecordBatch.from_pylist(kept, schema=schema), failures


def _exact_text(column: pa.Array) -> pa.Array:
    """Decimals as BigQuery's CAST(... AS STRING) spells them: no trailing zeros."""
    text = pc.cast(column, pa.string())
    text = pc.replace_substring_regex(text, r"(\.\d*?)0+$", r"\1")
    return pc.replace_substring_regex(text, r"\.$", "")


def _decimals_as_text(column: pa.Array) -> pa.Array:
    t = column.type
    if pa.types.is_decimal(t):
        return _exact_text(column)
    if pa.types.is_struct(t):
        children = [_decimals_as_text(column.field(i)) for i in range(t.num_fields)]
        return pa.StructArray.from_arrays(
            children,
            names=[f.name for f in t],
            mask=column.is_null() if column.null_count else None,
        )
    if pa.types.is_list(t) and pa.types.is_decimal(t.value_type):
        return rebuild_list(column, _exact_text(column.flatten()), keep_nulls=True)
    return column


def prepare(batch: pa.RecordBatch, decimal_as: str, time_as: str):
    """The batch under the value contract and {row: reason} of bad rows: the
    SQL source's rules (`_sql_types.prepare`), decimals as BigQuery's text
    with decimal_as=string."""
    if decimal_as == "string":
        arrays = [_decimals_as_text(c) for c in batch.columns]
        batch = pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)
    return _sql_types.prepare(batch, decimal_as, time_as)
