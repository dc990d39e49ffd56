"""CSV cells to typed Arrow columns: TFX's type inference, done by column.

TFX `CsvExampleGen` (tfx_bsl `ColumnTypeInferrer`) calls Python `int()` then
`float()` on each non-empty cell: INT if every cell is an int in int64 range,
FLOAT if every cell parses as a float, else STRING; an integer beyond int64
makes the column STRING. The regular expressions below accept exactly what
`int(bytes)` and `float(bytes)` accept (ASCII whitespace around the value,
`_` between digits, `inf`/`nan` in any case), so the same columns get the same
types without a Python call per cell. `tests/connectors/test_csv_values.py`
checks this against tfx_bsl's own function on random cells.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from beam_ingest.schema import Kind

_WS = r"[\t\n\x0b\x0c\r ]*"
_DIGITS = r"[0-9]+(?:_[0-9]+)*"
INT_PATTERN = rf"^{_WS}[+-]?{_DIGITS}{_WS}$"
FLOAT_PATTERN = (
    rf"^{_WS}[+-]?(?:(?:{_DIGITS}(?:\.(?:{_DIGITS})?)?|\.{_DIGITS})(?:[eE][+-]?{_DIGITS})?"
    rf"|(?i:inf|infinity|nan)){_WS}$"
)
_WHITESPACE = "\t\n\x0b\x0c\r "


def _matches(column: pa.Array, pattern: str) -> pa.Array:
    return pc.fill_null(pc.match_substring_regex(column, pattern), False)


def _normalise_number(column: pa.Array) -> pa.Array:
    """ASCII number text as Arrow's casts take it: no whitespace, no `_`, no
    leading `+` (Python's int() takes "+5", Arrow's int64 cast does not)."""
    text = pc.cast(column, pa.large_string())
    text = pc.utf8_trim(text, characters=_WHITESPACE)
    text = pc.replace_substring_regex(text, r"^\+", "")
    return pc.replace_substring(text, "_", "")


def _plain_cast(column: pa.Array, arrow_type: pa.DataType) -> pa.Array | None:
    """The cells cast by Arrow as they are, or None if any cell does not cast.

    The fast path. Arrow's casts accept `-12`, `1.5e3`, `inf`, ... with the
    values Python's `int()`/`float()` give, and two spellings Python refuses:
    hexadecimal integers (`0x10`) and `nan(...)`; a column holding an `x` or
    a `(` is left to the exact path, like cells in Python's other spellings
    (` 7`, `+7`, `1_000`), which Arrow refuses.
    """
    try:
        text = pc.cast(column, pa.large_string())
        # A failed cast costs about 1 us a cell; a sample shows most failures cheaply.
        pc.cast(text.slice(0, 64), arrow_type)
        for arrow_only in ("x", "X", "("):
            if pc.any(pc.match_substring(text, arrow_only)).as_py():
                return None
        return pc.cast(text, arrow_type)
    except (pa.ArrowInvalid, OverflowError):
        return None


def infer_kind(column: pa.Array) -> Kind:
    """The kind TFX would infer for these cells (nulls are empty cells)."""
    present = pc.is_valid(column)
    if not pc.any(present).as_py():
        return Kind.UNKNOWN
    if _plain_cast(column, pa.int64()) is not None:
        return Kind.INT
    absent = pc.invert(present)
    is_int = _matches(column, INT_PATTERN)
    if pc.any(is_int).as_py():
        try:
            pc.cast(_normalise_number(pc.filter(column, is_int)), pa.int64())
        except (pa.ArrowInvalid, OverflowError):
            return Kind.BYTES  # any integer beyond int64 makes TFX infer STRING
        if pc.all(pc.or_(is_int, absent)).as_py():
            return Kind.INT
    if pc.all(pc.or_(_matches(column, FLOAT_PATTERN), absent)).as_py():
        return Kind.FLOAT
    return Kind.BYTES


def convert(column: pa.Array, kind: Kind) -> tuple[pa.Array, dict[int, str]]:
    """Cells to values of `kind`. Returns the array and {row: reason} for cells
    that do not fit (those rows hold nulls in the array and become bad records).
    """
    if kind is Kind.UNKNOWN:
        return pa.nulls(len(column)), {}
    if kind is Kind.BYTES:
        return _convert_bytes(column)
    pattern, arrow_type, name = (
        (INT_PATTERN, pa.int64(), "an int64")
        if kind is Kind.INT
        else (FLOAT_PATTERN, pa.float64(), "a float")
    )
    if (values := _plain_cast(column, arrow_type)) is not None:
        return values, {}
    ok = _matches(column, pattern)
    bad = pc.and_(pc.is_valid(column), pc.invert(ok))
    failures = {int(i): f"{_show(column[int(i)])} is not {name}" for i in _indices(bad)}
    usable = pc.if_else(ok, column, pa.scalar(None, column.type))
    try:
        values = pc.cast(_normalise_number(usable), arrow_type)
    except (pa.ArrowInvalid, OverflowError):
        # Only an integer beyond int64 gets here; find it cell by cell.
        values, overflow = _convert_ints_slowly(_normalise_number(usable))
        failures.update({i: f"{_show(column[i])} is beyond the int64 range" for i in overflow})
    return values, failures


def _convert_bytes(column: pa.Array) -> tuple[pa.Array, dict[int, str]]:
    try:
        pc.cast(column, pa.large_string())  # validates UTF-8
        return pc.cast(column, pa.large_binary()), {}
    except pa.ArrowInvalid:
        pass
    failures = {}
    for i, cell in enumerate(column.to_pylist()):
        if cell is None:
            continue
        try:
            cell.decode("utf-8")
        except UnicodeDecodeError as e:
            failures[i] = f"invalid UTF-8 at byte {e.start} of the cell"
    mask = pa.array([i in failures for i in range(len(column))])
    cleaned = pc.if_else(mask, pa.scalar(None, column.type), column)
    return pc.cast(cleaned, pa.large_binary()), failures


def _convert_ints_slowly(text: pa.Array) -> tuple[pa.Array, list[int]]:
    lo, hi = -(2**63), 2**63 - 1
    values, overflow = [], []
    for i, cell in enumerate(text.to_pylist()):
        if cell is None:
            values.append(None)
        elif lo <= int(cell) <= hi:
            values.append(int(cell))
        else:
            values.append(None)
            overflow.append(i)
    return pa.array(values, pa.int64()), overflow


def _indices(mask: pa.Array) -> list[int]:
    return pc.indices_nonzero(mask).to_pylist()


def _show(cell: pa.Scalar) -> str:
    value = cell.as_py()
    if isinstance(value, bytes):
        value = value.decode("utf-8", "backslashreplace")
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"
