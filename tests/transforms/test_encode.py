"""ToTFExample's value contract and deterministic bytes."""

from __future__ import annotations

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pytest
import tensorflow as tf
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings
from hypothesis import strategies as st

from beam_ingest.errors import ConfigError
from beam_ingest.protowire import (
    TruncatedError,
    VarintTooLongError,
    decode_varint,
    encode_varint,
    put_varints,
    read_varint,
    skip_varint,
    varint_sizes,
)
from beam_ingest.transforms.encode import (
    ExampleBatch,
    ToTFExample,
    _check_partition_column,
    encode_batch,
    to_list_array,
)
from tests.helpers import decode


@pytest.fixture(scope="module")
def batch() -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(
        {
            "zint": pa.array([0, None, 7], pa.int64()),
            "float": pa.array([0.0, 1.1, None], pa.float64()),
            "bytes": pa.array([b"", b"x", None], pa.binary()),
            "bool": pa.array([False, True, None], pa.bool_()),
            "nothing": pa.nulls(3),
            "list": pa.array([[1, 2], [], None], pa.list_(pa.int32())),
            "Upper": pa.array(["é", "b", "c"], pa.string()),
        }
    )


def test_bytes_are_the_deterministic_serialization(batch):
    for record in encode_batch(batch).examples:
        example = tf.train.Example.FromString(record)
        assert example.SerializeToString(deterministic=True) == record


def test_value_contract(batch):
    rows = [decode(r) for r in encode_batch(batch).examples]
    assert rows[0]["zint"] == ("int64_list", [0])  # zero is a value
    assert rows[1]["zint"] == ("int64_list", [])  # null: present, empty, typed
    assert rows[0]["float"] == ("float_list", [0.0])
    assert rows[1]["float"][1] == [pytest.approx(1.1)]  # stored as float32
    assert rows[0]["bytes"] == ("bytes_list", [b""])  # "" is a value
    assert rows[2]["bytes"] == ("bytes_list", [])
    assert rows[0]["bool"] == ("int64_list", [0])
    assert rows[1]["bool"] == ("int64_list", [1])
    assert all(r["nothing"] == (None, []) for r in rows)  # null everywhere: Feature()
    assert [r["list"] for r in rows] == [
        ("int64_list", [1, 2]),
        ("int64_list", []),
        ("int64_list", []),
    ]
    assert rows[0]["Upper"] == ("bytes_list", ["é".encode()])


def test_float32_rounding_matches_protobuf():
    values = [0.1, 1e-40, 3.4028236e38, 16777217.0, -2.5]
    batch = pa.RecordBatch.from_pydict({"f": pa.array(values, pa.float64())})
    got = [decode(r)["f"][1][0] for r in encode_batch(batch).examples]
    expected = list(tf.train.FloatList(value=values).value)
    assert got == expected


def test_partition_keys_are_the_feature_bytes(batch):
    encoded = encode_batch(batch, partition_feature="bytes")
    for record, key in zip(encoded.examples, encoded.keys, strict=True):
        feature = tf.train.Example.FromString(record).features.feature["bytes"]
        assert key == feature.SerializeToString(deterministic=True)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing", "'missing' is not a feature"),
        ("float", "is a float feature"),
        ("nothing", "is empty in every record"),
    ],
)
def test_partition_feature_errors(batch, name, message):
    with pytest.raises(ConfigError, match=message):
        _check_partition_column(batch, name)


def test_sliced_batches_encode_their_own_rows(batch):
    whole = encode_batch(batch).examples
    assert encode_batch(batch.slice(1)).examples == whole[1:]


