"""A registry entry's manifest: `Entry`, `EntryFile`, and entry names.

`manifest.json` holds an entry's name, format, files (size, sha256), record
count, schema, the format's options, when it was created, a description and
tags. An entry exists exactly when its manifest does.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping

from beam_ingest.errors import ConfigError, DataError
from beam_ingest.schema import Kind, Schema

__all__ = ["FILES", "MANIFEST", "Entry", "EntryFile", "check_name", "default_root", "is_entry_name"]

MANIFEST = "manifest.json"
FILES = "files"
_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=+-]*\Z")
_RESERVED = (FILES, MANIFEST)


def default_root() -> str:
    """`$BEAM_INGEST_REGISTRY`, else `~/.beam_ingest/registry`."""
    return os.environ.get("BEAM_INGEST_REGISTRY") or os.path.expanduser("~/.beam_ingest/registry")


@dataclasses.dataclass(frozen=True)
class EntryFile:
    """One file of an entry: its path under `files/`, size and sha256 (hex)."""

    name: str
    size: int
    sha256: str


@dataclasses.dataclass(frozen=True, kw_only=True)
class Entry:
    """An entry's manifest."""

    name: str
    format: str
    files: tuple[EntryFile, ...]
    records: int
    schema: Schema
    options: Mapping[str, object]
    created: str  # ISO 8601, UTC
    description: str = ""
    tags: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "format": self.format,
            "files": [dataclasses.asdict(f) for f in self.files],
            "records": self.records,
            "schema": self.schema.to_dict(),
            "options": dict(self.options),
            "created": self.created,
            "description": self.description,
            "tags": list(self.tags),
        }

    @classmethod
    def from_json(cls, data: Mapping, where: str) -> Entry:
        """The manifest's JSON as an Entry.

        Raises:
            DataError: fields are missing or of the wrong type.
        """
        try:
            return cls(
                name=data["name"],
                format=data["format"],
                files=tuple(
                    EntryFile(f["name"], int(f["size"]), f["sha256"]) for f in data["files"]
                ),
                records=int(data["records"]),
                schema=Schema.from_kinds((n, Kind[k.upper()]) for n, k in data["schema"].items()),
                options=dict(data["options"]),
                created=data["created"],
                description=data.get("description", ""),
                tags=tuple(data.get("tags", ())),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise DataError(f"registry: {where} is not a valid manifest: {e!r}") from e


def is_entry_name(name: str) -> bool:
    """Whether `name` is a valid entry name (see `check_name`)."""
    return all(_PART.match(p) and p not in _RESERVED for p in name.split("/"))


def check_name(name: object) -> str:
    """An entry name: parts of `A-Z a-z 0-9 _ . = + -` joined by `/`.

    Raises:
        ConfigError: an empty part, `..`, a part starting with `.` or `-`, a
            character outside the set, or a reserved part (`files`, `manifest.json`).
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"registry: an entry name must be a non-empty string; got {name!r}")
    for part in name.split("/"):
        if not _PART.match(part) or part in _RESERVED:
            raise ConfigError(
                f"registry: entry name {name!r} has the part {part!r}; parts are non-empty, "
                "start with a letter, digit or _, hold only letters, digits and _ . = + -, "
                f"and are not {' or '.join(_RESERVED)} (e.g. 'klue_sts/v3_1-train')"
            )
    return name
