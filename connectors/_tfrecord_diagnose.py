"""Why a TFRecord record is not a tf.Example (for `ReadTFRecord`'s bad records).

A record is not a tf.Example when the protobuf parser rejects it, or when it
parses only by keeping fields that tf.Example does not define (protobuf keeps
unknown fields: a tf.SequenceExample parses as an Example of its context
features plus an unknown `feature_lists`). `diagnose` walks the wire format
against tf.Example's fields (`beam_ingest.protowire.EXAMPLE_FIELDS`) and names
the first problem and its byte position. It runs only for bad records.
"""

from __future__ import annotations

from beam_ingest.protowire import (
    EXAMPLE_FIELDS,
    I32,
    I64,
    LEN,
    VARINT,
    TruncatedError,
    VarintTooLongError,
    read_varint,
)

__all__ = ["diagnose"]

_HINTS = {("Example", 2): " (a tf.SequenceExample's feature_lists?)"}


class _NotExample(Exception):
    pass


def diagnose(data: bytes) -> str:
    """The first thing in `data` that a tf.Example cannot hold, with its byte position."""
    try:
        _walk(data, 0, len(data), "Example", "")
    except _NotExample as e:
        return str(e)
    return "the protobuf parser rejects it"  # a case the walk does not know


def _varint(data: bytes, pos: int, end: int, start: int, where: str) -> tuple[int, int]:
    try:
        return read_varint(data, pos, end)
    except TruncatedError:
        raise _NotExample(f"the field at byte {start}{where} is cut short") from None
    except VarintTooLongError:
        raise _NotExample(f"a varint longer than 10 bytes at byte {start}{where}") from None


def _walk(data: bytes, pos: int, end: int, name: str, where: str) -> None:
    fields = EXAMPLE_FIELDS[name]
    while pos < end:
        start = pos
        tag, pos = _varint(data, pos, end, start, where)
        number, wire = tag >> 3, tag & 7
        if wire not in (VARINT, I64, LEN, I32):
            raise _NotExample(
                f"wire type {wire} at byte {start}{where}: no tf.Example field has it"
            )
        holds = fields.get(number)
        if holds is None:
            raise _NotExample(
                f"field {number} (wire type {wire}) at byte {start}{where} is not a field "
                f"of {name}{_HINTS.get((name, number), '')}"
            )
        if wire == VARINT:
            if holds != "int64":
                raise _NotExample(f"field {number} of {name} at byte {start}{where} is a varint")
            _, pos = _varint(data, pos, end, start, where)
            continue
        if wire in (I64, I32):
            if not (holds == "float" and wire == I32):
                raise _NotExample(
                    f"field {number} of {name} at byte {start}{where} has wire type {wire}"
                )
            pos += 4
            if pos > end:
                raise _NotExample(f"the field at byte {start}{where} is cut short")
            continue
        length, pos = _varint(data, pos, end, start, where)
        if pos + length > end:
            raise _NotExample(
                f"the field at byte {start}{where} needs {length} bytes, {end - pos} are left"
            )
        body = data[pos : pos + length]
        if holds == "name":
            try:
                where = f" (in feature {body.decode('utf-8')!r})"
            except UnicodeDecodeError:
                raise _NotExample(
                    f"the feature name at byte {start} is not valid UTF-8: {body!r}"
                ) from None
        elif holds == "float":
            if length % 4:
                raise _NotExample(f"packed floats at byte {start}{where} are {length} bytes")
        elif holds == "int64":
            p = pos
            while p < pos + length:
                _, p = _varint(data, p, pos + length, start, where)
        elif holds != "bytes":
            _walk(data, pos, pos + length, holds, where)
        pos += length
