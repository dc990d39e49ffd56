"""`runners.pipeline_options`: the defaults it adds for Flink and Spark, and its
errors, without a cluster or a real jar."""

from __future__ import annotations

import os
import time

import pytest
from apache_beam.options.pipeline_options import FlinkRunnerOptions, PipelineOptions

from beam_ingest import runners
from beam_ingest.errors import ConfigError


@pytest.fixture
def jar_dir(tmp_path, monkeypatch):
    """A jar folder with (empty stand-ins for) both job-server jars."""
    monkeypatch.setenv("BEAM_INGEST_JAR_DIR", str(tmp_path))
    for jar in (runners.flink_jar(), runners.spark_jar()):
        open(jar, "wb").close()
    return tmp_path


def given(options: PipelineOptions) -> dict:
    return options.get_all_options(drop_default=True)


def test_other_runners_get_exactly_what_was_given():
    assert given(runners.pipeline_options([])) == {}
    args = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    assert given(runners.pipeline_options(args)) == {
        "direct_running_mode": "multi_processing",
        "direct_num_workers": 2,
    }


def test_bad_beam_options_are_a_config_error_with_argparse_reason():
    with pytest.raises(ConfigError, match=r"--flink_version: invalid choice: '9\.9'"):
        runners.pipeline_options(["--runner=FlinkRunner", "--flink_version=9.9"])


def test_the_flink_version_is_one_beam_publishes_and_the_jar_is_named_for_it():
    assert runners.FLINK_VERSION in FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS
    from apache_beam.version import __version__

    assert runners.flink_jar().endswith(f"beam-runners-flink-2.2-job-server-{__version__}.jar")
    assert runners.spark_jar().endswith(f"beam-runners-spark-3-job-server-{__version__}.jar")


@pytest.mark.parametrize("runner", ["FlinkRunner", "flink"])
def test_embedded_flink_gets_loopback_version_jar_java_and_java17_flags(jar_dir, runner):
    parsed = runners.pipeline_options([f"--runner={runner}"])
    options = given(parsed)
    assert options["environment_type"] == "LOOPBACK"
    assert parsed.view_as(FlinkRunnerOptions).flink_version == runners.FLINK_VERSION
    assert options["flink_job_server_jar"] == runners.flink_jar()
    assert os.access(options["job_server_java_launcher"], os.X_OK)
    assert list(runners.JAVA17_FLINK_OPTS) == options["job_server_jvm_properties"]
    assert "--add-opens=java.base/java.util=ALL-UNNAMED" in options["job_server_jvm_properties"]


def test_what_the_user_gives_wins(jar_dir, tmp_path):
    jar = tmp_path / "my.jar"
    jar.touch()
    args = ["--runner=FlinkRunner", f"--flink_job_server_jar={jar}", "--flink_version=1.20",
            "--environment_type=PROCESS", "--job_server_java_launcher=/bin/true",
            "--job_server_jvm_property=--add-opens=java.base/java.lang=ALL-UNNAMED"]  # fmt: skip
    options = given(runners.pipeline_options(args))
    assert options["flink_job_server_jar"] == str(jar)
    assert options["flink_version"] == "1.20"
    assert options["environment_type"] == "PROCESS"
    assert options["job_server_java_launcher"] == "/bin/true"
    props = options["job_server_jvm_properties"]
    assert props.count("--add-opens=java.base/java.lang=ALL-UNNAMED") == 1


def test_an_own_job_server_gets_nothing_added():
    args = ["--runner=FlinkRunner", "--job_endpoint=localhost:8099"]
    assert given(runners.pipeline_options(args)) == {
        "runner": "FlinkRunner",
        "job_endpoint": "localhost:8099",
    }


def test_a_missing_jar_names_make_jars_and_the_maven_command(tmp_path, monkeypatch):
    monkeypatch.setenv("BEAM_INGEST_JAR_DIR", str(tmp_path / "none"))
    with pytest.raises(ConfigError) as error:
        runners.pipeline_options(["--runner=FlinkRunner"])
    message = str(error.value)
    assert "`make jars`" in message and runners.flink_jar() in message
    assert "mvn dependency:copy -Dartifact=org.apache.beam:beam-runners-flink-2.2-job-server:" in (
        message
    )
    with pytest.raises(ConfigError, match=r"make jars FLINK_VERSION=1\.20"):
        runners.pipeline_options(["--runner=FlinkRunner", "--flink_version=1.20"])
    with pytest.raises(ConfigError, match="beam-runners-spark-3-job-server"):
        runners.pipeline_options(["--runner=SparkRunner"])


def test_no_java_is_a_clear_config_error(jar_dir, monkeypatch, tmp_path):
    java = runners.find_java()
    assert java, "this test needs a java to hide"
    monkeypatch.setenv("PATH", str(tmp_path))  # no java there
    monkeypatch.delenv("JAVA_HOME", raising=False)
    for runner in ("FlinkRunner", "SparkRunner"):
        with pytest.raises(ConfigError, match=r"no java found: .*install a Java 17"):
            runners.pipeline_options([f"--runner={runner}"])
    home = os.path.dirname(os.path.dirname(os.path.realpath(java)))
    monkeypatch.setenv("JAVA_HOME", home)
    options = given(runners.pipeline_options(["--runner=FlinkRunner"]))
    assert options["job_server_java_launcher"] == os.path.join(home, "bin", "java")


def test_an_unreachable_cluster_is_a_config_error_naming_it_within_seconds(jar_dir):
    for args, address in (
        (["--runner=FlinkRunner", "--flink_master=localhost:1"], "http://localhost:1"),
        (["--runner=SparkRunner", "--spark_master_url=spark://127.0.0.1:1"], "spark://127.0.0.1:1"),
    ):
        started = time.time()
        with pytest.raises(ConfigError, match="not reachable") as error:
            runners.pipeline_options(args)
        assert address in str(error.value)
        assert time.time() - started < 30


def test_spark_local_is_left_to_beams_loopback_default(jar_dir):
    options = given(runners.pipeline_options(["--runner=SparkRunner"]))
    assert options["spark_job_server_jar"] == runners.spark_jar()
    assert "environment_type" not in options  # Beam picks LOOPBACK for local[N]
    assert "-Djdk.reflect.useDirectMethodHandle=false" in options["job_server_jvm_properties"]


def test_a_cluster_elsewhere_needs_an_environment_type_and_never_gets_docker():
    with pytest.raises(ConfigError, match=r"on another machine: .*--environment_type"):
        runners._worker_defaults(PipelineOptions([]), "Flink", "flink-jobmanager")
    given_type = PipelineOptions(["--environment_type=DOCKER"])
    assert runners._worker_defaults(given_type, "Flink", "flink-jobmanager") == []


def test_a_local_cluster_without_its_worker_pool_names_the_pool(monkeypatch):
    monkeypatch.setattr(runners, "WORKER_POOL", "localhost:1")
    for host in ("localhost", "127.0.0.1", "::1"):
        with pytest.raises(ConfigError, match="no Beam worker pool answers at localhost:1"):
            runners._worker_defaults(PipelineOptions([]), "Spark", host)
