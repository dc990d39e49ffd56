"""Property-based tests (Hypothesis, derandomized).

1. Random tables (ints, floats, strings, bools, lists; nulls, zeros, unicode,
   empty strings, empty lists) written as CSV, JSONL, Parquet and Avro,
   ingested and decoded with tfx_bsl, equal the input under the value
   contract. One pipeline per drawn table holds one `Ingest` per format.
2. The split function: proportions within statistical bounds, and an
   example's split independent of the other examples, their order and how
   they are cut into batches.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
from pathlib import Path

import apache_beam as beam
import fastavro
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st
from tfx_bsl.coders.example_coder import ExamplesToRecordBatchDecoder

from beam_ingest import Ingest, IngestConfig, SplitSpec
from beam_ingest.connectors.avro import ReadAvro
from beam_ingest.connectors.csv import ReadCsv
from beam_ingest.connectors.jsonl import ReadJsonl
from beam_ingest.connectors.parquet import ReadParquet
from beam_ingest.splits import SplitAssigner
from tests.helpers import read_report, split_records

SETTINGS = settings(derandomize=True, deadline=None, max_examples=4, database=None)
FORMATS = ("csv", "jsonl", "parquet", "avro")
KINDS = ("int", "float", "string", "bool", "int_list", "string_list")
CSV_KINDS = ("int", "float", "string")  # CSV has no booleans or lists

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_VALUES = {
    "int": st.integers(-(2**63), 2**63 - 1) | st.sampled_from([0, -1, 1]),
    "float": st.floats(allow_nan=False, allow_infinity=False, width=64) | st.just(0.0),
    # CSV infers kinds from the text: a string column starts with a letter.
    "string": st.builds(lambda t: "s" + t, _text) | st.just(""),
    "bool": st.booleans(),
    "int_list": st.lists(st.integers(-(2**63), 2**63 - 1), max_size=4),
    "string_list": st.lists(_text, max_size=4),
}


@st.composite
def tables(draw) -> tuple[dict[str, str], list[dict]]:
    """(column kinds, rows); column `id` is a unique int, never null."""
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=5))
    columns = {f"c{i}_{kind}": kind for i, kind in enumerate(kinds)}
    n = draw(st.integers(1, 25))
    rows = []
    for i in range(n):
        row = {"id": i}
        for name, kind in columns.items():
            row[name] = draw(st.none() | _VALUES[kind])
        rows.append(row)
    return columns, rows


def _write(folder: Path, fmt: str, columns: dict[str, str], rows: list[dict]) -> object:
    folder.mkdir(parents=True)
    path = str(folder / f"data.{fmt}")
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["id", *columns])
        for row in rows:
            writer.writerow(["" if v is None else repr(v) if isinstance(v, float) else v
                             for v in row.values()])  # fmt: skip
        Path(path).write_text(out.getvalue(), encoding="utf-8")
        return ReadCsv(path)
    if fmt == "jsonl":
        Path(path).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return ReadJsonl(path)
    types = {"int": pa.int64(), "float": pa.float64(), "string": pa.string(), "bool": pa.bool_()}
    types |= {"int_list": pa.list_(pa.int64()), "string_list": pa.list_(pa.string())}
    if fmt == "parquet":
        schema = pa.schema([("id", pa.int64())] + [(n, types[k]) for n, k in columns.items()])
        pq.write_table(pa.Table.from_pylist(rows, schema), path)
        return ReadParquet(path)
    avro = {"int": "long", "float": "double", "string": "string", "bool": "boolean"}
    avro |= {"int_list": {"type": "array", "items": "long"}}
    avro |= {"string_list": {"type": "array", "items": "string"}}
    fields = [{"name": "id", "type": "long"}]
    fields += [{"name": n, "type": ["null", avro[k]]} for n, k in columns.items()]
    with open(path, "wb") as f:
        fastavro.writer(f, {"type": "record", "name": "R", "fields": fields}, rows)
    return ReadAvro(path)


def _expected(kind: str, value) -> list:
    """The values a feature holds for one cell under the value contract."""
    if value is None:
        return []
    items = value if kind.endswith("_list") else [value]
    if kind.startswith("string"):
        return [v.encode("utf-8") for v in items]
    if kind == "float":
        return [float(np.float32(value))]
    return [int(v) for v in items]  # bool as 0/1


def _decoded(output_dir: str) -> dict[int, dict]:
    decoder = ExamplesToRecordBatchDecoder()
    records = [r for s in read_report(output_dir)["splits"] for r in split_records(output_dir, s)]
    rows = decoder.DecodeBatch(records).to_pylist()
    return {row["id"][0]: row for row in rows}


def _same(kind: str, got: list | None, want: list) -> bool:
    got = got or []
    if kind == "float":
        return len(got) == len(want) and all(
            float(np.float32(g)) == w for g, w in zip(got, want, strict=True)
        )
    return got == want


@SETTINGS
@given(st.data())
def test_random_tables_round_trip_in_every_format(tmp_path_factory, data):
    columns, rows = data.draw(tables())
    folder = tmp_path_factory.mktemp("table")
    outputs = {}
    with beam.Pipeline() as p:
        for fmt in FORMATS:
            used = {n: k for n, k in columns.items() if fmt != "csv" or k in CSV_KINDS}
            if fmt == "csv":  # "" is CSV's null: an empty string is an empty cell
                table = [{k: (None if v == "" else v) for k, v in r.items() if k in
                          ("id", *used)} for r in rows]  # fmt: skip
            else:
                table = rows
            source = _write(folder / fmt, fmt, used, [{k: r[k] for k in ("id", *used)}
                                                       for r in table])  # fmt: skip
            out = str(folder / f"out_{fmt}")
            outputs[fmt] = (out, used, table)
            config = IngestConfig(
                source=source, output_dir=out, splits=(SplitSpec(name="a", buckets=3),
                                                       SplitSpec(name="b", buckets=1))
            )  # fmt: skip
            _ = p | f"Ingest[{fmt}]" >> Ingest(config)
    for fmt, (out, used, table) in outputs.items():
        report = read_report(out)
        assert (report["records_read"], report["examples"]) == (len(rows), len(rows)), fmt
        decoded = _decoded(out)
        assert sorted(decoded) == [r["id"] for r in table], fmt
        for row in table:
            got = decoded[row["id"]]
            for name, kind in used.items():
                want = _expected(kind, row[name])
                assert _same(kind, got.get(name), want), (fmt, name, row[name], got.get(name))


# --- the split function ----------------------------------------------------------


@SETTINGS
@given(
    buckets=st.lists(st.integers(1, 10), min_size=1, max_size=4),
    seed=st.integers(0, 2**32 - 1),
)
def test_split_proportions_are_within_statistical_bounds(buckets, seed):
    rng = np.random.default_rng(seed)
    n = 20_000
    keys = [rng.bytes(int(rng.integers(0, 40))) for _ in range(n)]
    specs = [SplitSpec(name=f"s{i}", buckets=b) for i, b in enumerate(buckets)]
    counts = np.bincount(SplitAssigner(specs).assign_all(keys), minlength=len(specs))
    total = sum(buckets)
    for count, b in zip(counts, buckets, strict=True):
        p = b / total
        assert abs(count - n * p) <= 5 * math.sqrt(n * p * (1 - p)) + 1, (counts, buckets)


@SETTINGS
@given(
    keys=st.lists(st.binary(max_size=30), min_size=1, max_size=300),
    order=st.randoms(use_true_random=False),
    cuts=st.lists(st.integers(0, 300), max_size=5),
)
def test_split_of_an_example_ignores_order_and_batching(keys, order, cuts):
    assigner = SplitAssigner(
        [SplitSpec(name="train", buckets=2), SplitSpec(name="eval", buckets=1)]
    )
    alone = {k: assigner.assign(k) for k in keys}
    shuffled = keys[:]
    order.shuffle(shuffled)
    bounds = [0, *sorted(c % (len(shuffled) + 1) for c in cuts), len(shuffled)]
    for start, end in itertools.pairwise(bounds):
        chunk = shuffled[start:end]
        assert assigner.assign_all(chunk) == [alone[k] for k in chunk]
