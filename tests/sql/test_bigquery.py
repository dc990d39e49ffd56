"""`--format bigquery` without BigQuery: nothing on this machine reaches Google.

What stands in for the service, and what is real:

- the schema is the JSON `bq show --schema` prints (bigquery_data/), and the
  Arrow types it must give are checked against google-cloud-bigquery's own
  mapping (`_pandas_helpers.bq_to_arrow_schema`, the Storage API's types);
- the rows reach our code through Beam's own Storage-API readers
  (`_CustomBigQueryStorageStreamSource.read_arrow`, as `ReadFromBigQuery(
  method=DIRECT_READ, use_native_datetime=True)` reads, and the Avro reader
  `_ReadReadRowsResponsesWithFastAvro`) fed ReadRowsResponse protos that
  carry an Arrow IPC batch / Avro rows: only the gRPC call is faked;
- a whole `Ingest` runs on the DirectRunner with Beam's `ReadFromBigQuery`,
  its read session (`split`) and the temporary dataset cleanup faked;
- the Dataflow job is built by the Dataflow runner's dry run, offline.
"""

from __future__ import annotations

import datetime
import decimal
import io
import json
import time
from pathlib import Path

import apache_beam as beam
import fastavro
import numpy as np
import pyarrow as pa
import pytest
from apache_beam.io.gcp import bigquery as beam_bq
from apache_beam.io.gcp import bigquery_tools
from apache_beam.io.iobase import SourceBundle
from apache_beam.options.pipeline_options import PipelineOptions
from google.cloud.bigquery import SchemaField
from google.cloud.bigquery import _pandas_helpers as google_arrow
from google.cloud.bigquery_storage_v1 import reader, types

from beam_ingest import Ingest
from beam_ingest.cli import main
from beam_ingest.config import build_config
from beam_ingest.connectors import _bigquery_client, _bigquery_types, bigquery
from beam_ingest.connectors.bigquery import ReadBigQuery
from beam_ingest.errors import ConfigError, DataError
from beam_ingest.source import FlattenSources
from beam_ingest.transforms.encode import encode_batch
from tests.helpers import decode, read_report, split_records

DATA = Path(__file__).parent / "bigquery_data"
SCHEMA_FILE = DATA / "types_schema.json"
SCHEMA = json.loads(SCHEMA_FILE.read_text())
UTC = datetime.UTC
TS = datetime.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
TS2 = datetime.datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)  # before the epoch
ROWS = [
    {"id": 1, "flag": True, "f": 1.5, "n": decimal.Decimal("12345678901234567890.123456789"),
     "bn": decimal.Decimal("0.12345678901234567890123456789012345678"), "s": "hé",
     "b": b"\xde\xad", "d": datetime.date(2024, 1, 2), "t": datetime.time(12, 34, 56, 789000),
     "dt": datetime.datetime(2024, 1, 2, 3, 4, 5, 678901), "ts": TS, "g": "POINT(1 2)",
     "j": '{"a":1}', "tags": ["a", "b"], "scores": [0.5, 2.0],
     "loc": {"lat": 52.5, "city": "Berlin", "visits": [TS, TS2]}},
    {"id": 2, "flag": None, "f": None, "n": None, "bn": None, "s": None, "b": None, "d": None,
     "t": None, "dt": None, "ts": None, "g": None, "j": None, "tags": [], "scores": [],
     "loc": None},
]  # fmt: skip
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)
DATAFLOW = [
    "--runner=DataflowRunner", "--dry_run=True", "--project=beam-ingest-demo",
    "--region=europe-west1", "--temp_location=gs://beam-ingest-demo/tmp",
    "--staging_location=gs://beam-ingest-demo/staging",
]  # fmt: skip


def _us(value: datetime.datetime) -> int:
    return (value - EPOCH) // datetime.timedelta(microseconds=1)


def _f32(*values) -> list:
    return [float(v) for v in np.float32(values)]


