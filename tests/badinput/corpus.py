"""The bad-input corpus: one row per case, files made by the test, expected outcome.

Each case writes its files into an empty folder and returns the `--input`
pattern (and, for path cases, the `--output` to use). The outcome is one of

- `ConfigError(substring)`: exit 2 before the pipeline starts, the message
  holds `substring`, nothing is written;
- `DeadLetter(bad, examples, raw)`: with `--max-bad-records` the run passes
  (exit 0), `bad` records are dead-lettered (each keeps `raw` in its `raw`
  field when given), `examples` are written; without it the run fails with
  exit 1 and writes nothing;
- `Ok(examples, check)`: the input is valid after all; `check` looks at the
  decoded examples.
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq


@dataclasses.dataclass(frozen=True)
class ConfigError:
    message: str


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    bad: int
    examples: int
    raw: tuple[str, ...] = ()  # substrings, one per bad record (sorted by file, record)
    reason: str = ""  # a substring of every reason


@dataclasses.dataclass(frozen=True)
class Ok:
    examples: int
    check: Callable[[list[dict]], bool] | None = None


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    format: str
    make: Callable[[Path], str | tuple[str, str]]  # folder -> pattern | (pattern, output)
    expect: ConfigError | DeadLetter | Ok
    args: tuple[str, ...] = ()

    def __str__(self) -> str:
        return self.name


def _write(folder: Path, name: str, data: bytes | str) -> str:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return str(path)


def _csv(data: bytes | str, name: str = "data.csv") -> Callable[[Path], str]:
    return lambda folder: _write(folder, name, data)


def _files(**files: bytes | str) -> Callable[[Path], str]:
    """Several files; the pattern matches them all."""

    def make(folder: Path) -> str:
        for name, data in files.items():
            _write(folder / "in", name.replace("__", "."), data)
        return str(folder / "in" / "*")

    return make


def _values(name: str, expected: list) -> Callable[[list[dict]], bool]:
    """The decoded examples' values of feature `name`, sorted, equal `expected`."""
    return lambda examples: sorted(e[name][1] for e in examples) == sorted(expected)


def _with_schema(data: bytes) -> Callable[[Path], str]:
    def make(folder: Path) -> str:
        _write(folder, "schema.json", json.dumps({"id": "int", "name": "bytes"}))
        return _write(folder, "data.csv", data)

    return make


def _huge_field(folder: Path) -> str:
    path = folder / "huge.csv"
    with open(path, "wb") as f:
        f.write(b"id,blob\n1,")
        chunk = b"x" * (1 << 20)
        for _ in range(100):
            f.write(chunk)
        f.write(b"\n2,small\n")
    return str(path)


# --- Parquet -------------------------------------------------------------------


def _parquet_bytes(table: pa.Table, **kwargs) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **kwargs)
    return sink.getvalue().to_pybytes()


_TABLE = pa.table({"id": [1, 2, 3], "name": ["a", "b", "c"]})


def _parquet_corrupt_footer(folder: Path) -> str:
    data = bytearray(_parquet_bytes(_TABLE))
    (footer_len,) = struct.unpack("<I", data[-8:-4])
    start = len(data) - 8 - footer_len
    data[start : start + footer_len] = b"\xff" * footer_len  # the footer's thrift bytes
    _write(folder / "in", "a_good.parquet", _parquet_bytes(_TABLE))
    _write(folder / "in", "b_bad.parquet", bytes(data))
    return str(folder / "in" / "*.parquet")


def _parquet_truncated(folder: Path) -> str:
    _write(folder / "in", "a_good.parquet", _parquet_bytes(_TABLE))
    _write(folder / "in", "b_cut.parquet", _parquet_bytes(_TABLE)[:-30])
    return str(folder / "in" / "*.parquet")


def _parquet_schema_change(folder: Path) -> str:
    _write(folder / "in", "a.parquet", _parquet_bytes(_TABLE))
    other = pa.table({"id": ["x"], "name": ["a"]})
    _write(folder / "in", "b.parquet", _parquet_bytes(other))
    return str(folder / "in" / "*.parquet")


def _parquet_map(folder: Path) -> str:
    table = pa.table({"id": [1], "m": pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64()))})
    return _write(folder, "m.parquet", _parquet_bytes(table))


# --- Avro ----------------------------------------------------------------------

_AVRO_SCHEMA = {
    "type": "record",
    "name": "R",
    "fields": [{"name": "id", "type": "long"}, {"name": "name", "type": "string"}],
}


