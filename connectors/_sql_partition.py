"""One query as N disjoint queries that together return every row once.

- **range** (`partition_column`): cut points at the column's quantiles (one
  ordered pass on PostgreSQL and DuckDB, `percentile_disc` /
  `quantile_disc`; OFFSET probes on other databases), so skewed keys still
  give balanced pieces: `c < q1`, `q1 <= c < q2`, ..., `c >= qk`, and one
  piece `c IS NULL`. Equal cut points merge (a value never spans two pieces).
- **hash**: `abs(hash(c) % N) = i` (PostgreSQL `hashint8`/`hashtext`, DuckDB
  `hash`, an integer modulo on SQLite), plus the `c IS NULL` piece. Used when
  asked for, or when the column's values cannot be written as SQL literals.
- **ctid** (PostgreSQL, no column, a single-table query): block ranges
  `ctid >= '(b,0)' AND ctid < '(b2,0)'` put in the query's own WHERE (a Tid
  Range Scan); the last range is open, so rows in blocks added later are kept.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import math
import re
import uuid

from beam_ingest.errors import ConfigError

__all__ = ["Partition", "plan", "quote", "wrap"]

_ALIAS = "_beam_ingest_q"
_SINGLE_TABLE = re.compile(
    r"^\s*select\s+(?P<columns>.+?)\s+from\s+(?P<table>(?:\"[^\"]+\"|[A-Za-z_][\w$]*)"
    r"(?:\.(?:\"[^\"]+\"|[A-Za-z_][\w$]*))?)(?:\s+(?:as\s+)?(?P<alias>[A-Za-z_]\w*))?"
    r"(?:\s+where\s+(?P<where>.+?))?\s*$",
    re.I | re.S,
)
_NOT_SINGLE = re.compile(
    r"\b(join|group|having|order|limit|offset|union|intersect|except|distinct|over|"
    r"window|fetch|for|count|sum|avg|min|max|array_agg|string_agg|json_agg|bool_and|"
    r"bool_or|every|tablesample|lateral|returning|from)\b",
    re.I,
)


@dataclasses.dataclass(frozen=True)
class Partition:
    """One piece: its SQL and how it was cut (for the report)."""

    sql: str
    describe: str


def quote(name: str) -> str:
    """A column name as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def wrap(query: str, condition: str | None = None) -> str:
    """`query` as a subquery, filtered by `condition`."""
    where = f" WHERE {condition}" if condition else ""
    return f"SELECT * FROM ({query}) AS {_ALIAS}{where}"


