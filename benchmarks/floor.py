"""The floor: the least work that turns a table file into split gzip TFRecords.

    .venv/bin/python benchmarks/floor.py {csv,jsonl,parquet,avro} INPUT OUT

One process, no Beam, no per-row Python except the hash and the record framing:

1. read: pyarrow (`pyarrow.csv.read_csv`, `pyarrow.json.read_json`,
   `pyarrow.parquet.read_table`, with their default threads); Avro, which
   pyarrow cannot read, through fastavro into `Table.from_pylist`;
2. encode: each column wrapped as a one-value list (nulls as null lists),
   10,000-row batches through tfx_bsl's C++ `RecordBatchToExamplesEncoder`,
   whole batches at a time;
3. hash: `sha256` of each encoded example, TFX's bucket rule (train 2, eval 1);
4. write: TFRecord framing (crc32c from google-crc32c) and Python's gzip at
   level 6, one file per split: OUT/Split-<name>/data_tfrecord-00000-of-00001.gz.

The encoder orders an example's features by hash and writes a null as an empty
`Feature()`, so its bytes are not `SerializeToString(deterministic=True)` of
TFX's examples and the split differs from TFX's (and beam-ingest's): only the
total is comparable. The floor is a lower bound for speed, not a usable tool.

With `--fast` (`floor.py --fast FORMAT INPUT OUT`) the same read goes through
this project's own pieces instead, still in one process without Beam:
`beam_ingest.transforms.encode.encode_batch` (the column encoder, on 8,192-row
batches, deterministic bytes: the split is TFX's), `SplitAssigner`,
`frame_records` and `PartWriter` (zlib-ng, deflate on writer threads). Since
beam-ingest outran the tfx_bsl floor, this is the floor that shows what Beam
and the connectors' streaming and typing cost (pyarrow's own type inference
here, not TFX's rules, and the whole file in memory).

Prints JSON: the examples per split and whether TensorFlow was imported (it is
not: tfx_bsl's coders do not need it).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import struct
import sys
from pathlib import Path

import google_crc32c
import pyarrow as pa

SPLITS = (("train", 2), ("eval", 1))
FORMATS = ("csv", "jsonl", "parquet", "avro")
BATCH_ROWS = 10_000
FAST_BATCH_ROWS = 8_192
_MASK_DELTA = 0xA282EAD8
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")


def read_table(fmt: str, path: Path) -> pa.Table:
    if fmt == "csv":
        import pyarrow.csv as pa_csv

        return pa_csv.read_csv(path)
    if fmt == "jsonl":
        import pyarrow.json as pa_json

        return pa_json.read_json(path)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path)
    import fastavro

    with path.open("rb") as avro:
        return pa.Table.from_pylist(list(fastavro.reader(avro)))


def as_lists(column: pa.Array) -> pa.Array:
    """[value] per row, a null list for a null (the encoder writes `Feature()`)."""
    if pa.types.is_null(column.type):
        return pa.nulls(len(column), pa.list_(pa.int64()))
    if pa.types.is_string(column.type):
        column = column.cast(pa.binary())
    elif pa.types.is_floating(column.type):
        column = column.cast(pa.float32())  # the encoder takes no float64
    offsets = pa.array(range(len(column) + 1), pa.int32())
    return pa.ListArray.from_arrays(offsets, column, mask=column.is_null())


def masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def main(fmt: str, source: Path, out: Path) -> int:
    from tfx_bsl.coders import example_coder

    table = read_table(fmt, source)
    encoder = example_coder.RecordBatchToExamplesEncoder()
    total_buckets = sum(b for _, b in SPLITS)
    split_of_bucket = [i for i, (_, buckets) in enumerate(SPLITS) for _ in range(buckets)]
    counts = [0] * len(SPLITS)
    sha256 = hashlib.sha256
    with contextlib.ExitStack() as stack:
        files = []
        for name, _ in SPLITS:
            (out / f"Split-{name}").mkdir(parents=True, exist_ok=True)
            path = out / f"Split-{name}" / "data_tfrecord-00000-of-00001.gz"
            files.append(stack.enter_context(gzip.open(path, "wb", compresslevel=6)))
        for batch in table.to_batches(max_chunksize=BATCH_ROWS):
            columns = [as_lists(c) for c in batch.columns]
            lists = pa.RecordBatch.from_arrays(columns, batch.schema.names)
            framed: list[bytearray] = [bytearray() for _ in SPLITS]
            for record in encoder.encode(lists):
                index = split_of_bucket[int(sha256(record).hexdigest(), 16) % total_buckets]
                header = _U64.pack(len(record))
                buffer = framed[index]
                buffer += header
                buffer += _U32.pack(masked_crc(header))
                buffer += record
                buffer += _U32.pack(masked_crc(record))
                counts[index] += 1
            for file, buffer in zip(files, framed, strict=True):
                file.write(buffer)
    result = {name: count for (name, _), count in zip(SPLITS, counts, strict=True)}
    print(json.dumps({"splits": result, "tensorflow_imported": "tensorflow" in sys.modules}))
    return 0


def main_fast(fmt: str, source: Path, out: Path) -> int:
    from beam_ingest.framing import frame_records
    from beam_ingest.splits import SplitAssigner, SplitSpec
    from beam_ingest.transforms.encode import encode_batch
    from beam_ingest.transforms.write import PartWriter

    table = read_table(fmt, source)
    assigner = SplitAssigner([SplitSpec(name=name, buckets=b) for name, b in SPLITS])
    writers = []
    for name, _ in SPLITS:
        (out / f"Split-{name}").mkdir(parents=True, exist_ok=True)
        writers.append(
            PartWriter(str(out / f"Split-{name}" / "data_tfrecord-00000-of-00001.gz"), True)
        )
    for batch in table.to_batches(max_chunksize=FAST_BATCH_ROWS):
        examples = encode_batch(batch).examples
        per_split: list[list[bytes]] = [[] for _ in SPLITS]
        for example, index in zip(examples, assigner.assign_all(examples), strict=True):
            per_split[index].append(example)
        for writer, records in zip(writers, per_split, strict=True):
            writer.write(frame_records(records), len(records))
    for writer in writers:
        writer.close()
    result = {name: w.records for (name, _), w in zip(SPLITS, writers, strict=True)}
    print(json.dumps({"splits": result, "tensorflow_imported": "tensorflow" in sys.modules}))
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    fast = args[:1] == ["--fast"]
    args = args[1:] if fast else args
    if len(args) != 3 or args[0] not in FORMATS:
        sys.exit(__doc__.splitlines()[2].strip())
    sys.exit((main_fast if fast else main)(args[0], Path(args[1]), Path(args[2])))
