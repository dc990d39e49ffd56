"""Arrow RecordBatches to serialized tf.Examples: `ToTFExample`.

The only place examples are made. Encoding is tfx_bsl's C++
`RecordBatchToExamplesEncoder`, one column at a time: its output orders a
multi-feature example's map entries by hash, but a one-feature example is
trivially deterministic. Each row's entries are then joined in sorted key
order under a new header, which is exactly
`Example.SerializeToString(deterministic=True)` (what the TFX split hash is
computed on), at the cost of one bytes join per row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc

from beam_ingest.arrow_values import rebuild_list
from beam_ingest.errors import ConfigError

__all__ = ["ExampleBatch", "ToTFExample"]

_NAMESPACE = "beam_ingest"


class ExampleBatch(NamedTuple):
    """Serialized examples of one RecordBatch, and their split keys.

    `keys` holds, per example, the partition feature's deterministic
    serialization when a partition feature is set, else it is None (the
    example bytes are the key).
    """

    examples: list[bytes]
    keys: list[bytes] | None = None


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _skip_varint(data: bytes, pos: int) -> int:
    while data[pos] & 0x80:
        pos += 1
    return pos + 1


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def _map_entry(single: bytes) -> bytes:
    """A one-feature Example (`0a len Features`) to its Features map entry."""
    return single[_skip_varint(single, 1) :]


def _feature_bytes(entry: bytes) -> bytes:
    """A map entry (`0a len {0a klen key 12 flen Feature}`) to the Feature."""
    pos = _skip_varint(entry, 1)  # entry tag + length
    key_len, pos = _read_varint(entry, pos + 1)  # key tag, key length
    pos += key_len
    return entry[_skip_varint(entry, pos + 1) :]  # value tag + length


def to_list_array(column: pa.Array) -> pa.Array:
    """A column as the list array the encoder takes, under the value contract.

    Null type (empty everywhere): null lists, written as an empty `Feature()`.
    Scalars: `[value]`, or `[]` for a null (the feature is present, empty).
    Lists: as they are, a null list becoming `[]`.
    """
    if pa.types.is_null(column.type):
        return pa.nulls(len(column), pa.large_list(pa.int64()))
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        return rebuild_list(column, _leaf(column.flatten()), keep_nulls=False)
    values = _leaf(column.drop_null())
    present = pc.cast(pc.is_valid(column), pa.int64())
    offsets = pa.concat_arrays([pa.array([0], pa.int64()), pc.cumulative_sum(present)])
    return pa.LargeListArray.from_arrays(offsets, values)


def _leaf(values: pa.Array) -> pa.Array:
    t = values.type
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return pc.cast(values, pa.int64())
    if pa.types.is_floating(t):
        return pc.cast(values, pa.float32(), safe=False)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_string(t):
        return pc.cast(values, pa.large_binary())
    if pa.types.is_large_string(t):
        return pc.cast(values, pa.large_binary())
    raise ConfigError(f"ToTFExample: Arrow type {t} has no tf.Example form")


def encode_batch(batch: pa.RecordBatch, partition_feature: str | None = None) -> ExampleBatch:
    """Serializes every row of `batch` deterministically (see module docstring)."""
    from tfx_bsl.coders import example_coder  # a C++ extension, loaded on first use

    encoder = example_coder.RecordBatchToExamplesEncoder()
    entries = []
    keys = None
    for name in sorted(batch.schema.names):
        single = pa.RecordBatch.from_arrays([to_list_array(batch.column(name))], [name])
        column_entries = [_map_entry(e) for e in encoder.encode(single)]
        entries.append(column_entries)
        if name == partition_feature:
            keys = [_feature_bytes(e) for e in column_entries]
    examples = []
    join = b"".join
    for row in zip(*entries, strict=True):
        body = join(row)
        examples.append(b"\n" + _varint(len(body)) + body)
    return ExampleBatch(examples, keys)


class ToTFExample(beam.PTransform):
    """RecordBatches to `ExampleBatch`es of deterministic tf.Example bytes.

    Args:
        partition_feature: when set, each example's split key is this feature
            (TFX's `partition_feature_name`); it must be an int or bytes column
            with a value in every row it is computed for.
    """

    def __init__(self, *, partition_feature: str | None = None, label: str | None = None) -> None:
        super().__init__(label)
        self.partition_feature = partition_feature

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        return batches | "Encode" >> beam.ParDo(_EncodeFn(self.partition_feature))


class _EncodeFn(beam.DoFn):
    def __init__(self, partition_feature: str | None) -> None:
        self._partition_feature = partition_feature
        self._examples = beam.metrics.Metrics.counter(_NAMESPACE, "examples_encoded")

    def process(self, batch: pa.RecordBatch) -> Iterator[ExampleBatch]:
        if not batch.num_rows:
            return
        if self._partition_feature is not None:
            _check_partition_column(batch, self._partition_feature)
        self._examples.inc(batch.num_rows)
        yield encode_batch(batch, self._partition_feature)


def _check_partition_column(batch: pa.RecordBatch, name: str) -> None:
    if name not in batch.schema.names:
        raise ConfigError(
            f"--partition-feature: {name!r} is not a feature; "
            f"features: {sorted(batch.schema.names)}"
        )
    t = batch.schema.field(name).type
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        t = t.value_type
    if pa.types.is_null(t):
        raise ConfigError(
            f"--partition-feature: {name!r} is empty in every record, so it cannot place examples"
        )
    if pa.types.is_floating(t):
        raise ConfigError(
            f"--partition-feature: {name!r} is a float feature; TFX partitions only on "
            "int or bytes features"
        )
