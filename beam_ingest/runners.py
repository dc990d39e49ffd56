"""Beam pipeline options for the runners beam-ingest supports.

`pipeline_options(args)` is the one place where the CLI, the TFX executor and
the Flex Template turn Beam arguments into `PipelineOptions`.

For the Flink and Spark runners it fills in what the user did not give, so that
`-- --runner=FlinkRunner` alone runs:

- the job-server jar from the project's cache (`make jars` puts it in
  `<venv>/share/jars/`): `--flink_job_server_jar` / `--spark_job_server_jar`,
  and for Flink the `--flink_version` the jar is built for;
- the Java launcher, checked to exist (`--job_server_java_launcher`, from PATH
  or JAVA_HOME), and the `--add-opens` JVM options Java 17 needs
  (`--job_server_jvm_properties`, put before `-jar` by Beam's JavaJarJobServer);
- the SDK environment: LOOPBACK (this process) for an embedded cluster
  (`--flink_master` [auto]/[local], `--spark_master_url` local[...]); for a
  cluster on this machine EXTERNAL on the worker pool `make flink-up` /
  `make spark-up` start (one Python process per worker); a cluster on another
  machine must be given `--environment_type` (DOCKER is never a default);
- a check that the cluster (and the worker pool) answers, so a cluster that is
  down is a ConfigError naming the address within seconds, not a hang.

Everything the user gives wins; only missing options are added.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import os
import shutil
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence

from apache_beam.options.pipeline_options import PipelineOptions

from beam_ingest.errors import ConfigError

__all__ = [
    "FLINK_VERSION",
    "JAVA17_FLINK_OPTS",
    "JAVA17_SPARK_OPTS",
    "WORKER_POOL",
    "flink_jar",
    "host_port",
    "jar_dir",
    "job_server_version",
    "pipeline_options",
    "spark_jar",
]

# The Flink line the project's jar and `make flink-up` cluster use: one of
# Beam 2.77's FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS (1.19 ... 2.2), and
# Beam's own default there. The standalone cluster comes from the
# apache-flink 2.2.x wheel.
FLINK_VERSION = "2.2"
SPARK_JOB_SERVER = "beam-runners-spark-3-job-server"

# The address of the Beam worker pool (`python -m engines.worker_pool`) that
# `make flink-up` / `make spark-up` start next to the cluster.
WORKER_POOL = os.environ.get("BEAM_INGEST_WORKER_POOL", "localhost:50000")

# What Flink's own config.yaml (env.java.opts.all) gives its JVMs on Java 17;
# the Flink job server embeds a Flink MiniCluster and needs the same.
JAVA17_FLINK_OPTS = (
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.net=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.text=ALL-UNNAMED",
    "--add-opens=java.base/java.time=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED",
)
# What Spark 3.5's launcher (JavaModuleOptions) gives its JVMs on Java 17;
# Beam's SparkJarJobServer adds only four of them.
JAVA17_SPARK_OPTS = (
    "-XX:+IgnoreUnrecognizedVMOptions",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.invoke=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.net=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.cs=ALL-UNNAMED",
    "--add-opens=java.base/sun.security.action=ALL-UNNAMED",
    "--add-opens=java.base/sun.util.calendar=ALL-UNNAMED",
    "-Djdk.reflect.useDirectMethodHandle=false",
)
# Seconds to wait for a cluster or worker pool to answer before giving up.
PROBE_TIMEOUT = 5.0
_EMBEDDED_FLINK = ("[auto]", "[local]")


def jar_dir() -> str:
    """Where `make jars` caches the job-server jars: `<venv>/share/jars`."""
    return os.environ.get("BEAM_INGEST_JAR_DIR") or os.path.join(sys.prefix, "share", "jars")


def job_server_version() -> str:
    """The Beam version of the job-server jars: the installed SDK's, unless
    BEAM_INGEST_JOB_SERVER_VERSION names another (e.g. one Maven serves)."""
    from apache_beam.version import __version__

    return os.environ.get("BEAM_INGEST_JOB_SERVER_VERSION") or __version__


def flink_artifact(flink_version: str = FLINK_VERSION) -> str:
    return f"beam-runners-flink-{flink_version}-job-server"


def flink_jar(flink_version: str = FLINK_VERSION) -> str:
    name = f"{flink_artifact(flink_version)}-{job_server_version()}.jar"
    return os.path.join(jar_dir(), name)


def spark_jar() -> str:
    return os.path.join(jar_dir(), f"{SPARK_JOB_SERVER}-{job_server_version()}.jar")


def fetch_command(artifact: str) -> str:
    """The Maven command that puts `artifact`'s jar where `flink_jar` looks."""
    return (
        f"mvn dependency:copy -Dartifact=org.apache.beam:{artifact}:{job_server_version()} "
        f"-DoutputDirectory={jar_dir()}"
    )


