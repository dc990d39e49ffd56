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
which decodes every frame to catch truncated or corrupt data; a PNG or JPEG
cut short, and an image above Pillow's decompression-bomb limit, are bad
records either way (`_images_inspect`).

Work units are groups of files (up to 256 files or 64 MiB, by the sizes the
match returned), each giving one RecordBatch; a bigger file is a unit of its
own, read once and not copied into the batch. Labels and the vocabulary are
decided when the pipeline is built, from the matched paths or the manifest
(`_images_labels`). Matched files whose extension is not an image's are skipped: listed in
`skipped` and the report, not counted as records read.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping, Sequence

import apache_beam as beam
import pyarrow as pa
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from beam_ingest import formats
from beam_ingest.bad_records import BadRecord
from beam_ingest.connectors._images_inspect import inspect_image
from beam_ingest.connectors._images_labels import (
    Item,
    label_items,
    label_problem,
    pattern_root,
    relative,
)
from beam_ingest.errors import ConfigError
from beam_ingest.files import FileInfo, is_folder
from beam_ingest.schema import Kind, Schema
from beam_ingest.source import (
    ExtraOutputs,
    Source,
    SourceOutputs,
    check_pattern,
    skipped_report,
    source_outputs,
)

__all__ = ["ReadImages"]

_NAMESPACE = "beam_ingest"
_BATCH_FILES = 256
_BATCH_BYTES = 64 << 20
#: The image file extensions: the format table's (one place for them).
_EXTENSIONS = formats.get("images").extensions
_MODES = ("folder", "pattern", "manifest", "none")
_COLUMNS = [(f"image/{n}", Kind.BYTES) for n in ("encoded", "format")]
_COLUMNS += [(f"image/{n}", Kind.INT) for n in ("height", "width", "channels")]
_COLUMNS += [("image/filename", Kind.BYTES)]
_LABEL_COLUMNS = [("image/class/label", Kind.INT), ("image/class/text", Kind.BYTES)]


