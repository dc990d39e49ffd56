"""The schema of TFRecord input: feature kinds, seen while reading (for `ReadTFRecord`).

Each file's reader notes {feature: (kind, path, record)}, the record being
the first in which the feature had its kind (`track_kinds`); one
`MergeCombineFn(dict, merge_kinds, schema_of)` merges the files' notes into
one `Schema`, columns sorted by name. A feature seen only as an empty
`Feature()` is `Kind.UNKNOWN`; a feature with two kinds raises `DataError`
naming both and where each was seen.
"""

from __future__ import annotations

from beam_ingest.errors import DataError
from beam_ingest.schema import Kind, Schema

__all__ = ["KINDS", "Seen", "merge_kinds", "note_kind", "schema_of", "track_kinds"]

#: A Feature's oneof field name (None: an empty Feature()) -> its kind.
KINDS = {
    None: Kind.UNKNOWN,
    "int64_list": Kind.INT,
    "float_list": Kind.FLOAT,
    "bytes_list": Kind.BYTES,
}
_KIND_NAMES = {kind: name or "an empty Feature()" for name, kind in KINDS.items()}
_ABSENT = object()

#: {feature: (kind, file, record where the kind was first seen)}
Seen = dict[str, tuple[Kind, str, int]]


def track_kinds(example, path: str, index: int, kinds: dict, where: dict[str, int]) -> None:
    """Notes the kind of each feature of one example (`kinds`: feature -> its
    oneof field name; `where`: feature -> the record its kind was first seen in).

    Raises:
        DataError: a feature has another kind than in an earlier example.
    """
    for name, feature in example.features.feature.items():
        note_kind(name, feature.WhichOneof("kind"), path, index, kinds, where)


def note_kind(name: str, kind: str | None, path: str, index: int, kinds: dict, where: dict) -> None:
    """Notes one Feature's kind (its oneof field name; None for an empty
    `Feature()`) under `name`, as `track_kinds` does for each feature.

    Raises:
        DataError: `name` had another kind in an earlier record.
    """
    seen = kinds.get(name, _ABSENT)
    if seen == kind:
        return
    if seen is _ABSENT or seen is None:
        kinds[name] = kind
        where[name] = index
    elif kind is not None:
        raise _mixed_kinds(name, (KINDS[seen], path, where[name]), (KINDS[kind], path, index))


def merge_kinds(acc: Seen, seen: Seen) -> Seen:
    """`seen` merged into `acc` (in place).

    Raises:
        DataError: a feature has two different kinds (empty `Feature()` aside).
    """
    for name, observed in seen.items():
        known = acc.get(name)
        if known is None or known[0] is Kind.UNKNOWN:
            acc[name] = observed
        elif observed[0] is not Kind.UNKNOWN and observed[0] is not known[0]:
            raise _mixed_kinds(name, known, observed)
    return acc


def schema_of(acc: Seen) -> Schema:
    """The merged kinds as a Schema, columns sorted by name."""
    return Schema.from_kinds((name, acc[name][0]) for name in sorted(acc))


def _mixed_kinds(
    name: str, first: tuple[Kind, str, int], second: tuple[Kind, str, int]
) -> DataError:
    (kind_a, path_a, record_a), (kind_b, path_b, record_b) = sorted(
        [first, second], key=lambda t: (t[1], t[2])
    )
    return DataError(
        f"feature {name!r} is {_KIND_NAMES[kind_a]} in {path_a} record {record_a} but "
        f"{_KIND_NAMES[kind_b]} in {path_b} record {record_b}: a feature must have one kind "
        "in every example (tfx_bsl's example decoder, used by StatisticsGen and Transform, "
        "rejects mixed kinds)"
    )
