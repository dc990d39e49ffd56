"""ReadJsonl: every type, nesting, compression, parity with ReadCsv, bad lines, errors."""

from __future__ import annotations

import bz2
import csv
import gzip
import itertools
import json
import re
import sysconfig
from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from beam_ingest import Ingest, IngestConfig
from beam_ingest.bad_records import BadRecord
from beam_ingest.connectors import _csv_values, _jsonl_chunks
from beam_ingest.connectors.csv import ReadCsv
from beam_ingest.connectors.jsonl import ReadJsonl
from beam_ingest.errors import ConfigError, DataError
from beam_ingest.schema import Kind, Schema
from beam_ingest.source import FILE_METADATA
from beam_ingest.splits import SplitSpec
from tests.helpers import bad_records, decode, read_report, run_ingest, split_records

ONE_SPLIT = (SplitSpec(name="all", buckets=1),)
INT, FLT, BYT = "int64_list", "float_list", "bytes_list"
TAXI_CSV = (
    Path(sysconfig.get_paths()["purelib"])
    / "tfx/examples/chicago_taxi_pipeline/data/simple/data.csv"
)


def _ingest(pattern: str, out: Path, **kwargs) -> dict:
    config = IngestConfig(
        source=ReadJsonl(pattern, schema=kwargs.pop("schema", None)),
        output_dir=str(out),
        splits=ONE_SPLIT,
        **kwargs,
    )
    return run_ingest(config)


def _by_id(out: Path) -> dict[int, dict]:
    examples = [decode(r) for r in split_records(str(out), "all")]
    return {e["id"][1][0]: e for e in examples}


def _accounted(report: dict) -> None:
    assert report["records_read"] == report["examples"] + report["bad_records"]["count"]


def _f32(x: float) -> float:
    return float(np.float32(x))


@pytest.fixture
def tiny_chunks(monkeypatch):
    """Chunks of a few bytes: most lines are chunks of their own (the DirectRunner
    runs DoFns in this process, so the patched size applies)."""
    monkeypatch.setattr(_jsonl_chunks, "CHUNK_SIZE", 16)


# --- 1. every supported type, read back value by value -----------------------

TYPED_A = (
    '{"id": 1, "int": 7, "neg": -3, "big": 9223372036854775807, "float": 0.1, "widen": 1, '
    '"flag": true, "text": "héllo ✓", "empty": "", "obj": {"x": 1, "deep": {"y": "a"}}, '
    '"ints": [1, 2, 3], "floats": [0.25, 2], "strs": ["a", "", "ü"], "maybe": null, '
    '"zero_i": 0, "zero_f": 0.0, "no": false, "nothing": null, "never": []}\n'
    "   \n"
    '{"id": 2, "int": 0, "float": -1500.0, "widen": 2.5, "flag": false, "text": "", '
    '"obj": null, "ints": [], "floats": null, "strs": ["x"], "maybe": 5, "nothing": null}\n'
    '{"id": 3, "obj": {"x": 0}, "ints": 4, "maybe": null}\n'
)
TYPED_B = b'{"id": 4, "text": "gz", "flag": true}\r\n\r\n{"id": 5, "floats": [1], "obj": {"deep": {"y": ""}}}\r\n'  # noqa: E501
TYPED_C = b'{"id": 6, "big": -9223372036854775808, "strs": [], "int": -1}'  # no final newline
TYPED_KINDS = {
    "id": INT, "int": INT, "neg": INT, "big": INT, "float": FLT, "widen": FLT, "flag": INT,
    "text": BYT, "empty": BYT, "obj.x": INT, "obj.deep.y": BYT, "ints": INT, "floats": FLT,
    "strs": BYT, "maybe": INT, "zero_i": INT, "zero_f": FLT, "no": INT, "nothing": None,
    "never": None,
}  # fmt: skip


def _example(**values) -> dict:
    out = {name: (kind, []) for name, kind in TYPED_KINDS.items()}
    for name, value in values.items():
        name = name.replace("__", ".")
        out[name] = (TYPED_KINDS[name], value)
    return out


@pytest.fixture(scope="module")
def typed_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("typed")
    (folder / "a.jsonl").write_text(TYPED_A, encoding="utf-8")
    (folder / "b.jsonl.gz").write_bytes(gzip.compress(TYPED_B))
    (folder / "c.jsonl.bz2").write_bytes(bz2.compress(TYPED_C))
    (folder / "d.jsonl").write_bytes(b"")
    out = folder / "out"
    return _ingest(str(folder / "*.jsonl*"), out), out