def _literal(value: object) -> str | None:
    """`value` as an SQL literal, or None when it has no safe spelling."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, decimal.Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return "'" + value.isoformat() + "'"
    if isinstance(value, str | uuid.UUID):
        return "'" + str(value).replace("'", "''") + "'"
    return None


def plan(session, query: str, *, column: str | None, partitions: int, method: str):
    """The pieces of `query` (one, unchanged, for partitions=1).

    Raises:
        ConfigError: the column is not in the result, or the query cannot be
            cut this way (naming the option to use instead).
        DriverError: a planning query failed.
    """
    if partitions == 1 and column is None:
        return [Partition(query, "the whole query")]
    if column is None:
        return _ctid(session, query, partitions)
    key = quote(column)
    if method == "range":
        pieces = _ranges(session, query, key, partitions)
        if pieces is not None:
            return pieces
    return _hashes(session, query, key, partitions)


def _ranges(session, query: str, key: str, n: int) -> list[Partition] | None:
    fractions = [i / n for i in range(1, n)]
    inner = f"({query}) AS {_ALIAS}"
    if session.dialect == "postgresql":
        array = ",".join(map(repr, fractions))
        rows = session.execute(
            f"SELECT percentile_disc(ARRAY[{array}]::float8[]) WITHIN GROUP (ORDER BY {key}) "
            f"FROM {inner}"
        )
        cuts = list(rows[0][0] or []) if fractions else []
    elif session.dialect == "duckdb":
        rows = session.execute(f"SELECT quantile_disc({key}, {fractions!r}) FROM {inner}")
        cuts = list(rows[0][0] or []) if fractions else []
    else:
        count = session.execute(f"SELECT count({key}) FROM {inner}")[0][0]
        cuts = []
        for f in fractions:
            offset = int(count * f)
            if count and offset < count:
                found = session.execute(
                    f"SELECT {key} FROM {inner} WHERE {key} IS NOT NULL ORDER BY {key} "
                    f"LIMIT 1 OFFSET {offset}"
                )
                cuts.append(found[0][0])
    literals = [_literal(c) for c in cuts]
    if any(lit is None for lit in literals):
        return None  # values without a literal spelling: hash them
    bounds = list(dict.fromkeys(literals))  # sorted already; equal cut points merge
    conditions = []
    for i in range(len(bounds) + 1):
        low = f"{key} >= {bounds[i - 1]}" if i else None
        high = f"{key} < {bounds[i]}" if i < len(bounds) else None
        both = " AND ".join(c for c in (low, high) if c) or f"{key} IS NOT NULL"
        conditions.append(both)
    conditions.append(f"{key} IS NULL")
    return [Partition(wrap(query, c), c) for c in conditions]


def _hashes(session, query: str, key: str, n: int) -> list[Partition]:
    if session.dialect == "postgresql":
        kind = session.execute(f"SELECT pg_typeof({key})::text FROM ({query}) AS {_ALIAS} LIMIT 1")
        integer = bool(kind) and kind[0][0] in ("smallint", "integer", "bigint")
        hashed = f"hashint8({key}::int8)" if integer else f"hashtext({key}::text)"
        expression = f"abs({hashed} % {n})"
    elif session.dialect == "duckdb":
        expression = f"(hash({key}) % {n})"
    elif session.dialect == "sqlite":
        kinds = session.execute(
            f"SELECT DISTINCT typeof({key}) FROM ({query}) AS {_ALIAS} WHERE {key} IS NOT NULL"
        )
        if any(k[0] != "integer" for k in kinds):
            raise ConfigError(
                f"partition_column: SQLite can only hash integer columns; {key} holds "
                f"{sorted(k[0] for k in kinds)}; use a range (partition_method=range) or "
                "an integer column"
            )
        expression = f"((({key} % {n}) + {n}) % {n})"
    else:
        raise ConfigError(
            f"partition_method: hash partitions are not available for {session.dialect}; "
            "use partition_method=range"
        )
    conditions = [f"{key} IS NOT NULL AND {expression} = {i}" for i in range(n)]
    pieces = [Partition(wrap(query, c), c) for c in conditions]
    return [*pieces, Partition(wrap(query, f"{key} IS NULL"), f"{key} IS NULL")]


def _ctid(session, query: str, n: int) -> list[Partition]:
    match = _SINGLE_TABLE.match(query)
    single = (
        match is not None
        and session.dialect == "postgresql"
        and not _NOT_SINGLE.search(match.group("columns") + " " + (match.group("where") or ""))
    )
    if not single:
        raise ConfigError(
            "partitions: needs `partition_column` for this query (block ranges are only "
            "for a single-table PostgreSQL query: SELECT ... FROM table [WHERE ...])"
        )
    table = match.group("table")
    pages = session.execute(
        f"SELECT pg_relation_size('{table.replace(chr(39), chr(39) * 2)}'::regclass) "
        "/ current_setting('block_size')::int8"
    )[0][0]
    prefix = f"{match.group('alias')}." if match.group("alias") else ""
    bounds = sorted({pages * i // n for i in range(1, n)} - {0})
    where = match.group("where")
    pieces = []
    for i in range(len(bounds) + 1):
        low = f"{prefix}ctid >= '({bounds[i - 1]},0)'::tid" if i else None
        high = f"{prefix}ctid < '({bounds[i]},0)'::tid" if i < len(bounds) else None
        condition = " AND ".join(c for c in (low, high) if c) or "true"
        full = f"({where}) AND {condition}" if where else condition
        sql = f"SELECT {match.group('columns')} FROM {table}"
        sql += f" {match.group('alias')}" if match.group("alias") else ""
        pieces.append(Partition(f"{sql} WHERE {full}", f"blocks: {condition}"))
    return pieces
