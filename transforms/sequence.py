"""Rows to tf.SequenceExamples: `BuildSequences` (and `SequenceKeys` for imported ones).

`BuildSequences` groups the rows of any tabular source by a key
(`SequenceSpec.key`): one `tf.train.SequenceExample` per key, its context
features the `context` columns (default: the key), every other column a
feature list with one Feature per step (a NULL cell is an empty list of the
column's kind, an all-NULL column an empty `Feature()`, so the lists stay
aligned). Steps are sorted by the order column, NULLs last; ties keep input
order within a read batch, and batches are taken in order of file path, then
content (`_sequence_merge.merge`), so reruns give the same bytes.

    batches --chunks_of--> (key, [chunks]) --GroupByKey--> merge, truncate, serialize

It is a Beam GroupByKey, so it runs on any runner with more keys than fit in
one machine. Chunks are written column by column before the shuffle, and a
bundle sends each key's chunks on as one value (`HOLD_BYTES`); after it, a
sequence's chunks are merged with numpy. One sequence's memory is
bounded by `max_sequence_length` (steps are pruned while chunks arrive);
without a cap, a sequence over `UNCAPPED_BYTES` fails the run with a message
naming the key, before it exhausts memory.

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
from beam_ingest.transforms import _sequence_wire as wire
from beam_ingest.transforms._sequence_merge import merge
from beam_ingest.transforms.encode import ExampleBatch

__all__ = ["UNCAPPED_BYTES", "BuildSequences", "SequenceSpec", "merge_stats", "sequence_schema"]

_NAMESPACE = "beam_ingest"
_SMALL_VALUE = 16 << 10  # pickled chunks below this are deflated, above it zstd
UNCAPPED_BYTES = 256 << 20  # one sequence's steps without max_sequence_length
HOLD_BYTES = 64 << 20  # chunks held before the shuffle (per bundle), sent on per key
_OUT_SEQUENCES = 1024  # sequences per ExampleBatch out ...
_OUT_BYTES = 16 << 20  # ... and about this many bytes
_STATS = ("rows", "sequences", "steps", "truncated_steps", "longest", "context_conflicts",
          "too_long", "null_keys")  # fmt: skip


@dataclasses.dataclass(frozen=True, kw_only=True)
class SequenceSpec:
    """How rows become sequences (the options `sequence_key`, `sequence_order`,
    `context`, `max_sequence_length`, `truncate`; see docs/sequences.md).

    Raises:
        ConfigError: an invalid value, or options that do not go together.
    """

    key: tuple[str, ...]
    order: str | None = None
    context: tuple[str, ...] | None = None
    max_length: int | None = None
    truncate: str = "last"

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", tuple(options.check("sequence_key", list(self.key))))
        if self.context is not None:
            object.__setattr__(self, "context", tuple(options.check("context", list(self.context))))
        options.check("sequence_order", self.order)
        options.check("max_sequence_length", self.max_length)
        options.check("truncate", self.truncate)
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
    """

    def __init__(
        self, spec: SequenceSpec, *, partition_feature: str | None = None, label: str | None = None
    ) -> None:
        super().__init__(label)
        if partition_feature is not None and partition_feature not in spec.context_columns:
            raise ConfigError(
                f"partition_feature: {partition_feature!r} must be a context feature of the "
                f"sequences (TFX splits a SequenceExample on its context); context: "
                f"{list(spec.context_columns)}"
            )
        self.spec = spec
        self.partition_feature = partition_feature

    def expand(self, batches: beam.PCollection) -> dict[str, beam.PCollection]:
        keyed = batches | "Chunk" >> beam.ParDo(_ChunkFn(self.spec)).with_outputs(
            "bad_records", "stats", main="chunks"
        )
        built = (
            keyed.chunks
            | "GroupByKey" >> beam.GroupByKey()
            | "Build"
            >> beam.ParDo(_BuildFn(self.spec, self.partition_feature)).with_outputs(
                "bad_records", "stats", main="examples"
            )
        )
        bad = (keyed.bad_records, built.bad_records) | "FlattenBad" >> beam.Flatten()
        stats = (keyed.stats, built.stats) | "FlattenStats" >> beam.Flatten()
        return {"examples": built.examples, "bad_records": bad, "stats": stats}


class _ChunkFn(beam.DoFn):
    def __init__(self, spec: SequenceSpec) -> None:
        self._spec = spec

    def start_bundle(self) -> None:
        self._null_keys = 0
        self._held: dict[bytes, list[tuple]] = {}
        self._held_bytes = 0

    def _release(self) -> Iterator[tuple[bytes, bytes]]:
        """The held chunks, one element per key (in the order keys came)."""
        held, self._held, self._held_bytes = self._held, {}, 0
        for key, chunks in held.items():
            yield key, _pack(chunks)

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
        chunks, null_rows = wire.chunks_of(
            batch, list(spec.key), spec.order, list(spec.context_columns), file
        )
        held = self._held
        for key, chunk in chunks:
            held.setdefault(key, []).append(chunk)
            self._held_bytes += len(chunk[wire.COLUMNS]) + len(chunk[wire.LENGTHS])
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