def test_every_type_round_trips(typed_run):
    _, out = typed_run
    assert _by_id(out) == {
        1: _example(
            id=[1], int=[7], neg=[-3], big=[2**63 - 1], float=[_f32(0.1)], widen=[1.0],
            flag=[1], text=["héllo ✓".encode()], empty=[b""], obj__x=[1], obj__deep__y=[b"a"],
            ints=[1, 2, 3], floats=[0.25, 2.0], strs=[b"a", b"", "ü".encode()],
            zero_i=[0], zero_f=[0.0], no=[0],
        ),
        2: _example(
            id=[2], int=[0], float=[-1500.0], widen=[2.5], flag=[0], text=[b""],
            strs=[b"x"], maybe=[5],
        ),
        3: _example(id=[3], obj__x=[0], ints=[4]),
        4: _example(id=[4], text=[b"gz"], flag=[1]),
        5: _example(id=[5], floats=[1.0], obj__deep__y=[b""]),
        6: _example(id=[6], big=[-(2**63)], strs=[], int=[-1]),
    }  # fmt: skip


def test_inferred_schema_and_accounting(typed_run):
    report, _ = typed_run
    kinds = {INT: "int", FLT: "float", BYT: "bytes", None: "unknown"}
    assert report["schema"] == {name: kinds[k] for name, k in TYPED_KINDS.items()}
    assert (report["records_read"], report["examples"]) == (6, 6)
    _accounted(report)


def test_read_alone_gives_schema_order_counts_and_rows(tmp_path):
    """Features in order of first appearance (nested ones under their parent);
    blank lines are not records; a boolean in an int field is 0/1."""
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl.gz"
    a.write_text('{"b": 1, "a": {"y": "s"}}\n\n{"c": [1.5], "b": true}\n')
    b.write_bytes(gzip.compress(b'{"a": {"x": null}}'))
    schema = Schema.from_kinds(
        [("b", Kind.INT), ("a.y", Kind.BYTES), ("a.x", Kind.UNKNOWN), ("c", Kind.FLOAT)]
    )
    rows = [
        {"b": 1, "a.y": b"s", "a.x": None, "c": None},
        {"b": 1, "a.y": None, "a.x": None, "c": [1.5]},
        {"b": None, "a.y": None, "a.x": None, "c": None},
    ]
    with BeamTestPipeline() as p:
        out = p | ReadJsonl(str(tmp_path / "*"))
        assert_that(out.schema, equal_to([schema]), label="Schema")
        assert_that(out.counts, equal_to([(str(a), 2), (str(b), 1)]), label="Counts")
        rows_out = out.records | beam.FlatMap(lambda batch: batch.to_pylist())
        assert_that(rows_out, equal_to(rows), label="Rows")
        assert_that(out.bad_records, equal_to([]), label="BadRecords")


# --- 3. compression, blank lines, empty files ----------------------------------


def test_gzip_bzip2_and_blank_lines_are_read(typed_run):
    _, out = typed_run
    assert {4, 5, 6} <= set(_by_id(out))  # ids 4, 5 from .gz (CRLF, blank line), 6 from .bz2


def test_empty_and_blank_files_give_zero_examples(tmp_path):
    (tmp_path / "empty.jsonl").write_bytes(b"")
    (tmp_path / "blank.jsonl.gz").write_bytes(gzip.compress(b"\n  \r\n\n"))
    report = _ingest(str(tmp_path / "*.jsonl*"), tmp_path / "out")
    assert (report["records_read"], report["examples"], report["bad_records"]["count"]) == (0, 0, 0)
    assert split_records(str(tmp_path / "out"), "all") == []


# --- 2. the taxi data as CSV and as JSONL: the same examples ---------------------


