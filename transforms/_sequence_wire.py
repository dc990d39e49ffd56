"""tf.SequenceExample bytes from Arrow batches, column by column (for `BuildSequences`).

Only bytes, strings and tuples cross the shuffle (Beam's coders write them
without pickling). Before the GroupByKey, each RecordBatch is cut into one *chunk* per key
(`chunks_of`): the batch is sorted by (key, order) with Arrow's stable sort,
each column's steps are written for all rows at once as `0a len Feature` (a
FeatureList's repeated field, `_wire.feature_array`), and a key's steps of a
column are one contiguous slice of that column's bytes. A chunk is a plain
tuple (Beam encodes it cheaply):

    (file, context, conflict, order_kind, order, nulls, lengths, columns, names)

- `context`: each context column's Feature bytes (from the chunk's first row);
- `conflict`: None, or (context column, value, other value) when the chunk's
  rows disagree;
- `order_kind` ("int", "float", "S<width>" for text, or None: no order
  column, or all NULL), `order` (the values' numpy bytes, sorted), `nulls`
  (one byte per step: a NULL order value);
- `lengths`: int32 numpy bytes (steps x columns): each step's bytes per column;
- `columns`: per sequence column (`names`, in protobuf key order), its steps'
  bytes, concatenated.

After the GroupByKey, `merge` sorts the steps of several chunks into one
(numpy gathers, no Python object per step), `truncate` keeps N of them and
`serialize` writes the SequenceExample in protobuf's deterministic order.
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from beam_ingest.errors import ConfigError, DataError
from beam_ingest.protowire import encode_varint
from beam_ingest.transforms._wire import feature_array, length_prefixed
from beam_ingest.transforms.encode import protobuf_key_order, to_list_array

__all__ = ["chunks_of", "merge", "serialize", "steps_of", "truncate"]

FILE, CONTEXT, CONFLICT, KIND, ORDER, NULLS, LENGTHS, COLUMNS, NAMES = range(9)
_EMPTY_STEP = b"\x0a\x00"  # a step with an empty Feature()
_EMPTY = pa.scalar(b"", pa.large_binary())


def _features(batch: pa.RecordBatch, name: str) -> pa.Array:
    return feature_array(to_list_array(batch.column(name)))


def _order_values(column: pa.Array, name: str, file: str):
    """(kind, numpy values with NULLs as 0/b"", numpy NULL mask) of the order column."""
    t = column.type
    nulls = column.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_null(t):
        return None, np.zeros(len(column), np.int64), nulls
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        values = pc.fill_null(pc.cast(column, pa.int64()), 0)
        return "int", values.to_numpy(zero_copy_only=False), nulls
    if pa.types.is_floating(t):
        values = pc.fill_null(pc.cast(column, pa.float64()), 0.0)
        return "float", values.to_numpy(zero_copy_only=False), nulls
    if (
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_string(t)
        or (pa.types.is_large_string(t))
    ):
        values = np.array(pc.fill_null(pc.cast(column, pa.large_binary()), b"").to_pylist())
        return f"S{values.itemsize}", values, nulls
    raise ConfigError(
        f"sequence_order: {name!r} holds {t} values in {file or 'a batch'}; the order column "
        "must hold one int, float or text value per row"
    )


def chunks_of(
    batch: pa.RecordBatch, key: list[str], order: str | None, context: list[str], file: str
) -> tuple[list[tuple[bytes, tuple]], np.ndarray]:
    """The batch's chunks by key, and the indices of its rows with a NULL key.

    Raises:
        ConfigError: a key, order or context column is missing, or the order
            column is not sortable.
    """
    names = batch.schema.names
    for option, wanted in (("sequence_key", key), ("sequence_order", [order] if order else [])):
        for name in wanted:
            if name not in names:
                raise ConfigError(
                    f"{option}: column {name!r} is not in {file or 'the input'}; "
                    f"columns: {sorted(names)}"
                )
    missing = [c for c in context if c not in names]
    if missing:
        raise ConfigError(
            f"context: column {missing[0]!r} is not in {file or 'the input'}; "
            f"columns: {sorted(names)}"
        )
    keys = [_features(batch, k) for k in key]
    valid = np.ones(batch.num_rows, bool)
    for k in key:
        lengths = pc.list_value_length(to_list_array(batch.column(k)))
        valid &= pc.fill_null(lengths, 0).to_numpy(zero_copy_only=False) > 0
    null_rows = np.flatnonzero(~valid)
    joined = pc.binary_join_element_wise(*keys, _EMPTY) if len(keys) > 1 else keys[0]
    sort = {"key": joined, "row": pa.array(np.arange(batch.num_rows))}
    if order is not None:
        column = batch.column(order)
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            raise ConfigError(
                f"sequence_order: {order!r} holds lists in {file or 'a batch'}; the order "
                "column must hold one value per row"
            )
        _order_values(column, order, file)  # refuses a type that does not sort
        if not pa.types.is_null(column.type):
            sort["order"] = column
    table = pa.table(sort).filter(pa.array(valid))
    if not table.num_rows:
        return [], null_rows
    sort_keys = [("key", "ascending")] + ([("order", "ascending")] if "order" in sort else [])
    order_index = pc.sort_indices(table, sort_keys)  # stable; NULLs at the end
    index = pc.take(table.column("row"), order_index).combine_chunks()
    rows = batch.take(index)
    key_sorted = pc.take(joined, index)
    n = rows.num_rows
    starts = np.flatnonzero(
        np.concatenate([[True], ~pc.equal(key_sorted[1:], key_sorted[:-1]).to_numpy(False)])
    )
    ends = np.append(starts[1:], n)
    kind, values, nulls = (None, np.zeros(n, np.int64), np.ones(n, bool))
    if order is not None:
        kind, values, nulls = _order_values(rows.column(order), order, file)
        if nulls.all():
            kind = None
    context_values, conflicts = [], {}
    for name in context:
        features = key_sorted if key == [name] else _features(rows, name)
        context_values.append(features.take(pa.array(starts)).to_pylist())
        if n > 1:
            differs = ~pc.equal(features[1:], features[:-1]).to_numpy(zero_copy_only=False)
            differs[starts[1:] - 1] = False  # a new key, not a conflict
            for at in np.flatnonzero(differs):
                group = int(np.searchsorted(starts, at, "right")) - 1
                if group not in conflicts:
                    a, b = features[int(at)].as_py(), features[int(at) + 1].as_py()
                    conflicts[group] = (name, a, b)
    seq_names = sorted((c for c in rows.schema.names if c not in context), key=protobuf_key_order)
    offsets, data = [], []
    for name in seq_names:
        steps = length_prefixed(0x0A, _features(rows, name))
        _, offs, buf = steps.buffers()
        offs = np.frombuffer(offs, np.int64)[steps.offset : steps.offset + n + 1]
        offsets.append(offs)
        data.append(buf.to_pybytes() if buf is not None else b"")
    lengths = (
        np.stack([np.diff(o) for o in offsets], axis=1).astype(np.int32)
        if offsets
        else np.zeros((n, 0), np.int32)
    )
    names_t = tuple(seq_names)
    group_keys = key_sorted.take(pa.array(starts)).to_pylist()
    values_b, nulls_b, lengths_b = values.tobytes(), nulls.tobytes(), lengths.tobytes()
    item, row = values.itemsize, 4 * len(seq_names)
    cuts = [(d, o.tolist()) for d, o in zip(data, offsets, strict=True)]
    contexts = list(zip(*context_values, strict=True))
    out = []
    for g, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        chunk = (file, contexts[g], conflicts.get(g), kind, values_b[s * item : e * item],
                 nulls_b[s:e], lengths_b[s * row : e * row],
                 tuple(d[o[s] : o[e]] for d, o in cuts), names_t)  # fmt: skip
        out.append((group_keys[g], chunk))
    return out, null_rows


def steps_of(chunk: tuple) -> int:
    return len(chunk[NULLS])


def _lengths(chunk: tuple) -> np.ndarray:
    return np.frombuffer(chunk[LENGTHS], np.int32).reshape(-1, len(chunk[NAMES]))


def _dtype(kind: str | None):
    return {"int": np.int64, "float": np.float64, None: np.int64}.get(kind) or np.dtype(kind)


def _order(chunk: tuple) -> np.ndarray:
    return np.frombuffer(chunk[ORDER], _dtype(chunk[KIND]))


def _widen(chunk: tuple, names: tuple[str, ...]) -> tuple:
    """The chunk with a column of empty steps for each of `names` it lacks."""
    if chunk[NAMES] == names:
        return chunk
    n = steps_of(chunk)
    have = dict(zip(chunk[NAMES], range(len(chunk[NAMES])), strict=True))
    lengths = np.full((n, len(names)), len(_EMPTY_STEP), np.int32)
    own = _lengths(chunk)
    columns = []
    for j, name in enumerate(names):
        if name in have:
            lengths[:, j] = own[:, have[name]]
            columns.append(chunk[COLUMNS][have[name]])
        else:
            columns.append(_EMPTY_STEP * n)
    return (*chunk[:LENGTHS], lengths.tobytes(), tuple(columns), names)


def _order_kind(chunks: list[tuple], order: str | None) -> str | None:
    kinds = {_category(c[KIND]) for c in chunks} - {None}
    if kinds == {"int", "float"}:
        return "float"
    if len(kinds) > 1:
        where = {_category(c[KIND]): c[FILE] for c in chunks if c[KIND]}
        described = ", ".join(f"{k} in {where[k] or 'a batch'}" for k in sorted(where))
        raise DataError(
            f"sequence_order: {order!r} is not sortable: it has mixed types ({described}); "
            "give it one type (e.g. with `schema`)"
        )
    return kinds.pop() if kinds else None


def _category(kind: str | None) -> str | None:
    return "text" if kind and kind.startswith("S") else kind


def merge(chunks: list[tuple], order: str | None) -> tuple:
    """One chunk holding every step of `chunks`, sorted: by the order value
    (NULLs last), then by chunk (file path, then content: the same on every
    run), then by position in the chunk (input order).

    Raises:
        DataError: the order column's values have mixed types.
    """
    if len(chunks) == 1:
        return chunks[0]
    names = tuple(sorted({n for c in chunks for n in c[NAMES]}, key=protobuf_key_order))
    chunks = sorted((_widen(c, names) for c in chunks), key=lambda c: (c[FILE], c[COLUMNS]))
    kind = _order_kind(chunks, order)
    sizes = [steps_of(c) for c in chunks]
    nulls = np.concatenate(
        [np.frombuffer(c[NULLS], bool) if c[KIND] else np.ones(steps_of(c), bool) for c in chunks]
    )
    lengths = np.concatenate([_lengths(c) for c in chunks])
    rank = np.repeat(np.arange(len(chunks)), sizes)
    position = np.concatenate([np.arange(s) for s in sizes])
    if kind is None:
        perm = np.lexsort((position, rank))
        values = np.zeros(len(rank), np.int64)
    else:
        text = kind == "text"
        parts = [_order(c) if c[KIND] else np.zeros(steps_of(c), np.int64) for c in chunks]
        if text:  # NULLs' and order-less chunks' values are never compared: nulls sort first
            parts = [p if p.dtype.kind == "S" else np.zeros(len(p), "S1") for p in parts]
            values = np.concatenate(parts)
        else:
            values = np.concatenate([p.astype(_dtype(kind)) for p in parts])
        values[nulls] = b"" if text else 0
        perm = np.lexsort((position, rank, values, nulls))
        kind = f"S{values.itemsize}" if text else kind
    columns = []
    for j in range(len(names)):
        data = np.frombuffer(b"".join(c[COLUMNS][j] for c in chunks), np.uint8)
        size = lengths[:, j].astype(np.int64)
        start = np.concatenate([[0], np.cumsum(size)[:-1]])
        columns.append(data[_gather(start[perm], size[perm])].tobytes())
    first = chunks[0]
    return (first[FILE], first[CONTEXT], None, kind, values[perm].tobytes(),
            nulls[perm].tobytes(), lengths[perm].tobytes(), tuple(columns), names)  # fmt: skip


def _gather(start: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Byte indices of the segments (start, size), one after another."""
    total = int(size.sum())
    if not total:
        return np.zeros(0, np.int64)
    before = np.concatenate([[0], np.cumsum(size)[:-1]])
    return np.repeat(start - before, size) + np.arange(total)


