"""ReadParquet: the value contract, row groups, projection, TFX parity, errors."""

from __future__ import annotations

import collections
import datetime
import decimal
import glob
import os
from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from tfx.components.example_gen.custom_executors import parquet_executor
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import proto_utils
from tfx_bsl.coders.example_coder import ExamplesToRecordBatchDecoder

from beam_ingest import IngestConfig, SplitSpec
from beam_ingest.bad_records import BadRecord
from beam_ingest.connectors.parquet import ReadParquet
from beam_ingest.errors import ConfigError
from beam_ingest.framing import read_records
from beam_ingest.schema import Kind, Schema
from beam_ingest.transforms.encode import ToTFExample
from tests.helpers import bad_records, decode, run_ingest, split_records

ONE_SPLIT = (SplitSpec(name="all", buckets=1),)
UTC = datetime.UTC


def _write(path: Path, table: pa.Table, **kwargs) -> str:
    pq.write_table(table, path, **kwargs)
    return str(path)


def _f32(*values: float) -> list[float]:
    """What a float_list holds for these values (float32)."""
    return [float(np.float32(v)) for v in values]


def _by_id(output_dir: Path) -> dict[int, dict]:
    examples = [decode(r) for r in split_records(str(output_dir), "all")]
    return {e["id"][1][0]: e for e in examples}


# --- 1. every supported type, zeros and nulls, read back --------------------

# One row of values, one of zeros and empties (values, kept), one of nulls.
TABLE = pa.table(
    {
        "id": pa.array([1, 2, 3], pa.int64()),
        "i8": pa.array([-128, 0, None], pa.int8()),
        "i16": pa.array([-32768, 0, None], pa.int16()),
        "i32": pa.array([2**31 - 1, 0, None], pa.int32()),
        "i64": pa.array([-(2**63), 0, None], pa.int64()),
        "u8": pa.array([255, 0, None], pa.uint8()),
        "u16": pa.array([65535, 0, None], pa.uint16()),
        "u32": pa.array([2**32 - 1, 0, None], pa.uint32()),
        "u64": pa.array([2**63 - 1, 0, None], pa.uint64()),
        "bool": pa.array([True, False, None]),
        "f16": pa.array([np.float16(1.5), np.float16(0), None], pa.float16()),
        "f32": pa.array([0.1, 0.0, None], pa.float32()),
        "f64": pa.array([-2.5e10, 0.0, None], pa.float64()),
        "dec": pa.array([decimal.Decimal("12.34"), decimal.Decimal(0), None], pa.decimal128(10, 2)),
        "str": pa.array(["héllo", "", None], pa.string()),
        "lstr": pa.array(["x", "", None], pa.large_string()),
        "bin": pa.array([b"\x00\xff", b"", None], pa.binary()),
        "fbin": pa.array([b"ab", b"\x00\x00", None], pa.binary(2)),
        "dict": pa.array(["red", "", None]).dictionary_encode(),
        "date": pa.array([datetime.date(2024, 1, 2), datetime.date(1970, 1, 1), None]),
        "date64": pa.array(
            [datetime.date(1969, 12, 31), datetime.date(1970, 1, 1), None], pa.date64()
        ),
        "ts_utc": pa.array(
            [
                datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
                datetime.datetime(1970, 1, 1),
                None,
            ],
            pa.timestamp("us", tz="UTC"),
        ),
        "ts_ns": pa.array(
            [1_700_000_000_123_456_789, 0, None], pa.timestamp("ns", tz="Asia/Tokyo")
        ),
        "time": pa.array([datetime.time(1, 2, 3, 4), datetime.time(0), None], pa.time64("us")),
        "ints": pa.array([[1, 2], [0], None], pa.list_(pa.int32())),
        "floats": pa.array([[0.5, -1.0], [], None], pa.large_list(pa.float64())),
        "strs": pa.array([["a", ""], [], None], pa.list_(pa.string())),
        "pair": pa.array([[1, 2], [0, 0], [3, 4]], pa.list_(pa.int16(), 2)),
        "point": pa.array(
            [{"x": 1, "y": "a"}, {"x": 0, "y": ""}, None],
            pa.struct([("x", pa.int64()), ("y", pa.string())]),
        ),
        "nothing": pa.nulls(3),
        "typed_nothing": pa.array([None, None, None], pa.float64()),
    }
)
INT, FLOAT, BYTES = "int64_list", "float_list", "bytes_list"
EMPTY = (None, [])  # an empty Feature()
TS = int(datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC).timestamp()) * 10**6 + 6
EXPECTED = {
    # column: (kind, values of row 1, of row 2 (zeros), of row 3 (nulls: []))
    "i8": (INT, [-128], [0]),
    "i16": (INT, [-32768], [0]),
    "i32": (INT, [2**31 - 1], [0]),
    "i64": (INT, [-(2**63)], [0]),
    "u8": (INT, [255], [0]),
    "u16": (INT, [65535], [0]),
    "u32": (INT, [2**32 - 1], [0]),
    "u64": (INT, [2**63 - 1], [0]),
    "bool": (INT, [1], [0]),
    "f16": (FLOAT, [1.5], [0.0]),
    "f32": (FLOAT, _f32(0.1), [0.0]),
    "f64": (FLOAT, _f32(-2.5e10), [0.0]),
    "dec": (FLOAT, _f32(12.34), [0.0]),
    "str": (BYTES, ["héllo".encode()], [b""]),
    "lstr": (BYTES, [b"x"], [b""]),
    "bin": (BYTES, [b"\x00\xff"], [b""]),
    "fbin": (BYTES, [b"ab"], [b"\x00\x00"]),
    "dict": (BYTES, [b"red"], [b""]),
    "date": (INT, [19724], [0]),
    "date64": (INT, [-1], [0]),
    "ts_utc": (INT, [TS], [0]),
    "ts_ns": (INT, [1_700_000_000_123_456], [0]),
    "time": (INT, [3_723_000_004], [0]),
    "ints": (INT, [1, 2], [0]),
    "floats": (FLOAT, [0.5, -1.0], []),
    "strs": (BYTES, [b"a", b""], []),
    "point.x": (INT, [1], [0]),
    "point.y": (BYTES, [b"a"], [b""]),
}


