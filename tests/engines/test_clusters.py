"""The standalone clusters `make flink-up` / `make spark-up` start, and the CLI's
errors when a cluster or java is not there. None of these needs a job-server
jar."""

from __future__ import annotations

import json
import os
import time
import urllib.request

import pytest
from apache_beam.options.pipeline_options import FlinkRunnerOptions

from beam_ingest import runners
from beam_ingest.cli import main
from beam_ingest.errors import ConfigError


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def fake_jars(tmp_path, monkeypatch):
    monkeypatch.setenv("BEAM_INGEST_JAR_DIR", str(tmp_path))
    for jar in (runners.flink_jar(), runners.spark_jar()):
        open(jar, "wb").close()


def test_flink_cluster_is_the_version_beam_runs_with_2_slots_on_loopback(flink_cluster):
    overview = get_json("http://127.0.0.1:8081/overview")
    assert overview["taskmanagers"] == 1 and overview["slots-total"] == 2
    assert overview["flink-version"].startswith(runners.FLINK_VERSION + ".")
    assert runners.FLINK_VERSION in FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS
    config = {c["key"]: c["value"] for c in get_json("http://127.0.0.1:8081/jobmanager/config")}
    assert config["rest.bind-address"] == config["jobmanager.bind-host"] == "127.0.0.1"


def test_flink_cluster_runs_python_workers_in_the_worker_pool(flink_cluster, fake_jars):
    args = ["--runner=FlinkRunner", "--flink_master=localhost:8081", "--parallelism=2"]
    options = runners.pipeline_options(args).get_all_options(drop_default=True)
    assert options["environment_type"] == "EXTERNAL"
    assert options["environment_config"] == runners.WORKER_POOL


def test_spark_cluster_has_a_worker_on_loopback(spark_cluster, fake_jars):
    master = get_json("http://127.0.0.1:8080/json/")
    assert master["url"] == "spark://127.0.0.1:7077" and master["status"] == "ALIVE"
    (worker,) = master["workers"]
    assert worker["host"] == "127.0.0.1" and worker["cores"] == 2
    options = runners.pipeline_options(
        ["--runner=SparkRunner", "--spark_master_url=spark://127.0.0.1:7077"]
    ).get_all_options(drop_default=True)
    assert options["environment_type"] == "EXTERNAL"


def test_a_missing_jar_with_the_cluster_up_names_make_jars(flink_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("BEAM_INGEST_JAR_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="`make jars`"):
        runners.pipeline_options(["--runner=FlinkRunner", "--flink_master=localhost:8081"])


# --- the CLI's errors (`beam_ingest.cli.main` must build its options with
# `runners.pipeline_options`) ------------------------------------------------------


@pytest.fixture
def csv_run(tmp_path) -> list[str]:
    (tmp_path / "in.csv").write_text("a,b\n1,x\n2,y\n")
    return ["run", "--format", "csv", "--input", str(tmp_path / "in.csv")]


@pytest.mark.parametrize(
    "beam_args, address",
    [
        (["--runner=FlinkRunner", "--flink_master=localhost:1"], "http://localhost:1"),
        (["--runner=SparkRunner", "--spark_master_url=spark://127.0.0.1:1"], "spark://127.0.0.1:1"),
    ],
)
def test_cli_cluster_not_reachable_exits_2_naming_the_address(
    csv_run, tmp_path, capsys, beam_args, address
):
    started = time.time()
    code = main([*csv_run, "--output", str(tmp_path / "out"), "--", *beam_args])
    err = capsys.readouterr().err
    assert time.time() - started < 30
    assert code == 2, err
    assert err.startswith("beam-ingest: error: ") and address in err and "not reachable" in err


def test_cli_without_java_says_so(csv_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    code = main([*csv_run, "--output", str(tmp_path / "out"), "--", "--runner=FlinkRunner"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("beam-ingest: error: no java found")
    assert not os.path.exists(tmp_path / "out")
