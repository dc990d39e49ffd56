"""`ReadJsonl`'s files as chunks of whole lines, and pyarrow's parse of a chunk.

A file is read in chunks of whole lines (`chunks`, about `CHUNK_SIZE`
each), and each chunk is parsed by pyarrow's JSON reader (`parse`) in blocks
of about `PARSE_BLOCK` on its CPU thread pool. `records_if_one_per_line`
says when pyarrow's row count proves one record per line, so that the rows
can be taken as the chunk's records without looking at lines in Python.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.json as pa_json

from beam_ingest.connectors._jsonl_types import too_deep
from beam_ingest.files import open_input

__all__ = ["CHUNK_SIZE", "PARSE_BLOCK", "chunks", "lines", "parse", "records_if_one_per_line"]

CHUNK_SIZE = 4 << 20
PARSE_BLOCK = 1 << 19
_BOM = b"\xef\xbb\xbf"
_BLANK_LINE = re.compile(rb"\n[ \t\r]*(?=\n)")
_WHITESPACE = b" \t\r"
_NEWLINE, _CR, _OPEN, _CLOSE = ord("\n"), ord("\r"), ord("{"), ord("}")


def chunks(path: str) -> Iterator[tuple[int, bytes]]:
    """(number of its first line, bytes) of runs of whole lines, about
    `CHUNK_SIZE` each; every chunk ends with a newline. A leading UTF-8
    byte-order mark is not part of the data."""
    line = 1
    pieces: list[bytes] = []
    with open_input(path) as f:  # by extension; a truncated .gz raises DataError
        first = True
        while block := f.read(CHUNK_SIZE):
            if first:
                block, first = block.removeprefix(_BOM), False
            cut = block.rfind(b"\n") + 1
            if not cut:
                pieces.append(block)
                continue
            chunk = b"".join([*pieces, block[:cut]]) if pieces else block[:cut]
            pieces = [block[cut:]] if cut < len(block) else []
            yield line, chunk
            line += chunk.count(b"\n")
    if pieces:
        yield line, b"".join(pieces) + b"\n"


def lines(first_line: int, chunk: bytes) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of each non-blank line of a chunk."""
    for i, raw in enumerate(chunk[:-1].split(b"\n")):
        if raw.strip(_WHITESPACE):
            yield first_line + i, raw


def records_if_one_per_line(chunk: bytes) -> int | None:
    """The number of non-blank lines, if pyarrow's reading of the chunk can be
    checked by its row count: the chunk is UTF-8 (pyarrow does not check
    strings) and each non-blank line starts with `{` and ends with `}`.

    pyarrow reads `{..} {..}` on one line as two rows and an object spread
    over lines as one, so its row count proves one object per line only when
    no line can continue another: a line boundary inside an object would put
    `}` before `{` (no valid JSON) or leave a line not framed by braces.
    """
    if not chunk.isascii():
        try:
            chunk.decode("utf-8")
        except UnicodeDecodeError:
            return None
    data = np.frombuffer(chunk, np.uint8)
    newlines = np.flatnonzero(data == _NEWLINE)
    count = len(newlines)
    starts = np.count_nonzero(data[newlines[:-1] + 1] == _OPEN) + (data[0] == _OPEN)
    before = data[newlines - 1]
    ends = np.count_nonzero(before == _CLOSE)
    crlf = newlines[before == _CR]
    ends += np.count_nonzero(data[crlf - 2] == _CLOSE)
    if starts == ends == count:
        return count
    records = count - len(_BLANK_LINE.findall(b"\n" + chunk))
    return records if starts == ends == records else None


def parse(chunk: bytes, schema: pa.Schema | None) -> pa.Table | None:
    """pyarrow's reading of a chunk (with `schema` explicit, or inferring),
    or None where pyarrow rejects it (or would crash on it: it recurses
    without limit into nested objects)."""
    if too_deep(chunk):
        return None
    options = (
        pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error")
        if schema is not None
        else pa_json.ParseOptions()
    )
    blocks = PARSE_BLOCK if len(chunk) > PARSE_BLOCK else len(chunk) + 1
    while True:
        try:
            return pa_json.read_json(
                pa.BufferReader(chunk),
                read_options=pa_json.ReadOptions(
                    use_threads=blocks <= len(chunk), block_size=blocks
                ),
                parse_options=options,
            )
        except (pa.ArrowInvalid, UnicodeDecodeError) as e:
            if blocks > len(chunk) or "straddl" not in str(e):
                return None
            blocks = len(chunk) + 1  # a line longer than a block: the chunk as one block