def _expected(row: int, id_: int) -> dict:
    out = {"id": (INT, [id_]), "nothing": EMPTY, "typed_nothing": EMPTY}
    for name, (kind, *values) in EXPECTED.items():
        out[name] = (kind, values[row] if row < 2 else [])
    out["pair"] = (INT, [[1, 2], [0, 0], [3, 4]][row])  # a null fixed-size list does not round-trip
    return out


@pytest.fixture(scope="module")
def all_types_run(tmp_path_factory):
    """The table twice: plain, and with int96 timestamps (ids + 10)."""
    folder = tmp_path_factory.mktemp("types")
    _write(folder / "a.parquet", TABLE)
    plus_ten = TABLE.set_column(0, "id", pa.array([11, 12, 13], pa.int64()))
    _write(folder / "b.parquet", plus_ten, use_deprecated_int96_timestamps=True)
    columns = pq.ParquetFile(folder / "b.parquet").schema
    physical = {
        columns.column(i).path: columns.column(i).physical_type for i in range(len(columns))
    }
    assert physical["ts_utc"] == physical["ts_ns"] == "INT96"
    out = folder / "out"
    source = ReadParquet(str(folder / "*.parquet"))
    report = run_ingest(IngestConfig(source=source, output_dir=str(out), splits=ONE_SPLIT))
    return report, out


@pytest.mark.parametrize("id_", [1, 2, 3, 11, 12, 13])
def test_every_type_round_trips(all_types_run, id_):
    _, out = all_types_run
    assert _by_id(out)[id_] == _expected(id_ % 10 - 1, id_)


def test_round_trip_schema_and_counts(all_types_run):
    report, _ = all_types_run
    assert report["records_read"] == report["examples"] == 6
    assert report["bad_records"]["count"] == 0
    kinds = {"int64_list": "int", "float_list": "float", "bytes_list": "bytes", None: "unknown"}
    assert report["schema"] == {name: kinds[kind] for name, (kind, _) in _expected(0, 1).items()}


