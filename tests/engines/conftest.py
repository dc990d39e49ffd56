"""Fixtures of the engine suite: job-server jars, a standalone Flink and Spark
cluster on 127.0.0.1 (started once per session, stopped at its end), inputs in
every format and the DirectRunner outputs the engines are compared with.

A cluster that does not start fails its tests with `make <name>-up`'s output;
nothing is skipped.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.engines import jobs

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = [sys.executable, str(ROOT / "engines" / "cluster.py")]


def _engines(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLUSTER, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def _cluster(name: str):
    done = _engines(f"{name}-up")
    if done.returncode != 0:
        _engines(f"{name}-down")
        pytest.fail(f"`make {name}-up` failed:\n{done.stdout}\n{done.stderr}", pytrace=False)
    try:
        yield
    finally:
        down = _engines(f"{name}-down")
        assert down.returncode == 0, down.stderr


@pytest.fixture(scope="session")
def flink_cluster():
    """A JobManager and a TaskManager (2 slots) on 127.0.0.1:8081, plus the worker pool."""
    yield from _cluster("flink")


@pytest.fixture(scope="session")
def spark_cluster():
    """A Spark master on spark://127.0.0.1:7077 and a worker, plus the worker pool."""
    yield from _cluster("spark")


@pytest.fixture(scope="session")
def cases(tmp_path_factory) -> dict[str, list[str]]:
    return jobs.write_cases(tmp_path_factory.mktemp("engine-inputs"))


@pytest.fixture(scope="session")
def direct(cases, tmp_path_factory) -> Path:
    """The cases' outputs on the DirectRunner (in process)."""
    out = tmp_path_factory.mktemp("direct")
    jobs.run_cases(cases, out, [])
    return out