EXPECTED = {  # row 1 by the default rules (decimal_as float, time_as int)
    "id": ("int64_list", [1]), "flag": ("int64_list", [1]), "f": ("float_list", [1.5]),
    "n": ("float_list", _f32(12345678901234567890.123456789)),
    "bn": ("float_list", _f32(0.12345678901234567890123456789012345678)),
    "s": ("bytes_list", ["hé".encode()]), "b": ("bytes_list", [b"\xde\xad"]),
    "d": ("int64_list", [_us(datetime.datetime(2024, 1, 2, tzinfo=UTC))]),
    "t": ("int64_list", [(12 * 3600 + 34 * 60 + 56) * 10**6 + 789000]),
    "dt": ("int64_list", [_us(TS)]), "ts": ("int64_list", [_us(TS)]),
    "g": ("bytes_list", [b"POINT(1 2)"]), "j": ("bytes_list", [b'{"a":1}']),
    "tags": ("bytes_list", [b"a", b"b"]), "scores": ("float_list", [0.5, 2.0]),
    "loc.lat": ("float_list", [52.5]), "loc.city": ("bytes_list", [b"Berlin"]),
    "loc.visits": ("int64_list", [_us(TS), -1_000_000]),
}  # fmt: skip
TEXT = {  # row 1's values that decimal_as=string, time_as=string change
    "n": ("bytes_list", [b"12345678901234567890.123456789"]),
    "bn": ("bytes_list", [b"0.12345678901234567890123456789012345678"]),
    "d": ("bytes_list", [b"2024-01-02"]), "t": ("bytes_list", [b"12:34:56.789000"]),
    "dt": ("bytes_list", [b"2024-01-02T03:04:05.678901"]),
    "ts": ("bytes_list", [b"2024-01-02T03:04:05.678901Z"]),
    "loc.visits": ("bytes_list", [b"2024-01-02T03:04:05.678901Z", b"1969-12-31T23:59:59.000000Z"]),
}  # fmt: skip


def _examples(dict_rows, **rules) -> list[dict]:
    """Beam's row dicts through our conversion and the tf.Example encoder."""
    source = ReadBigQuery("SELECT 1", bigquery_schema=SCHEMA, **rules)
    raw = _bigquery_types.arrow_schema(source.fields)
    empty = pa.RecordBatch.from_pylist([], schema=raw)
    converted = _bigquery_types.prepare(empty, source.decimal_as, source.time_as)[0].schema
    fn = bigquery._ToBatchFn("q", raw, converted, source.decimal_as, source.time_as)
    out = list(fn.process(dict_rows))
    (batch,) = [o for o in out if isinstance(o, pa.RecordBatch)]
    return [decode(e) for e in encode_batch(batch).examples]


# --- the Storage Read API, as Beam reads it --------------------------------------


def _arrow_responses(rows) -> list:
    """ReadRowsResponses carrying the rows as the Storage API's Arrow (one IPC batch)."""
    schema = google_arrow.bq_to_arrow_schema([SchemaField.from_api_repr(f) for f in SCHEMA])
    batch = pa.RecordBatch.from_pylist(rows, schema=schema)
    return [
        types.ReadRowsResponse(
            arrow_schema=types.ArrowSchema(serialized_schema=schema.serialize().to_pybytes()),
            arrow_record_batch=types.ArrowRecordBatch(
                serialized_record_batch=batch.serialize().to_pybytes(), row_count=len(rows)
            ),
            row_count=len(rows),
        )
    ]


class _Gapic:
    """The gRPC client under google's ReadRowsStream: responses by stream name."""

    def __init__(self, streams):
        self.streams = streams

    def read_rows(self, read_stream, offset, **kwargs):
        assert offset == 0
        return iter(self.streams[read_stream])


def _fake_read_client(streams):
    class FakeReadClient:
        def read_rows(self, name, offset=0, retry_delay_callback=None, timeout=None, **_):
            stream = reader.ReadRowsStream(_Gapic(streams), name, offset, {},
                                           retry_delay_callback=retry_delay_callback)  # fmt: skip
            stream._reconnect()
            return stream

    return FakeReadClient


def _beam_arrow_dicts(monkeypatch, rows) -> list[dict]:
    name = "projects/p/locations/eu/sessions/s/streams/0"
    monkeypatch.setattr(
        beam_bq.bq_storage, "BigQueryReadClient", _fake_read_client({name: _arrow_responses(rows)})
    )
    return list(beam_bq._CustomBigQueryStorageStreamSource(name, True).read_arrow())