def test_round_trip_through_tfx_bsl_decoder(all_types_run):
    """What TFX components downstream decode: a typed list column per feature,
    null type for the columns null everywhere."""
    _, out = all_types_run
    batch = ExamplesToRecordBatchDecoder().DecodeBatch(split_records(str(out), "all"))
    arrow = {"int64_list": pa.int64(), "float_list": pa.float32(), "bytes_list": pa.large_binary()}
    expected = {
        name: pa.large_list(arrow[kind]) if kind else pa.null()
        for name, (kind, _) in _expected(0, 1).items()
    }
    assert dict(zip(batch.schema.names, batch.schema.types, strict=True)) == expected
    rows = sorted(batch.to_pylist(), key=lambda r: r["id"])
    assert [r["u64"] for r in rows] == [[2**63 - 1], [0], [], [2**63 - 1], [0], []]
    assert [r["str"] for r in rows][:3] == [["héllo".encode()], [b""], []]


# --- 2. row groups are the work units; projection ---------------------------


def test_row_groups_are_work_units(tmp_path):
    table = pa.table({"n": pa.array(range(10), pa.int64())})
    a = _write(tmp_path / "a.parquet", table, row_group_size=3)
    b = _write(tmp_path / "b.parquet", table.slice(0, 2))
    assert pq.ParquetFile(a).num_row_groups == 4
    source = ReadParquet(str(tmp_path / "*.parquet"))
    with BeamTestPipeline() as p:
        out = p | source
        rows = out.records | "Values" >> beam.FlatMap(lambda b: b.column("n").to_pylist())
        assert_that(rows, equal_to([*range(10), 0, 1]), label="Rows")
        sizes = out.records | "Sizes" >> beam.Map(lambda b: b.num_rows)
        assert_that(sizes, equal_to([3, 3, 3, 1, 2]), label="BatchesWithinRowGroups")
        counts = [(a, 3), (a, 3), (a, 3), (a, 1), (b, 2)]  # one per (file, row group)
        assert_that(out.counts, equal_to(counts), label="Counts")
        assert_that(out.bad_records, equal_to([]), label="BadRecords")
        assert_that(out.schema, equal_to([Schema.from_kinds([("n", Kind.INT)])]), label="Schema")
    assert [f.path for f in source.input_files()] == [a, b]
    assert source.files == source.input_files()  # the deprecated alias


def test_columns_project_in_the_given_order(tmp_path):
    table = pa.table(
        {
            "a": [1, 2],
            "b": ["x", "y"],
            "s": [{"p": 1, "q": "u"}, {"p": 2, "q": "v"}],
            "m": pa.array([[("k", 1)], []], pa.map_(pa.string(), pa.int64())),  # not read
        }
    )
    path = _write(tmp_path / "p.parquet", table)
    with BeamTestPipeline() as p:
        out = p | ReadParquet(path, columns=["s.q", "a"])
        rows = out.records | beam.FlatMap(lambda b: [tuple(r.items()) for r in b.to_pylist()])
        assert_that(rows, equal_to([(("s.q", b"u"), ("a", 1)), (("s.q", b"v"), ("a", 2))]))
        schema = Schema.from_kinds([("s.q", Kind.BYTES), ("a", Kind.INT)])
        assert_that(out.schema, equal_to([schema]), label="Schema")


def test_display_data():
    source = ReadParquet("in/*.parquet", columns=["a", "b"])
    assert source.display_data() == {"file_pattern": "in/*.parquet", "columns": "a,b"}


# --- 3. parity with TFX's own Parquet executor, on its own test file -------

TFX_TESTDATA = Path(parquet_executor.__file__).parents[2] / "testdata" / "external"
TFX_PARQUET = TFX_TESTDATA / "parquet" / "data.parquet"


def _normalized(record: bytes) -> bytes:
    return tf.train.Example.FromString(record).SerializeToString(deterministic=True)


def _drop_like_tfx(record: bytes) -> bytes:
    """An example as TFX's `dict_to_example` would write it: a feature whose
    value is falsy (None, 0, 0.0, "", False, []) becomes an empty Feature()."""
    example = tf.train.Example.FromString(record)
    for feature in example.features.feature.values():
        kind = feature.WhichOneof("kind")
        values = getattr(feature, kind).value if kind else []
        if kind and (not values or (len(values) == 1 and not values[0])):
            feature.Clear()
    return example.SerializeToString(deterministic=True)


def _read_splits(output_dir: Path) -> dict[str, list[bytes]]:
    return {
        folder.name.removeprefix("Split-"): [
            r for p in sorted(glob.glob(str(folder / "*"))) for r in read_records(p)
        ]
        for folder in output_dir.glob("Split-*")
    }


