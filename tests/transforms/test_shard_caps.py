"""Size-capped shards (`max_shard_bytes`, `max_records_per_shard`) for every
output format, and the configuration errors of the output options."""

from __future__ import annotations

import os
import re
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from beam_ingest import options
from beam_ingest.cli import main
from beam_ingest.config import build_config
from beam_ingest.errors import ConfigError
from beam_ingest.framing import read_records
from beam_ingest.transforms.array_record_sink import read_array_records
from beam_ingest.transforms.parquet_sink import read_table
from beam_ingest.transforms.shards import ShardCaps
from tests.formats import TAXI
from tests.helpers import run_ingest

ROWS = 3000
BYTES_CAP = 60_000


@pytest.fixture(scope="module")
def taxi(tmp_path_factory):
    folder = tmp_path_factory.mktemp("caps")
    with open(TAXI) as f:
        (folder / "taxi.csv").write_text("".join(next(f) for _ in range(ROWS + 1)))
    return folder / "taxi.csv"


def _run(taxi, out, **given) -> dict:
    return run_ingest(
        build_config({"format": "csv", "input": str(taxi), "output": str(out), **given})
    )


def _records(fmt: str, path: str) -> list[bytes] | int:
    if fmt == "tfrecord":
        return list(read_records(path))
    if fmt == "array_record":
        return read_array_records(path)
    return len(read_table(path))


def test_fit_cuts_at_the_record_that_would_pass_the_cap():
    caps = ShardCaps(max_bytes=100, overhead=10)
    examples = [b"x" * 30] * 5  # 40 bytes each with the overhead
    assert caps.fit(examples, 0, 0, 0) == 2
    assert caps.fit(examples, 0, 2, 80) == 0  # full
    assert caps.fit([b"y" * 500], 0, 0, 0) == 1  # too big alone: a file of its own
    assert ShardCaps(max_records=3).fit(examples, 1, 1, 0) == 2


@pytest.mark.parametrize(
    "fmt,extra",
    [
        ("tfrecord", {"compression": "none"}),
        ("tfrecord", {}),
        ("array_record", {}),
        ("parquet", {}),
    ],
)
def test_no_shard_passes_the_byte_cap_by_more_than_one_record(tmp_path, taxi, fmt, extra):
    report = _run(taxi, tmp_path / "out", output_format=fmt, max_shard_bytes=BYTES_CAP, **extra)
    overhead = 16 if fmt == "tfrecord" else 0
    total = 0
    for entry in report["splits"].values():
        names = entry["files"]
        assert len(names) > 1  # the cap made several shards
        n = len(names)
        assert [re.search(r"-(\d{5})-of-(\d{5})", f).groups() for f in names] == [
            (f"{i:05d}", f"{n:05d}") for i in range(n)
        ]
        count = 0
        for name in names:
            path = str(tmp_path / "out" / name)
            size = os.path.getsize(path)
            if fmt == "parquet":
                count += len(read_table(path))
                assert size <= BYTES_CAP  # the cap counts the examples' bytes; columns are smaller
                continue
            records = _records(fmt, path)
            count += len(records)
            held = sum(len(r) + overhead for r in records)
            largest = max(len(r) + overhead for r in records)
            assert held <= BYTES_CAP + largest
            assert size <= BYTES_CAP + largest + 64 or fmt == "array_record"
        assert count == entry["examples"]
        total += count
    assert total == report["examples"] == report["records_read"] == ROWS
    assert report["max_shard_bytes"] == BYTES_CAP


@pytest.mark.parametrize("fmt", ["tfrecord", "parquet", "array_record"])
def test_record_cap_fills_shards_up_to_the_cap(tmp_path, taxi, fmt):
    report = _run(taxi, tmp_path / "out", output_format=fmt, max_records_per_shard=700)
    total = 0
    for entry in report["splits"].values():
        counts = []
        for name in entry["files"]:
            got = _records(fmt, str(tmp_path / "out" / name))
            counts.append(got if isinstance(got, int) else len(got))
        assert max(counts) <= 700 and sum(counts) == entry["examples"]
        assert counts.count(700) >= 1
        total += sum(counts)
    assert total == ROWS


def test_max_shard_bytes_takes_units():
    assert options.check("max_shard_bytes", "256MB") == 256_000_000
    assert options.check("max_shard_bytes", "1GiB") == 2**30
    assert options.check("max_shard_bytes", 4096.0) == 4096
    with pytest.raises(ConfigError, match=r"max_shard_bytes: unknown unit"):
        options.check("max_shard_bytes", "3 parsecs")


@pytest.mark.parametrize(
    "given,message",
    [
        ({"output_format": "parquet", "compression": "gzip"},
         r"compression: only applies to `output_format` 'tfrecord'; got `output_format` 'parquet'"),
        ({"parquet_compression": "snappy"},
         r"parquet_compression: only applies to `output_format` 'parquet'"),
        ({"num_shards": 2, "max_shard_bytes": "1MB"},
         r"max_shard_bytes: cannot go with num_shards"),
        ({"deterministic": True, "max_records_per_shard": 5},
         r"max_records_per_shard: size-capped shards are an alternative to a fixed `num_shards`"),
        ({"output_format": "array_record", "array_record_options": "bogus:1"},
         r"array_record_options: ArrayRecordWriter refuses 'bogus:1': Unknown option bogus"),
        ({"output_format": "orc"}, r"output_format: 'orc' is not one of \['tfrecord', 'parquet'"),
    ],
)  # fmt: skip
def test_options_that_do_not_go_together_are_refused(tmp_path, given, message):
    with pytest.raises(ConfigError, match=message):
        build_config({"format": "csv", "input": TAXI, "output": str(tmp_path / "o"), **given})


def test_cli_names_the_flags(tmp_path, capsys):
    code = main(["run", "--format", "csv", "--input", TAXI, "--output", str(tmp_path / "o"),
                 "--output-format", "parquet", "--compression", "gzip"])  # fmt: skip
    assert code != 0
    assert "--compression: only applies to --output-format 'tfrecord'" in capsys.readouterr().err


def test_a_missing_array_record_package_is_named(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "array_record", None)
    monkeypatch.setitem(sys.modules, "array_record.python", None)
    monkeypatch.delitem(sys.modules, "beam_ingest.transforms.array_record_sink", raising=False)
    with pytest.raises(ConfigError, match=r"needs the 'array-record' package \(pip install"):
        build_config({"format": "csv", "input": TAXI, "output": str(tmp_path / "o"),
                      "output_format": "array_record"})  # fmt: skip


def test_parquet_codec_is_the_one_asked_for(tmp_path, taxi):
    report = _run(taxi, tmp_path / "out", output_format="parquet", parquet_compression="snappy")
    path = str(tmp_path / "out" / report["splits"]["train"]["files"][0])
    assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "SNAPPY"
    assert isinstance(read_table(path), pa.Table)


def test_sequence_examples_are_not_written_as_parquet(tmp_path):
    with pytest.raises(ConfigError, match=r"output_format: 'parquet' holds tf.Example columns"):
        build_config({"format": "csv", "input": TAXI, "output": str(tmp_path / "o"),
                      "output_format": "parquet", "sequence_key": "company"})  # fmt: skip