def pipeline_options(args: Sequence[str]) -> PipelineOptions:
    """`PipelineOptions` from Beam arguments, with the defaults a local Flink or
    Spark run needs added (see the module docstring).

    Raises:
        ConfigError: arguments Beam cannot parse; a job-server jar not fetched;
            no java; a Flink or Spark cluster (or its worker pool) that does
            not answer.
    """
    args = list(args)
    options = _parse(args)
    runner = _runner_name(options)
    if runner == "flink":
        args = args + _flink_defaults(options)
    elif runner == "spark":
        args = args + _spark_defaults(options)
    else:
        return options
    return _parse(args)


def _parse(args: list[str]) -> PipelineOptions:
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):  # argparse prints its usage there
            options = PipelineOptions(args)
            options.get_all_options()  # parses: an invalid choice fails here
    except (Exception, SystemExit) as e:
        lines = [line for line in stderr.getvalue().splitlines() if "error:" in line]
        reason = lines[-1].split("error:", 1)[1].strip() if lines else e
        raise ConfigError(f"bad Beam pipeline options {args}: {reason}") from e
    return options


def _runner_name(options: PipelineOptions) -> str:
    runner = options.get_all_options().get("runner") or ""
    if not isinstance(runner, str):  # a runner object
        runner = type(runner).__name__
    name = runner.rsplit(".", 1)[-1].lower()
    return name[: -len("runner")] if name.endswith("runner") else name


def _given(options: PipelineOptions, name: str):
    return options.get_all_options(drop_default=True).get(name)


def _flink_defaults(options: PipelineOptions) -> list[str]:
    if _given(options, "job_endpoint"):  # the user runs a job server of their own
        return []
    added: list[str] = []
    master = (_given(options, "flink_master") or "[auto]").strip()
    embedded = master in _EMBEDDED_FLINK
    if not embedded:
        _probe_flink(master)
    added += _java_defaults(options, JAVA17_FLINK_OPTS)
    version = _given(options, "flink_version") or FLINK_VERSION
    if not _given(options, "flink_version"):
        added.append(f"--flink_version={version}")
    if not _given(options, "flink_job_server_jar"):
        jar = flink_jar(version)
        if not os.path.isfile(jar):
            make = "make jars" + ("" if version == FLINK_VERSION else f" FLINK_VERSION={version}")
            raise ConfigError(
                f"the Flink {version} job server jar {jar} is missing: fetch it with "
                f"`{make}` ({fetch_command(flink_artifact(version))}), or give "
                "--flink_job_server_jar"
            )
        added.append(f"--flink_job_server_jar={jar}")
    if embedded:
        if not _given(options, "environment_type"):
            added.append("--environment_type=LOOPBACK")
    else:
        host = urllib.parse.urlsplit(master if "://" in master else f"//{master}").hostname
        added += _worker_defaults(options, "Flink", host or "localhost")
    return added


