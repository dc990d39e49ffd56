"""Image files to Arrow RecordBatches: `ReadImages`.

One example per image (JPEG, PNG, GIF, BMP, WebP, TIFF, as Pillow reads them):
`image/encoded` (the file's bytes, unchanged), `image/format` (`jpeg`, `png`,
`gif`, `bmp`, `webp`, `tiff`), `image/height` and `image/width` (from the
header; EXIF orientation is not applied, nor does `tf.io.decode_image` apply
it), `image/channels`, `image/filename` (the path relative to the input root,
`/`-separated) and, with labels, `image/class/label` (the label's index in the
vocabulary) and `image/class/text` (the label).

`image/channels` is the last dimension `tf.io.decode_image` returns: GIF 3;
JPEG 1 for grayscale, else 3 (CMYK comes out as RGB); BMP its bytes per pixel
at 8, 24 and 32 bits (an 8-bit paletted BMP's indices come out as one channel);
else the bands of Pillow's mode, a palette counting as RGB, or RGBA when it has
transparency. TensorFlow cannot decode TIFF: there the same mode rule holds
(CMYK 4, I and F 1).

Only the header is parsed (`PIL.Image.open` is lazy) unless `verify=True`,
which decodes every frame to catch truncated or corrupt data. Without it, a
PNG without its IEND chunk or a JPEG without an end-of-image marker after its
last scan is a bad record (truncated; a cheap check of the bytes, no decode).
An image above Pillow's decompression-bomb limit (`PIL.Image.MAX_IMAGE_PIXELS`,
read as each image is opened; its warning range included) is a bad record.

Work units are groups of files (up to 256 files or 64 MiB, by the sizes the
match returned), each giving one RecordBatch; a bigger file is a unit of its
own, read once and not copied into the batch. Labels and the vocabulary are
decided when the pipeline is built, from the matched paths or the manifest.
Matched files whose extension is not an image's are skipped: listed in
`skipped` and the report, not counted as records read.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import posixpath
import re
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from PIL import Image, ImageSequence, UnidentifiedImageError

from beam_ingest.bad_records import BadRecord
from beam_ingest.connectors._outputs import source_outputs
from beam_ingest.errors import ConfigError
from beam_ingest.files import FileInfo, is_local, match_files
from beam_ingest.schema import Kind, Schema

__all__ = ["ReadImages"]

_NAMESPACE = "beam_ingest"
_BATCH_FILES = 256
_BATCH_BYTES = 64 << 20
_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".gif", ".bmp", ".webp")
_EXTENSIONS += (".tif", ".tiff")
_OPEN = ["JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF"]  # Pillow opens no other format
_FORMATS = {name: name.lower() for name in _OPEN} | {"MPO": "jpeg"}  # JPEG opens MPO files
_MODES = ("folder", "pattern", "manifest", "none")
_PATH_KEYS, _LABEL_KEYS = ("path", "filename", "file"), ("label", "class")
_COLUMNS = [(f"image/{n}", Kind.BYTES) for n in ("encoded", "format")]
_COLUMNS += [(f"image/{n}", Kind.INT) for n in ("height", "width", "channels")]
_COLUMNS += [("image/filename", Kind.BYTES)]
_LABEL_COLUMNS = [("image/class/label", Kind.INT), ("image/class/text", Kind.BYTES)]


class _Item(NamedTuple):
    """One record: an image to read, or (`problem` set) a bad record known already."""

    path: str
    name: str = ""
    size: int = 0
    label: int = -1
    text: str = ""
    problem: str = ""
    record: int = 0
    raw: str = ""


class ReadImages(beam.PTransform):
    """Reads image files into `pyarrow.RecordBatch`es, one row per image.

    Returns a dict of PCollections: `records` (RecordBatches), `bad_records`
    (`BadRecord`), `counts` (`(file, records read)`) and `schema` (one `Schema`).
    After expansion, `files` holds the images, `skipped` the matched paths that
    are not images by extension, and `vocabulary` the labels in id order.

    Args:
        file_pattern: a glob on any Beam filesystem, e.g. `data/**`.
        root: the folder `image/filename` is relative to; None takes the
            pattern's longest folder prefix before any glob character.
        labels: `folder` (the parent folder's name), `pattern` (the group of
            `label_pattern` searched for in the relative path), `manifest`, or
            `none`. None: `pattern` with a label_pattern, `manifest` with a
            manifest, else `folder`.
        label_pattern: a regex with exactly one group.
        manifest: a CSV file with a header, or JSONL (`.jsonl`, `.json`), with a
            path column (`path`, `filename` or `file`; relative to the root, or
            absolute under it) and a label column (`label` or `class`). It is
            read when the pipeline is built; its labels make the vocabulary.
        classes: the vocabulary in id order (e.g. an earlier run's labels.txt),
            so ids stay the same across runs; a label outside it is a bad
            record. None: the sorted labels found.
        verify: decode every image fully to catch truncated or corrupt data.

    Raises:
        ConfigError: a bad argument here; when the pipeline is built: no file
            matches, none is an image, an image is outside the root, or the
            manifest cannot be read or lacks its columns.
    """

    def __init__(
        self,
        file_pattern: str,
        *,
        root: str | None = None,
        labels: str | None = None,
        label_pattern: str | None = None,
        manifest: str | None = None,
        classes: Sequence[str] | None = None,
        verify: bool = False,
        label: str | None = None,
    ) -> None:
        super().__init__(label)
        if not isinstance(file_pattern, str) or not file_pattern:
            raise ConfigError(f"--input: must be a non-empty pattern; got {file_pattern!r}")
        if root is not None and (not isinstance(root, str) or not root):
            raise ConfigError(f"--image-root: must be a non-empty path; got {root!r}")
        if labels is None:
            labels = "manifest" if manifest is not None else "folder"
            labels = "pattern" if label_pattern is not None else labels
        if labels not in _MODES:
            raise ConfigError(f"ReadImages: labels must be one of {_MODES}; got {labels!r}")
        for flag, mode, value in (("--label-pattern", "pattern", label_pattern),
                                  ("--labels", "manifest", manifest)):  # fmt: skip
            if (labels == mode) != (value is not None):
                raise ConfigError(
                    f"{flag}: needed with labels={mode!r} and only then; got {value!r} with "
                    f"labels={labels!r}"
                )
        if label_pattern is not None:
            try:
                groups = re.compile(label_pattern).groups
            except (re.error, TypeError) as e:
                raise ConfigError(f"--label-pattern: {label_pattern!r} is not a regex: {e}") from e
            if groups != 1:
                raise ConfigError(
                    f"--label-pattern: {label_pattern!r} must have exactly one group; has {groups}"
                )
        if classes is not None and (
            labels == "none"
            or isinstance(classes, str | bytes)
            or not isinstance(classes, Sequence)
            or not classes
            or any(_label_problem(c) for c in classes)
            or len(set(classes)) != len(classes)
        ):
            raise ConfigError(
                "--classes: must be a non-empty list of distinct labels without line breaks, "
                f"and labels other than 'none'; got {classes!r} with labels={labels!r}"
            )
        if not isinstance(verify, bool):
            raise ConfigError(f"--verify-images: must be True or False; got {verify!r}")
        self.file_pattern, self.root, self.labels = file_pattern, root, labels
        self.label_pattern, self.manifest, self.verify = label_pattern, manifest, verify
        self.classes = list(classes) if classes is not None else None
        self.files: list[FileInfo] = []
        self.skipped: list[str] = []
        self.vocabulary: list[str] = []

    def expand(self, pbegin: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        matched = match_files(self.file_pattern)
        self.files = [f for f in matched if f.path.lower().endswith(_EXTENSIONS)]
        self.skipped = [_shown(f.path) for f in matched if not f.path.lower().endswith(_EXTENSIONS)]
        if not self.files:
            raise ConfigError(
                f"--input: {self.file_pattern!r} matches {len(matched)} files but no image "
                f"(extensions {', '.join(_EXTENSIONS)}), e.g. {self.skipped[0]!r}"
            )
        root = self.root if self.root is not None else _pattern_root(self.file_pattern)
        items = []
        for info in self.files:
            name = _relative(info.path, root)
            if name is None:
                raise ConfigError(f"--image-root: {info.path!r} is not under {root!r}")
            if _shown(info.path) != info.path:  # Beam's coders refuse it: a bad record
                items.append(_Item(_shown(info.path), problem="the file name is not valid UTF-8"))
            else:
                items.append(_Item(info.path, name, info.size))
        self.files = [dataclasses.replace(f, path=_shown(f.path)) for f in self.files]
        items, self.vocabulary = self._label(items, root)
        columns = _COLUMNS + (_LABEL_COLUMNS if self.labels != "none" else [])
        read = (
            pbegin
            | "ListImages" >> beam.Create(_units(items))
            | "ReadImages"
            >> beam.ParDo(_ReadImagesFn(columns, self.verify)).with_outputs(
                "bad_records", "counts", main="records"
            )
        )
        return source_outputs(read, pbegin | "Schema" >> beam.Create([Schema.from_kinds(columns)]))

    def _label(self, items: list[_Item], root: str) -> tuple[list[_Item], list[str]]:
        """The items labelled (or with a problem) plus bad manifest rows; the vocabulary."""
        bad_rows = [i for i in items if i.problem]
        items = [i for i in items if not i.problem]
        if self.labels == "none":
            return items + bad_rows, []
        if self.labels == "manifest":
            rows, vocabulary, bad = _read_manifest(self.manifest, root, {i.name for i in items})
            bad_rows += bad
            found = [rows.get(i.name, ("", "not listed in the manifest")) for i in items]
        else:
            found = [self._label_of(i.name, root) for i in items]
            vocabulary = sorted({text for text, problem in found if not problem})
        vocabulary = self.classes if self.classes is not None else vocabulary
        ids = {text: n for n, text in enumerate(vocabulary)}
        labelled = []
        for item, (text, problem) in zip(items, found, strict=True):
            if not problem and text not in ids:
                problem = f"label {text!r} is not one of --classes"
            labelled.append(item._replace(label=ids.get(text, -1), text=text, problem=problem))
        return labelled + bad_rows, list(vocabulary)

    def _label_of(self, name: str, root: str) -> tuple[str, str]:
        if self.labels == "folder":
            folder = posixpath.basename(posixpath.dirname(name))
            if not folder:
                return "", f"no class folder: the image is directly under {root!r} (--image-root)"
            return folder, _label_problem(folder)
        match = re.search(self.label_pattern, name)
        if match is None:
            return "", f"{name!r} does not match --label-pattern {self.label_pattern!r}"
        return match.group(1) or "", _label_problem(match.group(1))

    def extra_outputs(self) -> tuple[dict[str, bytes], dict]:
        """For `Ingest`: labels.txt (one label a line, in id order) and the skipped files."""
        files = {}
        if self.labels != "none":
            files["labels.txt"] = "".join(f"{t}\n" for t in self.vocabulary).encode("utf-8")
        return files, {"skipped_files": {"count": len(self.skipped), "first": self.skipped[:20]}}

    def display_data(self) -> dict:
        data = {"file_pattern": self.file_pattern, "labels": self.labels, "verify": self.verify}
        for key in ("root", "label_pattern", "manifest"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data


def _label_problem(text: object) -> str:
    if not isinstance(text, str) or not text:
        return "empty label"
    if "\n" in text or "\r" in text:
        return f"label {text!r} has a line break (labels.txt holds one label a line)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return f"label {text!r} is not valid UTF-8"
    return ""


def _shown(path: str) -> str:
    """The path, bytes that are not UTF-8 (surrogate escapes) shown as `\\xNN`."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _pattern_root(pattern: str) -> str:
    """The longest folder prefix of the pattern before any glob character."""
    match = re.search(r"[*?\[]", pattern)
    prefix = pattern[: match.start()] if match else pattern
    if "/" not in prefix:
        return "."
    root = prefix.rsplit("/", 1)[0]
    return root + "/" if root.endswith(":/") or not root else root  # gs:// or /


def _relative(path: str, root: str) -> str | None:
    """`path` relative to `root` with `/` separators, or None if it is not under it."""
    if is_local(path) and is_local(root):
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root)).replace(os.sep, "/")
        return None if rel == ".." or rel.startswith("../") else rel
    prefix = root.rstrip("/") + "/"
    return posixpath.normpath(path[len(prefix) :]) if path.startswith(prefix) else None


