"""The benchmark workloads, generated from data a package ships. Shared by benchmarks/run.py.

- Taxi rows: the Chicago taxi CSV of the tfx wheel (15,002 data rows and a
  header, 18 columns), its data rows repeated under one header to exactly N
  rows (whole copies, then the first N mod 15,002 rows once more):
  `work/data/taxi_<N>/taxi.csv`, alone in its folder (TFX reads every file of
  its input folder). Reused while it has the expected size.
- The same rows in the other formats, each alone in its folder
  `work/data/taxi_<N>_<fmt>/taxi.<fmt>`, typed as CSV inference types them
  (`beam_ingest.connectors._csv_values.infer_kind`: INT, FLOAT, STRING; an
  empty cell is a null): Parquet with pyarrow's defaults (snappy); Avro with
  fastavro, deflate codec, fields `["null", long|double|string]`; JSONL one
  object per row, empty cells omitted, ints as JSON ints, floats as JSON
  floats (`0.0`). Reused while newer than the CSV and holding N rows.
- Images: N JPEGs of 256x256 RGB, quality 90, in 10 class folders
  (image i in class_{i % 10}), a gradient with noise and shapes seeded by
  (seed, i): `work/data/images_<N>/`, reused while its `.complete` marker matches.
- A 10-row CSV for the start-up check: `work/data/taxi_10/taxi.csv`.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sysconfig
import time
from collections.abc import Iterator
from multiprocessing import Pool
from pathlib import Path

__all__ = ["TAXI_CSV", "convert_taxi", "make_images", "make_taxi_csv"]

TAXI_CSV = (
    Path(sysconfig.get_paths()["purelib"])
    / "tfx/examples/chicago_taxi_pipeline/data/simple/data.csv"
)
AVRO_CODEC = "deflate"
BATCH_ROWS = 10_000
IMAGE_SIZE = 256
IMAGE_CLASSES = 10
IMAGE_QUALITY = 90


# ---------------------------------------------------------------- taxi CSV


def _header_and_lines(source: Path) -> tuple[bytes, list[bytes]]:
    content = source.read_bytes()
    header, _, body = content.partition(b"\n")
    lines = body.splitlines(keepends=True)
    if lines and not lines[-1].endswith(b"\n"):
        lines[-1] += b"\n"
    return header + b"\n", lines


def make_taxi_csv(rows: int, data_root: Path, source: Path = TAXI_CSV) -> Path:
    """The CSV of exactly `rows` taxi rows (written unless it exists with the expected size)."""
    header, lines = _header_and_lines(source)
    body = b"".join(lines)
    copies, rest = divmod(rows, len(lines))
    tail = b"".join(lines[:rest])
    path = data_root / f"taxi_{rows}" / "taxi.csv"
    if path.is_file() and path.stat().st_size == len(header) + copies * len(body) + len(tail):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written next to the folder, then renamed in: TFX reads every file in it.
    partial = path.parent.parent / f".{path.parent.name}.partial"
    with partial.open("wb") as out:
        out.write(header)
        for _ in range(copies):
            out.write(body)
        out.write(tail)
    partial.replace(path)
    return path


# ---------------------------------------------------------------- other formats


def _typed_table(csv_file: Path):  # -> tuple[pa.Table, dict[str, Kind]]
    """The CSV as a table typed as CSV inference types it; empty cells are nulls."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    from beam_ingest.connectors._csv_values import convert, infer_kind
    from beam_ingest.schema import Kind

    arrow_types = {Kind.INT: pa.int64(), Kind.FLOAT: pa.float64(), Kind.BYTES: pa.string()}
    names = csv_file.open("rb").readline().decode().rstrip("\r\n").split(",")
    strings = pa_csv.read_csv(
        csv_file,
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            null_values=[""],
            strings_can_be_null=True,
        ),
    )
    columns, kinds = [], {}
    for name in strings.column_names:
        cells = strings.column(name).combine_chunks()
        kind = kinds[name] = infer_kind(cells)
        if kind is Kind.UNKNOWN:  # empty everywhere
            columns.append(pa.nulls(len(cells), pa.string()))
            continue
        values, failures = convert(cells, kind)
        if failures:
            raise ValueError(f"{csv_file}: column {name}: {next(iter(failures.values()))}")
        columns.append(values.cast(arrow_types[kind]))
    return pa.table(columns, names=strings.column_names), kinds


def _records(table) -> Iterator[dict]:
    for batch in table.to_batches(max_chunksize=BATCH_ROWS):
        yield from batch.to_pylist()


def _write_parquet(table, kinds, path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, path)


