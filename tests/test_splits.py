"""The split contract, pinned. These golden values must never be edited to
make a change pass: they are what TFX computes for the same examples."""

from __future__ import annotations

import pyarrow as pa
import pytest

from beam_ingest.errors import ConfigError
from beam_ingest.splits import (
    DEFAULT_SPLITS,
    SplitAssigner,
    SplitSpec,
    bucket,
    parse_split,
    validate_splits,
)
from beam_ingest.transforms.encode import encode_batch

# Example i = {id: [i], name: [b"row<i>"], score: [i * 0.5]}, serialized
# deterministically by TensorFlow's protobuf (computed once with tf.train).
GOLDEN_BYTES = {
    0: "0a320a0b0a02696412051a030a01000a100a046e616d6512080a060a04726f77300a110a0573636f7265"
    "120812060a0400000000",
    4: "0a320a0b0a02696412051a030a01040a100a046e616d6512080a060a04726f77340a110a0573636f7265"
    "120812060a0400000040",
}
GOLDEN_DEFAULT_SPLIT = [0, 0, 0, 0, 1, 0, 0, 0]  # train=2, eval=1
GOLDEN_BUCKETS_OF_10 = [6, 9, 5, 6, 6, 4, 9, 8]


@pytest.fixture(scope="module")
def examples() -> list[bytes]:
    batch = pa.RecordBatch.from_pydict(
        {
            "id": pa.array(range(8), pa.int64()),
            "name": pa.array([f"row{i}".encode() for i in range(8)], pa.binary()),
            "score": pa.array([i * 0.5 for i in range(8)], pa.float64()),
        }
    )
    return encode_batch(batch).examples


def test_encoded_bytes_are_pinned(examples):
    for i, expected in GOLDEN_BYTES.items():
        assert examples[i].hex() == expected


def test_default_split_assignment_is_pinned(examples):
    assigner = SplitAssigner(DEFAULT_SPLITS)
    assert assigner.assign_all(examples) == GOLDEN_DEFAULT_SPLIT
    assert [assigner.assign(e) for e in examples] == GOLDEN_DEFAULT_SPLIT


def test_bucket_is_sha256_mod_total(examples):
    assert [bucket(e, 10) for e in examples] == GOLDEN_BUCKETS_OF_10


def test_cumulative_buckets_bisect():
    assigner = SplitAssigner(
        [
            SplitSpec(name="a", buckets=1),
            SplitSpec(name="b", buckets=2),
            SplitSpec(name="c", buckets=7),
        ]
    )
    keys = [str(i).encode() for i in range(200)]
    for key, index in zip(keys, assigner.assign_all(keys), strict=True):
        b = bucket(key, 10)
        assert index == (0 if b < 1 else 1 if b < 3 else 2)


def test_parse_split():
    assert parse_split("train=8") == SplitSpec(name="train", buckets=8)


@pytest.mark.parametrize("text", ["train", "train=", "train=x", "=3", "train=-1", "train=0"])
def test_parse_split_rejects(text):
    with pytest.raises(ConfigError, match="split"):
        parse_split(text)


def test_split_names_unique():
    with pytest.raises(ConfigError, match="'train' is given twice"):
        validate_splits([SplitSpec(name="train", buckets=1), SplitSpec(name="train", buckets=2)])


def test_split_name_checked():
    with pytest.raises(ConfigError, match="not valid"):
        SplitSpec(name="a/b", buckets=1)
