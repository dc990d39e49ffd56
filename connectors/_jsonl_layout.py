"""The layout of `ReadJsonl`'s records: inferred (`resolve`) or given (`Layout.from_schema`).

A `Layout` is the tree of fields (objects flatten to `parent.child`) with
each leaf's kind and whether it holds arrays. It gives pyarrow's reader its
explicit schema (`Layout.arrow_schema`), and checks lines one by one on the
slow path (`Layout.fit`, `Layout.rows_to_batch`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from beam_ingest.connectors._jsonl_types import (
    ARRAY,
    ARRAY_OF_ARRAYS,
    ARRAY_OF_OBJECTS,
    BOOLEAN,
    FLOAT,
    INTEGER,
    NUMBERS,
    OBJECT,
    SHOWN,
    STRING,
    Observations,
    Path,
    Where,
)
from beam_ingest.errors import ConfigError
from beam_ingest.schema import Kind, Schema

__all__ = ["CONTRACT_TYPES", "Hints", "Layout", "Leaf", "resolve"]

# The widest kind seen decides a leaf's feature kind.
_WIDEST = ((STRING, Kind.BYTES), (FLOAT, Kind.FLOAT), (INTEGER, Kind.INT), (BOOLEAN, Kind.INT))
_EXPECTED = {Kind.INT: "an integer (int64)", Kind.FLOAT: "a number", Kind.BYTES: "a string"}
_EXPECTED[Kind.UNKNOWN] = "null (the field had no value when its type was inferred)"
# The type pyarrow reads a kind as, and the column type under the value contract.
_READ_TYPES = {Kind.INT: pa.int64(), Kind.FLOAT: pa.float64(), Kind.BYTES: pa.string()}
CONTRACT_TYPES = {Kind.INT: pa.int64(), Kind.FLOAT: pa.float64(), Kind.BYTES: pa.large_binary()}
_READ_TYPES[Kind.UNKNOWN] = CONTRACT_TYPES[Kind.UNKNOWN] = pa.null()
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- resolving the notes of inference ---------------------------------------------


def _at(where: Where) -> str:
    return f"{where[0]}:{where[1]}"


def _check_kinds(name: str, kinds: dict[str, Where]) -> None:
    for nested in (ARRAY_OF_OBJECTS, ARRAY_OF_ARRAYS):
        if nested in kinds:
            raise ConfigError(
                f"input: field {name!r} holds an {nested} at {_at(kinds[nested])}; a "
                "tf.Example feature holds one flat list of numbers or of strings"
            )

    def first(group: tuple[str, ...]) -> str | None:
        present = [k for k in group if k in kinds]
        return min(present, key=kinds.__getitem__) if present else None

    for one, others in (((OBJECT,), (ARRAY, STRING, *NUMBERS)), ((STRING,), NUMBERS)):
        a, b = first(one), first(others)
        if a and b:
            (k1, w1), (k2, w2) = sorted([(a, kinds[a]), (b, kinds[b])], key=lambda kw: kw[1])
            raise ConfigError(
                f"input: field {name!r} is {SHOWN[k1]} at {_at(w1)} but {SHOWN[k2]} at "
                f"{_at(w2)}; these kinds do not widen into one feature (only boolean -> "
                "integer -> float do). Fix the data, or give a schema: records that do not "
                "fit it become bad records"
            )


def resolve(seen: Observations) -> Layout:
    """The layout of the merged notes of every file.

    Raises:
        ConfigError: a field mixes kinds that do not widen, holds arrays of
            objects or of arrays, or two fields flatten to the same name.
    """
    order = sorted(seen, key=lambda p: min(seen[p].values()))  # first appearance
    names: dict[str, Path] = {}
    for path in order:
        name = ".".join(path)
        _check_kinds(name, seen[path])
        if names.setdefault(name, path) != path:
            raise ConfigError(
                f"input: the fields {list(names[name])} and {list(path)} both flatten to {name!r}"
            )
    tree: dict = {}
    for path in order:
        kinds = seen[path]
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
        if OBJECT in kinds:
            node.setdefault(path[-1], {})
            continue
        kind = next((kind for seen_kind, kind in _WIDEST if seen_kind in kinds), Kind.UNKNOWN)
        as_bool = kind is Kind.INT and INTEGER not in kinds
        node[path[-1]] = Leaf(
            name=".".join(path), kind=kind, is_list=ARRAY in kinds, as_bool=as_bool
        )
    return Layout(tree=tree, columns=tuple(_leaves(tree)), given=False)


# --- layouts -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class Leaf:
    """One feature: its flat name, kind, whether arrays were seen, and whether
    pyarrow reads it as JSON booleans (no other number was seen)."""

    name: str
    kind: Kind
    is_list: bool = False
    as_bool: bool = False


@dataclasses.dataclass(kw_only=True)
class Hints:
    """What the slow path saw in one chunk, per feature name."""

    arrays: set[str] = dataclasses.field(default_factory=set)
    bools: set[str] = dataclasses.field(default_factory=set)
    numbers: set[str] = dataclasses.field(default_factory=set)


class _Unfit(ValueError):
    pass


def _leaves(tree: dict) -> Iterator[Leaf]:
    for node in tree.values():
        if isinstance(node, Leaf):
            yield node
        else:
            yield from _leaves(node)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Layout:
    """The fields of the records: `tree` maps each key to a `Leaf` or to the
    tree of an object's fields; `columns` are the leaves in schema order."""

    tree: dict
    columns: tuple[Leaf, ...]
    given: bool

    @classmethod
    def from_schema(cls, schema: Schema) -> Layout:
        """A given schema's layout: `parent.child` names are nested fields.

        Raises:
            ConfigError: a name is empty, has an empty part, repeats, or is
                both a feature and the parent of another.
        """
        tree: dict = {}
        for column in schema.columns:
            path = column.name.split(".")
            node = tree
            for i, key in enumerate(path):
                if not key or isinstance(node, Leaf) or (i == len(path) - 1 and key in node):
                    raise ConfigError(
                        f"schema: feature {column.name!r} cannot be read from JSON: names "
                        "are unique, parts of `parent.child` names are not empty, and a "
                        "feature is not also the parent of another"
                    )
                if i < len(path) - 1:
                    node = node.setdefault(key, {})
            node[path[-1]] = Leaf(name=column.name, kind=column.kind)
        leaves = {leaf.name: leaf for leaf in _leaves(tree)}
        return cls(tree=tree, columns=tuple(leaves[c.name] for c in schema.columns), given=True)

    @property
    def schema(self) -> Schema:
        return Schema.from_kinds((leaf.name, leaf.kind) for leaf in self.columns)

    def arrow_schema(self, lists: frozenset[str], bools: frozenset[str]) -> pa.Schema:
        """pyarrow's explicit schema; `lists`/`bools` name leaves learned to hold
        arrays/booleans (beyond what the layout says)."""

        def arrow_type(node: Leaf | dict) -> pa.DataType:
            if isinstance(node, dict):
                return pa.struct([pa.field(k, arrow_type(v)) for k, v in node.items()])
            t = _READ_TYPES[node.kind]
            if node.as_bool or (node.name in bools and node.kind in (Kind.INT, Kind.FLOAT)):
                t = pa.bool_()
            return pa.list_(t) if node.is_list or node.name in lists else t

        return pa.schema([pa.field(k, arrow_type(v)) for k, v in self.tree.items()])

    def fit(self, obj: dict, hints: Hints) -> tuple[dict[str, Any] | None, str | None]:
        """A parsed line to ({feature: value or list}, None), or (None, why it does not fit)."""
        if not self.columns:
            return None, "no field of any record has a value, so there is no feature to write"
        flat: dict[str, Any] = {}
        try:
            _fit(obj, self.tree, "", flat, hints)
        except _Unfit as e:
            return None, str(e)
        return flat, None

    def rows_to_batch(self, rows: list[dict[str, Any]], arrays: set[str]) -> pa.RecordBatch:
        """Fitted rows to a batch of contract types (see `CONTRACT_TYPES`)."""
        columns = []
        for leaf in self.columns:
            if leaf.kind is Kind.UNKNOWN:
                columns.append(pa.nulls(len(rows)))
                continue
            values = [row.get(leaf.name) for row in rows]
            t = CONTRACT_TYPES[leaf.kind]
            if leaf.is_list or leaf.name in arrays:
                values = [v if v is None or isinstance(v, list) else [v] for v in values]
                t = pa.large_list(t)
            columns.append(pa.array(values, t))
        return pa.RecordBatch.from_arrays(columns, names=[leaf.name for leaf in self.columns])