def _pack(chunks: list[tuple]) -> bytes:
    """A key's chunks of a bundle as they cross the shuffle: one bytes value,
    compressed (the shuffled bytes are 3-6 times fewer; Dataflow bills them and
    the DirectRunner holds its whole shuffle in memory, several times). A
    small value is deflated (zlib-ng level 1: zstd costs more per call), a
    large one zstd level 1 (15% fewer bytes), its size first."""
    raw = pickle.dumps(chunks, protocol=5)
    if len(raw) < _SMALL_VALUE:
        return b"z" + zlib_ng.compress(raw, 1)
    return b"s" + struct.pack("<Q", len(raw)) + _zstd().compress(raw, asbytes=True)


def _unpack(packed: bytes) -> list[tuple]:
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
    """One key's chunks to its SequenceExample (or a dead letter)."""

    def __init__(self, spec: SequenceSpec, partition_feature: str | None) -> None:
        self._spec = spec
        self._partition = partition_feature
        self._sequences = beam.metrics.Metrics.counter(_NAMESPACE, "sequences_built")

    def start_bundle(self) -> None:
        self._out: list[bytes] = []
        self._keys: list[bytes] = []
        self._size = 0
        self._stats = dict.fromkeys(_STATS, 0)

    def _describe(self, key_chunk: tuple) -> str:
        values = key_chunk[wire.CONTEXT][: len(self._spec.key)]
        return ", ".join(
            f"{name}={describe_feature(v)}" for name, v in zip(self._spec.key, values, strict=True)
        )

    def process(self, element: tuple[bytes, Sequence[bytes]]) -> Iterator:
        key, packed = element
        chunks = (c for p in packed for c in _unpack(p))
        spec, stats = self._spec, self._stats
        held: list[tuple] = []
        first = None
        base = conflict = None
        rows = steps = size = 0
        for chunk in chunks:
            n = wire.steps_of(chunk)
            rows += n
            if first is None:
                first = chunk
            if conflict is None:
                conflict = chunk[wire.CONFLICT] or self._differs(base, chunk[wire.CONTEXT])
                base = base or chunk[wire.CONTEXT]
            too_long = spec.truncate == "none" and rows > spec.max_length
            if conflict is not None or too_long:
                held = []  # a dead letter: only the rows are counted from here on
                continue
            held.append(chunk)
            steps += n
            size += len(chunk[wire.COLUMNS])
            if spec.max_length is None and size > UNCAPPED_BYTES:
                raise DataError(
                    f"sequence_key {self._describe(chunk)}: the sequence holds more than "
                    f"{UNCAPPED_BYTES >> 20} MiB of steps ({rows:,} rows so far); set "
                    "`max_sequence_length` to cap sequences"
                )
            if spec.max_length is not None and steps > 2 * spec.max_length:
                held = [wire.truncate(merge(held, spec.order), spec.max_length, spec.truncate)]
                steps = spec.max_length
                size = len(held[0][wire.COLUMNS])
        stats["rows"] += rows
        stats["longest"] = max(stats["longest"], rows)
        bad = None
        if conflict is not None:
            stats["context_conflicts"] += 1
            name, a, b = conflict
            bad = (
                f"sequence_key {self._describe(first)}: context feature {name!r} differs "
                f"within the sequence ({describe_feature(a)} and {describe_feature(b)}); a "
                "context feature must have one value per sequence (leave it out of `context` "
                "to make it a sequence feature)"
            )
        elif spec.truncate == "none" and rows > spec.max_length:
            stats["too_long"] += 1
            bad = (
                f"sequence_key {self._describe(first)}: the sequence has {rows:,} steps, more "
                f"than max_sequence_length={spec.max_length} (with truncate none, a longer "
                "sequence is a bad record)"
            )
        if bad is not None:
            yield beam.pvalue.TaggedOutput(
                "bad_records", BadRecord(first[wire.FILE], -1, bad, self._describe(first))
            )
            return
        merged = merge(held, spec.order)
        if spec.max_length is not None:
            merged = wire.truncate(merged, spec.max_length, spec.truncate)
        written = wire.steps_of(merged)
        stats["truncated_steps"] += rows - written
        stats["sequences"] += 1
        stats["steps"] += written
        record = wire.serialize(merged, list(spec.context_columns))
        self._out.append(record)
        self._keys.append(self._split_key(key, merged))
        self._size += len(record)
        self._sequences.inc()
        if len(self._out) >= _OUT_SEQUENCES or self._size >= _OUT_BYTES:
            yield self._flush()

    def _differs(self, base: tuple | None, context: tuple) -> tuple | None:
        """(column, value, other value) of the first context column that differs."""
        if base is None or base == context:
            return None
        for name, a, b in zip(self._spec.context_columns, base, context, strict=True):
            if a != b:
                return (name, a, b)
        return None

    def _split_key(self, key: bytes, merged: tuple) -> bytes:
        if self._partition is None:
            return key
        feature = merged[wire.CONTEXT][self._spec.context_columns.index(self._partition)]
        if not feature:
            raise DataError(
                f"partition_feature: {self._partition!r} is empty in the sequence "
                f"{self._describe(merged)}: it has no value to partition on"
            )
        if feature[0] == FLOAT_LIST:
            raise DataError(
                f"partition_feature: {self._partition!r} is a float feature; TFX partitions "
                "only on int or bytes features"
            )
        return feature

    def _flush(self) -> ExampleBatch:
        batch = ExampleBatch(self._out, self._keys)
        self._out, self._keys, self._size = [], [], 0
        return batch

    def finish_bundle(self) -> Iterator[WindowedValue]:
        if self._out:
            yield _emit(self._flush())
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