# BigQuery's Avro for these columns (DATETIME as text with its sqlType).
_AVRO = {
    "INTEGER": "long", "BOOLEAN": "boolean", "FLOAT": "double", "STRING": "string",
    "BYTES": "bytes", "NUMERIC": {"type": "bytes", "logicalType": "decimal", "precision": 38,
                                  "scale": 9},
    "BIGNUMERIC": {"type": "bytes", "logicalType": "decimal", "precision": 77, "scale": 38},
    "DATE": {"type": "int", "logicalType": "date"},
    "TIME": {"type": "long", "logicalType": "time-micros"},
    "DATETIME": {"type": "string", "sqlType": "DATETIME"},
    "TIMESTAMP": {"type": "long", "logicalType": "timestamp-micros"},
    "GEOGRAPHY": {"type": "string", "sqlType": "GEOGRAPHY"},
    "JSON": {"type": "string", "sqlType": "JSON"},
}  # fmt: skip


def _avro_field(field: dict) -> dict:
    if field["type"] == "RECORD":
        kind = {"type": "record", "name": field["name"],
                "fields": [_avro_field(f) for f in field["fields"]]}  # fmt: skip
    else:
        kind = _AVRO[field["type"]]
    if field.get("mode") == "REPEATED":
        return {"name": field["name"], "type": {"type": "array", "items": kind}}
    if field.get("mode") == "REQUIRED":
        return {"name": field["name"], "type": kind}
    return {"name": field["name"], "type": ["null", kind]}


def _beam_avro_dicts(rows) -> list[dict]:
    schema = {"type": "record", "name": "__root__", "fields": [_avro_field(f) for f in SCHEMA]}
    parsed = fastavro.parse_schema(schema)
    out = io.BytesIO()
    for row in rows:
        avro_row = {**row, "dt": row["dt"].isoformat() if row["dt"] else None}
        fastavro.schemaless_writer(out, parsed, avro_row)
    response = types.ReadRowsResponse(
        avro_schema=types.AvroSchema(schema=json.dumps(schema)),
        avro_rows=types.AvroRows(serialized_binary_rows=out.getvalue()),
        row_count=len(rows),
    )
    return list(beam_bq._ReadReadRowsResponsesWithFastAvro(iter([]), response))


# --- the type mapping ---------------------------------------------------------------


def test_schema_json_gives_the_storage_apis_arrow_types():
    ours = _bigquery_types.arrow_schema(_bigquery_types.load_schema(SCHEMA_FILE.read_text()))
    google = google_arrow.bq_to_arrow_schema([SchemaField.from_api_repr(f) for f in SCHEMA])

    def bare(t: pa.DataType) -> pa.DataType:  # without nullability
        if pa.types.is_list(t):
            return pa.list_(bare(t.value_type))
        if pa.types.is_struct(t):
            return pa.struct([pa.field(f.name, bare(f.type)) for f in t])
        return t

    assert ours.names == google.names
    for a, b in zip(ours, google, strict=True):
        assert bare(a.type) == bare(b.type), a.name
    assert ours.field("dt").type == pa.timestamp("us") and ours.field("bn").type == pa.decimal256(
        76, 38
    )
    assert ours.field("loc").metadata[b"bigquery:type"] == (
        b"STRUCT<lat FLOAT, city STRING, visits ARRAY<TIMESTAMP>>"
    )
    # tables.get's shape and google-cloud-bigquery SchemaFields give the same
    assert _bigquery_types.load_schema({"schema": {"fields": SCHEMA}}) == SCHEMA
    as_fields = [SchemaField.from_api_repr(f) for f in SCHEMA]
    assert _bigquery_types.arrow_schema(_bigquery_types.load_schema(as_fields)) == ours


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ({"name": "span", "type": "INTERVAL"}, "'span' has BigQuery type INTERVAL"),
        ({"name": "r", "type": "RANGE", "rangeElementType": {"type": "DATE"}},
         "'r' has BigQuery type RANGE.*RANGE_START"),
        ({"name": "ev", "type": "RECORD", "mode": "REPEATED",
          "fields": [{"name": "k", "type": "STRING"}]},
         r"'ev' has BigQuery type ARRAY<STRUCT<k STRING>>.*UNNEST"),
        ({"name": "p", "type": "RECORD", "fields": [{"name": "x", "type": "FOO"}]},
         "'p.x' has BigQuery type FOO"),
    ],
)  # fmt: skip
def test_a_type_without_a_tf_example_form_is_a_config_error_naming_it(field, message):
    with pytest.raises(ConfigError, match=message):
        _bigquery_types.arrow_schema([{"name": "id", "type": "INT64"}, field])