def _spark_defaults(options: PipelineOptions) -> list[str]:
    if _given(options, "job_endpoint"):
        return []
    added: list[str] = []
    master = _given(options, "spark_master_url") or "local[4]"
    cluster = master.startswith("spark://")
    if cluster:
        _probe_spark(master)
    added += _java_defaults(options, JAVA17_SPARK_OPTS)
    if not _given(options, "spark_job_server_jar"):
        jar = spark_jar()
        if not os.path.isfile(jar):
            raise ConfigError(
                f"the Spark job server jar {jar} is missing: fetch it with `make jars` "
                f"({fetch_command(SPARK_JOB_SERVER)}), or give --spark_job_server_jar"
            )
        added.append(f"--spark_job_server_jar={jar}")
    if cluster:
        host, _ = host_port(master.removeprefix("spark://"), 7077)
        added += _worker_defaults(options, "Spark", host)
    # local[N]: Beam's SparkRunner defaults to LOOPBACK itself.
    return added


def _java_defaults(options: PipelineOptions, jvm_opts: Sequence[str]) -> list[str]:
    added = []
    launcher = _given(options, "job_server_java_launcher")
    if launcher:
        if not (shutil.which(launcher) or os.access(launcher, os.X_OK)):
            raise ConfigError(f"--job_server_java_launcher {launcher} is not an executable")
    else:
        java = find_java()
        if java is None:
            raise ConfigError(
                "no java found: the Flink and Spark runners start a Java job server; "
                "install a Java 17 runtime (apt-get install openjdk-17-jre-headless), "
                "put it on PATH or set JAVA_HOME, or give --job_server_java_launcher"
            )
        added.append(f"--job_server_java_launcher={java}")
    given = set(_given(options, "job_server_jvm_properties") or ())
    added += [f"--job_server_jvm_property={opt}" for opt in jvm_opts if opt not in given]
    return added


def find_java() -> str | None:
    """`java` from PATH, else from JAVA_HOME; None if neither has one."""
    java = shutil.which("java")
    if java:
        return java
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return os.path.join(home, "bin", "java")
    return None


def _worker_defaults(options: PipelineOptions, engine: str, master_host: str) -> list[str]:
    """A cluster on this machine runs the Python workers in the worker pool
    beside it; a cluster elsewhere must be told where (DOCKER is no default)."""
    if _given(options, "environment_type"):
        return []
    if not _is_loopback(master_host):
        raise ConfigError(
            f"the {engine} cluster at {master_host} is on another machine: say where its task "
            "managers run the Python workers with --environment_type: EXTERNAL with "
            "--environment_config=HOST:PORT of a Beam worker pool on each of them, PROCESS, or "
            "DOCKER with an image that has beam-ingest installed"
        )
    host, port = host_port(WORKER_POOL, 50000)
    if not _answers(host, port):
        up = "make flink-up" if engine == "Flink" else "make spark-up"
        raise ConfigError(
            f"no Beam worker pool answers at {WORKER_POOL} (the Python workers of a "
            f"{engine} cluster run there): start it with `{up}`, or give "
            "--environment_type (EXTERNAL with --environment_config=HOST:PORT, or PROCESS)"
        )
    return ["--environment_type=EXTERNAL", f"--environment_config={WORKER_POOL}"]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _probe_flink(master: str) -> None:
    url = master if "://" in master else f"http://{master}"
    overview = url.rstrip("/") + "/overview"
    try:
        with urllib.request.urlopen(overview, timeout=PROBE_TIMEOUT) as response:
            body = json.loads(response.read())
    except (OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise ConfigError(
            f"the Flink cluster at {url} is not reachable ({reason}); start it with "
            "`make flink-up`, or check --flink_master"
        ) from e
    if not body.get("slots-total"):
        raise ConfigError(f"the Flink cluster at {url} has no task slots (no TaskManager)")


def _probe_spark(master: str) -> None:
    host, port = host_port(master.removeprefix("spark://"), 7077)
    if not _answers(host, port):
        raise ConfigError(
            f"the Spark master at {master} is not reachable; start it with "
            "`make spark-up`, or check --spark_master_url"
        )


def host_port(address: str, default_port: int) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(f"//{address}")
    return parsed.hostname or "localhost", parsed.port or default_port


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT):
            return True
    except OSError:
        return False
