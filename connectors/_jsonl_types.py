"""JSON values to tf.Example kinds, for `ReadJsonl`: inference, layouts, the slow path.

Inference notes, per field path, the first place (file, line) each kind of
JSON value was seen: from pyarrow's own type inference on a chunk when it
succeeds, else from `json.loads` line by line. `resolve` turns the merged
notes into a `Layout`: the tree of fields (objects flatten to `parent.child`)
with each leaf's kind and whether it holds arrays. The layout gives pyarrow's
reader its explicit schema, and checks lines one by one on the slow path
(`parse_line`, `Layout.fit`, `Layout.rows_to_batch`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from beam_ingest.errors import ConfigError
from beam_ingest.schema import Kind, Schema

Path = tuple[str, ...]
Where = tuple[str, int, int]  # file, line, order of the note in that file's walk
Observations = dict[Path, dict[str, Where]]

NULL, BOOLEAN, INTEGER, FLOAT, STRING = "null", "boolean", "integer", "float", "string"
OBJECT, ARRAY = "object", "array"
ARRAY_OF_OBJECTS, ARRAY_OF_ARRAYS = "array of objects", "array of arrays"
_NUMBERS = (BOOLEAN, INTEGER, FLOAT)
_IN_ARRAY = {OBJECT: ARRAY_OF_OBJECTS, ARRAY: ARRAY_OF_ARRAYS}
# json.loads makes exactly these types
_KINDS = {type(None): NULL, bool: BOOLEAN, int: INTEGER, float: FLOAT, str: STRING}
_KINDS.update({list: ARRAY, dict: OBJECT})
_SHOWN = {NULL: "null", BOOLEAN: "a boolean", INTEGER: "a number", FLOAT: "a number"}
_SHOWN.update({STRING: "a string", OBJECT: "an object", ARRAY: "an array"})
# The widest kind seen decides a leaf's feature kind.
_WIDEST = ((STRING, Kind.BYTES), (FLOAT, Kind.FLOAT), (INTEGER, Kind.INT), (BOOLEAN, Kind.INT))
_EXPECTED = {Kind.INT: "an integer (int64)", Kind.FLOAT: "a number", Kind.BYTES: "a string"}
_EXPECTED[Kind.UNKNOWN] = "null (the field had no value when its type was inferred)"
# The type pyarrow reads a kind as, and the column type under the value contract.
_READ_TYPES = {Kind.INT: pa.int64(), Kind.FLOAT: pa.float64(), Kind.BYTES: pa.string()}
CONTRACT_TYPES = {Kind.INT: pa.int64(), Kind.FLOAT: pa.float64(), Kind.BYTES: pa.large_binary()}
_READ_TYPES[Kind.UNKNOWN] = CONTRACT_TYPES[Kind.UNKNOWN] = pa.null()
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _kind(value: Any) -> str:
    return _KINDS[type(value)]


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, float) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- one line ----------------------------------------------------------------


class _NotJson(ValueError):
    pass


def _reject_constant(name: str) -> None:
    raise _NotJson(f"{name} is not valid JSON (JSON has no NaN or Infinity)")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    out = dict(pairs)
    if len(out) < len(pairs):
        twice = next(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
        raise _NotJson(f"key {twice!r} appears twice in one object")
    return out


#: Objects and arrays nested deeper than this are bad records. pyarrow's JSON
#: parser recurses without a limit (it crashes the process at some 10,000
#: levels) and json.loads stops at Python's recursion limit; this keeps both
#: far away and gives every record the same fate on the fast and slow paths.
MAX_DEPTH = 100
_QUOTE, _BACKSLASH, _NL = ord('"'), ord("\\"), ord("\n")
_OPENS, _CLOSES = (ord("{"), ord("[")), (ord("}"), ord("]"))


def too_deep(data: bytes) -> bool:
    """True if a line of `data` nests objects and arrays deeper than MAX_DEPTH.

    A line cannot nest deeper than it has opening brackets; only lines with
    more than MAX_DEPTH of them are measured exactly (`max_depth`).
    """
    a = np.frombuffer(data, np.uint8)
    opens = np.flatnonzero((a | 0x20) == _OPENS[0])  # `[` | 0x20 is `{`; no other byte
    if len(opens) <= MAX_DEPTH:
        return False
    ends = np.searchsorted(opens, np.flatnonzero(a == _NL))
    per_line = np.diff(ends, prepend=0, append=len(opens))
    return bool(per_line.max() > MAX_DEPTH) and max_depth(data) > MAX_DEPTH


def max_depth(data: bytes) -> int:
    """The deepest nesting of objects and arrays in any line of `data`, brackets
    inside strings not counted (exact for valid JSON lines; columnar: Python
    runs only for quotes preceded by a backslash)."""
    a = np.frombuffer(data, np.uint8)
    brackets = (a == _OPENS[0]) | (a == _OPENS[1]) | (a == _CLOSES[0]) | (a == _CLOSES[1])
    if not brackets.any():
        return 0
    events = np.flatnonzero(brackets | (a == _QUOTE) | (a == _NL))
    kinds = a[events]
    quote = kinds == _QUOTE
    # A quote opens or closes a string unless an odd run of backslashes precedes it.
    for i in np.flatnonzero(quote & (a[np.maximum(events - 1, 0)] == _BACKSLASH) & (events > 0)):
        position, run = int(events[i]) - 1, 0
        while position >= 0 and a[position] == _BACKSLASH:
            position, run = position - 1, run + 1
        quote[i] = run % 2 == 0
    order = np.arange(len(events))
    last_newline = np.maximum.accumulate(np.where(kinds == _NL, order, -1))

    def since_line_start(counts: np.ndarray) -> np.ndarray:
        return counts - np.where(last_newline >= 0, counts[np.maximum(last_newline, 0)], 0)

    outside = since_line_start(np.cumsum(quote)) % 2 == 0
    step = ((kinds == _OPENS[0]) | (kinds == _OPENS[1])).astype(np.int64)
    step -= (kinds == _CLOSES[0]) | (kinds == _CLOSES[1])
    return int(since_line_start(np.cumsum(np.where(outside, step, 0))).max())


def parse_line(raw: bytes) -> tuple[dict | None, str | None]:
    """One line to (object, None), or (None, why it is not a record)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return None, f"invalid UTF-8 at byte {e.start} of the line"
    if too_deep(raw):
        return None, f"invalid JSON: nested too deeply (more than {MAX_DEPTH} levels)"
    try:
        value = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except _NotJson as e:
        return None, str(e)
    except json.JSONDecodeError as e:
        return None, f"invalid JSON: {e.msg} at column {e.colno}"
    except RecursionError:
        return None, "invalid JSON: nested too deeply"
    if not isinstance(value, dict):
        return None, f"not a JSON object: the line holds {_SHOWN[_kind(value)]}"
    if "\\u" in text:  # an escape may spell a lone surrogate, which is not Unicode
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return None, "a \\u escape spells a lone surrogate, which is not valid Unicode"
    return value, None


