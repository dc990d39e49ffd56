"""Examples to splits by hash bucket: `HashSplit` (TFX's rule, see beam_ingest.splits)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import apache_beam as beam
import pyarrow as pa

from beam_ingest.splits import DEFAULT_SPLITS, SplitAssigner, SplitSpec, validate_splits
from beam_ingest.transforms.encode import ExampleBatch, ExampleList

__all__ = ["HashSplit"]

_NAMESPACE = "beam_ingest"


class HashSplit(beam.PTransform):
    """`ExampleBatch`es to one PCollection of example lists per split.

    Returns a dict {split name: PCollection[list[bytes]]}. Each input batch is
    split into at most one list per split; no element per example. A batch
    with columns gives `ExampleList`s holding each split's rows.
    """

    def __init__(self, splits: Sequence[SplitSpec] = DEFAULT_SPLITS, *, label: str | None = None):
        super().__init__(label)
        self.splits = validate_splits(splits)

    def expand(self, batches: beam.PCollection) -> dict[str, beam.PCollection]:
        names = [s.name for s in self.splits]
        result = batches | "AssignSplits" >> beam.ParDo(_SplitFn(self.splits)).with_outputs(*names)
        return {name: result[name] for name in names}

    def display_data(self) -> dict:
        return {"splits": ",".join(f"{s.name}={s.buckets}" for s in self.splits)}


class _SplitFn(beam.DoFn):
    def __init__(self, splits: Sequence[SplitSpec]) -> None:
        self._splits = tuple(splits)
        self._counters = {
            s.name: beam.metrics.Metrics.counter(_NAMESPACE, f"examples_split_{s.name}")
            for s in splits
        }

    def setup(self) -> None:
        self._assigner = SplitAssigner(self._splits)

    def process(self, batch: ExampleBatch) -> Iterator[beam.pvalue.TaggedOutput]:
        keys = batch.keys if batch.keys is not None else batch.examples
        indices = self._assigner.assign_all(keys)
        groups: list[list[bytes]] = [[] for _ in self._splits]
        rows: list[list[int]] = [[] for _ in self._splits]
        for row, (index, example) in enumerate(zip(indices, batch.examples, strict=True)):
            groups[index].append(example)
            rows[index].append(row)
        for spec, group, taken in zip(self._splits, groups, rows, strict=True):
            if group:
                self._counters[spec.name].inc(len(group))
                if batch.columns is not None:  # for a sink that writes columns
                    group = ExampleList(group, batch.columns.take(pa.array(taken)))
                yield beam.pvalue.TaggedOutput(spec.name, group)
