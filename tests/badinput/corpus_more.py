"""More bad-input cases (same rules as `corpus.py`): compressed and truncated
files, wrong extensions, TFRecord framing, type switches, big integers,
header-only CSVs without a final line break, columns of empty lists, folders
as inputs, unicode paths and symbolic link loops."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import struct
from pathlib import Path

import fastavro
import pyarrow as pa


@dataclasses.dataclass(frozen=True)
class Fails:
    """The run stops (exit 1) with `message`, a clear error naming the file;
    nothing complete-looking is left."""

    message: str


from tests.badinput.corpus import (  # noqa: E402
    Case,
    ConfigError,
    DeadLetter,
    Ok,
    _csv,
    _files,
    _parquet_bytes,
    _png,
    _values,
    _write,
)

# --- TFRecord framing, written by hand (the format is four fields) ---------------


def _masked_crc(data: bytes) -> int:
    from beam_ingest.framing import masked_crc

    return masked_crc(data)


def _example(**features: int) -> bytes:
    """A tf.Example of int64 features, serialized by TensorFlow's own classes."""
    import tensorflow as tf

    feats = {
        k: tf.train.Feature(int64_list=tf.train.Int64List(value=[v])) for k, v in features.items()
    }
    return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


def _frame(record: bytes) -> bytes:
    length = struct.pack("<Q", len(record))
    return (
        length
        + struct.pack("<I", _masked_crc(length))
        + record
        + struct.pack("<I", _masked_crc(record))
    )


def _tfrecord(*, corrupt: int | None = None, cut: int = 0, gz: bool = False, n: int = 3):
    def make(folder: Path) -> str:
        data = bytearray(b"".join(_frame(_example(id=i)) for i in range(n)))
        if corrupt is not None:  # flip a byte of record `corrupt`'s data
            frame = len(_frame(_example(id=0)))
            data[corrupt * frame + 12] ^= 0xFF
        body = bytes(data[: len(data) - cut])
        if gz:
            body = gzip.compress(bytes(data))[: -cut or None]
        return _write(folder, "data.tfrecord" + (".gz" if gz else ""), body)

    return make


# --- files of other kinds ---------------------------------------------------------


def _gzip_truncated(text: str, name: str):
    return _csv(gzip.compress(text.encode())[:-12], name)


def _header_only_gzip(folder: Path) -> str:
    return _write(folder, "h.csv.gz", gzip.compress(b"a,b"))


def _parquet_list_null(folder: Path) -> str:
    table = pa.table({"id": [1, 2, 3], "tags": pa.array([[], [], []], pa.list_(pa.null()))})
    return _write(folder, "e.parquet", _parquet_bytes(table))


def _avro_array_null(folder: Path) -> str:
    schema = {
        "type": "record",
        "name": "r",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "tags", "type": {"type": "array", "items": "null"}},
        ],
    }
    path = folder / "e.avro"
    with open(path, "wb") as f:
        fastavro.writer(f, schema, [{"id": 1, "tags": []}, {"id": 2, "tags": []}])
    return str(path)


def _empty_feature(name: str):
    return lambda examples: all(e[name] == (None, []) for e in examples)


def _csv_parquet_named(folder: Path) -> str:
    return _write(folder, "data.parquet", "id,name\n1,a\n")


def _csv_avro_named(folder: Path) -> str:
    return _write(folder, "data.avro", "id,name\n1,a\n")


# --- folders and paths --------------------------------------------------------------


def _folder_with_markers(folder: Path) -> str:
    root = folder / "in"
    _write(root, "part-0.csv", "id\n1\n2\n")
    _write(root / "nested" / "deeper", "part-1.csv.gz", gzip.compress(b"id\n3\n"))
    for marker in ("_SUCCESS", "_committed_123", ".part-0.csv.crc", "part-0.csv.crc"):
        _write(root, marker, "x")
    _write(root / "_temporary" / "0", "part-9.csv", "id\n9\n")  # an unfinished job's
    _write(root / ".hidden", "h.csv", "id\n8\n")
    _write(root, "README.md", "# not data")
    return str(root)


def _folder_of_other_files(folder: Path) -> str:
    _write(folder / "in", "notes.txt", "x")
    _write(folder / "in", "_SUCCESS", "")
    return str(folder / "in")


def _image_class_folders(folder: Path) -> str:
    for label, count in (("cat", 2), ("dog", 1)):
        for i in range(count):
            _write(folder / "in" / label, f"{i}.png", _png(4, 4))
    _write(folder / "in", "_SUCCESS", "")
    return str(folder / "in") + "/"


def _tfx_examples_folder(folder: Path) -> str:
    """An Examples artifact's layout: Split-*/data_tfrecord-*.gz, no extension."""
    for split, ids in (("train", (1, 2)), ("eval", (3,))):
        body = gzip.compress(b"".join(_frame(_example(id=i)) for i in ids))
        _write(folder / "in" / f"Split-{split}", "data_tfrecord-00000-of-00001.gz", body)
    return str(folder / "in")


