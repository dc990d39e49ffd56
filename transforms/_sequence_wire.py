"""tf.SequenceExample bytes from Arrow batches, column by column (for `BuildSequences`).

Only bytes, strings and tuples cross the shuffle. Before the GroupByKey, each
RecordBatch is cut into one *chunk* per key (`chunks_of`): the batch is sorted
by (key, order) with Arrow's stable sort, each column's steps are written for
all rows at once as `0a len Feature` (a FeatureList's repeated field, the
pieces of `_wire`'s Feature encoding), and one Arrow take lays the steps out
key after key, and within a key column after column, so a chunk's steps are
one slice of one buffer. A chunk is a plain tuple:

    (file, context, conflict, order_kind, order, nulls, lengths, columns, names, sizes)

- `context`: each context column's Feature bytes (from the chunk's first row);
- `conflict`: None, or (context column, value, other value) when the chunk's
  rows disagree;
- `order_kind` ("int", "float", "S<width>" for text, or None: no order
  column, or all NULL), `order` (the values' numpy bytes, sorted), `nulls`
  (one byte per step: a NULL order value);
- `lengths`: numpy bytes (steps x columns, uint8, uint16 or int32): each
  step's bytes per column;
- `columns`: the steps' bytes of each sequence column (`names`, in protobuf
  key order) one after another, `sizes` bytes each.

After the GroupByKey, `_sequence_merge.merge` sorts the steps of several
chunks into one (numpy sorts and one Arrow take), `truncate`
keeps N of them and `serialize` writes the SequenceExample in protobuf's
deterministic order.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from beam_ingest.errors import ConfigError
from beam_ingest.protowire import encode_varint, varint_sizes
from beam_ingest.transforms._wire import _assemble, _feature_parts, feature_array
from beam_ingest.transforms.encode import protobuf_key_order, to_list_array

__all__ = ["chunks_of", "columns_of", "serialize", "steps_of", "truncate"]

FILE, CONTEXT, CONFLICT, KIND, ORDER, NULLS, LENGTHS, COLUMNS, NAMES, SIZES = range(10)
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
    steps = [_step_parts(rows, name) for name in seq_names]
    lengths, blob = _chunk_major(steps, starts, ends, n)
    bounds = np.concatenate([[0], np.cumsum(lengths.sum(axis=1, dtype=np.int64))]).tolist()
    sizes = np.add.reduceat(lengths, starts, axis=0).tolist() if len(seq_names) else None
    lengths = lengths.astype(_narrow(lengths))
    names_t = tuple(seq_names)
    group_keys = key_sorted.take(pa.array(starts)).to_pylist()
    values_b, nulls_b, lengths_b = values.tobytes(), nulls.tobytes(), lengths.tobytes()
    item, row = values.itemsize, lengths.itemsize * len(seq_names)
    contexts = list(zip(*context_values, strict=True))
    out = []
    for g, (s, e) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        chunk = (file, contexts[g], conflicts.get(g), kind, values_b[s * item : e * item],
                 nulls_b[s:e], lengths_b[s * row : e * row], blob[bounds[s] : bounds[e]],
                 names_t, tuple(sizes[g]) if sizes else ())  # fmt: skip
        out.append((group_keys[g], chunk))
    return out, null_rows


def _narrow(lengths: np.ndarray):
    """The narrowest of uint8, uint16 and int32 holding every step length."""
    top = int(lengths.max()) if lengths.size else 0
    return np.uint8 if top < 1 << 8 else np.uint16 if top < 1 << 16 else np.int32


def _step_parts(batch: pa.RecordBatch, name: str) -> tuple[pa.Array, pa.Array]:
    """A column's steps (`0a len Feature`) in two parts: the bytes up to the
    Feature's payload, and the payload (values), to be joined by `_chunk_major`."""
    feature, payloads, present, list_len = _feature_parts(to_list_array(batch.column(name)))
    feature_len = np.where(present, 1 + varint_sizes(list_len) + list_len, 0).astype(np.uint64)
    return _assemble(len(present), [(b"\x0a", None), (feature_len, None), *feature]), payloads


