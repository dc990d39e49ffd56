"""The same ingestion with the Python workers as separate processes, in the
worker pool the Flink and Spark clusters use (engines/worker_pool.py), driven
by Beam's own portable job service, as on the DirectRunner: every format the
CLI reads, dead letters under --max-bad-records, and byte-identical
--deterministic output, all cases in one job.

Jobs on Flink and Spark themselves need Beam's job-server jars, which Maven
Central does not serve to this machine (docs/runners.md, "Not finished").
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.engines import jobs

ROOT = Path(__file__).resolve().parents[2]
FLINK = ["--runner=FlinkRunner", "--flink_master=localhost:8081", "--parallelism=2"]
SPARK = ["--runner=SparkRunner", "--spark_master_url=spark://127.0.0.1:7077"]


@pytest.fixture(scope="module")
def worker_pool():
    """engines/worker_pool.py on a free loopback port; its address."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    pool = subprocess.Popen(
        [sys.executable, str(ROOT / "engines" / "worker_pool.py"), "--port", str(port)], env=env
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert pool.poll() is None, "the worker pool exited"
                time.sleep(0.2)
        yield f"localhost:{port}", pool.pid
    finally:
        pool.terminate()
        pool.wait(30)


def test_worker_pool_processes_write_what_the_direct_runner_writes(
    worker_pool, cases, direct, tmp_path
):
    address, _ = worker_pool
    args = ["--runner=PortableRunner", "--job_endpoint=embed",
            "--environment_type=EXTERNAL", f"--environment_config={address}"]  # fmt: skip
    jobs.run_cases(cases, tmp_path, args)
    jobs.assert_same_as_direct(direct, tmp_path, "worker pool")
