"""The type rules of `--format sql` on PostgreSQL, SQLite and DuckDB (docs/sql.md)."""

from __future__ import annotations

import datetime
import os
import sqlite3

import numpy as np
import pytest

from beam_ingest.errors import ConfigError
from tests.sql.conftest import PASSWORD
from tests.sql.helpers import by_key, examples, ingest, read_report

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_ENV = "BEAM_INGEST_TEST_PG_PASSWORD"


def _us(*args, tz=datetime.UTC) -> int:
    return (datetime.datetime(*args, tzinfo=tz) - _EPOCH) // datetime.timedelta(microseconds=1)


_PG_TABLE = """
create type comp as (x int, y text);
create table types(id int, b bool, s smallint, bi bigint, f real, d double precision,
  n numeric(10,3), big numeric, tx text, vc varchar(5), ch char(3), u uuid, j json, jb jsonb,
  by bytea, dt date, tm time, ts timestamp, tstz timestamptz, ai int[], at text[], a2 int[][],
  c comp);
insert into types values (1, true, -2, 9007199254740993, 1.5, 2.25, 1.234,
  12345678901234567890.123, 'hé', 'ab', 'ab', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '{"a":1}', '{"b":2}', '\\xdeadbeef', '2024-01-02', '12:34:56.789',
  '2024-01-02 03:04:05.678901', '2024-01-02 03:04:05+02', '{1,2,3}', '{a,b}',
  '{{1,2},{3,4}}', row(2,'x'));
insert into types (id) values (2);
"""


@pytest.fixture(scope="module")
def pg_types(postgres, tmp_path_factory):
    postgres.psql(_PG_TABLE)
    os.environ[_ENV] = PASSWORD
    out = tmp_path_factory.mktemp("pg-types")
    common = {"connection": postgres.url(), "connection_env": _ENV,
              "query": "select * from types", "query_split": None}  # fmt: skip
    runs = {}
    for name, extra in {
        "default": {},
        "text": {"decimal_as": "string", "time_as": "string"},
    }.items():
        runs[name] = (out / name, ingest(out / name, **common, **extra))
    return runs


def test_pg_every_type_by_the_rules(pg_types):
    row = by_key(pg_types["default"][0])[1]
    f32 = lambda *v: list(np.float32(v))  # noqa: E731
    assert row == {
        "id": ("int64_list", [1]), "b": ("int64_list", [1]), "s": ("int64_list", [-2]),
        "bi": ("int64_list", [9007199254740993]), "f": ("float_list", f32(1.5)),
        "d": ("float_list", f32(2.25)), "n": ("float_list", f32(1.234)),
        "big": ("float_list", f32(12345678901234567890.123)),
        "tx": ("bytes_list", ["hé".encode()]), "vc": ("bytes_list", [b"ab"]),
        "ch": ("bytes_list", [b"ab "]),
        "u": ("bytes_list", [b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]),
        "j": ("bytes_list", [b'{"a":1}']), "jb": ("bytes_list", [b'{"b": 2}']),
        "by": ("bytes_list", [b"\xde\xad\xbe\xef"]),
        "dt": ("int64_list", [_us(2024, 1, 2)]),
        "tm": ("int64_list", [(12 * 3600 + 34 * 60 + 56) * 1_000_000 + 789_000]),
        "ts": ("int64_list", [_us(2024, 1, 2, 3, 4, 5, 678901)]),
        "tstz": ("int64_list", [_us(2024, 1, 2, 1, 4, 5)]),
        "ai": ("int64_list", [1, 2, 3]), "at": ("bytes_list", [b"a", b"b"]),
        "a2": ("int64_list", [1, 2, 3, 4]), "c.x": ("int64_list", [2]),
        "c.y": ("bytes_list", [b"x"]),
    }  # fmt: skip


def test_pg_null_is_an_empty_feature_with_its_key(pg_types):
    """As the CSV path writes an empty cell: the key, its kind, no value."""
    rows = by_key(pg_types["default"][0])
    assert set(rows[2]) == set(rows[1])
    assert all(value == (rows[1][name][0], []) for name, value in rows[2].items() if name != "id")


