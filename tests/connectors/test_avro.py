"""ReadAvro: every type, work units, corrupt files, errors, and parity with TFX."""

from __future__ import annotations

import collections
import datetime
import decimal
import functools
import glob
import importlib.util
import io
import os
import re
import uuid
import zlib
from unittest import mock

import apache_beam as beam
import cramjam
import fastavro
import pyarrow as pa
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from beam_ingest import IngestConfig
from beam_ingest.connectors import _avro_schema
from beam_ingest.connectors import avro as avro_connector
from beam_ingest.connectors._avro_columns import columns_reader
from beam_ingest.connectors.avro import ReadAvro
from beam_ingest.errors import ConfigError
from beam_ingest.framing import read_records
from beam_ingest.schema import Kind, Schema
from beam_ingest.splits import SplitSpec
from tests.helpers import bad_records, decode, run_ingest, split_records

UTC = datetime.UTC
ALL = (SplitSpec(name="all", buckets=1),)


def write_avro(path, schema: dict, records: list, **kwargs) -> str:
    with open(path, "wb") as f:
        fastavro.writer(f, schema, records, **kwargs)
    return str(path)


def record_schema(*fields: tuple[str, object], name: str = "Row") -> dict:
    return {"type": "record", "name": name, "fields": [{"name": n, "type": t} for n, t in fields]}


def blocks_of(data: bytes) -> list[tuple[int, int, list[dict]]]:
    """(offset, size, records) of each block of an Avro file."""
    return [(b.offset, b.size, list(b)) for b in fastavro.block_reader(io.BytesIO(data))]


def file_blocks(path: str) -> list[tuple[int, int, list[dict]]]:
    with open(path, "rb") as f:
        return blocks_of(f.read())


def days(d: datetime.date) -> int:
    return (d - datetime.date(1970, 1, 1)).days


def micros(t: datetime.datetime) -> int:
    epoch = datetime.datetime(1970, 1, 1, tzinfo=t.tzinfo)
    return (t - epoch) // datetime.timedelta(microseconds=1)


def bad_matcher(expected: list[tuple[int, str]]):
    """Bad records, sorted by record, have these records and reasons matching these regexes."""

    def check(actual):
        got = sorted((b.record, b.reason) for b in actual)
        assert [r for r, _ in got] == [r for r, _ in expected], got
        for (_, reason), (_, pattern) in zip(got, expected, strict=True):
            assert re.search(pattern, reason), (reason, pattern)

    return check


def check_read(
    pattern: str, *, ids: list, bad: list = (), units: int | None = None, busy: int = 0, **kwargs
):
    """Runs ReadAvro alone: its `id`s, bad records, and counts that add up."""
    with BeamTestPipeline() as p:
        out = p | ReadAvro(pattern, **kwargs)
        got = out.records | beam.FlatMap(lambda b: b.column("id").to_pylist())
        assert_that(got, equal_to(ids), label="Ids")
        assert_that(out.bad_records, bad_matcher(list(bad)), label="BadRecords")
        read = out.counts | beam.Map(lambda c: c[1]) | beam.CombineGlobally(sum)
        assert_that(read, equal_to([len(ids) + len(bad)]), label="RecordsRead")
        if units is not None:
            count = out.counts | beam.combiners.Count.Globally()
            assert_that(count, equal_to([units]), label="WorkUnits")
        if busy:  # at least this many work units read records
            reading = out.counts | beam.Filter(lambda c: c[1] > 0)
            count = reading | "CountBusy" >> beam.combiners.Count.Globally()
            assert_that(count | beam.Map(lambda n: n >= busy), equal_to([True]), label="Busy")


# --- 1. every type, through Ingest and back ----------------------------------

