"""What a registry entry stores of its format: the options, checked, and the
connector that reads it.

An entry records its format's options that say how to read its files (the
options model's `stored` options: the CSV dialect, Parquet columns, ...) and,
computed at push with the connector's own `profile()`, its record count and
schema. Nothing here knows a format by name: the format table does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from beam_ingest import formats
from beam_ingest.errors import ConfigError
from beam_ingest.schema import Schema
from beam_ingest.source import Source

__all__ = ["connector", "normalize_options", "profile", "stored_options"]

#: Option names manifests written before the options model used, and how
#: they read now (`labels: "none"` was `no_labels`).
_LEGACY = {"compression": "input_compression", "verify": "verify_images"}


def stored_options(format: str) -> dict[str, object]:
    """{option: default} of what an entry of `format` stores."""
    return {o.name: o.default for o in formats.get(format).options if o.stored}


def _upgrade(options: Mapping[str, object]) -> dict[str, object]:
    upgraded = {_LEGACY.get(k, k): v for k, v in options.items()}
    if "labels" in upgraded:  # the old labelling mode: "none" or None (labels from folders)
        upgraded["no_labels"] = upgraded.pop("labels") == "none"
    return upgraded


def normalize_options(format: str, options: Mapping[str, object] | None) -> dict[str, object]:
    """The format's stored options, parsed, with defaults filled in; checked by
    building the connector once (connectors check their options).

    Raises:
        ConfigError: an unknown format or option, or a value the connector refuses.
    """
    fmt = formats.get(format)
    known = {o.name: o for o in fmt.options if o.stored}
    given = _upgrade(options or {})
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ConfigError(
            f"registry push: option(s) {unknown} do not apply to format {format!r}; "
            f"its options: {sorted(known) or 'none'}"
        )
    merged = {name: option.default for name, option in known.items()}
    for name, value in given.items():
        merged[name] = known[name].value(value)
    connector(format, "unused/files/**", "unused/files", merged, None)
    return merged


def connector(
    format: str,
    pattern: str,
    root: str,
    options: Mapping[str, object],
    schema: Schema | None,
) -> Source:
    """The connector reading an entry's files (`pattern`, under `root`).

    Raises:
        ConfigError: an option the connector refuses.
    """
    fmt = formats.get(format)
    values = {o.name: o.default for o in fmt.options}
    values.update(_upgrade(options))
    if "image_root" in values:
        values["image_root"] = root
    return fmt.source_class().from_options(pattern, values, schema)


def profile(format: str, paths: Sequence[str], options: Mapping[str, object]) -> tuple[int, Schema]:
    """(records, schema) of an entry's files, as its connector would see them.

    Raises:
        ConfigError: files the connector would refuse.
    """
    fmt = formats.get(format)
    values = {o.name: o.default for o in fmt.options}
    values.update(_upgrade(options))
    return fmt.source_class().profile(list(paths), values)