def _read_manifest(
    path: str, root: str, names: set[str]
) -> tuple[dict[str, tuple[str, str]], list[str], list[_Item]]:
    """{image name: (label, problem)}, the sorted labels of every row with one, and
    the rows that name no matched image (or one named before) as bad records.

    Raises:
        ConfigError: the manifest cannot be read or parsed, or lacks a column.
    """
    try:
        with FileSystems.open(path) as f:
            text = f.read().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"--labels: cannot read the manifest {path!r}: {e}") from e
    if path.lower().removesuffix(".gz").endswith((".jsonl", ".json")):
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            try:
                row = json.loads(line) if line.strip() else None
            except json.JSONDecodeError as e:
                raise ConfigError(f"--labels: line {number} of {path!r} is not JSON: {e}") from e
            if line.strip() and not isinstance(row, dict):
                raise ConfigError(f"--labels: line {number} of {path!r} is not a JSON object")
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
            f"--labels: the manifest {path!r} needs a path column (one of {_PATH_KEYS}) and "
            f"a label column (one of {_LABEL_KEYS}); it has {keys}"
        )
    found: dict[str, tuple[str, str]] = {}
    lines: dict[str, int] = {}
    labels: set[str] = set()
    bad: list[_Item] = []
    for line, row, raw in rows:
        file, value = row.get(path_key), row.get(label_key)
        value = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
        labels |= set() if _label_problem(value) else {value}
        name = file if isinstance(file, str) and file else None
        if name is not None:
            absolute = "://" in name or os.path.isabs(name)
            name = _relative(name, root) if absolute else posixpath.normpath(name)
        problem = ""
        if name is None:
            problem = f"no path under {root!r} in column {path_key!r}"
        elif name in lines:
            problem = f"{file!r} is listed on line {lines[name]} already"
        elif name not in names:
            problem = f"{file!r}: no image matched by the input pattern has this path"
        else:
            found[name] = (value, _label_problem(value))
        if problem:
            bad.append(_Item(path, problem=f"manifest: {problem}", record=line, raw=raw))
        lines.setdefault(name, line)
    return found, sorted(labels), bad


