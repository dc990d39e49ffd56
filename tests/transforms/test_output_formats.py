"""Parquet and ArrayRecord outputs (issue 21): round trips against the TFRecord
output on the taxi sample and a type matrix, TFXIO and Grain read-back,
fixed shards, inspect."""

from __future__ import annotations

import glob
import json
import math
import os

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.util import assert_that, equal_to
from tfx_bsl.coders import example_coder

from beam_ingest.config import build_config
from beam_ingest.framing import read_records
from beam_ingest.inspect import inspect_output
from beam_ingest.transforms.array_record_sink import read_array_records
from beam_ingest.transforms.parquet_sink import read_table
from tests.formats import TAXI
from tests.helpers import read_report, run_ingest

ROWS = 2000
FORMATS = ("tfrecord", "parquet", "array_record")


def _ingest(input_path, out, **options) -> dict:
    fmt = {".csv": "csv", ".parquet": "parquet", ".tfrecord": "tfrecord"}[input_path.suffix]
    config = build_config({"format": fmt, "input": str(input_path), "output": str(out), **options})
    return run_ingest(config)


def _matrix_table() -> pa.Table:
    """Multi-valued, absent, empty bytes, zeros, NaN, empty lists."""
    n = 40
    return pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "zero_or_null": pa.array([0 if i % 3 else None for i in range(n)], pa.int64()),
            "f": pa.array([[math.nan, 0.0, -1.5, None][i % 4] for i in range(n)], pa.float64()),
            "s": pa.array([[b"", b"abc", None, b"\x00\xff"][i % 4] for i in range(n)], pa.binary()),
            "multi": pa.array(
                [[[1, 2, 3], [], None, [7]][i % 4] for i in range(n)], pa.list_(pa.int64())
            ),
            "words": pa.array(
                [[["a", "b"], ["c"], [], None][i % 4] for i in range(n)], pa.list_(pa.string())
            ),
            "empty": pa.array([None] * n, pa.int64()),
        }
    )