def _write_taxi(folder: Path, rows: int = 2000) -> tuple[Path, Path]:
    """The first rows of the taxi CSV, and the same rows as JSONL.

    Each JSON value is typed as ReadCsv types its column (`_csv_values`, TFX's
    rules): INT cells become JSON integers, FLOAT cells JSON floats, STRING
    cells JSON strings; empty cells a missing key in even rows, null in odd
    ones. The care: a FLOAT column's integral-looking cells ("0", "0.0") are
    written as float literals (`json.dumps(0.0)` is "0.0"). Here each FLOAT
    column also holds a fraction somewhere, so integers would widen to float
    anyway; but a FLOAT column whose cells all look integral would be
    inferred INT from JSON integers, and its examples would differ.
    `pickup_census_tract` is empty in these rows: an empty Feature() in both.
    """
    with open(TAXI_CSV, newline="") as f:
        header, *body = itertools.islice(csv.reader(f), rows + 1)
    columns = {
        name: pa.array([r[i].encode() or None for r in body], pa.binary())
        for i, name in enumerate(header)
    }
    kinds = {name: _csv_values.infer_kind(column) for name, column in columns.items()}
    convert = {Kind.INT: int, Kind.FLOAT: float, Kind.BYTES: str, Kind.UNKNOWN: str}
    csv_path, jsonl_path = folder / "taxi.csv", folder / "taxi.jsonl"
    with open(csv_path, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([header, *body])
    with open(jsonl_path, "w", encoding="utf-8") as f:
        for n, row in enumerate(body):
            record = {
                name: convert[kinds[name]](cell) if cell else None
                for name, cell in zip(header, row, strict=True)
                if cell or n % 2
            }
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return csv_path, jsonl_path


def _run_with_metrics(config: IngestConfig) -> dict[str, int]:
    p = beam.Pipeline()
    _ = p | Ingest(config)
    result = p.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_namespace("beam_ingest"))["counters"]
    return {c.key.metric.name: c.committed for c in counters}


@pytest.fixture(scope="module")
def taxi_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("taxi")
    csv_path, jsonl_path = _write_taxi(folder)
    outs = {}
    metrics = {}
    with pytest.MonkeyPatch.context() as patch:
        # The JSONL file (about 880 KB) is one chunk that pyarrow parses as about
        # 50 blocks on its threads; a block may start where a column's values
        # change type (missing keys in even rows, nulls in odd ones).
        patch.setattr(_jsonl_chunks, "PARSE_BLOCK", 1 << 14)
        for name, source in (
            ("csv", ReadCsv(str(csv_path))),
            ("jsonl", ReadJsonl(str(jsonl_path))),
        ):
            outs[name] = folder / f"out_{name}"
            config = IngestConfig(source=source, output_dir=str(outs[name]))
            metrics[name] = _run_with_metrics(config)
    return outs, metrics


@pytest.mark.parametrize("split", ["train", "eval"])
def test_taxi_csv_and_jsonl_give_the_same_examples(taxi_runs, split):
    outs, _ = taxi_runs
    from_csv = sorted(split_records(str(outs["csv"]), split))
    from_jsonl = sorted(split_records(str(outs["jsonl"]), split))
    assert len(from_csv) > 500
    assert from_jsonl == from_csv


def test_taxi_reports_agree_and_jsonl_takes_only_the_fast_path(taxi_runs):
    outs, metrics = taxi_runs
    csv_report, jsonl_report = read_report(str(outs["csv"])), read_report(str(outs["jsonl"]))
    assert jsonl_report["schema"] == csv_report["schema"]
    assert jsonl_report["records_read"] == csv_report["records_read"] == 2000
    _accounted(jsonl_report)
    assert metrics["jsonl"]["jsonl_records_read"] == 2000
    assert metrics["jsonl"].get("jsonl_slow_chunks", 0) == 0
    assert metrics["jsonl"].get("jsonl_infer_slow_chunks", 0) == 0


def test_a_line_longer_than_a_parse_block_stays_on_the_fast_path(tmp_path):
    """pyarrow cannot parse a line that straddles two blocks; the chunk is
    then parsed as one block, not line by line."""
    path = tmp_path / "long.jsonl"
    long = json.dumps({"id": 2, "v": list(range(200_000))})  # about 1.3 MB
    path.write_text(f'{{"id": 1, "v": [1]}}\n{long}\n{{"id": 3, "v": []}}\n')
    assert len(long) > _jsonl_chunks.PARSE_BLOCK
    out = tmp_path / "out"
    metrics = _run_with_metrics(
        IngestConfig(source=ReadJsonl(str(path)), output_dir=str(out), splits=ONE_SPLIT)
    )
    assert metrics.get("jsonl_slow_chunks", 0) == metrics.get("jsonl_infer_slow_chunks", 0) == 0
    got = _by_id(out)
    assert got[2]["v"] == (INT, list(range(200_000)))
    assert (got[1]["v"], got[3]["v"]) == ((INT, [1]), (INT, []))