def test_pg_decimal_and_time_as_text(pg_types):
    row = by_key(pg_types["text"][0])[1]
    assert row["n"] == ("bytes_list", [b"1.234"])
    assert row["big"] == ("bytes_list", [b"12345678901234567890.123"])
    assert row["dt"] == ("bytes_list", [b"2024-01-02"])
    assert row["tm"] == ("bytes_list", [b"12:34:56.789000"])
    assert row["ts"] == ("bytes_list", [b"2024-01-02T03:04:05.678901"])
    assert row["tstz"] == ("bytes_list", [b"2024-01-02T01:04:05.000000Z"])
    assert read_report(pg_types["text"][0])["schema"]["n"] == "bytes"


def test_pg_schema_and_report(pg_types):
    out, report = pg_types["default"]
    assert report["records_read"] == report["examples"] == 2
    assert report["schema"]["tstz"] == "int" and report["schema"]["n"] == "float"
    assert report["schema"]["c.y"] == "bytes"
    assert report["sql"]["all"]["query"] == "select * from types"
    assert PASSWORD not in (out / "ingest_report.json").read_text()


@pytest.mark.parametrize(
    ("column", "sql_type"),
    [("'10.0.0.1'::inet", "inet"), ("interval '1 day'", "interval"),
     ("1::money", "money"), ("'12:00+02'::timetz", "timetz")],
)  # fmt: skip
def test_pg_unmappable_type_is_a_config_error_naming_column_and_type(
    postgres, pg_url, tmp_path, column, sql_type
):
    query = f"select 1 as id, {column} as odd"
    with pytest.raises(ConfigError, match=rf"column 'odd' has SQL type {sql_type}\b.*cast"):
        ingest(tmp_path / "out", connection=pg_url, query=query)
    assert not (tmp_path / "out").exists()


def test_sqlite_types(tmp_path):
    db = tmp_path / "t.db"
    with sqlite3.connect(db) as c:
        c.execute("create table t(id integer, f real, s text, b blob, later text)")
        c.executemany(
            "insert into t values (?,?,?,?,?)",
            [
                (i, i / 4, f"s{i}", bytes([i % 256]), None if i < 1500 else "late")
                for i in range(1600)
            ]
            + [(None, None, None, None, None)],
        )
    out = tmp_path / "out"
    report = ingest(out, connection=f"sqlite:///{db}", query="select * from t")
    assert report["schema"] == {"id": "int", "f": "float", "s": "bytes", "b": "bytes",
                                "later": "bytes"}  # fmt: skip
    rows = {e["s"][1][0] if e["s"][1] else None: e for e in examples(out)}
    assert len(rows) == 1601
    assert rows[b"s3"] == {"id": ("int64_list", [3]), "f": ("float_list", [0.75]),
                           "s": ("bytes_list", [b"s3"]), "b": ("bytes_list", [b"\x03"]),
                           "later": ("bytes_list", [])}  # fmt: skip
    assert rows[b"s1501"]["later"] == ("bytes_list", [b"late"])


def test_duckdb_types(tmp_path):
    import duckdb

    db = tmp_path / "t.duckdb"
    with duckdb.connect(str(db)) as c:
        c.execute(
            "create table t as select 1 as id, 1.25::decimal(10,2) as n, "
            "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid as u, '{\"a\":1}'::json as j, "
            "timestamptz '2024-01-02 03:04:05+00' as ts, date '2024-01-02' as dt, "
            "[1, 2] as l, {'a': 1, 'b': 'x'} as st, 12::hugeint as h, 'x'::varchar as v "
            "union all select 2, null, null, null, null, null, null, null, null, null"
        )
    out = tmp_path / "out"
    ingest(out, connection=f"duckdb:///{db}", query="select * from t")
    rows = by_key(out)
    assert rows[1] == {
        "id": ("int64_list", [1]), "n": ("float_list", [1.25]),
        "u": ("bytes_list", [b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]),
        "j": ("bytes_list", [b'{"a":1}']), "ts": ("int64_list", [_us(2024, 1, 2, 3, 4, 5)]),
        "dt": ("int64_list", [_us(2024, 1, 2)]), "l": ("int64_list", [1, 2]),
        "st.a": ("int64_list", [1]), "st.b": ("bytes_list", [b"x"]),
        "h": ("float_list", [12.0]), "v": ("bytes_list", [b"x"]),
    }  # fmt: skip
    assert all(v == (rows[1][k][0], []) for k, v in rows[2].items() if k != "id")


def test_duckdb_map_is_refused_by_name(tmp_path):
    with pytest.raises(ConfigError, match=r"column 'm' has SQL type map<"):
        ingest(tmp_path / "o", connection="duckdb://", query="select map([1],[2]) as m")
