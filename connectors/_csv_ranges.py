"""Where a big CSV file can be cut into work units: `plan_ranges`.

A cut must fall at the start of a record, and quoted fields may hold line
breaks, so the scan follows the quoting as pyarrow's and Python's CSV parsers
do: a quote opens a field only at the field's start (after a delimiter, a line
break, or at the file's start, after a byte-order mark); inside the field a
doubled quote is one quote and any other quote closes it; a quote anywhere
else is a plain character. A line feed outside quoted fields ends a record.
Only quotes cost Python work; the bytes between them are searched with
`bytes.find`, so a file without quotes is scanned at memory speed.

Each range also gets the line number of its first line (line breaks before it
plus one, counting `\\r\\n`, a lone `\\r` and a lone `\\n` as one break each, as
`io.TextIOWrapper(newline="")` reads lines), so bad records of a range name
lines of the whole file.
"""

from __future__ import annotations

from typing import BinaryIO

__all__ = ["plan_ranges"]

_CHUNK = 8 << 20
_LF, _CR = 10, 13


def plan_ranges(
    stream: BinaryIO,
    size: int,
    bundle: int,
    *,
    delimiter: bytes,
    quote: bytes | None,
    bom: bytes = b"",
    chunk: int = _CHUNK,
) -> list[tuple[int, int | None, int]]:
    """Cuts a file of `size` bytes into about equal ranges of at most ~`bundle` bytes.

    Args:
        stream: the file, read from its start.
        size: its size in bytes (the cut targets are fractions of it).
        bundle: the desired bytes per range.
        delimiter: the one-byte delimiter.
        quote: the one-byte quote character, or None for no quoting.
        bom: a byte-order mark the file may start with (a quote after it opens a field).
        chunk: bytes read at a time.

    Returns:
        `(start, end, line)` per range, in file order: `end` is None for the
        last range (to the end of the file), `line` is the range's first line.
    """
    count = max(1, -(-size // bundle))
    targets = [size * k // count for k in range(1, count)]
    cuts = [c for c in _cuts(stream, targets, delimiter, quote, bom, chunk) if c[0] < size]
    starts = [(0, 1), *cuts]
    ends: list[int | None] = [c[0] for c in cuts] + [None]
    return [(start, end, line) for (start, line), end in zip(starts, ends, strict=True)]


def _breaks(buf: bytes, start: int, end: int) -> int:
    """Line breaks in buf[start:end]; a `\\r` whose `\\n` is just after `end` is not one."""
    n = buf.count(b"\n", start, end) + buf.count(b"\r", start, end)
    n -= buf.count(b"\r\n", start, end)
    if end > start and buf[end - 1] == _CR and end < len(buf) and buf[end] == _LF:
        n -= 1
    return n


def _cuts(
    stream: BinaryIO,
    targets: list[int],
    delimiter: bytes,
    quote: bytes | None,
    bom: bytes,
    chunk: int,
) -> list[tuple[int, int]]:
    """(offset, line) of the first record start after each target offset."""
    cuts: list[tuple[int, int]] = []
    field_ends = {delimiter[0], _LF, _CR}
    quote_byte = quote[0] if quote else -1
    t = 0  # the next target
    buf, base = b"", 0  # buf[0] is at offset base
    i = 0  # the first byte of buf not scanned yet
    counted, lines = 0, 0  # line breaks before base + counted
    inside = False  # in a quoted field
    eof = False
    if bom:
        buf = stream.read(len(bom))
    first = len(bom) if bom and buf == bom else 0  # where the first field starts

    def opens(j: int) -> bool:
        return base + j == first or buf[j - 1] in field_ends

    while t < len(targets) and not eof:
        data = stream.read(chunk)
        eof = not data
        keep = max(i - 1, 0)  # the byte before i tells whether a quote at i opens a field
        if counted < keep:
            lines += _breaks(buf, counted, keep)
            counted = keep
        buf, base, i, counted = buf[keep:] + data, base + keep, i - keep, counted - keep
        # Bytes before `end` have their next byte in buf (or are the file's last).
        end = len(buf) if eof else len(buf) - 1
        while i < end and t < len(targets):
            if inside:
                j = buf.find(quote, i, end)
                if j < 0:
                    i = end
                elif j + 1 < len(buf) and buf[j + 1] == quote_byte:
                    i = j + 2  # a doubled quote
                else:
                    inside, i = False, j + 1
                continue
            stop = end  # the next opening quote, or the end of what can be scanned
            j = i
            while quote is not None:
                j = buf.find(quote, j, end)
                if j < 0:
                    break
                if opens(j):
                    stop = j
                    break
                j += 1
            while t < len(targets):
                n = buf.find(b"\n", max(i, targets[t] - base), stop)
                if n < 0:
                    break
                lines += _breaks(buf, counted, n + 1)
                counted = n + 1
                cuts.append((base + n + 1, lines + 1))
                while t < len(targets) and targets[t] <= base + n:
                    t += 1
            if stop < end:
                inside, i = True, stop + 1
            else:
                i = end
    return cuts