def test_arrow_rows_as_beam_reads_them_give_every_value(monkeypatch):
    dicts = _beam_arrow_dicts(monkeypatch, ROWS)
    assert dicts[0]["dt"] == ROWS[0]["dt"] and dicts[0]["ts"] == TS  # datetimes, not text
    first, second = _examples(dicts)
    assert first == EXPECTED
    # NULL and an empty ARRAY (BigQuery does not tell them apart): the key
    # present with no value, of the column's kind (as every format writes it)
    assert second == {k: (kind, [2] if k == "id" else []) for k, (kind, _) in EXPECTED.items()}


def test_string_rules_give_exact_decimals_and_iso_times(monkeypatch):
    (first, _) = _examples(_beam_arrow_dicts(monkeypatch, ROWS), decimal_as="string",
                           time_as="string")  # fmt: skip
    assert first == {**EXPECTED, **TEXT}
    tidy = _bigquery_types.prepare(
        pa.RecordBatch.from_pylist([{"n": decimal.Decimal("1.5")}, {"n": decimal.Decimal("7")}],
                                   schema=pa.schema([("n", pa.decimal128(38, 9))])),
        "string", "int")[0]  # fmt: skip
    assert tidy.column(0).to_pylist() == [b"1.5", b"7"]  # as BigQuery's CAST(n AS STRING)


def test_avro_rows_as_beam_reads_them_give_the_same_examples(monkeypatch):
    dicts = _beam_avro_dicts(ROWS)
    assert isinstance(dicts[0]["dt"], str)  # Beam's Avro path: DATETIME as text
    assert _examples(dicts) == _examples(_beam_arrow_dicts(monkeypatch, ROWS))


def test_tfx_row_to_example_fails_on_what_we_convert():
    tf_utils = pytest.importorskip("tfx.extensions.google_cloud_big_query.utils")
    types_ = {f["name"]: f["type"] for f in SCHEMA}
    for column in ("ts", "dt", "d", "n"):  # tfx#4169, #2400, #1856
        with pytest.raises(RuntimeError, match="non-supported type"):
            tf_utils.row_to_example(types_, {column: ROWS[0][column]})
    simple = {k: ROWS[0][k] for k in ("id", "flag", "f", "s", "tags")}
    theirs = decode(tf_utils.row_to_example(types_, simple).SerializeToString())
    assert theirs == {k: EXPECTED[k] for k in simple}
    # NULL: TFX writes Feature(); ours is the column's kind with no value
    assert decode(tf_utils.row_to_example(types_, {"s": None}).SerializeToString()) == {
        "s": (None, [])
    }


def test_bad_values_are_dead_letters_and_changed_columns_fail():
    rows = [dict(ROWS[1], id=3), dict(ROWS[1], id="x"), dict(ROWS[1], id=4, d="not a date")]
    source = ReadBigQuery("SELECT 1", bigquery_schema=SCHEMA)
    raw = _bigquery_types.arrow_schema(source.fields)
    converted = _bigquery_types.prepare(pa.RecordBatch.from_pylist([], schema=raw),
                                        "float", "int")[0].schema  # fmt: skip
    out = list(
        bigquery._ToBatchFn("bigquery query q", raw, converted, "float", "int").process(rows)
    )
    (batch,) = [o for o in out if isinstance(o, pa.RecordBatch)]
    assert batch.column("id").to_pylist() == [3]
    bad = [o.value for o in out if getattr(o, "tag", None) == "bad_records"]
    assert [(b.file, b.record) for b in bad] == [("bigquery query q", 1), ("bigquery query q", 2)]
    assert '"id": "x"' in bad[0].raw and "does not fit" in bad[0].reason
    assert [o.value for o in out if getattr(o, "tag", None) == "counts"] == [3]
    gone = {k: v for k, v in ROWS[1].items() if k != "loc"}
    with pytest.raises(DataError, match=r"missing: \['loc'\]"):
        list(bigquery._ToBatchFn("q", raw, converted, "float", "int").process([gone]))


# --- whole pipelines ----------------------------------------------------------------