POINT = record_schema(
    ("x", "int"),
    ("label", ["null", "string"]),
    ("inner", record_schema(("z", "double"), name="Inner")),
    name="Point",
)
TYPES = record_schema(
    ("id", "int"),
    ("flag", "boolean"),
    ("long", "long"),
    ("float", "float"),
    ("double", "double"),
    ("text", "string"),
    ("raw", "bytes"),
    ("color", {"type": "enum", "name": "Color", "symbols": ["RED", "GREEN"]}),
    ("hash", {"type": "fixed", "name": "Hash", "size": 4}),
    ("maybe_int", ["null", "int"]),
    ("maybe_text", ["string", "null"]),
    ("longs", {"type": "array", "items": "long"}),
    ("texts", {"type": "array", "items": "string"}),
    ("maybe_doubles", ["null", {"type": "array", "items": "double"}]),
    ("point", POINT),
    ("maybe_point", ["null", "Point"]),
    ("day", {"type": "int", "logicalType": "date"}),
    ("time_ms", {"type": "int", "logicalType": "time-millis"}),
    ("time_us", {"type": "long", "logicalType": "time-micros"}),
    ("ts_ms", {"type": "long", "logicalType": "timestamp-millis"}),
    ("ts_us", {"type": "long", "logicalType": "timestamp-micros"}),
    ("local_ts", {"type": "long", "logicalType": "local-timestamp-micros"}),
    ("price", {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}),
    (
        "big",
        {"type": "fixed", "name": "Big", "size": 8, "logicalType": "decimal", "precision": 18},
    ),
    ("uid", {"type": "string", "logicalType": "uuid"}),
    ("maybe_day", ["null", {"type": "int", "logicalType": "date"}]),
    ("nothing", "null"),
    ("never_set", ["null", "long"]),
)
TS = datetime.datetime(2024, 2, 29, 12, 30, 15, 123456, tzinfo=UTC)
UID = uuid.UUID("12345678-1234-5678-1234-567812345678")
VALUES = {
    "id": 1,
    "flag": True,
    "long": -(2**40),
    "float": 1.5,
    "double": -2.25,
    "text": "héllo",
    "raw": b"\x00\xff",
    "color": "GREEN",
    "hash": b"abcd",
    "maybe_int": 7,
    "maybe_text": "x",
    "longs": [1, 2, 3],
    "texts": ["a", "b"],
    "maybe_doubles": [0.5, 1.5],
    "point": {"x": 3, "label": "p", "inner": {"z": 2.5}},
    "maybe_point": {"x": 4, "label": None, "inner": {"z": -1.0}},
    "day": datetime.date(2024, 2, 29),
    "time_ms": datetime.time(1, 2, 3, 4000),
    "time_us": datetime.time(1, 2, 3, 4),
    "ts_ms": TS.replace(microsecond=123000),
    "ts_us": TS,
    "local_ts": TS.replace(tzinfo=None),
    "price": decimal.Decimal("12.25"),
    "big": decimal.Decimal("-3"),
    "uid": UID,
    "maybe_day": datetime.date(1969, 12, 31),
    "nothing": None,
    "never_set": None,
}
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
ZEROS = {
    **{k: 0 for k in ("id", "long", "maybe_int")},
    **{k: 0.0 for k in ("float", "double")},
    **{k: "" for k in ("text", "maybe_text")},
    **{k: [] for k in ("longs", "texts", "maybe_doubles")},
    "flag": False,
    "raw": b"",
    "color": "RED",
    "hash": bytes(4),
    "point": {"x": 0, "label": "", "inner": {"z": 0.0}},
    "maybe_point": {"x": 0, "label": "", "inner": {"z": 0.0}},
    "day": datetime.date(1970, 1, 1),
    "time_ms": datetime.time(0),
    "time_us": datetime.time(0),
    "ts_ms": EPOCH,
    "ts_us": EPOCH,
    "local_ts": EPOCH.replace(tzinfo=None),
    "price": decimal.Decimal("0.00"),
    "big": decimal.Decimal("0"),
    "uid": uuid.UUID(int=0),
    "maybe_day": datetime.date(1970, 1, 1),
    "nothing": None,
    "never_set": None,
}
NULLS = {
    **VALUES,
    "id": 2,
    "point": {"x": 3, "label": None, "inner": {"z": 2.5}},
    **{k: None for k in ("maybe_int", "maybe_text", "maybe_doubles", "maybe_point", "maybe_day")},
}

INTS, FLOATS, BYTES = "int64_list", "float_list", "bytes_list"
EXPECTED = {
    1: {
        "id": (INTS, [1]),
        "flag": (INTS, [1]),
        "long": (INTS, [-(2**40)]),
        "float": (FLOATS, [1.5]),
        "double": (FLOATS, [-2.25]),
        "text": (BYTES, ["héllo".encode()]),
        "raw": (BYTES, [b"\x00\xff"]),
        "color": (BYTES, [b"GREEN"]),
        "hash": (BYTES, [b"abcd"]),
        "maybe_int": (INTS, [7]),
        "maybe_text": (BYTES, [b"x"]),
        "longs": (INTS, [1, 2, 3]),
        "texts": (BYTES, [b"a", b"b"]),
        "maybe_doubles": (FLOATS, [0.5, 1.5]),
        "point.x": (INTS, [3]),
        "point.label": (BYTES, [b"p"]),
        "point.inner.z": (FLOATS, [2.5]),
        "maybe_point.x": (INTS, [4]),
        "maybe_point.label": (BYTES, []),
        "maybe_point.inner.z": (FLOATS, [-1.0]),
        "day": (INTS, [days(datetime.date(2024, 2, 29))]),
        "time_ms": (INTS, [(3600 + 2 * 60 + 3) * 10**6 + 4000]),
        "time_us": (INTS, [(3600 + 2 * 60 + 3) * 10**6 + 4]),
        "ts_ms": (INTS, [micros(TS.replace(microsecond=123000))]),
        "ts_us": (INTS, [micros(TS)]),
        "local_ts": (INTS, [micros(TS)]),  # the wall-clock time, as if UTC
        "price": (FLOATS, [12.25]),
        "big": (FLOATS, [-3.0]),
        "uid": (BYTES, [str(UID).encode()]),
        "maybe_day": (INTS, [-1]),
        "nothing": (None, []),  # a "null" field: empty Feature(), as TFX
        "never_set": (INTS, []),  # nullable long, null in every record: typed, empty
    },
    0: {
        "id": (INTS, [0]),
        "flag": (INTS, [0]),
        "long": (INTS, [0]),
        "float": (FLOATS, [0.0]),
        "double": (FLOATS, [0.0]),
        "text": (BYTES, [b""]),
        "raw": (BYTES, [b""]),
        "color": (BYTES, [b"RED"]),
        "hash": (BYTES, [bytes(4)]),
        "maybe_int": (INTS, [0]),
        "maybe_text": (BYTES, [b""]),
        "longs": (INTS, []),
        "texts": (BYTES, []),
        "maybe_doubles": (FLOATS, []),
        "point.x": (INTS, [0]),
        "point.label": (BYTES, [b""]),
        "point.inner.z": (FLOATS, [0.0]),
        "maybe_point.x": (INTS, [0]),
        "maybe_point.label": (BYTES, [b""]),
        "maybe_point.inner.z": (FLOATS, [0.0]),
        "day": (INTS, [0]),
        "time_ms": (INTS, [0]),
        "time_us": (INTS, [0]),
        "ts_ms": (INTS, [0]),
        "ts_us": (INTS, [0]),
        "local_ts": (INTS, [0]),
        "price": (FLOATS, [0.0]),
        "big": (FLOATS, [0.0]),
        "uid": (BYTES, [b"00000000-0000-0000-0000-000000000000"]),
        "maybe_day": (INTS, [0]),
        "nothing": (None, []),
        "never_set": (INTS, []),
    },
}
EXPECTED[2] = {
    **EXPECTED[1],
    "id": (INTS, [2]),
    "point.label": (BYTES, []),
    "maybe_int": (INTS, []),
    "maybe_text": (BYTES, []),
    "maybe_doubles": (FLOATS, []),
    "maybe_point.x": (INTS, []),
    "maybe_point.label": (BYTES, []),
    "maybe_point.inner.z": (FLOATS, []),
    "maybe_day": (INTS, []),
}


