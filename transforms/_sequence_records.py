"""tf.SequenceExample bytes of a merged bucket, all sequences at once (for `BuildSequences`).

A merged `Part` (`_sequence_merge.merge`: one run per key) holds each
column's steps in key order, so a sequence's FeatureList of a column is one
range of that column's bytes. `serialize` writes every sequence's
`SerializeToString(deterministic=True)`: the map entries' heads (varints,
with numpy) and the ranges are joined row by row by Arrow's
`binary_join_element_wise`, context entries and feature lists each in
protobuf's key order.
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from beam_ingest.protowire import encode_varint, varint_sizes
from beam_ingest.transforms._sequence_wire import Part
from beam_ingest.transforms._wire import _assemble, _binary_array
from beam_ingest.transforms.encode import protobuf_key_order

__all__ = ["serialize"]

_EMPTY = pa.scalar(b"", pa.large_binary())


@functools.cache
def _key_field(name: str) -> bytes:
    """A map entry's key field and the value field's tag: `0a len name 12`."""
    key = name.encode("utf-8")
    return b"\x0a" + encode_varint(len(key)) + key + b"\x12"


def _entries(
    n: int, name: str, values: pa.Array, sizes: np.ndarray, mask
) -> tuple[list, np.ndarray]:
    """The map entries `name -> value` of `n` rows (left out where `mask` is
    False), as arrays to join, and each row's entry size."""
    key = _key_field(name)
    sizes = sizes.astype(np.uint64)
    inner = (len(key) + varint_sizes(sizes) + sizes).astype(np.uint64)
    head = _assemble(n, [(b"\x0a", mask), (inner, mask), (key, mask), (sizes, mask)])
    total = 1 + varint_sizes(inner) + inner.astype(np.int64)
    return [head, values], total if mask is None else np.where(mask, total, 0)


def _lengths(values: pa.Array) -> np.ndarray:
    return pc.binary_length(values).to_numpy(zero_copy_only=False).astype(np.int64)


def serialize(part: Part, keep: np.ndarray, context: tuple[str, ...]) -> pa.Array:
    """The SequenceExamples of the merged `part`'s keys where `keep` is True
    (large_binary, in key order)."""
    n = int(keep.sum())
    steps = part.runs
    index = pa.array(np.flatnonzero(keep))
    pieces: list = []
    context_size = np.zeros(n, np.int64)
    for i in sorted(range(len(context)), key=lambda i: protobuf_key_order(context[i])):
        values = part.context[i].take(index)
        arrays, size = _entries(n, context[i], values, _lengths(values), None)
        pieces += arrays
        context_size += size
    lists: list = []
    lists_size = np.zeros(n, np.int64)
    key_start = np.concatenate([[0], np.cumsum(steps)])
    data = pa.py_buffer(part.columns)
    base = 0
    for j, name in enumerate(part.names):
        ends = np.zeros(part.steps + 1, np.int64)
        np.cumsum(part.lengths[:, j], out=ends[1:])
        offsets = base + ends[key_start]  # a key's steps of the column: one range
        base += int(ends[-1])
        values = _binary_array(offsets, data).take(index)
        mask = None if part.present is None else part.present[keep, j]
        arrays, size = _entries(n, name, values, _lengths(values), mask)
        lists += arrays
        lists_size += size
    heads = [
        _assemble(n, [(b"\x0a", None), (context_size.astype(np.uint64), None)]),
        *pieces,
        _assemble(n, [(b"\x12", None), (lists_size.astype(np.uint64), None)]),
        *lists,
    ]
    return pc.binary_join_element_wise(*heads, _EMPTY)
