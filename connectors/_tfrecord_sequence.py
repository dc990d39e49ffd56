"""TFRecord input of tf.SequenceExamples (`ReadTFRecord(payload="sequence_example")`).

A record is a bad record when protobuf rejects it as a SequenceExample, when
it parses only by keeping fields a SequenceExample does not define, or when
it has no `feature_lists` field at all: a tf.Example's bytes parse as a
SequenceExample with its features as the context and no feature lists, so
that is what a tf.Example in the input looks like. (beam-ingest writes
`feature_lists` in every SequenceExample, even one without feature lists.)

Kinds are tracked as for tf.Examples (`_tfrecord_kinds`), the feature lists'
under `##SEQUENCE##/name`, every step of a list having to share one kind;
`schema_of` puts them in the schema's `sequence` part.
"""

from __future__ import annotations

from types import SimpleNamespace

from beam_ingest.connectors._tfrecord_kinds import Seen, note_kind, track_kinds
from beam_ingest.schema import SEQUENCE_FEATURE, Schema
from beam_ingest.sequence_example import sequence_example_class

__all__ = [
    "diagnose",
    "is_sequence_example",
    "schema_of",
    "sequence_example_class",
    "track_sequence_kinds",
]

_PREFIX = SEQUENCE_FEATURE + "/"


def is_sequence_example(record) -> bool:
    """A parsed record that is a SequenceExample (it has `feature_lists`)."""
    return record.HasField("feature_lists")


def diagnose(data: bytes, parsed) -> str:
    """Why a record is not a tf.SequenceExample (`parsed`: it or None)."""
    if parsed is None:
        return "the protobuf parser rejects it as a tf.SequenceExample"
    if not is_sequence_example(parsed):
        return "it has no feature_lists (a tf.Example? use payload example for tf.Example input)"
    return "it holds fields that a tf.SequenceExample does not define"


def track_sequence_kinds(record, path: str, index: int, kinds: dict, where: dict) -> None:
    """`track_kinds` for a SequenceExample: its context, then each feature list's steps.

    Raises:
        DataError: a feature has another kind than in an earlier record or step.
    """
    track_kinds(SimpleNamespace(features=record.context), path, index, kinds, where)
    for name, feature_list in record.feature_lists.feature_list.items():
        key = _PREFIX + name
        for feature in feature_list.feature:
            note_kind(key, feature.WhichOneof("kind"), path, index, kinds, where)
        if key not in kinds:  # an empty feature list: present, kind unknown
            kinds[key] = None
            where[key] = index


def schema_of(acc: Seen) -> Schema:
    """The merged kinds: context features, and the feature lists as `sequence`."""
    context = [(n, acc[n][0]) for n in sorted(acc) if not n.startswith(_PREFIX)]
    lists = [(n[len(_PREFIX) :], acc[n][0]) for n in sorted(acc) if n.startswith(_PREFIX)]
    return Schema(Schema.from_kinds(context).columns, sequence=Schema.from_kinds(lists).columns)