def _fake_session(monkeypatch, streams: dict) -> dict:
    """Beam's DIRECT_READ source with its read session faked: `split` gives
    these streams of responses (read by Beam's and google's real readers), and
    the temporary-dataset cleanup is recorded (unfaked, Beam's cleanup looks
    for credentials, retrying for ~25 s, then starts an OAuth flow on stdin).
    What each source was asked is in `sources`."""
    seen = {"sources": [], "cleanups": []}

    def split(self, desired_bundle_size, start_position=None, stop_position=None):
        seen["sources"].append(self.display_data())
        for name in streams:
            source = beam_bq._CustomBigQueryStorageStreamSource(name, self.use_native_datetime)
            yield SourceBundle(1.0, source, None, None)

    class Wrapper:
        def _clean_up_beam_labelled_temporary_datasets(self, **kwargs):
            seen["cleanups"].append(kwargs)

    monkeypatch.setattr(beam_bq._CustomBigQueryStorageSource, "split", split)
    monkeypatch.setattr(_bigquery_client, "check_credentials", lambda: None)  # none here
    monkeypatch.setattr(beam_bq._CustomBigQueryStorageSource, "estimate_size", lambda self: None)
    monkeypatch.setattr(beam_bq.bq_storage, "BigQueryReadClient", _fake_read_client(streams))
    monkeypatch.setattr(
        bigquery_tools.BigQueryWrapper, "from_pipeline_options", staticmethod(lambda o: Wrapper())
    )
    return seen


@pytest.fixture
def fake_bigquery(monkeypatch):
    """Two streams of Arrow responses: 37 rows of NULLs, then ROWS."""
    rows = [dict(ROWS[1], id=i) for i in range(3, 40)] + ROWS
    seen = _fake_session(monkeypatch, {
        "projects/p/locations/eu/sessions/s/streams/0": _arrow_responses(rows[:20]),
        "projects/p/locations/eu/sessions/s/streams/1": _arrow_responses(rows[20:]),
    })  # fmt: skip
    seen["rows"] = rows
    return seen


def test_a_whole_run_reads_through_beams_read_from_bigquery(fake_bigquery, tmp_path):
    query = "SELECT * FROM `beam-ingest-demo.trips.types`"
    config = build_config({"format": "bigquery", "query": query, "output": str(tmp_path / "out"),
                           "bigquery_schema": str(SCHEMA_FILE)})  # fmt: skip
    with beam.Pipeline(options=PipelineOptions(["--project=beam-ingest-demo"])) as p:
        _ = p | Ingest(config)
    report = read_report(tmp_path / "out")
    assert report["examples"] == len(fake_bigquery["rows"]) and report["bad_records"]["count"] == 0
    read = report["bigquery"]["all"]
    assert read["query"] == query and read["method"] == "DIRECT_READ"
    assert read["columns"]["loc"] == "STRUCT<lat FLOAT, city STRING, visits ARRAY<TIMESTAMP>>"
    (asked,) = fake_bigquery["sources"]
    assert asked["method"] == "DIRECT_READ" and asked["output_format"] == "ARROW"
    assert asked["query"] == query and asked["use_legacy_sql"] is False
    (cleanup,) = fake_bigquery["cleanups"]
    assert cleanup["project_id"] == "beam-ingest-demo"
    written = {e["id"][1][0]: e for s in ("train", "eval") for e in map(decode, split_records(
        str(tmp_path / "out"), s))}  # fmt: skip
    assert sorted(written) == sorted(r["id"] for r in fake_bigquery["rows"])
    assert written[1] == EXPECTED
    schema = (tmp_path / "out" / "schema.pbtxt").read_text()
    assert 'name: "loc.visits"' in schema and 'name: "ts"' in schema


def test_the_python_api_reads_a_table_with_a_partition_feature(fake_bigquery, tmp_path):
    from beam_ingest import IngestConfig

    source = ReadBigQuery(table="beam-ingest-demo:trips.types", bigquery_schema=SCHEMA,
                          time_as="string")  # fmt: skip
    config = IngestConfig(output_dir=str(tmp_path / "out"), source=source,
                          partition_feature="s")  # fmt: skip
    with beam.Pipeline(options=PipelineOptions(["--project=beam-ingest-demo"])) as p:
        _ = p | Ingest(config)
    (asked,) = fake_bigquery["sources"]
    assert "tableId: 'types'" in asked["table_reference"] and asked["query"] == "None"
    assert read_report(tmp_path / "out")["bigquery"]["all"]["table"] == (
        "beam-ingest-demo:trips.types"
    )
    written = [
        decode(r) for s in ("train", "eval") for r in split_records(str(tmp_path / "out"), s)
    ]
    assert (
        len(written) == 39
        and {**EXPECTED, **{k: TEXT[k] for k in ("d", "t", "dt", "ts", "loc.visits")}} in written
    )


