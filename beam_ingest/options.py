"""The options model: every `beam-ingest run` option, declared once.

An `Option` gives its name (the Python and `custom_config` name; the CLI flag
is `--` plus the name with `-` for `_`), how a value is parsed and checked,
its default, help, and where it may be set. Options that only one format
uses are declared in that format's entry of `beam_ingest.formats`; the rest
are here. Everything else is generated from these declarations: the CLI's
argparse parser, `docs/cli.md`, the Flex Template's `metadata.json`, the
checks on TFX `custom_config` keys, and the options a registry entry stores.

Values arrive as strings (the CLI, a template parameter) or as Python/JSON
values (the Python API, TFX `custom_config`); `Option.parse` takes both.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

from beam_ingest.errors import ConfigError

__all__ = [
    "GENERAL",
    "Option",
    "all_options",
    "check",
    "cli_message",
    "get",
    "parse_values",
    "suggest",
]

_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no", "")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Option:
    """One option of `beam-ingest run`.

    `kind` is "value" (one value), "flag" (True or False) or "list" (given
    several times on the CLI; a list in Python). `parse` turns one given value
    (a string or a Python value) into the option's value and raises
    ValueError/TypeError with a reason when it is invalid; for a "list" it
    is applied to each item. `choices` may be a callable, evaluated when
    asked (the format names come from the format table). `tfx` is False for
    options TFX's own configuration sets (inputs, output, splits, spans);
    `stored` marks format options a registry entry records.
    """

    name: str
    help: str
    kind: str = "value"
    parse: Callable[[object], object] = str
    default: object = None
    choices: Sequence[str] | Callable[[], Sequence[str]] | None = None
    metavar: str | None = None
    group: str = "run"
    tfx: bool = True
    stored: bool = False

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ValueError(f"Option name {self.name!r}: lower-case letters, digits and _")
        if self.kind not in ("value", "flag", "list"):
            raise ValueError(f"Option {self.name!r}: kind must be value, flag or list")

    @property
    def flag(self) -> str:
        """The CLI spelling, e.g. `--max-bad-records`."""
        return "--" + self.name.replace("_", "-")

    def choice_list(self) -> list[str] | None:
        choices = self.choices() if callable(self.choices) else self.choices
        return list(choices) if choices is not None else None

    def value(self, given: object) -> object:
        """The option's value from what was given (a string or a Python value).

        Raises:
            ConfigError: the value is invalid; the message names the option.
        """
        if self.kind == "flag":
            return _flag(self.name, given)
        if self.kind == "list":
            items = [given] if isinstance(given, str) else given
            if not isinstance(items, list | tuple):
                raise ConfigError(f"{self.name}: expected a list; got {given!r}")
            return [self._one(item) for item in items]
        return None if given is None else self._one(given)

    def _one(self, given: object) -> object:
        choices = self.choice_list()
        if choices is not None and given not in choices:
            close = suggest(given, choices) if isinstance(given, str) else ""
            raise ConfigError(f"{self.name}: {given!r} is not one of {choices}{close}")
        try:
            return self.parse(given)
        except ConfigError:
            raise
        except (ValueError, TypeError) as e:
            got = "" if "; got " in str(e) else f"; got {given!r}"
            raise ConfigError(f"{self.name}: {e}{got}") from None


def _flag(name: str, given: object) -> bool:
    if isinstance(given, bool):
        return given
    if isinstance(given, str) and given.lower() in _TRUE + _FALSE:
        return given.lower() in _TRUE
    raise ConfigError(f"{name}: must be true or false; got {given!r}")


# --- parsers: a string or a Python value to the option's value -----------------------


def integer(minimum: int = 0, maximum: int | None = None) -> Callable[[object], int]:
    """Parses an int in [minimum, maximum]; a float that is whole is taken
    (TFX's custom_config holds every number as a double)."""

    def parse(given: object) -> int:
        if isinstance(given, float) and given.is_integer():
            given = int(given)
        if isinstance(given, str) and re.fullmatch(r"\s*-?\d+\s*", given):
            given = int(given)
        if isinstance(given, bool) or not isinstance(given, int):
            raise TypeError("must be a whole number")
        if given < minimum or (maximum is not None and given > maximum):
            wanted = f"{minimum} to {maximum}" if maximum is not None else f"an int >= {minimum}"
            raise ValueError(f"must be {wanted}; got {given}")
        return given

    parse.__doc__ = f"int >= {minimum}" + (f", <= {maximum}" if maximum is not None else "")
    return parse


def text(given: object) -> str:
    """A non-empty string."""
    if not isinstance(given, str) or not given:
        raise TypeError("must be a non-empty string")
    return given


def optional_char(given: object) -> str | None:
    """One character, or "" for none."""
    if not isinstance(given, str) or len(given) > 1:
        raise ValueError("must be one character, or empty for none")
    return given or None


def char(given: object) -> str:
    """Exactly one character."""
    if not isinstance(given, str) or len(given) != 1:
        raise ValueError("must be one character")
    return given


def names(given: object) -> list[str]:
    """`A,B,C` or a list of names."""
    items = given.split(",") if isinstance(given, str) else given
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise TypeError("must be names separated by commas, or a list of names")
    cleaned = [i.strip() for i in items]
    if not cleaned or not all(cleaned):
        raise ValueError("must name at least one column, none empty")
    return cleaned


def span_range(given: object) -> tuple[int, int]:
    """`A:B` span numbers."""
    if isinstance(given, list | tuple) and len(given) == 2:
        given = f"{given[0]}:{given[1]}"
    start, sep, end = str(given).partition(":")
    if not sep or not start.strip().isdigit() or not end.strip().isdigit():
        raise ValueError("expected A:B with span numbers")
    return int(start), int(end)


def name_value(what: str) -> Callable[[object], tuple[str, str]]:
    """`NAME=VALUE` (e.g. an input split and its pattern)."""

    def parse(given: object) -> tuple[str, str]:
        name, sep, value = str(given).partition("=")
        if not sep or not name or not value:
            raise ValueError(f"expected NAME={what}")
        return name, value

    return parse


def _format_names() -> list[str]:
    from beam_ingest import formats

    return formats.names()


def _output_format_names() -> list[str]:
    from beam_ingest import formats

    return formats.output_names()


_SIZE_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip


_SIZE = r"\s*(\d+(\.\d+)?)\s*([a-zA-Z]*)\s*"


def byte_size(given: object) -> int:
    """A size in bytes: an int, or `256MB`, `1.5GB`, `512KiB` (KB/MB/GB are powers of
    1000, KiB/MiB/GiB of 1024)."""
    if isinstance(given, float) and given.is_integer():
        given = int(given)
    if isinstance(given, int) and not isinstance(given, bool):
        size = given
    elif isinstance(given, str) and (m := re.fullmatch(_SIZE, given)):
        unit = _SIZE_UNITS.get(m.group(3).lower())
        if unit is None:
            raise ValueError("unknown unit; use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB")
        size = int(float(m.group(1)) * unit)
    else:
        raise TypeError("must be a size such as 256MB, 1GiB or a number of bytes")
    if size < 1:
        raise ValueError(f"must be at least 1 byte; got {size}")
    return size


def array_record_options(given: object) -> str:
    """ArrayRecord writer options: `key:value` items separated by commas."""
    item = r"[a-z_]+(:[\w.]+)?"
    if not isinstance(given, str) or not re.fullmatch(rf"{item}(,{item})*", given.replace(" ", "")):
        raise ValueError("must be ArrayRecord writer options such as group_size:1,zstd:3")
    return given.replace(" ", "")


#: The options every format shares; format options live in `beam_ingest.formats`.
GENERAL: tuple[Option, ...] = (
    Option(
        name="format",
        help="input format (required, except with `registry`: manifests name it)",
        choices=_format_names,
        group="input",
    ),
    Option(name="input", group="input", metavar="PATTERN", tfx=False,
           help="a glob of input files on any Beam filesystem, or a folder (its files of "
           "the format)"),
    Option(name="input_split", kind="list", parse=name_value("PATTERN"), metavar="NAME=PATTERN",
           help="an input that is already a split (repeatable); no hash split is done",
           group="input", tfx=False),
    Option(name="registry", metavar="ROOT", group="input", tfx=False,
           help="read dataset registry entries: `input`/`input_split` patterns name entries"),
    Option(name="schema", metavar="FILE", group="input",
           help="schema file: tensorflow_metadata text proto or JSON {name: int|float|bytes}"),
    Option(name="span", parse=integer(0), metavar="N", group="spans", tfx=False,
           help="ingest this span (default: the latest)"),
    Option(name="span_range", parse=span_range, metavar="A:B", group="spans", tfx=False,
           help="ingest spans A to B"),
    Option(name="last_spans", parse=integer(1), metavar="K", group="spans", tfx=False,
           help="ingest the K latest spans"),
    Option(name="span_feature", metavar="NAME", group="spans",
           help="add each example's span as an int feature NAME"),
    Option(name="output", help="output folder (must be empty or new)", metavar="OUT",
           group="output", tfx=False),
    Option(name="split", kind="list", parse=name_value("BUCKETS"), metavar="NAME=BUCKETS",
           group="output", tfx=False,
           help="an output split and its hash buckets (repeatable); default train=2 eval=1"),
    Option(name="partition_feature", metavar="NAME", group="output", tfx=False,
           help="split by this feature's value, as TFX does"),
    Option(name="num_shards", parse=integer(0), default=0, metavar="N", group="output",
           help="files per split (0: automatic)"),
    Option(name="compression", choices=("gzip", "none"), default="gzip", group="output",
           tfx=False, help="compression of the output TFRecords (default gzip)"),
    Option(name="compression_level", parse=integer(0, 9), default=6, metavar="0-9",
           group="output",
           help="gzip level (default 6); 0 is fastest, for already compressed data such as "
           "images"),
    Option(name="deterministic", kind="flag", default=False, group="output",
           help="byte-identical files on every rerun: fixed shards (`num_shards`, default 1), "
           "records sorted in each; costs a shuffle and memory"),
    Option(name="shuffle", kind="flag", default=False, group="output",
           help="reshuffle examples before writing, as TFX does"),
    Option(name="output_format", choices=_output_format_names, group="output",
           help="output file format: tfrecord (the default), parquet (one column per feature) "
           "or array_record (for Grain); see docs/output-formats.md"),
    Option(name="parquet_compression", choices=("zstd", "snappy", "none"), default="zstd",
           group="output", help="Parquet output: the column codec (default zstd)"),
    Option(name="array_record_options", parse=array_record_options, metavar="OPTIONS",
           group="output",
           help="ArrayRecord output: writer options passed through (default group_size:65536); "
           "group_size:1 for the fastest random access"),
    Option(name="max_shard_bytes", parse=byte_size, metavar="SIZE", group="output",
           help="start a new file once a shard holds SIZE bytes of records (256MB, 1GiB); "
           "instead of `num_shards`"),
    Option(name="max_records_per_shard", parse=integer(1), metavar="N", group="output",
           help="start a new file once a shard holds N records; instead of `num_shards`"),
    Option(name="overwrite", kind="flag", default=False, group="output", tfx=False,
           help="replace a non-empty output"),
    Option(name="max_bad_records", parse=integer(0), default=0, metavar="N", group="run",
           help="let the run succeed with up to N bad records (default 0)"),
    Option(name="transform_fn", metavar="FILE.py:FN", group="run",
           help="apply FN (pyarrow.RecordBatch -> RecordBatch) to every batch before "
           "encoding; also MODULE:FN"),
    Option(name="verbose", kind="flag", default=False, group="run", tfx=False,
           help="show Beam's logs"),
    Option(name="sequence_key", parse=names, metavar="COL[,COL...]", group="sequence",
           help="write tf.SequenceExamples: rows with the same value of these columns form "
           "one sequence (see docs/sequences.md)"),
    Option(name="sequence_order", parse=text, metavar="COL", group="sequence",
           help="sort each sequence's steps by this column (NULLs last; ties in input order)"),
    Option(name="context", parse=names, metavar="COL[,COL...]", group="sequence",
           help="context features of each sequence (default: the `sequence_key` columns, "
           "always included); a value that differs within a sequence makes it a bad record"),
    Option(name="max_sequence_length", parse=integer(1), metavar="N", group="sequence",
           help="keep at most N steps per sequence (see `truncate`)"),
    Option(name="truncate", choices=("last", "first", "none"), default="last",
           metavar="last|first|none", group="sequence",
           help="with `max_sequence_length`: keep the last (latest) N steps (default), the "
           "first N, or none: a longer sequence is a bad record"),
    Option(name="sequence_buckets", parse=integer(1), metavar="N", group="sequence",
           help="the shuffle's buckets: a bucket's sequences are merged in memory together "
           "(default: one per 2 MiB of input files; 64 when the input's size is not known, "
           "as for SQL and BigQuery: raise it for large tables)"),
)  # fmt: skip

#: Options of which at most one may be given.
EXCLUSIVE: tuple[tuple[str, ...], ...] = (
    ("input", "input_split"),
    ("span", "span_range", "last_spans"),
    ("num_shards", "max_shard_bytes"),
    ("num_shards", "max_records_per_shard"),
)


def all_options() -> list[Option]:
    """Every option: the general ones, then each format's, in table order.

    Raises:
        ValueError: two declarations of one name that differ.
    """
    from beam_ingest import formats

    found: dict[str, Option] = {o.name: o for o in GENERAL}
    for fmt in formats.all_formats():
        for option in fmt.options:
            known = found.setdefault(option.name, option)
            if known is not option and known != option:
                raise ValueError(f"option {option.name!r} is declared twice, differently")
    return list(found.values())


def get(name: str) -> Option:
    """The option called `name`.

    Raises:
        ConfigError: no such option (with a suggestion).
    """
    for option in all_options():
        if option.name == name:
            return option
    raise ConfigError(f"{name!r} is not an option{suggest(name, [o.name for o in all_options()])}")


def suggest(given: str, known: Iterable[str]) -> str:
    """`; did you mean 'x'?` for the closest known name, or ''."""
    close = difflib.get_close_matches(given, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def check(name: str, value: object) -> object:
    """`value` checked as option `name` would parse it (for Python callers).

    Raises:
        ConfigError: the value is invalid, naming the option.
    """
    return get(name).value(value)


def parse_values(
    given: Mapping[str, object], *, where: str = "options", allowed: Iterable[Option] | None = None
) -> dict[str, object]:
    """Given options (by name) parsed, with every other option's default.

    Args:
        given: option name -> value as given (string or Python value).
        where: how the caller names these options in errors ("custom_config").
        allowed: the options that may be given here (default: all).

    Raises:
        ConfigError: an unknown option (with the closest valid name), or an
            invalid value.
    """
    options = all_options()
    allowed_names = [o.name for o in (options if allowed is None else allowed)]
    unknown = [name for name in given if name not in allowed_names]
    if unknown:
        name = unknown[0]
        raise ConfigError(
            f"{where}: {name!r} is not a valid key{suggest(name, allowed_names)}; valid keys: "
            f"{sorted(allowed_names)}"
        )
    values = {o.name: o.default for o in options}
    for name, value in given.items():
        values[name] = get(name).value(value)
    return values


def cli_message(message: str) -> str:
    """A library message in the CLI's language: a leading `name:`, each
    `name=VALUE` and each `` `name` `` of an option become its flag
    (`--max-bad-records:`, `--max-bad-records 3`, `--overwrite`)."""
    names = {o.name: o.flag for o in all_options()}

    def flag(match: re.Match) -> str:
        name = match.group(1)
        return names[name] + match.group(2) if name in names else match.group(0)

    message = re.sub(r"^([a-z][a-z0-9_]*)(:)", flag, message)

    def assignment(match: re.Match) -> str:
        name, value = match.group(1), match.group(2)
        if name not in names:
            return match.group(0)
        return names[name] if value == "True" else f"{names[name]} {value}"

    message = re.sub(r"(?<![\w'\"-])([a-z][a-z0-9_]*)=([\w.-]+)", assignment, message)
    return re.sub(r"`([a-z][a-z0-9_]*)`", lambda m: names.get(m.group(1), m.group(0)), message)
