"""`MergeCombineFn`: the one CombineFn that merges per-file observations.

Schema inference in every connector is the same shape: each work unit yields
what it saw (column kinds, JSON types, feature kinds with where they were
seen), and one global combine merges them into the schema. The merge rule is
the format's (CSV widens INT to FLOAT to BYTES as tfx_bsl does; TFRecord
refuses two kinds for one feature); the combining is this.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

import apache_beam as beam

__all__ = ["MergeCombineFn"]

Acc = TypeVar("Acc")


class MergeCombineFn(beam.CombineFn, Generic[Acc]):
    """Combines observations with `merge(acc, seen) -> acc`, starting from
    `empty()`, and ends with `finish(acc)`. `merge` may update `acc` in place;
    it must be associative, as Beam merges partial accumulators in any order.
    All three functions must pickle (module-level functions or partials)."""

    def __init__(
        self,
        empty: Callable[[], Acc],
        merge: Callable[[Acc, object], Acc],
        finish: Callable[[Acc], object],
    ) -> None:
        self._empty = empty
        self._merge = merge
        self._finish = finish

    def create_accumulator(self) -> Acc:
        return self._empty()

    def add_input(self, acc: Acc, seen: object) -> Acc:
        return self._merge(acc, seen)

    def merge_accumulators(self, accumulators: Iterable[Acc]) -> Acc:
        merged = self._empty()
        for acc in accumulators:
            merged = self._merge(merged, acc)
        return merged

    def extract_output(self, acc: Acc) -> object:
        return self._finish(acc)
