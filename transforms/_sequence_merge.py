"""Merging a key's chunks after the GroupByKey (for `BuildSequences`).

`merge` joins the chunks' arrays once (`_sequence_wire` describes a chunk),
sorts the steps with numpy and gathers their bytes with one Arrow take, so a
step costs no Python object and a chunk a few; a sequence cut between two read
batches (whole chunks one after another) is joined without the take.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from beam_ingest.errors import DataError
from beam_ingest.transforms._sequence_wire import (
    _EMPTY_STEP,
    COLUMNS,
    CONTEXT,
    FILE,
    KIND,
    LENGTHS,
    NAMES,
    NULLS,
    ORDER,
    SIZES,
    _dtype,
    _lengths,
    _order,
    columns_of,
    steps_of,
)
from beam_ingest.transforms.encode import protobuf_key_order

__all__ = ["merge"]


def _widen(chunk: tuple, names: tuple[str, ...]) -> tuple:
    """The chunk with a column of empty steps for each of `names` it lacks."""
    if chunk[NAMES] == names:
        return chunk
    n = steps_of(chunk)
    have = dict(zip(chunk[NAMES], range(len(chunk[NAMES])), strict=True))
    lengths = np.full((n, len(names)), len(_EMPTY_STEP), np.int32)
    own, columns = _lengths(chunk), columns_of(chunk)
    parts = []
    for j, name in enumerate(names):
        if name in have:
            lengths[:, j] = own[:, have[name]]
            parts.append(columns[have[name]])
        else:
            parts.append(_EMPTY_STEP * n)
    sizes = tuple(len(p) for p in parts)
    return (*chunk[:LENGTHS], lengths.tobytes(), b"".join(parts), names, sizes)


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
    (NULLs last), then by chunk (file path, then content: the tuple of its
    columns' bytes; the same on every run), then by position in the chunk
    (input order). The chunks' arrays are joined once, so a step costs no
    Python object and a chunk a few.

    Raises:
        DataError: the order column's values have mixed types.
    """
    if len(chunks) == 1:
        return chunks[0]
    names = tuple(sorted({n for c in chunks for n in c[NAMES]}, key=protobuf_key_order))
    chunks = [_widen(c, names) for c in chunks]
    m, sizes = len(names), np.array([steps_of(c) for c in chunks], np.int64)
    total, starts = int(sizes.sum()), np.cumsum(sizes) - sizes
    lengths = _joined_lengths(chunks, total, m)
    ranked = sorted(range(len(chunks)), key=lambda i: _content(chunks[i]))
    rank = np.empty(len(chunks), np.int64)
    rank[ranked] = np.arange(len(chunks))
    kind = _order_kind([chunks[i] for i in ranked], order)
    nulls = np.frombuffer(
        b"".join(c[NULLS] if c[KIND] else b"\x01" * steps_of(c) for c in chunks), bool
    ).copy()
    rank = np.repeat(rank, sizes)
    position = np.arange(total) - np.repeat(starts, sizes)
    if kind is None:
        perm, values = np.lexsort((position, rank)), np.zeros(total, np.int64)
    else:
        values = _joined_order(chunks, kind)
        values[nulls] = b"" if kind == "text" else 0
        perm = np.lexsort((position, rank, values, nulls))
        kind = f"S{values.itemsize}" if kind == "text" else kind
    blob = b""
    placed = np.empty(total, np.int64)
    placed[perm] = np.arange(total)
    if np.array_equal(placed - np.repeat(placed[starts], sizes), position):
        # whole chunks one after another (a sequence cut between batches)
        columns = [columns_of(chunks[i]) for i in np.argsort(placed[starts]).tolist()]
        blob = b"".join(c[j] for j in range(m) for c in columns)
    elif m:  # elements (chunk, column, step), as the chunks' bytes hold them
        base = m * np.repeat(starts, sizes) + position
        width = np.repeat(sizes, sizes)
        cells = np.empty(total * m, np.int64)
        cells[(base[:, None] + np.arange(m)[None, :] * width[:, None]).ravel()] = lengths.ravel()
        offsets = np.zeros(total * m + 1, np.int64)
        np.cumsum(cells, out=offsets[1:])
        steps = pa.LargeBinaryArray.from_buffers(
            pa.large_binary(), total * m,
            [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(c[COLUMNS] for c in chunks))],
        )  # fmt: skip
        index = (base[perm][None, :] + np.arange(m)[:, None] * width[perm][None, :]).ravel()
        taken = steps.take(pa.array(index))
        _, offs, data = taken.buffers()
        offs = np.frombuffer(offs, np.int64)[taken.offset :]
        blob = data.to_pybytes()[int(offs[0]) : int(offs[total * m])] if data else b""
    first, lengths = chunks[ranked[0]], lengths[perm]
    return (first[FILE], first[CONTEXT], None, kind, values[perm].tobytes(), nulls[perm].tobytes(),
            lengths.astype(np.int32).tobytes(), blob, names,
            tuple(lengths.sum(axis=0).tolist()))  # fmt: skip


def _joined_lengths(chunks: list[tuple], total: int, m: int) -> np.ndarray:
    items = {len(c[LENGTHS]) // (steps_of(c) * m) for c in chunks} if m else {4}
    if len(items) == 1:
        dtype = {1: np.uint8, 2: np.uint16, 4: np.int32}[items.pop()]
        joined = np.frombuffer(b"".join(c[LENGTHS] for c in chunks), dtype)
        return joined.astype(np.int64).reshape(total, m)
    return np.concatenate([_lengths(c).astype(np.int64) for c in chunks])


def _joined_order(chunks: list[tuple], kind: str) -> np.ndarray:
    """The chunks' order values as one array of `kind` (NULLs: any value)."""
    kinds = {c[KIND] for c in chunks}
    if kind != "text" and kinds == {kind}:
        return np.frombuffer(b"".join(c[ORDER] for c in chunks), _dtype(kind)).copy()
    parts = [_order(c) if c[KIND] else np.zeros(steps_of(c), np.int64) for c in chunks]
    if kind == "text":  # NULLs' and order-less chunks' values are never compared
        return np.concatenate([p if p.dtype.kind == "S" else np.zeros(len(p), "S1") for p in parts])
    return np.concatenate([p.astype(_dtype(kind)) for p in parts])


def _content(chunk: tuple) -> tuple:
    """The chunk's sort key (file, the tuple of its columns' bytes), cheaper:
    the first column's bytes, then all the bytes. Equal
    first columns hold as many steps, so no later column is a proper prefix
    of the other's: comparing the rest joined compares the columns one by one."""
    first = chunk[SIZES][0] if chunk[SIZES] else 0
    return chunk[FILE], chunk[COLUMNS][:first], chunk[COLUMNS]
