"""JSON values seen by `ReadJsonl`: one line parsed, and what inference observes.

Inference notes, per field path, the first place (file, line) each kind of
JSON value was seen: from pyarrow's own type inference on a chunk when it
succeeds (`Observer.observe_table`), else from `json.loads` line by line
(`parse_line`, `Observer.observe_object`). `merge` keeps the first place of
each kind over several files; `_jsonl_layout.resolve` turns the merged notes
into the layout the read follows.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "ARRAY",
    "ARRAY_OF_ARRAYS",
    "ARRAY_OF_OBJECTS",
    "BOOLEAN",
    "FLOAT",
    "INTEGER",
    "MAX_DEPTH",
    "NULL",
    "NUMBERS",
    "OBJECT",
    "SHOWN",
    "STRING",
    "Observations",
    "Observer",
    "Path",
    "Where",
    "max_depth",
    "merge",
    "parse_line",
    "plain_numbers",
    "too_deep",
]

Path = tuple[str, ...]
Where = tuple[str, int, int]  # file, line, order of the note in that file's walk
Observations = dict[Path, dict[str, Where]]

NULL, BOOLEAN, INTEGER, FLOAT, STRING = "null", "boolean", "integer", "float", "string"
OBJECT, ARRAY = "object", "array"
ARRAY_OF_OBJECTS, ARRAY_OF_ARRAYS = "array of objects", "array of arrays"
NUMBERS = (BOOLEAN, INTEGER, FLOAT)
_IN_ARRAY = {OBJECT: ARRAY_OF_OBJECTS, ARRAY: ARRAY_OF_ARRAYS}
# json.loads makes exactly these types
_KINDS = {type(None): NULL, bool: BOOLEAN, int: INTEGER, float: FLOAT, str: STRING}
_KINDS.update({list: ARRAY, dict: OBJECT})
#: How a message names a value of each kind.
SHOWN = {NULL: "null", BOOLEAN: "a boolean", INTEGER: "a number", FLOAT: "a number"}
SHOWN.update({STRING: "a string", OBJECT: "an object", ARRAY: "an array"})


def _kind(value: Any) -> str:
    return _KINDS[type(value)]


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
        return None, f"not a JSON object: the line holds {SHOWN[_kind(value)]}"
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
