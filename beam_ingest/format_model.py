"""The entries of the format table (`beam_ingest.formats`) and their lookup.

`Format` is an input format and `OutputFormat` an output format; `register`
and `register_output` add them; `get`, `names`, `all_formats`, `of_source`,
`by_extension`, `output_format` and `output_names` look them up. The entries
themselves, and so every format's name, are in `beam_ingest.formats`, which
re-exports all of this.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
from typing import TYPE_CHECKING

from beam_ingest import options as _options
from beam_ingest.errors import ConfigError
from beam_ingest.files import extension_of
from beam_ingest.options import Option

if TYPE_CHECKING:
    from beam_ingest.source import Source

__all__ = [
    "Format",
    "OutputFormat",
    "all_formats",
    "by_extension",
    "get",
    "names",
    "of_source",
    "output_format",
    "output_names",
    "register",
    "register_output",
    "unregister",
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
    these extensions, or whose names match a `folder_names` glob. A format
    whose inputs are not files (queries) names an `inputs` hook,
    `module:function`, taking the option values and giving `(values,
    {split: [(pattern, span)]}, report fields)`: it replaces the file and
    span resolution of `beam_ingest.config`.
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
    inputs: str | None = None

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

    def resolve_inputs(self, values: dict[str, object]):
        """The `inputs` hook's answer for these option values (see the class)."""
        module, _, fn = (self.inputs or "").partition(":")
        try:
            hook = getattr(importlib.import_module(module), fn)
        except ImportError as e:
            raise ConfigError(f"format: {self.name!r} needs a package that is missing: {e}") from e
        return hook(values)

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


def unregister(name: str) -> None:
    """Takes a format out of the table (a plugin's tests put theirs back out).

    Raises:
        ConfigError: no such format.
    """
    get(name)
    del _TABLE[name]


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
    """The format whose extensions include `path`'s (or whose `folder_names`
    globs match its name: TFX's `data_tfrecord-00000-of-00001.gz`), or None."""
    ext = extension_of(path)
    for fmt in all_formats():
        if ext in fmt.extensions:
            return fmt
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    for fmt in all_formats():
        if any(fnmatch.fnmatch(name, glob) for glob in fmt.folder_names):
            return fmt
    return None


# --- output formats ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class OutputFormat:
    """An output file format: its name (`output_format`), the import path of its
    `beam_ingest.sink.Sink` class, and the names of the options only it uses
    (declared in `beam_ingest.options`); `build_config` refuses them with
    another output format."""

    name: str
    sink: str
    description: str
    options: tuple[str, ...] = ()

    def sink_class(self):
        """The Sink class (imports its module).

        Raises:
            ConfigError: the module cannot be imported (a missing optional
                package, named).
        """
        module, _, attr = self.sink.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except ImportError as e:
            raise ConfigError(
                f"output_format: {self.name!r} needs the Python package {e.name!r}, which is "
                f"not importable here ({e}); install beam-ingest[{self.name}]"
            ) from e


_OUTPUTS: dict[str, OutputFormat] = {}


def register_output(fmt: OutputFormat) -> OutputFormat:
    """Adds (or replaces) an output format."""
    _OUTPUTS[fmt.name] = fmt
    return fmt


def output_names() -> list[str]:
    """Output format names, the default (TFRecord) first."""
    return list(_OUTPUTS)


def output_format(name: object) -> OutputFormat:
    """The output format called `name`; None is the default, TFRecords.

    Raises:
        ConfigError: no such output format.
    """
    if name is None:
        return next(iter(_OUTPUTS.values()))
    try:
        return _OUTPUTS[name]  # type: ignore[index]
    except (KeyError, TypeError):
        raise ConfigError(
            f"output_format: {name!r} is not supported; output formats: {output_names()}"
        ) from None
