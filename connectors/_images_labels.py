"""Labels of image files, from class folders, a regex or a manifest (for `ReadImages`).

Each image is an `Item` named by its path relative to the root (`relative`,
`/`-separated). `label_items` gives each item its label and the label's id
in the vocabulary: the parent folder's name (`folder`), the group of a regex
searched for in the name (`pattern`), or a manifest's row (`manifest`: a CSV
file with a header, or JSONL). The vocabulary is the sorted labels found
(for a manifest: of every row with one), or `classes` when pinned. A label
that is empty, has a line break or is outside `classes`, and an image the
manifest does not list, make the item a bad record (`problem` set); so do
manifest rows that name no matched image, or one named before.
"""

from __future__ import annotations

import csv
import io
import json
import os
import posixpath
import re
from collections.abc import Sequence
from typing import NamedTuple

from apache_beam.io.filesystems import FileSystems

from beam_ingest.errors import ConfigError
from beam_ingest.files import is_local

__all__ = ["Item", "label_items", "label_problem", "pattern_root", "relative"]

_PATH_KEYS, _LABEL_KEYS = ("path", "filename", "file"), ("label", "class")


class Item(NamedTuple):
    """One record: an image to read, or (`problem` set) a bad record known already."""

    path: str
    name: str = ""
    size: int = 0
    label: int = -1
    text: str = ""
    problem: str = ""
    record: int = 0
    raw: str = ""


def label_problem(text: object) -> str:
    """Why `text` cannot be a label (one line of labels.txt), or ""."""
    if not isinstance(text, str) or not text:
        return "empty label"
    if "\n" in text or "\r" in text:
        return f"label {text!r} has a line break (labels.txt holds one label a line)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return f"label {text!r} is not valid UTF-8"
    return ""


def pattern_root(pattern: str) -> str:
    """The longest folder prefix of the pattern before any glob character."""
    match = re.search(r"[*?\[]", pattern)
    prefix = pattern[: match.start()] if match else pattern
    if "/" not in prefix:
        return "."
    root = prefix.rsplit("/", 1)[0]
    return root + "/" if root.endswith(":/") or not root else root  # gs:// or /


def relative(path: str, root: str) -> str | None:
    """`path` relative to `root` with `/` separators, or None if it is not under it."""
    if is_local(path) and is_local(root):
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root)).replace(os.sep, "/")
        return None if rel == ".." or rel.startswith("../") else rel
    prefix = root.rstrip("/") + "/"
    return posixpath.normpath(path[len(prefix) :]) if path.startswith(prefix) else None


def label_items(
    items: list[Item],
    root: str,
    *,
    labels: str,
    label_pattern: str | None,
    manifest: str | None,
    classes: Sequence[str] | None,
) -> tuple[list[Item], list[str]]:
    """The items labelled (or with a problem) plus bad manifest rows; the vocabulary.

    `labels` is the mode: "folder", "pattern", "manifest" or "none".

    Raises:
        ConfigError: the manifest cannot be read or parsed, or lacks a column.
    """
    bad_rows = [i for i in items if i.problem]
    items = [i for i in items if not i.problem]
    if labels == "none":
        return items + bad_rows, []
    if labels == "manifest":
        rows, vocabulary, bad = _read_manifest(manifest, root, {i.name for i in items})
        bad_rows += bad
        found = [rows.get(i.name, ("", "not listed in the manifest")) for i in items]
    else:
        regex = label_pattern if labels == "pattern" else None
        found = [_label_of(i.name, root, regex) for i in items]
        vocabulary = sorted({text for text, problem in found if not problem})
    vocabulary = classes if classes is not None else vocabulary
    ids = {text: n for n, text in enumerate(vocabulary)}
    labelled = []
    for item, (text, problem) in zip(items, found, strict=True):
        if not problem and text not in ids:
            problem = f"label {text!r} is not one of classes"
        labelled.append(item._replace(label=ids.get(text, -1), text=text, problem=problem))
    return labelled + bad_rows, list(vocabulary)


def _label_of(name: str, root: str, label_pattern: str | None) -> tuple[str, str]:
    """(label, problem) of one image: the regex's group, or (no regex) its folder's name."""
    if label_pattern is None:
        folder = posixpath.basename(posixpath.dirname(name))
        if not folder:
            return "", f"no class folder: the image is directly under {root!r} (image_root)"
        return folder, label_problem(folder)
    match = re.search(label_pattern, name)
    if match is None:
        return "", f"{name!r} does not match label_pattern {label_pattern!r}"
    return match.group(1) or "", label_problem(match.group(1))


def _read_manifest(
    path: str, root: str, names: set[str]
) -> tuple[dict[str, tuple[str, str]], list[str], list[Item]]:
    """{image name: (label, problem)}, the sorted labels of every row with one, and
    the rows that name no matched image (or one named before) as bad records.

    Raises:
        ConfigError: the manifest cannot be read or parsed, or lacks a column.
    """
    try:
        with FileSystems.open(path) as f:
            text = f.read().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"labels: cannot read the manifest {path!r}: {e}") from e
    if path.lower().removesuffix(".gz").endswith((".jsonl", ".json")):
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            try:
                row = json.loads(line) if line.strip() else None
            except json.JSONDecodeError as e:
                raise ConfigError(f"labels: line {number} of {path!r} is not JSON: {e}") from e
            if line.strip() and not isinstance(row, dict):
                raise ConfigError(f"labels: line {number} of {path!r} is not a JSON object")
            rows += [(number, row, line)] if row is not None else []
        keys = list(rows[0][1]) if rows else []
    else:
        reader = csv.reader(io.StringIO(text, newline=""))
        keys = next(reader, [])
        rows = [(reader.line_num, dict(zip(keys, cells, strict=False)), ",".join(cells))
                for cells in reader if cells]  # fmt: skip
    path_key = next((k for k in _PATH_KEYS if k in keys), None)
    label_key = next((k for k in _LABEL_KEYS if k in keys), None)
    if path_key is None or label_key is None:
        raise ConfigError(
            f"labels: the manifest {path!r} needs a path column (one of {_PATH_KEYS}) and "
            f"a label column (one of {_LABEL_KEYS}); it has {keys}"
        )
    found: dict[str, tuple[str, str]] = {}
    lines: dict[str, int] = {}
    labels: set[str] = set()
    bad: list[Item] = []
    for line, row, raw in rows:
        file, value = row.get(path_key), row.get(label_key)
        value = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
        labels |= set() if label_problem(value) else {value}
        name = file if isinstance(file, str) and file else None
        if name is not None:
            absolute = "://" in name or os.path.isabs(name)
            name = relative(name, root) if absolute else posixpath.normpath(name)
        problem = ""
        if name is None:
            problem = f"no path under {root!r} in column {path_key!r}"
        elif name in lines:
            problem = f"{file!r} is listed on line {lines[name]} already"
        elif name not in names:
            problem = f"{file!r}: no image matched by the input pattern has this path"
        else:
            found[name] = (value, label_problem(value))
        if problem:
            bad.append(Item(path, problem=f"manifest: {problem}", record=line, raw=raw))
        lines.setdefault(name, line)
    return found, sorted(labels), bad
