"""Proto pass-through (issue 21): TFRecords of any message, written unchanged
(payload proto, TFX FORMAT_PROTO), split by TFX's rule on their bytes or on a
field path given their descriptor.

The records are tensorflow_metadata `Schema` messages, not tf.Examples. The
expected splits come from TFX's own partition code (`_GeneratePartitionKey`
and `_PartitionFn` of base_example_gen_executor), on the bytes, or on a
tf.Example carrying the field's values as its partition feature.
"""

from __future__ import annotations

import glob
import os

import apache_beam as beam
import pytest
import tensorflow as tf
from google.protobuf import descriptor_pb2
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.components.example_gen import base_example_gen_executor as tfx_base
from tfx.proto import example_gen_pb2

from beam_ingest.cli import main
from beam_ingest.config import build_config
from beam_ingest.connectors.tfrecord import ReadTFRecord
from beam_ingest.errors import ConfigError
from beam_ingest.ingest import IngestConfig
from beam_ingest.inspect import inspect_output
from beam_ingest.proto_records import MessageType
from beam_ingest.splits import SplitSpec
from tests.helpers import bad_records, read_report, run_ingest, split_records

SCHEMA = "tensorflow.metadata.v0.Schema"
GARBAGE = b"\xff\xff not a proto"
SPLITS = (("train", 2), ("eval", 1))


def _descriptor_set() -> bytes:
    """schema.proto and its imports, as `protoc --include_imports` writes them."""
    found = descriptor_pb2.FileDescriptorSet()
    seen: set[str] = set()

    def add(fd) -> None:
        if fd.name not in seen:
            for dependency in fd.dependencies:
                add(dependency)
            seen.add(fd.name)
            fd.CopyToProto(found.file.add())

    add(schema_pb2.DESCRIPTOR)
    return found.SerializeToString()


def _records(n: int = 120) -> list[bytes]:
    out = []
    for i in range(n):
        schema = schema_pb2.Schema(default_environment=[f"env{i % 9}"])
        for j in range(i % 3 + 1):
            feature = schema.feature.add(name=f"f{i}_{j}", type=schema_pb2.INT)
            feature.presence.min_count = j
        out.append(schema.SerializeToString())
    return out


@pytest.fixture(scope="module")
def protos(tmp_path_factory) -> dict:
    """The input (Schema records and one that is not a proto), its descriptor,
    and the outputs of one run per behaviour, shared by the tests."""
    root = tmp_path_factory.mktemp("protos")
    records = _records()
    data = root / "schemas.tfrecord"
    with tf.io.TFRecordWriter(str(data)) as writer:
        for record in [*records[:60], GARBAGE, *records[60:]]:
            writer.write(record)
    descriptor = root / "schema.desc"
    descriptor.write_bytes(_descriptor_set())
    base = ["run", "--format", "tfrecord", "--payload", "proto", "--input", str(data),
            "--split", "train=2", "--split", "eval=1"]  # fmt: skip
    typed = ["--proto-descriptor", str(descriptor), "--proto-message", SCHEMA]
    outputs = {
        "bytes": [],  # no descriptor: every record, unchecked, by its bytes
        "field": [*typed, "--partition-feature", "default_environment", "--max-bad-records", "1"],
        "nested": [*typed, "--partition-feature", "feature.name", "--max-bad-records", "1"],
    }
    for name, extra in outputs.items():
        assert main([*base, *extra, "--output", str(root / name)]) == 0
    return {"root": root, "records": records, "input": str(data), "descriptor": str(descriptor)}


def _tfx_split(record, feature: str | None) -> str:
    """The split TFX's ImportExampleGen puts `record` in."""
    config = example_gen_pb2.SplitConfig(
        splits=[example_gen_pb2.SplitConfig.Split(name=n, hash_buckets=b) for n, b in SPLITS],
        partition_feature_name=feature,
    )
    buckets = [sum(b for _, b in SPLITS[: i + 1]) for i in range(len(SPLITS))]
    return SPLITS[tfx_base._PartitionFn(record, len(SPLITS), buckets, config)][0]


def _as_example(name: str, values: list[str]) -> tf.train.Example:
    example = tf.train.Example()
    example.features.feature[name].bytes_list.value.extend(v.encode() for v in values)
    return example


def test_records_are_written_unchanged_and_split_by_tfx_rule_on_their_bytes(protos):
    out = str(protos["root"] / "bytes")
    written = {s: split_records(out, s) for s, _ in SPLITS}
    everything = [*protos["records"], GARBAGE]  # without a descriptor nothing is parsed
    assert sorted(written["train"] + written["eval"]) == sorted(everything)
    for split, records in written.items():
        assert {_tfx_split(r, None) for r in records} == {split}
    report = read_report(out)
    assert report["payload_format"] == "FORMAT_PROTO"
    assert report["schema"] == {}
    assert report["records_read"] == report["examples"] == len(everything)


@pytest.mark.parametrize(
    "output,path,values",
    [
        ("field", "default_environment", lambda s: list(s.default_environment)),
        ("nested", "feature.name", lambda s: [f.name for f in s.feature]),
    ],
)
def test_a_field_path_splits_as_a_tf_example_of_its_values_would(protos, output, path, values):
    out = str(protos["root"] / output)
    for split, _ in SPLITS:
        for record in split_records(out, split):
            schema = schema_pb2.Schema.FromString(record)
            assert _tfx_split(_as_example(path, values(schema)), path) == split
    assert sorted(split_records(out, "train") + split_records(out, "eval")) == sorted(
        protos["records"]
    )