def _write_avro(table, kinds, path: Path) -> None:
    import fastavro

    from beam_ingest.schema import Kind

    avro_types = {Kind.INT: "long", Kind.FLOAT: "double", Kind.BYTES: "string"}
    schema = {
        "type": "record",
        "name": "TaxiTrip",
        "namespace": "beam_ingest.benchmarks",
        "fields": [
            {"name": name, "type": ["null", avro_types.get(kind, "string")], "default": None}
            for name, kind in kinds.items()
        ],
    }
    with path.open("wb") as out:
        fastavro.writer(out, fastavro.parse_schema(schema), _records(table), AVRO_CODEC)


def _write_jsonl(table, kinds, path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in _records(table):
            present = {name: value for name, value in row.items() if value is not None}
            out.write(json.dumps(present, ensure_ascii=False, allow_nan=False) + "\n")


def _count_rows(path: Path, fmt: str) -> int:
    """Rows of a converted file, cheaply: footer, block headers or newlines."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    if fmt == "avro":
        import fastavro

        with path.open("rb") as avro:
            return sum(block.num_records for block in fastavro.block_reader(avro))
    with path.open("rb") as lines:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: lines.read(1 << 24), b""))


_WRITERS = {"parquet": _write_parquet, "avro": _write_avro, "jsonl": _write_jsonl}
FORMATS = ("csv", *_WRITERS)


def convert_taxi(csv_file: Path, rows: int, formats: list[str]) -> dict[str, Path]:
    """{format: input file} for `formats` (csv, jsonl, parquet, avro), converting the CSV
    to each format whose file is missing or stale."""
    inputs = {}
    table = kinds = None
    for fmt in formats:
        if fmt == "csv":
            inputs[fmt] = csv_file
            continue
        folder = csv_file.parent.parent / f"{csv_file.parent.name}_{fmt}"
        path = inputs[fmt] = folder / f"{csv_file.stem}.{fmt}"
        if (
            path.is_file()
            and path.stat().st_mtime >= csv_file.stat().st_mtime
            and _count_rows(path, fmt) == rows
        ):
            continue
        if table is None:
            print(f"typing {csv_file} ...", flush=True)
            table, kinds = _typed_table(csv_file)
        print(f"writing {path} ...", flush=True)
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder.parent / f".{folder.name}.partial"
        _WRITERS[fmt](table, kinds, partial)
        partial.replace(path)
    return inputs


# ---------------------------------------------------------------- images


def _make_image(seed: int, index: int) -> bytes:
    """One seeded 256x256 RGB JPEG: gradient, noise, shapes."""
    import numpy as np
    from PIL import Image, ImageDraw

    size = IMAGE_SIZE
    rng = np.random.default_rng([seed, index])
    ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)
    start, end = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    mix = (ramp[:, None] + ramp[None, :])[..., None] / 2
    pixels = start * (1 - mix) + end * mix + rng.normal(0, 12, (size, size, 3))
    img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 8))):
        x0, y0 = (int(v) for v in rng.integers(0, size - 16, 2))
        x1, y1 = x0 + int(rng.integers(16, 128)), y0 + int(rng.integers(16, 128))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = (draw.ellipse, draw.rectangle)[int(rng.integers(0, 2))]
        shape((x0, y0, x1, y1), fill=colour)
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=IMAGE_QUALITY)
    return out.getvalue()


def _write_image(job: tuple[Path, int, int]) -> int:
    root, seed, index = job
    path = root / f"class_{index % IMAGE_CLASSES}" / f"img_{index:06d}.jpg"
    data = _make_image(seed, index)
    path.write_bytes(data)
    return len(data)


def make_images(images: int, data_root: Path, seed: int = 4) -> tuple[Path, int]:
    """The image folder (written unless its marker matches) and its total bytes."""
    root = data_root / f"images_{images}"
    marker = root / ".complete"
    expected = {"images": images, "seed": seed, "size": IMAGE_SIZE, "quality": IMAGE_QUALITY}
    if marker.is_file():
        done = json.loads(marker.read_text())
        if {k: done.get(k) for k in expected} == expected:
            return root, done["bytes"]
    shutil.rmtree(root, ignore_errors=True)
    for label in range(IMAGE_CLASSES):
        (root / f"class_{label}").mkdir(parents=True)
    started = time.monotonic()
    with Pool(len(os.sched_getaffinity(0))) as pool:
        sizes = pool.map(_write_image, [(root, seed, i) for i in range(images)], chunksize=64)
    total = sum(sizes)
    print(
        f"generated {images:,} JPEGs, {total / 1e6:,.1f} MB, in {time.monotonic() - started:.0f} s"
    )
    marker.write_text(json.dumps({**expected, "bytes": total}) + "\n")
    return root, total