def _jsonl_folder(folder: Path) -> str:
    _write(folder / "in" / "2026-12-01", "a.jsonl", '{"id": 1}\n')
    _write(folder / "in" / "2026-12-02", "b.ndjson", '{"id": 2}\n')
    _write(folder / "in", "_SUCCESS", "")
    return str(folder / "in")


def _unicode_path(folder: Path) -> str:
    return _write(folder / "dossier données", "clé café.csv", "id\n1\n2\n")


def _symlink_loop(folder: Path) -> str:
    root = folder / "in"
    _write(root / "sub", "a.csv", "id\n1\n")
    os.symlink(root, root / "sub" / "loop")  # in/sub/loop -> in
    return str(root)


def _long_jsonl_line(folder: Path) -> str:
    path = folder / "long.jsonl"
    with open(path, "w") as f:
        f.write(json.dumps({"id": 1, "blob": "x" * (50 << 20)}) + "\n")
        f.write('{"id": 2, "blob": "small"}\n')
    return str(path)


MORE_CASES: list[Case] = [
    # --- CSV
    Case("csv_header_only_no_newline", "csv", _csv("a,b"), Ok(0)),
    Case("csv_quoted_header_only_no_newline", "csv", _csv('"a","b c"'), Ok(0)),
    Case("csv_gzip_header_only_no_newline", "csv", _header_only_gzip, Ok(0)),
    Case("csv_last_line_without_newline", "csv", _csv("id\n1\n2"),
         Ok(2, _values("id", [[1], [2]]))),
    Case("csv_type_switch_midway", "csv", _csv("id\n1\n2\nthree\n"),
         Ok(3, _values("id", [[b"1"], [b"2"], [b"three"]]))),
    Case("csv_int_beyond_int64", "csv", _csv("id\n1\n18446744073709551616\n"),
         Ok(2, _values("id", [[b"1"], [b"18446744073709551616"]]))),
    Case("csv_gzip_truncated", "csv", _gzip_truncated("id\n1\n2\n3\n", "t.csv.gz"),
         Fails("t.csv.gz: the gzip stream ends early: the file is truncated")),
    Case("csv_gz_extension_not_gzip", "csv", _csv("id\n1\n", "plain.csv.gz"),
         Fails("plain.csv.gz: not readable as gzip")),
    # --- JSONL
    Case("jsonl_50mb_line", "jsonl", _long_jsonl_line, Ok(2)),
    Case("jsonl_type_switch_midway", "jsonl", _csv('{"a": 1}\n{"a": "x"}\n', "d.jsonl"),
         ConfigError("is a number at")),
    Case("jsonl_gzip_truncated", "jsonl", _gzip_truncated('{"a": 1}\n{"a": 2}\n', "t.jsonl.gz"),
         Fails("t.jsonl.gz: the gzip stream ends early")),
    # --- Parquet, Avro
    Case("parquet_list_of_null", "parquet", _parquet_list_null, Ok(3, _empty_feature("tags"))),
    Case("parquet_wrong_extension", "parquet", _csv_parquet_named,
         DeadLetter(1, 0, reason="not a readable Parquet file")),
    Case("avro_array_of_null", "avro", _avro_array_null, Ok(2, _empty_feature("tags"))),
    Case("avro_wrong_extension", "avro", _csv_avro_named, ConfigError("data.avro")),
    # --- TFRecord
    Case("tfrecord_bad_data_crc", "tfrecord", _tfrecord(corrupt=1),
         DeadLetter(1, 1, reason="checksum")),
    Case("tfrecord_truncated", "tfrecord", _tfrecord(cut=5),
         DeadLetter(1, 2, reason="truncated record")),
    Case("tfrecord_gzip_truncated", "tfrecord", _tfrecord(gz=True, cut=20),
         DeadLetter(1, 1, reason="the file is truncated")),
    Case("tfrecord_zero_bytes", "tfrecord", _csv(b"", "z.tfrecord"), Ok(0)),
    Case("tfrecord_partition_feature_missing", "tfrecord", _tfrecord(),
         ConfigError("'user' is missing from"), ("--partition-feature", "user")),
    # --- folders as inputs
    Case("folder_markers_and_nesting", "csv", _folder_with_markers,
         Ok(3, _values("id", [[1], [2], [3]]))),
    Case("folder_without_matching_files", "csv", _folder_of_other_files,
         ConfigError("holds no csv file (.csv, .tsv")),
    Case("folder_of_class_folders", "images", _image_class_folders,
         Ok(3, _values("image/class/text", [[b"cat"], [b"cat"], [b"dog"]]))),
    Case("folder_tfx_examples_artifact", "tfrecord", _tfx_examples_folder, Ok(3)),
    Case("folder_jsonl_by_day", "jsonl", _jsonl_folder, Ok(2)),
    Case("zero_byte_image_in_folder", "images", _files(a__png=_png(4, 4), b__png=b""),
         DeadLetter(1, 1, reason="empty"), ("--no-labels",)),
    # --- paths
    Case("path_unicode_and_spaces", "csv", _unicode_path, Ok(2)),
    Case("path_symlink_loop_in_folder", "csv", _symlink_loop, Ok(1)),
]  # fmt: skip