def _write_sparse(path) -> None:
    """tf.Examples in which features are absent from some examples (TFRecord input
    passes them through as they are)."""
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(path)) as writer:
        for i in range(60):
            features = {"id": tf.train.Feature(int64_list=tf.train.Int64List(value=[i]))}
            if i % 2:
                features["opt"] = tf.train.Feature(float_list=tf.train.FloatList(value=[i / 2]))
            if i % 3:
                values = [b"x"] * (i % 3)
                features["tags"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
            example = tf.train.Example(features=tf.train.Features(feature=features))
            writer.write(example.SerializeToString())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Each output format written from the same taxi rows and the same matrix."""
    folder = tmp_path_factory.mktemp("outputs")
    with open(TAXI) as f:
        (folder / "taxi.csv").write_text("".join(next(f) for _ in range(ROWS + 1)))
    pq.write_table(_matrix_table(), folder / "matrix.parquet")
    _write_sparse(folder / "sparse.tfrecord")
    extra = {"array_record": {"array_record_options": "group_size:1"}}
    found = {}
    for name in ("taxi.csv", "matrix.parquet", "sparse.tfrecord"):
        for fmt in FORMATS:
            out = folder / f"{name}-{fmt}"
            found[name, fmt] = (
                out,
                _ingest(folder / name, out, output_format=fmt, **extra.get(fmt, {})),
            )
    return found


def _files(out, split, pattern="*"):
    paths = sorted(glob.glob(os.path.join(out, f"Split-{split}", pattern)))
    assert paths
    return paths


def _tfrecord_rows(out, split) -> list[dict]:
    records = [r for p in _files(out, split) for r in read_records(p)]
    return example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(records).to_pylist()


def _as_lists(rows: list[dict], table_schema: pa.Schema) -> list[dict]:
    """Parquet rows in the decoder's form: a plain column's value v is [v]."""
    plain = {f.name for f in table_schema if not pa.types.is_large_list(f.type)}
    return [
        {k: ([v] if v is not None else None) if k in plain else v for k, v in row.items()}
        for row in rows
    ]


def _key(row: dict) -> str:
    return json.dumps({k: v for k, v in sorted(row.items())}, default=repr)


def _normalized(rows: list[dict], plain: set[str]) -> list[str]:
    """Rows compared: an empty list is a null in a column that is plain in Parquet."""
    out = []
    for row in rows:
        row = {k: (None if k in plain and v == [] else v) for k, v in row.items()}
        row = {k: v for k, v in row.items() if v is not None}
        out.append(_key(row))
    return sorted(out)


@pytest.mark.parametrize("name", ["taxi.csv", "matrix.parquet", "sparse.tfrecord"])
@pytest.mark.parametrize("split", ["train", "eval"])
def test_parquet_holds_the_tfrecord_outputs_values(runs, name, split):
    tf_out, tf_report = runs[name, "tfrecord"]
    pq_out, pq_report = runs[name, "parquet"]
    expected = _tfrecord_rows(tf_out, split)
    table = pa.concat_tables([read_table(p) for p in _files(pq_out, split, "*.parquet")])
    plain = {f.name for f in table.schema if not pa.types.is_large_list(f.type)}
    got = _as_lists(table.to_pylist(), table.schema)
    assert len(got) == len(expected) == pq_report["splits"][split]["examples"]
    assert _normalized(got, plain) == _normalized(expected, plain)
    assert pq_report["splits"].keys() == tf_report["splits"].keys()


def test_parquet_column_types_follow_the_schema_and_the_values(runs):
    out, report = runs["matrix.parquet", "parquet"]
    table = pa.concat_tables([read_table(p) for p in _files(out, "train", "*.parquet")])
    types = {f.name: f.type for f in table.schema}
    assert types["id"] == pa.int64()  # one value everywhere: a plain column
    assert types["zero_or_null"] == pa.int64()
    assert types["f"] == pa.float32()
    assert types["s"] == pa.large_binary()
    assert types["multi"] == pa.large_list(pa.int64())  # several values: a list
    assert types["words"] == pa.large_list(pa.large_binary())
    rows = {r["id"]: r for r in table.to_pylist()}
    for i, row in rows.items():
        assert row["zero_or_null"] == (0 if i % 3 else None)
        # a null is written as an empty list (TFX's rule), and stays one in a list column
        assert row["multi"] == [[1, 2, 3], [], [], [7]][i % 4]
        assert row["s"] == [b"", b"abc", None, b"\x00\xff"][i % 4]  # empty bytes kept
        f = row["f"]
        assert math.isnan(f) if i % 4 == 0 else f == [None, 0.0, -1.5, None][i % 4]
    assert report["output_format"] == "parquet" and report["parquet_compression"] == "zstd"
    meta = pq.ParquetFile(_files(out, "train", "*.parquet")[0]).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_absent_features_are_nulls_in_parquet(runs):
    out, _ = runs["sparse.tfrecord", "parquet"]
    table = pa.concat_tables(
        [read_table(p) for s in ("train", "eval") for p in _files(out, s, "*.parquet")]
    )
    assert table.schema.field("opt").type == pa.float32()
    assert table.schema.field("tags").type == pa.large_list(pa.large_binary())
    rows = {r["id"]: r for r in table.to_pylist()}
    assert len(rows) == 60
    for i, row in rows.items():
        assert row["opt"] == (i / 2 if i % 2 else None)
        assert row["tags"] == ([b"x"] * (i % 3) if i % 3 else None)


def test_layout_names_and_report_bytes(runs):
    for fmt, pattern in (
        ("tfrecord", r"data_tfrecord-\d{5}-of-\d{5}\.gz"),
        ("parquet", r"data_parquet-\d{5}-of-\d{5}\.parquet"),
        ("array_record", r"data_array_record-\d{5}-of-\d{5}"),
    ):
        out, report = runs["taxi.csv", fmt]
        assert report["output_format"] == fmt
        assert report["records_read"] == report["examples"] == ROWS
        for split, entry in report["splits"].items():
            import re

            assert all(re.fullmatch(f"Split-{split}/{pattern}", f) for f in entry["files"])
            sizes = sum(os.path.getsize(os.path.join(out, f)) for f in entry["files"])
            assert entry["bytes"] == sizes > 0


def test_parquet_reads_back_through_tfx_bsl_parquet_tfxio(runs):
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2
    from tfx_bsl.tfxio.parquet_tfxio import ParquetTFXIO

    out, report = runs["taxi.csv", "parquet"]
    schema = text_format.Parse((out / "schema.pbtxt").read_text(), schema_pb2.Schema())
    io = ParquetTFXIO(os.path.join(out, "Split-train", "*"), schema=schema)
    with beam.Pipeline() as p:
        rows = (
            p
            | io.BeamSource(batch_size=500)
            | beam.Map(lambda b: b.num_rows)
            | beam.CombineGlobally(sum)
        )
        assert_that(rows, equal_to([report["splits"]["train"]["examples"]]))


def test_array_record_holds_the_tfrecord_outputs_records_and_grain_reads_by_index(runs):
    import grain.python as grain

    for name in ("taxi.csv", "matrix.parquet", "sparse.tfrecord"):
        tf_out, _ = runs[name, "tfrecord"]
        ar_out, report = runs[name, "array_record"]
        assert report["array_record_options"] == "group_size:1"
        for split in ("train", "eval"):
            expected = [r for p in _files(tf_out, split) for r in read_records(p)]
            paths = _files(ar_out, split)
            source = grain.ArrayRecordDataSource(paths)
            assert len(source) == len(expected)
            assert sorted(source[i] for i in range(len(source))) == sorted(expected)
            last = len(source) - 1
            flat = [r for p in paths for r in read_array_records(p)]
            assert source[last] == flat[last] and source[last // 2] == flat[last // 2]


def test_inspect_opens_parquet_and_array_record_outputs(runs):
    for fmt in ("parquet", "array_record"):
        out, _ = runs["taxi.csv", fmt]
        text = inspect_output(str(out), examples=2)
        assert f"output format: {fmt}" in text
        shown = [json.loads(line) for line in text.splitlines() if line.startswith("  {")]
        assert len(shown) == 4 and all("trip_start_hour" in row for row in shown)


@pytest.mark.parametrize("fmt", ["parquet", "array_record"])
def test_fixed_shards_merge_into_one_file_each(tmp_path, runs, fmt):
    taxi = runs["taxi.csv", "tfrecord"][0].parent / "taxi.csv"
    report = _ingest(taxi, tmp_path / "out", output_format=fmt, num_shards=3)
    for split, entry in report["splits"].items():
        assert len(entry["files"]) == 3
        if fmt == "parquet":
            counts = [len(read_table(str(tmp_path / "out" / f))) for f in entry["files"]]
        else:
            counts = [len(read_array_records(str(tmp_path / "out" / f))) for f in entry["files"]]
        assert (
            sum(counts)
            == entry["examples"]
            == runs["taxi.csv", fmt][1]["splits"][split]["examples"]
        )


def test_an_empty_split_gets_a_valid_empty_file(tmp_path):
    pq.write_table(pa.table({"x": pa.array([1, 2, 3], pa.int64())}), tmp_path / "in.parquet")
    for fmt in ("parquet", "array_record"):
        out = tmp_path / fmt
        config = build_config(
            {"format": "parquet", "input": str(tmp_path / "in.parquet"), "output": str(out),
             "output_format": fmt, "split": ["train=1", "eval=100000"]}
        )  # fmt: skip
        report = run_ingest(config)
        assert read_report(out) == report
        counts = {s: e["examples"] for s, e in report["splits"].items()}
        empty = [s for s, n in counts.items() if n == 0]
        assert empty == ["train"] and counts["eval"] == 3
        for split in empty:
            (path,) = _files(out, split)
            if fmt == "parquet":
                table = read_table(path)
                assert len(table) == 0 and table.schema.names == ["x"]
            else:
                assert read_array_records(path) == []


@pytest.mark.parametrize("name", ["taxi.csv", "matrix.parquet"])
def test_parquet_from_carried_columns_equals_parquet_from_decoded_examples(runs, name, tmp_path):
    """Rows encoded here reach the Parquet sink with their columns (no decoding);
    the same examples read back from TFRecords are decoded: same files' content."""
    tf_out, _ = runs[name, "tfrecord"]
    carried, _ = runs[name, "parquet"]
    decoded = tmp_path / "decoded"
    options = {"format": "tfrecord", "input": str(tf_out) + "/", "output": str(decoded)}
    run_ingest(build_config({**options, "output_format": "parquet"}))
    for split in ("train", "eval"):
        a = pa.concat_tables([read_table(p) for p in _files(carried, split, "*.parquet")])
        b = pa.concat_tables([read_table(p) for p in _files(decoded, split, "*.parquet")])
        assert a.schema == b.schema
        assert sorted(map(_key, a.to_pylist())) == sorted(map(_key, b.to_pylist()))