@pytest.fixture(scope="module")
def types_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("types")
    path = write_avro(folder / "types.avro", TYPES, [VALUES, ZEROS, NULLS], codec="deflate")
    out = folder / "out"
    report = run_ingest(IngestConfig(source=ReadAvro(path), output_dir=str(out), splits=ALL))
    examples = [decode(r) for r in split_records(str(out), "all")]
    return report, {e["id"][1][0]: e for e in examples}


@pytest.mark.parametrize("record_id", [1, 0, 2], ids=["values", "zeros", "nulls"])
def test_every_type_round_trips_value_by_value(types_run, record_id):
    _, examples = types_run
    assert examples[record_id] == EXPECTED[record_id]


def test_report_counts_and_schema(types_run):
    report, _ = types_run
    assert (report["records_read"], report["examples"], report["bad_records"]["count"]) == (3, 3, 0)
    schema = report["schema"]
    assert set(schema) == set(EXPECTED[1])
    assert {schema[n] for n in ("id", "flag", "day", "ts_us", "never_set")} == {"int"}
    assert {schema[n] for n in ("float", "price", "big", "point.inner.z")} == {"float"}
    assert {schema[n] for n in ("text", "raw", "color", "hash", "uid")} == {"bytes"}
    assert schema["nothing"] == "unknown"


# --- 2. work units: byte ranges of a file, each block read exactly once ------

SIMPLE = record_schema(("id", "long"), ("name", "string"))


@pytest.fixture(scope="module")
def many_blocks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blocks")
    records = [{"id": i, "name": f"name-{i:05d}" * (i % 4)} for i in range(3000)]
    write_avro(folder / "a.avro", SIMPLE, records[:2990], sync_interval=256)
    write_avro(folder / "b.avro", SIMPLE, records[2990:], sync_interval=256, codec="deflate")
    return folder


@pytest.mark.parametrize("codec", ["null", "deflate"])
def test_one_file_read_as_many_units_gives_every_record_once(tmp_path, codec):
    records = [{"id": i, "name": f"name-{i:05d}" * (i % 4)} for i in range(2000)]
    path = write_avro(tmp_path / "a.avro", SIMPLE, records, sync_interval=256, codec=codec)
    size = os.path.getsize(path)
    assert len(file_blocks(path)) > 20
    units = -(-size // 2048)
    check_read(path, ids=list(range(2000)), units=units, busy=units - 1, desired_bundle_size=2048)


def test_units_starting_on_around_and_inside_blocks(many_blocks):
    path = str(many_blocks / "a.avro")
    offsets = [o for o, _, _ in file_blocks(path)]
    # A unit boundary exactly at a block start, one byte before, one after.
    with BeamTestPipeline() as p:
        for bundle in (offsets[3], offsets[3] - 1, offsets[3] + 1):
            out = p | f"Read{bundle}" >> ReadAvro(path, desired_bundle_size=bundle)
            ids = out.records | f"Ids{bundle}" >> beam.FlatMap(lambda b: b.column("id").to_pylist())
            assert_that(ids, equal_to(list(range(2990))), label=f"Check{bundle}")


def test_several_files_and_metrics(many_blocks):
    p = BeamTestPipeline()
    out = p | ReadAvro(str(many_blocks / "*.avro"), desired_bundle_size=4096)
    ids = out.records | beam.FlatMap(lambda b: b.column("id").to_pylist())
    assert_that(ids, equal_to(list(range(3000))))
    result = p.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_name("avro_records_read"))["counters"]
    assert sum(c.committed for c in counters) == 3000
    assert {c.key.metric.namespace for c in counters} == {"beam_ingest"}


# --- 3. corrupt and truncated files ------------------------------------------

BAD_SCHEMA = record_schema(
    ("id", "long"), ("name", "string"), ("tags", {"type": "array", "items": ["null", "string"]})
)