@pytest.fixture(scope="module")
def tfx_parity(tmp_path_factory):
    """TFX's parquet executor and beam-ingest over TFX's test file, default splits."""
    folder = tmp_path_factory.mktemp("tfx_parity")
    examples = standard_artifacts.Examples()
    examples.uri = str(folder / "tfx")
    split_config = example_gen_pb2.SplitConfig(
        splits=[
            example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=2),
            example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1),
        ]
    )
    exec_properties = {
        standard_component_specs.INPUT_BASE_KEY: str(TFX_TESTDATA),
        standard_component_specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Input(
                splits=[example_gen_pb2.Input.Split(name="parquet", pattern="parquet/*")]
            )
        ),
        standard_component_specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Output(split_config=split_config)
        ),
    }
    parquet_executor.Executor().Do(
        {}, {standard_component_specs.EXAMPLES_KEY: [examples]}, exec_properties
    )
    source = ReadParquet(str(TFX_TESTDATA / "parquet" / "*"))
    report = run_ingest(IngestConfig(source=source, output_dir=str(folder / "ingest")))
    return _read_splits(folder / "tfx"), _read_splits(folder / "ingest"), report


def test_tfx_same_examples_once_its_dropped_values_are_dropped(tfx_parity):
    tfx, ingest, report = tfx_parity
    assert sorted(tfx) == sorted(ingest) == ["eval", "train"]
    assert report["records_read"] == report["examples"] == 10_000
    tfx_all = collections.Counter(_normalized(r) for rs in tfx.values() for r in rs)
    ingest_all = collections.Counter(_drop_like_tfx(r) for rs in ingest.values() for r in rs)
    assert sum(tfx_all.values()) == sum(ingest_all.values()) == 10_000
    assert tfx_all == ingest_all


def test_tfx_same_split_for_every_identical_example(tfx_parity):
    """Examples with no zero and no null (but in pickup_census_tract, null
    everywhere: Feature() on both sides) are the same bytes on both sides, and
    in the same split. The others differ in bytes, so their split hash differs:
    3,714 of those 8,198 land in another split than TFX puts them in."""
    tfx, ingest, _ = tfx_parity
    tfx_split = {_normalized(r): s for s, rs in tfx.items() for r in rs}
    identical = {r: s for s, rs in ingest.items() for r in rs if _drop_like_tfx(r) == r}
    rows = pq.read_table(TFX_PARQUET).to_pylist()
    # pickup_census_tract is null in every row: an empty Feature() on both sides.
    clean = [r for r in rows if all(v for k, v in r.items() if k != "pickup_census_tract")]
    assert len(identical) == len(clean) == 1802
    assert {r: tfx_split.get(r) for r in identical} == identical
    moved = [
        r for s, rs in ingest.items() for r in rs if tfx_split[_drop_like_tfx(r)] != s
    ]  # with those values dropped, the example TFX writes hashes elsewhere
    assert len(moved) == 3714


def test_tfx_differences_are_exactly_its_dropped_zeros_and_nulls(tfx_parity):
    """Every feature that differs is a 0 / 0.0 that TFX drops (beam-ingest keeps
    it) or a null that TFX writes as Feature() (beam-ingest: an empty list of
    the column's type); and every such cell in the file makes one difference."""
    _, ingest, _ = tfx_parity
    found: collections.Counter = collections.Counter()
    for record in (r for rs in ingest.values() for r in rs):
        ours, theirs = decode(record), decode(_drop_like_tfx(record))
        for name, (kind, values) in ours.items():
            if theirs[name] != (kind, values):
                assert theirs[name] == EMPTY and kind and values in ([], [0]), (name, values)
                found[name, "zero" if values else "null"] += 1
    table = pq.read_table(TFX_PARQUET)
    expected = collections.Counter()
    for name in table.column_names:
        column = table[name]
        if column.null_count == len(column):
            continue  # pickup_census_tract: null everywhere, Feature() on both sides
        expected[name, "null"] = column.null_count
        if not pa.types.is_string(column.type):
            expected[name, "zero"] = pc.sum(pc.equal(column, 0)).as_py() or 0
    assert found == +expected
    assert sum(found.values()) == 14_218  # in 8,198 of the 10,000 examples


