"""Measuring one tool run: whole-process wall time and memory, and counting its output.

Shared by benchmarks/run.py. A run is a command under `/usr/bin/time -v`
(interpreter start-up and imports included). GNU time's maximum RSS is the
largest single process of the tree; under Beam's multi_processing mode the
work runs in several processes, so while the command runs a thread reads /proc
every 0.1 s and sums VmRSS and Pss over every process below the harness except
/usr/bin/time itself. A run's peak RSS is the larger of the two figures (the
sampled sum can miss a short peak of a single process). RSS counts pages that
processes share (libraries) once per process; PSS shares them out.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shlex
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "GNU_TIME",
    "Measurement",
    "RunFailed",
    "count_splits",
    "machine_info",
    "package_versions",
    "timed_run",
]

GNU_TIME = Path("/usr/bin/time")
PACKAGES = (
    "beam-ingest",
    "apache-beam",
    "tfx",
    "tfx-bsl",
    "tensorflow",
    "pyarrow",
    "pandas",
    "fastavro",
    "pillow",
    "ml-metadata",
)


class RunFailed(RuntimeError):
    """A timed command exited with a non-zero status (the message holds its stderr's tail)."""


@dataclass(frozen=True)
class Measurement:
    """What one timed run cost. Memory in kB (1024 bytes), as /proc and GNU time give it."""

    wall_s: float
    user_s: float
    system_s: float
    cpu_percent: str
    gnu_max_rss_kb: int  # largest single process
    tree_rss_kb: int  # largest sampled sum over the process tree
    tree_pss_kb: int
    processes: int  # most processes seen at once

    @property
    def peak_rss_kb(self) -> int:
        return max(self.gnu_max_rss_kb, self.tree_rss_kb)


def _parse_clock(value: str) -> float:
    """GNU time's `h:mm:ss` or `m:ss.ss` to seconds."""
    seconds = 0.0
    for part in value.strip().split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def _parse_gnu_time(report: str) -> dict[str, str]:
    fields = {}
    for line in report.splitlines():
        label, sep, value = line.strip().rpartition(": ")
        if sep:
            fields[label] = value.strip()
    return fields


# ---------------------------------------------------------------- memory of a process tree


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])  # the comm may hold spaces or ')'
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _field_kb(pid: int, file: str, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _tree_memory_kb(root_pid: int) -> tuple[int, int, int]:
    """(summed VmRSS kB, summed Pss kB, processes) of every process below root_pid,
    except root_pid's direct children (here: /usr/bin/time, whose child is the tool)."""
    children = _children_map()
    stack = [grandchild for c in children.get(root_pid, []) for grandchild in children.get(c, [])]
    pids = []
    while stack:
        pid = stack.pop()
        pids.append(pid)
        stack += children.get(pid, [])
    rss = sum(_field_kb(pid, "status", "VmRSS:") for pid in pids)
    pss = sum(_field_kb(pid, "smaps_rollup", "Pss:") for pid in pids)
    return rss, pss, len(pids)


class _TreeSampler:
    """A thread keeping the largest memory sums of this process's descendants."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.max_rss_kb = self.max_pss_kb = self.max_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            rss, pss, processes = _tree_memory_kb(me)
            self.max_rss_kb = max(self.max_rss_kb, rss)
            self.max_pss_kb = max(self.max_pss_kb, pss)
            self.max_processes = max(self.max_processes, processes)
            self._stop.wait(self.interval)

    def __enter__(self) -> _TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed_run(command: list[str], log_dir: Path, env: dict[str, str] | None = None) -> Measurement:
    """Runs command under `/usr/bin/time -v`, its output and timing to log_dir.

    Raises:
        RunFailed: the command exited with a non-zero status.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    time_file, stdout_file, stderr_file = (
        log_dir / name for name in ("time.txt", "stdout.log", "stderr.log")
    )
    (log_dir / "command.txt").write_text(shlex.join(command) + "\n")
    with (
        stdout_file.open("wb") as stdout,
        stderr_file.open("wb") as stderr,
        _TreeSampler() as sampler,
    ):
        status = subprocess.run(
            [str(GNU_TIME), "-v", "-o", str(time_file), *command],
            stdout=stdout,
            stderr=stderr,
            env=env,
            check=False,
        ).returncode
    if status != 0:
        tail = "\n".join(stderr_file.read_text(errors="replace").splitlines()[-30:])
        raise RunFailed(f"exit status {status}: {shlex.join(command)}\n{tail}")
    fields = _parse_gnu_time(time_file.read_text())
    return Measurement(
        wall_s=_parse_clock(fields["Elapsed (wall clock) time (h:mm:ss or m:ss)"]),
        user_s=float(fields["User time (seconds)"]),
        system_s=float(fields["System time (seconds)"]),
        cpu_percent=fields["Percent of CPU this job got"],
        gnu_max_rss_kb=int(fields["Maximum resident set size (kbytes)"]),
        tree_rss_kb=sampler.max_rss_kb,
        tree_pss_kb=sampler.max_pss_kb,
        processes=max(1, sampler.max_processes),
    )


# ---------------------------------------------------------------- output


def count_splits(examples_dir: Path) -> dict[str, int]:
    """Examples per split of an ExampleGen-style folder (Split-<name>/*.gz), read back
    record by record with `beam_ingest.framing.read_records` (both checksums of every
    record checked; about 4 us of CPU per record, 6 s for 1.5M records).

    Raises:
        FileNotFoundError: no Split-* folder, or a split without files.
        ValueError: a file is truncated or corrupt.
    """
    from beam_ingest.framing import read_records

    splits = sorted(p for p in examples_dir.glob("Split-*") if p.is_dir())
    if not splits:
        raise FileNotFoundError(f"no Split-* folder in {examples_dir}")
    counts = {}
    for split in splits:
        files = sorted(split.glob("*.gz"))
        if not files:
            raise FileNotFoundError(f"no *.gz file in {split}")
        counts[split.name.removeprefix("Split-")] = sum(
            sum(1 for _ in read_records(str(file))) for file in files
        )
    return counts


# ---------------------------------------------------------------- environment


def machine_info() -> dict[str, str]:
    """Cores this process may use, memory, CPU model, Python, kernel."""
    meminfo = Path("/proc/meminfo").read_text().split("\n", 1)[0]  # MemTotal: N kB
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    return {
        "cores": str(len(os.sched_getaffinity(0))),
        "memory": f"{int(meminfo.split()[1]) / 1024**2:.1f} GiB",
        "cpu": cpu_model,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def package_versions() -> dict[str, str]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions
