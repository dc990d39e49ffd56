"""Files on any Beam filesystem: matching patterns, reading, writing, naming.

Everything goes through `apache_beam.io.filesystems.FileSystems`, so local
paths, gs:// and s3:// work the same way. (TFRecord framing is
`beam_ingest.framing`'s.)
"""

from __future__ import annotations

import bz2
import dataclasses
import fnmatch
import gzip
import io
import os
import posixpath
import zlib

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from beam_ingest.errors import ConfigError, DataError


@dataclasses.dataclass(frozen=True, order=True)
class FileInfo:
    path: str
    size: int
    mtime: float


@dataclasses.dataclass(frozen=True)
class Matched:
    """What an input resolved to: the files read, and the files of a folder
    that were not (markers, hidden files, other extensions)."""

    files: list[FileInfo]
    skipped: list[str] = dataclasses.field(default_factory=list)


#: Files in a folder that are never data: Hadoop, Spark and Beam markers.
MARKER_SUFFIXES = (".crc",)
_GLOB_CHARS = ("*", "?", "[")


def is_folder(pattern: str) -> bool:
    """True if `pattern` names a folder (local), or ends with `/` or names
    a prefix with files under it and no file of its own (gs://, s3://)."""
    if is_local(pattern):
        return os.path.isdir(pattern)
    if pattern.endswith("/"):
        return True
    if any(c in pattern for c in _GLOB_CHARS):
        return False
    try:
        if FileSystems.match([pattern])[0].metadata_list:
            return False
        return bool(FileSystems.match([pattern + "/**"], limits=[1])[0].metadata_list)
    except Exception:  # noqa: BLE001 - any Beam filesystem's error: not a folder
        return False


def is_marker(relative_path: str) -> bool:
    """A path under an input folder that is not data: any part hidden (`.x`)
    or a marker (`_SUCCESS`, `_committed_*`, `_temporary/`), or a checksum
    file (`.x.crc`), as Hadoop's and Spark's input formats skip them."""
    parts = relative_path.replace(os.sep, "/").split("/")
    return any(p.startswith((".", "_")) for p in parts) or parts[-1].endswith(MARKER_SUFFIXES)


def match_input(
    pattern: str,
    *,
    argument: str = "input",
    extensions: tuple[str, ...] = (),
    names: tuple[str, ...] = (),
    what: str = "input",
) -> Matched:
    """The files of an input: a glob (`match_files`), or a folder.

    A folder means every file under it, recursively, whose extension (after
    a `.gz`/`.bz2` suffix) is one of `extensions` or whose name matches one
    of the `names` globs; markers (`is_marker`) and other files are skipped
    and listed in `Matched.skipped`.

    Raises:
        ConfigError: as `match_files`; a folder holding no such file (the
            message names the extensions looked for).
    """
    if not is_folder(pattern):
        return Matched(match_files(pattern, argument=argument))
    if not extensions and not names:
        match_files(pattern, argument=argument)  # raises: a folder needs a format
    folder = pattern.rstrip("/") or pattern
    listing = folder + "/**"
    try:
        listed = FileSystems.match([listing])[0].metadata_list
    except Exception as e:
        raise ConfigError(f"{argument}: cannot list the folder {pattern!r}: {e}") from e
    keep, skipped = [], []
    for m in listed:
        relative = m.path[len(folder) :].lstrip("/" + os.sep)
        name = posixpath.basename(relative.replace(os.sep, "/"))
        wanted = extension_of(name) in extensions or any(fnmatch.fnmatch(name, g) for g in names)
        if wanted and not is_marker(relative):
            keep.append(FileInfo(m.path, m.size_in_bytes, m.last_updated_in_seconds))
        else:
            skipped.append(m.path)
    if not keep:
        looked = ", ".join(extensions + names)
        more = f"; {len(skipped)} other files skipped, e.g. {skipped[0]!r}" if skipped else ""
        raise ConfigError(
            f"{argument}: the folder {pattern!r} holds no {what} file ({looked}, "
            f"optionally .gz or .bz2){more}"
        )
    keep.sort(key=lambda info: info.path)
    if is_local(folder):
        _check_local(listing, keep, argument)
    return Matched(keep, sorted(skipped))


def extension_of(path: str) -> str:
    """A file's extension for format purposes: lower-case, after .gz/.bz2."""
    name = posixpath.basename(path.replace(os.sep, "/")).lower()
    for suffix in (".gz", ".bz2"):
        name = name.removesuffix(suffix)
    return os.path.splitext(name)[1]


