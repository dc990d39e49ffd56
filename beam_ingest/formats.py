"""The format table: what beam-ingest knows about each input format.

Each `Format` names its Source class (imported only when used), its file
extensions, whether it infers a schema, the options that only it uses, the
TFX payload and file format its output has, and the name of its TFX executor
alias. The CLI's `--format` choices and help, folder inputs, the TFX
executors, the registry and the Flex Template metadata all read this table:
adding a format is a connector module and one `register(Format(...))`.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import TYPE_CHECKING

from beam_ingest import options as _options
from beam_ingest.errors import ConfigError
from beam_ingest.files import extension_of
from beam_ingest.options import Option, char, optional_char, text

if TYPE_CHECKING:
    from beam_ingest.source import Source

__all__ = [
    "Format",
    "all_formats",
    "by_extension",
    "extension_of",
    "get",
    "names",
    "of_source",
    "register",
]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Format:
    """One input format.

    `source` is the import path of its `beam_ingest.source.Source` class,
    `module:Class`. `extensions` are lower-case, with the dot, matched after a
    `.gz`/`.bz2` suffix is taken off. `payload_format` is the name of TFX's
    `example_gen_pb2.PayloadFormat` value of the examples written;
    `file_format` the Examples artifact's file format. `executor` names the
    `beam_ingest.example_gen` class fixed to this format (None: only the
    generic `Executor`). A folder given as the input means its files with
    these extensions, or whose names match a `folder_names` glob.
    """

    name: str
    source: str
    description: str
    extensions: tuple[str, ...] = ()
    infers_schema: bool = False
    options: tuple[Option, ...] = ()
    payload_format: str = "FORMAT_TF_EXAMPLE"
    file_format: str = "tfrecords_gzip"
    executor: str | None = None
    folder_names: tuple[str, ...] = ()

    def source_class(self) -> type[Source]:
        """The Source class (imports its module).

        Raises:
            ConfigError: its module needs a package that is not installed.
        """
        module, _, cls = self.source.partition(":")
        try:
            return getattr(importlib.import_module(module), cls)
        except ImportError as e:
            raise ConfigError(f"format: {self.name!r} needs a package that is missing: {e}") from e

    def option_values(self, values: dict[str, object]) -> dict[str, object]:
        """This format's options out of all option values."""
        return {o.name: values[o.name] for o in self.options}


_TABLE: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    """Adds a format to the table (or replaces one of the same name).

    Raises:
        ValueError: an option of the format is declared differently elsewhere.
    """
    _TABLE[fmt.name] = fmt
    try:
        _options.all_options()
    except ValueError:
        del _TABLE[fmt.name]
        raise
    return fmt


def all_formats() -> list[Format]:
    """Every format, sorted by name."""
    return [_TABLE[n] for n in sorted(_TABLE)]


def names() -> list[str]:
    """The format names, sorted."""
    return sorted(_TABLE)


def get(name: object) -> Format:
    """The format called `name`.

    Raises:
        ConfigError: no such format; the message lists them.
    """
    try:
        return _TABLE[name]  # type: ignore[index]
    except (KeyError, TypeError):
        raise ConfigError(f"format: {name!r} is not supported; formats: {names()}") from None


def of_source(cls: type) -> Format | None:
    """The format whose Source is `cls` (or a base of it), or None."""
    for klass in cls.__mro__:
        for fmt in _TABLE.values():
            if fmt.source == f"{klass.__module__}:{klass.__qualname__}":
                return fmt
    return None


def by_extension(path: str) -> Format | None:
    """The format whose extensions include `path`'s, or None."""
    ext = extension_of(path)
    for fmt in all_formats():
        if ext in fmt.extensions:
            return fmt
    return None


# --- the table ------------------------------------------------------------------------