def truncate(chunk: tuple, limit: int, keep: str) -> tuple:
    """The chunk's first (`keep="first"`) or last `limit` steps."""
    n = steps_of(chunk)
    if n <= limit:
        return chunk
    cut = slice(0, limit) if keep == "first" else slice(n - limit, n)
    lengths = _lengths(chunk)
    columns = []
    for j, data in enumerate(chunk[COLUMNS]):
        ends = np.cumsum(lengths[:, j], dtype=np.int64)
        begin = int(ends[cut.start - 1]) if cut.start else 0
        columns.append(data[begin : int(ends[cut.stop - 1])])
    order = _order(chunk)[cut].tobytes() if chunk[KIND] else chunk[ORDER]
    return (*chunk[:ORDER], order, chunk[NULLS][cut], lengths[cut].tobytes(), tuple(columns),
            chunk[NAMES])  # fmt: skip


_SMALL = [bytes([i]) for i in range(128)]


def _varint(n: int) -> bytes:
    return _SMALL[n] if n < 128 else encode_varint(n)


@functools.cache
def _key_field(name: str) -> bytes:
    key = name.encode("utf-8")
    return b"\x0a" + encode_varint(len(key)) + key + b"\x12"


def _entry(name: str, value: bytes) -> bytes:
    key = _key_field(name)
    size = len(key) + len(value) + len(_varint(len(value)))
    return b"".join((b"\x0a", _varint(size), key, _varint(len(value)), value))


def serialize(chunk: tuple, context: list[str]) -> bytes:
    """The SequenceExample of a (merged) chunk, as `SerializeToString(deterministic=True)`."""
    ctx = sorted(zip(context, chunk[CONTEXT], strict=True), key=lambda p: protobuf_key_order(p[0]))
    context_body = b"".join(_entry(name, value) for name, value in ctx)
    lists = b"".join(
        _entry(name, data) for name, data in zip(chunk[NAMES], chunk[COLUMNS], strict=True)
    )
    return (
        b"\x0a" + _varint(len(context_body)) + context_body
        + b"\x12" + _varint(len(lists)) + lists
    )  # fmt: skip