def match_files(pattern: str, *, argument: str = "input") -> list[FileInfo]:
    """Files matching a glob, sorted by path (the order is part of determinism).

    Messages start with `argument` (the parameter that gave the pattern).

    On local paths nothing matched is dropped silently: a pattern that names
    a folder, a broken symbolic link among the matches (Beam's listing skips
    them) or a file that cannot be read is a `ConfigError`. Folders matched by
    a glob are not files and are not listed.

    Raises:
        ConfigError: the pattern is malformed or matches no file; on local
            paths also the cases above.
    """
    if is_local(pattern) and os.path.isdir(pattern):
        raise ConfigError(
            f"{argument}: {pattern!r} is a folder; give a pattern of files, "
            f"e.g. {os.path.join(pattern, '*')!r}"
        )
    try:
        results = FileSystems.match([pattern])
    except Exception as e:
        raise ConfigError(f"{argument}: cannot match {pattern!r}: {e}") from e
    infos = sorted(
        (
            FileInfo(m.path, m.size_in_bytes, m.last_updated_in_seconds)
            for m in results[0].metadata_list
        ),
        key=lambda info: info.path,
    )
    if not infos:
        raise ConfigError(f"{argument}: no file matches {pattern!r}")
    if is_local(pattern):
        _check_local(pattern, infos, argument)
    return infos


def _check_local(pattern: str, infos: list[FileInfo], argument: str) -> None:
    """Broken symbolic links the pattern matches, and files that cannot be read."""
    from apache_beam.io.filesystem import FileMetadata

    prefix = pattern.split("*")[0].split("?")[0].split("[")[0]
    folder = os.path.dirname(prefix) or "."
    broken = [  # as Beam lists (os.walk of the folder before the first glob character)
        os.path.join(root, name)
        for root, _, names in (os.walk(folder) if prefix != pattern else ())
        for name in names
        if not os.path.exists(os.path.join(root, name))
    ]
    if broken:
        fs = FileSystems.get_filesystem(pattern)
        listed = [FileMetadata(path, 0, 0) for path in sorted(broken)]
        for match in fs.match_files(listed, pattern):
            raise ConfigError(
                f"{argument}: {match.path!r} is a broken symbolic link "
                f"(to {os.readlink(match.path)!r}); remove it or fix its target"
            )
    for info in infos:
        try:
            with open(info.path, "rb") as f:
                f.read(1)
        except OSError as e:
            raise ConfigError(f"{argument}: cannot read {info.path!r}: {e}") from e


def join(base: str, *parts: str) -> str:
    return FileSystems.join(base, *parts)


def is_local(path: str) -> bool:
    return "://" not in path


def exists(path: str) -> bool:
    return FileSystems.exists(path)


def list_dir(path: str) -> list[str]:
    """Paths directly or indirectly under a folder (files only, sorted)."""
    pattern = path.rstrip("/") + "/**"
    try:
        return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    except OSError:  # BeamIOError: a missing folder lists as empty
        return []


def basename(path: str) -> str:
    return posixpath.basename(path.rstrip("/"))


def open_input(path: str) -> io.BufferedIOBase:
    """A file of any Beam filesystem, decompressed by its extension (`.gz`,
    `.bz2`), read as Python's gzip and bz2 modules read: a stream cut short
    or corrupt raises `DataError` naming the file, where Beam's own
    `CompressedFile` would end quietly and lose the records after the cut.

    Raises:
        OSError: the file cannot be opened.
    """
    raw = FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)
    kind = CompressionTypes.detect_compression_type(path)
    if kind == CompressionTypes.GZIP:
        return io.BufferedReader(_Checked(gzip.GzipFile(fileobj=raw), raw, path, "gzip"))
    if kind == CompressionTypes.BZIP2:
        return io.BufferedReader(_Checked(bz2.BZ2File(raw), raw, path, "bzip2"))
    return raw


class _Checked(io.RawIOBase):
    """A decompressing reader whose errors name the file and the offset."""

    def __init__(self, inner, raw, path: str, kind: str) -> None:
        self._inner, self._raw, self._path, self._kind = inner, raw, path, kind
        self._at = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self._inner.read(len(buffer))
        except EOFError as e:
            raise DataError(
                f"{self._path}: the {self._kind} stream ends early: the file is truncated "
                f"(cut after about {self._at:,} bytes of data); the run stops rather than "
                "lose the records after the cut"
            ) from e
        except (OSError, ValueError, zlib.error) as e:
            raise DataError(
                f"{self._path}: not readable as {self._kind} (the name ends in "
                f".{'gz' if self._kind == 'gzip' else 'bz2'}), after about {self._at:,} bytes "
                f"of data: {e}"
            ) from e
        buffer[: len(data)] = data
        self._at += len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
            self._raw.close()
        super().close()


def write_bytes(path: str, data: bytes) -> None:
    with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        f.write(data)


def read_bytes(path: str) -> bytes:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        return f.read()


def delete_tree(path: str) -> None:
    """Deletes a folder and everything in it; a missing folder is fine."""
    if FileSystems.exists(path):
        FileSystems.delete([path])


def shard_name(prefix: str, index: int, total: int, suffix: str) -> str:
    """`prefix-SSSSS-of-NNNNN suffix`, the names Beam and TFX write."""
    return f"{prefix}-{index:05d}-of-{total:05d}{suffix}"


def __getattr__(name: str):
    """Deprecated aliases, kept for one release: TFRecord framing moved to
    `beam_ingest.framing` (`frame_records`, `read_records`)."""
    if name in ("frame_records", "read_records"):
        import warnings

        from beam_ingest import framing

        warnings.warn(
            f"beam_ingest.files.{name} moved to beam_ingest.framing.{name}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(framing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