def _units(items: list[_Item]) -> list[list[_Item]]:
    """Consecutive items grouped up to `_BATCH_FILES` files or `_BATCH_BYTES` bytes."""
    units: list[list[_Item]] = []
    unit: list[_Item] = []
    total = 0
    for item in items:
        if unit and (len(unit) >= _BATCH_FILES or total + item.size > _BATCH_BYTES):
            units.append(unit)
            unit, total = [], 0
        unit.append(item)
        total += item.size
    return [*units, unit] if unit else units


def _inspect(data: bytes, verify: bool) -> tuple[tuple[str, int, int, int] | None, str]:
    """(format, height, width, channels) of an image from its header, or why it is bad."""
    if not data:
        return None, "empty file"
    try:
        with Image.open(io.BytesIO(data), formats=_OPEN) as img:
            width, height = img.size
            limit = Image.MAX_IMAGE_PIXELS
            if limit and width * height > limit:
                return None, (
                    f"decompression bomb: {width}x{height} = {width * height} pixels is above "
                    f"PIL.Image.MAX_IMAGE_PIXELS ({limit})"
                )
            fmt = _FORMATS[img.format]
            channels = _channels(fmt, img, data)
            if not verify and (missing := _missing_end(fmt, data)):
                return None, f"truncated: the file ends without {missing}"
            if verify:
                for frame in ImageSequence.Iterator(img):
                    frame.load()
    except Image.DecompressionBombError as e:
        return None, f"decompression bomb: {e}"
    except UnidentifiedImageError:
        return None, "not an image Pillow reads as JPEG, PNG, GIF, BMP, WebP or TIFF"
    except Exception as e:  # noqa: BLE001 - Pillow raises many types on corrupt data
        return None, f"corrupt image: {type(e).__name__}: {e}"
    return (fmt, height, width, channels), ""