def test_length_prefixes_at_varint_boundaries():
    """Entries and examples whose lengths need 1, 2, 3 and 4 varint bytes."""
    sizes = [0, 1, 100, 110, 115, 116, 117, 118, 127, 128, 16_370, 16_384, 2_097_140, 3_000_000]
    batch = pa.RecordBatch.from_pydict(
        {
            "blob": pa.array([b"x" * n for n in sizes], pa.large_binary()),
            "e": pa.array([None] * len(sizes), pa.int64()),
        }
    )
    for n, record in zip(sizes, encode_batch(batch).examples, strict=True):
        example = tf.train.Example.FromString(record)
        assert example.SerializeToString(deterministic=True) == record
        assert len(example.features.feature["blob"].bytes_list.value[0]) == n


def test_a_batch_of_one_empty_column():
    batch = pa.RecordBatch.from_pydict({"e": pa.nulls(2)})
    assert [decode(r) for r in encode_batch(batch).examples] == [{"e": (None, [])}] * 2


def test_key_order_is_protobufs_where_a_name_prefixes_another():
    """Python protobuf puts "aa" before "a" and "" last; `sorted()` would not."""
    batch = pa.RecordBatch.from_pydict(
        {name: [i] for i, name in enumerate(["a", "aa", "ab", "", "b", "é", "e"])}
    )
    record = encode_batch(batch).examples[0]
    assert tf.train.Example.FromString(record).SerializeToString(deterministic=True) == record


def test_example_batches_pass_through_with_partition_keys():
    batch = pa.RecordBatch.from_pydict({"k": [b"x", b"y"], "v": [1, 2]})
    encoded = encode_batch(batch, partition_feature="k")
    with BeamTestPipeline() as p:
        out = p | beam.Create([ExampleBatch(encoded.examples)]) | ToTFExample(partition_feature="k")
        assert_that(out, equal_to([encoded]))


_VALUES = {
    "int": (
        pa.int64(),
        st.integers(-(2**63), 2**63 - 1),
    ),
    "float": (
        pa.float64(),
        st.floats(allow_nan=False, width=32) | st.sampled_from([0.0, -0.0, float("inf")]),
    ),
    "bytes": (pa.large_binary(), st.binary(max_size=300)),
}


@st.composite
def _batches(draw: st.DrawFn) -> pa.RecordBatch:
    rows = draw(st.integers(0, 12))
    names = draw(
        st.lists(
            # tfx_bsl cuts a name at a NUL character, so NUL is left out
            st.text(st.characters(blacklist_characters="\x00"), max_size=6),
            min_size=1,
            max_size=5,
            unique=True,
        )
    )
    columns = {}
    for name in names:
        kind = draw(st.sampled_from([*_VALUES, "null"]))
        if kind == "null":
            columns[name] = pa.nulls(rows)
            continue
        arrow_type, values = _VALUES[kind]
        if draw(st.booleans()):  # a list column: empty lists and null lists too
            cells = st.none() | st.lists(values, max_size=4)
            columns[name] = pa.array(
                draw(st.lists(cells, min_size=rows, max_size=rows)), pa.list_(arrow_type)
            )
        else:
            cells = st.none() | values
            columns[name] = pa.array(
                draw(st.lists(cells, min_size=rows, max_size=rows)), arrow_type
            )
    return pa.RecordBatch.from_pydict(columns)


@given(_batches(), st.integers(0, 3))
@settings(derandomize=True, deadline=None, max_examples=150, database=None)
def test_bytes_equal_tfx_bsl_encoder_reserialized(batch, offset):
    """Differential: the columnar wire encoder against tfx_bsl's C++ encoder, whose
    examples protobuf re-serializes deterministically (map entries in key order)."""
    from tfx_bsl.coders import example_coder

    batch = batch.slice(min(offset, batch.num_rows))  # sliced arrays have offsets
    listed = pa.RecordBatch.from_arrays(
        [to_list_array(c) for c in batch.columns], batch.schema.names
    )
    reference = [
        tf.train.Example.FromString(r).SerializeToString(deterministic=True)
        for r in example_coder.RecordBatchToExamplesEncoder().encode(listed)
    ]
    assert encode_batch(batch).examples == reference
    if batch.num_columns:
        name = batch.schema.names[0]
        keys = encode_batch(batch, partition_feature=name).keys
        assert keys == [
            tf.train.Example.FromString(r)
            .features.feature[name]
            .SerializeToString(deterministic=True)
            for r in reference
        ]


