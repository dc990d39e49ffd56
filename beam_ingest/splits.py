"""The split contract: which split an example goes to. Frozen.

This is bit-compatible with TFX ExampleGen (`base_example_gen_executor.
_GeneratePartitionKey` and `_PartitionFn`): the key is the example's
deterministic serialization, or with a partition feature that feature's
deterministic serialization; the bucket is `sha256(key) mod total buckets`;
the split is found by bisecting the cumulative bucket counts.

Changing anything here moves examples between splits in every dataset built
with beam-ingest and breaks parity with TFX. The golden tests in
`tests/test_splits.py` pin exact assignments; they must never be edited to
make a change pass.
"""

from __future__ import annotations

import bisect
import dataclasses
import hashlib
import re
from collections.abc import Iterable, Sequence

from beam_ingest.errors import ConfigError

_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SplitSpec:
    """One output split: a name and how many hash buckets it gets."""

    name: str
    buckets: int

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _SPLIT_NAME.match(self.name):
            raise ConfigError(
                f"split name {self.name!r} is not valid: use letters, digits, '_', '.', '-'"
            )
        if isinstance(self.buckets, bool) or not isinstance(self.buckets, int):
            raise ConfigError(f"split {self.name!r}: buckets must be an int, got {self.buckets!r}")
        if self.buckets <= 0:
            raise ConfigError(f"split {self.name!r}: buckets must be > 0, got {self.buckets!r}")


#: TFX's default output config: train 2 buckets, eval 1.
DEFAULT_SPLITS: tuple[SplitSpec, ...] = (
    SplitSpec(name="train", buckets=2),
    SplitSpec(name="eval", buckets=1),
)


def parse_split(text: str) -> SplitSpec:
    """Parses `NAME=BUCKETS` (the CLI's `--split`).

    Raises:
        ConfigError: the text is not NAME=BUCKETS with a positive integer.
    """
    name, sep, buckets = text.partition("=")
    if not sep or not buckets.strip().isdigit():
        raise ConfigError(
            f"--split: expected NAME=BUCKETS with a positive integer, e.g. train=8; got {text!r}"
        )
    return SplitSpec(name=name.strip(), buckets=int(buckets))


def validate_splits(splits: Sequence[SplitSpec]) -> tuple[SplitSpec, ...]:
    """Checks a split config as a whole: at least one split, unique names.

    Raises:
        ConfigError: no splits, or a name used twice.
    """
    splits = tuple(splits)
    if not splits:
        raise ConfigError("splits: at least one split is needed, e.g. train=2 eval=1")
    seen: set[str] = set()
    for spec in splits:
        if spec.name in seen:
            raise ConfigError(f"splits: split name {spec.name!r} is given twice")
        seen.add(spec.name)
    return splits


def bucket(key: bytes, total_buckets: int) -> int:
    """The hash bucket of a key: `int(sha256(key).hexdigest(), 16) % total`."""
    return int(hashlib.sha256(key).hexdigest(), 16) % total_buckets


class SplitAssigner:
    """Maps hash keys to split indices under the frozen rule."""

    def __init__(self, splits: Sequence[SplitSpec]) -> None:
        splits = validate_splits(splits)
        self.names = tuple(s.name for s in splits)
        self._cumulative: list[int] = []
        total = 0
        for spec in splits:
            total += spec.buckets
            self._cumulative.append(total)
        self.total_buckets = total

    def assign(self, key: bytes) -> int:
        """The index (into `names`) of the split this key belongs to."""
        return bisect.bisect(self._cumulative, bucket(key, self.total_buckets))

    def assign_all(self, keys: Iterable[bytes]) -> list[int]:
        # int(digest, big-endian) is the number `bucket` parses from the hex digest.
        sha256, from_bytes = hashlib.sha256, int.from_bytes
        total = self.total_buckets
        cumulative = self._cumulative
        return [bisect.bisect(cumulative, from_bytes(sha256(k).digest()) % total) for k in keys]
