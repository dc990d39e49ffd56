"""Faults: killed runs, concurrent runs, retried bundles. The output is whole or absent.

Kills are real: the `beam-ingest` console script runs as a subprocess and
gets SIGKILL at several points (found by watching its stage folder
`.OUT.beam-ingest-*`, or, for the instant of publishing, by a pause that a
`sitecustomize` hook adds before the one rename). Retries are simulated the
way runners retry a failed bundle: a new DoFn instance processes the same
elements again, the failed attempt's files left behind.
"""

from __future__ import annotations

import collections
import contextlib
import glob
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import apache_beam as beam
import pytest

from beam_ingest import IngestConfig
from beam_ingest.connectors.csv import ReadCsv
from beam_ingest.errors import OutputError
from beam_ingest.transforms import commit, write
from tests.helpers import bad_records, read_report, run_ingest, split_records

SCRIPT = os.path.join(os.path.dirname(sys.executable), "beam-ingest")
ROWS = 60_000

# Makes the CLI pause (and say so in a marker file) just before it renames
# the finished output into place: the instant of publishing, made wide
# enough to kill the process in it.
_HOOK = textwrap.dedent(
    """
    import os, time
    _target = os.environ.get("FAULTS_PAUSE_BEFORE_RENAME_TO")
    if _target:
        _replace = os.replace
        def _paused(src, dst, *args, **kwargs):
            if os.path.abspath(dst) == os.path.abspath(_target):
                open(os.environ["FAULTS_MARKER"], "w").close()
                time.sleep(600)
            return _replace(src, dst, *args, **kwargs)
        os.replace = _paused
    """
)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("faults")
    (folder / "in").mkdir()
    for part in range(3):
        with open(folder / "in" / f"part{part}.csv", "w") as f:
            f.write("id,name,x\n")
            for i in range(part, ROWS, 3):
                f.write(f"{i},name{i % 977},{i * 0.25}\n")
    (folder / "hook").mkdir()
    (folder / "hook" / "sitecustomize.py").write_text(_HOOK)
    return folder


def _args(data: Path, out: Path, *extra: str) -> list[str]:
    pattern = str(data / "in" / "*.csv")
    return [SCRIPT, "run", "--format", "csv", "--input", pattern, "--output", str(out), *extra]


def _examples(out: Path) -> dict[str, collections.Counter]:
    report = read_report(str(out))
    return {s: collections.Counter(split_records(str(out), s)) for s in report["splits"]}


@pytest.fixture(scope="module")
def reference(data) -> dict[str, collections.Counter]:
    out = data / "reference"
    result = subprocess.run(_args(data, out), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    examples = _examples(out)
    assert sum(sum(c.values()) for c in examples.values()) == ROWS
    return examples


def _complete_looking(out: Path) -> list[str]:
    return glob.glob(str(out / "Split-*")) + glob.glob(str(out / "ingest_report.json"))


def _stage(out: Path) -> list[str]:
    return glob.glob(str(out.parent / f".{out.name}.beam-ingest-*"))


def _staged_bytes(stages: list[str]) -> int:
    total = 0
    for stage in stages:
        for p in glob.glob(os.path.join(stage, "**"), recursive=True):
            with contextlib.suppress(OSError):  # renamed meanwhile
                total += os.path.getsize(p) if os.path.isfile(p) else 0
    return total


def _kill_when(args: list[str], ready, env: dict | None = None, timeout: float = 120) -> str:
    """Starts the CLI, SIGKILLs it once `ready()` is true; returns what it was doing."""
    before = time.time()
    process = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env or os.environ.copy()
    )
    try:
        while not ready():
            assert process.poll() is None, "the run ended before the kill point"
            assert time.time() - before < timeout
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    return f"killed after {time.time() - before:.1f} s"


