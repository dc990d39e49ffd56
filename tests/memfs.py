"""An in-memory Beam filesystem, `mem://`, for tests.

Beam's Python SDK has no in-memory filesystem (the Java SDK does). This one
is a flat key space like an object store: no folders, no rename other than
copy and delete. Importing this module registers the scheme (Beam finds
filesystems as subclasses of `FileSystem`). Pipelines on the DirectRunner run
in this process, so they see the same files.
"""

from __future__ import annotations

import io
import threading
import time

from apache_beam.io.filesystem import (
    BeamIOError,
    CompressedFile,
    CompressionTypes,
    FileMetadata,
    FileSystem,
)

_FILES: dict[str, tuple[bytes, float]] = {}
_LOCK = threading.Lock()


class _Writer(io.BytesIO):
    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path

    def close(self) -> None:
        if not self.closed:
            with _LOCK:
                _FILES[self._path] = (self.getvalue(), time.time())
        super().close()


class MemFileSystem(FileSystem):
    @classmethod
    def scheme(cls) -> str:
        return "mem"

    def join(self, basepath: str, *paths: str) -> str:
        return "/".join([basepath.rstrip("/"), *(p.strip("/") for p in paths)])

    def split(self, path: str) -> tuple[str, str]:
        head, _, tail = path.rpartition("/")
        return head, tail

    def mkdirs(self, path: str) -> None:
        pass

    def has_dirs(self) -> bool:
        return False

    def _list(self, dir_or_prefix: str):
        with _LOCK:
            items = [(p, v) for p, v in _FILES.items() if p.startswith(dir_or_prefix)]
        for path, (data, mtime) in items:
            yield FileMetadata(path, len(data), mtime)

    def create(self, path, mime_type="application/octet-stream", compression_type=None):
        compression_type = compression_type or CompressionTypes.AUTO
        raw = _Writer(path)
        kind = _kind(path, compression_type)
        return raw if kind == CompressionTypes.UNCOMPRESSED else CompressedFile(raw, kind)

    def open(self, path, mime_type="application/octet-stream", compression_type=None):
        compression_type = compression_type or CompressionTypes.AUTO
        with _LOCK:
            if path not in _FILES:
                raise BeamIOError("Open failed", {path: FileNotFoundError(path)})
            raw = io.BytesIO(_FILES[path][0])
        kind = _kind(path, compression_type)
        return raw if kind == CompressionTypes.UNCOMPRESSED else CompressedFile(raw, kind)

    def copy(self, source_file_names, destination_file_names) -> None:
        with _LOCK:
            for source, destination in zip(source_file_names, destination_file_names, strict=True):
                for path in [p for p in _FILES if p == source or p.startswith(source + "/")]:
                    _FILES[destination + path[len(source) :]] = (_FILES[path][0], time.time())

    def rename(self, source_file_names, destination_file_names) -> None:
        self.copy(source_file_names, destination_file_names)
        self.delete(source_file_names)

    def exists(self, path: str) -> bool:
        with _LOCK:
            return path in _FILES or any(p.startswith(path.rstrip("/") + "/") for p in _FILES)

    def size(self, path: str) -> int:
        return len(_FILES[path][0])

    def last_updated(self, path: str) -> float:
        return _FILES[path][1]

    def checksum(self, path: str) -> str:
        return str(hash(_FILES[path][0]))

    def metadata(self, path: str) -> FileMetadata:
        data, mtime = _FILES[path]
        return FileMetadata(path, len(data), mtime)

    def delete(self, paths) -> None:
        with _LOCK:
            for path in paths:
                doomed = [p for p in _FILES if p == path or p.startswith(path.rstrip("/") + "/")]
                if not doomed:
                    raise BeamIOError("Delete failed", {path: FileNotFoundError(path)})
                for p in doomed:
                    del _FILES[p]


def _kind(path: str, compression_type: str) -> str:
    if compression_type == CompressionTypes.AUTO:
        return CompressionTypes.detect_compression_type(path)
    return compression_type


def put(path: str, data: bytes) -> None:
    """Writes a file directly (test set-up)."""
    with _LOCK:
        _FILES[path] = (data, time.time())


def get(path: str) -> bytes:
    return _FILES[path][0]
