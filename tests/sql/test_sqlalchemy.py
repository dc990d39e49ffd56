"""The SQLAlchemy path (any other database URL): a server-side cursor read in
batches, the same rows and types as the Arrow-native drivers give."""

from __future__ import annotations

import sqlite3

from tests.sql.conftest import PASSWORD
from tests.sql.helpers import by_key, ingest


def test_sqlite_through_sqlalchemy_equals_adbc(tmp_path):
    db = tmp_path / "t.db"
    with sqlite3.connect(db) as c:
        c.execute("create table t(id integer, f real, s text, b blob)")
        c.executemany(
            "insert into t values (?,?,?,?)",
            [(i, i / 2, f"s{i}", None if i % 4 else b"\x00") for i in range(5000)],
        )
    for url in (f"sqlite:///{db}", f"sqlite+pysqlite:///{db}"):
        ingest(tmp_path / url.split(":")[0], connection=url, query="select * from t",
               partition_column="id", partitions=2)  # fmt: skip
    native, fallback = by_key(tmp_path / "sqlite"), by_key(tmp_path / "sqlite+pysqlite")
    assert native == fallback and len(native) == 5000


def test_postgresql_through_pg8000(postgres, pg_url, tmp_path, monkeypatch):
    postgres.psql("create table via_pg8000 as select g as id, g * 1.5 as x, "
                  "'t' || g as t from generate_series(1, 3000) g")  # fmt: skip
    monkeypatch.setenv("PG8000_PW", PASSWORD)
    url = postgres.url().replace("postgresql://", "postgresql+pg8000://")
    report = ingest(tmp_path / "o", connection=url, connection_env="PG8000_PW",
                    query="select id, x, t from via_pg8000", partition_column="id",
                    partitions=3)  # fmt: skip
    rows = by_key(tmp_path / "o")
    assert sorted(rows) == list(range(1, 3001))
    assert rows[7]["x"] == ("float_list", [10.5]) and rows[7]["t"] == ("bytes_list", [b"t7"])
    assert report["sql"]["all"]["snapshot"] is True  # the SQLAlchemy path shares one too
