"""Sequences in `Ingest` and `build_config`: the step between a source and the split.

- `sequence_step`: with a `SequenceSpec`, `BuildSequences` instead of
  `ToTFExample`; for a source of tf.SequenceExamples (TFRecord input with
  `payload="sequence_example"`), `SequenceKeys`, the split keys of TFX's
  partition rule on a context feature;
- `spec_from_options`: the `SequenceSpec` of option values, checked against a
  given schema with a `##SEQUENCE##` part;
- `payload_format_of`, `sequence_report`: what the artifact and the report say.
"""

from __future__ import annotations

import apache_beam as beam

from beam_ingest.errors import ConfigError, DataError
from beam_ingest.protowire import FLOAT_LIST
from beam_ingest.schema import SEQUENCE_FEATURE, Schema
from beam_ingest.sequence_example import context_feature
from beam_ingest.transforms.encode import ExampleBatch
from beam_ingest.transforms.sequence import (
    BuildSequences,
    SequenceSpec,
    buckets_for,
    sequence_schema,
)

__all__ = [
    "SEQUENCE_PAYLOAD",
    "SequenceKeys",
    "payload_format_of",
    "sequence_report",
    "sequence_step",
    "shuffle_buckets",
    "spec_from_options",
]


class SequenceKeys(beam.PTransform):
    """`ExampleBatch`es of imported SequenceExamples with split keys: the
    context feature `partition_feature` (as TFX splits them), or none (the
    record's bytes are the key)."""

    def __init__(self, partition_feature: str | None = None, *, label: str | None = None):
        super().__init__(label)
        self.partition_feature = partition_feature

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        return batches | "SplitKeys" >> beam.Map(_with_keys, self.partition_feature)


def _with_keys(batch: ExampleBatch, name: str | None) -> ExampleBatch:
    if name is None:
        return batch
    target = name.encode("utf-8")
    keys = []
    for index, record in enumerate(batch.examples):
        feature = context_feature(record, target)
        if not feature:
            what = "missing from" if feature is None else "an empty Feature() in"
            raise DataError(
                f"partition_feature: {name!r} is {what} the context of a SequenceExample "
                f"(number {index} of its batch); TFX partitions only on a context feature "
                "every sequence has"
            )
        if feature[0] == FLOAT_LIST:
            raise DataError(
                f"partition_feature: {name!r} is a float feature; TFX partitions only on "
                "int or bytes features"
            )
        keys.append(feature)
    return ExampleBatch(batch.examples, keys)


def payload_format_of(*sources: beam.PTransform) -> str:
    """The TFX payload format of what sources read (composite sources: their
    parts'): tf.Examples unless one reads something else.

    Raises:
        ConfigError: the sources read different payloads (other than tf.Examples).
    """
    found = set()
    for source in sources:
        parts = getattr(source, "sources", None) or [getattr(source, "source", None)]
        found |= {payload_format_of(p) for p in parts if p is not None}
        found.add(getattr(source, "payload_format", "FORMAT_TF_EXAMPLE"))
    other = sorted(found - {"FORMAT_TF_EXAMPLE"})
    if len(other) > 1:
        raise ConfigError(f"payload: the inputs hold different payloads: {', '.join(other)}")
    return other[0] if other else "FORMAT_TF_EXAMPLE"


SEQUENCE_PAYLOAD = "FORMAT_TF_SEQUENCE_EXAMPLE"


def sequence_step(read, spec: SequenceSpec | None, partition_feature: str | None, tag: str,
                  payload_format: str, buckets: int | None = None):  # fmt: skip
    """`Ingest`'s encoding step for sequences: (ExampleBatches or None when
    `ToTFExample` is to encode, the source outputs with the bad records and
    schema of sequences, the stats PCollection or None). `buckets`: the
    shuffle's (`shuffle_buckets`; None: `BuildSequences`' default).

    Raises:
        ConfigError: `sequence_key` with a source of SequenceExamples.
    """
    if spec is not None:
        if payload_format == SEQUENCE_PAYLOAD:
            raise ConfigError(
                "sequence_key: the input holds tf.SequenceExamples already (payload "
                "sequence_example); leave the sequence options out to re-split them"
            )
        built = read.records | f"BuildSequences{tag}" >> BuildSequences(
            spec, partition_feature=partition_feature, buckets=buckets
        )
        read = read._replace(
            bad_records=(read.bad_records, built["bad_records"])
            | f"FlattenSequenceBad{tag}" >> beam.Flatten(),
            schema=read.schema | f"SequenceSchema{tag}" >> beam.Map(sequence_schema, spec),
        )
        return built["examples"], read, built["stats"]
    if payload_format == SEQUENCE_PAYLOAD:
        return read.records | f"SequenceKeys{tag}" >> SequenceKeys(partition_feature), read, None
    return None, read, None


def shuffle_buckets(spec: SequenceSpec, input_bytes: int) -> int:
    """The buckets of `BuildSequences`' shuffle: `sequence_buckets`, else one
    per 2 MiB of input (`buckets_for`; 0 bytes: not known)."""
    return spec.buckets or buckets_for(input_bytes)


def sequence_report(spec: SequenceSpec, buckets: dict[str, int]) -> dict:
    """The report's `sequence` options (the commit adds the counts,
    `merge_stats`); `buckets`: each input's (`all`, or its split's) shuffle buckets."""
    return {
        "key": list(spec.key),
        "order": spec.order,
        "context": list(spec.context_columns),
        "max_sequence_length": spec.max_length,
        "truncate": spec.truncate if spec.max_length is not None else None,
        "buckets": buckets,
    }


def spec_from_options(values: dict, schema: Schema | None) -> SequenceSpec | None:
    """The `SequenceSpec` of option values (None without `sequence_key`).

    Raises:
        ConfigError: a sequence option without `sequence_key`, or a given
            schema whose context and sequence features clash with the options.
    """
    if not values.get("sequence_key"):
        for name in ("sequence_order", "context", "max_sequence_length", "sequence_buckets"):
            if values.get(name) is not None:
                raise ConfigError(f"{name}: needs `sequence_key` (the column(s) of a sequence)")
        return None
    spec = SequenceSpec(
        key=tuple(values["sequence_key"]),
        order=values.get("sequence_order"),
        context=tuple(values["context"]) if values.get("context") else None,
        max_length=values.get("max_sequence_length"),
        truncate=values.get("truncate") or "last",
        buckets=values.get("sequence_buckets"),
    )
    if schema is not None and schema.sequence:
        context = set(spec.context_columns)
        for column in schema.sequence:
            if column.name in context:
                raise ConfigError(
                    f"schema: {column.name!r} is a sequence feature ({SEQUENCE_FEATURE}) in the "
                    "given schema but a context feature of these options (`sequence_key` or "
                    "`context`); make them agree"
                )
        for column in schema.columns:
            if column.name not in context:
                raise ConfigError(
                    f"schema: {column.name!r} is a context feature in the given schema but a "
                    f"sequence feature of these options; add it to `context` or move it under "
                    f"{SEQUENCE_FEATURE}"
                )
    return spec
