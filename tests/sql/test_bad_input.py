"""Bad input to `--format sql`, through the CLI: clear messages, right exit codes,
no password anywhere, nothing half-written."""

from __future__ import annotations

import socket

import pytest

from beam_ingest import cli
from tests.helpers import bad_records
from tests.sql.conftest import PASSWORD
from tests.sql.helpers import examples, read_report


def _run(capsys, *args: str) -> tuple[int, str]:
    code = cli.main(["run", "--format", "sql", *args])
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert PASSWORD not in text
    return code, text


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_names_host_and_port(capsys, tmp_path):
    port = _closed_port()
    url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/postgres"
    code, text = _run(capsys, "--connection", url, "--query", "select 1",
                      "--output", str(tmp_path / "o"))  # fmt: skip
    assert code == 2
    assert f"127.0.0.1:{port}" in text and "refused" in text.lower()
    assert not (tmp_path / "o").exists()


def test_authentication_failure_names_host_and_port_not_the_password(
    capsys, postgres, tmp_path, monkeypatch
):
    monkeypatch.setenv("WRONG_PW", "not-the-" + PASSWORD)
    code, text = _run(capsys, "--connection", postgres.url(), "--connection-env", "WRONG_PW",
                      "--query", "select 1", "--output", str(tmp_path / "o"))  # fmt: skip
    assert code == 2
    assert f"127.0.0.1:{postgres.port}" in text and "password authentication failed" in text
    assert "not-the-" not in text


def test_password_in_the_url_is_never_shown(capsys, postgres, tmp_path):
    url = postgres.url(with_password=True)
    code, text = _run(capsys, "--connection", url, "--query", "select 1 as x",
                      "--output", str(tmp_path / "o"))  # fmt: skip
    assert code == 0, text
    report = (tmp_path / "o" / "ingest_report.json").read_text()
    assert PASSWORD not in report and "postgres:***@127.0.0.1" in report


def test_missing_password_variable(capsys, postgres, tmp_path):
    code, text = _run(capsys, "--connection", postgres.url(), "--connection-env", "NO_SUCH_VAR",
                      "--query", "select 1", "--output", str(tmp_path / "o"))  # fmt: skip
    assert code == 2 and "'NO_SUCH_VAR' is not set" in text


def test_syntax_error_gives_the_servers_message_and_the_query(capsys, pg_url, tmp_path):
    code, text = _run(capsys, "--connection", pg_url, "--query", "selec 1 frm nowhere",
                      "--output", str(tmp_path / "o"))  # fmt: skip
    assert code == 2
    assert 'syntax error at or near "selec"' in text and "selec 1 frm nowhere" in text


def test_missing_table(capsys, pg_url, tmp_path):
    code, text = _run(capsys, "--connection", pg_url, "--query", "select * from no_table",
                      "--output", str(tmp_path / "o"))  # fmt: skip
    assert code == 2 and 'relation "no_table" does not exist' in text


def test_no_rows_is_a_valid_empty_output_with_a_warning(capsys, pg_url, tmp_path, caplog):
    code, text = _run(capsys, "--connection", pg_url, "--output", str(tmp_path / "o"),
                      "--query", "select 1 as x, 'a'::text as y where false")  # fmt: skip
    assert code == 0, text
    report = read_report(tmp_path / "o")
    assert report["records_read"] == report["examples"] == 0
    assert report["schema"] == {"x": "int", "y": "bytes"}
    assert examples(tmp_path / "o") == []
    assert "the query returned no rows" in caplog.text


