"""Arrow batches to the *parts* that cross `BuildSequences`' shuffle.

Only numpy arrays, Arrow arrays, bytes and tuples cross the shuffle. Before
the GroupByKey, each RecordBatch is sorted by (bucket, key, order) with
Arrow's stable sort, where a key's bucket is `crc32(key bytes) % buckets`,
and each sequence column's steps are written for all rows at once as
`0a len Feature` (a FeatureList's repeated field, the pieces of `_wire`'s
Feature encoding). A bucket's rows are then one range of every column: that
range is the batch's `Part` for the bucket (`parts_of`). A part holds *runs*:
the rows of one key, one after another, sorted by the order column.

The steps' bytes are laid out column after column (`Part.columns`, each
column's steps in row order), so after the shuffle `_sequence_merge` gathers
each column of a whole bucket with one Arrow take, and a key's steps of a
column are one range of the result.
"""

from __future__ import annotations

import itertools
import zlib
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from beam_ingest.errors import ConfigError
from beam_ingest.protowire import varint_sizes
from beam_ingest.transforms._wire import (
    _assemble,
    _binary_array,
    _binary_buffers,
    _feature_parts,
    feature_array,
)
from beam_ingest.transforms.encode import protobuf_key_order, to_list_array

__all__ = ["Part", "column_arrays", "parts_of"]

EMPTY_STEP = b"\x0a\x00"  # a step with an empty Feature()
_EMPTY = pa.scalar(b"", pa.large_binary())


class Part(NamedTuple):
    """Rows of one bucket of one read batch (or several, merged), by key.

    `keys` and each `context` array hold one value per run (the key's, and
    each context column's Feature bytes of the run's first row); `runs` the
    steps of each run and `seen` the rows each run stood for (more than its
    steps once a capped sequence was pruned). The per-step arrays are in run
    order: `order` (values of `kind`: "int", "float", "S<width>" for text, None
    for no order column or all NULL), `nulls` (NULL order values), `lengths`
    (steps x columns: each step's bytes per column) and `columns` (each of
    `names`' steps one after another, columns in protobuf key order).
    `present` (runs x columns, or None: all) marks the columns a run's input
    had; `conflicts` maps a run to (context column, value, other value) when
    its rows disagree on a context feature.
    """

    file: str
    keys: pa.Array
    runs: np.ndarray
    seen: np.ndarray
    context: tuple[pa.Array, ...]
    conflicts: dict[int, tuple]
    kind: str | None
    order: np.ndarray
    nulls: np.ndarray
    lengths: np.ndarray
    columns: bytes
    names: tuple[str, ...]
    present: np.ndarray | None = None
    #: a merged part's files (`files`, in rank order) and each run's index in them
    files: tuple[str, ...] = ()
    run_file: np.ndarray | None = None

    @property
    def steps(self) -> int:
        return len(self.nulls)

    def file_of(self, run: int) -> str:
        """The file of a run (of its first rows, for a merged one)."""
        return self.file if self.run_file is None else self.files[int(self.run_file[run])]


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


def _check_columns(names, key, order, context, file) -> None:
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


def bucket_of(keys: pa.Array, buckets: int) -> np.ndarray:
    """Each key's bucket: crc32 of its bytes modulo `buckets` (the same on every worker)."""
    encoded = pc.dictionary_encode(keys)
    hashes = np.array([zlib.crc32(k) for k in encoded.dictionary.to_pylist()], np.int64)
    return (hashes % buckets)[encoded.indices.to_numpy(zero_copy_only=False)]


