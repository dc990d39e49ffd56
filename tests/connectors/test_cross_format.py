"""The same taxi rows as CSV, JSONL, Parquet and Avro give the same examples,
split by split (issue 3). The inputs: `tests.formats.write_taxi_formats`."""

from __future__ import annotations

import pytest

from beam_ingest import IngestConfig
from beam_ingest.connectors.avro import ReadAvro
from beam_ingest.connectors.csv import ReadCsv
from beam_ingest.connectors.jsonl import ReadJsonl
from beam_ingest.connectors.parquet import ReadParquet
from tests.formats import write_taxi_formats
from tests.helpers import run_ingest, split_records

ROWS = 3000
READERS = {"csv": ReadCsv, "jsonl": ReadJsonl, "parquet": ReadParquet, "avro": ReadAvro}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, tuple]:
    paths = write_taxi_formats(tmp_path_factory.mktemp("formats"), ROWS)
    return {fmt: (READERS[fmt], path) for fmt, path in paths.items()}


@pytest.fixture(scope="module")
def examples(inputs, tmp_path_factory) -> dict[str, dict[str, list[bytes]]]:
    result = {}
    for fmt, (source, path) in inputs.items():
        out = tmp_path_factory.mktemp(f"out-{fmt}") / "out"
        report = run_ingest(IngestConfig(source=source(str(path)), output_dir=str(out)))
        assert report["records_read"] == report["examples"] == ROWS
        result[fmt] = {s: sorted(split_records(str(out), s)) for s in ("train", "eval")}
    return result


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "avro"])
def test_same_examples_in_same_splits_as_csv(examples, fmt):
    assert examples[fmt] == examples["csv"]