def test_killed_runs_leave_nothing_complete_and_a_rerun_matches(data, reference, tmp_path):
    out = tmp_path / "out"
    marker = tmp_path / "marker"
    env = dict(
        os.environ,
        PYTHONPATH=f"{data / 'hook'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        FAULTS_PAUSE_BEFORE_RENAME_TO=str(out),
        FAULTS_MARKER=str(marker),
    )
    started, old, left = time.time(), set(), {}

    def new() -> list[str]:  # this run's stage folder (earlier runs' stay behind)
        return [s for s in _stage(out) if s not in old]

    points = {  # name: (extra args, ready)
        "starting": ((), lambda: time.time() - started > 1.0),
        "reading": ((), lambda: bool(new())),
        "writing": ((), lambda: _staged_bytes(new()) > 100_000),
        "merging shards": (
            ("--num-shards", "2"),
            lambda: any(os.path.isdir(os.path.join(s, "merged")) for s in new()),
        ),
        "laid out, before the rename": ((), lambda: any(
            os.path.exists(os.path.join(s, "out", "ingest_report.json")) for s in new()
        )),
        "publishing": ((), marker.exists),
    }  # fmt: skip
    for name, (extra, ready) in points.items():
        started, old = time.time(), set(_stage(out))
        marker.unlink(missing_ok=True)
        _kill_when(_args(data, out, *extra), ready, env)
        assert _complete_looking(out) == [], name
        left[name] = len(new())
    # The stage folders stay behind, hidden; the first kill came before any.
    assert left == {name: 0 if name == "starting" else 1 for name in points}
    result = subprocess.run(_args(data, out), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert _examples(out) == reference
    # --overwrite, killed between moving the old output aside and renaming the
    # new one in: no output at all (the old one is in the stage folder).
    marker.unlink()
    _kill_when(_args(data, out, "--overwrite", "--split", "all=1"), marker.exists, env)
    assert not out.exists()
    result = subprocess.run(_args(data, out), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert _examples(out) == reference


def test_two_runs_on_one_output_one_wins_the_other_fails_clearly(data, reference, tmp_path):
    out = tmp_path / "out"
    runs = [subprocess.Popen(_args(data, out), stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(r.wait(timeout=300), r.stderr.read()) for r in runs]
    codes = sorted(code for code, _ in results)
    # The loser fails when it publishes (exit 1), or, had the winner finished
    # before it started, at its start (exit 2): clearly either way.
    assert codes in ([0, 1], [0, 2]), results
    message = next(err for code, err in results if code != 0)
    assert "beam-ingest: error: --output:" in message
    assert "nothing was published" in message or "use --overwrite" in message
    assert "Traceback" not in message
    assert _examples(out) == reference


def test_rename_onto_an_output_filled_meanwhile_is_an_output_error(tmp_path, monkeypatch):
    final = tmp_path / "stage" / "out"
    final.mkdir(parents=True)
    (final / "ingest_report.json").write_text("{}")
    out = tmp_path / "out"
    out.mkdir()
    (out / "ingest_report.json").write_text('{"run_id": "other"}')
    # The other run publishes between this run's check and its rename.
    monkeypatch.setattr(commit, "output_is_occupied", lambda path: False)
    with pytest.raises(OutputError, match="was filled by another run while this one worked"):
        commit._publish(str(final), str(out), False)
    assert (out / "ingest_report.json").read_text() == '{"run_id": "other"}'


# --- retried bundles -------------------------------------------------------------


class _Injected(Exception):
    pass


def _retrying(dofn_class, fail_at: str):
    """A stand-in for `dofn_class` that runs each bundle as a runner that retries
    failed bundles does: attempt 1 fails (`fail_at`: "process", half-way through
    the bundle's elements, or "finish", after the files are closed but before
    they are reported, or "patched": where the test's patches raise); attempt
    2, on a new instance, processes the same elements again. Attempt 1's files
    stay in the stage folder."""

    class Retrying(beam.DoFn):
        attempts = collections.Counter()

        def __init__(self, *args, **kwargs) -> None:
            self._args, self._kwargs = args, kwargs

        def start_bundle(self) -> None:
            self._elements = []

        def process(self, element, *args, **kwargs):
            self._elements.append((element, args, kwargs))

        def finish_bundle(self):
            for attempt in (1, 2):
                Retrying.attempts[attempt] += 1
                fn = dofn_class(*self._args, **self._kwargs)
                fn.start_bundle() if hasattr(fn, "start_bundle") else None
                try:
                    outputs = []
                    for i, (element, args, kwargs) in enumerate(self._elements):
                        if attempt == 1 and fail_at == "process" and i >= len(self._elements) // 2:
                            raise _Injected
                        outputs += list(fn.process(element, *args, **kwargs) or ())
                    outputs += [w.value for w in (fn.finish_bundle() or ())]
                    if attempt == 1 and fail_at == "finish":
                        raise _Injected
                except Exception:  # injected here, or by the test's patches
                    if attempt == 2:
                        raise
                    continue
                for value in outputs:
                    yield write._emit(value)
                return

    return Retrying


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("retry")
    for part in range(6):
        rows = "".join(f"{i},n{i}\n" for i in range(part * 500, (part + 1) * 500))
        (folder / f"p{part}.csv").write_text("id,name\n" + rows + "bad\n")  # 1 bad row
    return folder


@pytest.mark.parametrize("fail_at", ["process", "finish"])
@pytest.mark.parametrize("num_shards", [0, 2])
def test_retried_write_bundles_leave_no_duplicates_or_partial_files(
    small, tmp_path, monkeypatch, fail_at, num_shards
):
    monkeypatch.setattr(write, "_WriteSplitFn", _retrying(write._WriteSplitFn, fail_at))
    monkeypatch.setattr(write, "_WriteBadRecordsFn", _retrying(write._WriteBadRecordsFn, fail_at))
    out = tmp_path / "out"
    config = IngestConfig(
        source=ReadCsv(str(small / "*.csv")),
        output_dir=str(out),
        max_bad_records=6,
        num_shards=num_shards,
    )
    report = run_ingest(config)
    assert write._WriteSplitFn.attempts[1] == write._WriteSplitFn.attempts[2] > 0
    records = [r for s in ("train", "eval") for r in split_records(str(out), s)]  # all readable
    assert len(records) == len(set(records)) == report["examples"] == 3000
    assert report["records_read"] == 3006 and report["bad_records"]["count"] == 6
    assert sorted(r["raw"] for r in bad_records(str(out))) == ["bad"] * 6
    assert _stage(out) == []  # the failed attempts' files went with the stage folder


def test_a_retried_publish_step_completes(small, tmp_path, monkeypatch):
    """The commit step fails once after it moved the parts into place, then once
    after it published: each retry finishes the same output."""
    real_write, real_delete = commit.files.write_bytes, commit.files.delete_tree
    for broken in ("report", "cleanup"):
        out = tmp_path / broken
        failed = []

        def write_bytes(path, data, broken=broken, failed=failed):
            if broken == "report" and path.endswith("ingest_report.json") and not failed:
                failed.append(path)
                raise OSError("injected: the report cannot be written")
            real_write(path, data)

        def delete_tree(path, broken=broken, failed=failed, out=out):
            if broken == "cleanup" and ".beam-ingest-" in path and out.exists() and not failed:
                failed.append(path)
                raise OSError("injected: the stage cannot be deleted")
            real_delete(path)

        monkeypatch.setattr(commit.files, "write_bytes", write_bytes)
        monkeypatch.setattr(commit.files, "delete_tree", delete_tree)
        monkeypatch.setattr(commit, "_PublishFn", _retrying(commit._PublishFn, "patched"))
        report = run_ingest(
            IngestConfig(
                source=ReadCsv(str(small / "*.csv")), output_dir=str(out), max_bad_records=6
            )
        )
        assert failed, broken
        records = [r for s in ("train", "eval") for r in split_records(str(out), s)]
        assert len(records) == len(set(records)) == report["examples"] == 3000, broken
