"""ReadTFRecord: examples pass through unchanged, TFX's split rule, bad records, corrupt files.

Files are written by TensorFlow's own `TFRecordWriter` (gzip and not), or framed
by hand when they must be broken. "Unchanged" means: each output is exactly
TensorFlow's `Example.FromString(raw).SerializeToString(deterministic=True)`.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import random
import struct
import subprocess
import sys
from pathlib import Path

import apache_beam as beam
import pytest
import tensorflow as tf
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from google.protobuf import descriptor_pb2, descriptor_pool
from tfx.components.example_gen import base_example_gen_executor as tfx_example_gen
from tfx.proto import example_gen_pb2

from beam_ingest import ConfigError, DataError, IngestConfig, Kind, Schema, SplitSpec
from beam_ingest import example_proto as _tfrecord_example
from beam_ingest.bad_records import BadRecord
from beam_ingest.connectors.tfrecord import ReadTFRecord
from beam_ingest.framing import frame_records
from beam_ingest.splits import SplitAssigner
from beam_ingest.transforms.split import HashSplit
from tests.helpers import bad_records, run_ingest, split_records

TFX_TFRECORDS = Path(tfx_example_gen.__file__).parents[1] / "testdata" / "external" / "tfrecord"
SPLITS = (
    SplitSpec(name="train", buckets=3),
    SplitSpec(name="eval", buckets=1),
    SplitSpec(name="test", buckets=2),
)


def ints(*values: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def floats(*values: float) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def byte_strings(*values: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def example(features: dict[str, tf.train.Feature]) -> bytes:
    """Serialized as TensorFlow does by default: not deterministically."""
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def deterministic(raw: bytes) -> bytes:
    """What the output must be: TensorFlow's own deterministic serialization."""
    return tf.train.Example.FromString(raw).SerializeToString(deterministic=True)


def write_tfrecord(path: Path, records: list[bytes], *, gzipped: bool) -> None:
    with tf.io.TFRecordWriter(str(path), options="GZIP" if gzipped else None) as writer:
        for record in records:
            writer.write(record)


def _field(tag: int, body: bytes) -> bytes:
    assert len(body) < 128
    return bytes([tag, len(body)]) + body


def _unpacked_and_duplicated() -> bytes:
    """Valid wire data no serializer writes: unpacked numbers, a feature name twice."""
    entries = [
        (b"x", _field(0x1A, b"\x08\x01\x08\x02")),  # int64_list, unpacked [1, 2]
        (b"y", _field(0x12, b"\x0d" + struct.pack("<f", 2.5))),  # float_list, unpacked
        (b"x", _field(0x1A, b"\x08\x03")),  # x again: the parser keeps the last
    ]
    features = b"".join(_field(0x0A, _field(0x0A, k) + _field(0x12, f)) for k, f in entries)
    return _field(0x0A, features)


def _tricky_examples() -> list[bytes]:
    wide = {name: ints(len(name)) for name in ["w", "ww", "wx", "", "W", "é", "wzz"]}
    wide.update({f"f{i}": floats(i / 3) for i in range(30)})
    return [
        example(
            {
                "id": ints(1),
                "i": ints(1, -2, 2**63 - 1, -(2**63)),
                "f": floats(1.5, math.nan, -0.0, math.inf),
                "b": byte_strings(b"", b"\xff\x00", "é".encode()),
            }
        ),
        example(
            {
                "id": ints(2),
                "i": ints(),
                "f": floats(),
                "b": byte_strings(),
                "e": tf.train.Feature(),
            }
        ),
        example({"id": ints(3)}),  # the others absent
        tf.train.Example().SerializeToString(),  # no features at all: b""
        b"\n\x00",  # an empty features map
        example(wide),  # many features, in map (hash) order
        _unpacked_and_duplicated(),
    ]


TRICKY = _tricky_examples()
TRICKY_SCHEMA = Schema.from_kinds(
    sorted(
        {
            "id": Kind.INT,
            "i": Kind.INT,
            "f": Kind.FLOAT,
            "b": Kind.BYTES,
            "e": Kind.UNKNOWN,  # only ever an empty Feature()
            "x": Kind.INT,
            "y": Kind.FLOAT,
            **{name: Kind.INT for name in ["w", "ww", "wx", "", "W", "é", "wzz"]},
            **{f"f{i}": Kind.FLOAT for i in range(30)},
        }.items()
    )
)


