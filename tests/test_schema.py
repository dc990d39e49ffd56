"""Given schemas (text proto or JSON) and the schema.pbtxt written with the output."""

from __future__ import annotations

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from beam_ingest.errors import ConfigError
from beam_ingest.schema import Kind, Schema, load_schema, merge_schemas

PBTXT = """
feature { name: "a" type: INT }
feature { name: "b" type: FLOAT presence { min_fraction: 1.0 } }
feature { name: "c" type: BYTES }
"""


def test_text_proto_as_schemagen_writes_it(tmp_path):
    path = tmp_path / "schema.pbtxt"
    path.write_text(PBTXT)
    assert load_schema(str(path)) == Schema.from_kinds(
        [("a", Kind.INT), ("b", Kind.FLOAT), ("c", Kind.BYTES)]
    )


def test_json(tmp_path):
    path = tmp_path / "s.json"
    path.write_text('{"a": "int", "b": "float", "c": "bytes", "d": "string"}')
    assert load_schema(str(path)).to_dict() == {
        "a": "int",
        "b": "float",
        "c": "bytes",
        "d": "bytes",
    }


def test_written_schema_round_trips_and_tfx_bsl_decodes_with_it():
    from tfx_bsl.coders.example_coder import ExamplesToRecordBatchDecoder

    schema = Schema.from_kinds(
        [("a", Kind.INT), ("b", Kind.FLOAT), ("c", Kind.BYTES), ("d", Kind.UNKNOWN)]
    )
    proto = text_format.Parse(schema.to_pbtxt(), schema_pb2.Schema())
    # "d" has no value anywhere: a typeless feature would make tfx_bsl refuse
    # the whole schema, so it is left out.
    assert [(f.name, f.type) for f in proto.feature] == [
        ("a", schema_pb2.INT),
        ("b", schema_pb2.FLOAT),
        ("c", schema_pb2.BYTES),
    ]
    ExamplesToRecordBatchDecoder(proto.SerializeToString())


def test_merge_widens():
    a = Schema.from_kinds([("x", Kind.INT), ("y", Kind.UNKNOWN)])
    b = Schema.from_kinds([("x", Kind.FLOAT), ("y", Kind.BYTES)])
    assert merge_schemas([a, b]).to_dict() == {"x": "float", "y": "bytes"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": "decimal"}', r"column 'a' .* has type 'decimal'; valid types"),
        ("{}", "must be a non-empty object"),
        ("{not json", "is not valid JSON"),
        ("feature { name: 'a' type: STRUCT }", "has type STRUCT; valid types: INT, FLOAT, BYTES"),
        ("feature { nme: 'a' }", "neither JSON nor a tensorflow_metadata Schema"),
        ("", "has no features"),
    ],
)
def test_bad_schema_files(tmp_path, text, message):
    path = tmp_path / "schema"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_schema(str(path))


def test_missing_schema_file():
    with pytest.raises(ConfigError, match=r"--schema: cannot read '/no/such/file'"):
        load_schema("/no/such/file")
