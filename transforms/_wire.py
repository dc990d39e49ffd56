"""tf.Example wire bytes for whole Arrow columns, built with numpy and Arrow kernels.

`ToTFExample` needs every row's `Example.SerializeToString(deterministic=True)`:
the TFX split hash is computed on those bytes. tfx_bsl's C++
`RecordBatchToExamplesEncoder` orders a multi-feature example's map entries by
hash, so it was called once per column and the one-feature examples were cut
apart and joined again; that made one Python `bytes` per row *per column* and
was a third of a Parquet run. This module writes the same bytes column by
column without a Python object per value: the protobuf encoding of a
`Feature` is a few length prefixes (varints, written for all rows at once
with numpy) in front of a payload that is one contiguous range of an encoded
values buffer (varints for int64, little-endian float32, `0a len value` for
bytes). Arrow's `binary_join_element_wise` then joins prefixes and payloads of
every column row by row in C++.

The messages and their tags are in `beam_ingest.protowire`, with the varints.
An empty packed list is written as nothing at all (no `0a 00`), as protobuf
does. A null list (a column with no type) is an empty `Feature()`: the entry
holds `12 00`. The tests compare these bytes with protobuf's own
serialization and with tfx_bsl's encoder.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from beam_ingest.protowire import (
    BYTES_LIST,
    ENTRY_KEY,
    ENTRY_VALUE,
    EXAMPLE_FEATURES,
    FEATURES_ENTRY,
    FLOAT_LIST,
    INT64_LIST,
    LIST_VALUE,
    encode_varint,
    put_varints,
    varint_sizes,
)

__all__ = ["column_entries", "feature_array", "length_prefixed", "with_example_header"]

_EMPTY = pa.scalar(b"", pa.large_binary())
_LIST_VALUE, _FEATURES_ENTRY = bytes([LIST_VALUE]), bytes([FEATURES_ENTRY])
_ENTRY_KEY, _ENTRY_VALUE = bytes([ENTRY_KEY]), bytes([ENTRY_VALUE])
_EXAMPLE_FEATURES = bytes([EXAMPLE_FEATURES])


def _assemble(n: int, parts: list[tuple[bytes | np.ndarray, np.ndarray | None]]) -> pa.Array:
    """Per-row byte strings made of constant bytes and varints, as a large_binary array.

    Each part is `(constant bytes or uint64 values to write as varints, mask)`;
    a part is left out of the rows where its mask is False. When every part
    has the same size in every row (a column without NULLs whose values'
    varints are all as long), the rows are a matrix and each part is written
    as whole columns of it (`_assemble_fixed`), without index arrays.
    """
    sizes: list = []
    total = np.zeros(n, np.int64)
    for value, mask in parts:
        if isinstance(value, bytes):
            size = len(value) if mask is None else np.where(mask, len(value), 0)
        else:
            size = varint_sizes(value)
            size = size if mask is None else np.where(mask, size, 0)
        sizes.append(size)
        total += size
    if n and all(isinstance(s, int) or bool((s == s[0]).all()) for s in sizes):
        return _assemble_fixed(n, parts, [s if isinstance(s, int) else int(s[0]) for s in sizes])
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(total, out=offsets[1:])
    data = np.zeros(int(offsets[-1]), np.uint8)
    cursor = offsets[:-1].copy()
    for (value, mask), size in zip(parts, sizes, strict=True):
        rows = cursor if mask is None else cursor[mask]
        if isinstance(value, bytes):
            for j, byte in enumerate(value):
                data[rows + j] = byte
        else:
            size = np.broadcast_to(size, (n,))
            chosen = (value, size) if mask is None else (value[mask], size[mask])
            put_varints(data, rows, *chosen)
        cursor += size
    return _binary_array(offsets, data)


def _assemble_fixed(n: int, parts: list, widths: list[int]) -> pa.Array:
    """`_assemble` when part i is `widths[i]` bytes in every row (a masked part
    of width > 0 is present in every row)."""
    data = np.empty((n, sum(widths)), np.uint8)
    at = 0
    for (value, _), width in zip(parts, widths, strict=True):
        if isinstance(value, bytes):
            if width:
                data[:, at : at + width] = np.frombuffer(value, np.uint8)
        else:
            values = value.astype(np.uint64, copy=False)
            for k in range(width):
                byte = ((values >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8)
                data[:, at + k] = byte | 0x80 if k + 1 < width else byte
        at += width
    return _binary_array(np.arange(n + 1, dtype=np.int64) * data.shape[1], data.reshape(-1))


def _binary_array(offsets: np.ndarray, data: np.ndarray | pa.Buffer) -> pa.Array:
    buffer = data if isinstance(data, pa.Buffer) else pa.py_buffer(data)
    return pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), len(offsets) - 1, [None, pa.py_buffer(offsets), buffer]
    )


def _binary_buffers(values: pa.Array) -> tuple[np.ndarray, pa.Buffer]:
    """A large_binary array's value offsets (len + 1, as they stand) and data buffer."""
    _, offsets, data = values.buffers()
    start = values.offset
    offsets = np.frombuffer(offsets, np.int64)[start : start + len(values) + 1]
    return offsets, data if data is not None else pa.py_buffer(b"")


