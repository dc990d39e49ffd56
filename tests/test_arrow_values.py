"""The value contract for typed (Arrow) sources."""

from __future__ import annotations

import datetime
import decimal

import pyarrow as pa
import pytest

from beam_ingest.arrow_values import to_example_columns, unsupported_columns


def _one(array: pa.Array) -> tuple[list, dict]:
    batch, failures = to_example_columns(pa.RecordBatch.from_arrays([array], ["c"]))
    return batch.column(0).to_pylist(), failures


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (pa.array([0, -1, None], pa.int8()), [0, -1, None]),
        (pa.array([0, 2**32 - 1], pa.uint32()), [0, 2**32 - 1]),
        (pa.array([False, True, None]), [0, 1, None]),
        (pa.array([0.0, 1.5], pa.float16()), [0.0, 1.5]),
        (pa.array([decimal.Decimal("1.25"), None], pa.decimal128(5, 2)), [1.25, None]),
        (pa.array(["é", ""], pa.string()), ["é".encode(), b""]),
        (pa.array([b"ab"], pa.binary(2)), [b"ab"]),
        (pa.array([datetime.date(1970, 1, 2), datetime.date(1969, 12, 31)]), [1, -1]),
        (pa.array([86_400_000 * 3], pa.date64()), [3]),
        (
            pa.array([datetime.datetime(1970, 1, 1, 0, 0, 1)], pa.timestamp("ns", tz="UTC")),
            [1_000_000],
        ),
        (pa.array([1_500], pa.timestamp("ms", tz="Europe/Paris")), [1_500_000]),
        (pa.array([datetime.time(0, 0, 2)], pa.time32("s")), [2_000_000]),
        (pa.array(["a", "b", "a"]).dictionary_encode(), [b"a", b"b", b"a"]),
        (pa.array([[1, 2], [], None], pa.list_(pa.int16())), [[1, 2], [], None]),
        (pa.array([[1, 2]], pa.list_(pa.int8(), 2)), [[1, 2]]),
        (pa.nulls(2), [None, None]),
    ],
)
def test_values(array, expected):
    values, failures = _one(array)
    assert values == expected
    assert failures == {}


def test_uint64_above_int64_is_a_bad_row():
    values, failures = _one(pa.array([1, 2**63, None], pa.uint64()))
    assert values == [1, None, None]
    assert failures == {1: "column 'c': 9223372036854775808 is above the int64 maximum"}


def test_uint64_overflow_inside_a_list_names_the_row():
    _, failures = _one(pa.array([[1], [2, 2**64 - 1]], pa.list_(pa.uint64())))
    assert failures == {1: "column 'c': 18446744073709551615 is above the int64 maximum"}


def test_structs_flatten_to_parent_child():
    t = pa.struct([("a", pa.int64()), ("b", pa.struct([("c", pa.string())]))])
    array = pa.array([{"a": 1, "b": {"c": "x"}}, None], t)
    batch, _ = to_example_columns(pa.RecordBatch.from_arrays([array], ["s"]))
    assert batch.schema.names == ["s.a", "s.b.c"]
    assert batch.to_pylist() == [{"s.a": 1, "s.b.c": b"x"}, {"s.a": None, "s.b.c": None}]


def test_unsupported_types_are_named():
    schema = pa.schema(
        [
            ("ok", pa.int64()),
            ("m", pa.map_(pa.string(), pa.int64())),
            ("ls", pa.list_(pa.struct([("x", pa.int64())]))),
            ("ll", pa.list_(pa.list_(pa.int64()))),
            ("s", pa.struct([("inner", pa.map_(pa.string(), pa.string()))])),
        ]
    )
    assert [name for name, _ in unsupported_columns(schema)] == ["m", "ls", "ll", "s.inner"]


def test_sliced_lists_keep_their_values():
    array = pa.array([[1], [2, 3], None, [4]], pa.list_(pa.int32())).slice(1)
    values, _ = _one(array)
    assert values == [[2, 3], None, [4]]


def test_schema_from_arrow_kinds():
    from beam_ingest.schema import Kind, Schema

    schema = pa.schema(
        [
            ("i", pa.int64()),
            ("f", pa.float64()),
            ("b", pa.large_binary()),
            ("n", pa.null()),
            ("li", pa.large_list(pa.int64())),
        ]
    )
    assert Schema.from_arrow(schema).to_dict() == {
        "i": "int",
        "f": "float",
        "b": "bytes",
        "n": "unknown",
        "li": "int",
    }
    assert Schema.from_arrow(schema).kind_of("li") == Kind.INT


def test_a_null_inside_a_list_is_a_bad_row():
    _, failures = _one(pa.array([[1, None], [2], None], pa.list_(pa.int64())))
    assert failures == {0: "column 'c': a list holds a null item"}


def test_timestamps_beyond_int64_microseconds_are_bad_rows():
    values, failures = _one(pa.array([1, 2**62, None], pa.timestamp("s")))
    assert values == [1_000_000, None, None]
    assert list(failures) == [1]
    assert "beyond the int64 microsecond range" in failures[1]


def test_nanoseconds_truncate_to_microseconds():
    values, _ = _one(pa.array([1_999, -1_999, 2**63 - 1], pa.timestamp("ns")))
    assert values == [1, -1, (2**63 - 1) // 1000]
