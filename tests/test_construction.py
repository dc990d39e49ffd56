"""Building a pipeline reads no data: at most headers, footers and schemas.

Dataflow and Flink build the pipeline on a launcher (a laptop, a Flex
Template launcher VM) that should neither download the input nor hold it in
memory. For every format, the inputs here are a few MB, and building the
pipeline (CLI arguments to config, `Ingest` expanded, the pipeline translated
to its portable proto, which pickles every DoFn) may read only a few KB of
each file.

Reads are counted twice: per file, through every way the code opens files
(Beam's `FileSystems.open`, `open`/`io.open`); and for the whole process by
the kernel (`rchar` in /proc/self/io), which also sees native readers such
as pyarrow's opening a path itself.
"""

from __future__ import annotations

import builtins
import collections
import io
import os
import shutil
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.io.filesystems import FileSystems
from PIL import Image

from beam_ingest import Ingest
from beam_ingest.cli import build_parser
from beam_ingest.config_from_args import config_from_args
from tests.formats import write_taxi_formats
from tests.test_runners import FORMATS, write_inputs

# A header, footer or schema. pyarrow reads the last 64 KiB of a Parquet file
# at once, in the hope that the footer is in it.
PER_FILE = 128 * 1024
PROCESS = 512 * 1024  # one format's build, as the kernel counts it
PROBE = 64  # what a format without a header may read: a check that the file opens
ROWS = 15_000


class _Counted:
    """A file object that adds the bytes its reads return to `counts[path]`."""

    def __init__(self, raw, path: str, counts: collections.Counter) -> None:
        self._raw, self._path, self._counts = raw, path, counts

    def read(self, *args):
        data = self._raw.read(*args)
        self._counts[self._path] += len(data)
        return data

    def readinto(self, buffer):
        n = self._raw.readinto(buffer)
        self._counts[self._path] += n or 0
        return n

    def readline(self, *args):
        line = self._raw.readline(*args)
        self._counts[self._path] += len(line)
        return line

    def __iter__(self):
        return iter(self.readline, b"" if "b" in getattr(self._raw, "mode", "b") else "")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._raw.close()

    def __getattr__(self, name):
        return getattr(self._raw, name)


def _rchar() -> int:
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("rchar:")).split()[1])


@pytest.fixture(scope="module")
def big_inputs(tmp_path_factory) -> dict[str, list[str]]:
    """Every format, two or more files each, each file over twice PER_FILE and
    all together over twice PROCESS."""
    folder = tmp_path_factory.mktemp("big")
    inputs = write_inputs(folder / "small")  # tfrecord and the layout of the rest
    tabular = write_taxi_formats(folder / "taxi", ROWS)
    for fmt in ("csv", "jsonl", "parquet", "avro"):
        for copy in ("a", "b", "c"):
            target = folder / fmt / f"{copy}.{fmt}"
            target.parent.mkdir(exist_ok=True)
            shutil.copy(tabular[fmt], target)
        inputs[fmt] = ["--format", fmt, "--input", str(folder / fmt / f"*.{fmt}")]
    records = Path(inputs["tfrecord"][-1])
    data = records.read_bytes() * 300  # gzip members concatenate
    for copy in ("a", "b"):
        (records.parent / f"{copy}.tfrecord.gz").write_bytes(data)
    records.unlink()
    inputs["tfrecord"][-1] = str(records.parent / "*.tfrecord.gz")
    noise = np.random.default_rng(0).integers(0, 256, (384, 384, 3), dtype=np.uint8)
    for i in range(6):
        path = folder / "images" / ("cat", "dog")[i % 2] / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.roll(noise, i, axis=0)).save(path)  # ~450 KB each
    inputs["images"][-1] = str(folder / "images" / "**")
    for args in inputs.values():
        pattern = args[-1]
        files = [m.path for m in FileSystems.match([pattern])[0].metadata_list]
        sizes = [os.path.getsize(f) for f in files]
        assert len(sizes) >= 2 and min(sizes) > 2 * PER_FILE and sum(sizes) > 2 * PROCESS
    return inputs


def _build(args: list[str], output: Path) -> None:
    parsed = build_parser().parse_args(["run", *args, "--output", str(output)])
    pipeline = beam.Pipeline()
    _ = pipeline | "Ingest" >> Ingest(config_from_args(parsed))
    pipeline.to_runner_api()  # pickles every DoFn, as a runner would


@pytest.fixture(scope="module")
def reads(big_inputs, tmp_path_factory, request) -> dict[str, tuple[dict, int]]:
    """{format: ({input file: bytes read}, bytes the kernel counted)} while building."""
    out = tmp_path_factory.mktemp("out")
    _build(big_inputs["csv"], out / "warm-up")  # imports happen here, not below
    roots = {fmt: os.path.dirname(args[-1].split("*")[0]) for fmt, args in big_inputs.items()}
    patch = pytest.MonkeyPatch()
    request.addfinalizer(patch.undo)
    counts: collections.Counter = collections.Counter()
    fs_open, builtin_open = FileSystems.open, builtins.open

    inside_fs_open = [0]  # Beam's local filesystem opens with io.open: count once

    def counted_fs_open(path, *args, **kwargs):
        inside_fs_open[0] += 1
        try:
            raw = fs_open(path, *args, **kwargs)
        finally:
            inside_fs_open[0] -= 1
        return _Counted(raw, os.path.abspath(path), counts)

    def counted_open(file, mode="r", *args, **kwargs):
        raw = builtin_open(file, mode, *args, **kwargs)
        if isinstance(file, str | os.PathLike) and "r" in mode and not inside_fs_open[0]:
            return _Counted(raw, os.path.abspath(file), counts)
        return raw

    patch.setattr(FileSystems, "open", counted_fs_open)
    patch.setattr(builtins, "open", counted_open)
    patch.setattr(io, "open", counted_open)
    results = {}
    for fmt in FORMATS:
        counts.clear()
        before = _rchar()
        _build(big_inputs[fmt], out / fmt)
        kernel = _rchar() - before
        mine = {p: n for p, n in counts.items() if p.startswith(roots[fmt])}
        results[fmt] = (mine, kernel)
    patch.undo()
    return results


@pytest.mark.parametrize("fmt", FORMATS)
def test_building_the_pipeline_reads_at_most_headers(reads, fmt):
    per_file, kernel = reads[fmt]
    over = {p: n for p, n in per_file.items() if n > PER_FILE}
    assert not over, f"{fmt}: building the pipeline read more than {PER_FILE} bytes of {over}"
    assert kernel < PROCESS, f"{fmt}: the process read {kernel} bytes while building"


def test_formats_with_a_header_read_it_and_others_only_probe(reads):
    # Also shows that the counting sees the connectors' reads.
    for fmt in ("csv", "parquet", "avro"):
        assert len(reads[fmt][0]) == 3 and min(reads[fmt][0].values()) > PROBE, fmt
    for fmt in ("jsonl", "tfrecord", "images"):
        assert max(reads[fmt][0].values(), default=0) <= PROBE, fmt
