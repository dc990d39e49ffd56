"""SqlExampleGen in TFX's LocalDagRunner against the test PostgreSQL server:
the Examples artifact holds what the CLI writes, spans come from range_config."""

from __future__ import annotations

import os

import pytest
from tfx.orchestration import metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.proto import example_gen_pb2, range_config_pb2

from beam_ingest import cli
from beam_ingest.example_gen import SqlExampleGen
from tests.helpers import read_report, split_records
from tests.sql.conftest import PASSWORD

_QUERY = "select id, k, t from tfx_rows where day = {SPAN}"


@pytest.fixture(scope="module")
def runs(postgres, tmp_path_factory):
    postgres.psql(
        "create table tfx_rows as select g as id, g % 7 as k, md5(g::text) as t, "
        "19000 + g % 3 as day from generate_series(1, 3000) g"
    )
    os.environ["BEAM_INGEST_TFX_PW"] = PASSWORD
    root = tmp_path_factory.mktemp("tfx")
    gen = SqlExampleGen(
        query=_QUERY, connection=postgres.url(), connection_env="BEAM_INGEST_TFX_PW",
        partition_column="id", partitions=3,
        range_config=range_config_pb2.RangeConfig(static_range=range_config_pb2.StaticRange(
            start_span_number=19001, end_span_number=19001)),
    )  # fmt: skip
    config = metadata.sqlite_metadata_connection_config(str(root / "metadata.sqlite"))
    LocalDagRunner().run(
        tfx_pipeline.Pipeline(pipeline_name="sql", pipeline_root=str(root), components=[gen],
                              enable_cache=False, metadata_connection_config=config)
    )  # fmt: skip
    with metadata.Metadata(config) as m:
        [artifact] = m.store.get_artifacts_by_type("Examples")
    cli_out = root / "cli"
    code = cli.main(["run", "--format", "sql", "--connection", postgres.url(),
                     "--connection-env", "BEAM_INGEST_TFX_PW", "--query", _QUERY,
                     "--span", "19001", "--partition-column", "id", "--partitions", "3",
                     "--output", str(cli_out)])  # fmt: skip
    assert code == 0
    return artifact, cli_out


def test_artifact_equals_the_cli_output(runs):
    artifact, cli_out = runs
    for split in ("train", "eval"):
        assert sorted(split_records(artifact.uri, split)) == sorted(
            split_records(str(cli_out), split)
        )
    assert len(split_records(artifact.uri, "train") + split_records(artifact.uri, "eval")) == 1000


def test_span_is_recorded_on_the_artifact_and_in_both_reports(runs):
    artifact, cli_out = runs
    assert artifact.custom_properties["span"].int_value == 19001
    assert read_report(artifact.uri)["span"] == read_report(str(cli_out))["span"] == 19001
    assert artifact.custom_properties["beam_ingest_examples"].int_value == 1000
    assert artifact.properties["split_names"].string_value == '["train", "eval"]'


def test_query_or_input_config():
    with pytest.raises(ValueError, match="either query or input_config"):
        SqlExampleGen(connection="sqlite:///x.db")
    gen = SqlExampleGen(
        connection="sqlite:///x.db",
        input_config=example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name="train", pattern="select 1"),
            example_gen_pb2.Input.Split(name="eval", pattern="select 2")]),
    )  # fmt: skip
    assert gen.exec_properties["custom_config"] is not None