def test_an_empty_result_is_a_valid_empty_output_with_a_warning(monkeypatch, tmp_path, caplog):
    _fake_session(monkeypatch, {"projects/p/locations/eu/sessions/s/streams/0": []})
    config = build_config({"format": "bigquery", "query": "SELECT 1 AS id LIMIT 0",
                           "output": str(tmp_path / "out"),
                           "bigquery_schema": str(SCHEMA_FILE)})  # fmt: skip
    with caplog.at_level("WARNING"), beam.Pipeline() as p:
        _ = p | Ingest(config)
    assert read_report(tmp_path / "out")["examples"] == 0
    assert "BigQuery returned no rows: SELECT 1 AS id LIMIT 0" in caplog.text


def _shown(transform) -> dict:
    """A job step's display data, {key: value}."""
    from apache_beam.portability.api import beam_runner_api_pb2

    out = {}
    for item in transform.display_data:
        shown = beam_runner_api_pb2.LabelledPayload.FromString(item.payload)
        out[shown.key] = getattr(shown, shown.WhichOneof("value"))
    return out


def _dataflow_job(tmp_path, *args):
    """`beam-ingest run ... -- <Dataflow dry run>`: the job the runner built."""
    captured = {}
    original = beam.Pipeline.run

    def run(self, *a, **k):
        captured["result"] = original(self, *a, **k)
        return captured["result"]

    with pytest.MonkeyPatch.context() as m:
        m.setattr(beam.Pipeline, "run", run)
        code = main(["run", "--format", "bigquery", *args, "--output", str(tmp_path / "out"),
                     "--", *DATAFLOW])  # fmt: skip
    assert code == 0
    return captured["result"].job


def test_the_dataflow_dry_run_builds_the_job_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # if anything asked for credentials: fail fast
    started = time.time()
    job = _dataflow_job(tmp_path, "--query", "SELECT * FROM `d.t` WHERE day = @span_yyyymmdd_utc",
                        "--span", "19724", "--bigquery-schema", str(SCHEMA_FILE),
                        "--temp-dataset", "beam-ingest-demo:scratch")  # fmt: skip
    assert time.time() - started < 120
    transforms = job.proto_pipeline.components.transforms.values()
    steps = {t.unique_name: t for t in transforms}
    for step in ("Ingest/Read/ReadFromBigQuery", "Ingest/Read/BatchRows",
                 "Ingest/Read/ToRecordBatches", "Ingest/Read/CountRows", "Ingest/ToTFExample",
                 "Ingest/HashSplit", "Ingest/WriteSplits/Write[train]",
                 "Ingest/WriteSplits/Write[eval]", "Ingest/DeadLetters",
                 "Ingest/Commit/Publish"):  # fmt: skip
        assert step in steps, f"{step} is not a step of the job"
    read = _shown(steps["Ingest/Read/ReadFromBigQuery/Read"])
    assert read["source"] == "apache_beam.io.gcp.bigquery._CustomBigQueryStorageSource"
    assert read["method"] == "DIRECT_READ" and read["output_format"] == "ARROW"
    assert read["query"] == "SELECT * FROM `d.t` WHERE day = '20240102'"
    assert read["use_legacy_sql"] is False and read["use_native_datetime"] is True
    assert job.proto.type_.name == "JOB_TYPE_BATCH"
    assert not (tmp_path / "out").exists(), "a dry run writes nothing"


def test_the_dataflow_dry_run_reads_a_date_sharded_table(tmp_path):
    job = _dataflow_job(
        tmp_path,
        "--table",
        "beam-ingest-demo:events.day_{YYYY}{MM}{DD}",
        "--span-range",
        "19723:19724",
        "--bigquery-schema",
        str(SCHEMA_FILE),
    )
    steps = {t.unique_name: t for t in job.proto_pipeline.components.transforms.values()}
    tables = [_shown(steps[f"Ingest/Read/Read{i}/ReadFromBigQuery/Read"])["table_reference"]
              for i in range(2)]  # fmt: skip
    assert [t.split("tableId: ")[1].strip(" '>\n") for t in tables] == [
        "day_20240101",
        "day_20240102",
    ]


# --- options, spans, splits, errors ---------------------------------------------------


def _config(tmp_path, **options):
    return build_config({"format": "bigquery", "output": str(tmp_path / "out"),
                         "bigquery_schema": str(SCHEMA_FILE), **options})  # fmt: skip


