"""Size caps of automatic shards (`max_shard_bytes`, `max_records_per_shard`).

`beam_ingest.transforms.write.WriteSplits` closes a bundle's part file once
it is full and starts the next; each part is a shard of its own, so the
shard count is known only at commit, which names the files
`-SSSSS-of-NNNNN` then.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping

from beam_ingest import options
from beam_ingest.errors import ConfigError

__all__ = [
    "ShardCaps",
    "caps_of",
    "caps_report",
    "check_common",
    "common_options",
    "write_parts",
]


@dataclasses.dataclass(frozen=True)
class ShardCaps:
    """Size caps of automatic shards: a part file is closed once it holds
    `max_records` records or `max_bytes` bytes of records (each record's
    length plus `overhead`); a record larger than the cap gets a file alone."""

    max_bytes: int | None = None
    max_records: int | None = None
    overhead: int = 0

    def __bool__(self) -> bool:
        return bool(self.max_bytes or self.max_records)

    def full(self, records: int, size: int) -> bool:
        """Whether a file holding `records` records of `size` bytes is full."""
        return bool(
            (self.max_records and records >= self.max_records)
            or (self.max_bytes and size >= self.max_bytes)
        )

    def fit(self, examples: list[bytes], start: int, records: int, size: int) -> int:
        """How many of examples[start:] fit in a file holding `records`
        records of `size` bytes (at least one if the file is empty)."""
        room = len(examples) - start
        if self.max_records:
            room = min(room, self.max_records - records)
        if self.max_bytes:
            free, n = self.max_bytes - size, 0
            for example in itertools.islice(examples, start, start + room):
                free -= len(example) + self.overhead
                if free < 0:
                    break
                n += 1
            room = n
        return max(room, 0 if records else 1)


def caps_of(sink) -> ShardCaps:
    """A sink's caps (its `max_shard_bytes`, `max_records_per_shard`, `record_overhead`)."""
    return ShardCaps(sink.max_shard_bytes, sink.max_records_per_shard, sink.record_overhead)


def write_parts(sink, stage_dir: str):
    """`WriteSplits` for a sink whose part files are opened by its own
    `open_part` (Parquet, ArrayRecord): fixed shards are staged as plain
    TFRecords and converted in the sink's `merge`."""
    from beam_ingest.transforms.write import WriteSplits  # write.py imports this module

    return WriteSplits(
        stage_dir,
        num_shards=sink.num_shards,
        compression="none",
        deterministic=sink.deterministic,
        shuffle=sink.shuffle,
        open_part=sink.open_part,
        caps=caps_of(sink),
    )


def caps_report(sink) -> dict[str, object]:
    """The report's fields for a sink's caps."""
    return {
        "max_shard_bytes": sink.max_shard_bytes,
        "max_records_per_shard": sink.max_records_per_shard,
    }


def common_options(values: Mapping[str, object]) -> dict[str, object]:
    """The sink arguments every output format takes, from option values."""
    return {
        name: values[name]
        for name in (
            "num_shards",
            "deterministic",
            "shuffle",
            "max_shard_bytes",
            "max_records_per_shard",
        )
    }


def check_common(sink) -> None:
    """Checks a sink's shared arguments as the options of the same names.

    Raises:
        ConfigError: an invalid value or combination, named.
    """
    for name in ("num_shards", "max_shard_bytes", "max_records_per_shard"):
        value = getattr(sink, name)
        if value is not None:
            options.check(name, value)
    if sink.deterministic and sink.shuffle:
        raise ConfigError("shuffle: cannot go with `deterministic` (which sorts records)")
    if sink.deterministic and not sink.num_shards:
        raise ConfigError(
            "deterministic: needs a fixed num_shards and cannot go with shuffle; "
            f"got num_shards={sink.num_shards!r}, shuffle={sink.shuffle!r}"
        )
    capped = [n for n in ("max_shard_bytes", "max_records_per_shard") if getattr(sink, n)]
    if capped and sink.num_shards:
        raise ConfigError(
            f"{capped[0]}: size-capped shards are an alternative to a fixed `num_shards` "
            f"(and `deterministic`); got num_shards={sink.num_shards!r}"
        )