def _missing_end(fmt: str, data: bytes) -> str:
    """What a PNG or JPEG file lacks at its end if it was cut short (found
    without decoding: the IEND chunk; an end-of-image marker after the last
    start of scan, markers that cannot occur inside compressed data), else ""."""
    if fmt == "png" and data.rfind(b"IEND", 8) < 0:
        return "the PNG IEND chunk"
    if fmt == "jpeg":
        scan = data.rfind(b"\xff\xda")
        if scan < 0 or data.rfind(b"\xff\xd9") < scan:
            return "the JPEG end-of-image marker after its last scan"
    return ""


def _channels(fmt: str, img: Image.Image, data: bytes) -> int:
    """The channels `tf.io.decode_image` returns (see the module docstring)."""
    if fmt == "gif":
        return 3
    if fmt == "jpeg":
        return 1 if img.mode == "L" else 3
    if fmt == "bmp":
        header = int.from_bytes(data[14:18], "little")  # BITMAPCOREHEADER (12) or later
        bits = int.from_bytes(data[28:30] if header >= 40 else data[24:26], "little")
        if bits in (8, 24, 32):
            return bits // 8
    if img.mode in ("P", "PA"):
        return 4 if img.mode == "PA" or "transparency" in img.info else 3
    return len(img.getbands())


