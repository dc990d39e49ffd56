"""Decompressing TFRecord input a chunk at a time (for `ReadTFRecord`).

`chunks(path, f, compression)` yields a file's bytes, inflated when it is
gzip: by its `.gz` extension with compression "auto", or always with "gzip".
Unlike Beam's CompressedFile, a gzip stream that ends inside a member (a
truncated file) is an error, not a silent end of input. `looks_like` names
what a file whose first record header is corrupt is instead (gzip, bzip2,
zstd, xz), for the error message.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import BinaryIO

from beam_ingest.framing import FramingError

__all__ = ["CHUNK", "chunks", "is_gzip", "looks_like"]

CHUNK = 1 << 20  # bytes read (and inflated) at a time
_GZIP_WBITS = 31  # zlib, expecting a gzip header and trailer


def chunks(path: str, f: BinaryIO, compression: str) -> Iterator[bytes]:
    """The bytes of the open file `f` (named `path`), inflated if gzip."""
    return _gzip_chunks(f) if is_gzip(path, compression) else _plain_chunks(f)


def is_gzip(path: str, compression: str) -> bool:
    if compression == "auto":
        return path.lower().endswith(".gz")
    return compression == "gzip"


def _plain_chunks(f: BinaryIO) -> Iterator[bytes]:
    while chunk := f.read(CHUNK):
        yield chunk


def _gzip_chunks(f: BinaryIO) -> Iterator[bytes]:
    """Inflates a gzip file (members one after another), `CHUNK` bytes at a time.

    Raises:
        FramingError: the gzip data is corrupt, or the stream ends inside a member.
    """
    inflater = zlib.decompressobj(_GZIP_WBITS)
    pending = f.read(CHUNK)
    at_end = not pending
    hint = (
        ""
        if pending.startswith(b"\x1f\x8b")
        else "; is the file gzip-compressed? see input_compression"
    )
    in_member = False
    while True:
        if not pending and not at_end:
            pending = f.read(CHUNK)
            at_end = not pending
        if at_end and not pending and not in_member:
            return
        in_member = True
        try:
            # At the end of the input this still drains what zlib holds back.
            out = inflater.decompress(pending, CHUNK)
        except zlib.error as e:
            raise FramingError(f"corrupt gzip data ({e}{hint})") from None
        hint = ""
        pending = inflater.unconsumed_tail
        if inflater.eof:  # a member ends; anything after it is the next member
            pending = inflater.unused_data + pending
            inflater = zlib.decompressobj(_GZIP_WBITS)
            in_member = False
        if out:
            yield out
        elif at_end and not pending and in_member:
            raise FramingError("the gzip stream ends early: the file is truncated")


_MAGIC = (
    (b"\x1f\x8b", "gzip-compressed; set input_compression to gzip"),
    (b"BZh", "bzip2-compressed; TFRecord input is read uncompressed or gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed; TFRecord input is read uncompressed or gzip"),
    (b"\xfd7zXZ\x00", "xz-compressed; TFRecord input is read uncompressed or gzip"),
)


def looks_like(head: bytes) -> str:
    """What a file whose first record header is corrupt looks like instead."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return f" (the file looks {what})"
    return ""