@pytest.fixture(scope="module")
def corrupt_file(tmp_path_factory):
    """40-odd blocks: record 20 holds a string that is not UTF-8, record 35 an
    array holding a null; block 8 claims more records than it holds (a decode
    error); block 12's sync marker is broken, so blocks 12-13 are one bad region."""
    records = [{"id": i, "name": f"n{i:04d}", "tags": ["t"]} for i in range(600)]
    records[35]["tags"] = ["t", None]
    data = bytearray(fastavro_bytes(BAD_SCHEMA, records, sync_interval=200))
    blocks = blocks_of(bytes(data))
    assert len(blocks) > 30 and 35 in {r["id"] for b in blocks[:8] for r in b[2]}
    at = data.find(b"n0020")
    data[at + 1 : at + 3] = b"\xff\xfe"
    assert data[blocks[8][0]] + 2 * 5 < 0x80  # the block count stays a one-byte varint
    data[blocks[8][0]] += 2 * 5  # the block's record count (zig-zag) grows by 5
    data[blocks[12][0] + blocks[12][1] - 1] ^= 0xFF  # last byte of block 12's sync marker
    path = tmp_path_factory.mktemp("corrupt") / "corrupt.avro"
    path.write_bytes(bytes(data))
    lost = {r["id"] for b in (8, 12, 13) for r in blocks[b][2]} | {20, 35}
    expected_bad = [
        (20, r"field 'name': UnicodeEncodeError"),
        (35, r"column 'tags': a list holds a null item"),
        (blocks[8][0], rf"corrupt Avro block at byte {blocks[8][0]}: EOFError"),
        (
            blocks[12][0],
            rf"corrupt Avro block at byte {blocks[12][0]}: ValueError: expected sync marker "
            rf"not found; bytes {blocks[12][0]}-{blocks[14][0]} skipped",
        ),
    ]
    return str(path), sorted(set(range(600)) - lost), expected_bad


