"""Rows to tf.SequenceExamples: `BuildSequences` (and `SequenceKeys` for imported ones).

`BuildSequences` groups the rows of any tabular source by a key
(`SequenceSpec.key`): one `tf.train.SequenceExample` per key, its context
features the `context` columns (default: the key), every other column a
feature list with one Feature per step (a NULL cell is an empty list of the
column's kind, an all-NULL column an empty `Feature()`, so the lists stay
aligned). Steps are sorted by the order column, NULLs last; ties keep input
order within a read batch, and batches are taken in order of file path, then
content (`_sequence_merge.merge`), so reruns give the same bytes.

    batches --parts_of--> (bucket, [parts]) --GroupByKey--> merge, serialize

It is a Beam GroupByKey, so it runs on any runner with more keys than fit in
one machine. The shuffle's key is a *bucket* (a hash of the sequence key
modulo `buckets`), not the key itself, so that a bucket's keys are merged
and written together with numpy and Arrow: no step and no key costs a
Python object. Steps are written column by column before the shuffle
(`_sequence_wire`), a bundle sends each bucket's parts on as one value
(`HOLD_BYTES`); after it, a bucket's parts are merged (`_sequence_merge`)
and its SequenceExamples written at once (`_sequence_records`). A bucket's
memory is bounded by its share of the input and by `max_sequence_length`
(capped sequences are pruned once a bucket's parts pass `PRUNE_BYTES`);
without a cap, a sequence over `UNCAPPED_BYTES` fails the run with a
message naming the key, before it exhausts memory.

Dead letters (`BadRecord`, `record` -1: a row's place in its file is not
known after reading): a row with a NULL key (one each); a sequence whose
context values differ (one per sequence, naming the key and the column); a
sequence longer than the cap with `truncate="none"`. The `stats` output
feeds the report, and the check "records read = examples + bad": rows that
were folded into a sequence (all but one of each) are counted there.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pickle
import struct
from collections.abc import Iterator, Sequence

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue
from zlib_ng import zlib_ng

from beam_ingest import options
from beam_ingest.bad_records import BadRecord
from beam_ingest.errors import ConfigError, DataError
from beam_ingest.protowire import FLOAT_LIST
from beam_ingest.schema import SEQUENCE_FEATURE, Schema
from beam_ingest.sequence_example import describe_feature
from beam_ingest.source import FILE_METADATA
from beam_ingest.transforms._sequence_merge import merge
from beam_ingest.transforms._sequence_records import serialize
from beam_ingest.transforms._sequence_wire import Part, parts_of
from beam_ingest.transforms.encode import ExampleBatch

__all__ = [
    "UNCAPPED_BYTES",
    "BuildSequences",
    "SequenceSpec",
    "buckets_for",
    "merge_stats",
    "sequence_schema",
]

_NAMESPACE = "beam_ingest"
_SMALL_VALUE = 16 << 10  # pickled parts below this are deflated, above it zstd
UNCAPPED_BYTES = 256 << 20  # one sequence's steps without max_sequence_length
HOLD_BYTES = 64 << 20  # parts held before the shuffle (per bundle), sent on per bucket
PRUNE_BYTES = 64 << 20  # a bucket's parts merged (and capped) when they grow past this
DEFAULT_BUCKETS = 64  # shuffle keys when the input's size is not known (SQL, BigQuery)
BUCKET_INPUT_BYTES = 2 << 20  # input bytes per bucket
MAX_BUCKETS = 1 << 20
_OUT_SEQUENCES = 1024  # sequences per ExampleBatch out ...
_OUT_BYTES = 16 << 20  # ... and about this many bytes
_STATS = ("rows", "sequences", "steps", "truncated_steps", "longest", "context_conflicts",
          "too_long", "null_keys")  # fmt: skip


@dataclasses.dataclass(frozen=True, kw_only=True)
class SequenceSpec:
    """How rows become sequences (the options `sequence_key`, `sequence_order`,
    `context`, `max_sequence_length`, `truncate`, `sequence_buckets`; see
    docs/sequences.md).

    Raises:
        ConfigError: an invalid value, or options that do not go together.
    """

    key: tuple[str, ...]
    order: str | None = None
    context: tuple[str, ...] | None = None
    max_length: int | None = None
    truncate: str = "last"
    buckets: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", tuple(options.check("sequence_key", list(self.key))))
        if self.context is not None:
            object.__setattr__(self, "context", tuple(options.check("context", list(self.context))))
        options.check("sequence_order", self.order)
        options.check("max_sequence_length", self.max_length)
        options.check("truncate", self.truncate)
        options.check("sequence_buckets", self.buckets)
        if self.order is not None and self.order in self.context_columns:
            raise ConfigError(
                f"sequence_order: {self.order!r} is a context feature (a key or `context` "
                "column); the order column must vary along the sequence"
            )
        if self.order is not None and self.order in self.key:
            raise ConfigError(f"sequence_order: {self.order!r} is also a `sequence_key` column")
        if self.truncate == "none" and self.max_length is None:
            raise ConfigError("truncate: 'none' needs `max_sequence_length` (the longest allowed)")

    @property
    def context_columns(self) -> tuple[str, ...]:
        """The context features: `context`, else the key columns (the key always included)."""
        given = self.context or ()
        return (*self.key, *(c for c in given if c not in self.key))


def sequence_schema(schema: Schema, spec: SequenceSpec) -> Schema:
    """The output schema: context columns, and the rest as `##SEQUENCE##` features.

    Raises:
        ConfigError: a key, order or context column that is not in the
            input, or an input column named `##SEQUENCE##`.
    """
    flat = schema.flat()
    names = flat.names
    for option, wanted in (
        ("sequence_key", spec.key),
        ("sequence_order", (spec.order,) if spec.order else ()),
        ("context", spec.context_columns),
    ):
        for name in wanted:
            if name not in names:
                raise ConfigError(
                    f"{option}: column {name!r} is not in the input; columns: {sorted(names)}"
                )
    if SEQUENCE_FEATURE in names:
        raise ConfigError(
            f"the input has a column named {SEQUENCE_FEATURE!r}, the name TFX gives the "
            "sequence features in a schema; rename it (e.g. with `transform_fn`)"
        )
    context = set(spec.context_columns)
    return Schema(
        tuple(c for c in flat.columns if c.name in context),
        sequence=tuple(c for c in flat.columns if c.name not in context),
    )


def buckets_for(input_bytes: int) -> int:
    """The shuffle's buckets for an input of this many bytes (0: not known)."""
    if input_bytes <= 0:
        return DEFAULT_BUCKETS
    return max(1, min(MAX_BUCKETS, -(-input_bytes // BUCKET_INPUT_BYTES)))


def _emit(value) -> WindowedValue:
    return WindowedValue(value, MIN_TIMESTAMP, [GlobalWindow()])


class BuildSequences(beam.PTransform):
    """RecordBatches to `ExampleBatch`es of serialized tf.SequenceExamples.

    Returns a dict: `examples` (`ExampleBatch`, keys set: the partition
    feature's Feature bytes, else the key's, so a key never lands in two
    splits), `bad_records` (`BadRecord`) and `stats` (one dict of counts per
    bundle, `_STATS`).

    Args:
        spec: the `SequenceSpec`.
        partition_feature: a context feature to split on, as TFX does.
        buckets: the shuffle's keys (a key's bucket is a hash of it); one
            bucket's rows are merged in memory, so more buckets bound the
            memory of larger inputs (`buckets_for` gives one per 2 MiB of
            input). Default: `spec.buckets`, else `DEFAULT_BUCKETS`.
    """

    def __init__(
        self,
        spec: SequenceSpec,
        *,
        partition_feature: str | None = None,
        buckets: int | None = None,
        label: str | None = None,
    ) -> None:
        super().__init__(label)
        if partition_feature is not None and partition_feature not in spec.context_columns:
            raise ConfigError(
                f"partition_feature: {partition_feature!r} must be a context feature of the "
                f"sequences (TFX splits a SequenceExample on its context); context: "
                f"{list(spec.context_columns)}"
            )
        buckets = buckets or spec.buckets or DEFAULT_BUCKETS
        options.check("sequence_buckets", buckets)
        self.spec = spec
        self.partition_feature = partition_feature
        self.buckets = buckets

    def expand(self, batches: beam.PCollection) -> dict[str, beam.PCollection]:
        keyed = batches | "Parts" >> beam.ParDo(_PartFn(self.spec, self.buckets)).with_outputs(
            "bad_records", "stats", main="parts"
        )
        built = (
            keyed.parts
            | "GroupByKey" >> beam.GroupByKey()
            | "Build"
            >> beam.ParDo(_BuildFn(self.spec, self.partition_feature)).with_outputs(
                "bad_records", "stats", main="examples"
            )
        )
        bad = (keyed.bad_records, built.bad_records) | "FlattenBad" >> beam.Flatten()
        stats = (keyed.stats, built.stats) | "FlattenStats" >> beam.Flatten()
        return {"examples": built.examples, "bad_records": bad, "stats": stats}


class _PartFn(beam.DoFn):
    def __init__(self, spec: SequenceSpec, buckets: int) -> None:
        self._spec = spec
        self._buckets = buckets

    def start_bundle(self) -> None:
        self._null_keys = 0
        self._held: dict[int, list[Part]] = {}
        self._held_bytes = 0

    def _release(self) -> Iterator[tuple[int, bytes]]:
        """The held parts, one element per bucket."""
        held, self._held, self._held_bytes = self._held, {}, 0
        for bucket, parts in held.items():
            yield bucket, _pack(parts)

    def finish_bundle(self) -> Iterator:
        for element in self._release():
            yield _emit(element)
        if self._null_keys:
            yield beam.pvalue.TaggedOutput("stats", _emit({"null_keys": self._null_keys}))

    def process(self, batch) -> Iterator:
        if isinstance(batch, ExampleBatch):
            raise ConfigError(
                "sequence_key: needs a source of rows (CSV, JSONL, Parquet, Avro, ...); "
                "TFRecord input holds examples already"
            )
        if not batch.num_rows:
            return
        metadata = batch.schema.metadata or {}
        file = metadata.get(FILE_METADATA, b"").decode("utf-8", "replace")
        spec = self._spec
        parts, null_rows = parts_of(
            batch, list(spec.key), spec.order, list(spec.context_columns), file, self._buckets
        )
        for bucket, part in parts:
            self._held.setdefault(bucket, []).append(part)
            self._held_bytes += len(part.columns) + part.lengths.nbytes
        if self._held_bytes > HOLD_BYTES:
            yield from self._release()
        self._null_keys += len(null_rows)
        if len(null_rows):
            named = " and ".join(repr(k) for k in spec.key)
            for row in batch.take(null_rows).to_pylist():
                yield beam.pvalue.TaggedOutput(
                    "bad_records",
                    BadRecord(
                        file,
                        -1,
                        f"sequence_key: {named} is NULL in this row, so it belongs to no sequence",
                        json.dumps(row, default=_plain, sort_keys=True),
                    ),
                )


def _pack(parts: list[Part]) -> bytes:
    """A bucket's parts of a bundle as they cross the shuffle: one bytes value,
    compressed (the shuffled bytes are 3-6 times fewer; Dataflow bills them and
    the DirectRunner holds its whole shuffle in memory, several times). A
    small value is deflated (zlib-ng level 1: zstd costs more per call), a
    large one zstd level 1 (15% fewer bytes), its size first."""
    raw = pickle.dumps(parts, protocol=5)
    if len(raw) < _SMALL_VALUE:
        return b"z" + zlib_ng.compress(raw, 1)
    return b"s" + struct.pack("<Q", len(raw)) + _zstd().compress(raw, asbytes=True)


def _unpack(packed: bytes) -> list[Part]:
    if packed[:1] == b"z":
        return pickle.loads(zlib_ng.decompress(memoryview(packed)[1:]))
    (size,) = struct.unpack_from("<Q", packed, 1)
    return pickle.loads(_zstd().decompress(memoryview(packed)[9:], size, asbytes=True))


@functools.cache
def _zstd() -> pa.Codec:
    return pa.Codec("zstd", 1)


def _plain(value: object) -> object:
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else repr(value)


class _BuildFn(beam.DoFn):
    """One bucket's parts to its keys' SequenceExamples (and dead letters)."""

    def __init__(self, spec: SequenceSpec, partition_feature: str | None) -> None:
        self._spec = spec
        self._partition = partition_feature
        self._sequences = beam.metrics.Metrics.counter(_NAMESPACE, "sequences_built")

    def start_bundle(self) -> None:
        self._stats = dict.fromkeys(_STATS, 0)

    def _describe(self, part: Part, key: int) -> str:
        return ", ".join(
            f"{name}={describe_feature(part.context[i][key].as_py())}"
            for i, name in enumerate(self._spec.key)
        )

    def _merge(self, parts: list[Part]) -> Part:
        spec = self._spec
        merged = merge(parts, spec.order, spec.max_length, spec.truncate, spec.context_columns)
        if spec.max_length is None and merged.steps:
            sizes = np.add.reduceat(merged.lengths.sum(axis=1, dtype=np.int64),
                                    np.cumsum(merged.runs) - merged.runs)  # fmt: skip
            over = np.flatnonzero((sizes > UNCAPPED_BYTES) & (merged.runs > 0))
            if len(over):
                k = int(over[0])
                raise DataError(
                    f"sequence_key {self._describe(merged, k)}: the sequence holds more than "
                    f"{UNCAPPED_BYTES >> 20} MiB of steps ({int(merged.seen[k]):,} rows so "
                    "far); set `max_sequence_length` to cap sequences"
                )
        return merged

    def process(self, element: tuple[int, Sequence[bytes]]) -> Iterator:
        _, packed = element
        held: list[Part] = []
        size, prune_at = 0, PRUNE_BYTES
        for value in packed:
            for part in _unpack(value):
                held.append(part)
                size += len(part.columns)
            if size > prune_at:  # bounded by the cap (else checked against UNCAPPED_BYTES)
                held = [self._merge(held)]
                size = len(held[0].columns)
                prune_at = max(PRUNE_BYTES, 2 * size)
        if not held:
            return
        merged = self._merge(held)
        yield from self._finish(merged)

    def _finish(self, merged: Part) -> Iterator:
        spec, stats = self._spec, self._stats
        seen, runs = merged.seen, merged.runs
        stats["rows"] += int(seen.sum())
        stats["longest"] = max(stats["longest"], int(seen.max(initial=0)))
        dead = np.zeros(len(runs), bool)
        for k, (name, a, b) in sorted(merged.conflicts.items()):
            dead[k] = True
            stats["context_conflicts"] += 1
            reason = (
                f"sequence_key {self._describe(merged, k)}: context feature {name!r} differs "
                f"within the sequence ({describe_feature(a)} and {describe_feature(b)}); a "
                "context feature must have one value per sequence (leave it out of `context` "
                "to make it a sequence feature)"
            )
            yield self._bad(merged, k, reason)
        if spec.truncate == "none":
            for k in np.flatnonzero((seen > spec.max_length) & ~dead).tolist():
                dead[k] = True
                stats["too_long"] += 1
                reason = (
                    f"sequence_key {self._describe(merged, k)}: the sequence has "
                    f"{int(seen[k]):,} steps, more than max_sequence_length={spec.max_length} "
                    "(with truncate none, a longer sequence is a bad record)"
                )
                yield self._bad(merged, k, reason)
        keep = ~dead
        if not keep.any():
            return
        stats["truncated_steps"] += int((seen - runs)[keep].sum())
        stats["sequences"] += int(keep.sum())
        stats["steps"] += int(runs[keep].sum())
        records = serialize(merged, keep, spec.context_columns).to_pylist()
        keys = self._split_keys(merged, keep)
        self._sequences.inc(len(records))
        start = size = 0
        for i, record in enumerate(records):
            size += len(record)
            if size >= _OUT_BYTES or i + 1 - start >= _OUT_SEQUENCES:
                yield ExampleBatch(records[start : i + 1], keys[start : i + 1])
                start, size = i + 1, 0
        if start < len(records):
            yield ExampleBatch(records[start:], keys[start:])

    def _bad(self, merged: Part, k: int, reason: str):
        record = BadRecord(merged.file_of(k), -1, reason, self._describe(merged, k))
        return beam.pvalue.TaggedOutput("bad_records", record)

    def _split_keys(self, merged: Part, keep: np.ndarray) -> list[bytes]:
        index = pa.array(np.flatnonzero(keep))
        if self._partition is None:
            return merged.keys.take(index).to_pylist()
        at = self._spec.context_columns.index(self._partition)
        features = merged.context[at].take(index).to_pylist()
        for k, feature in zip(np.flatnonzero(keep).tolist(), features, strict=True):
            if not feature:
                raise DataError(
                    f"partition_feature: {self._partition!r} is empty in the sequence "
                    f"{self._describe(merged, k)}: it has no value to partition on"
                )
            if feature[0] == FLOAT_LIST:
                raise DataError(
                    f"partition_feature: {self._partition!r} is a float feature; TFX "
                    "partitions only on int or bytes features"
                )
        return features

    def finish_bundle(self) -> Iterator[WindowedValue]:
        if any(self._stats.values()):
            yield beam.pvalue.TaggedOutput("stats", _emit(self._stats))


def merge_stats(stats: list[dict]) -> dict:
    """The bundles' counts summed (`longest`: the maximum)."""
    total = dict.fromkeys(_STATS, 0)
    for s in stats:
        for name in _STATS:
            value = s.get(name, 0)
            total[name] = max(total[name], value) if name == "longest" else total[name] + value
    return total