# --- 4. bad lines ------------------------------------------------------------------

BAD_LINES = [
    b'{"id": 1, "v": 1.5, "s": "ok", "l": [1]}',
    b'{"id": 2, "v": NaN}',
    b"[1, 2]",
    b'{"id": 4, "s": "\xff\xfe"}',
    b'{"id": 5, "v": -Infinity}',
    b'{"id": 99999999999999999999}',
    b'{"id": 7, "s": "x"} {"id": 8}',
    b'{"id": 9,',
    b' "v": 2}',
    b'{"id": 10, "id": 11}',
    b'{"id": 12, "s": "\\ud800"}',
    b'{"id": 13, "l": [1, null]}',
    b'"just a string"',
    b'{"id": 14, "v": 1e999}',
    b"",
    b'{"id": 16, "v": -0.0, "s": "", "l": []}',
    b"{broken",
]
BAD_EXPECTED = [
    (2, "NaN is not valid JSON (JSON has no NaN or Infinity)"),
    (3, "not a JSON object: the line holds an array"),
    (4, "invalid UTF-8 at byte 16 of the line"),
    (5, "-Infinity is not valid JSON (JSON has no NaN or Infinity)"),
    (6, "field 'id': 99999999999999999999 is beyond the int64 range"),
    (7, "invalid JSON: Extra data at column 21"),
    (8, "invalid JSON: Expecting property name enclosed in double quotes at column 10"),
    (9, "invalid JSON: Extra data at column 5"),
    (10, "key 'id' appears twice in one object"),
    (11, "a \\u escape spells a lone surrogate, which is not valid Unicode"),
    (12, "field 'l': null inside an array (a tf.Example list has no nulls)"),
    (13, "not a JSON object: the line holds a string"),
    (14, "field 'v': the number is beyond the float range"),
    (17, "invalid JSON: Expecting property name enclosed in double quotes at column 2"),
]


def _raw(line: int) -> str:
    return BAD_LINES[line - 1].decode("utf-8", "surrogateescape")


@pytest.fixture(scope="module")
def bad_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("bad") / "bad.jsonl"
    path.write_bytes(b"\n".join(BAD_LINES) + b"\n")
    return path


@pytest.fixture(scope="module")
def bad_run(bad_file):
    out = bad_file.parent / "out"
    return _ingest(str(bad_file), out, max_bad_records=20), out


def test_bad_lines_are_dead_lettered_with_line_reason_and_raw_text(bad_run):
    _, out = bad_run
    got = sorted((r["record"], r["reason"], r["raw"]) for r in bad_records(str(out)))
    assert got == [(line, reason, _raw(line)) for line, reason in BAD_EXPECTED]


def test_undecodable_bytes_are_recoverable(bad_run):
    _, out = bad_run
    raw = next(r["raw"] for r in bad_records(str(out)) if r["record"] == 4)
    assert raw.encode("utf-8", "surrogateescape") == BAD_LINES[3]


def test_good_lines_still_written_and_every_record_accounted_for(bad_run):
    report, out = bad_run
    assert _by_id(out).keys() == {1, 16}
    assert _by_id(out)[16]["v"] == (FLT, [0.0])
    assert report["schema"] == {"id": "int", "v": "float", "s": "bytes", "l": "int"}
    assert (report["records_read"], report["examples"]) == (16, 2)
    assert report["bad_records"]["count"] == len(BAD_EXPECTED)
    _accounted(report)


def test_bad_lines_found_whatever_the_chunking(bad_file, tiny_chunks):
    expected = [BadRecord(str(bad_file), n, reason, _raw(n)) for n, reason in BAD_EXPECTED]
    with BeamTestPipeline() as p:
        out = p | ReadJsonl(str(bad_file))
        ids = out.records | beam.FlatMap(lambda b: b.column("id").to_pylist())
        assert_that(ids, equal_to([1, 16]), label="Ids")
        assert_that(out.bad_records, equal_to(expected), label="BadRecords")
        assert_that(out.counts, equal_to([(str(bad_file), 16)]), label="Counts")


