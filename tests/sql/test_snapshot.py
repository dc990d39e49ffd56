"""One snapshot for every `--query-split` split and every partition, on ADBC
and on the SQLAlchemy path: rows written between the splits' planning and
while they read appear in none of them."""

from __future__ import annotations

import threading
import time

import apache_beam as beam
import pytest

from beam_ingest import Ingest
from beam_ingest.config import build_config
from beam_ingest.connectors import _sql_snapshot
from beam_ingest.connectors.sql import ReadSql
from tests.sql.conftest import PASSWORD
from tests.sql.helpers import by_key, read_report

ROWS = 20_000
IDLE = "select count(*) from pg_stat_activity where state like 'idle in transaction%'"


def _write(postgres, table: str, n: int) -> None:
    """Inserts row n (>= 100000), deletes an old row of each split (by parity)
    and updates another."""
    old = n - 100_000 + 1
    postgres.psql(
        f"insert into {table} values ({n}, 1); "
        f"delete from {table} where id in ({2 * old}, {2 * old + 1}); "
        f"update {table} set k = -1 where id in ({ROWS - 2 * old}, {ROWS - 2 * old - 1})"
    )


def _run_with_writes(postgres, monkeypatch, table: str, config) -> None:
    """Runs `config`'s pipeline: rows change after each split is planned (so a
    later split planned in its own snapshot would see them), and keep changing
    while the splits read."""
    written = iter(range(100_000, 200_000))
    planned = ReadSql.expand

    def expand_then_write(self, pbegin):
        outputs = planned(self, pbegin)
        _write(postgres, table, next(written))
        return outputs

    monkeypatch.setattr(ReadSql, "expand", expand_then_write)
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            _write(postgres, table, next(written))

    with beam.Pipeline() as p:
        _ = p | Ingest(config)  # planned: both splits, each followed by writes
        writer = threading.Thread(target=write)
        writer.start()
        time.sleep(1.0)  # and more before any partition has read
    stop.set()
    writer.join()
    assert postgres.psql(f"select count(*) from {table} where id >= 100000").strip() != "0"


def _check(out, postgres) -> None:
    train = by_key(out, splits=("train",))
    test = by_key(out, splits=("test",))
    assert sorted(train) == list(range(2, ROWS + 1, 2))
    assert sorted(test) == list(range(1, ROWS + 1, 2))
    rows = {**train, **test}
    assert all(rows[i]["k"][1] == [i % 100] for i in (ROWS - 2, ROWS - 3, ROWS - 1))
    report = read_report(str(out))
    assert report["sql"]["train"]["snapshot"] is True
    assert report["sql"]["test"]["snapshot"] is True
    # The exporting transaction ended once every partition of both splits had read.
    assert postgres.psql(IDLE).strip() == "0"
    assert not _sql_snapshot._HOLDERS


def _table(postgres, name: str) -> str:
    postgres.psql(
        f"drop table if exists {name}; create table {name} as "
        f"select g as id, g % 100 as k from generate_series(1, {ROWS}) g"
    )
    return name


def _splits(table: str) -> list[str]:
    return [f"train=select id, k from {table} where id % 2 = 0",
            f"test=select id, k from {table} where id % 2 = 1"]  # fmt: skip


@pytest.mark.parametrize("partitions", [1, 3])
def test_query_splits_read_one_snapshot(postgres, pg_url, tmp_path, monkeypatch, partitions):
    table = _table(postgres, f"splits_{partitions}")
    config = build_config({
        "format": "sql", "output": str(tmp_path / "out"), "connection": pg_url,
        "query_split": _splits(table), "partition_column": "id", "partitions": partitions,
    })  # fmt: skip
    _run_with_writes(postgres, monkeypatch, table, config)
    _check(tmp_path / "out", postgres)


def test_query_splits_through_sqlalchemy_read_one_snapshot(postgres, tmp_path, monkeypatch):
    table = _table(postgres, "splits_pg8000")
    monkeypatch.setenv("PG8000_PW", PASSWORD)
    url = postgres.url().replace("postgresql://", "postgresql+pg8000://")
    config = build_config({
        "format": "sql", "output": str(tmp_path / "out"), "connection": url,
        "connection_env": "PG8000_PW", "query_split": _splits(table),
        "partition_column": "id", "partitions": 2,
    })  # fmt: skip
    _run_with_writes(postgres, monkeypatch, table, config)
    _check(tmp_path / "out", postgres)


def test_the_spans_of_a_query_read_one_snapshot(postgres, pg_url, tmp_path, monkeypatch):
    """A span range is one query per span: they share the snapshot too."""
    table = _table(postgres, "spans")
    config = build_config({
        "format": "sql", "output": str(tmp_path / "out"), "connection": pg_url,
        "query": f"select id, k from {table} where id % 2 = {{SPAN}}", "span_range": "0:1",
    })  # fmt: skip
    _run_with_writes(postgres, monkeypatch, table, config)
    rows = by_key(tmp_path / "out")
    assert sorted(rows) == list(range(1, ROWS + 1))
    assert all(rows[i]["k"][1] == [i % 100] for i in (ROWS - 2, ROWS - 3))
    assert postgres.psql(IDLE).strip() == "0" and not _sql_snapshot._HOLDERS


def test_one_query_with_one_partition_holds_no_snapshot(postgres, pg_url, tmp_path):
    """Nothing to keep consistent: no transaction is held (DDL is not blocked)."""
    from tests.sql.helpers import ingest

    table = _table(postgres, "single")
    report = ingest(tmp_path / "o", connection=pg_url, query=f"select id, k from {table}")
    assert report["sql"]["all"]["snapshot"] is False and report["examples"] == ROWS


def test_a_snapshot_that_ended_names_the_partition_and_the_launcher(postgres, pg_url, tmp_path):
    table = _table(postgres, "ended")
    config = build_config({
        "format": "sql", "output": str(tmp_path / "out"), "connection": pg_url,
        "query_split": _splits(table),
    })  # fmt: skip
    pipeline = beam.Pipeline()
    _ = pipeline | Ingest(config)
    for source in config.split_sources.values():
        source.close()  # as if the launching process had gone
    with pytest.raises(Exception, match=r"cannot read the exported snapshot .*launching process"):
        pipeline.run().wait_until_finish()
    assert not (tmp_path / "out").exists()
