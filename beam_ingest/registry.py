"""The dataset registry: named, immutable entries of data files on any Beam filesystem.

Layout under the root (a local folder, `gs://...` or `s3://...`):

```
ROOT/klue_sts/v3_1-train/manifest.json   name, format, files (size, sha256),
                                         records, schema, options, created, ...
ROOT/klue_sts/v3_1-train/files/...       the pushed files
ROOT/.staging/...                        pushes in progress (local roots)
```

An entry exists exactly when its `manifest.json` does: the manifest is
written last. On a local root a push assembles the whole entry, manifest
included, in a hidden staging folder and publishes it with one `rename(2)`,
which fails when the entry folder exists and is not empty: two pushes of the
same name at once cannot both win, and a push that dies leaves only staging
debris, never an entry. Object stores have no rename: files are copied into
the entry folder and the manifest is written last, so a push that dies leaves
files without a manifest (no entry; a later push of the name replaces them).
Two pushes of the *same* name at the same moment on an object store are not
detected (Beam's filesystems offer no create-if-absent); the last manifest
wins. Pushes of different names never share a path.

Listing resolves a glob (or a `{SPAN}`/`{VERSION}` pattern) against entry
names with one `FileSystems.match` of `ROOT/<glob>/manifest.json`, whatever
the number of entries.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import re
import uuid
from collections.abc import Mapping, Sequence

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from beam_ingest import files as fs
from beam_ingest import formats
from beam_ingest.errors import ConfigError, DataError
from beam_ingest.files import FileInfo
from beam_ingest.registry_entry import (
    FILES,
    MANIFEST,
    Entry,
    EntryFile,
    check_name,
    default_root,
    is_entry_name,
)
from beam_ingest.registry_formats import normalize_options, profile

__all__ = ["Entry", "EntryFile", "Registry", "default_root"]

_STAGING = ".staging"
_CHUNK = 1 << 20


class Registry:
    """A registry on any Beam filesystem: `push`, `ls`, `show`, `delete`, `resolve`.

    Args:
        root: the registry's folder or prefix; None: `default_root()`.

    Raises:
        ConfigError: the root is not a non-empty string.
    """

    def __init__(self, root: str | None = None) -> None:
        root = default_root() if root is None else root
        if not isinstance(root, str) or not root.strip():
            raise ConfigError(f"--registry: must be a folder or URI prefix; got {root!r}")
        self.root = os.path.abspath(os.path.expanduser(root)) if fs.is_local(root) else root
        self.root = self.root.rstrip("/") or "/"

    def __repr__(self) -> str:
        return f"Registry({self.root!r})"

    # --- paths -------------------------------------------------------------

    def entry_dir(self, name: str) -> str:
        return f"{self.root}/{check_name(name)}"

    def file_path(self, entry: Entry, file: EntryFile) -> str:
        return f"{self.entry_dir(entry.name)}/{FILES}/{file.name}"

    def _manifest(self, name: str) -> str:
        return f"{self.entry_dir(name)}/{MANIFEST}"

    # --- reading -----------------------------------------------------------

    def list_entries(self, glob: str) -> list[FileInfo]:
        """Entries whose names match a Beam glob (`*` within a part, `**`
        across parts), as FileInfo(name, manifest size, manifest mtime),
        sorted by name. One `FileSystems.match` call.

        Raises:
            ConfigError: the root cannot be listed.
        """
        pattern = f"{self.root}/{glob}/{MANIFEST}"
        try:
            found = FileSystems.match([pattern])[0].metadata_list
        except Exception as e:
            raise ConfigError(f"--registry: cannot list {pattern!r}: {e}") from e
        start, end = len(self.root) + 1, -len(MANIFEST) - 1
        entries = []
        for m in found:
            name = m.path[start:end]
            if is_entry_name(name):
                entries.append(FileInfo(name, m.size_in_bytes, m.last_updated_in_seconds))
        return sorted(entries, key=lambda info: info.path)

    def ls(self, pattern: str = "**") -> list[str]:
        """Names of the entries matching a glob or a span/version pattern
        (every span and version that parses, not only the latest).

        Raises:
            ConfigError: a malformed pattern, or a name the pattern's specs do
                not parse as numbers.
        """
        from beam_ingest.spans import parse_pattern

        spec = parse_pattern(pattern)
        names = [e.path for e in self.list_entries(spec.glob())]
        if not spec.has_span:
            return names
        regex = spec.regex()
        return [n for n in names if _parses(spec, n, regex)]

    def exists(self, name: str) -> bool:
        return FileSystems.exists(self._manifest(name))

    def show(self, name: str) -> Entry:
        """The manifest of an entry.

        Raises:
            ConfigError: a bad name or no such entry.
            DataError: the manifest is not valid.
        """
        path = self._manifest(name)
        try:
            data = fs.read_bytes(path)
        except Exception as e:
            if not FileSystems.exists(path):
                raise ConfigError(
                    f"registry: no entry {name!r} in {self.root!r} (see `beam-ingest registry ls`)"
                ) from None
            raise DataError(f"registry: cannot read {path!r}: {e}") from e
        try:
            return Entry.from_json(json.loads(data), repr(path))
        except json.JSONDecodeError as e:
            raise DataError(f"registry: {path!r} is not valid JSON: {e}") from e

    def resolve(
        self,
        pattern: str,
        *,
        span: int | None = None,
        span_range: tuple[int, int] | None = None,
        last_spans: int | None = None,
    ) -> tuple[list[Entry], dict]:
        """The entries a pattern selects, with the span rules of `beam_ingest.spans`.

        Returns:
            The entries (ascending span, then name), and what was selected
            (span, spans, version) for the report.

        Raises:
            ConfigError: a bad pattern or selection, or no entry matches.
        """
        from beam_ingest.spans import resolve

        def list_names(glob: str) -> list[FileInfo]:
            found = self.list_entries(glob)
            if not found:
                raise ConfigError(
                    f"--input: no entry of registry {self.root!r} matches {pattern!r} "
                    f"(glob {glob!r}); see `beam-ingest registry ls`"
                )
            return found

        resolution = resolve(
            {"all": pattern},
            span=span,
            span_range=span_range,
            last_spans=last_spans,
            list_files=list_names,
        )
        split = resolution.splits[0]
        names = [f.path for f in split.files]
        if split.spec.has_span:  # by span, then name
            regex = split.spec.regex()
            names.sort(key=lambda n: (split.spec.parse(n, regex)[1], n))
        entries = [self.show(name) for name in names]
        selected = {
            "span": resolution.span,
            "spans": list(resolution.spans),
            "version": resolution.version,
        }
        return entries, selected

    # --- writing -----------------------------------------------------------

    def push(
        self,
        name: str,
        paths: Sequence[str],
        *,
        format: str,
        options: Mapping[str, object] | None = None,
        description: str = "",
        tags: Sequence[str] = (),
    ) -> Entry:
        """Copies files into a new entry; the manifest is written last.

        Args:
            name: the entry's name, e.g. `klue_sts/v3_1-train`.
            paths: files, folders (every file under them, relative paths
                kept, e.g. image class folders) or globs, on any Beam filesystem.
            format: a format of the format table (`beam_ingest.formats`).
            options: the format's options (CSV dialect, Parquet columns, ...).
            description: free text.
            tags: free-form labels.

        Raises:
            ConfigError: a bad name, format or option, files that do not exist
                or that the format's connector would refuse, an entry of that
                name exists (entries are immutable), or the name is a folder of
                other entries or inside one.
        """
        check_name(name)
        formats.get(format)
        options = normalize_options(format, options)
        if not isinstance(description, str):
            raise ConfigError(f"--description: must be a string; got {description!r}")
        tags = tuple(tags)
        if not all(isinstance(t, str) and t for t in tags):
            raise ConfigError(f"--tag: tags must be non-empty strings; got {list(tags)!r}")
        sources = _expand(paths)
        self._check_free(name)
        local = fs.is_local(self.root)
        target = f"{self.root}/{_STAGING}/{uuid.uuid4().hex}" if local else self.entry_dir(name)
        written: list[str] = []
        try:
            copied = []
            for source, relative in sources:
                destination = f"{target}/{FILES}/{relative}"
                written.append(destination)
                copied.append(_copy(source, destination, relative))
            records, schema = profile(format, written, options)
            entry = Entry(
                name=name,
                format=format,
                files=tuple(copied),
                records=records,
                schema=schema,
                options=options,
                created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                description=description,
                tags=tags,
            )
            manifest = json.dumps(entry.to_json(), indent=2).encode()
            if local:
                fs.write_bytes(f"{target}/{MANIFEST}", manifest)
                self._publish_local(name, target)
            else:
                if self.exists(name):  # pushed meanwhile; see the module docstring
                    raise ConfigError(f"registry: entry {name!r} exists; entries are immutable")
                fs.write_bytes(self._manifest(name), manifest)
        except BaseException:
            if local:
                fs.delete_tree(target)
            elif not self.exists(name):
                _delete_quietly(written)
            raise
        return entry

    def delete(self, name: str) -> Entry:
        """Deletes an entry: first its manifest (it no longer exists), then its files.

        Raises:
            ConfigError: no such entry.
        """
        entry = self.show(name)
        folder = self.entry_dir(name)
        if fs.is_local(self.root):
            # One rename takes the whole entry away at once.
            aside = f"{self.root}/{_STAGING}/deleted-{uuid.uuid4().hex}"
            os.makedirs(os.path.dirname(aside), exist_ok=True)
            os.rename(folder, aside)
            fs.delete_tree(aside)
        else:
            FileSystems.delete([self._manifest(name)])
            _delete_quietly(fs.list_dir(f"{folder}/{FILES}"))
        return entry

    def _check_free(self, name: str) -> None:
        if self.exists(name):
            raise ConfigError(
                f"registry: entry {name!r} exists in {self.root!r}; entries are immutable "
                "(push a new version, or delete it first)"
            )
        parts = name.split("/")
        for i in range(1, len(parts)):
            if self.exists("/".join(parts[:i])):
                raise ConfigError(
                    f"registry: {name!r} would be inside the entry {'/'.join(parts[:i])!r}"
                )
        inside = self.list_entries(f"{name}/**")
        if inside:
            raise ConfigError(
                f"registry: {name!r} is a folder of other entries, e.g. {inside[0].path!r}"
            )

    def _publish_local(self, name: str, staged: str) -> None:
        folder = self.entry_dir(name)
        os.makedirs(os.path.dirname(folder), exist_ok=True)
        for attempt in (1, 2):
            try:
                os.rename(staged, folder)  # fails if the folder exists and is not empty
                return
            except OSError as e:
                if self.exists(name):
                    raise ConfigError(
                        f"registry: entry {name!r} was pushed by someone else meanwhile; "
                        "entries are immutable"
                    ) from e
                if attempt == 2 or self.list_entries(f"{name}/**"):
                    raise ConfigError(f"registry: cannot publish {name!r}: {e}") from e
                # Debris of a delete that was interrupted: no manifest, no entry.
                fs.delete_tree(folder)


def _parses(spec, name: str, regex: re.Pattern[str]) -> bool:
    try:
        spec.parse(name, regex)
    except ConfigError:
        return False
    return True


def _expand(paths: Sequence[str]) -> list[tuple[str, str]]:
    """(source path, name under files/) of every file to push, sorted by name.

    Raises:
        ConfigError: nothing given, a path that matches nothing, or two files
            with the same name.
    """
    if isinstance(paths, str) or not paths:
        raise ConfigError(f"registry push: give one or more files; got {paths!r}")
    found: dict[str, str] = {}
    for path in paths:
        if not isinstance(path, str) or not path:
            raise ConfigError(f"registry push: a file must be a non-empty path; got {path!r}")
        if re.search(r"[*?[]", path):
            base = re.match(r"[^*?[]*", path).group(0).rpartition("/")[0]
            matched = [m.path for m in fs.match_files(path, argument="registry push")]
        elif fs.is_local(path) and os.path.isdir(path):
            base, matched = path.rstrip("/"), fs.list_dir(path)
        elif FileSystems.exists(path):
            base, matched = path.rpartition("/")[0], [path]
        elif not fs.is_local(path) and fs.list_dir(path):
            base, matched = path.rstrip("/"), fs.list_dir(path)
        else:
            raise ConfigError(f"registry push: {path!r} does not exist")
        if not matched:
            raise ConfigError(f"registry push: {path!r} holds no file")
        for source in matched:
            source_abs = os.path.abspath(source) if fs.is_local(source) else source
            base_abs = os.path.abspath(base or ".") if fs.is_local(source) else base
            relative = source_abs[len(base_abs.rstrip("/")) + 1 :]
            if relative in found and found[relative] != source_abs:
                raise ConfigError(
                    f"registry push: two files would be named {relative!r} in the entry: "
                    f"{found[relative]!r} and {source_abs!r}"
                )
            found[relative] = source_abs
    return sorted(((source, relative) for relative, source in found.items()), key=lambda x: x[1])


def _copy(source: str, destination: str, relative: str) -> EntryFile:
    digest, size = hashlib.sha256(), 0
    try:
        with (
            FileSystems.open(source, compression_type=CompressionTypes.UNCOMPRESSED) as f,
            FileSystems.create(destination, compression_type=CompressionTypes.UNCOMPRESSED) as out,
        ):
            while chunk := f.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
    except OSError as e:
        raise ConfigError(f"registry push: cannot copy {source!r}: {e}") from e
    return EntryFile(relative, size, digest.hexdigest())


def file_digest(path: str) -> tuple[int, str]:
    """(size, sha256 hex) of a file on any Beam filesystem."""
    digest, size = hashlib.sha256(), 0
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _delete_quietly(paths: list[str]) -> None:
    # Cleanup after a failure: that failure is what matters, not this one's.
    with contextlib.suppress(Exception):
        FileSystems.delete([p for p in paths if FileSystems.exists(p)])
