"""Files on any Beam filesystem: matching patterns, reading, writing, naming.

Everything goes through `apache_beam.io.filesystems.FileSystems`, so local
paths, gs:// and s3:// work the same way. (TFRecord framing is
`beam_ingest.framing`'s.)
"""

from __future__ import annotations

import dataclasses
import os
import posixpath

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from beam_ingest.errors import ConfigError


@dataclasses.dataclass(frozen=True, order=True)
class FileInfo:
    path: str
    size: int
    mtime: float


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
