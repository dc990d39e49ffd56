"""Process plumbing of the engine scripts: folders, ports, pid files, waiting,
the worker pool. Used by engines/cluster.py."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beam_ingest import runners

VENV = Path(sys.prefix)
FLINK_WHEEL_VERSION = os.environ.get("FLINK_WHEEL_VERSION", "2.2.1")
PYSPARK_VERSION = os.environ.get("PYSPARK_VERSION", "3.5.8")
FLINK_DIR = VENV / "share" / "flink"
SPARK_DIR = VENV / "share" / "spark"
STATE = Path(os.environ.get("BEAM_INGEST_ENGINES_STATE", VENV / "var" / "engines"))
HOST = "127.0.0.1"
FLINK_REST_PORT = int(os.environ.get("FLINK_REST_PORT", "8081"))
FLINK_RPC_PORT = int(os.environ.get("FLINK_RPC_PORT", "6123"))
FLINK_SLOTS = int(os.environ.get("FLINK_SLOTS", "2"))
SPARK_MASTER_PORT = int(os.environ.get("SPARK_MASTER_PORT", "7077"))
SPARK_MASTER_UI_PORT = int(os.environ.get("SPARK_MASTER_UI_PORT", "8080"))
SPARK_WORKER_UI_PORT = int(os.environ.get("SPARK_WORKER_UI_PORT", "8082"))
SPARK_CORES = int(os.environ.get("SPARK_WORKER_CORES", "2"))
SPARK_MEMORY = os.environ.get("SPARK_WORKER_MEMORY", "4g")
START_TIMEOUT = 90.0


class EngineError(Exception):
    pass


# --- jars ---------------------------------------------------------------------


def fetch_jar(artifact: str, target: Path) -> Path:
    """`mvn dependency:copy` of org.apache.beam:ARTIFACT into target's folder."""
    if target.is_file() and target.stat().st_size > 0:
        print(f"have {target}")
        return target
    if not shutil.which("mvn"):
        raise EngineError("mvn not found: install Maven (apt-get install maven) to fetch jars")
    target.parent.mkdir(parents=True, exist_ok=True)
    coordinate = f"org.apache.beam:{artifact}:{runners.job_server_version()}"
    command = [
        "mvn", "--batch-mode", "--quiet", "--update-snapshots", "dependency:copy",
        f"-Dartifact={coordinate}", f"-DoutputDirectory={target.parent}",
    ]  # fmt: skip
    print(" ".join(command), flush=True)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0 or not target.is_file():
        output = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
        why = re.findall(r"Failed to execute goal [^\n]*?standalone-pom: ([^\n]*)", output)
        raise EngineError(
            f"Maven could not fetch {coordinate}: {why[0] if why else output.strip()[-800:]}"
            "\n  (Beam's job-server jars come from Maven Central; set "
            "BEAM_INGEST_JOB_SERVER_VERSION=<a served version> to fetch another Beam release's)"
        )
    print(f"fetched {target}")
    return target


def jars(flink_version: str, spark: bool = True) -> None:
    errors = []
    wanted = [(runners.flink_artifact(flink_version), Path(runners.flink_jar(flink_version)))]
    if spark:
        wanted.append((runners.SPARK_JOB_SERVER, Path(runners.spark_jar())))
    for artifact, target in wanted:
        try:
            fetch_jar(artifact, target)
        except EngineError as e:
            errors.append(str(e))
    if errors:
        raise EngineError("\n".join(errors))


# --- helpers ------------------------------------------------------------------


def pip_target(folder: Path, packages: list[str], marker: str) -> None:
    """`pip install --no-deps --target folder packages`, unless marker says done."""
    stamp = folder / ".installed"
    if stamp.is_file() and stamp.read_text() == marker:
        return
    if folder.exists():
        shutil.rmtree(folder)
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
               "--target", str(folder), *packages]  # fmt: skip
    print(" ".join(command), flush=True)
    subprocess.run(command, check=True)
    stamp.write_text(marker)


def port_open(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def need_free(port: int, what: str) -> None:
    if port_open(port):
        raise EngineError(f"port {HOST}:{port} ({what}) is already in use")


def java_env() -> dict[str, str]:
    java = runners.find_java()
    if java is None:
        raise EngineError("no java found: install a Java 17 runtime or set JAVA_HOME")
    env = dict(os.environ)
    env.setdefault("JAVA_HOME", str(Path(os.path.realpath(java)).parents[1]))
    # The worker pool's workers are `python` processes: the venv's.
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def spawn(name: str, command: list[str], env: dict[str, str]) -> int:
    """Starts a daemon in its own session; records its pid in STATE/NAME.pid."""
    log_path = STATE / "logs" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    (STATE / f"{name}.pid").parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, start_new_session=True,
        )  # fmt: skip
    (STATE / f"{name}.pid").write_text(str(process.pid))
    return process.pid


def stop_pid_file(path: Path, timeout: float = 20.0) -> None:
    """SIGTERM the process (group) whose pid the file holds, SIGKILL if it stays."""
    if not path.is_file():
        return
    pid = int(path.read_text().split()[0])
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig) if os.getpgid(pid) == pid else os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.time() + timeout
        while time.time() < deadline and _alive(pid):
            time.sleep(0.2)
        if not _alive(pid):
            break
    path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def wait_for(check, what: str, log: Path | None = None, timeout: float = START_TIMEOUT):
    deadline = time.time() + timeout
    while time.time() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    tail = ""
    if log and log.is_file():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])
    raise EngineError(f"{what} did not come up within {timeout:.0f} s{tail}")


def pids(name: str) -> list[int]:
    """Process ids in STATE/NAME.pid (Flink's daemon script writes one a line)."""
    path = STATE / f"{name}.pid"
    if not path.is_file():
        return []
    return [int(p) for p in path.read_text().split() if p.strip().isdigit()]


# --- worker pool --------------------------------------------------------------


def worker_pool_up(env: dict[str, str]) -> None:
    host, port = runners.host_port(runners.WORKER_POOL, 50000)
    if port_open(port, host):
        if pids("worker-pool") and all(_alive(p) for p in pids("worker-pool")):
            return  # ours, shared by the Flink and the Spark cluster
        raise EngineError(f"port {host}:{port} (Beam worker pool) is already in use")
    script = Path(__file__).with_name("worker_pool.py")
    spawn("worker-pool", [sys.executable, str(script), "--port", str(port)], env)
    wait_for(lambda: port_open(port, host), "the Beam worker pool", STATE / "logs/worker-pool.log")


def worker_pool_down() -> None:
    if not (STATE / "flink").is_dir() and not (STATE / "spark").is_dir():
        stop_pid_file(STATE / "worker-pool.pid")


# --- Flink --------------------------------------------------------------------
