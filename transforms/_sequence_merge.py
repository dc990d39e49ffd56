"""Merging a bucket's parts after the GroupByKey (for `BuildSequences`).

`merge` turns the parts of one bucket (`_sequence_wire.Part`) into one part
with a single run per key, keys in byte order: the runs of a key are sorted
into one with a numpy lexsort over the whole bucket, each column is gathered
with one Arrow take, and a capped sequence keeps its first or last N steps.
No step, and no key, costs a Python object.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from beam_ingest.errors import DataError
from beam_ingest.transforms._sequence_wire import EMPTY_STEP, Part, _narrow, column_arrays
from beam_ingest.transforms._wire import _binary_buffers
from beam_ingest.transforms.encode import protobuf_key_order

__all__ = ["merge"]


def _widen(part: Part, names: tuple[str, ...]) -> Part:
    """The part with a column of empty steps for each of `names` it lacks
    (`present` says the run's input had no such column)."""
    if part.names == names:
        return part
    n, have = part.steps, dict(zip(part.names, range(len(part.names)), strict=True))
    lengths = np.full((n, len(names)), len(EMPTY_STEP), np.int32)
    own, columns = part.lengths, column_arrays(part)
    present = np.zeros((len(part.runs), len(names)), bool)
    pieces = []
    for j, name in enumerate(names):
        if name in have:
            lengths[:, j] = own[:, have[name]]
            column = columns[have[name]]
            pieces.append(_bytes(column))
            present[:, j] = True if part.present is None else part.present[:, have[name]]
        else:
            pieces.append(EMPTY_STEP * n)
    return part._replace(lengths=lengths, columns=b"".join(pieces), names=names, present=present)


def _bytes(column: pa.Array) -> memoryview:
    """A large_binary array's values, back to back (a view of its buffer, to join)."""
    offsets, data = _binary_buffers(column)
    return memoryview(data)[int(offsets[0]) : int(offsets[-1])]


def _order_kind(parts: list[Part], order: str | None) -> str | None:
    kinds = {_category(p.kind) for p in parts} - {None}
    if kinds == {"int", "float"}:
        return "float"
    if len(kinds) > 1:
        where = {_category(p.kind): p.file for p in parts if p.kind}
        described = ", ".join(f"{k} in {where[k] or 'a batch'}" for k in sorted(where))
        raise DataError(
            f"sequence_order: {order!r} is not sortable: it has mixed types ({described}); "
            "give it one type (e.g. with `schema`)"
        )
    return kinds.pop() if kinds else None


def _category(kind: str | None) -> str | None:
    return "text" if kind and kind.startswith("S") else kind


def _content(part: Part) -> tuple:
    """The part's rank: file, then content (its keys, then its steps' bytes)."""
    keys = part.keys.buffers()[2]
    return part.file, keys.to_pybytes() if keys else b"", part.columns


def _joined_order(parts: list[Part], kind: str) -> np.ndarray:
    """The parts' order values as one array of `kind` (NULLs: any value)."""
    values = [p.order if p.kind else np.zeros(p.steps, np.int64) for p in parts]
    if kind == "text":  # NULLs' and order-less parts' values are never compared
        return np.concatenate(
            [v if v.dtype.kind == "S" else np.zeros(len(v), "S1") for v in values]
        )
    dtype = np.float64 if kind == "float" else np.int64
    return np.concatenate([v.astype(dtype, copy=False) for v in values])


def merge(
    parts: list[Part], order: str | None, cap: int | None, keep: str, context: tuple[str, ...]
) -> Part:
    """One part holding every step of `parts`, one run per key (keys in byte
    order), each sorted: by the order value (NULLs last), then by part (file
    path, then content: the same on every run), then by position in the part
    (input order). With `cap`, a run keeps its last (`keep="last"`) or first
    `cap` steps (`keep="none"` too: the sequence is a dead letter if it had
    more).

    Raises:
        DataError: the order column's values have mixed types.
    """
    if len(parts) > 1:
        parts = sorted(parts, key=_content)
    names = tuple(sorted({n for p in parts for n in p.names}, key=protobuf_key_order))
    parts = [_widen(p, names) for p in parts]
    m = len(names)
    keys = pa.concat_arrays([p.keys for p in parts]) if len(parts) > 1 else parts[0].keys
    runs = np.concatenate([p.runs for p in parts])
    seen = np.concatenate([p.seen for p in parts])
    ordered = pc.sort_indices(keys).to_numpy()  # stable: a key's runs in part order
    sorted_keys = keys.take(pa.array(ordered))
    new = np.concatenate([[True], ~pc.equal(sorted_keys[1:], sorted_keys[:-1]).to_numpy(False)])
    key_of_run = np.empty(len(runs), np.int64)
    key_of_run[ordered] = np.cumsum(new) - 1
    first_run = ordered[new]  # each key's first run (in part order)
    n_keys = len(first_run)

    steps = [p.steps for p in parts]
    total = int(sum(steps))
    row_key = np.repeat(key_of_run, runs)
    kind = _order_kind(parts, order)
    nulls = np.concatenate([p.nulls if p.kind else np.ones(p.steps, bool) for p in parts])
    values = np.zeros(total, np.int64)
    if kind is not None:
        values = _joined_order(parts, kind)
        values[nulls] = b"" if kind == "text" else 0
        kind = f"S{values.itemsize}" if kind == "text" else kind
    # Sorts are stable: ties keep the parts' order (rank), then the position in a part.
    if len(parts) == 1:
        perm = np.arange(total)  # a part's runs are sorted already
    elif kind is None:
        perm = np.argsort(row_key, kind="stable")
    else:
        perm = np.lexsort((values, nulls, row_key))
    key_steps = np.bincount(row_key, minlength=n_keys)
    key_seen = np.bincount(key_of_run, weights=seen, minlength=n_keys).astype(np.int64)
    if cap is not None and int(key_steps.max(initial=0)) > cap:
        start = np.cumsum(key_steps) - key_steps
        within = np.arange(total) - np.repeat(start, key_steps)
        limit = np.repeat(key_steps, key_steps)
        kept = within >= limit - cap if keep == "last" else within < cap
        perm = perm[kept]
        key_steps = np.minimum(key_steps, cap)

    present = None
    if any(p.present is not None for p in parts):
        runs_present = np.concatenate(
            [p.present if p.present is not None else np.ones((len(p.runs), m), bool) for p in parts]
        )
        present = np.zeros((n_keys, m), bool)
        np.logical_or.at(present, key_of_run, runs_present)
    dtype = np.result_type(*(p.lengths.dtype for p in parts))  # uint8, uint16 or int32
    lengths = np.concatenate([p.lengths.astype(dtype, copy=False) for p in parts])[perm]
    order_key = row_key[perm]
    pieces = []
    for j, column in enumerate(_joined_columns(parts, m)):
        index = perm
        if present is not None and not present[:, j].all():
            keep_rows = present[order_key, j]
            index = perm[keep_rows]
            lengths[~keep_rows, j] = 0
        pieces.append(_bytes(column.take(pa.array(index))))
    first = pa.array(first_run)
    return Part(
        file=parts[0].file, keys=keys.take(first), runs=key_steps, seen=key_seen,
        context=tuple(
            (pa.concat_arrays([p.context[i] for p in parts]) if len(parts) > 1
             else parts[0].context[i]).take(first)
            for i in range(len(parts[0].context))
        ),
        conflicts=_conflicts(parts, key_of_run, first_run, context),
        kind=kind, order=values[perm], nulls=nulls[perm],
        lengths=lengths.astype(_narrow(lengths)), columns=b"".join(pieces), names=names,
        present=present, **_run_files(parts, first_run),
    )  # fmt: skip


def _run_files(parts: list[Part], first_run: np.ndarray) -> dict:
    """`files` and `run_file` of the merged part: each key's first run's file."""
    files: dict[str, int] = {}
    per_run = []
    for p in parts:
        names = (p.file,) if p.run_file is None else p.files
        mapped = np.array([files.setdefault(f, len(files)) for f in names], np.int64)
        per_run.append(mapped[p.run_file] if p.run_file is not None else
                       np.full(len(p.runs), mapped[0], np.int64))  # fmt: skip
    return {"files": tuple(files), "run_file": np.concatenate(per_run)[first_run]}


def _joined_columns(parts: list[Part], m: int) -> list[pa.Array]:
    per_part = [column_arrays(p) for p in parts]
    if len(parts) == 1:
        return per_part[0]
    return [pa.concat_arrays([c[j] for c in per_part]) for j in range(m)]


def _conflicts(
    parts: list[Part], key_of_run: np.ndarray, first_run: np.ndarray, context: tuple[str, ...]
) -> dict:
    """key -> (context column, value, other value): the parts' own conflicts,
    and runs whose context differs from their key's first run."""
    found: dict[int, tuple] = {}
    base = 0
    for p in parts:
        for run, conflict in p.conflicts.items():
            found.setdefault(int(key_of_run[base + run]), conflict)
        base += len(p.runs)
    if len(parts) == 1 or not parts[0].context:
        return found
    for i in range(len(parts[0].context)):
        values = pa.concat_arrays([p.context[i] for p in parts])
        expected = values.take(pa.array(first_run[key_of_run]))
        differs = ~pc.equal(values, expected).to_numpy(zero_copy_only=False)
        for run in np.flatnonzero(differs).tolist():
            key = int(key_of_run[run])
            if key not in found:
                found[key] = (context[i], expected[run].as_py(), values[run].as_py())
    return found