def test_a_bad_row_is_a_dead_letter_with_its_row_number(capsys, pg_url, tmp_path):
    """A NULL inside an array has no tf.Example form: that row alone is dead-lettered."""
    query = ("select g as id, case when g = 3 then array[1, null] else array[g] end as a "
             "from generate_series(1, 5) g")  # fmt: skip
    code, text = _run(capsys, "--connection", pg_url, "--output", str(tmp_path / "o"),
                      "--query", query)  # fmt: skip
    assert code == 1 and "1 bad record" in text and "a list holds a null item" in text
    assert not (tmp_path / "o").exists()
    code, text = _run(capsys, "--connection", pg_url, "--output", str(tmp_path / "o"),
                      "--query", query, "--max-bad-records", "1")  # fmt: skip
    assert code == 0, text
    [bad] = bad_records(str(tmp_path / "o"))
    assert bad["record"] == 2 and bad["file"].startswith("sql partition 1/1")
    assert '"id": 3' in bad["raw"]
    assert sorted(e["id"][1][0] for e in examples(tmp_path / "o")) == [1, 2, 4, 5]


def test_query_and_input_do_not_go_together(capsys, pg_url, tmp_path):
    code, text = _run(capsys, "--connection", pg_url, "--query", "select 1", "--input", "x",
                      "--output", str(tmp_path / "o"))  # fmt: skip
    assert code == 2 and "--input: not used with format sql" in text


def test_no_query(capsys, pg_url, tmp_path):
    code, text = _run(capsys, "--connection", pg_url, "--output", str(tmp_path / "o"))
    assert code == 2 and "--query: required for format sql" in text


def test_sql_options_refused_for_other_formats(capsys, tmp_path):
    code = cli.main(["run", "--format", "csv", "--input", "x.csv", "--partitions", "2",
                     "--output", str(tmp_path / "o")])  # fmt: skip
    assert code == 2 and "--partitions: only applies to format sql" in capsys.readouterr().err


def test_sqlite_file_missing(capsys, tmp_path):
    code, text = _run(capsys, "--connection", f"sqlite:///{tmp_path}/nope.db", "--query",
                      "select 1", "--output", str(tmp_path / "o"))  # fmt: skip
    assert code == 2 and "nope.db' does not exist" in text


def test_a_type_that_changes_between_partitions_fails_the_run(capsys, tmp_path):
    import sqlite3

    with sqlite3.connect(tmp_path / "t.db") as c:
        c.execute("create table t(id integer, v)")
        c.executemany("insert into t values (?, ?)",
                      [(i, i if i < 1500 else f"x{i}") for i in range(3000)])  # fmt: skip
    code, text = _run(capsys, "--connection", f"sqlite:///{tmp_path}/t.db", "--query",
                      "select * from t", "--partition-column", "id", "--partitions", "2",
                      "--output", str(tmp_path / "o"))  # fmt: skip
    assert code == 1
    assert "column 'v' changed type from int64 to large_binary" in text and "CAST" in text
    assert not (tmp_path / "o").exists()


def test_python_api_source(tmp_path):
    import duckdb

    from beam_ingest import IngestConfig
    from beam_ingest.connectors.sql import ReadSql
    from tests.helpers import run_ingest

    with duckdb.connect(str(tmp_path / "t.duckdb")) as c:
        c.execute("create table t as select range as id from range(100)")
    source = ReadSql("select * from t", connection=f"duckdb:///{tmp_path}/t.duckdb",
                     partition_column="id", partitions=4)  # fmt: skip
    report = run_ingest(IngestConfig(output_dir=str(tmp_path / "o"), source=source))
    assert report["examples"] == 100 and len(report["sql"]["all"]["partitions"]) == 5


def test_a_column_that_disappears_after_planning_fails_the_run(postgres, pg_url, tmp_path):
    import apache_beam as beam

    from beam_ingest import Ingest
    from beam_ingest.config import build_config

    postgres.psql(
        "create table shrinking as select g as id, g as gone from generate_series(1, 50) g"
    )
    config = build_config({"format": "sql", "output": str(tmp_path / "o"), "connection": pg_url,
                           "query": "select * from shrinking"})  # fmt: skip
    pipeline = beam.Pipeline()
    _ = pipeline | Ingest(config)  # planned with both columns
    postgres.psql("alter table shrinking drop column gone")
    with pytest.raises(Exception, match=r"columns changed since the pipeline was built") as e:
        pipeline.run().wait_until_finish()
    assert "missing: ['gone']" in str(e.value)
    assert not (tmp_path / "o").exists()