def _avro_bytes(schema: dict, records: list[dict], **kwargs) -> bytes:
    import io

    out = io.BytesIO()
    fastavro.writer(out, schema, records, **kwargs)
    return out.getvalue()


def _avro_rows(n: int) -> list[dict]:
    return [{"id": i, "name": f"n{i}"} for i in range(n)]


def _avro_truncated(folder: Path) -> str:
    data = _avro_bytes(_AVRO_SCHEMA, _avro_rows(10), sync_interval=1)
    return _write(folder, "cut.avro", data[:-25])


def _avro_corrupt_sync(folder: Path) -> str:
    data = bytearray(_avro_bytes(_AVRO_SCHEMA, _avro_rows(10), sync_interval=1))
    header = _avro_header_len(bytes(data))  # the sync marker is the header's last 16 bytes
    sync = bytes(data[header - 16 : header])
    data[bytes(data).find(sync, header)] ^= 0xFF  # the first block's marker
    return _write(folder, "sync.avro", bytes(data))


def _avro_header_len(data: bytes) -> int:
    import io

    f = io.BytesIO(data)
    fastavro.reader(f)
    return f.tell()


def _avro_schema_change(folder: Path) -> str:
    _write(folder / "in", "a.avro", _avro_bytes(_AVRO_SCHEMA, _avro_rows(2)))
    other = {"type": "record", "name": "R", "fields": [{"name": "id", "type": "string"}]}
    _write(folder / "in", "b.avro", _avro_bytes(other, [{"id": "x"}]))
    return str(folder / "in" / "*.avro")


def _avro_map(folder: Path) -> str:
    schema = {
        "type": "record",
        "name": "R",
        "fields": [{"name": "m", "type": {"type": "map", "values": "long"}}],
    }
    return _write(folder, "map.avro", _avro_bytes(schema, [{"m": {"a": 1}}]))


