"""ReadCsv: dialects, compression, quoting, header rules, schemas, bad rows."""

from __future__ import annotations

import bz2
import gzip
import json

import apache_beam as beam
import pyarrow as pa
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from beam_ingest import IngestConfig
from beam_ingest.connectors.csv import CsvDialect, ReadCsv
from beam_ingest.errors import ConfigError
from beam_ingest.schema import Kind, Schema
from tests.helpers import bad_records, decode, run_ingest, split_records

HEADER = "id,name,score,empty\n"


def _rows(batch: pa.RecordBatch) -> list[tuple]:
    return [tuple(r.values()) for r in batch.to_pylist()]


def check_read(pattern: str, *, rows: list, bad: list = (), schema: Schema | None = None, **kw):
    """Runs ReadCsv alone and asserts its rows, bad records and schema."""
    with BeamTestPipeline() as p:
        out = p | ReadCsv(pattern, schema=schema if kw.pop("given", False) else None, **kw)
        assert_that(out.records | beam.FlatMap(_rows), equal_to(rows), label="Rows")
        assert_that(out.bad_records, equal_to(list(bad)), label="BadRecords")
        if schema is not None:
            assert_that(out.schema, equal_to([schema]), label="Schema")


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory):
    """Files sharing one header: BOM, CRLF, blank lines, quoted delimiters and
    newlines, gzip, bzip2, and a header-only file."""
    folder = tmp_path_factory.mktemp("mixed")
    (folder / "a.csv").write_bytes(
        b"\xef\xbb\xbf" + HEADER.encode() + b'1,"x, y",0.5,\r\n\n2,"multi\nline",0,\r\n\r\n'
    )
    (folder / "b.csv.gz").write_bytes(gzip.compress((HEADER + '3,"say ""hi""",2,\n').encode()))
    (folder / "c.csv.bz2").write_bytes(bz2.compress((HEADER + "4,,-1e3,\n").encode()))
    (folder / "d.csv").write_text(HEADER)
    return folder


def test_rows_and_inferred_schema_from_every_file(mixed_folder):
    check_read(
        str(mixed_folder / "*"),
        rows=[
            (1, b"x, y", 0.5, None),
            (2, b"multi\nline", 0.0, None),
            (3, b'say "hi"', 2.0, None),
            (4, None, -1000.0, None),
        ],
        schema=Schema.from_kinds(
            [("id", Kind.INT), ("name", Kind.BYTES), ("score", Kind.FLOAT), ("empty", Kind.UNKNOWN)]
        ),
    )


def test_dialect(tmp_path):
    (tmp_path / "d.csv").write_text("a;b\n1;'x;y'\n2;'it''s'\n3;a\\;b\n")
    check_read(
        str(tmp_path / "d.csv"),
        rows=[(1, b"x;y"), (2, b"it's"), (3, b"a;b")],
        dialect=CsvDialect(delimiter=";", quote_char="'", escape_char="\\"),
    )


def test_latin1_encoding(tmp_path):
    (tmp_path / "l.csv").write_bytes("name\ncafé\n".encode("latin-1"))
    check_read(
        str(tmp_path / "l.csv"), rows=[("café".encode(),)], dialect=CsvDialect(encoding="latin-1")
    )


def test_given_schema_replaces_inference(tmp_path):
    (tmp_path / "s.csv").write_text("a,b\n1,2\n")
    schema = Schema.from_kinds([("a", Kind.FLOAT), ("b", Kind.BYTES)])
    check_read(str(tmp_path / "s.csv"), rows=[(1.0, b"2")], schema=schema, given=True)


# --- configuration errors, raised when the pipeline is built ---------------


def _build(pattern: str, **kwargs) -> None:
    p = beam.Pipeline()
    _ = p | ReadCsv(pattern, **kwargs)


def test_no_match_names_the_pattern(tmp_path):
    with pytest.raises(ConfigError, match=r"no file matches '.*nothing\*\.csv'"):
        _build(str(tmp_path / "nothing*.csv"))


def test_different_headers_name_both_files(tmp_path):
    (tmp_path / "1.csv").write_text("a,b\n1,2\n")
    (tmp_path / "2.csv").write_text("a,c\n1,2\n")
    with pytest.raises(ConfigError, match=r"share a header: '.*1\.csv' has .* '.*2\.csv' has"):
        _build(str(tmp_path / "*.csv"))


def test_empty_file_needs_a_header(tmp_path):
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(ConfigError, match="is empty; a CSV file needs a header row"):
        _build(str(tmp_path / "e.csv"))