def _fit(obj: dict, tree: dict, prefix: str, flat: dict[str, Any], hints: Hints) -> None:
    for key, value in obj.items():
        node = tree.get(key)
        name = prefix + key
        if node is None:
            raise _Unfit(f"field {name!r} is not in the schema")
        if isinstance(node, dict):
            if isinstance(value, dict):
                _fit(value, node, name + ".", flat, hints)
            elif value is not None:
                raise _Unfit(f"field {name!r}: {_show(value)} is not an object")
        elif isinstance(value, list):
            hints.arrays.add(name)
            flat[name] = [_scalar(node, item, hints) for item in value]
        elif value is not None:
            flat[name] = _scalar(node, value, hints)


def _scalar(leaf: Leaf, value: Any, hints: Hints) -> Any:
    kind = leaf.kind
    if value is None:
        raise _Unfit(f"field {leaf.name!r}: null inside an array (a tf.Example list has no nulls)")
    if isinstance(value, bool | int) and kind in (Kind.INT, Kind.FLOAT):
        (hints.bools if isinstance(value, bool) else hints.numbers).add(leaf.name)
        if kind is Kind.FLOAT:
            try:
                return float(value)
            except OverflowError:
                raise _Unfit(f"field {leaf.name!r}: {value} is beyond the float range") from None
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise _Unfit(f"field {leaf.name!r}: {value} is beyond the int64 range")
        return int(value)
    if isinstance(value, float) and kind is Kind.FLOAT:
        hints.numbers.add(leaf.name)
        if not math.isfinite(value):  # json.loads reads 1e400 as inf
            raise _Unfit(f"field {leaf.name!r}: the number is beyond the float range")
        return value
    if isinstance(value, str) and kind is Kind.BYTES:
        return value
    raise _Unfit(f"field {leaf.name!r}: {_show(value)} is not {_EXPECTED[kind]}")