register(
    Format(
        name="avro",
        source="beam_ingest.connectors.avro:ReadAvro",
        description="Avro object container files (schema from the files)",
        extensions=(".avro",),
        executor="AvroExecutor",
    )
)
register(
    Format(
        name="csv",
        source="beam_ingest.connectors.csv:ReadCsv",
        description="CSV with a header row; column types inferred as TFX's CsvExampleGen does",
        extensions=(".csv", ".tsv"),
        infers_schema=True,
        options=(
            Option(name="delimiter", metavar="C", parse=char, default=",", group="csv", stored=True,
                   help="CSV: the field delimiter, one character (default ,)"),
            Option(name="quote_char", metavar="C", parse=optional_char, default='"', group="csv",
                   stored=True, help='CSV: the quote character (default "); "" for none'),
            Option(name="escape_char", metavar="C", parse=optional_char, group="csv", stored=True,
                   help="CSV: the escape character (default: none)"),
            Option(name="encoding", metavar="NAME", parse=text, default="utf-8", group="csv",
                   stored=True, help="CSV: the text encoding (default utf-8)"),
        ),
        executor="CsvExecutor",
    )
)  # fmt: skip
register(
    Format(
        name="images",
        source="beam_ingest.connectors.images:ReadImages",
        description="image files (JPEG, PNG, ...), labels from class folders or a manifest",
        extensions=(".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".gif", ".bmp", ".webp",
                    ".tif", ".tiff"),
        options=(
            Option(name="image_root", metavar="DIR", group="images",
                   help="images: the folder image/filename is relative to"),
            Option(name="label_pattern", metavar="REGEX", group="images", stored=True,
                   help="images: a regex with one group on the relative path, the label"),
            Option(name="labels", metavar="FILE", group="images",
                   help="images: a manifest CSV/JSONL of path, label"),
            Option(name="no_labels", kind="flag", default=False, group="images", stored=True,
                   help="images: write no label features"),
            Option(name="classes", parse=lambda v: _classes(v), metavar="FILE", group="images",
                   stored=True,
                   help="images: the fixed label vocabulary, one a line (a list in Python)"),
            Option(name="verify_images", kind="flag", default=False, group="images",
                   stored=True, help="images: decode every image fully (slower)"),
        ),
        executor="ImageExecutor",
    )
)  # fmt: skip
register(
    Format(
        name="jsonl",
        source="beam_ingest.connectors.jsonl:ReadJsonl",
        description="JSON Lines, one object a line; types inferred over the files",
        extensions=(".jsonl", ".ndjson", ".json"),
        infers_schema=True,
        executor="JsonlExecutor",
    )
)
register(
    Format(
        name="parquet",
        source="beam_ingest.connectors.parquet:ReadParquet",
        description="Parquet files (schema from the footers), read by row group",
        extensions=(".parquet",),
        options=(
            Option(name="columns", parse=_options.names, metavar="A,B,C", group="parquet",
                   stored=True,
                   help="Parquet: read only these columns (parent.child for a struct field)"),
        ),
        executor="ParquetExecutor",
    )
)  # fmt: skip
register(
    Format(
        name="tfrecord",
        source="beam_ingest.connectors.tfrecord:ReadTFRecord",
        description="TFRecord files of serialized tf.Examples, re-split as they are",
        extensions=(".tfrecord", ".tfrecords"),
        folder_names=("*tfrecord*",),  # TFX's data_tfrecord-00000-of-00001.gz
        options=(
            Option(name="input_compression", choices=("auto", "gzip", "none"), default="auto",
                   metavar="auto|gzip|none", group="tfrecord", stored=True,
                   help="TFRecord input: auto (gzip by the .gz extension), gzip or none"),
        ),
        executor="TFRecordExecutor",
    )
)  # fmt: skip


def _classes(given: object) -> list[str]:
    """A label vocabulary: a list of labels, or a file of one label a line."""
    if isinstance(given, list | tuple):
        labels = [str(c) for c in given]
    elif isinstance(given, str):
        from beam_ingest import files

        try:
            data = files.read_bytes(given)
        except Exception as e:  # noqa: BLE001 - any Beam filesystem's error
            raise ValueError(f"cannot read the file: {e}") from None
        labels = [line for line in data.decode("utf-8").splitlines() if line]
    else:
        raise TypeError("must be a file of one label a line, or a list of labels")
    return labels