def test_tfx_drops_zeros_and_nulls_beam_ingest_keeps_them(tfx_parity):
    """Row 15 of TFX's file: hour 0, fare/tips/miles/seconds 0.0, null dropoff."""
    tfx, ingest, _ = tfx_parity
    key = {"trip_start_timestamp": [1448669700], "pickup_community_area": [2]}

    def find(records: list[bytes]) -> dict:
        (found,) = [e for e in map(decode, records) if all(e[k][1] == v for k, v in key.items())]
        return found

    theirs = find([r for rs in tfx.values() for r in rs])
    ours = find([r for rs in ingest.values() for r in rs])
    assert ours["trip_start_hour"] == (INT, [0]) and theirs["trip_start_hour"] == EMPTY
    for name in ("fare", "tips", "trip_miles", "trip_seconds"):
        assert ours[name] == (FLOAT, [0.0]) and theirs[name] == EMPTY, name
    for name in ("dropoff_latitude", "dropoff_community_area"):  # null in this row
        assert ours[name] == (FLOAT, []) and theirs[name] == EMPTY, name
    assert ours["pickup_census_tract"] == theirs["pickup_census_tract"] == EMPTY  # null everywhere
    assert ours["payment_type"] == theirs["payment_type"] == (BYTES, [b"Cash"])
    assert ours["pickup_latitude"] == theirs["pickup_latitude"] == (FLOAT, _f32(42.001571027))


def test_tfx_drops_empty_string_false_and_empty_list_beam_ingest_keeps_them(tmp_path):
    """TFX's file has no "", False or []; this one does, read by both sides."""
    table = pa.table(
        {
            "id": [1, 2],
            "s": ["", None],
            "b": [False, None],
            "l": pa.array([[], None], pa.list_(pa.int64())),
        }
    )
    _write(tmp_path / "z.parquet", table)
    theirs = {"id": (INT, [1]), "s": EMPTY, "b": EMPTY, "l": EMPTY}
    ours = {"id": (INT, [1]), "s": (BYTES, [b""]), "b": (INT, [0]), "l": (INT, [])}
    ours_null = {"id": (INT, [2]), "s": (BYTES, []), "b": (INT, []), "l": (INT, [])}
    with BeamTestPipeline() as p:
        tfx = p | "Tfx" >> parquet_executor._ParquetToExample(
            exec_properties={standard_component_specs.INPUT_BASE_KEY: str(tmp_path)},
            split_pattern="*.parquet",
        )
        tfx_decoded = tfx | "DecodeTfx" >> beam.Map(lambda e: decode(e.SerializeToString()))
        assert_that(tfx_decoded, equal_to([theirs, {**theirs, "id": (INT, [2])}]), label="Tfx")
        read = p | "Read" >> ReadParquet(str(tmp_path / "*.parquet"))
        decoded = (
            read.records
            | "Encode" >> ToTFExample()
            | "DecodeOurs" >> beam.FlatMap(lambda batch: [decode(e) for e in batch.examples])
        )
        assert_that(decoded, equal_to([ours, ours_null]), label="BeamIngest")


# --- the Source contract: options and profiles ------------------------------


def test_from_options_projects_columns_and_refuses_a_schema():
    source = ReadParquet.from_options("in/*.parquet", {"columns": ["b", "a"]}, None)
    assert (source.file_pattern, source.columns) == ("in/*.parquet", ["b", "a"])
    assert ReadParquet.from_options("in/*.parquet", {"columns": None}, None).columns is None
    schema = Schema.from_kinds([("a", Kind.INT)])
    message = "^schema: Parquet files carry their own schema; leave schema out$"
    with pytest.raises(ConfigError, match=message):
        ReadParquet.from_options("in/*.parquet", {"columns": None}, schema)


def test_profile_counts_and_converts_as_reading(tmp_path):
    table = pa.table({"n": pa.array(range(10), pa.int64()), "s": [f"v{i}" for i in range(10)]})
    _write(tmp_path / "a.parquet", table, row_group_size=3)
    _write(tmp_path / "b.parquet", table.slice(0, 2))
    paths = sorted(str(p) for p in tmp_path.iterdir())
    records, schema = ReadParquet.profile(paths, {"columns": ["s"]})
    assert (records, schema) == (12, Schema.from_kinds([("s", Kind.BYTES)]))
    with BeamTestPipeline() as p:
        out = p | ReadParquet(str(tmp_path / "*.parquet"), columns=["s"])
        assert_that(out.schema, equal_to([schema]), label="Schema")
        read = out.counts | beam.Map(lambda count: count[1]) | beam.CombineGlobally(sum)
        assert_that(read, equal_to([records]), label="Records")


