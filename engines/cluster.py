"""Fetch the Beam job-server jars; start and stop a standalone Flink or Spark
cluster on 127.0.0.1. Run with the project's venv Python (the Makefile does):

    python engines/cluster.py jars [--flink-version 2.2] [--no-spark]
    python engines/cluster.py flink-up | flink-down | spark-up | spark-down | status

- jars: `mvn dependency:copy` of org.apache.beam:beam-runners-flink-<v>-job-server
  and beam-runners-spark-3-job-server at the Beam SDK's version (or
  BEAM_INGEST_JOB_SERVER_VERSION) into <venv>/share/jars; a jar already there is
  not fetched again.
- flink-up: the Flink distribution inside the apache-flink / apache-flink-libraries
  wheels, installed with `pip install --no-deps --target <venv>/share/flink` (never
  into the venv itself: apache-flink pins an old Beam), FLINK_HOME its `pyflink`;
  a JobManager and one TaskManager with 2 slots, every address 127.0.0.1, REST on
  port 8081 (FLINK_REST_PORT); and the Beam worker pool (engines/worker_pool.py,
  port 50000, BEAM_INGEST_WORKER_POOL) that runs the Python workers.
- spark-up: Spark's jars inside the pyspark 3.5 wheel (`--target <venv>/share/spark`),
  a Master on spark://127.0.0.1:7077 (SPARK_MASTER_PORT, web UI 8080) and a Worker
  with 2 cores (web UI 8082), plus the same worker pool.
- *-down: stop what *-up started (by the process ids it wrote), nothing else.

State (configuration, logs, pid files) lives in <venv>/var/engines.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from _process import (
    FLINK_DIR,
    FLINK_REST_PORT,
    FLINK_RPC_PORT,
    FLINK_SLOTS,
    FLINK_WHEEL_VERSION,
    HOST,
    PYSPARK_VERSION,
    SPARK_CORES,
    SPARK_DIR,
    SPARK_MASTER_PORT,
    SPARK_MASTER_UI_PORT,
    SPARK_MEMORY,
    SPARK_WORKER_UI_PORT,
    STATE,
    EngineError,
    _alive,
    jars,
    java_env,
    need_free,
    pids,
    pip_target,
    port_open,
    spawn,
    stop_pid_file,
    wait_for,
    worker_pool_down,
    worker_pool_up,
)

from beam_ingest import runners


def flink_home() -> Path:
    return FLINK_DIR / "pyflink"


def install_flink() -> Path:
    major_minor = ".".join(FLINK_WHEEL_VERSION.split(".")[:2])
    if major_minor != runners.FLINK_VERSION:
        raise EngineError(
            f"apache-flink {FLINK_WHEEL_VERSION} does not match the Flink {runners.FLINK_VERSION} "
            "job server beam-ingest uses (runners.FLINK_VERSION)"
        )
    pip_target(
        FLINK_DIR,
        [f"apache-flink=={FLINK_WHEEL_VERSION}", f"apache-flink-libraries=={FLINK_WHEEL_VERSION}"],
        FLINK_WHEEL_VERSION,
    )
    return flink_home()


def flink_config(home: Path, conf: Path) -> None:
    if conf.exists():
        shutil.rmtree(conf)
    shutil.copytree(home / "conf", conf)
    java_opts = " ".join(runners.JAVA17_FLINK_OPTS)
    (conf / "config.yaml").write_text(
        f"""# written by engines/cluster.py flink-up
env:
  java:
    opts:
      all: {java_opts}
jobmanager:
  bind-host: {HOST}
  rpc:
    address: {HOST}
    port: {FLINK_RPC_PORT}
  memory:
    process:
      size: 1024m
  execution:
    failover-strategy: region
taskmanager:
  bind-host: {HOST}
  host: {HOST}
  numberOfTaskSlots: {FLINK_SLOTS}
  memory:
    process:
      size: 2048m
parallelism:
  default: 1
rest:
  address: {HOST}
  bind-address: {HOST}
  port: {FLINK_REST_PORT}
blob:
  server:
    port: 0