def test_duplicate_header_names(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,a\n1,2,3\n")
    with pytest.raises(ConfigError, match=r"repeats \['a'\]"):
        _build(str(tmp_path / "d.csv"))


def test_schema_must_match_header(tmp_path):
    (tmp_path / "s.csv").write_text("a,b\n1,2\n")
    schema = Schema.from_kinds([("a", Kind.INT), ("c", Kind.INT)])
    with pytest.raises(
        ConfigError, match=r"not in the schema: \['b'\], not in the header: \['c'\]"
    ):
        _build(str(tmp_path / "s.csv"), schema=schema)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"delimiter": ",,"}, "^delimiter: must be one character"),
        ({"quote_char": "\n"}, "^quote_char: must be one character"),
        ({"delimiter": '"'}, "is also the quote or escape char"),
        ({"encoding": "nope"}, "^encoding: unknown encoding 'nope'"),
    ],
)
def test_bad_dialect(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        CsvDialect(**kwargs)


# --- the Source contract: options and profiles ------------------------------

CSV_OPTIONS = {"delimiter": ",", "quote_char": '"', "escape_char": None, "encoding": "utf-8"}


def test_from_options_builds_the_dialect():
    options = {"delimiter": ";", "quote_char": None, "escape_char": "\\", "encoding": "latin-1"}
    schema = Schema.from_kinds([("a", Kind.INT)])
    source = ReadCsv.from_options("in/*.csv", options, schema)
    assert source.dialect == CsvDialect(
        delimiter=";", quote_char=None, escape_char="\\", encoding="latin-1"
    )
    assert (source.file_pattern, source.schema) == ("in/*.csv", schema)
    with pytest.raises(ConfigError, match=r"^delimiter: must be one character"):
        ReadCsv.from_options("in/*.csv", {**CSV_OPTIONS, "delimiter": ",,"}, None)


def test_profile_counts_and_infers_as_reading(mixed_folder, tmp_path):
    """Bad rows are records read; kinds widen over every file."""
    for path in mixed_folder.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "e.csv").write_text(HEADER + "5\n6,b,x,\n7,c,1,2,3\n")
    paths = sorted(str(p) for p in tmp_path.iterdir())
    records, schema = ReadCsv.profile(paths, CSV_OPTIONS)
    assert records == 7
    with BeamTestPipeline() as p:
        out = p | ReadCsv(str(tmp_path / "*"))
        assert_that(out.schema, equal_to([schema]), label="Schema")
        read = out.counts | beam.Map(lambda count: count[1]) | beam.CombineGlobally(sum)
        assert_that(read, equal_to([records]), label="Records")
    assert schema.to_dict() == {"id": "int", "name": "bytes", "score": "bytes", "empty": "unknown"}
    source = ReadCsv(str(tmp_path / "*"))
    _ = beam.Pipeline() | source
    assert source.files == source.input_files()  # the deprecated alias
    assert [f.path for f in source.input_files()] == paths


# --- bad rows: one ingest over a file holding every kind --------------------


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    (folder / "bad.csv").write_bytes(
        b"a,b\n"
        b"1,ok\n"  # line 2: good
        b"2\n"  # line 3: too few fields
        b"3,x,y\n"  # line 4: too many fields
        b"x,good\n"  # line 5: not an int under the schema
        b'4,"two\nlines"\n'  # lines 6-7: good
        b"5,\xff\xfe\n"  # line 8: invalid UTF-8
        b'6,"open\n7,quote\n'  # lines 9-10: unbalanced quote to the end
    )
    schema = folder / "schema.json"
    schema.write_text(json.dumps({"a": "int", "b": "bytes"}))
    from beam_ingest.schema import load_schema

    out = folder / "out"
    report = run_ingest(
        IngestConfig(
            source=ReadCsv(str(folder / "bad.csv"), schema=load_schema(str(schema))),
            output_dir=str(out),
            max_bad_records=10,
            splits=(beam_split("all", 1),),
        )
    )
    return report, out


def beam_split(name, buckets):
    from beam_ingest.splits import SplitSpec

    return SplitSpec(name=name, buckets=buckets)


def test_bad_rows_are_dead_lettered_with_line_reason_and_raw_text(bad_run):
    _, out = bad_run
    got = [(r["record"], r["reason"], r["raw"]) for r in bad_records(str(out))]
    assert sorted(got) == [
        (3, "wrong field count: expected 2, got 1", "2"),
        (4, "wrong field count: expected 2, got 3", "3,x,y"),
        (5, "column 'a': 'x' is not an int64", "x,good"),
        (8, "column 'b': invalid UTF-8 at byte 0 of the cell", "5,\udcff\udcfe"),
        (
            9,
            "unbalanced quote: the field opened on line 9 runs to the end of the file",
            '6,"open\n7,quote',
        ),
    ]


def test_raw_bytes_are_recoverable(bad_run):
    _, out = bad_run
    raw = next(r["raw"] for r in bad_records(str(out)) if r["record"] == 8)
    assert raw.encode("utf-8", "surrogateescape") == b"5,\xff\xfe"


def test_good_rows_still_written(bad_run):
    _, out = bad_run
    rows = sorted(decode(r)["a"][1][0] for r in split_records(str(out), "all"))
    assert rows == [1, 4]


def test_every_record_accounted_for(bad_run):
    report, _ = bad_run
    assert report["records_read"] == 7
    assert report["examples"] == 2
    assert report["bad_records"]["count"] == 5
    assert report["records_read"] == report["examples"] + report["bad_records"]["count"]
