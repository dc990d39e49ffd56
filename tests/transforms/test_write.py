"""The part writer: TFRecord framing, and parallel gzip as one ordinary gzip member."""

from __future__ import annotations

import gzip
import zlib

import pytest
import tensorflow as tf

from beam_ingest.framing import frame_records
from beam_ingest.transforms.write import PartWriter


@pytest.mark.parametrize("level", [0, 1, 6])
def test_buffers_deflated_apart_make_one_gzip_member(tmp_path, level):
    records = [f"record {i} ".encode() * (i % 50) for i in range(3000)]
    buffers = [frame_records(records[i : i + 170]) for i in range(0, len(records), 170)]
    path = str(tmp_path / "part.gz")
    writer = PartWriter(path, compress=True, level=level)
    for buffer in buffers:
        writer.write(buffer, 170)
    writer.close()

    data = (tmp_path / "part.gz").read_bytes()
    inflater = zlib.decompressobj(31)
    assert inflater.decompress(data) == b"".join(buffers)
    assert inflater.eof and inflater.unused_data == b""  # one member: TensorFlow reads it all
    assert gzip.decompress(data) == b"".join(buffers)  # header, CRC-32 and length check out
    got = list(tf.data.TFRecordDataset(path, compression_type="GZIP").as_numpy_iterator())
    assert got == records


def test_an_empty_part_is_valid_gzip(tmp_path):
    path = str(tmp_path / "part.gz")
    writer = PartWriter(path, compress=True)
    writer.close()
    assert gzip.decompress((tmp_path / "part.gz").read_bytes()) == b""


def test_a_failed_write_surfaces_at_close(tmp_path, monkeypatch):
    import beam_ingest.transforms.write as write

    writer = PartWriter(str(tmp_path / "part.gz"), compress=True)

    def broken(data, level, *, last=False):
        raise OSError("disk full")

    monkeypatch.setattr(write, "_deflate", broken)
    writer.write(b"x" * 100, 1)
    with pytest.raises(OSError, match="disk full"):
        writer.close()


def test_framing_is_what_tensorflow_writes(tmp_path):
    """Records of repeated and of new lengths (the length header is cached by
    length), an empty one, and one past 2**16 bytes."""
    records = [b"", b"a", b"b", b"xy" * 300, b"z" * 600, b"q" * 70_000, b"a", b""]
    path = tmp_path / "tf.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    assert frame_records(records) == path.read_bytes()
    assert frame_records(records) == frame_records(iter(records))
