"""Determinism: the same input and config give the same examples in every split,
whatever the file layout, row order, runner mode or rerun; `--deterministic`
gives byte-identical files; `--shuffle` changes the order, not the examples.

(`tests/test_runners.py` checks the same examples per split on every runner.)
"""

from __future__ import annotations

import collections
import glob
import hashlib
import os
import random
from pathlib import Path

import pytest

from beam_ingest.cli import main
from beam_ingest.framing import read_records
from tests.helpers import read_report, split_records

ROWS = 3000
MULTI_THREADING = ["--", "--direct_running_mode=multi_threading", "--direct_num_workers=2"]
PORTABLE = ["--", "--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"]


def _rows() -> list[str]:
    rng = random.Random(7)
    return [
        f"{i},{rng.choice(['a', 'b', 'é', ''])},{rng.random():.5f},{rng.randrange(-5, 5)}\n"
        for i in range(ROWS)
    ]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, str]:
    """The same rows as one file, and reordered and cut into three files."""
    folder = tmp_path_factory.mktemp("determinism")
    header = "id,name,x,y\n"
    rows = _rows()
    (folder / "one").mkdir()
    (folder / "one" / "all.csv").write_text(header + "".join(rows))
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    (folder / "three").mkdir()
    for part, cut in enumerate([(0, 100), (100, 2500), (2500, ROWS)]):
        (folder / "three" / f"p{part}.csv").write_text(header + "".join(shuffled[slice(*cut)]))
    return {"one": str(folder / "one" / "*.csv"), "three": str(folder / "three" / "*.csv")}


def _run(inputs: dict, out: Path, layout: str, *args: str) -> Path:
    extra = list(args)
    beam_args = []
    if "--" in extra:
        cut = extra.index("--")
        extra, beam_args = extra[:cut], extra[cut:]
    argv = ["run", "--format", "csv", "--input", inputs[layout], "--output", str(out)]
    assert main([*argv, *extra, *beam_args]) == 0
    return out


def _examples(out: Path) -> dict[str, collections.Counter]:
    return {
        s: collections.Counter(split_records(str(out), s)) for s in read_report(str(out))["splits"]
    }


def _files(out: Path) -> dict[str, str]:
    paths = sorted(glob.glob(str(out / "Split-*" / "*")))
    return {
        os.path.relpath(p, out): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths
    }


@pytest.fixture(scope="module")
def default_runs(inputs, tmp_path_factory) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("default")
    runs = {
        "one": _run(inputs, folder / "one", "one"),
        "rerun": _run(inputs, folder / "rerun", "one"),
        "reordered_rechunked": _run(inputs, folder / "three", "three"),
        "multi_threading": _run(inputs, folder / "mt", "three", *MULTI_THREADING),
        "shuffle": _run(inputs, folder / "shuffle", "one", "--shuffle"),
    }
    return {name: _examples(out) for name, out in runs.items()}


@pytest.mark.parametrize("run", ["rerun", "reordered_rechunked", "multi_threading", "shuffle"])
def test_same_examples_in_every_split(default_runs, run):
    assert default_runs[run] == default_runs["one"]
    assert sum(sum(c.values()) for c in default_runs[run].values()) == ROWS


@pytest.fixture(scope="module")
def deterministic_runs(inputs, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("deterministic")
    return {
        "one": _run(inputs, folder / "one", "one", "--deterministic"),
        "rerun": _run(inputs, folder / "rerun", "one", "--deterministic"),
        "reordered_rechunked": _run(inputs, folder / "three", "three", "--deterministic"),
        "multi_threading": _run(
            inputs, folder / "mt", "three", "--deterministic", *MULTI_THREADING
        ),
        "portable": _run(inputs, folder / "portable", "three", "--deterministic", *PORTABLE),
        "three_shards": _run(inputs, folder / "s3", "one", "--deterministic", "--num-shards", "3"),
        "three_shards_rerun": _run(
            inputs, folder / "s3r", "three", "--deterministic", "--num-shards", "3"
        ),
    }


@pytest.mark.parametrize(
    "run", ["rerun", "reordered_rechunked", "multi_threading", "portable"]
)  # fmt: skip
def test_deterministic_files_are_byte_identical(deterministic_runs, run):
    reference = _files(deterministic_runs["one"])
    assert list(reference) == [
        "Split-eval/data_tfrecord-00000-of-00001.gz",
        "Split-train/data_tfrecord-00000-of-00001.gz",
    ]
    assert _files(deterministic_runs[run]) == reference


def test_deterministic_with_shards_sorts_each_shard(deterministic_runs, default_runs):
    three = deterministic_runs["three_shards"]
    assert _files(three) == _files(deterministic_runs["three_shards_rerun"])
    assert len(_files(three)) == 6  # 3 per split, every one written
    for path in glob.glob(str(three / "Split-*" / "*")):
        records = list(read_records(path))
        assert records == sorted(records)
    assert _examples(three) == default_runs["one"]
    report = read_report(str(three))
    assert (report["deterministic"], report["num_shards"], report["shuffle"]) == (True, 3, False)


def test_shuffle_changes_the_order(default_runs, inputs, tmp_path):
    plain = split_records(str(_run(inputs, tmp_path / "plain", "one")), "train")
    shuffled = split_records(str(_run(inputs, tmp_path / "shuffled", "one", "--shuffle")), "train")
    assert sorted(plain) == sorted(shuffled) and plain != shuffled


def test_deterministic_and_shuffle_do_not_go_together(inputs, tmp_path, capsys):
    argv = ["run", "--format", "csv", "--input", inputs["one"], "--output", str(tmp_path / "o")]
    assert main([*argv, "--deterministic", "--shuffle"]) == 2
    assert "--shuffle: cannot go with --deterministic" in capsys.readouterr().err