# --- the varints (beam_ingest.protowire) ------------------------------------------

_EDGES = [0, 1, 127, 128, 300, 2**14 - 1, 2**14, 2**35, 2**63 - 1, 2**63, 2**64 - 1]


@pytest.mark.parametrize("value", _EDGES)
def test_scalar_varints_round_trip_as_protobuf_writes_them(value):
    encoded = encode_varint(value)
    packed = tf.train.Int64List(value=[value - 2**64 if value >= 2**63 else value])
    assert packed.SerializeToString() == b"\x0a" + bytes([len(encoded)]) + encoded
    assert decode_varint(encoded + b"\xff", 0) == (value, len(encoded))
    assert read_varint(encoded, 0, len(encoded)) == (value, len(encoded))
    assert skip_varint(b"\x00" + encoded, 1) == 1 + len(encoded)


def test_numpy_varints_are_the_scalar_ones():
    values = np.array(_EDGES, np.uint64)
    sizes = varint_sizes(values)
    assert sizes.tolist() == [len(encode_varint(v)) for v in _EDGES]
    at = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    data = np.zeros(int(sizes.sum()), np.uint8)
    put_varints(data, at, values, sizes)
    assert data.tobytes() == b"".join(encode_varint(v) for v in _EDGES)
    assert varint_sizes(np.array([-1], np.int64).view(np.uint64)).tolist() == [10]


def test_checked_varints_name_what_is_wrong():
    with pytest.raises(TruncatedError):
        read_varint(b"\x80\x80", 0, 2)
    with pytest.raises(TruncatedError):
        read_varint(b"\x80\x01", 0, 1)  # the end given, not the bytes' length
    with pytest.raises(VarintTooLongError):
        read_varint(b"\xff" * 11, 0, 11)


def test_kept_columns_are_what_tfx_bsl_decodes_the_examples_to():
    """`keep_columns` carries, for the Parquet sink, exactly the decoder's batch."""
    from tfx_bsl.coders import example_coder

    rows = pa.RecordBatch.from_pydict(
        {
            "i": pa.array([1, None, 3]),
            "f": pa.array([1.5, None, float("nan")]),
            "s": pa.array(["a", None, ""]),
            "l": pa.array([[1, 2], None, []]),
            "n": pa.nulls(3),
            "ln": pa.array([[], [], []], pa.list_(pa.null())),
            "b": pa.array([True, False, None]),
            "ls": pa.array([["x"], None, []], pa.list_(pa.string())),
        }
    )
    batch = encode_batch(rows, keep_columns=True)
    decoded = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(batch.examples)
    assert batch.columns.schema == decoded.schema
    assert str(batch.columns.to_pylist()) == str(decoded.to_pylist())  # as text: NaN != NaN
    assert encode_batch(rows).columns is None


def test_an_example_list_slice_keeps_its_rows_and_it_pickles():
    import pickle

    from beam_ingest.transforms.encode import ExampleList

    columns = pa.RecordBatch.from_pydict({"x": pa.array(range(10))})
    examples = ExampleList([bytes([i]) for i in range(10)], columns)
    part = examples[3:7]
    assert list(part) == [bytes([i]) for i in range(3, 7)]
    assert part.columns.column(0).to_pylist() == [3, 4, 5, 6]
    assert examples[8:20].columns.num_rows == 2 and examples[5:2].columns.num_rows == 0
    assert not hasattr(examples[::2], "columns")  # a plain list: the sink decodes it
    again = pickle.loads(pickle.dumps(examples))
    assert list(again) == list(examples) and again.columns.equals(columns)