def test_profile_refuses_an_unreadable_file(tmp_path):
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    with pytest.raises(ConfigError, match=r"^registry push: '.*x\.parquet' is not a readable"):
        ReadParquet.profile([str(tmp_path / "x.parquet")], {"columns": None})


# --- 4. errors ---------------------------------------------------------------


def _build(pattern: str, **kwargs) -> None:
    p = beam.Pipeline()
    _ = p | ReadParquet(pattern, **kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("",), {}, "ReadParquet: file_pattern must be a non-empty string; got ''"),
        ((None,), {}, "ReadParquet: file_pattern must be a non-empty string; got None"),
        (("x",), {"columns": "a"}, "^columns: must be a non-empty list .*; got 'a'"),
        (("x",), {"columns": []}, r"^columns: .*; got \[\]"),
        (("x",), {"columns": ["a", ""]}, r"^columns: .*; got \['a', ''\]"),
        (("x",), {"columns": ["a", "a"]}, r"^columns: .*distinct.*; got \['a', 'a'\]"),
        (("x",), {"columns": [1]}, r"^columns: .*; got \[1\]"),
    ],
)
def test_bad_arguments(args, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ReadParquet(*args, **kwargs)


def test_no_match_names_the_pattern(tmp_path):
    with pytest.raises(ConfigError, match=r"^input: no file matches '.*nothing\*\.parquet'"):
        _build(str(tmp_path / "nothing*.parquet"))


def test_missing_projected_column_names_it_and_lists_the_columns(tmp_path):
    path = _write(tmp_path / "a.parquet", pa.table({"a": [1], "s": [{"x": 1}]}))
    with pytest.raises(
        ConfigError,
        match=r"^columns: 'zz' is not a column of '.*a\.parquet'; "
        r"its columns: \['a', 's', 's\.x'\]",
    ):
        _build(path, columns=["a", "zz"])


UNSUPPORTED = {
    "map": (pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64())), "map<string, int64"),
    "list_of_struct": (pa.array([[{"x": 1}]]), "list<element: struct<x: int64>>)"),
    "list_of_list": (pa.array([[[1]]]), "list<element: list<element: int64>>)"),
}


@pytest.mark.parametrize("name", list(UNSUPPORTED))
def test_unsupported_type_names_column_and_type(tmp_path, name):
    column, type_name = UNSUPPORTED[name]
    path = _write(tmp_path / "u.parquet", pa.table({"ok": [1], name: column}))
    with pytest.raises(ConfigError) as error:
        _build(path)
    assert f"'{name}' ({type_name}" in str(error.value)
    assert "no tf.Example form" in str(error.value)
    _build(path, columns=["ok"])  # left out, the file is fine


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (
            pa.table({"a": [1], "b": ["x"]}),
            r"column 'b': '.*1\.parquet' has it as int, '.*2\.parquet' has it as bytes",
        ),
        (
            pa.table({"a": [1]}),
            r"column 'b': '.*1\.parquet' has it as int, '.*2\.parquet' has no such column",
        ),
        (
            pa.table({"b": [1], "a": [1]}),
            r"'.*1\.parquet' has columns \['a', 'b'\], '.*2\.parquet' has \['b', 'a'\]",
        ),
    ],
    ids=["type", "missing", "order"],
)
def test_schemas_differing_across_files_name_both(tmp_path, second, message):
    _write(tmp_path / "1.parquet", pa.table({"a": [1], "b": [2]}))
    _write(tmp_path / "2.parquet", second)
    with pytest.raises(
        ConfigError, match="^input: files of one pattern must share a schema; " + message
    ):
        _build(str(tmp_path / "*.parquet"))


def test_integer_widths_share_a_schema(tmp_path):
    _write(tmp_path / "1.parquet", pa.table({"a": pa.array([1], pa.int8())}))
    _write(tmp_path / "2.parquet", pa.table({"a": pa.array([1], pa.uint32())}))
    _build(str(tmp_path / "*.parquet"))


