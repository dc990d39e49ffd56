"""The protobuf wire format, as far as tf.Example needs it: varints and field tags.

Every place that reads or writes tf.Example bytes by hand uses this module:
the column encoder (`beam_ingest.transforms._wire`, numpy varints for whole
columns), the partition-key lookup on serialized examples
(`beam_ingest.transforms.encode`) and the TFRecord connector's diagnosis of
records that are not tf.Examples.

A varint is 7 bits a byte, least significant first, the high bit set on every
byte but the last; a negative int64 is written as its two's complement, 10
bytes. A field's tag is the varint `number << 3 | wire type`; every tag of
tf.Example fits in one byte. The messages
(tensorflow/core/example/{example,feature}.proto), with their tags:

    Example   { Features features = 1; }                  0a len Features
    Features  { map<string, Feature> feature = 1; }       0a len Entry, per entry
    Entry     { string key = 1; Feature value = 2; }      0a len key 12 len Feature
    Feature   { oneof kind { BytesList bytes_list = 1;    0a len BytesList
                             FloatList float_list = 2;    12 len FloatList
                             Int64List int64_list = 3; }  1a len Int64List
    BytesList { repeated bytes value = 1; }               0a len value, per value
    FloatList { repeated float value = 1 [packed]; }      0a len float32s
    Int64List { repeated int64 value = 1 [packed]; }      0a len varints
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "BYTES_LIST",
    "ENTRY_KEY",
    "ENTRY_VALUE",
    "EXAMPLE_FEATURES",
    "EXAMPLE_FIELDS",
    "FEATURES_ENTRY",
    "FLOAT_LIST",
    "I32",
    "I64",
    "INT64_LIST",
    "LEN",
    "LIST_VALUE",
    "VARINT",
    "TruncatedError",
    "VarintTooLongError",
    "decode_varint",
    "encode_varint",
    "put_varints",
    "read_varint",
    "skip_varint",
    "varint_sizes",
]

# --- wire types and tf.Example's field tags ------------------------------------------

VARINT, I64, LEN, I32 = 0, 1, 2, 5

EXAMPLE_FEATURES = 0x0A  # Example.features
FEATURES_ENTRY = 0x0A  # Features.feature, one map entry
ENTRY_KEY, ENTRY_VALUE = 0x0A, 0x12  # the entry's key (the feature name) and its Feature
BYTES_LIST, FLOAT_LIST, INT64_LIST = 0x0A, 0x12, 0x1A  # Feature's oneof kind
LIST_VALUE = 0x0A  # the lists' `value` (packed for floats and int64s)

#: message -> {field number: what the field holds}: a message name, "name" (the
#: map key), or the list values "bytes", "float" and "int64".
EXAMPLE_FIELDS: dict[str, dict[int, str]] = {
    "Example": {1: "Features"},
    "Features": {1: "FeatureEntry"},
    "FeatureEntry": {1: "name", 2: "Feature"},
    "Feature": {1: "BytesList", 2: "FloatList", 3: "Int64List"},
    "BytesList": {1: "bytes"},
    "FloatList": {1: "float"},
    "Int64List": {1: "int64"},
}

# --- scalar varints -------------------------------------------------------------------


class TruncatedError(ValueError):
    """A varint runs past the end of the bytes it was read from."""


class VarintTooLongError(ValueError):
    """A varint longer than 10 bytes (no 64-bit value is)."""


def encode_varint(value: int) -> bytes:
    """The varint of a value >= 0."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it) of the varint at `pos`, in bytes known to be
    well formed (no bounds or length check: the fast path).

    Raises:
        IndexError: the bytes end inside the varint.
    """
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def skip_varint(data: bytes, pos: int) -> int:
    """The position after the varint at `pos` (well-formed bytes, as `decode_varint`).

    Raises:
        IndexError: the bytes end inside the varint.
    """
    while data[pos] & 0x80:
        pos += 1
    return pos + 1


def read_varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """(value, position after it) of the varint at `pos`, checked against `end`.

    Raises:
        TruncatedError: the varint does not end before `end`.
        VarintTooLongError: it is longer than 10 bytes.
    """
    result = shift = 0
    while True:
        if pos >= end:
            raise TruncatedError(pos)
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise VarintTooLongError(pos)


# --- varints of whole numpy arrays ----------------------------------------------------


def varint_sizes(values: np.ndarray) -> np.ndarray:
    """Bytes of each value's varint (values as uint64; a negative int64 takes 10)."""
    values = values.astype(np.uint64, copy=False)
    sizes = np.ones(len(values), np.int64)
    top = int(values.max()) if len(values) else 0
    k = 1
    while k < 10 and top >= 1 << (7 * k):  # only as many passes as the largest value needs
        sizes += values >= np.uint64(1 << (7 * k))
        k += 1
    return sizes


def put_varints(data: np.ndarray, at: np.ndarray, values: np.ndarray, sizes: np.ndarray) -> None:
    """Writes each value's varint (of `sizes` bytes, from `varint_sizes`) into
    the uint8 array `data` at the offsets `at`."""
    values = values.astype(np.uint64, copy=False)
    for k in range(int(sizes.max()) if len(sizes) else 0):
        rows = sizes > k
        byte = ((values >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8)
        byte |= (sizes > k + 1).astype(np.uint8) << 7
        data[at[rows] + k] = byte[rows]