# --- images --------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, pixels: bytes | None = None) -> bytes:
    """A grayscale 8-bit PNG (pixels default to zeros)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = pixels if pixels is not None else b"".join(b"\0" + b"\0" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(rows))
        + _png_chunk(b"IEND", b"")
    )


def _jpeg(width: int = 16, height: int = 16) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def _images(**files: bytes) -> Callable[[Path], str]:
    def make(folder: Path) -> str:
        _write(folder / "in" / "cat", "good.png", _png(8, 8))
        for name, data in files.items():
            _write(folder / "in" / "cat", name.replace("__", "."), data)
        return str(folder / "in" / "**")

    return make


def _bomb() -> bytes:
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)  # 10^10 pixels
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b""))
        + _png_chunk(b"IEND", b"")
    )


# --- paths ---------------------------------------------------------------------


def _pattern_matches_a_folder(folder: Path) -> str:
    _write(folder / "in", "a.csv", "id\n1\n2\n")
    (folder / "in" / "sub.csv").mkdir()
    return str(folder / "in" / "*")


def _only_folders(folder: Path) -> str:
    (folder / "in" / "sub").mkdir(parents=True)
    return str(folder / "in" / "*")


def _broken_symlink(folder: Path) -> str:
    _write(folder / "in", "a.csv", "id\n1\n")
    os.symlink(folder / "nowhere.csv", folder / "in" / "b.csv")
    return str(folder / "in" / "*.csv")


def _unreadable(folder: Path) -> str:
    """A file whose read fails: mode 000, or for root (who reads those anyway) a
    link to /proc/self/mem, whose first page is unmapped (EIO)."""
    _write(folder / "in", "a.csv", "id\n1\n")
    if os.geteuid() == 0:
        os.symlink("/proc/self/mem", folder / "in" / "b.csv")
    else:
        os.chmod(_write(folder / "in", "b.csv", "id\n2\n"), 0)
    return str(folder / "in" / "*.csv")


def _output_in_input(folder: Path) -> tuple[str, str]:
    _write(folder / "in", "a.csv", "id\n1\n")
    _write(folder / "in" / "out" / "Split-train", "old.csv", "id\n9\n")  # an earlier output
    return str(folder / "in" / "**"), str(folder / "in" / "out")


def _output_is_input_folder(folder: Path) -> tuple[str, str]:
    _write(folder / "in", "a.csv", "id\n1\n")
    return str(folder / "in" / "*.csv"), str(folder / "in")


def _output_under_a_file(folder: Path) -> tuple[str, str]:
    path = _write(folder, "a.csv", "id\n1\n")
    return path, str(folder / "a.csv" / "out")


def _output_is_a_file(folder: Path) -> tuple[str, str]:
    path = _write(folder, "a.csv", "id\n1\n")
    return path, _write(folder, "out.txt", "x")


_BAD_UTF8 = b"id,name\n1,caf\xe9\n2,ok\n"

CASES: list[Case] = [
    # --- CSV
    Case("csv_truncated_last_line", "csv", _csv("id,name\n1,a\n2,b\n3"),
         DeadLetter(1, 2, ("3",), "wrong field count")),
    Case("csv_unbalanced_quote", "csv", _csv('id,name\n1,a\n2,"b\n3,c\n'),
         DeadLetter(1, 1, ('2,"b\n3,c',), "unbalanced quote")),
    Case("csv_wrong_delimiter", "csv", _csv("id;name\n1;a\n2;b\n"),
         ConfigError("--delimiter")),
    Case("csv_wrong_delimiter_given", "csv", _csv("id,name\n1,a\n"),
         ConfigError("--delimiter"), ("--delimiter", ";")),
    Case("csv_quoted_header_names", "csv", _csv('"id","full name"\n1,a b\n2,"c, d"\n'),
         Ok(2, _values("full name", [[b"a b"], [b"c, d"]]))),
    Case("csv_duplicate_header_names", "csv", _csv("id,name,id\n1,a,2\n"),
         ConfigError("repeats ['id']")),
    Case("csv_bom", "csv", _csv(b"\xef\xbb\xbfid,name\n1,a\n2,b\n"),
         Ok(2, _values("id", [[1], [2]]))),
    Case("csv_crlf", "csv", _csv("id,name\r\n1,a\r\n2,b\r\n"),
         Ok(2, _values("name", [[b"a"], [b"b"]]))),
    Case("csv_mixed_line_endings", "csv", _csv("id,name\r\n1,a\n2,b\r3,c\r\n4,d"),
         Ok(4, _values("name", [[b"a"], [b"b"], [b"c"], [b"d"]]))),
    Case("csv_nul_in_text", "csv", _csv(b"id,name\n1,a\x00b\n2,c\n"),
         Ok(2, _values("name", [[b"a\x00b"], [b"c"]]))),
    Case("csv_nul_in_number", "csv", _with_schema(b"id,name\n1,a\n2\x00,c\n3,d\n"),
         DeadLetter(1, 2, ("2\x00,c",)), ("--schema", "{folder}/schema.json")),
    Case("csv_100mb_field", "csv", _huge_field, Ok(2)),
    Case("csv_invalid_utf8", "csv", _csv(_BAD_UTF8),
         DeadLetter(1, 1, ("1,caf\udce9",), "UTF-8")),
    Case("csv_latin1", "csv", _csv(_BAD_UTF8),
         Ok(2, _values("name", [["café".encode()], [b"ok"]])), ("--encoding", "latin-1")),
    Case("csv_different_headers", "csv", _files(a__csv="id,name\n1,a\n", b__csv="id,nom\n2,b\n"),
         ConfigError("must share a header")),
    Case("csv_header_only", "csv", _csv("id,name\n"), Ok(0)),
    Case("csv_zero_bytes", "csv", _csv(b""), ConfigError("is empty; a CSV file needs a header")),
    Case("csv_extra_field", "csv", _csv("id,name\n1,a\n2,b,c\n"),
         DeadLetter(1, 1, ("2,b,c",), "wrong field count")),
    # --- JSONL
    Case("jsonl_invalid_json", "jsonl", _csv('{"a": 1}\n{"a": \n{"a": 3}\n', "d.jsonl"),
         DeadLetter(1, 2, ('{"a": ',), "invalid JSON")),
    Case("jsonl_array_not_object", "jsonl", _csv('{"a": 1}\n[1, 2]\n', "d.jsonl"),
         DeadLetter(1, 1, ("[1, 2]",), "not a JSON object")),
    Case("jsonl_deeply_nested", "jsonl",
         _csv('{"a": 1}\n' + '{"b": ' * 100_000 + "1" + "}" * 100_000 + "\n", "d.jsonl"),
         DeadLetter(1, 1, ('{"b": {"b": ',), "nested too deeply")),
    Case("jsonl_nested_flattens", "jsonl",
         _csv('{"a": ' * 20 + "1" + "}" * 20 + "\n", "d.jsonl"),
         Ok(1, lambda ex: list(ex[0]) == [".".join(["a"] * 20)])),
    Case("jsonl_int_beyond_int64", "jsonl", _csv('{"a": 1}\n{"a": 18446744073709551616}\n',
                                                  "d.jsonl"),
         DeadLetter(1, 1, ("18446744073709551616",), "int64")),
    Case("jsonl_nan_infinity", "jsonl", _csv('{"a": 1.5}\n{"a": NaN}\n{"a": -Infinity}\n',
                                              "d.jsonl"),
         DeadLetter(2, 1, ("NaN", "-Infinity"), "NaN or Infinity")),
    Case("jsonl_duplicate_keys", "jsonl", _csv('{"a": 1}\n{"a": 2, "a": 3}\n', "d.jsonl"),
         DeadLetter(1, 1, ('{"a": 2, "a": 3}',), "appears twice")),
    Case("jsonl_invalid_utf8", "jsonl", _csv(b'{"a": "x"}\n{"a": "caf\xe9"}\n', "d.jsonl"),
         DeadLetter(1, 1, ('"caf\udce9"',), "UTF-8")),
    Case("jsonl_zero_bytes", "jsonl", _csv(b"", "d.jsonl"), Ok(0)),
    # --- Parquet
    Case("parquet_truncated", "parquet", _parquet_truncated, DeadLetter(1, 3, reason="Parquet")),
    Case("parquet_corrupt_footer", "parquet", _parquet_corrupt_footer, DeadLetter(1, 3)),
    Case("parquet_zero_bytes", "parquet", _csv(b"", "z.parquet"),
         DeadLetter(1, 0, reason="size is 0 bytes")),
    Case("parquet_schema_change", "parquet", _parquet_schema_change,
         ConfigError("must share a schema; column 'id'")),
    Case("parquet_map_type", "parquet", _parquet_map, ConfigError("no tf.Example form")),
    # --- Avro
    # A corrupt or cut block is one bad record holding the skipped bytes (here the
    # block with the bad marker and the next: 2 of the 10 records).
    Case("avro_truncated", "avro", _avro_truncated, DeadLetter(1, 8, reason="sync marker")),
    Case("avro_corrupt_sync_marker", "avro", _avro_corrupt_sync,
         DeadLetter(1, 8, reason="sync marker")),
    Case("avro_schema_change", "avro", _avro_schema_change, ConfigError("'id'")),
    Case("avro_map_type", "avro", _avro_map, ConfigError("no tf.Example form")),
    Case("avro_zero_bytes", "avro", _csv(b"", "z.avro"),
         ConfigError("is not a readable Avro file")),
    # --- images
    Case("image_zero_bytes", "images", _images(empty__png=b""), DeadLetter(1, 1, reason="empty")),
    Case("image_truncated_verified", "images", _images(cut__jpg=_jpeg(64, 64)[:300]),
         DeadLetter(1, 1), ("--verify-images",)),
    Case("image_truncated", "images", _images(cut__jpg=_jpeg(64, 64)[:-40]),
         DeadLetter(1, 1, reason="truncated")),
    Case("image_truncated_png", "images", _images(cut__png=_png(64, 64)[:-40]),
         DeadLetter(1, 1, reason="truncated")),
    Case("image_wrong_extension", "images", _images(png_as__jpg=_png(4, 4)),
         Ok(2, lambda ex: sorted(e["image/format"][1][0] for e in ex) == [b"png", b"png"])),
    Case("image_not_an_image", "images", _images(text__jpg=b"hello"),
         DeadLetter(1, 1, reason="not an image")),
    Case("image_decompression_bomb", "images", _images(bomb__png=_bomb()),
         DeadLetter(1, 1, reason="decompression bomb")),
    # --- paths
    Case("path_pattern_matches_a_folder", "csv", _pattern_matches_a_folder, Ok(2)),
    Case("path_pattern_matches_only_folders", "csv", _only_folders,
         ConfigError("no file matches")),
    Case("path_broken_symlink", "csv", _broken_symlink, ConfigError("broken symbolic link")),
    Case("path_unreadable_file", "csv", _unreadable, ConfigError("cannot read")),
    Case("path_output_inside_the_input", "csv", _output_in_input,
         ConfigError("is inside --output"), ("--overwrite",)),
    Case("path_output_is_the_input_folder", "csv", _output_is_input_folder,
         ConfigError("is inside --output"), ("--overwrite",)),
    Case("path_output_cannot_be_created", "csv", _output_under_a_file,
         ConfigError("cannot be created")),
    Case("path_output_is_a_file", "csv", _output_is_a_file, ConfigError("is a file")),
]  # fmt: skip