def _corrupt_first_page(path: str) -> None:
    """Flips a byte in the first data page of row group 0 (the file keeps page
    checksums, so reading that row group fails; the footer is intact)."""
    chunk = pq.read_metadata(path).row_group(0).column(0)
    data = bytearray(Path(path).read_bytes())
    data[chunk.data_page_offset + chunk.total_compressed_size - 8] ^= 0xFF
    Path(path).write_bytes(bytes(data))


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")

    def table(ids: list[int]) -> pa.Table:
        return pa.table({"id": pa.array(ids, pa.uint64()), "name": [f"n{i}" for i in ids]})

    good = _write(folder / "a_good.parquet", table([0, 1, 2, 3, 4]), row_group_size=2)
    (folder / "b_garbage.parquet").write_bytes(b"this is not parquet at all" * 4)
    (folder / "c_truncated.parquet").write_bytes(Path(good).read_bytes()[:-20])
    (folder / "d_empty.parquet").write_bytes(b"")
    _write(folder / "e_uint64.parquet", table([7, 2**63, 8]))
    checksummed = _write(
        folder / "f_checksum.parquet",
        table(list(range(10, 20))),
        row_group_size=5,
        write_page_checksum=True,
        compression="none",
    )
    _corrupt_first_page(checksummed)
    out = folder / "out"
    source = ReadParquet(str(folder / "*.parquet"))
    report = run_ingest(
        IngestConfig(source=source, output_dir=str(out), splits=ONE_SPLIT, max_bad_records=10)
    )
    return report, out


def test_bad_records_name_file_row_and_reason(bad_run):
    _, out = bad_run
    got = sorted(
        (os.path.basename(r["file"]), r["record"], r["reason"], r["raw"])
        for r in bad_records(str(out))
    )
    magic = (
        "not a readable Parquet file: Parquet magic bytes not found in footer. "
        "Either the file is corrupted or this is not a parquet file."
    )
    assert got[:4] == [
        ("b_garbage.parquet", 0, magic, ""),
        ("c_truncated.parquet", 0, magic, ""),
        ("d_empty.parquet", 0, "not a readable Parquet file: Parquet file size is 0 bytes", ""),
        (
            "e_uint64.parquet",
            1,
            "column 'id': 9223372036854775808 is above the int64 maximum",
            '{"id": 9223372036854775808, "name": "n9223372036854775808"}',
        ),
    ]
    name, row, reason, raw = got[4]
    assert (name, row, raw) == ("f_checksum.parquet", 0, "")
    assert reason.startswith("row group 0 cannot be read from row 0 on: ")
    assert "CRC checksum verification failed" in reason
    assert len(got) == 5


def test_only_corrupt_files_still_produce_a_report(tmp_path):
    (tmp_path / "g.parquet").write_bytes(b"PAR1 and then nothing")
    out = tmp_path / "out"
    report = run_ingest(
        IngestConfig(
            source=ReadParquet(str(tmp_path / "*.parquet")),
            output_dir=str(out),
            splits=ONE_SPLIT,
            max_bad_records=1,
        )
    )
    assert (report["records_read"], report["examples"], report["schema"]) == (1, 0, {})
    assert [(r["record"], r["raw"]) for r in bad_records(str(out))] == [(0, "")]


def test_file_changed_after_the_pipeline_was_built_is_a_bad_record(tmp_path):
    path = _write(tmp_path / "c.parquet", pa.table({"a": [1, 2]}))
    with BeamTestPipeline() as p:
        out = p | ReadParquet(path)
        reason = (
            "row group 0 cannot be read from row 0 on: "
            "its schema changed since the pipeline was built"
        )
        assert_that(out.bad_records, equal_to([BadRecord(path, 0, reason, "")]), label="Bad")
        assert_that(out.counts, equal_to([(path, 1)]), label="Counts")
        assert_that(out.records, equal_to([]), label="Records")
        _write(tmp_path / "c.parquet", pa.table({"a": ["x", "y"]}))  # before the run


def test_other_files_and_row_groups_still_read(bad_run):
    _, out = bad_run
    assert sorted(_ids(out)) == [0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 18, 19]


def _ids(output_dir: Path) -> list[int]:
    return [decode(r)["id"][1][0] for r in split_records(str(output_dir), "all")]


def test_every_record_accounted_for(bad_run):
    report, _ = bad_run
    # 5 + 3 + (1 + 5) rows read in good files; each unreadable file or row group is one.
    assert report["records_read"] == 5 + 3 + 6 + 3
    assert report["examples"] == 12
    assert report["bad_records"]["count"] == 5
    assert report["records_read"] == report["examples"] + report["bad_records"]["count"]
