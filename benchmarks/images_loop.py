"""The plain-loop baseline for compare_images.py: an image folder to one gzip TFRecord file.

    .venv/bin/python benchmarks/images_loop.py ROOT OUT

Every `*.jpg` under ROOT/<class>/, sorted by relative path, one process, no Beam,
no splits. Pillow opens each file for its header only (size, mode, format; no
decode) and a `tf.train.Example` is built with the features beam-ingest writes
for `--format images` with folder labels: image/encoded (the file's bytes),
image/format, image/height, image/width, image/channels, image/filename (relative
to ROOT), image/class/label (the index of the folder name in the sorted folder
names) and image/class/text. Written to OUT/examples.tfrecord.gz; the count is
printed.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import tensorflow as tf
from PIL import Image


def _bytes(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))


def main(root: Path, out: Path) -> int:
    files = sorted(root.glob("*/*.jpg"), key=lambda p: p.relative_to(root).as_posix())
    classes = sorted({file.parent.name for file in files})
    ids = {name: n for n, name in enumerate(classes)}
    out.mkdir(parents=True, exist_ok=True)
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    count = 0
    with tf.io.TFRecordWriter(str(out / "examples.tfrecord.gz"), options) as writer:
        for file in files:
            data = file.read_bytes()
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                fmt = img.format.lower()
                channels = 1 if img.mode == "L" else 3
            text = file.parent.name
            example = tf.train.Example(
                features=tf.train.Features(
                    feature={
                        "image/encoded": _bytes(data),
                        "image/format": _bytes(fmt.encode()),
                        "image/height": _int(height),
                        "image/width": _int(width),
                        "image/channels": _int(channels),
                        "image/filename": _bytes(file.relative_to(root).as_posix().encode()),
                        "image/class/label": _int(ids[text]),
                        "image/class/text": _bytes(text.encode()),
                    }
                )
            )
            writer.write(example.SerializeToString())
            count += 1
    print(f"{count} examples written to {out / 'examples.tfrecord.gz'}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.splitlines()[2].strip())
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