def parts_of(
    batch: pa.RecordBatch, key: list[str], order: str | None, context: list[str], file: str,
    buckets: int,
) -> tuple[list[tuple[int, Part]], np.ndarray]:  # fmt: skip
    """The batch's parts by bucket, and the indices of its rows with a NULL key.

    Raises:
        ConfigError: a key, order or context column is missing, or the order
            column is not sortable.
    """
    _check_columns(batch.schema.names, key, order, context, file)
    keys = [_features(batch, k) for k in key]
    valid = np.ones(batch.num_rows, bool)
    for k in key:
        lengths = pc.list_value_length(to_list_array(batch.column(k)))
        valid &= pc.fill_null(lengths, 0).to_numpy(zero_copy_only=False) > 0
    null_rows = np.flatnonzero(~valid)
    joined = pc.binary_join_element_wise(*keys, _EMPTY) if len(keys) > 1 else keys[0]
    sort = {"bucket": bucket_of(joined, buckets), "key": joined}
    sort["row"] = pa.array(np.arange(batch.num_rows))
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
    sort_keys = [("bucket", "ascending"), ("key", "ascending")]
    sort_keys += [("order", "ascending")] if "order" in sort else []
    sorted_rows = pc.sort_indices(table, sort_keys)  # stable; NULLs at the end
    index = pc.take(table.column("row"), sorted_rows).combine_chunks()
    bucket = pc.take(table.column("bucket"), sorted_rows).to_numpy()
    rows = batch.take(index)
    key_sorted = pc.take(joined, index)
    n = rows.num_rows
    starts = np.flatnonzero(
        np.concatenate([[True], ~pc.equal(key_sorted[1:], key_sorted[:-1]).to_numpy(False)])
    )
    kind, values, nulls = (None, np.zeros(n, np.int64), np.ones(n, bool))
    if order is not None:
        kind, values, nulls = _order_values(rows.column(order), order, file)
        if nulls.all():
            kind = None
    run_index = pa.array(starts)
    contexts, conflicts = [], {}
    for name in context:
        features = key_sorted if key == [name] else _features(rows, name)
        contexts.append(features.take(run_index))
        if n > 1:
            differs = ~pc.equal(features[1:], features[:-1]).to_numpy(zero_copy_only=False)
            differs[starts[1:] - 1] = False  # a new key, not a conflict
            for row in np.flatnonzero(differs).tolist():
                run = int(np.searchsorted(starts, row, "right")) - 1
                if run not in conflicts:
                    conflicts[run] = (name, features[row].as_py(), features[row + 1].as_py())
    names = tuple(
        sorted((c for c in rows.schema.names if c not in context), key=protobuf_key_order)
    )
    lengths, columns = _column_major([_step_parts(rows, name) for name in names], n)
    # each column's bytes before a row, from the start of `columns`
    before = np.zeros((n + 1, len(names)), np.int64)
    np.cumsum(lengths, axis=0, out=before[1:])
    before += np.concatenate([[0], np.cumsum(before[-1])[:-1]]) if names else 0
    lengths = lengths.astype(_narrow(lengths))
    runs = np.diff(np.append(starts, n))
    bounds = [*np.flatnonzero(np.concatenate([[True], bucket[1:] != bucket[:-1]])).tolist(), n]
    run_bounds = np.searchsorted(starts, bounds).tolist()
    keys_run = key_sorted.take(run_index)
    out = []
    for (a, b), (ra, rb) in zip(
        itertools.pairwise(bounds), itertools.pairwise(run_bounds), strict=True
    ):
        pieces = [columns[int(before[a, j]) : int(before[b, j])] for j in range(len(names))]
        part = Part(
            file=file, keys=keys_run[ra:rb].take(pa.array(np.arange(rb - ra))),
            runs=runs[ra:rb], seen=runs[ra:rb],
            context=tuple(c[ra:rb].take(pa.array(np.arange(rb - ra))) for c in contexts),
            conflicts={r - ra: v for r, v in conflicts.items() if ra <= r < rb},
            kind=kind, order=values[a:b], nulls=nulls[a:b], lengths=lengths[a:b],
            columns=b"".join(pieces), names=names,
        )  # fmt: skip
        out.append((int(bucket[a]), part))
    return out, null_rows


def _narrow(lengths: np.ndarray):
    """The narrowest of uint8, uint16 and int32 holding every step length."""
    top = int(lengths.max()) if lengths.size else 0
    return np.uint8 if top < 1 << 8 else np.uint16 if top < 1 << 16 else np.int32