"""
    )
    (conf / "masters").write_text(f"{HOST}:{FLINK_REST_PORT}\n")
    (conf / "workers").write_text(f"{HOST}\n")


def flink_env(home: Path) -> dict[str, str]:
    env = java_env()
    env.update(
        FLINK_HOME=str(home),
        FLINK_CONF_DIR=str(STATE / "flink" / "conf"),
        FLINK_LOG_DIR=str(STATE / "flink" / "log"),
        FLINK_PID_DIR=str(STATE / "flink"),
    )
    return env


def flink_overview() -> dict | None:
    try:
        url = f"http://{HOST}:{FLINK_REST_PORT}/overview"
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


def flink_up() -> None:
    home = install_flink()
    if (STATE / "flink").is_dir() and flink_overview():
        print(f"Flink is up: http://{HOST}:{FLINK_REST_PORT}")
        return
    need_free(FLINK_REST_PORT, "Flink REST")
    need_free(FLINK_RPC_PORT, "Flink JobManager RPC")
    started = time.time()
    flink_config(home, STATE / "flink" / "conf")
    (STATE / "flink" / "log").mkdir(parents=True, exist_ok=True)
    env = flink_env(home)
    worker_pool_up(env)
    subprocess.run(["bash", str(home / "bin" / "start-cluster.sh")], env=env, check=True)
    try:
        wait_for(
            lambda: (flink_overview() or {}).get("slots-total", 0) >= FLINK_SLOTS,
            f"Flink at http://{HOST}:{FLINK_REST_PORT} with {FLINK_SLOTS} task slots",
        )
    except EngineError as e:
        logs = sorted((STATE / "flink" / "log").glob("*"))
        tails = [f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-15:])
                 for p in logs]  # fmt: skip
        raise EngineError("\n".join([str(e), *tails])) from None
    print(
        f"Flink {FLINK_WHEEL_VERSION} is up in {time.time() - started:.0f} s: "
        f"http://{HOST}:{FLINK_REST_PORT} ({FLINK_SLOTS} slots); "
        f"worker pool {runners.WORKER_POOL}; logs {STATE / 'flink' / 'log'}"
    )


def flink_down() -> None:
    home = flink_home()
    if (STATE / "flink").is_dir() and home.is_dir():
        env = flink_env(home)
        subprocess.run(["bash", str(home / "bin" / "stop-cluster.sh")], env=env, check=False)
        for pid_file in (STATE / "flink").glob("*.pid"):
            for pid in [int(p) for p in pid_file.read_text().split() if p.isdigit()]:
                deadline = time.time() + 20
                while _alive(pid) and time.time() < deadline:
                    time.sleep(0.2)
                if _alive(pid):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(STATE / "flink", ignore_errors=True)
    worker_pool_down()
    print("Flink is down")


def flink_jvm_pids() -> list[int]:
    return [p for f in (STATE / "flink").glob("*.pid") for p in pids(f"flink/{f.stem}")]


# --- Spark --------------------------------------------------------------------


def spark_home() -> Path:
    return SPARK_DIR / "pyspark"


def install_spark() -> Path:
    if not PYSPARK_VERSION.startswith("3."):
        raise EngineError(f"pyspark {PYSPARK_VERSION}: Beam's spark-3 job server needs Spark 3")
    pip_target(SPARK_DIR, [f"pyspark=={PYSPARK_VERSION}"], PYSPARK_VERSION)
    return spark_home()


def spark_env(home: Path) -> dict[str, str]:
    env = java_env()
    env.update(
        SPARK_HOME=str(home),
        SPARK_LOCAL_IP=HOST,
        SPARK_LOCAL_DIRS=str(STATE / "spark" / "local"),
        SPARK_WORKER_DIR=str(STATE / "spark" / "work"),
        SPARK_LOG_DIR=str(STATE / "spark" / "logs"),
        SPARK_CONF_DIR=str(STATE / "spark" / "conf"),
        PYSPARK_PYTHON=sys.executable,
    )
    return env


def spark_master_json() -> dict | None:
    try:
        url = f"http://{HOST}:{SPARK_MASTER_UI_PORT}/json/"
        with urllib.request.urlopen(url, timeout=2) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


def spark_up() -> None:
    home = install_spark()
    if (STATE / "spark").is_dir() and (spark_master_json() or {}).get("aliveworkers"):
        print(f"Spark is up: spark://{HOST}:{SPARK_MASTER_PORT}")
        return
    for port, what in ((SPARK_MASTER_PORT, "Spark master"), (SPARK_MASTER_UI_PORT, "Spark UI"),
                       (SPARK_WORKER_UI_PORT, "Spark worker UI")):  # fmt: skip
        need_free(port, what)
    started = time.time()
    for sub in ("local", "work", "logs", "conf"):
        (STATE / "spark" / sub).mkdir(parents=True, exist_ok=True)
    env = spark_env(home)
    worker_pool_up(env)
    spark_class = str(home / "bin" / "spark-class")
    spawn(
        "spark/master",
        ["bash", spark_class, "org.apache.spark.deploy.master.Master", "--host", HOST,
         "--port", str(SPARK_MASTER_PORT), "--webui-port", str(SPARK_MASTER_UI_PORT)],
        env,
    )  # fmt: skip
    wait_for(
        lambda: port_open(SPARK_MASTER_PORT), "the Spark master", STATE / "logs/spark/master.log"
    )
    spawn(
        "spark/worker",
        ["bash", spark_class, "org.apache.spark.deploy.worker.Worker",
         f"spark://{HOST}:{SPARK_MASTER_PORT}", "--host", HOST, "--cores", str(SPARK_CORES),
         "--memory", SPARK_MEMORY, "--webui-port", str(SPARK_WORKER_UI_PORT),
         "--work-dir", str(STATE / "spark" / "work")],
        env,
    )  # fmt: skip
    wait_for(
        lambda: (spark_master_json() or {}).get("aliveworkers", 0) >= 1,
        "a Spark worker registered with the master",
        STATE / "logs/spark/worker.log",
    )
    print(
        f"Spark {PYSPARK_VERSION} is up in {time.time() - started:.0f} s: "
        f"spark://{HOST}:{SPARK_MASTER_PORT} (UI http://{HOST}:{SPARK_MASTER_UI_PORT}, "
        f"{SPARK_CORES} cores); worker pool {runners.WORKER_POOL}"
    )


def spark_down() -> None:
    stop_pid_file(STATE / "spark" / "worker.pid")
    stop_pid_file(STATE / "spark" / "master.pid")
    shutil.rmtree(STATE / "spark", ignore_errors=True)
    shutil.rmtree(STATE / "logs" / "spark", ignore_errors=True)
    worker_pool_down()
    print("Spark is down")


def spark_jvm_pids() -> list[int]:
    return pids("spark/master") + pids("spark/worker")


def status() -> dict:
    return {
        "jars": {
            "flink": runners.flink_jar() if os.path.isfile(runners.flink_jar()) else None,
            "spark": runners.spark_jar() if os.path.isfile(runners.spark_jar()) else None,
        },
        "flink": flink_overview(),
        "spark": (spark_master_json() or {}).get("status"),
        "worker_pool": port_open(*reversed(runners.host_port(runners.WORKER_POOL, 50000))),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    jar = sub.add_parser("jars", help="fetch the job-server jars with Maven")
    jar.add_argument("--flink-version", default=runners.FLINK_VERSION)
    jar.add_argument("--no-spark", action="store_true")
    for name in ("flink-up", "flink-down", "spark-up", "spark-down", "status"):
        sub.add_parser(name)
    args = parser.parse_args(argv)
    try:
        if args.command == "jars":
            jars(args.flink_version, spark=not args.no_spark)
        elif args.command == "status":
            print(json.dumps(status(), indent=2))
        else:
            {"flink-up": flink_up, "flink-down": flink_down,
             "spark-up": spark_up, "spark-down": spark_down}[args.command]()  # fmt: skip
    except (EngineError, subprocess.CalledProcessError) as e:
        print(f"engines: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
