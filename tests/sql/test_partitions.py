"""Partitioned reads: every row exactly once, on skewed and NULL keys; one snapshot."""

from __future__ import annotations

import threading
import time

import apache_beam as beam
import pytest

from beam_ingest.errors import ConfigError
from tests.sql.helpers import by_key, examples, ingest


@pytest.fixture(scope="module")
def skewed(postgres):
    """20,000 rows: key 0 for 70%, a long tail, negative keys, 1,000 NULL keys,
    and a text key; ANALYZEd so that it spans many blocks."""
    postgres.psql(
        "create table skewed as select g as id, "
        "case when g % 20 = 0 then null when g % 10 < 7 then 0 else (g * 7919) % 100000 - 50000 "
        "end as k, md5(g::text) as t, repeat('x', 50) as pad from generate_series(1, 20000) g;"
        "analyze skewed;"
    )
    return 20_000


def _ids(out) -> list[int]:
    return sorted(e["id"][1][0] for e in examples(out))


@pytest.mark.parametrize(
    "options",
    [
        {"partition_column": "k", "partitions": 4},
        {"partition_column": "k", "partitions": 5, "partition_method": "hash"},
        {"partition_column": "t", "partitions": 3},
        {"partition_column": "t", "partitions": 3, "partition_method": "hash"},
        {"partitions": 4},  # ctid block ranges
    ],
    ids=["range-int", "hash-int", "range-text", "hash-text", "ctid"],
)
def test_every_row_exactly_once(postgres, pg_url, skewed, tmp_path, options):
    report = ingest(tmp_path / "out", connection=pg_url, query="select id, k, t from skewed",
                    **options)  # fmt: skip
    assert _ids(tmp_path / "out") == list(range(1, skewed + 1))
    assert report["records_read"] == report["examples"] == skewed
    pieces = report["sql"]["all"]["partitions"]
    assert report["sql"]["all"]["snapshot"] is True
    if "partition_column" in options:
        assert pieces[-1] == f'"{options["partition_column"]}" IS NULL'
    else:
        assert len(pieces) == 4 and all("ctid" in p for p in pieces)


def test_ranges_are_quantiles_not_min_max(pg_url, skewed, tmp_path):
    """On a skewed key the pieces cut at quantiles: the tail is split, not lumped."""
    report = ingest(tmp_path / "out", connection=pg_url, query="select id, k from skewed",
                    partition_column="id", partitions=4)  # fmt: skip
    assert report["sql"]["all"]["partitions"][:4] == [
        '"id" < 5000', '"id" >= 5000 AND "id" < 10000', '"id" >= 10000 AND "id" < 15000',
        '"id" >= 15000',
    ]  # fmt: skip


def test_sqlite_and_duckdb_partitions(tmp_path):
    import sqlite3

    import duckdb

    rows = [(i, None if i % 11 == 0 else (i % 3 - 1) * 10**12) for i in range(1, 3001)]
    with sqlite3.connect(tmp_path / "t.db") as c:
        c.execute("create table t(id integer, k integer)")
        c.executemany("insert into t values (?, ?)", rows)
    with duckdb.connect(str(tmp_path / "t.duckdb")) as c:
        c.execute("create table t(id integer, k bigint)")
        c.executemany("insert into t values (?, ?)", rows)
    for url in (f"sqlite:///{tmp_path}/t.db", f"duckdb:///{tmp_path}/t.duckdb"):
        for method in ("range", "hash"):
            out = tmp_path / f"{url.split(':')[0]}-{method}"
            ingest(out, connection=url, query="select * from t", partition_column="k",
                   partitions=3, partition_method=method)  # fmt: skip
            assert _ids(out) == list(range(1, 3001)), (url, method)


def test_ctid_needs_a_single_table_query(pg_url, skewed, tmp_path):
    with pytest.raises(ConfigError, match="partitions: needs `partition_column`"):
        ingest(tmp_path / "o", connection=pg_url, partitions=2,
               query="select k, count(*) as n from skewed group by k")  # fmt: skip


def test_unknown_partition_column_lists_the_columns(pg_url, skewed, tmp_path):
    with pytest.raises(ConfigError, match=r"'nope' is not a column.*\['id', 'k'\]"):
        ingest(tmp_path / "o", connection=pg_url, query="select id, k from skewed",
               partition_column="nope", partitions=2)  # fmt: skip


def test_one_snapshot_while_rows_are_written(postgres, pg_url, tmp_path):
    """Rows inserted and deleted during the read appear in no partition."""
    from beam_ingest import Ingest
    from beam_ingest.config import build_config

    postgres.psql(
        "create table moving as select g as id, g % 1000 as k from generate_series(1, 30000) g"
    )
    config = build_config({"format": "sql", "output": str(tmp_path / "out"),
                           "connection": pg_url, "query": "select id, k from moving",
                           "partition_column": "id", "partitions": 4})  # fmt: skip
    stop = threading.Event()

    def write() -> None:
        n = 100_000
        while not stop.is_set():
            postgres.psql(
                f"insert into moving values ({n}, 1); delete from moving where id = "
                f"{n - 99_999}; update moving set k = -1 where id = {n - 90_000}"
            )
            n += 1

    with beam.Pipeline() as p:
        _ = p | Ingest(config)  # planned: the snapshot is exported now
        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(1.0)  # rows change before any partition has read
    stop.set()
    writer.join()
    assert postgres.psql("select count(*) from moving where id >= 100000").strip() != "0"
    rows = by_key(tmp_path / "out")
    assert sorted(rows) == list(range(1, 30001))
    assert all(rows[i]["k"][1] == [i % 1000] for i in (1, 10_001, 29_999))
    # The exporting transaction ended once every partition had read.
    idle = "select count(*) from pg_stat_activity where state like 'idle in transaction%'"
    assert postgres.psql(idle).strip() == "0"