def _step_parts(batch: pa.RecordBatch, name: str) -> tuple[pa.Array, pa.Array | None]:
    """A column's steps (`0a len Feature`) in two parts: the bytes up to the
    Feature's payload, and the payload (values), to be joined by
    `_column_major`; or, when every row's two parts have one width each (a
    column without NULLs of floats, or of ints whose varints are as long),
    the steps already joined, as a matrix (and None)."""
    feature, payloads, present, list_len = _feature_parts(to_list_array(batch.column(name)))
    feature_len = np.where(present, 1 + varint_sizes(list_len) + list_len, 0).astype(np.uint64)
    n = len(present)
    heads = _assemble(n, [(b"\x0a", None), (feature_len, None), *feature])
    if n:
        (head_offsets, head_data), (offsets, data) = (
            _binary_buffers(heads),
            _binary_buffers(payloads),
        )
        head_width, width = np.diff(head_offsets), np.diff(offsets)
        if (head_width == head_width[0]).all() and (width == width[0]).all():
            rows = [
                np.frombuffer(d, np.uint8)[int(o[0]) : int(o[-1])].reshape(n, int(w[0]))
                for d, o, w in ((head_data, head_offsets, head_width), (data, offsets, width))
            ]
            joined = np.hstack(rows)
            step = joined.shape[1]
            return _binary_array(np.arange(n + 1, dtype=np.int64) * step, joined.reshape(-1)), None
    return heads, payloads


def _column_major(
    steps: list[tuple[pa.Array, pa.Array | None]], n: int
) -> tuple[np.ndarray, bytes]:
    """(lengths: steps x columns, the steps' bytes column after column) of the
    columns' step parts (`_step_parts`): one Arrow take puts each head before
    its payload."""
    m = len(steps)
    lengths = np.zeros((n, m), np.int64)
    pieces: list = [b""] * m
    for j, (joined, payloads) in enumerate(steps):
        if payloads is None:
            offsets, data = _binary_buffers(joined)
            lengths[:, j] = np.diff(offsets)
            pieces[j] = memoryview(data)[int(offsets[0]) : int(offsets[-1])]
    split = [j for j, (_, payloads) in enumerate(steps) if payloads is not None]
    if split:
        k = len(split)
        combined = pa.concat_arrays([part for j in split for part in steps[j]])
        offsets = np.frombuffer(combined.buffers()[1], np.int64)[combined.offset :][: 2 * n * k + 1]
        sizes = np.diff(offsets).reshape(2 * k, n)
        lengths[:, split] = (sizes[0::2] + sizes[1::2]).T
        heads = (np.arange(k)[:, None] * 2 * n + np.arange(n)[None, :]).ravel()
        index = np.empty(2 * n * k, np.int64)
        index[0::2], index[1::2] = heads, heads + n  # each head, then its payload
        taken = combined.take(pa.array(index))
        _, offs, data = taken.buffers()
        offs = np.frombuffer(offs, np.int64)[taken.offset :]
        view = memoryview(data) if data else memoryview(b"")
        for i, j in enumerate(split):
            pieces[j] = view[int(offs[2 * n * i]) : int(offs[2 * n * (i + 1)])]
    return lengths, b"".join(pieces)


def column_arrays(part: Part) -> list[pa.Array]:
    """The part's steps of each column, as large_binary arrays (no bytes copied)."""
    buffer = pa.py_buffer(part.columns)
    out, base = [], 0
    for j in range(len(part.names)):
        offsets = np.zeros(part.steps + 1, np.int64)
        np.cumsum(part.lengths[:, j], out=offsets[1:])
        offsets += base
        base = int(offsets[-1])
        out.append(
            pa.LargeBinaryArray.from_buffers(
                pa.large_binary(), part.steps, [None, pa.py_buffer(offsets), buffer]
            )
        )
    return out