def fastavro_bytes(schema: dict, records: list, **kwargs) -> bytes:
    buffer = io.BytesIO()
    fastavro.writer(buffer, schema, records, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize("bundle", [64 << 20, 700, 150])
def test_corrupt_blocks_and_bad_values_are_bad_records(corrupt_file, bundle):
    path, ids, bad = corrupt_file
    check_read(path, ids=ids, bad=bad, desired_bundle_size=bundle)


def test_corrupt_file_through_ingest_balances(corrupt_file, tmp_path):
    path, ids, bad = corrupt_file
    out = tmp_path / "out"
    report = run_ingest(
        IngestConfig(source=ReadAvro(path), output_dir=str(out), splits=ALL, max_bad_records=10)
    )
    assert report["examples"] == len(ids) and report["bad_records"]["count"] == len(bad)
    assert report["records_read"] == report["examples"] + report["bad_records"]["count"]
    written = sorted(decode(r)["id"][1][0] for r in split_records(str(out), "all"))
    assert written == ids
    rows = {r["record"]: r for r in bad_records(str(out))}
    assert rows[bad[0][0]]["raw"].startswith(f"{{'id': {bad[0][0]}, 'name': 'n\\udcff\\udcfe")
    assert rows[bad[2][0]]["raw"].startswith("b'")  # the block's first bytes
    assert {r["file"] for r in rows.values()} == {path}


def test_truncated_file_loses_only_its_last_block(tmp_path):
    records = [{"id": i, "name": "x" * 20} for i in range(200)]
    data = fastavro_bytes(SIMPLE, records, sync_interval=300)
    blocks = blocks_of(data)
    last, size, lost = blocks[-1]
    path = tmp_path / "cut.avro"
    path.write_bytes(data[: last + size // 2])
    check_read(
        str(path),
        ids=list(range(200 - len(lost))),
        bad=[(last, rf"corrupt Avro block at byte {last}: .*bytes {last}-{last + size // 2}")],
    )


# --- 4. configuration errors, raised when the pipeline is built --------------


def _build(pattern: str, **kwargs) -> None:
    p = beam.Pipeline()
    _ = p | ReadAvro(pattern, **kwargs)


def test_no_match_names_the_pattern(tmp_path):
    with pytest.raises(ConfigError, match=r"no file matches '.*nothing\*\.avro'"):
        _build(str(tmp_path / "nothing*.avro"))


@pytest.mark.parametrize(
    ("field_type", "message"),
    [
        (
            record_schema(("tags", {"type": "map", "values": "long"}), name="Meta"),
            r"field 'meta\.tags' of '.*' is an Avro map",
        ),
        (
            ["null", "int", "string"],
            r"field 'meta' of '.*' is a union of several non-null types \['int', 'string'\]",
        ),
        (
            {"type": "array", "items": record_schema(("a", "int"), name="Item")},
            r"field 'meta' of '.*' is list<item: struct<a: int32>>.* \(an array of records",
        ),
        (
            record_schema(("next", ["null", "Node"]), name="Node"),
            r"field 'meta\.next' of '.*' is the recursive type 'Node'",
        ),
    ],
    ids=["map", "union", "array-of-records", "recursive"],
)
def test_types_without_a_tf_example_form(tmp_path, field_type, message):
    path = write_avro(tmp_path / "t.avro", record_schema(("id", "int"), ("meta", field_type)), [])
    with pytest.raises(ConfigError, match=message):
        _build(path)


def test_incompatible_schemas_name_both_files_and_the_field(tmp_path):
    write_avro(tmp_path / "1.avro", record_schema(("id", "long"), ("x", "string")), [])
    write_avro(tmp_path / "2.avro", record_schema(("id", "int"), ("x", "long")), [])
    with pytest.raises(
        ConfigError, match=r"field 'x' is bytes in '.*1\.avro' but int in '.*2\.avro'"
    ):
        _build(str(tmp_path / "*.avro"))


def test_missing_field_is_incompatible(tmp_path):
    write_avro(tmp_path / "1.avro", record_schema(("id", "long")), [])
    write_avro(tmp_path / "2.avro", record_schema(("id", "long"), ("y", ["null", "long"])), [])
    with pytest.raises(ConfigError, match=r"field 'y' is absent in '.*1\.avro' but int in"):
        _build(str(tmp_path / "*.avro"))


def test_compatible_schemas_differing_in_width_and_nullability(tmp_path):
    write_avro(
        tmp_path / "1.avro", record_schema(("id", "long"), ("x", "float")), [{"id": 1, "x": 0.5}]
    )
    write_avro(
        tmp_path / "2.avro",
        record_schema(("x", ["null", "double"]), ("id", "int")),
        [{"id": 2, "x": None}],
    )
    check_read(str(tmp_path / "*.avro"), ids=[1, 2])


@pytest.mark.parametrize("content", [b"not avro at all", b"Obj\x01\x04\x16avro.sch"])
def test_not_avro_or_truncated_header(tmp_path, content):
    (tmp_path / "x.avro").write_bytes(content)
    with pytest.raises(ConfigError, match=r"'.*x\.avro' is not a readable Avro file"):
        _build(str(tmp_path / "x.avro"))


def test_unknown_codec(tmp_path):
    data = fastavro_bytes(SIMPLE, [{"id": 1, "name": "a"}])
    (tmp_path / "c.avro").write_bytes(data.replace(b"\x08null", b"\x08nope", 1))
    with pytest.raises(
        ConfigError, match=r"'.*c\.avro' is not a readable Avro file: .*unrecognized codec: nope"
    ):
        _build(str(tmp_path / "c.avro"))


def test_a_file_of_non_records(tmp_path):
    path = write_avro(tmp_path / "ints.avro", "long", [1, 2])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="a file of int64 values, not of records"):
        _build(path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"file_pattern": ""}, "file_pattern must be a non-empty string; got ''"),
        ({"file_pattern": "x", "desired_bundle_size": 0}, "desired_bundle_size must be an int"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ReadAvro(**kwargs)


def test_display_data():
    assert ReadAvro("a/*.avro").display_data()["file_pattern"] == "a/*.avro"


def test_from_options_refuses_a_schema():
    source = ReadAvro.from_options("a/*.avro", {}, None)
    assert isinstance(source, ReadAvro) and source.file_pattern == "a/*.avro"
    with pytest.raises(ConfigError, match=r"^schema: Avro files carry their own schema"):
        ReadAvro.from_options("a/*.avro", {}, Schema.from_kinds([("x", Kind.INT)]))


def test_profile_counts_records_from_block_headers(tmp_path):
    schema = record_schema(("id", "long"), ("name", ["null", "string"]))
    paths = [
        write_avro(tmp_path / f"{i}.avro", schema, [{"id": n, "name": None} for n in range(i * 3)])
        for i in (1, 2)
    ]
    records, got = ReadAvro.profile(paths, {})
    assert records == 9
    assert got == Schema.from_kinds([("id", Kind.INT), ("name", Kind.BYTES)])
    (tmp_path / "bad.avro").write_bytes(b"not avro")
    with pytest.raises(ConfigError, match="is not a readable Avro file"):
        ReadAvro.profile([str(tmp_path / "bad.avro")], {})


# --- 5. the columnar path (polars) and the fastavro path give the same ------

# Every type polars reads: TYPES without a named-type reference (maybe_point
# is inline here), with arrays and nullables of fixed and decimal.
MAYBE_POINT = record_schema(
    ("x", "int"),
    ("label", ["null", "string"]),
    ("inner", record_schema(("z", "double"), name="MaybeInner")),
    name="MaybePoint",
)
PRICE = {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}
COLUMNAR = {
    **TYPES,
    "fields": [
        *(f for f in TYPES["fields"] if f["name"] != "maybe_point"),
        *record_schema(
            ("maybe_point", ["null", MAYBE_POINT]),
            ("maybe_hash", ["null", {"type": "fixed", "name": "Short", "size": 2}]),
            ("hashes", {"type": "array", "items": {"type": "fixed", "name": "H", "size": 3}}),
            ("prices", {"type": "array", "items": PRICE}),
            ("maybe_items", {"type": "array", "items": ["null", "long"]}),
            ("note", {"type": "string", "logicalType": "unknown-to-both"}),
        )["fields"],
    ],
}
EXTRA = {
    VALUES["id"]: {
        "maybe_hash": b"ab",
        "hashes": [b"abc", b"xyz"],
        "prices": [decimal.Decimal(-1)],
    },
    ZEROS["id"]: {"maybe_hash": bytes(2), "hashes": [], "prices": []},
    NULLS["id"]: {"maybe_hash": None, "hashes": [bytes(3)], "prices": [decimal.Decimal("0.01")]},
}


def columnar_records(count: int) -> list[dict]:
    """VALUES, ZEROS and NULLS in turn, with ids 0..count-1 and varying values."""
    records = []
    for i in range(count):
        base = (VALUES, ZEROS, NULLS)[i % 3]
        records.append(
            {
                **base,
                **EXTRA[base["id"]],
                "id": i,
                "long": base["long"] - i,
                "text": f"{base['text']}{i}",
                "maybe_items": [i, -i][: i % 3],
                "note": "n",
            }
        )
    return records


def read_units(path: str, *, columnar: bool, bundle: int = 0, batch_rows: int = 10_000):
    """ReadAvro's work units of one file, each through its DoFn in this process:
    (the batches as one table, bad records, records read). `columnar=False`
    switches polars off, as for a schema it does not read."""
    size = os.path.getsize(path)
    names = _avro_schema.common_schema([path]).names
    fn = avro_connector._ReadUnitFn(tuple(names))
    reader = avro_connector.columns_reader if columnar else lambda *_: None
    batches, bad, read = [], [], 0
    with (
        mock.patch.object(avro_connector, "_BATCH_ROWS", batch_rows),
        mock.patch.object(avro_connector, "columns_reader", reader),
    ):
        for start in range(0, size, bundle or size):
            for out in fn.process((path, start, min(start + (bundle or size), size), size)):
                if isinstance(out, pa.RecordBatch):
                    batches.append(out)
                elif out.tag == "bad_records":
                    bad.append(out.value)
                else:
                    read += out.value[1]
    return pa.Table.from_batches(batches).combine_chunks(), bad, read


def fastavro_decodes_nothing(*args):
    raise AssertionError("fastavro decoded blocks that polars should have")


def reader_for(path: str):
    """`columns_reader` for a file, as ReadAvro makes it."""
    with open(path, "rb") as f:
        header = _avro_schema.read_header(f)
    arrow = _avro_schema.arrow_schema(header.schema)
    return columns_reader(header.declared, header.codec, header.sync, arrow)


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy"])
def test_columnar_path_reads_every_type_as_fastavro(tmp_path, codec):
    records = columnar_records(300)
    path = write_avro(tmp_path / "c.avro", COLUMNAR, records, codec=codec, sync_interval=2000)
    assert len(file_blocks(path)) > 5 and reader_for(path) is not None
    with mock.patch.object(avro_connector, "_blocks", fastavro_decodes_nothing):
        fast = read_units(path, columnar=True, batch_rows=70)
    slow = read_units(path, columnar=False)
    assert fast[1:] == slow[1:] == ([], 300)
    assert fast[0].column("id").to_pylist() == list(range(300))
    assert fast[0].schema == slow[0].schema and fast[0].num_columns == 37
    for name in fast[0].column_names:  # one by one, for a readable failure
        assert fast[0].column(name).equals(slow[0].column(name)), name


def test_tfx_test_data_takes_the_columnar_path():
    assert reader_for(os.path.join(TFX_INPUT, "avro", "data.avro")) is not None


ENUM = {"type": "enum", "name": "E", "symbols": ["A", "B"]}


@pytest.mark.parametrize(
    ("field_type", "value", "codec"),
    [
        ("Item", None, "null"),  # a reference to a named type
        (["null", ENUM], "B", "null"),
        (["null", record_schema(("e", ENUM), name="Inner")], {"e": "A"}, "null"),
        ({"type": "array", "items": ENUM}, ["A", "B"], "null"),
        ({"type": "bytes", "logicalType": "decimal", "precision": 39}, decimal.Decimal(5), "null"),
        (
            {"type": "fixed", "name": "D", "size": 17, "logicalType": "decimal", "precision": 9},
            decimal.Decimal(5),
            "null",
        ),
        (record_schema(("n", "null"), ("v", "long"), name="Inner"), {"n": None, "v": 1}, "null"),
        ("long", 5, "bzip2"),
    ],
    ids=[
        "named-reference",
        "nullable-enum",
        "enum-in-nullable-record",
        "array-of-enums",
        "decimal256",
        "decimal-of-17-bytes",
        "null-in-a-record",
        "bzip2",
    ],
)
def test_schemas_polars_does_not_read_are_read_by_fastavro(tmp_path, field_type, value, codec):
    schema = record_schema(("id", "long"), ("x", field_type))
    if field_type == "Item":  # a second field of the named type "Item"
        item = record_schema(("v", "long"), name="Item")
        schema = record_schema(("id", "long"), ("a", item), ("x", "Item"))
        value = {"v": 7}
    records = [{"id": i, "x": value, "a": value} for i in range(3)]
    path = write_avro(tmp_path / "x.avro", schema, records, codec=codec)
    assert reader_for(path) is None
    table, bad, read = read_units(path, columnar=True)
    assert (table.column("id").to_pylist(), bad, read) == ([0, 1, 2], [], 3)


def long_bytes(n: int) -> bytes:
    """An Avro long: zig-zag varint."""
    n, out = (n << 1) ^ (n >> 63), bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes([*out, n])


EMPTY_BLOCK_DATA = {
    "null": b"",
    "deflate": (lambda c: c.compress(b"") + c.flush())(zlib.compressobj(wbits=-15)),
    "snappy": bytes(cramjam.snappy.compress_raw(b"")) + zlib.crc32(b"").to_bytes(4, "big"),
}


@pytest.mark.parametrize("codec", ["null", "deflate", "snappy"])
def test_blocks_of_no_records_on_the_columnar_path(tmp_path, codec):
    """Valid, but polars fails on a compressed one: they are left out of its input."""
    records = [{"id": i, "name": f"n{i}"} for i in range(100)]
    data = fastavro_bytes(SIMPLE, records, codec=codec, sync_interval=100)
    blocks = blocks_of(data)
    sync = data[blocks[0][0] - 16 : blocks[0][0]]
    empty = long_bytes(0) + long_bytes(len(EMPTY_BLOCK_DATA[codec])) + EMPTY_BLOCK_DATA[codec]
    at = blocks[2][0]
    path = tmp_path / "e.avro"
    path.write_bytes(data[:at] + empty + sync + data[at:] + empty + sync)
    assert [len(r) for _, _, r in file_blocks(str(path))].count(0) == 2  # fastavro agrees
    with mock.patch.object(avro_connector, "_blocks", fastavro_decodes_nothing):
        for batch_rows in (10_000, 1):  # all blocks at once; one block at a time
            table, bad, read = read_units(str(path), columnar=True, batch_rows=batch_rows)
            assert (table.column("id").to_pylist(), bad, read) == (list(range(100)), [], 100)


@pytest.mark.parametrize("bundle", [0, 700])
def test_corrupt_file_gives_the_same_bad_records_on_both_paths(corrupt_file, bundle):
    """Blocks polars fails on (or whose values break the contract) are decoded
    again by fastavro, after and before runs of good blocks read by polars."""
    path, ids, bad = corrupt_file
    assert reader_for(path) is not None
    fast = read_units(path, columnar=True, bundle=bundle, batch_rows=40)
    slow = read_units(path, columnar=False, bundle=bundle)
    assert fast[0].column("id").to_pylist() == ids
    assert fast[0].equals(slow[0])
    by_record = functools.partial(sorted, key=lambda b: b.record)
    assert by_record(fast[1]) == by_record(slow[1]) and len(fast[1]) == len(bad)
    assert fast[2] == slow[2] == len(ids) + len(bad)


# --- 6. parity with TFX's Avro executor on its own test data ------------------

TFX_ROOT = importlib.util.find_spec("tfx").submodule_search_locations[0]
TFX_INPUT = os.path.join(TFX_ROOT, "components", "testdata", "external")


def run_tfx(input_base: str, out: str) -> dict[str, list[bytes]]:
    """TFX's avro_executor.Executor.Do, as avro_executor_test.py runs it."""
    from tfx.components.example_gen.custom_executors import avro_executor
    from tfx.proto import example_gen_pb2
    from tfx.types import standard_artifacts
    from tfx.types import standard_component_specs as keys
    from tfx.utils import proto_utils

    examples = standard_artifacts.Examples()
    examples.uri = out
    split = example_gen_pb2.SplitConfig.Split
    properties = {
        keys.INPUT_BASE_KEY: input_base,
        keys.INPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Input(
                splits=[example_gen_pb2.Input.Split(name="avro", pattern="avro/*.avro")]
            )
        ),
        keys.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Output(
                split_config=example_gen_pb2.SplitConfig(
                    splits=[split(name="train", hash_buckets=2), split(name="eval", hash_buckets=1)]
                )
            )
        ),
    }
    avro_executor.Executor().Do({}, {keys.EXAMPLES_KEY: [examples]}, properties)
    return {
        name: [r for p in sorted(glob.glob(f"{out}/Split-{name}/*")) for r in read_records(p)]
        for name in ("train", "eval")
    }


