"""The same taxi rows as CSV, JSONL, Parquet and Avro give the same examples,
split by split (issue 3). Types come from CSV inference; an empty cell is a
null in every format. A column empty everywhere is declared "null" in Avro
(a nullable field keeps its declared kind there); in JSONL its key is written
with null, since a key that appears in no record cannot be known (CSV has it
in the header) and would be absent from the examples."""

from __future__ import annotations

import json
import os

import fastavro
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from tfx.components import example_gen

from beam_ingest import IngestConfig
from beam_ingest.connectors import _csv_values
from beam_ingest.connectors.avro import ReadAvro
from beam_ingest.connectors.csv import ReadCsv
from beam_ingest.connectors.jsonl import ReadJsonl
from beam_ingest.connectors.parquet import ReadParquet
from beam_ingest.schema import Kind
from tests.helpers import run_ingest, split_records

TAXI = os.path.join(
    os.path.dirname(example_gen.__file__),
    "..", "..", "examples", "chicago_taxi_pipeline", "data", "simple", "data.csv",
)  # fmt: skip
ROWS = 3000
_AVRO_TYPES = {Kind.INT: "long", Kind.FLOAT: "double", Kind.BYTES: "string"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, tuple]:
    folder = tmp_path_factory.mktemp("formats")
    with open(TAXI) as f:
        lines = [next(f) for _ in range(ROWS + 1)]
    (folder / "taxi.csv").write_text("".join(lines))
    cells = pa_csv.read_csv(
        folder / "taxi.csv",
        convert_options=pa_csv.ConvertOptions(
            column_types=dict.fromkeys(lines[0].strip().split(","), pa.binary()),
            strings_can_be_null=True,
        ),
    )
    columns, kinds = {}, {}
    for name in cells.column_names:
        column = cells.column(name).combine_chunks()
        kinds[name] = _csv_values.infer_kind(column)
        values, failures = _csv_values.convert(column, kinds[name])
        assert failures == {}
        if kinds[name] is Kind.BYTES:
            values = values.cast(pa.string())
        columns[name] = values
    table = pa.table(columns)
    pq.write_table(table, folder / "taxi.parquet", row_group_size=1000)
    rows = table.to_pylist()
    with open(folder / "taxi.jsonl", "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    fields = [
        {"name": n, "type": "null" if k is Kind.UNKNOWN else ["null", _AVRO_TYPES[k]]}
        for n, k in kinds.items()
    ]
    with open(folder / "taxi.avro", "wb") as f:
        fastavro.writer(f, {"type": "record", "name": "Taxi", "fields": fields}, rows)
    return {
        "csv": (ReadCsv, folder / "taxi.csv"),
        "jsonl": (ReadJsonl, folder / "taxi.jsonl"),
        "parquet": (ReadParquet, folder / "taxi.parquet"),
        "avro": (ReadAvro, folder / "taxi.avro"),
    }


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
