"""TFRecord framing: how records are laid out in a TFRecord file.

Each record is (tensorflow/core/lib/io/record_writer.cc):

    uint64 length (little-endian)
    uint32 masked CRC32C of the length bytes
    byte   data[length]
    uint32 masked CRC32C of the data

A masked CRC is the CRC32C rotated right by 15 bits plus 0xa282ead8. This is
the only place that knows it: the split writer frames with `frame_records`,
tests and tools read files back with `read_records`, and the TFRecord
connector parses frames out of a stream of chunks with `FrameParser` (which
reports where and why a file stops being readable, as TensorFlow's reader
does, instead of raising on the first bad byte).

The writer's path is hot: `record_header` caches each record length's 12
header bytes (a dataset has few distinct lengths) and `frame_records`
computes the data CRC inline.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator

import google_crc32c
from apache_beam.io.filesystems import FileSystems

__all__ = [
    "FrameParser",
    "FramingError",
    "frame_records",
    "masked_crc",
    "read_records",
    "record_header",
]

_MASK_DELTA = 0xA282EAD8
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")


def masked_crc(data: bytes) -> int:
    """The masked CRC32C TFRecord stores for `data`."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


_HEADERS: dict[int, bytes] = {}  # record length -> its 12 framing bytes


def record_header(length: int) -> bytes:
    """A record's length and the masked CRC32C of the length (cached by length:
    the records of a dataset have few distinct lengths)."""
    header = _HEADERS.get(length)
    if header is None:
        if len(_HEADERS) >= 1 << 16:
            _HEADERS.clear()
        packed = _U64.pack(length)
        header = _HEADERS[length] = packed + _U32.pack(masked_crc(packed))
    return header


def frame_records(records: Iterable[bytes]) -> bytes:
    """The TFRecord encoding of several records, as one buffer."""
    out = bytearray()
    crc, pack, delta = google_crc32c.value, _U32.pack, _MASK_DELTA
    for record in records:
        out += record_header(len(record))
        out += record
        c = crc(record)  # masked_crc, inlined: this loop runs once per example written
        out += pack((((c >> 15) | (c << 17)) + delta) & 0xFFFFFFFF)
    return bytes(out)


def read_records(path: str, limit: int | None = None) -> Iterator[bytes]:
    """Records of a TFRecord file on any Beam filesystem; gzip by the `.gz` extension.

    Raises:
        ValueError: a length or data checksum does not match (a corrupt file),
            or the file ends inside a record.
    """
    with FileSystems.open(path) as f:  # AUTO compression: .gz decompresses
        count = 0
        while limit is None or count < limit:
            header = f.read(12)
            if not header:
                return
            if len(header) < 12:
                raise ValueError(f"{path}: truncated record header at record {count}")
            (length,) = _U64.unpack_from(header)
            if _U32.unpack_from(header, 8)[0] != masked_crc(header[:8]):
                raise ValueError(f"{path}: corrupt length checksum at record {count}")
            body = f.read(length + 4)
            if len(body) < length + 4:
                raise ValueError(f"{path}: truncated record {count}")
            record = body[:length]
            if _U32.unpack_from(body, length)[0] != masked_crc(record):
                raise ValueError(f"{path}: corrupt data checksum at record {count}")
            yield record
            count += 1


class FramingError(Exception):
    """The rest of a stream cannot be read as records: `reason` says why and
    where, `raw` holds the bytes at that point (of the record being read).

    Chunk sources given to `FrameParser` raise it too (a corrupt compressed
    stream); the parser then adds which record it was reading."""

    def __init__(self, reason: str, raw: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw


class FrameParser:
    """TFRecord frames from a stream of byte chunks: (offset, data) per record.

    Offsets are in the (uncompressed) stream. Nothing is raised for bad
    framing before every record ahead of it has been given out.

    Args:
        chunks: the stream, in chunks of any size.
        first_hint: called with the first 8 bytes when the very first length
            checksum does not match; its text is added to the reason (e.g.
            what the file looks like instead).

    Raises:
        FramingError: a checksum does not match or a record is cut short (the
            reason names the record's offset); also what `chunks` raises, the
            reason naming the record being read.
    """

    def __init__(
        self, chunks: Iterable[bytes], first_hint: Callable[[bytes], str] | None = None
    ) -> None:
        self._chunks = iter(chunks)
        self._hint = first_hint
        self._buf = b""
        self._pos = 0
        self._base = 0  # offset of self._buf[0]
        self._eof = False

    def _fill(self, n: int) -> bool:
        """Makes n bytes available from `_pos`; False if the stream ends first."""
        have = len(self._buf) - self._pos
        if have >= n:
            return True
        parts = [self._buf[self._pos :]]
        self._base += self._pos
        self._pos = 0
        try:
            while have < n and not self._eof:
                chunk = next(self._chunks, b"")
                if not chunk:
                    self._eof = True
                    break
                parts.append(chunk)
                have += len(chunk)
        finally:
            self._buf = b"".join(parts)
        return have >= n

    def _fill_at(self, offset: int, n: int) -> bool:
        """`_fill`, naming the record being read when the chunk source stops."""
        try:
            return self._fill(n)
        except FramingError as e:
            raise FramingError(
                f"{e.reason}, while reading the record at byte {offset}", self._buf[self._pos :]
            ) from None

    def _stop(self, reason: str, end: int | None = None) -> FramingError:
        return FramingError(reason, self._buf[self._pos : end])

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        while True:
            offset = self._base + self._pos
            if not self._fill_at(offset, 1):
                return
            if not self._fill_at(offset, 12):
                raise self._stop(
                    f"truncated record at byte {offset}: the file ends "
                    f"{len(self._buf) - self._pos} bytes into its 12-byte header"
                )
            buf, pos = self._buf, self._pos
            (length,) = _U64.unpack_from(buf, pos)
            if _U32.unpack_from(buf, pos + 8)[0] != masked_crc(buf[pos : pos + 8]):
                hint = self._hint(buf[pos : pos + 8]) if offset == 0 and self._hint else ""
                raise self._stop(f"corrupt length checksum at byte {offset}{hint}", pos + 12)
            complete = self._fill_at(offset, 12 + length + 4)
            buf, pos = self._buf, self._pos
            if not complete:
                raise self._stop(
                    f"truncated record at byte {offset}: it needs {12 + length + 4} bytes, "
                    f"the file ends after {len(buf) - pos}"
                )
            data = buf[pos + 12 : pos + 12 + length]
            if _U32.unpack_from(buf, pos + 12 + length)[0] != masked_crc(data):
                raise self._stop(
                    f"corrupt data checksum in the record at byte {offset} ({length} bytes)",
                    pos + 16 + length,
                )
            self._pos = pos + 16 + length
            yield offset, data