def _examples(out: dict) -> beam.PCollection:
    return out.records | "Examples" >> beam.FlatMap(lambda batch: batch.examples)


# --- examples pass through unchanged ------------------------------------------


@pytest.mark.parametrize(
    ("files", "compression"),
    [
        ({"a.tfrecord": False, "b.tfrecord.gz": True}, "auto"),  # gzip by extension
        ({"c.tfrecord": True}, "gzip"),
        ({"d.tfrecord.gz": False}, "none"),
    ],
)
def test_examples_pass_through_unchanged(tmp_path, files, compression):
    for name, gzipped in files.items():
        write_tfrecord(tmp_path / name, TRICKY, gzipped=gzipped)
    expected = [deterministic(raw) for raw in TRICKY] * len(files)
    assert b"" in expected and b"\n\x00" in expected
    with BeamTestPipeline() as p:
        out = p | ReadTFRecord(str(tmp_path / "*"), compression=compression)
        assert_that(_examples(out), equal_to(expected), label="Examples")
        assert_that(
            out.records | beam.Map(lambda batch: batch.keys),
            equal_to([None] * len(files)),
            label="NoKeys",
        )
        assert_that(out.bad_records, equal_to([]), label="BadRecords")
        assert_that(
            out.counts,
            equal_to([(str(tmp_path / name), len(TRICKY)) for name in files]),
            label="Counts",
        )
        assert_that(out.schema, equal_to([TRICKY_SCHEMA]), label="Schema")


def test_examples_already_deterministic_are_written_byte_for_byte(tmp_path):
    records = [deterministic(raw) for raw in TRICKY]
    write_tfrecord(tmp_path / "det.tfrecord", records, gzipped=False)
    with BeamTestPipeline() as p:
        assert_that(_examples(p | ReadTFRecord(str(tmp_path / "det.tfrecord"))), equal_to(records))


def test_message_class_is_tensorflows_wire_schema_in_a_private_pool():
    ours = {m.name: m for m in _tfrecord_example.example_descriptor().message_type}
    theirs = {}
    for module in (tf.train.Feature, tf.train.Example):
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.file.CopyToProto(proto)
        for message_type in proto.message_type:
            for field in [
                *message_type.field,
                *(f for nested in message_type.nested_type for f in nested.field),
            ]:
                if field.HasField("type_name"):
                    field.type_name = field.type_name.replace(
                        ".tensorflow.", f".{_tfrecord_example.PACKAGE}.", 1
                    )
            theirs[message_type.name] = message_type
    assert set(ours) == {"BytesList", "FloatList", "Int64List", "Feature", "Features", "Example"}
    for name, message_type in ours.items():
        assert message_type == theirs[name], name
    cls = _tfrecord_example.example_class()
    assert (
        cls.DESCRIPTOR.full_name == f"{_tfrecord_example.PACKAGE}.Example" != "tensorflow.Example"
    )
    assert cls.DESCRIPTOR.file.pool is not descriptor_pool.Default()
    raw = TRICKY[0]
    assert cls.FromString(raw).SerializeToString(deterministic=True) == deterministic(raw)