def _payload(values: pa.Array) -> tuple[int, np.ndarray, np.ndarray | pa.Buffer]:
    """(kind tag, value offsets into the encoded buffer, encoded buffer) of a leaf array."""
    t = values.type
    if t == pa.int64():
        ints = values.to_numpy(zero_copy_only=False).view(np.uint64)
        sizes = varint_sizes(ints)
        offsets = np.zeros(len(ints) + 1, np.int64)
        np.cumsum(sizes, out=offsets[1:])
        data = np.zeros(int(offsets[-1]), np.uint8)
        put_varints(data, offsets[:-1], ints, sizes)
        return INT64_LIST, offsets, data
    if t == pa.float32():
        data = np.ascontiguousarray(values.to_numpy(zero_copy_only=False)).view(np.uint8)
        return FLOAT_LIST, np.arange(len(values) + 1, dtype=np.int64) * 4, data
    if t == pa.large_binary():
        lengths = pc.binary_length(values).to_numpy(zero_copy_only=False).astype(np.uint64)
        prefixes = _assemble(len(values), [(_LIST_VALUE, None), (lengths, None)])
        joined = pc.binary_join_element_wise(prefixes, pc.fill_null(values, b""), _EMPTY)
        offsets, data = _binary_buffers(joined)
        return BYTES_LIST, offsets - offsets[0], data
    raise TypeError(f"no tf.Example payload for leaf type {t}")  # to_list_array's job


def _feature_parts(column: pa.Array) -> tuple[list, pa.Array, np.ndarray, np.ndarray]:
    """A column's `Feature` pieces: (the parts `_assemble` writes in front of
    each row's payload, the payloads, which rows are present, list lengths)."""
    lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False)
    rows = np.zeros(len(column) + 1, np.int64)
    np.cumsum(lengths, out=rows[1:])
    tag, value_offsets, data = _payload(column.flatten())
    payload_offsets = value_offsets[rows]  # a row's values are one range of the buffer
    payloads = _binary_array(payload_offsets, data)

    present = column.is_valid().to_numpy(zero_copy_only=False)
    payload_len = np.diff(payload_offsets).astype(np.uint64)
    if tag == BYTES_LIST:
        list_len = payload_len  # repeated bytes: the payload is the list's content
        packed = None
    else:  # packed: `0a len values`, nothing at all for an empty list
        packed = present & (payload_len > 0)
        list_len = np.where(packed, 1 + varint_sizes(payload_len) + payload_len, 0)
        list_len = list_len.astype(np.uint64)
    feature = [(bytes([tag]), present), (list_len, present)]
    if packed is not None:
        feature += [(_LIST_VALUE, packed), (payload_len, packed)]
    return feature, payloads, present, list_len


def feature_array(column: pa.Array) -> pa.Array:
    """Each row's `Feature` serialization (deterministic), as a large_binary
    array; a null list is an empty `Feature()` (no bytes). `column` is as
    `column_entries` takes it."""
    feature, payloads, _, _ = _feature_parts(column)
    return pc.binary_join_element_wise(_assemble(len(column), feature), payloads, _EMPTY)


def length_prefixed(tag: int, values: pa.Array) -> pa.Array:
    """Each value as a length-delimited field: `tag len value` (large_binary)."""
    lengths = pc.binary_length(values).to_numpy(zero_copy_only=False).astype(np.uint64)
    prefixes = _assemble(len(values), [(bytes([tag]), None), (lengths, None)])
    return pc.binary_join_element_wise(prefixes, values, _EMPTY)


def column_entries(
    name: str, column: pa.Array, *, feature_bytes: bool = False
) -> tuple[list[pa.Array | pa.Scalar], list[bytes] | None]:
    """One column's map entries, as (parts, features).

    `column` is a large_list array of int64, float32 or large_binary values
    (`ToTFExample`'s `to_list_array`); a null list is an empty `Feature()`.
    `parts` are arrays (one value per row) and scalars (the same for every
    row) that `pc.binary_join_element_wise` joins into each row's map entry
    for `name`. With `feature_bytes`, `features` holds each row's `Feature`
    serialization (TFX's split key for a partition feature), else it is None.
    """
    n = len(column)
    feature, payloads, present, list_len = _feature_parts(column)
    feature_len = np.where(present, 1 + varint_sizes(list_len) + list_len, 0).astype(np.uint64)
    key = name.encode("utf-8")
    key_field = _ENTRY_KEY + encode_varint(len(key)) + key
    entry_len = (len(key_field) + 1 + varint_sizes(feature_len) + feature_len).astype(np.uint64)
    parts = [
        _assemble(n, [(_FEATURES_ENTRY, None), (entry_len, None)]),
        pa.scalar(key_field + _ENTRY_VALUE, pa.large_binary()),
        _assemble(n, [(feature_len, None), *feature]),
        payloads,
    ]
    features = None
    if feature_bytes:
        prefix = _assemble(n, feature)
        features = pc.binary_join_element_wise(prefix, payloads, _EMPTY).to_pylist()
    return parts, features


def with_example_header(body: pa.Array) -> pa.Array:
    """Each row's Features body (its map entries) as a whole Example: `0a len body`."""
    lengths = pc.binary_length(body).to_numpy(zero_copy_only=False).astype(np.uint64)
    headers = _assemble(len(body), [(_EXAMPLE_FEATURES, None), (lengths, None)])
    return pc.binary_join_element_wise(headers, body, _EMPTY)
