"""The plain-loop baseline: pandas (or Pillow) -> one tf.train.Example per row -> TFRecordWriter.

    .venv/bin/python benchmarks/pandas_loop.py {csv,jsonl,parquet,avro,images} INPUT OUT

What a user without a framework writes: one process, no Beam.

- Tables: pandas reads the whole file with Arrow dtypes (`read_csv` and
  `read_json(lines=True)` with `engine="pyarrow"`, `read_parquet`; Avro, which
  pandas cannot read, through fastavro into an Arrow table), then a Python loop
  builds one `tf.train.Example` per row the way TFX's CsvExampleGen does: ints
  as int64_list, floats as float_list, strings as UTF-8 bytes_list, a null as
  an empty list of the column's type, a column null everywhere as `Feature()`.
- Images (INPUT is the root folder of `<class>/*.jpg`): every file, sorted by
  relative path; Pillow reads the header only; the features of beam-ingest's
  `--format images` with folder labels (image/encoded, format, height, width,
  channels, filename, class/label, class/text).

Each example goes to a split by TFX's rule (`_PartitionFn`, the same as
beam_ingest/splits.py, written out here so no Beam is imported): the bucket is
`int(sha256(Example.SerializeToString(deterministic=True)).hexdigest(), 16) % 3`,
buckets 0-1 train, 2 eval. Output: OUT/Split-<name>/data_tfrecord-00000-of-00001.gz
through `tf.io.TFRecordWriter` (GZIP, zlib's default level 6, as beam-ingest's).
Prints the examples per split as JSON.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import tensorflow as tf

SPLITS = (("train", 2), ("eval", 1))  # TFX's default output config
FORMATS = ("csv", "jsonl", "parquet", "avro", "images")


def split_index(key: bytes) -> int:
    bucket = int(hashlib.sha256(key).hexdigest(), 16) % sum(b for _, b in SPLITS)
    upper = 0
    for index, (_, buckets) in enumerate(SPLITS):
        upper += buckets
        if bucket < upper:
            return index
    raise AssertionError("unreachable")


def read_frame(fmt: str, path: Path):
    import pandas as pd

    if fmt == "csv":
        return pd.read_csv(path, engine="pyarrow", dtype_backend="pyarrow")
    if fmt == "jsonl":
        return pd.read_json(path, lines=True, engine="pyarrow", dtype_backend="pyarrow")
    if fmt == "parquet":
        return pd.read_parquet(path, dtype_backend="pyarrow")
    import fastavro
    import pyarrow as pa

    with path.open("rb") as avro:
        reader = fastavro.reader(avro)
        return pa.Table.from_pylist(list(reader)).to_pandas(types_mapper=pd.ArrowDtype)


def _int(value: object) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[] if value is None else [value]))


def _float(value: object) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=[] if value is None else [value]))


def _bytes(value: object) -> tf.train.Feature:
    return tf.train.Feature(
        bytes_list=tf.train.BytesList(value=[] if value is None else [value.encode()])
    )


def _none(value: object) -> tf.train.Feature:
    return tf.train.Feature()


def table_examples(fmt: str, path: Path) -> Iterator[tf.train.Example]:
    import pyarrow as pa

    frame = read_frame(fmt, path)
    handlers, columns = [], []
    for name in frame.columns:
        arrow_type = frame[name].dtype.pyarrow_dtype
        if pa.types.is_integer(arrow_type) or pa.types.is_boolean(arrow_type):
            handler = _int
        elif pa.types.is_floating(arrow_type):
            handler = _float
        elif pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
            handler = _bytes
        elif pa.types.is_null(arrow_type):
            handler = _none
        else:
            raise SystemExit(f"{path}: column {name!r} has type {arrow_type}, not handled")
        handlers.append((name, handler))
        columns.append(frame[name].to_numpy(dtype=object, na_value=None).tolist())
    del frame
    for row in zip(*columns, strict=True):
        yield tf.train.Example(
            features=tf.train.Features(
                feature={
                    name: handler(value)
                    for (name, handler), value in zip(handlers, row, strict=True)
                }
            )
        )


def image_examples(root: Path) -> Iterator[tf.train.Example]:
    from PIL import Image

    files = sorted(root.glob("*/*.jpg"), key=lambda p: p.relative_to(root).as_posix())
    ids = {name: n for n, name in enumerate(sorted({file.parent.name for file in files}))}
    for file in files:
        data = file.read_bytes()
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            fmt = img.format.lower()
            channels = 1 if img.mode == "L" else 3
        text = file.parent.name
        yield tf.train.Example(
            features=tf.train.Features(
                feature={
                    "image/encoded": _bytes_raw(data),
                    "image/format": _bytes(fmt),
                    "image/height": _int(height),
                    "image/width": _int(width),
                    "image/channels": _int(channels),
                    "image/filename": _bytes(file.relative_to(root).as_posix()),
                    "image/class/label": _int(ids[text]),
                    "image/class/text": _bytes(text),
                }
            )
        )


def _bytes_raw(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def main(fmt: str, source: Path, out: Path) -> int:
    examples = image_examples(source) if fmt == "images" else table_examples(fmt, source)
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    writers = []
    for name, _ in SPLITS:
        (out / f"Split-{name}").mkdir(parents=True, exist_ok=True)
        path = out / f"Split-{name}" / "data_tfrecord-00000-of-00001.gz"
        writers.append(tf.io.TFRecordWriter(str(path), options))
    counts = [0] * len(SPLITS)
    for example in examples:
        record = example.SerializeToString(deterministic=True)
        index = split_index(record)
        writers[index].write(record)
        counts[index] += 1
    for writer in writers:
        writer.close()
    print(json.dumps({name: count for (name, _), count in zip(SPLITS, counts, strict=True)}))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in FORMATS:
        sys.exit(__doc__.splitlines()[2].strip())
    sys.exit(main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])))