def _chunk_major(
    steps: list[tuple[pa.Array, pa.Array]], starts: np.ndarray, ends: np.ndarray, n: int
) -> tuple[np.ndarray, bytes]:
    """(lengths: steps x columns, the bytes of every key's steps, key after key and
    within a key column after column) of the columns' step parts: one Arrow take."""
    m = len(steps)
    if not m:
        return np.zeros((n, 0), np.int64), b""
    combined = pa.concat_arrays([part for pair in steps for part in pair])
    offsets = np.frombuffer(combined.buffers()[1], np.int64)[combined.offset :][: 2 * n * m + 1]
    sizes = np.diff(offsets).reshape(2 * m, n)
    lengths = (sizes[0::2] + sizes[1::2]).T
    # the steps' heads in the order they go out: blocks (key, column) of rows
    size = np.repeat(ends - starts, m)
    first = (np.arange(m) * 2 * n + starts[:, None]).ravel()
    heads = np.repeat(first - (np.cumsum(size) - size), size) + np.arange(n * m)
    index = np.empty(2 * n * m, np.int64)
    index[0::2], index[1::2] = heads, heads + n  # each head, then its payload
    taken = combined.take(pa.array(index))
    _, offs, data = taken.buffers()
    offs = np.frombuffer(offs, np.int64)[taken.offset :]
    begin = int(offs[0])
    return lengths, data.to_pybytes()[begin : int(offs[2 * n * m])] if data is not None else b""


def columns_of(chunk: tuple) -> tuple[memoryview, ...]:
    """The chunk's steps of each column (`NAMES`), as slices of its bytes."""
    view, bounds = memoryview(chunk[COLUMNS]), [0, *itertools.accumulate(chunk[SIZES])]
    return tuple(view[a:b] for a, b in itertools.pairwise(bounds))


def steps_of(chunk: tuple) -> int:
    return len(chunk[NULLS])


def _lengths(chunk: tuple) -> np.ndarray:
    """steps x columns: each step's bytes per column (stored as uint8, uint16 or int32)."""
    cells = steps_of(chunk) * len(chunk[NAMES])
    item = len(chunk[LENGTHS]) // cells if cells else 4
    dtype = {1: np.uint8, 2: np.uint16, 4: np.int32}[item]
    return np.frombuffer(chunk[LENGTHS], dtype).reshape(-1, len(chunk[NAMES]))


def _dtype(kind: str | None):
    return {"int": np.int64, "float": np.float64, None: np.int64}.get(kind) or np.dtype(kind)


def _order(chunk: tuple) -> np.ndarray:
    return np.frombuffer(chunk[ORDER], _dtype(chunk[KIND]))


def truncate(chunk: tuple, limit: int, keep: str) -> tuple:
    """The chunk's first (`keep="first"`) or last `limit` steps."""
    n = steps_of(chunk)
    if n <= limit:
        return chunk
    cut = slice(0, limit) if keep == "first" else slice(n - limit, n)
    lengths = _lengths(chunk)
    columns = []
    for j, data in enumerate(columns_of(chunk)):
        ends = np.cumsum(lengths[:, j], dtype=np.int64)
        begin = int(ends[cut.start - 1]) if cut.start else 0
        columns.append(data[begin : int(ends[cut.stop - 1])])
    order = _order(chunk)[cut].tobytes() if chunk[KIND] else chunk[ORDER]
    return (*chunk[:ORDER], order, chunk[NULLS][cut], lengths[cut].tobytes(), b"".join(columns),
            chunk[NAMES], tuple(len(c) for c in columns))  # fmt: skip


_SMALL = [bytes([i]) for i in range(128)]


def _varint(n: int) -> bytes:
    return _SMALL[n] if n < 128 else encode_varint(n)


@functools.cache
def _key_field(name: str) -> bytes:
    key = name.encode("utf-8")
    return b"\x0a" + encode_varint(len(key)) + key + b"\x12"


def _entries(parts: list, names, values) -> int:
    """Appends the map entries (name, value) to `parts`; their size."""
    total = 0
    for name, value in zip(names, values, strict=True):
        key, size = _key_field(name), len(value)
        head = _varint(size)
        inner = _varint(len(key) + len(head) + size)
        parts += (b"\x0a", inner, key, head, value)
        total += 1 + len(inner) + len(key) + len(head) + size
    return total


@functools.cache
def _context_order(context: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(sorted(range(len(context)), key=lambda i: protobuf_key_order(context[i])))


def serialize(chunk: tuple, context: list[str]) -> bytes:
    """The SequenceExample of a (merged) chunk, as `SerializeToString(deterministic=True)`."""
    order = _context_order(tuple(context))
    values = chunk[CONTEXT]
    context_parts: list = []
    context_size = _entries(context_parts, [context[i] for i in order], [values[i] for i in order])
    list_parts: list = []
    lists_size = _entries(list_parts, chunk[NAMES], columns_of(chunk))
    return b"".join((b"\x0a", _varint(context_size), *context_parts,
                     b"\x12", _varint(lists_size), *list_parts))  # fmt: skip