def test_a_record_that_is_not_the_message_is_a_dead_letter_naming_file_and_record(protos):
    (bad,) = bad_records(str(protos["root"] / "field"))
    assert bad["file"] == protos["input"] and bad["record"] == 60
    assert f"is not a {SCHEMA}" in bad["reason"]
    report = read_report(str(protos["root"] / "field"))
    assert report["proto"] == {"all": {"message": SCHEMA, "descriptor": protos["descriptor"]}}


def test_inspect_prints_records_as_text_format(protos):
    text = inspect_output(str(protos["root"] / "nested"), examples=2)
    assert 'default_environment: "env' in text and 'feature { name: "f' in text


def test_integer_and_enum_leaves_give_int64_keys(protos):
    message = MessageType(protos["descriptor"], SCHEMA)
    key = message.key_function("feature.type")
    record = _records(3)[2]  # three features of type INT
    expected = tf.train.Feature(int64_list=tf.train.Int64List(value=[schema_pb2.INT] * 3))
    assert key(record) == expected.SerializeToString(deterministic=True)
    presence = message.key_function("feature.presence.min_count")
    got = tf.train.Feature.FromString(presence(record))
    assert list(got.int64_list.value) == [0, 1, 2]


def test_python_api_array_record_output_holds_the_records_unchanged(protos, tmp_path):
    from array_record.python.array_record_module import ArrayRecordReader

    from beam_ingest.transforms.array_record_sink import ArrayRecordSink

    config = IngestConfig(
        source=ReadTFRecord(protos["input"], payload="proto"),
        output_dir=str(tmp_path / "out"),
        splits=[SplitSpec(name=n, buckets=b) for n, b in SPLITS],
        sink=ArrayRecordSink(max_records_per_shard=50),
    )
    run_ingest(config)
    found = []
    for path in glob.glob(os.path.join(config.output_dir, "Split-*", "data_array_record-*")):
        reader = ArrayRecordReader(path)
        found += reader.read_all()
        reader.close()
    assert sorted(found) == sorted([*protos["records"], GARBAGE])


@pytest.mark.parametrize(
    "extra,message",
    [
        ({"proto_message": SCHEMA + "s"}, "did you mean 'tensorflow.metadata.v0.Schema'"),
        ({"proto_message": None}, "defines 57 messages; name the records' one"),
        ({"partition_feature": "feature.nam"}, "has no field 'nam'; did you mean 'name'"),
        ({"partition_feature": "float_domain.min"}, "is a float field"),
        ({"partition_feature": "feature"}, "is a message field"),
        ({"partition_feature": "tensor_representation_group.x"}, "is a map"),
        ({"partition_feature": "default_environment.x"}, "is not a message field"),
        ({"proto_descriptor": None, "proto_message": None, "partition_feature": "x"},
         "split on a field only with proto_descriptor"),
        ({"proto_descriptor": None}, "proto_message: needs proto_descriptor"),
        ({"payload": "example"}, "only applies to payload 'proto'"),
        ({"output_format": "parquet"}, "not protos"),
        ({"transform_fn": "os.path:basename"}, "transform_fn: not supported for proto"),
        ({"proto_descriptor": "INPUT"}, "is not a FileDescriptorSet"),
    ],
)  # fmt: skip
def test_bad_options_are_config_errors_naming_the_option(protos, tmp_path, extra, message):
    values = {
        "format": "tfrecord",
        "input": protos["input"],
        "output": str(tmp_path / "out"),
        "payload": "proto",
        "proto_descriptor": protos["descriptor"],
        "proto_message": SCHEMA,
        **extra,
    }
    if values["proto_descriptor"] == "INPUT":
        values["proto_descriptor"] = protos["input"]
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        config = build_config(values)
        with beam.Pipeline() as p:
            from beam_ingest import Ingest

            _ = p | Ingest(config)


def test_the_tfx_executor_splits_protos_on_a_field_path_and_records_format_proto(protos, tmp_path):
    """ImportExampleGen's FORMAT_PROTO, with the output config's partition
    feature naming a field path (TFX itself refuses a partition feature there)."""
    from tfx.components.util import examples_utils
    from tfx.types import standard_artifacts
    from tfx.types import standard_component_specs as specs
    from tfx.utils import proto_utils

    from beam_ingest.example_gen import Executor, custom_config

    output_config = example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[example_gen_pb2.SplitConfig.Split(name=n, hash_buckets=b) for n, b in SPLITS],
            partition_feature_name="default_environment",
        )
    )
    properties = {
        specs.INPUT_BASE_KEY: str(protos["root"]),
        specs.INPUT_CONFIG_KEY: '{"splits": [{"name": "single_split", "pattern": "*.tfrecord"}]}',
        specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(output_config),
        specs.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_PROTO,
        "custom_config": proto_utils.proto_to_json(
            custom_config(
                proto_descriptor=protos["descriptor"], proto_message=SCHEMA, max_bad_records=1
            )
        ),
    }
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    os.makedirs(examples.uri)
    Executor().Do({}, {"examples": [examples]}, properties)
    assert examples_utils.get_payload_format_string(examples) == "FORMAT_PROTO"
    field = str(protos["root"] / "field")  # the CLI's run of the same options
    for split, _ in SPLITS:
        assert split_records(examples.uri, split) == split_records(field, split)

    properties[specs.INPUT_CONFIG_KEY] = '{"splits": [{"name": "s", "pattern": "*.desc"}]}'
    properties["custom_config"] = proto_utils.proto_to_json(custom_config(format="csv"))
    with pytest.raises(ConfigError, match="FORMAT_PROTO needs TFRecord input of serialized"):
        Executor().Do({}, {"examples": [examples]}, properties)