def _binary(values: Sequence[bytes]) -> pa.Array:
    if len(values) == 1:  # a big image: its buffer is used as it is, not copied
        offsets = pa.array([0, len(values[0])], pa.int64()).buffers()[1]
        return pa.LargeBinaryArray.from_buffers(
            pa.large_binary(), 1, [None, offsets, pa.py_buffer(values[0])]
        )
    return pa.array(values, pa.large_binary())


class _ReadImagesFn(beam.DoFn):
    """One unit of files to one RecordBatch, bad records and a count per record."""

    def __init__(self, columns: list[tuple[str, Kind]], verify: bool) -> None:
        self._columns = columns
        self._verify = verify
        self._read = beam.metrics.Metrics.counter(_NAMESPACE, "image_records_read")
        self._bad = beam.metrics.Metrics.counter(_NAMESPACE, "image_bad_records")
        self._bytes = beam.metrics.Metrics.counter(_NAMESPACE, "image_bytes_read")

    def process(self, unit: list[_Item]) -> Iterator:
        rows: list[tuple] = []
        for item in unit:
            reason = item.problem
            if not reason:
                try:
                    with FileSystems.open(item.path, CompressionTypes.UNCOMPRESSED) as f:
                        data = f.read()
                except OSError as e:
                    reason = f"cannot read the file: {e}"
                else:
                    self._bytes.inc(len(data))
                    header, reason = _inspect(data, self._verify)
            if reason:
                self._bad.inc()
                bad = BadRecord(item.path, item.record, reason, item.raw)
                yield beam.pvalue.TaggedOutput("bad_records", bad)
            else:
                name, text = item.name.encode(), item.text.encode()
                row = (data, header[0].encode(), *header[1:], name, item.label, text)
                rows.append(row[: len(self._columns)])
            yield beam.pvalue.TaggedOutput("counts", (item.path, 1))
        self._read.inc(len(unit))
        if rows:
            values = list(zip(*rows, strict=True))
            arrays = [_binary(values[0])] + [
                pa.array(v, kind.arrow_type)
                for v, (_, kind) in zip(values[1:], self._columns[1:], strict=True)
            ]
            yield pa.RecordBatch.from_arrays(arrays, names=[n for n, _ in self._columns])