def test_by_default_one_bad_line_fails_the_run_naming_file_line_and_reason(tmp_path):
    path = tmp_path / "one_bad.jsonl"
    path.write_text('{"a": 1}\n{"a": NaN}\n')
    message = rf"(?s)1 bad record.*\n  {re.escape(str(path))}:2: NaN is not valid JSON"
    with pytest.raises(DataError, match=message):
        _ingest(str(path), tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- a given schema: records that do not fit are bad records ---------------------

GIVEN = Schema.from_kinds(
    [
        ("id", Kind.INT),
        ("score", Kind.FLOAT),
        ("name", Kind.BYTES),
        ("tags", Kind.BYTES),
        ("geo.lat", Kind.FLOAT),
        ("flag", Kind.INT),
    ]
)
GIVEN_LINES = [
    '{"id": 1, "score": 2, "name": "a", "tags": ["x", "y"], "geo": {"lat": 1.5}, "flag": true}',
    '{"id": "2"}',
    '{"id": 3, "score": "high"}',
    '{"id": 4, "name": 5}',
    '{"id": 5, "extra": 1}',
    '{"id": 6, "geo": 7}',
    '{"id": 7.5}',
    '{"id": 9223372036854775808}',
    '{"id": 9, "tags": "solo", "flag": false, "geo": null}',
    '{"id": 10, "name": {"x": 1}}',
    '{"id": 11, "score": true, "tags": [], "geo": {}}',
    '{"id": 12, "score": 18446744073709551616, "tags": ["z"]}',
]


@pytest.fixture(scope="module")
def given_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("given")
    (folder / "g.jsonl").write_text("\n".join(GIVEN_LINES) + "\n")
    with pytest.MonkeyPatch.context() as patch:  # many chunks: arrays are learned per file
        patch.setattr(_jsonl_chunks, "CHUNK_SIZE", 16)
        return _ingest(str(folder / "g.jsonl"), folder / "out", schema=GIVEN, max_bad_records=10)


def test_given_schema_values_that_fit(given_run):
    report = given_run
    out = Path(report["output_dir"])
    empty = {"id": INT, "score": FLT, "name": BYT, "tags": BYT, "geo.lat": FLT, "flag": INT}
    empty = {name: (kind, []) for name, kind in empty.items()}
    assert _by_id(out) == {
        1: {**empty, "id": (INT, [1]), "score": (FLT, [2.0]), "name": (BYT, [b"a"]),
            "tags": (BYT, [b"x", b"y"]), "geo.lat": (FLT, [1.5]), "flag": (INT, [1])},
        9: {**empty, "id": (INT, [9]), "tags": (BYT, [b"solo"]), "flag": (INT, [0])},
        11: {**empty, "id": (INT, [11]), "score": (FLT, [1.0])},
        12: {**empty, "id": (INT, [12]), "score": (FLT, [_f32(2.0**64)]), "tags": (BYT, [b"z"])},
    }  # fmt: skip
    assert report["schema"] == GIVEN.to_dict()


def test_given_schema_records_that_do_not_fit_are_bad(given_run):
    out = Path(given_run["output_dir"])
    got = sorted((r["record"], r["reason"]) for r in bad_records(str(out)))
    assert got == [
        (2, "field 'id': \"2\" is not an integer (int64)"),
        (3, "field 'score': \"high\" is not a number"),
        (4, "field 'name': 5 is not a string"),
        (5, "field 'extra' is not in the schema"),
        (6, "field 'geo': 7 is not an object"),
        (7, "field 'id': 7.5 is not an integer (int64)"),
        (8, "field 'id': 9223372036854775808 is beyond the int64 range"),
        (10, "field 'name': {\"x\": 1} is not a string"),
    ]
    assert (given_run["records_read"], given_run["examples"]) == (12, 4)
    _accounted(given_run)


# --- the Source contract: options and profiles ------------------------------


def test_from_options_passes_the_schema():
    source = ReadJsonl.from_options("in/*.jsonl", {}, GIVEN)
    assert (source.file_pattern, source.schema) == ("in/*.jsonl", GIVEN)
    assert ReadJsonl.from_options("in/*.jsonl", {}, None).schema is None


def test_profile_counts_and_infers_as_reading(tmp_path, tiny_chunks):
    """Bad lines are records read, blank lines are not; fast and slow chunks."""
    (tmp_path / "a.jsonl").write_text('{"a": 1, "o": {"x": "s"}}\n\n{"a": 2.5}\n{"a": NaN}\n')
    (tmp_path / "b.jsonl.gz").write_bytes(gzip.compress(b'{"l": [true]}\n[1]\n{"a": 3}\n'))
    paths = sorted(str(p) for p in tmp_path.iterdir())
    records, schema = ReadJsonl.profile(paths, {})
    assert records == 6
    assert schema.to_dict() == {"a": "float", "o.x": "bytes", "l": "int"}
    with BeamTestPipeline() as p:
        out = p | ReadJsonl(str(tmp_path / "*"))
        assert_that(out.schema, equal_to([schema]), label="Schema")
        read = out.counts | beam.Map(lambda count: count[1]) | beam.CombineGlobally(sum)
        assert_that(read, equal_to([records]), label="Records")
        files = out.records | beam.Map(lambda b: b.schema.metadata[FILE_METADATA].decode())
        assert_that(files | beam.Distinct(), equal_to(paths), label="Files")


# --- configuration errors --------------------------------------------------------


def _run_read(pattern: str, **kwargs) -> None:
    with BeamTestPipeline() as p:
        _ = p | ReadJsonl(pattern, **kwargs)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"a.jsonl": '{"v": 1}\n{"v": 2}\n', "b.jsonl": '{"w": 0}\n{"v": "x"}\n'},
            r"field 'v' is a number at {a}:1 but a string at {b}:2",
        ),
        (
            {"a.jsonl": '{"o": {"x": 1}}\n\n{"o": 3}\n'},
            r"field 'o' is an object at {a}:1 but a number at {a}:3",
        ),
        (
            {"a.jsonl": '{"t": "a"}\n{"t": [false]}\n'},
            r"field 't' is a string at {a}:1 but a boolean at {a}:2",
        ),
        (
            {"a.jsonl": '{"n": {"a": [1]}}\n{"n": {"a": {"b": 1}}}\n'},
            r"field 'n.a' is an array at {a}:1 but an object at {a}:2",
        ),
        (
            {"a.jsonl": '{"id": 1}\n{"l": [{"x": 1}]}\n'},
            r"field 'l' holds an array of objects at {a}:2; a tf.Example feature holds one",
        ),
    ],
)
def test_kinds_that_do_not_widen_are_a_config_error(tmp_path, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    paths = {name[0]: re.escape(str(tmp_path / name)) for name in files}
    with pytest.raises(ConfigError, match=message.format(**paths)):
        _run_read(str(tmp_path / "*.jsonl"))


def test_kinds_located_across_fast_chunks(tmp_path, tiny_chunks):
    """Chunks read by pyarrow's own inference still locate each kind's first line."""
    path = tmp_path / "a.jsonl"
    path.write_text('{"v": 1}\n\n{"v": 2.5}\n{"w": 1}\n{"v": "s"}\n{"v": "t"}\n')
    message = rf"field 'v' is a number at {re.escape(str(path))}:1 but a string at .*:5;"
    with pytest.raises(ConfigError, match=message):
        _run_read(str(path))


def test_no_match_names_the_pattern(tmp_path):
    with pytest.raises(ConfigError, match=r"no file matches '.*nothing\*\.jsonl'"):
        _ = beam.Pipeline() | ReadJsonl(str(tmp_path / "nothing*.jsonl"))


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("",), {}, r"file_pattern must be a non-empty string; got ''"),
        ((None,), {}, r"file_pattern must be a non-empty string; got None"),
        (("x",), {"schema": {"a": "int"}}, r"schema must be .* got \{'a': 'int'\}"),
        (("x",), {"schema": Schema(())}, r"at least one column.* got Schema\(columns=\(\),"),
        (
            ("x",),
            {"schema": Schema.from_kinds([("a", Kind.INT), ("a.b", Kind.INT)])},
            r"feature 'a\.b' cannot be read from JSON",
        ),
        (
            ("x",),
            {"schema": Schema.from_kinds([("a..b", Kind.INT)])},
            r"feature 'a\.\.b' cannot be read from JSON",
        ),
    ],
)
def test_bad_arguments(args, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ReadJsonl(*args, **kwargs)


def test_display_data():
    assert ReadJsonl("d/*.jsonl").display_data() == {
        "file_pattern": "d/*.jsonl",
        "schema": "inferred",
    }