# --- inference ---------------------------------------------------------------


class Observer:
    """The first (line, order) of each kind of value at each field path of one file."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.seen: Observations = {}
        self._order = 0

    def _note(self, path: Path, kind: str, line: int | Callable[[], int]) -> None:
        """`line` is a number, or a function computing it (called only if the kind is new)."""
        kinds = self.seen.setdefault(path, {})
        if kind not in kinds:
            kinds[kind] = (self.file, line if isinstance(line, int) else line(), self._order)
        self._order += 1

    def observe_object(self, obj: dict, line: int, path: Path = ()) -> None:
        """Notes one parsed line (the slow path)."""
        for key, value in obj.items():
            child = (*path, key)
            kind = _kind(value)
            self._note(child, kind, line)
            if kind == OBJECT:
                self.observe_object(value, line, child)
            elif kind == ARRAY:
                for item in dict.fromkeys(map(_kind, value)):
                    item = _IN_ARRAY.get(item, item)
                    if item != NULL:
                        self._note(child, item, line)

    def observe_table(self, table: pa.Table, line_of: Callable[[int], int]) -> None:
        """Notes a chunk typed by pyarrow's inference; `line_of(row)` is a row's line."""
        for field, column in zip(table.schema, table.columns, strict=True):
            self._observe_array((field.name,), column.combine_chunks(), line_of)

    def _observe_array(self, path: Path, array: pa.Array, line_of: Callable[[int], int]) -> None:
        kind = _arrow_kind(array.type)
        if kind == NULL:  # no value in this chunk: where the key is does not matter
            self._note(path, NULL, lambda: line_of(0))
            return
        self._note(path, kind, lambda: line_of(_first_valid(array)))
        if kind == OBJECT:
            for field, child in zip(array.type, array.flatten(), strict=True):
                self._observe_array((*path, field.name), child, line_of)
        elif kind == ARRAY and (item := _arrow_kind(array.type.value_type)) != NULL:

            def first_item_line() -> int:
                row = pc.list_parent_indices(array)[_first_valid(array.flatten())]
                return line_of(row.as_py())

            self._note(path, _IN_ARRAY.get(item, item), first_item_line)


def _first_valid(array: pa.Array) -> int:
    return pc.index(pc.is_valid(array), True).as_py()


def _arrow_kind(t: pa.DataType) -> str:
    for test, kind in _ARROW_KINDS:
        if test(t):
            return kind
    return STRING  # strings, and strings pyarrow read as timestamps


_ARROW_KINDS = (
    (pa.types.is_null, NULL),
    (pa.types.is_boolean, BOOLEAN),
    (pa.types.is_integer, INTEGER),
    (pa.types.is_floating, FLOAT),
    (pa.types.is_struct, OBJECT),
    (pa.types.is_list, ARRAY),
)


def plain_numbers(table: pa.Table) -> bool:
    """False if a double could come from NaN/Infinity or an integer beyond int64
    (pyarrow reads both silently as doubles); the line parser decides those."""
    for column in table.columns:
        for values in _leaf_arrays(column.combine_chunks()):
            if pa.types.is_floating(values.type):
                ok = pc.less(pc.abs(values), 2.0**63)  # false for NaN, null for null
                if pc.any(pc.invert(pc.fill_null(ok, True))).as_py():
                    return False
    return True


def _leaf_arrays(array: pa.Array) -> Iterator[pa.Array]:
    if pa.types.is_struct(array.type):
        for child in array.flatten():
            yield from _leaf_arrays(child)
    elif pa.types.is_list(array.type) or pa.types.is_large_list(array.type):
        yield from _leaf_arrays(array.flatten())
    else:
        yield array


def merge(into: Observations, other: Observations) -> Observations:
    """Keeps the first place of each kind at each path (places order by file, line)."""
    for path, kinds in other.items():
        target = into.setdefault(path, {})
        for kind, where in kinds.items():
            if kind not in target or where < target[kind]:
                target[kind] = where
    return into


def _at(where: Where) -> str:
    return f"{where[0]}:{where[1]}"


def _check_kinds(name: str, kinds: dict[str, Where]) -> None:
    for nested in (ARRAY_OF_OBJECTS, ARRAY_OF_ARRAYS):
        if nested in kinds:
            raise ConfigError(
                f"--input: field {name!r} holds an {nested} at {_at(kinds[nested])}; a "
                "tf.Example feature holds one flat list of numbers or of strings"
            )

    def first(group: tuple[str, ...]) -> str | None:
        present = [k for k in group if k in kinds]
        return min(present, key=kinds.__getitem__) if present else None

    for one, others in (((OBJECT,), (ARRAY, STRING, *_NUMBERS)), ((STRING,), _NUMBERS)):
        a, b = first(one), first(others)
        if a and b:
            (k1, w1), (k2, w2) = sorted([(a, kinds[a]), (b, kinds[b])], key=lambda kw: kw[1])
            raise ConfigError(
                f"--input: field {name!r} is {_SHOWN[k1]} at {_at(w1)} but {_SHOWN[k2]} at "
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
                f"--input: the fields {list(names[name])} and {list(path)} both flatten to {name!r}"
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
        node[path[-1]] = Leaf(".".join(path), kind, is_list=ARRAY in kinds, as_bool=as_bool)
    return Layout(tree, tuple(_leaves(tree)), given=False)


# --- layouts -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Leaf:
    """One feature: its flat name, kind, whether arrays were seen, and whether
    pyarrow reads it as JSON booleans (no other number was seen)."""

    name: str
    kind: Kind
    is_list: bool = False
    as_bool: bool = False


@dataclasses.dataclass
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


@dataclasses.dataclass(frozen=True)
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
            node[path[-1]] = Leaf(column.name, column.kind)
        leaves = {leaf.name: leaf for leaf in _leaves(tree)}
        return cls(tree, tuple(leaves[c.name] for c in schema.columns), given=True)

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
