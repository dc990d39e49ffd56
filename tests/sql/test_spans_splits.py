"""Spans in queries and split queries (`query_split`, `query_file`)."""

from __future__ import annotations

import sqlite3

import pytest

from beam_ingest.connectors.sql import fill_span
from beam_ingest.errors import ConfigError
from tests.sql.helpers import examples, ingest, read_report


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("spans") / "spans.db"
    with sqlite3.connect(path) as c:
        c.execute("create table t(id integer, day integer, part text)")
        c.executemany(
            "insert into t values (?, ?, ?)",
            [(i, 19000 + i % 4, "train" if i % 5 else "test") for i in range(400)],
        )
        c.execute("create table spans as select distinct day from t")
    return f"sqlite:///{path}"


def _days(out, splits=("train", "eval")) -> list[int]:
    return sorted({e["day"][1][0] for e in examples(out, splits)})


def test_span_n(db, tmp_path):
    report = ingest(tmp_path / "o", connection=db, span=19002,
                    query="select * from t where day = {SPAN}")  # fmt: skip
    assert _days(tmp_path / "o") == [19002] and report["examples"] == 100
    assert report["span"] == 19002 and report["spans"] == [19002]
    assert report["sql"]["all"]["query"] == "select * from t where day = 19002"


def test_span_range_reads_each_span(db, tmp_path):
    report = ingest(tmp_path / "o", connection=db, span_range="19001:19002",
                    query="select * from t where day = {SPAN}", span_feature="span")  # fmt: skip
    assert _days(tmp_path / "o") == [19001, 19002] and report["spans"] == [19001, 19002]
    assert all(e["span"][1] == e["day"][1] for e in examples(tmp_path / "o"))


def test_latest_and_last_spans_from_the_span_query(db, tmp_path):
    common = {"connection": db, "query": "select * from t where day = {SPAN}",
              "span_query": "select day from spans"}  # fmt: skip
    assert ingest(tmp_path / "a", **common)["spans"] == [19003]
    assert ingest(tmp_path / "b", **common, last_spans=2)["spans"] == [19002, 19003]
    assert _days(tmp_path / "b") == [19002, 19003]


def test_spans_need_a_selection(db, tmp_path):
    with pytest.raises(ConfigError, match="span_query: the queries hold span specs"):
        ingest(tmp_path / "o", connection=db, query="select * from t where day = {SPAN}")
    with pytest.raises(ConfigError, match="span: the queries hold no"):
        ingest(tmp_path / "o", connection=db, query="select * from t", span=3)


def test_fill_span_matches_tfx():
    from tfx.components.example_gen import utils

    query = "x >= @span_begin_timestamp and x < @span_end_timestamp and d = @span_yyyymmdd_utc"
    assert fill_span(query, 19001) == utils.get_query_for_span(query, 19001)
    assert fill_span("{YYYY}-{MM}-{DD}/{SPAN}", 19001) == "2022-01-09/19001"


def test_query_split_is_an_input_split(db, tmp_path):
    report = ingest(
        tmp_path / "o",
        connection=db,
        query_split=[
            "train=select * from t where part = 'train'",
            "test=select * from t where part = 'test'",
        ],
    )
    assert report["splits"]["train"]["examples"] == 320
    assert report["splits"]["test"]["examples"] == 80
    assert {e["part"][1][0] for e in examples(tmp_path / "o", ("test",))} == {b"test"}
    assert set(report["sql"]) == {"train", "test"}


def test_query_file(db, tmp_path):
    (tmp_path / "q.sql").write_text("select id from t where id < 10;\n")
    report = ingest(tmp_path / "o", connection=db, query_file=str(tmp_path / "q.sql"))
    assert report["examples"] == 10 and read_report(tmp_path / "o")["schema"] == {"id": "int"}


def test_query_and_query_file_do_not_go_together(db, tmp_path):
    with pytest.raises(ConfigError, match="query_file: cannot go with `query`"):
        ingest(tmp_path / "o", connection=db, query="select 1", query_file="q.sql")
