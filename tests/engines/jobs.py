"""What the engine tests run: one Beam job that holds one `Ingest` per case
(every format the CLI reads, a CSV with bad rows under --max-bad-records, and a
--deterministic CSV), so a cluster runs one job, not eight; and how outputs
are compared with the DirectRunner's.
"""

from __future__ import annotations

import collections
import glob
import json
import os
import urllib.request
from pathlib import Path

import apache_beam as beam

from beam_ingest import Ingest, runners
from beam_ingest.cli import build_parser
from beam_ingest.config_from_args import config_from_args
from tests.helpers import bad_records, read_report, split_records
from tests.test_runners import FORMATS, IMAGES, ROWS, write_inputs

BAD_ROWS = 3


def write_cases(folder: Path) -> dict[str, list[str]]:
    """`beam-ingest run` arguments (less --output) per case name."""
    cases = write_inputs(folder)
    bad = folder / "bad" / "rows.csv"
    bad.parent.mkdir()
    lines = ["id,name,score"] + [f"{i},n{i},{i / 4}" for i in range(200)]
    for k in range(BAD_ROWS):  # rows with too many cells
        lines.insert(20 + 50 * k, f"{900 + k},x,{k}.5,extra")
    bad.write_text("\n".join(lines) + "\n")
    cases["bad_csv"] = ["--format", "csv", "--input", str(bad), "--max-bad-records", "5"]
    cases["deterministic"] = [*cases["csv"], "--deterministic", "--num-shards", "2"]
    return cases


def run_cases(cases: dict[str, list[str]], out: Path, beam_args: list[str]):
    """One pipeline, one `Ingest[case]` per case, configured as the CLI does,
    options from `runners.pipeline_options` (what the CLI calls); returns the
    pipeline result."""
    pipeline = beam.Pipeline(options=runners.pipeline_options(beam_args))
    for name, args in cases.items():
        parsed = build_parser().parse_args(["run", *args, "--output", str(out / name)])
        _ = pipeline | f"Ingest[{name}]" >> Ingest(config_from_args(parsed))
    result = pipeline.run()
    state = result.wait_until_finish()
    assert str(state).endswith("DONE"), f"the job ended {state}"
    return result


def examples_per_split(out: Path) -> dict[str, collections.Counter]:
    report = read_report(str(out))
    return {name: collections.Counter(split_records(str(out), name)) for name in report["splits"]}


def split_files(out: Path) -> dict[str, bytes]:
    """{Split-x/file name: bytes} of every split file."""
    paths = sorted(glob.glob(str(out / "Split-*" / "*")))
    return {os.path.relpath(p, out): Path(p).read_bytes() for p in paths}


def assert_same_as_direct(direct: Path, got: Path, engine: str) -> None:
    """Every case wrote what the DirectRunner wrote: the same examples in the
    same splits, the same dead letters, and for --deterministic the same bytes."""
    for fmt in FORMATS:
        expected = examples_per_split(direct / fmt)
        assert set(expected) == {"train", "eval"} and all(expected.values())
        total = sum(sum(c.values()) for c in expected.values())
        assert total == (IMAGES if fmt == "images" else ROWS)
        assert examples_per_split(got / fmt) == expected, f"{engine}: {fmt} differs"
        report = read_report(str(got / fmt))
        assert report["examples"] == total and report["bad_records"]["count"] == 0
        assert sorted(glob.glob(str(got / fmt / "Split-*" / "data_tfrecord-*.gz")))

    assert examples_per_split(got / "bad_csv") == examples_per_split(direct / "bad_csv")
    report = read_report(str(got / "bad_csv"))
    assert report["bad_records"]["count"] == BAD_ROWS, report["bad_records"]
    letters = sorted(json.dumps(r, sort_keys=True) for r in bad_records(str(got / "bad_csv")))
    expected = sorted(json.dumps(r, sort_keys=True) for r in bad_records(str(direct / "bad_csv")))
    assert len(letters) == BAD_ROWS and letters == expected

    files = split_files(got / "deterministic")
    assert files == split_files(direct / "deterministic"), f"{engine}: not byte-identical"
    assert len(files) == 4  # 2 shards in each of 2 splits


def flink_jobs(rest: str = "http://127.0.0.1:8081") -> list[dict]:
    with urllib.request.urlopen(f"{rest}/jobs/overview", timeout=10) as response:
        return json.loads(response.read())["jobs"]


def spark_apps(ui: str = "http://127.0.0.1:8080") -> dict:
    with urllib.request.urlopen(f"{ui}/json/", timeout=10) as response:
        return json.loads(response.read())
