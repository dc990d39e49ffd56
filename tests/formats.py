"""The Chicago taxi sample that the tfx wheel ships, written in every format
beam-ingest reads, so tests can compare formats on the same rows."""

from __future__ import annotations

import json
import os
from pathlib import Path

import fastavro
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from tfx.components import example_gen

from beam_ingest.connectors import _csv_values
from beam_ingest.schema import Kind

TAXI = os.path.normpath(
    os.path.join(
        os.path.dirname(example_gen.__file__),
        "..", "..", "examples", "chicago_taxi_pipeline", "data", "simple", "data.csv",
    )
)  # fmt: skip
_AVRO_TYPES = {Kind.INT: "long", Kind.FLOAT: "double", Kind.BYTES: "string"}


def write_taxi_formats(folder: Path, rows: int) -> dict[str, Path]:
    """The first `rows` taxi rows as folder/taxi.{csv,jsonl,parquet,avro}.

    Types come from CSV inference; an empty cell is a null in every format. A
    column empty everywhere is declared "null" in Avro (a nullable field keeps
    its declared kind there); in JSONL its key is written with null, since a
    key that appears in no record cannot be known (CSV has it in the header).
    """
    folder.mkdir(parents=True, exist_ok=True)
    with open(TAXI) as f:
        lines = [next(f) for _ in range(rows + 1)]
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
    records = table.to_pylist()
    with open(folder / "taxi.jsonl", "w") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
    fields = [
        {"name": n, "type": "null" if k is Kind.UNKNOWN else ["null", _AVRO_TYPES[k]]}
        for n, k in kinds.items()
    ]
    with open(folder / "taxi.avro", "wb") as f:
        fastavro.writer(f, {"type": "record", "name": "Taxi", "fields": fields}, records)
    return {fmt: folder / f"taxi.{fmt}" for fmt in ("csv", "jsonl", "parquet", "avro")}
