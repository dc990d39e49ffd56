"""Arrow RecordBatches to serialized tf.Examples: `ToTFExample`.

The only place examples are made. Each column's map entries are written for
all rows at once in the protobuf wire format (`_wire.column_entries`: numpy
for the length prefixes, Arrow kernels for the joins), and each row's entries
are joined in protobuf's deterministic key order under the Example's header:
exactly `Example.SerializeToString(deterministic=True)`, the bytes the TFX
split hash is computed on. (tfx_bsl's C++ `RecordBatchToExamplesEncoder`
orders a multi-feature example's entries by hash, and returns one Python
bytes object per row; the tests keep it as the reference encoder.)

`ExampleBatch`es (examples that were serialized already, e.g. by
`ReadTFRecord`) pass through unchanged; with a partition feature, their split
keys are computed here from the serialized bytes.

With `keep_columns` (for a sink that writes columns, such as Parquet), each
`ExampleBatch` also carries the list arrays it was encoded from, as
tfx_bsl's decoder would give them back (`columns`); `HashSplit` passes them
on in `ExampleList`s. Decoding a tf.Example costs more than making it, so
this is what keeps Parquet output near TFRecord output's time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from beam_ingest.arrow_values import rebuild_list
from beam_ingest.errors import ConfigError, DataError
from beam_ingest.protowire import FLOAT_LIST, decode_varint, skip_varint
from beam_ingest.transforms._wire import column_entries, with_example_header

__all__ = ["ExampleBatch", "ExampleList", "ToTFExample", "examples_of"]

_NAMESPACE = "beam_ingest"


class ExampleBatch(NamedTuple):
    """Serialized examples of one RecordBatch, and their split keys.

    `keys` holds, per example, the partition feature's deterministic
    serialization when a partition feature is set, else it is None (the
    example bytes are the key).
    """

    examples: list[bytes]
    keys: list[bytes] | None = None
    #: The rows as decoded examples' columns (`keep_columns`), else None.
    columns: pa.RecordBatch | None = None


class ExampleList(list):
    """A list of serialized examples with their rows as columns (`columns`,
    a RecordBatch as tfx_bsl's decoder gives examples back), for sinks that
    write columns. A slice keeps the matching rows."""

    def __init__(self, examples, columns: pa.RecordBatch) -> None:
        super().__init__(examples)
        self.columns = columns

    def __getitem__(self, index):
        got = super().__getitem__(index)
        if not isinstance(index, slice):
            return got
        start, stop, step = index.indices(len(self))
        if step != 1:
            return got  # a plain list: the sink decodes it
        return ExampleList(got, self.columns.slice(start, max(stop - start, 0)))

    def __reduce__(self):
        return ExampleList, (list(self), self.columns)


def examples_of(batch: ExampleBatch) -> list[bytes]:
    """A batch's examples as one list (an `ExampleList` if it has columns)."""
    return batch.examples if batch.columns is None else ExampleList(batch.examples, batch.columns)


def to_list_array(column: pa.Array) -> pa.Array:
    """A column as the list array the encoder takes, under the value contract.

    Null type, or lists of the null type (`list<null>`, every list empty, as
    pyarrow writes a column of `[]`): null lists, written as an empty
    `Feature()`, as TFX does. Scalars: `[value]`, or `[]` for a null (the
    feature is present, empty). Lists: as they are, a null list becoming `[]`.
    """
    t = column.type
    is_list = pa.types.is_large_list(t) or pa.types.is_list(t)
    if pa.types.is_null(t) or (is_list and pa.types.is_null(t.value_type)):
        return pa.nulls(len(column), pa.large_list(pa.int64()))
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        return rebuild_list(column, _leaf(column.flatten()), keep_nulls=False)
    if not column.null_count:  # one value per row: the offsets are 0, 1, 2, ...
        offsets = pa.array(np.arange(len(column) + 1, dtype=np.int64))
        return pa.LargeListArray.from_arrays(offsets, _leaf(column))
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


def encode_batch(
    batch: pa.RecordBatch, partition_feature: str | None = None, keep_columns: bool = False
) -> ExampleBatch:
    """Serializes every row of `batch` deterministically (see module docstring);
    with `keep_columns`, the batch carries its columns too.

    Each column's map entries are built for all rows at once
    (`beam_ingest.transforms._wire`) and joined row by row, in protobuf's key
    order, with Arrow's binary kernels: no Python object per value.
    """
    parts = []
    keys = None
    lists = {}
    for name in sorted(batch.schema.names, key=protobuf_key_order):
        lists[name] = to_list_array(batch.column(name))
        entry_parts, features = column_entries(
            name, lists[name], feature_bytes=name == partition_feature
        )
        parts += entry_parts
        if features is not None:
            keys = features
    columns = _as_decoded(lists) if keep_columns else None
    if not parts:
        return ExampleBatch([b"\n\x00"] * batch.num_rows, keys, columns)
    body = pc.binary_join_element_wise(*parts, _EMPTY)
    return ExampleBatch(with_example_header(body).to_pylist(), keys, columns)


def _as_decoded(lists: dict[str, pa.Array]) -> pa.RecordBatch:
    """The list arrays as tfx_bsl's decoder gives the examples back: columns
    sorted by name, a column of empty `Feature()`s (all null lists) of the
    null type."""
    names = sorted(lists)
    arrays = [
        pa.nulls(len(a)) if len(a) and a.null_count == len(a) else a
        for a in (lists[n] for n in names)
    ]
    return pa.RecordBatch.from_arrays(arrays, names=names)


def protobuf_key_order(name: str) -> tuple[int, ...]:
    """The order of map keys in Python protobuf's deterministic serialization.

    Bytes compare as unsigned, but a key sorts *after* every key it is a
    prefix of (upb: "aa", "ab", "a", "b", ""), unlike `sorted()`. The TFX split
    hash is computed on these bytes, so this order is part of the contract.
    """
    return (*name.encode("utf-8"), 256)


_EMPTY = pa.scalar(b"", pa.large_binary())


def partition_keys(examples: Sequence[bytes], name: str) -> list[bytes]:
    """Each example's split key under a partition feature, as TFX computes it.

    The key is the feature's `Feature.SerializeToString(deterministic=True)`.
    `examples` are deterministic serializations (the `ExampleBatch` contract):
    `0a len {0a len {0a klen key 12 flen Feature}}...`, every map entry holding
    its key and its value, so the key is a slice of the example.

    Raises:
        DataError: an example lacks the feature, or the feature has no kind or
            is a float_list (TFX's `_GeneratePartitionKey` refuses the same).
    """
    target = name.encode("utf-8")
    keys = []
    for index, example in enumerate(examples):
        feature = _find_feature(example, target)
        if feature is None:
            raise DataError(
                f"partition_feature: {name!r} is missing from an example (number {index} "
                "of its batch); TFX partitions only on a feature every example has"
            )
        if not feature:
            raise DataError(
                f"partition_feature: {name!r} is an empty Feature() in an example "
                f"(number {index} of its batch): it has no value to partition on"
            )
        if feature[0] == FLOAT_LIST:
            raise DataError(
                f"partition_feature: {name!r} is a float feature; TFX partitions only on "
                "int or bytes features"
            )
        keys.append(feature)
    return keys


def _find_feature(example: bytes, name: bytes) -> bytes | None:
    """The named Feature's bytes in a deterministically serialized Example, or None."""
    if not example:
        return None
    pos = skip_varint(example, 1)  # the features field: tag, length
    while pos < len(example):
        entry_length, pos = decode_varint(example, pos + 1)  # entry tag, length
        end = pos + entry_length
        key_length, key = decode_varint(example, pos + 1)  # key tag, length
        if example[key : key + key_length] == name:
            return example[skip_varint(example, key + key_length + 1) : end]
        pos = end
    return None


class ToTFExample(beam.PTransform):
    """RecordBatches to `ExampleBatch`es of deterministic tf.Example bytes.

    `ExampleBatch`es in the input (from connectors that read serialized
    examples, such as `ReadTFRecord`) pass through unchanged, with split keys
    added when a partition feature is set.

    Args:
        partition_feature: when set, each example's split key is this feature
            (TFX's `partition_feature_name`); it must be an int or bytes column
            with a value in every row it is computed for.
        keep_columns: each ExampleBatch made from a RecordBatch also carries
            its columns (`ExampleBatch.columns`), for sinks that write columns.
    """

    def __init__(
        self,
        *,
        partition_feature: str | None = None,
        keep_columns: bool = False,
        label: str | None = None,
    ) -> None:
        super().__init__(label)
        self.partition_feature = partition_feature
        self.keep_columns = keep_columns

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        return batches | "Encode" >> beam.ParDo(
            _EncodeFn(self.partition_feature, self.keep_columns)
        )


class _EncodeFn(beam.DoFn):
    def __init__(self, partition_feature: str | None, keep_columns: bool = False) -> None:
        self._partition_feature = partition_feature
        self._keep_columns = keep_columns
        self._examples = beam.metrics.Metrics.counter(_NAMESPACE, "examples_encoded")

    def process(self, batch: pa.RecordBatch | ExampleBatch) -> Iterator[ExampleBatch]:
        if isinstance(batch, ExampleBatch):
            if batch.examples:
                self._examples.inc(len(batch.examples))
                if self._partition_feature is not None:
                    keys = partition_keys(batch.examples, self._partition_feature)
                    batch = ExampleBatch(batch.examples, keys)
                yield batch
            return
        if not batch.num_rows:
            return
        if self._partition_feature is not None:
            _check_partition_column(batch, self._partition_feature)
        self._examples.inc(batch.num_rows)
        yield encode_batch(batch, self._partition_feature, self._keep_columns)


def _check_partition_column(batch: pa.RecordBatch, name: str) -> None:
    if name not in batch.schema.names:
        raise ConfigError(
            f"partition_feature: {name!r} is not a feature; features: {sorted(batch.schema.names)}"
        )
    t = batch.schema.field(name).type
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        t = t.value_type
    if pa.types.is_null(t):
        raise ConfigError(
            f"partition_feature: {name!r} is empty in every record, so it cannot place examples"
        )
    if pa.types.is_floating(t):
        raise ConfigError(
            f"partition_feature: {name!r} is a float feature; TFX partitions only on "
            "int or bytes features"
        )