class ReadImages(Source):
    """Reads image files into `pyarrow.RecordBatch`es, one row per image.

    Returns `SourceOutputs`: `records` (RecordBatches), `bad_records`
    (`BadRecord`), `counts` (`(file, records read)`) and `schema` (one `Schema`).
    After expansion, `input_files()` gives the images, `skipped` the matched
    paths that are not images by extension, and `vocabulary` the labels in id
    order; `extra_outputs()` adds labels.txt (with labels) and the report
    field `skipped_files`.

    Args:
        file_pattern: a glob on any Beam filesystem, e.g. `data/**`.
        root: the folder `image/filename` is relative to (the option
            `image_root`); None takes the pattern's longest folder prefix
            before any glob character.
        labels: `folder` (the parent folder's name), `pattern` (the group of
            `label_pattern` searched for in the relative path), `manifest`, or
            `none`. None: `pattern` with a label_pattern, `manifest` with a
            manifest, else `folder`.
        label_pattern: a regex with exactly one group.
        manifest: a CSV file with a header, or JSONL (`.jsonl`, `.json`), with a
            path column (`path`, `filename` or `file`; relative to the root, or
            absolute under it) and a label column (`label` or `class`) (the
            option `labels`). It is read when the pipeline is built; its labels
            make the vocabulary.
        classes: the vocabulary in id order (e.g. an earlier run's labels.txt),
            so ids stay the same across runs; a label outside it is a bad
            record. None: the sorted labels found.
        verify: decode every image fully to catch truncated or corrupt data
            (the option `verify_images`).

    Raises:
        ConfigError: a bad argument here; when the pipeline is built: no file
            matches, none is an image, an image is outside the root, or the
            manifest cannot be read or lacks its columns.
    """

    #: The file extensions read as images (lower case); other files are skipped.
    EXTENSIONS: tuple[str, ...] = _EXTENSIONS

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
        super().__init__()
        self.label = label
        check_pattern("ReadImages", file_pattern)
        if root is not None and (not isinstance(root, str) or not root):
            raise ConfigError(f"image_root: must be a non-empty path; got {root!r}")
        if labels is None:
            labels = "manifest" if manifest is not None else "folder"
            labels = "pattern" if label_pattern is not None else labels
        if labels not in _MODES:
            raise ConfigError(f"ReadImages: labels must be one of {_MODES}; got {labels!r}")
        for name, mode, value in (("label_pattern", "pattern", label_pattern),
                                  ("labels", "manifest", manifest)):  # fmt: skip
            if (labels == mode) != (value is not None):
                raise ConfigError(
                    f"{name}: needed with labels={mode!r} and only then; got {value!r} with "
                    f"labels={labels!r}"
                )
        if label_pattern is not None:
            try:
                groups = re.compile(label_pattern).groups
            except (re.error, TypeError) as e:
                raise ConfigError(f"label_pattern: {label_pattern!r} is not a regex: {e}") from e
            if groups != 1:
                raise ConfigError(
                    f"label_pattern: {label_pattern!r} must have exactly one group; has {groups}"
                )
        if classes is not None and (
            labels == "none"
            or isinstance(classes, str | bytes)
            or not isinstance(classes, Sequence)
            or not classes
            or any(label_problem(c) for c in classes)
            or len(set(classes)) != len(classes)
        ):
            raise ConfigError(
                "classes: must be a non-empty list of distinct labels without line breaks, "
                f"and labels other than 'none'; got {classes!r} with labels={labels!r}"
            )
        if not isinstance(verify, bool):
            raise ConfigError(f"verify_images: must be True or False; got {verify!r}")
        self.file_pattern, self.root, self.labels = file_pattern, root, labels
        self.label_pattern, self.manifest, self.verify = label_pattern, manifest, verify
        self.classes = list(classes) if classes is not None else None
        self.skipped: list[str] = []
        self.vocabulary: list[str] = []

    @classmethod
    def from_options(
        cls, pattern: str, options: Mapping[str, object], schema: Schema | None
    ) -> ReadImages:
        """The reader of `pattern` with the options `image_root`, `label_pattern`,
        `labels` (a manifest), `no_labels`, `classes` (a list) and `verify_images`.

        Raises:
            ConfigError: a schema is given (image examples have fixed
                features), or an option value `ReadImages` refuses.
        """
        if schema is not None:
            raise ConfigError("schema: image examples have fixed features; leave schema out")
        return cls(
            pattern,
            root=options["image_root"],
            labels="none" if options["no_labels"] else None,
            label_pattern=options["label_pattern"],
            manifest=options["labels"],
            classes=options["classes"],
            verify=options["verify_images"],
        )

    @classmethod
    def profile(cls, paths: Sequence[str], options: Mapping[str, object]) -> tuple[int, Schema]:
        """(images, schema) of some files: the images are counted by extension,
        the schema is the fixed one (with label features unless `no_labels`).

        Raises:
            ConfigError: none of the files is an image.
        """
        records = sum(1 for p in paths if p.lower().endswith(_EXTENSIONS))
        if not records:
            raise ConfigError(
                f"registry push: none of the {len(paths)} files is an image "
                f"(extensions {', '.join(_EXTENSIONS)})"
            )
        columns = list(_COLUMNS)
        if not options["no_labels"]:
            columns += _LABEL_COLUMNS
        return records, Schema.from_kinds(columns)

    @property
    def files(self) -> list[FileInfo]:
        """Deprecated alias of `input_files()`, kept for one release."""
        return self.input_files()

    def expand(self, pbegin: beam.pvalue.PBegin) -> SourceOutputs:
        matched = self.match(self.file_pattern)  # a folder: only its images
        images = [f for f in matched if f.path.lower().endswith(_EXTENSIONS)]
        self.skipped = [_shown(f.path) for f in matched if not f.path.lower().endswith(_EXTENSIONS)]
        self.skipped = sorted(self.skipped + [_shown(p) for p in self._skipped])
        if not images:
            raise ConfigError(
                f"input: {self.file_pattern!r} matches {len(matched)} files but no image "
                f"(extensions {', '.join(_EXTENSIONS)}), e.g. {self.skipped[0]!r}"
            )
        root = self.root if self.root is not None else pattern_root(self.file_pattern)
        if self.root is None and is_folder(self.file_pattern):  # its class folders
            root = self.file_pattern.rstrip("/") or self.file_pattern
        items = []
        for info in images:
            name = relative(info.path, root)
            if name is None:
                raise ConfigError(f"image_root: {info.path!r} is not under {root!r}")
            if _shown(info.path) != info.path:  # Beam's coders refuse it: a bad record
                items.append(Item(_shown(info.path), problem="the file name is not valid UTF-8"))
            else:
                items.append(Item(info.path, name, info.size))
        self._files = [dataclasses.replace(f, path=_shown(f.path)) for f in images]
        items, self.vocabulary = label_items(
            items,
            root,
            labels=self.labels,
            label_pattern=self.label_pattern,
            manifest=self.manifest,
            classes=self.classes,
        )
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

    def extra_outputs(self) -> ExtraOutputs:
        """labels.txt (one label a line, in id order) and the skipped files."""
        files = {}
        if self.labels != "none":
            files["labels.txt"] = "".join(f"{t}\n" for t in self.vocabulary).encode("utf-8")
        return ExtraOutputs(files, skipped_report(self.skipped))

    def display_data(self) -> dict:
        data = {"file_pattern": self.file_pattern, "labels": self.labels, "verify": self.verify}
        for key in ("root", "label_pattern", "manifest"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data


def _shown(path: str) -> str:
    """The path, bytes that are not UTF-8 (surrogate escapes) shown as `\\xNN`."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _units(items: list[Item]) -> list[list[Item]]:
    """Consecutive items grouped up to `_BATCH_FILES` files or `_BATCH_BYTES` bytes."""
    units: list[list[Item]] = []
    unit: list[Item] = []
    total = 0
    for item in items:
        if unit and (len(unit) >= _BATCH_FILES or total + item.size > _BATCH_BYTES):
            units.append(unit)
            unit, total = [], 0
        unit.append(item)
        total += item.size
    return [*units, unit] if unit else units


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

    def process(self, unit: list[Item]) -> Iterator:
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
                    header, reason = inspect_image(data, self._verify)
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