def test_query_splits_spans_and_tables_become_reads(tmp_path, monkeypatch):
    split = _config(tmp_path, query_split=["train=SELECT 1 AS a", "eval=SELECT 2 AS a"])
    assert {n: s.query for n, s in split.split_sources.items()} == {
        "train": "SELECT 1 AS a",
        "eval": "SELECT 2 AS a",
    }
    asked = []
    monkeypatch.setattr(bigquery._bigquery_client, "run_query",
                        lambda values, sql: asked.append((values["bigquery_project"], sql))
                        or [(19000,), (19002,), (19001,), (None,)])  # fmt: skip
    latest = _config(
        tmp_path,
        query="SELECT * FROM t WHERE day = {SPAN}",
        last_spans=2,
        span_query="SELECT DISTINCT day FROM t",
        bigquery_project="billing-proj",
    )
    assert asked == [("billing-proj", "SELECT DISTINCT day FROM t")]
    assert isinstance(latest.source, FlattenSources)
    assert [s.query for s in latest.source.sources] == [
        "SELECT * FROM t WHERE day = 19001",
        "SELECT * FROM t WHERE day = 19002",
    ]
    assert latest.report_fields["spans"] == [19001, 19002]
    table = _config(tmp_path, table="proj-a:ds.t_{YYYY}{MM}{DD}", span=19724)
    assert table.source.query is None and table.source._table_spec() == "proj-a:ds.t_20240102"
    assert table.source.read_kwargs() == {
        "method": "DIRECT_READ",
        "use_native_datetime": True,
        "table": "proj-a:ds.t_20240102",
    }
    query = _config(
        tmp_path, query="SELECT 1;", bigquery_project="billing-proj", temp_dataset="scratch"
    )
    kwargs = query.source.read_kwargs()
    assert kwargs["query"] == "SELECT 1" and kwargs["use_standard_sql"] is True
    assert kwargs["project"] == "billing-proj"
    assert (kwargs["temp_dataset"].projectId, kwargs["temp_dataset"].datasetId) == (
        "billing-proj",
        "scratch",
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"query": "SELECT 1", "table": "d.t"}, "table: cannot go with `query`"),
        ({}, "query: required for format bigquery"),
        ({"query": "SELECT 1", "connection": "sqlite:///x.db"},
         "connection: only applies to format sql"),
        ({"query": "SELECT 1", "partitions": 4}, "partitions: only applies to format sql"),
        ({"table": "not a table"}, "table: 'not a table' is not PROJECT:DATASET.TABLE"),
        ({"query": "SELECT 1", "temp_dataset": "scratch"}, "temp_dataset: 'scratch' is not"),
        ({"query": "SELECT {SPAN}"}, "span_query: the queries hold span specs"),
        ({"query": "SELECT 1", "schema": "s.json"}, "schema: "),
    ],
)  # fmt: skip
def test_options_that_do_not_go_together_are_refused(tmp_path, options, message):
    if options.get("schema"):
        (tmp_path / "s.json").write_text('{"a": "int"}')
        options = {**options, "schema": str(tmp_path / "s.json")}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("`", "`")):
        _config(tmp_path, **options)


def test_a_bigquery_schema_that_is_not_one_is_refused(tmp_path):
    (tmp_path / "bad.json").write_text('{"a": 1}')
    with pytest.raises(
        ConfigError, match=r"bigquery_schema: expected a BigQuery schema.*bad\.json"
    ):
        _config(tmp_path, query="SELECT 1", bigquery_schema=str(tmp_path / "bad.json"))
    (tmp_path / "bad.json").write_text("[{")
    with pytest.raises(ConfigError, match=r"bigquery_schema: .*bad\.json' is not JSON"):
        _config(tmp_path, query="SELECT 1", bigquery_schema=str(tmp_path / "bad.json"))


def test_without_credentials_the_schema_lookup_fails_fast_and_says_why(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("NO_GCE_CHECK", "True")  # no metadata-server probe
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))  # no gcloud login
    config = build_config({"format": "bigquery", "query": "SELECT 1 AS a",
                           "output": str(tmp_path / "out")})  # fmt: skip
    started = time.time()
    code = main(
        [
            "run",
            "--format",
            "bigquery",
            "--query",
            "SELECT 1 AS a",
            "--output",
            str(tmp_path / "out2"),
            "--",
            "--project=beam-ingest-demo",
        ]
    )
    assert code == 2 and time.time() - started < 30
    # With the schema given, the read itself would wait for credentials (Beam
    # retries, then starts an OAuth flow on stdin): refused before it starts.
    schema = str(DATA / "types_schema.json")
    started = time.time()
    code = main(["run", "--format", "bigquery", "--table", "my-project:d.t", "--bigquery-schema",
                 schema, "--output", str(tmp_path / "out3")])  # fmt: skip
    assert code == 2 and time.time() - started < 30
    assert "no Google Cloud credentials here for Beam's BigQuery read" in capsys.readouterr().err
    pipeline = beam.Pipeline(options=PipelineOptions(["--project=beam-ingest-demo"]))
    with pytest.raises(ConfigError, match=r"no Google Cloud credentials.*bigquery_schema"):
        _ = pipeline | Ingest(config)


