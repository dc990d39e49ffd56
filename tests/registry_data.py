"""Small files of every format for the registry tests (no TensorFlow needed)."""

from __future__ import annotations

import io
from pathlib import Path

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq

from beam_ingest.framing import frame_records
from beam_ingest.transforms.encode import encode_batch

ROWS = [
    {"id": 1, "score": 0.5, "text": "one"},
    {"id": 2, "score": 1.5, "text": "two, with a comma"},
    {"id": 3, "score": 2.5, "text": "three\nlines"},
    {"id": 4, "score": 3.5, "text": "four"},
    {"id": 5, "score": 4.5, "text": "five"},
]


def write_csv(path: Path, rows: list[dict] = ROWS) -> Path:
    lines = ["id,score,text"]
    for r in rows:
        text = r["text"].replace('"', '""')
        lines.append(f'{r["id"]},{r["score"]},"{text}"')
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def write_all(folder: Path) -> dict[str, list[Path]]:
    """format -> files holding ROWS (images: 3 PNGs in two class folders)."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    out = {"csv": [write_csv(folder / "data.csv")]}
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    out["jsonl"] = [folder / "data.jsonl"]
    table = pa.Table.from_pylist(ROWS)
    pq.write_table(table, folder / "data.parquet")
    out["parquet"] = [folder / "data.parquet"]
    schema = {
        "type": "record",
        "name": "Row",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "score", "type": "double"},
            {"name": "text", "type": "string"},
        ],
    }
    with open(folder / "data.avro", "wb") as f:
        fastavro.writer(f, schema, ROWS)
    out["avro"] = [folder / "data.avro"]
    batch = pa.RecordBatch.from_pylist(ROWS).cast(
        pa.schema([("id", pa.int64()), ("score", pa.float32()), ("text", pa.large_binary())])
    )
    (folder / "data.tfrecord").write_bytes(frame_records(encode_batch(batch).examples))
    out["tfrecord"] = [folder / "data.tfrecord"]
    out["images"] = [folder / "images"]
    for i, label in enumerate(["cat", "cat", "dog"]):
        (folder / "images" / label).mkdir(parents=True, exist_ok=True)
        (folder / "images" / label / f"{i}.png").write_bytes(png(i))
    return out


def png(seed: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (seed * 40, 10, 20)).save(buffer, "PNG")
    return buffer.getvalue()
