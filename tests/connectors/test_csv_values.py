"""Column-wise CSV typing equals TFX's cell-by-cell `int()` / `float()` rules."""

from __future__ import annotations

import math

import pyarrow as pa
from hypothesis import example, given, settings
from hypothesis import strategies as st
from tfx_bsl.coders import csv_decoder

from beam_ingest.connectors import _csv_values
from beam_ingest.schema import Kind

_TFX_KIND = {
    csv_decoder.ColumnType.UNKNOWN: Kind.UNKNOWN,
    csv_decoder.ColumnType.INT: Kind.INT,
    csv_decoder.ColumnType.FLOAT: Kind.FLOAT,
    csv_decoder.ColumnType.STRING: Kind.BYTES,
}

cells = st.one_of(
    st.text(alphabet="0123456789+-._eE \t", max_size=8),
    st.sampled_from(
        [
            "inf",
            "-Infinity",
            "NaN",
            "nan",
            "1e5",
            "1_000",
            "1__0",
            "_1",
            " 7 ",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775809",
            "0x10",
            "1.5.2",
            "\x0b5\x0c",
            "\u216b",
            "\u0661",
        ]
    ),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True).map(repr),
).map(lambda s: s.encode("utf-8"))


def _tfx_kind(values: list[bytes]) -> Kind:
    kinds = [csv_decoder._InferValueType(v) for v in values]
    return _TFX_KIND[max(kinds)] if kinds else Kind.UNKNOWN


EDGE_CASES = [b"+0", b" -0 ", b"+1_0", b"+inf", b"\x0c+7\x0b", b"-", b"+", b"1e", b"_"]
# Arrow's casts take these, Python's int() and float() do not.
ARROW_ONLY = [b"0x10", b"0X1F", b"nan(1)", b"1.5"]


# Derandomized so CI runs the same cases every time; the edge cases found by
# earlier random searches are pinned with @example.
@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.lists(cells, min_size=1, max_size=6))
@example([b"inf", b"9223372036854775808"])
@example(EDGE_CASES)
@example(ARROW_ONLY)
@example([b"0x10"])
@example([b"1", b"nan(2)"])
def test_inference_equals_tfx(values):
    column = pa.array([v or None for v in values], pa.binary())
    assert _csv_values.infer_kind(column) == _tfx_kind([v for v in values if v])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(cells, min_size=1, max_size=6))
@example([b"+0", b" -0 ", b"+1_0"])
@example([b"+inf", b"+1.5", b"-2e3"])
def test_conversion_equals_python(values):
    present = [v for v in values if v]
    kind = _tfx_kind(present)
    column = pa.array([v or None for v in values], pa.binary())
    converted, failures = _csv_values.convert(column, kind)
    assert failures == {}
    for cell, value in zip(values, converted.to_pylist(), strict=True):
        if not cell or kind is Kind.UNKNOWN:
            assert value is None
        elif kind is Kind.INT:
            assert value == int(cell)
        elif kind is Kind.FLOAT:
            expected = float(cell)
            assert (math.isnan(value) and math.isnan(expected)) or value == expected
        else:
            assert value == cell


def test_cells_that_do_not_fit_a_given_kind():
    column = pa.array([b"1", b"x", None, b"99999999999999999999"], pa.binary())
    values, failures = _csv_values.convert(column, Kind.INT)
    assert values.to_pylist() == [1, None, None, None]
    assert failures == {
        1: "'x' is not an int64",
        3: "'99999999999999999999' is beyond the int64 range",
    }


def test_invalid_utf8_is_a_failure_for_bytes():
    column = pa.array([b"ok", b"\xff\xfe", None], pa.binary())
    values, failures = _csv_values.convert(column, Kind.BYTES)
    assert values.to_pylist() == [b"ok", None, None]
    assert failures == {1: "invalid UTF-8 at byte 0 of the cell"}


def test_each_edge_case_alone():
    for cell in EDGE_CASES:
        assert _csv_values.infer_kind(pa.array([cell], pa.binary())) == _tfx_kind([cell]), cell


def test_spellings_only_arrow_takes_do_not_fit_a_given_kind():
    ints, int_failures = _csv_values.convert(pa.array([b"7", b"0x10"], pa.binary()), Kind.INT)
    floats, float_failures = _csv_values.convert(
        pa.array([b"1.5", b"nan(1)"], pa.binary()), Kind.FLOAT
    )
    assert ints.to_pylist() == [7, None]
    assert int_failures == {1: "'0x10' is not an int64"}
    assert floats.to_pylist() == [1.5, None]
    assert float_failures == {1: "'nan(1)' is not a float"}