# --- TFX: BigQueryExampleGen with beam-ingest's executor ---------------------------


def test_tfx_bigquery_example_gen_runs_our_executor_like_the_cli(fake_bigquery, tmp_path):
    """TFX's own BigQueryExampleGen (its QueryBasedDriver fills the span from
    range_config) with `custom_executor_spec` our BigQueryExecutor, in
    LocalDagRunner: the artifact holds what the CLI writes from the same rows."""
    from tfx.dsl.components.base import executor_spec
    from tfx.extensions.google_cloud_big_query.example_gen.component import BigQueryExampleGen
    from tfx.orchestration import metadata
    from tfx.orchestration import pipeline as tfx_pipeline
    from tfx.orchestration.local.local_dag_runner import LocalDagRunner
    from tfx.proto import range_config_pb2

    from beam_ingest.example_gen import BigQueryExecutor, custom_config

    query = "SELECT * FROM `beam-ingest-demo.trips.types` WHERE day = @span_yyyymmdd_utc"
    gen = BigQueryExampleGen(
        query=query,
        range_config=range_config_pb2.RangeConfig(static_range=range_config_pb2.StaticRange(
            start_span_number=19724, end_span_number=19724)),
        custom_executor_spec=executor_spec.BeamExecutorSpec(BigQueryExecutor),
        custom_config=custom_config(bigquery_schema=str(SCHEMA_FILE), time_as="string"),
    )  # fmt: skip
    config = metadata.sqlite_metadata_connection_config(str(tmp_path / "metadata.sqlite"))
    LocalDagRunner().run(
        tfx_pipeline.Pipeline(pipeline_name="bq", pipeline_root=str(tmp_path / "root"),
                              components=[gen], enable_cache=False,
                              metadata_connection_config=config,
                              beam_pipeline_args=["--project=beam-ingest-demo"])
    )  # fmt: skip
    with metadata.Metadata(config) as m:
        [artifact] = m.store.get_artifacts_by_type("Examples")
    filled = query.replace("@span_yyyymmdd_utc", "'20240102'")
    assert [s["query"] for s in fake_bigquery["sources"]] == [filled]
    assert artifact.custom_properties["span"].int_value == 19724
    assert artifact.custom_properties["beam_ingest_examples"].int_value == 39
    code = main(
        [
            "run",
            "--format",
            "bigquery",
            "--query",
            query,
            "--span",
            "19724",
            "--time-as",
            "string",
            "--bigquery-schema",
            str(SCHEMA_FILE),
            "--output",
            str(tmp_path / "cli"),
            "--",
            "--project=beam-ingest-demo",
        ]
    )
    assert code == 0 and fake_bigquery["sources"][1]["query"] == filled
    for split in ("train", "eval"):
        ours = sorted(split_records(artifact.uri, split))
        assert ours == sorted(split_records(str(tmp_path / "cli"), split)) and ours
    examples = [decode(r) for s in ("train", "eval") for r in split_records(artifact.uri, s)]
    assert {**EXPECTED, **{k: TEXT[k] for k in ("d", "t", "dt", "ts", "loc.visits")}} in examples


def test_the_flex_template_launcher_builds_a_bigquery_job(tmp_path):
    """templates/launcher.py with `format=bigquery` parameters, as Dataflow
    passes them, building the job by the dry run."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, str(root / "templates" / "launcher.py"), "--format=bigquery",
         "--query_split=train=SELECT * FROM d.t WHERE MOD(id, 3) > 0;"
         "eval=SELECT * FROM d.t WHERE MOD(id, 3) = 0",
         f"--bigquery_schema={SCHEMA_FILE}", "--decimal_as=string",
         f"--output={tmp_path / 'out'}", *DATAFLOW],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(root), "NO_GCE_CHECK": "True"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Dry run: the job was built" in result.stdout
    assert not (tmp_path / "out").exists()