def test_reading_does_not_import_tensorflow(tmp_path):
    write_tfrecord(tmp_path / "t.tfrecord.gz", TRICKY, gzipped=True)
    code = (
        "import sys\n"
        "from beam_ingest.connectors.tfrecord import _ReadTFRecordFileFn\n"
        "fn = _ReadTFRecordFileFn('auto'); fn.setup()\n"
        f"out = list(fn.process({str(tmp_path / 't.tfrecord.gz')!r}))\n"
        f"assert sum(len(o.examples) for o in out if hasattr(o, 'examples')) == {len(TRICKY)}\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- re-splitting: TFX's rule on the deterministic bytes -----------------------


def _random_examples(count: int, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    records = []
    for i in range(count):
        features = {"id": ints(i)}
        if rng.random() < 0.7:
            features["score"] = floats(rng.random())
        if rng.random() < 0.5:
            features["tags"] = byte_strings(*(rng.randbytes(3) for _ in range(rng.randrange(3))))
        if rng.random() < 0.2:
            features["note"] = tf.train.Feature()
        records.append(example(features))
    return records


def _tfx_split(raw: bytes, partition_feature: str | None = None) -> str:
    """The split TFX's ExampleGen puts an example in (its own `_PartitionFn`)."""
    config = example_gen_pb2.SplitConfig(
        splits=[
            example_gen_pb2.SplitConfig.Split(name=s.name, hash_buckets=s.buckets) for s in SPLITS
        ]
    )
    if partition_feature:
        config.partition_feature_name = partition_feature
    buckets = [sum(s.buckets for s in SPLITS[: i + 1]) for i in range(len(SPLITS))]
    index = tfx_example_gen._PartitionFn(
        tf.train.Example.FromString(raw), len(SPLITS), buckets, config
    )
    return SPLITS[index].name


def test_resplit_as_tfx(tmp_path):
    records = _random_examples(300)
    write_tfrecord(tmp_path / "r.tfrecord.gz", records, gzipped=True)
    assigner = SplitAssigner(SPLITS)
    expected: dict[str, list[bytes]] = {s.name: [] for s in SPLITS}
    for raw in records:
        out = deterministic(raw)
        name = assigner.names[assigner.assign(out)]
        assert name == _tfx_split(raw)
        expected[name].append(out)
    assert all(len(v) > 30 for v in expected.values())
    with BeamTestPipeline() as p:
        split = (p | ReadTFRecord(str(tmp_path / "*"))).records | HashSplit(SPLITS)
        for name, examples in split.items():
            assert_that(
                examples | f"Flatten{name}" >> beam.FlatMap(list),
                equal_to(expected[name]),
                label=f"Split{name}",
            )


# --- TFX's own TFRecord test data ----------------------------------------------


def _digest(examples: list[bytes]) -> tuple[int, int]:
    """An order-free digest of a multiset of examples: (count, sum of sha256 mod 2**256).

    15,000 examples compared one by one through `equal_to` cost seconds; this is one element.
    """
    total = sum(int.from_bytes(hashlib.sha256(e).digest(), "big") for e in examples)
    return len(examples), total % (1 << 256)


def _add_digests(digests) -> tuple[int, int]:
    digests = list(digests)
    return sum(n for n, _ in digests), sum(d for _, d in digests) % (1 << 256)


def test_tfx_testdata_every_record_read():
    paths = sorted(str(p) for p in TFX_TFRECORDS.glob("*"))
    assert len(paths) == 2
    per_file = [
        list(next(iter(tf.data.TFRecordDataset(p, compression_type="GZIP").batch(1 << 20))).numpy())
        for p in paths
    ]
    assert [len(r) for r in per_file] == [9988, 5012]
    expected = _digest([deterministic(raw) for records in per_file for raw in records])
    with BeamTestPipeline() as p:
        out = p | ReadTFRecord(str(TFX_TFRECORDS / "*"))
        assert_that(
            out.records
            | beam.Map(lambda batch: _digest(batch.examples))
            | beam.CombineGlobally(_add_digests),
            equal_to([expected]),
            label="Examples",
        )
        assert_that(out.bad_records, equal_to([]), label="BadRecords")
        assert_that(
            out.counts,
            equal_to([(path, len(r)) for path, r in zip(paths, per_file, strict=True)]),
            label="Counts",
        )
        assert_that(
            out.schema | beam.Map(lambda s: s.kind_of("trip_miles")),
            equal_to([Kind.FLOAT]),
            label="Schema",
        )


# --- bad records and corrupt files ----------------------------------------------

GOOD = [tf.train.Example(features=tf.train.Features(feature={"id": ints(i)})) for i in range(3)]
GOOD = [e.SerializeToString(deterministic=True) for e in GOOD]


def _frame_size(record: bytes) -> int:
    return 16 + len(record)


def _not_examples() -> dict[str, tuple[bytes, str]]:
    """Records that are not tf.Examples, and the reason each gets."""
    sequence = tf.train.SequenceExample(
        context=tf.train.Features(feature={"id": ints(7)}),
        feature_lists=tf.train.FeatureLists(
            feature_list={"seq": tf.train.FeatureList(feature=[ints(1)])}
        ),
    ).SerializeToString()
    context_size = len(
        tf.train.SequenceExample(
            context=tf.train.Features(feature={"id": ints(7)})
        ).SerializeToString()
    )
    bad_name = _field(0x0A, _field(0x0A, _field(0x0A, b"\xff") + b"\x12\x00"))
    float_as_varint = _field(
        0x0A, _field(0x0A, _field(0x0A, b"f") + _field(0x12, b"\x12\x02\x08\x01"))
    )
    big = b"hello" * 14_000
    return {
        "text": (b"hello world", "field 13 (wire type 0) at byte 0 is not a field of Example"),
        "sequence": (
            sequence,
            f"field 2 (wire type 2) at byte {context_size} is not a field of Example "
            "(a tf.SequenceExample's feature_lists?)",
        ),
        "bad_name": (bad_name, "the feature name at byte 4 is not valid UTF-8: b'\\xff'"),
        "float_as_varint": (
            float_as_varint,
            "field 1 of FloatList at byte 11 (in feature 'f') is a varint",
        ),
        "big": (
            big,
            "field 13 (wire type 0) at byte 0 is not a field of Example "
            "(raw: the first 65536 of 70000 bytes)",
        ),
        "wire_type_7": (b"\x0f", "wire type 7 at byte 0: no tf.Example field has it"),
        "cut_short": (b"\x0a\x05\x0a", "the field at byte 0 needs 5 bytes, 1 are left"),
    }


def _bad_folder(folder: Path) -> tuple[list[BadRecord], list[tuple[str, int]], list[bytes]]:
    """Writes every kind of broken file; returns the bad records, counts and examples due."""
    bad, counts, examples = [], [], []
    framed = frame_records(GOOD)
    offsets = [sum(_frame_size(r) for r in GOOD[:i]) for i in range(len(GOOD) + 1)]

    def add(name: str, data: bytes, count: int, good: list[bytes], *problems) -> None:
        path = folder / name
        path.write_bytes(data)
        counts.append((str(path), count))
        examples.extend(good)
        for index, reason, raw in problems:
            raw_text = raw.decode("utf-8", "surrogateescape")
            bad.append(BadRecord(str(path), index, reason, raw_text))

    not_examples = _not_examples()
    records = [GOOD[0], *(raw for raw, _ in not_examples.values()), GOOD[1]]
    starts = [sum(_frame_size(r) for r in records[:i]) for i in range(len(records))]
    add(
        "1_not_examples.tfrecord",
        frame_records(records),
        len(records),
        GOOD[:2],
        *(
            (
                i,
                f"the record at byte {starts[i]} is not a tf.Example: {reason}",
                raw[: 64 << 10],
            )
            for i, (raw, reason) in enumerate(not_examples.values(), start=1)
        ),
    )

    data_crc = bytearray(framed)
    data_crc[offsets[2] - 4] ^= 0x01  # record 1's data checksum
    add(
        "2_data_crc.tfrecord",
        bytes(data_crc),
        2,
        GOOD[:1],
        (
            1,
            f"corrupt data checksum in the record at byte {offsets[1]} ({len(GOOD[1])} bytes); "
            "the rest of the file is not read",
            bytes(data_crc[offsets[1] : offsets[2]]),
        ),
    )

    length_crc = bytearray(framed)
    length_crc[offsets[2] + 8] ^= 0x80  # record 2's length checksum
    add(
        "3_length_crc.tfrecord",
        bytes(length_crc),
        3,
        GOOD[:2],
        (
            2,
            f"corrupt length checksum at byte {offsets[2]}; the rest of the file is not read",
            bytes(length_crc[offsets[2] : offsets[2] + 12]),
        ),
    )

    add(
        "4_truncated.tfrecord",
        framed[:-5],
        3,
        GOOD[:2],
        (
            2,
            f"truncated record at byte {offsets[2]}: it needs {_frame_size(GOOD[2])} bytes, "
            f"the file ends after {_frame_size(GOOD[2]) - 5}; the rest of the file is not read",
            framed[offsets[2] : -5],
        ),
    )

    add(
        "5_truncated_header.tfrecord",
        framed + b"\x01\x02\x03",
        4,
        GOOD,
        (
            3,
            f"truncated record at byte {offsets[3]}: the file ends 3 bytes into its 12-byte "
            "header; the rest of the file is not read",
            b"\x01\x02\x03",
        ),
    )

    add(
        "6_cut.tfrecord.gz",
        gzip.compress(framed)[:-8],  # no gzip trailer: the cut falls between records
        4,
        GOOD,
        (
            3,
            "the gzip stream ends early: the file is truncated, while reading the record at "
            f"byte {offsets[3]}; the rest of the file is not read",
            b"",
        ),
    )

    gzipped = gzip.compress(framed)
    add(
        "7_gzip_by_content.tfrecord",
        gzipped,
        1,
        [],
        (
            0,
            "corrupt length checksum at byte 0 (the file looks gzip-compressed; set "
            "input_compression to gzip); the rest of the file is not read",
            gzipped[:12],
        ),
    )

    bad_trailer = bytearray(gzipped)
    bad_trailer[-8] ^= 0x01  # the gzip CRC-32 of the data
    add(
        "8_gzip_crc.tfrecord.gz",
        bytes(bad_trailer),
        1,
        [],
        (
            0,
            "corrupt gzip data (Error -3 while decompressing data: incorrect data check), "
            "while reading the record at byte 0; the rest of the file is not read",
            b"",
        ),
    )

    add(
        "9_plain_named_gz.tfrecord.gz",
        framed,
        1,
        [],
        (
            0,
            "corrupt gzip data (Error -3 while decompressing data: incorrect header check; is "
            "the file gzip-compressed? see input_compression), while reading the record at "
            "byte 0; the rest of the file is not read",
            b"",
        ),
    )

    write_tfrecord(folder / "99_good.tfrecord.gz", GOOD, gzipped=True)
    counts.append((str(folder / "99_good.tfrecord.gz"), 3))
    examples.extend(GOOD)
    return bad, counts, examples


def test_bad_records_name_file_record_and_offset_and_other_files_are_read(tmp_path):
    bad, counts, examples = _bad_folder(tmp_path)
    assert sum(n for _, n in counts) == len(examples) + len(bad)
    with BeamTestPipeline() as p:
        out = p | ReadTFRecord(str(tmp_path / "*"))
        assert_that(_examples(out), equal_to(examples), label="Examples")
        assert_that(out.bad_records, equal_to(bad), label="BadRecords")
        assert_that(out.counts, equal_to(counts), label="Counts")
        assert_that(out.schema, equal_to([Schema.from_kinds([("id", Kind.INT)])]), label="Schema")


def test_bad_record_raw_gives_the_bytes_back(tmp_path):
    bad, _, _ = _bad_folder(tmp_path)
    raw = next(b.raw for b in bad if b.reason.endswith("not valid UTF-8: b'\\xff'"))
    assert raw.encode("utf-8", "surrogateescape") == _not_examples()["bad_name"][0]


def _mixed(tmp_path: Path, files: dict[str, list[bytes]]) -> None:
    for name, records in files.items():
        write_tfrecord(tmp_path / name, records, gzipped=False)
    with BeamTestPipeline() as p:
        _ = p | ReadTFRecord(str(tmp_path / "*"))


def test_feature_with_two_kinds_in_one_file_is_a_data_error(tmp_path):
    records = [
        example({"x": tf.train.Feature()}),
        example({"x": ints(1)}),
        example({"x": floats(1)}),
    ]
    with pytest.raises(
        DataError,
        match=r"feature 'x' is int64_list in .*m\.tfrecord record 1 but float_list in "
        r".*m\.tfrecord record 2: a feature must have one kind in every example",
    ):
        _mixed(tmp_path, {"m.tfrecord": records})


def test_feature_with_two_kinds_in_two_files_is_a_data_error(tmp_path):
    files = {
        "a.tfrecord": [example({"x": ints(1)})],
        "b.tfrecord": [example({"y": ints(1)}), example({"x": byte_strings(b"1")})],
    }
    with pytest.raises(
        DataError,
        match=r"feature 'x' is int64_list in .*a\.tfrecord record 0 but bytes_list in "
        r".*b\.tfrecord record 1",
    ):
        _mixed(tmp_path, files)


# --- configuration --------------------------------------------------------------


def test_bad_compression_names_argument_and_choices():
    with pytest.raises(
        ConfigError, match=r"input_compression: 'zip' is not one of \['auto', 'gzip', 'none'\]"
    ):
        ReadTFRecord("x", compression="zip")


def test_empty_pattern():
    with pytest.raises(ConfigError, match="ReadTFRecord: file_pattern must be a non-empty string"):
        ReadTFRecord("")


def test_no_match_names_the_pattern_when_built(tmp_path):
    source = ReadTFRecord(str(tmp_path / "none*.tfrecord"))  # no I/O yet
    with pytest.raises(ConfigError, match=r"no file matches '.*none\*\.tfrecord'"):
        _ = beam.Pipeline() | source


def test_display_data():
    assert ReadTFRecord("in/*", compression="gzip").display_data() == {
        "file_pattern": "in/*",
        "compression": "gzip",
    }


def test_from_options():
    source = ReadTFRecord.from_options("in/*", {"input_compression": "gzip"}, None)
    assert (source.file_pattern, source.compression) == ("in/*", "gzip")
    assert source.passes_examples
    with pytest.raises(ConfigError, match=r"^schema: tf\.Examples carry their own feature kinds"):
        ReadTFRecord.from_options("in/*", {"input_compression": "auto"}, TRICKY_SCHEMA)
    with pytest.raises(ConfigError, match=r"^input_compression: 'zip' is not one of"):
        ReadTFRecord.from_options("in/*", {"input_compression": "zip"}, None)


def test_profile_counts_records_and_types_features(tmp_path):
    write_tfrecord(tmp_path / "a.tfrecord.gz", TRICKY[:3], gzipped=True)
    write_tfrecord(tmp_path / "b.tfrecord", TRICKY[3:], gzipped=False)
    paths = [str(tmp_path / "a.tfrecord.gz"), str(tmp_path / "b.tfrecord")]
    records, schema = ReadTFRecord.profile(paths, {"input_compression": "auto"})
    assert records == len(TRICKY)
    assert schema.kind_of("id") is Kind.INT and schema.kind_of("f") is Kind.FLOAT
    with pytest.raises(ConfigError, match=r"^registry push: .*input_compression 'auto'"):
        ReadTFRecord.profile(paths, {"input_compression": "gzip"})
    (tmp_path / "c.tfrecord").write_bytes(b"\x01" * 20)
    with pytest.raises(ConfigError, match="is not a readable TFRecord file"):
        ReadTFRecord.profile([str(tmp_path / "c.tfrecord")], {"input_compression": "auto"})


# --- end to end through Ingest ----------------------------------------------------


@pytest.mark.parametrize("partition_feature", [None, "id"])
def test_ingest_end_to_end_as_tfx(tmp_path, partition_feature):
    records = _random_examples(200, seed=1)
    (tmp_path / "in").mkdir()
    write_tfrecord(tmp_path / "in" / "a.tfrecord.gz", records[:120], gzipped=True)
    write_tfrecord(tmp_path / "in" / "b.tfrecord", [*records[120:], b"hello"], gzipped=False)
    out = tmp_path / "out"
    report = run_ingest(
        IngestConfig(
            source=ReadTFRecord(str(tmp_path / "in" / "*")),
            output_dir=str(out),
            splits=SPLITS,
            partition_feature=partition_feature,
            max_bad_records=1,
        )
    )
    expected: dict[str, list[bytes]] = {s.name: [] for s in SPLITS}
    for raw in records:
        expected[_tfx_split(raw, partition_feature)].append(deterministic(raw))
    for name, examples in expected.items():
        assert sorted(split_records(str(out), name)) == sorted(examples), name
    assert report["records_read"] == 201
    assert report["examples"] == 200
    assert report["bad_records"]["count"] == 1
    assert [(r["record"], r["raw"]) for r in bad_records(str(out))] == [(80, "hello")]
    assert report["schema"] == {"id": "int", "note": "unknown", "score": "float", "tags": "bytes"}