def run_ours(pattern: str, out: str) -> dict[str, list[bytes]]:
    run_ingest(IngestConfig(source=ReadAvro(pattern), output_dir=out))
    return {name: split_records(out, name) for name in ("train", "eval")}


def deterministic(record: bytes) -> bytes:
    import tensorflow as tf

    return tf.train.Example.FromString(record).SerializeToString(deterministic=True)


def normalised(example: dict) -> tuple:
    """Content without what TFX drops: empty features and a single zero/empty value."""
    return tuple(
        sorted(
            (name, tuple(values))
            for name, (_, values) in example.items()
            if values and not (len(values) == 1 and not values[0])
        )
    )


def by_split(outputs: dict[str, list[bytes]]) -> list[tuple[str, bytes, dict]]:
    """(split, bytes, decoded example) of every example written."""
    return [(name, r, decode(r)) for name, records in outputs.items() for r in records]


@pytest.fixture(scope="module")
def tfx_parity(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tfx")
    tfx = run_tfx(TFX_INPUT, str(folder / "tfx"))
    ours = run_ours(os.path.join(TFX_INPUT, "avro", "data.avro"), str(folder / "ours"))
    return by_split(tfx), by_split(ours)


def test_same_examples_as_tfx_after_its_dropped_values(tfx_parity):
    tfx, ours = ({normalised(e): e for _, _, e in examples} for examples in tfx_parity)
    # Each of the 10,000 examples has distinct content, so the two sides pair up exactly.
    assert len(tfx_parity[0]) == len(tfx_parity[1]) == len(tfx) == len(ours) == 10_000
    assert tfx.keys() == ours.keys()
    names = set(next(iter(ours.values())))
    assert len(names) == 18
    differences = collections.Counter()
    for key, theirs in tfx.items():
        mine = ours[key]
        assert set(theirs) == set(mine) == names
        for name in names:
            if theirs[name] != mine[name]:
                # The only differences: TFX's empty Feature() where we write the
                # single zero value it dropped, or a typed empty list (a null).
                assert theirs[name] == (None, []), (name, theirs[name], mine[name])
                assert mine[name][1] in ([], [0], [0.0]), (name, mine[name])
                differences[name, "null" if not mine[name][1] else "zero"] += 1
    assert differences[("pickup_census_tract", "null")] == 10_000
    assert differences[("tips", "zero")] > 0 and differences[("company", "null")] > 0


def _find(examples: list[tuple[str, bytes, dict]], **values) -> dict:
    """The decoded example whose features hold these single values."""
    found = [
        e
        for _, _, e in examples
        if all(e[k][1] == ([v] if v is not None else []) for k, v in values.items())
    ]
    assert len(found) == 1, (values, len(found))
    return found[0]


def test_each_tfx_difference_concretely(tfx_parity):
    """TFX's dict_to_example writes Feature() when `not pyval`: None, 0, 0.0."""
    tfx, ours = tfx_parity
    with open(os.path.join(TFX_INPUT, "avro", "data.avro"), "rb") as f:
        records = list(fastavro.reader(f))
    first = records[0]
    assert (first["trip_miles"], first["tips"], first["pickup_census_tract"]) == (0.0, 0.0, None)
    key = {k: first[k] for k in ("trip_start_timestamp", "pickup_community_area", "fare")}
    key["fare"] = pytest.approx(key["fare"])
    theirs, mine = _find(tfx, **key), _find(ours, **key)
    assert theirs["trip_miles"] == theirs["tips"] == (None, [])  # 0.0 dropped
    assert mine["trip_miles"] == mine["tips"] == ("float_list", [0.0])  # kept
    assert theirs["pickup_census_tract"] == (None, [])  # null
    assert mine["pickup_census_tract"] == ("float_list", [])  # null: typed, empty
    assert theirs["dropoff_longitude"] == (None, []) and mine["dropoff_longitude"] == (
        "float_list",
        [],
    )
    zero_hour = next(r for r in records if r["trip_start_hour"] == 0)
    key = {k: zero_hour[k] for k in ("trip_start_timestamp", "pickup_community_area")}
    theirs, mine = _find(tfx, **key), _find(ours, **key)
    assert theirs["trip_start_hour"] == (None, []) and mine["trip_start_hour"] == (
        "int64_list",
        [0],
    )
    no_company = next(r for r in records if r["company"] is None)
    key = {k: no_company[k] for k in ("trip_start_timestamp", "pickup_community_area")}
    theirs, mine = _find(tfx, **key), _find(ours, **key)
    assert theirs["company"] == (None, []) and mine["company"] == ("bytes_list", [])
    # pickup_census_tract is null in every record, so no example is byte-identical.
    assert all(r["pickup_census_tract"] is None for r in records)
    assert not {deterministic(r) for _, r, _ in tfx} & {r for _, r, _ in ours}


def test_split_membership_is_tfxs_function_of_the_bytes(tfx_parity):
    """Both sides put an example where TFX's `_PartitionFn` puts its bytes; as
    TFX's bytes lack the values it drops, some examples land in another split."""
    import tensorflow as tf
    from tfx.components.example_gen.base_example_gen_executor import _PartitionFn
    from tfx.proto import example_gen_pb2

    split = example_gen_pb2.SplitConfig.Split
    config = example_gen_pb2.SplitConfig(
        splits=[split(name="train", hash_buckets=2), split(name="eval", hash_buckets=1)]
    )
    for examples in tfx_parity:
        for name, record, _ in examples:
            index = _PartitionFn(tf.train.Example.FromString(record), 2, [2, 3], config)
            assert ("train", "eval")[index] == name
    tfx, ours = ({normalised(e): name for name, _, e in examples} for examples in tfx_parity)
    unique = [
        k
        for k, n in collections.Counter(normalised(e) for _, _, e in tfx_parity[1]).items()
        if n == 1
    ]
    moved = sum(tfx[k] != ours[k] for k in unique)
    # Every example's bytes differ (see above), so its split is an independent
    # draw: about 4/9 move between train (2/3) and eval (1/3).
    assert (len(unique), moved) == (10_000, 4439)


def test_identical_examples_land_in_the_same_split_as_tfx(tmp_path):
    """data.avro without what TFX drops (records with a null or zero value, the
    all-null column): TFX and beam-ingest write the same bytes to the same splits."""
    with open(os.path.join(TFX_INPUT, "avro", "data.avro"), "rb") as f:
        reader = fastavro.reader(f)
        schema, records = reader.writer_schema, list(reader)
    schema = {
        **schema,
        "fields": [f for f in schema["fields"] if f["name"] != "pickup_census_tract"],
    }
    kept = [
        {k: v for k, v in r.items() if k != "pickup_census_tract"}
        for r in records
        if all(v for k, v in r.items() if k != "pickup_census_tract")
    ]
    assert (len(kept), len(records)) == (1028, 10_000)
    (tmp_path / "in" / "avro").mkdir(parents=True)
    path = write_avro(tmp_path / "in" / "avro" / "clean.avro", schema, kept)
    tfx = run_tfx(str(tmp_path / "in"), str(tmp_path / "tfx"))
    ours = run_ours(path, str(tmp_path / "ours"))
    for name in ("train", "eval"):
        assert sorted(deterministic(r) for r in tfx[name]) == sorted(ours[name])
    assert len(ours["train"]) > len(ours["eval"]) > 0
