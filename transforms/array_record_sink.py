"""`ArrayRecordSink`: split examples to ArrayRecord files (random access, for Grain).

Records are the serialized tf.Examples, unchanged, written by the
`array-record` package's `ArrayRecordWriter` with the `array_record_options`
given (default `group_size:65536`, ArrayRecord's own; `group_size:1` makes
every record its own chunk: the fastest random access, larger files).
Grain's `ArrayRecordDataSource` opens the files and returns records by index.
The writer takes local paths only: on other filesystems a part is written
to a local temporary file and copied up when it closes.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from beam_ingest import files, framing, options
from beam_ingest.errors import ConfigError
from beam_ingest.sink import Sink
from beam_ingest.transforms.shards import (
    caps_report,
    check_common,
    common_options,
    write_parts,
)
from beam_ingest.transforms.write import StagedFile

__all__ = ["ArrayRecordSink", "read_array_records"]

_PREFIX = "data_array_record"
#: ArrayRecord's documented default; the Python writer given no options
#: writes groups of one record (10x the bytes, 7x the time on taxi rows).
DEFAULT_OPTIONS = "group_size:65536"
_PACKAGE = "array-record"


def _module():
    """array_record's writer and reader module.

    Raises:
        ConfigError: the package is not importable, named.
    """
    try:
        from array_record.python import array_record_module
    except ImportError as e:
        raise ConfigError(
            f"output_format: 'array_record' needs the {_PACKAGE!r} package "
            f"(pip install {_PACKAGE}, or beam-ingest[array_record]); importing it failed: {e}"
        ) from e
    return array_record_module


class ArrayRecordPart:
    """A `beam_ingest.sink.PartFile` written by `ArrayRecordWriter`."""

    def __init__(self, path: str, writer_options: str) -> None:
        self.path = path
        self.records = 0
        self._local = path if files.is_local(path) else None
        if self._local is None:
            handle, self._temporary = tempfile.mkstemp(prefix="beam-ingest-", suffix=".ar")
            os.close(handle)
        else:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        target = self._local or self._temporary
        self._writer = _module().ArrayRecordWriter(target, writer_options)
        if not self._writer.ok():
            raise OSError(f"ArrayRecordWriter cannot open {path!r}")

    def write(self, examples: list[bytes]) -> None:
        write = self._writer.write
        for example in examples:
            write(example)
        self.records += len(examples)

    def close(self) -> None:
        self._writer.close()
        if self._local is None:
            with (
                open(self._temporary, "rb") as src,
                FileSystems.create(
                    self.path, compression_type=CompressionTypes.UNCOMPRESSED
                ) as dst,
            ):
                shutil.copyfileobj(src, dst, 1 << 20)
            os.remove(self._temporary)


def read_array_records(path: str, limit: int | None = None) -> list[bytes]:
    """The records of an ArrayRecord file (the first `limit`), on any Beam filesystem."""
    module = _module()
    local, temporary = path, None
    if not files.is_local(path):
        handle, temporary = tempfile.mkstemp(suffix=".ar")
        with os.fdopen(handle, "wb") as dst, FileSystems.open(path) as src:
            shutil.copyfileobj(src, dst, 1 << 20)
        local = temporary
    try:
        reader = module.ArrayRecordReader(local)
        count = reader.num_records()
        n = count if limit is None else min(limit, count)
        records = reader.read(list(range(n))) if n else []
        reader.close()
        return records
    finally:
        if temporary:
            os.remove(temporary)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ArrayRecordSink(Sink):
    """ArrayRecord output files: `Split-<name>/data_array_record-SSSSS-of-NNNNN`.

    Args:
        writer_options: `ArrayRecordWriter` options, e.g. "group_size:1"
            (default `DEFAULT_OPTIONS`, groups of 65,536 records).
        num_shards, deterministic, shuffle, max_shard_bytes,
            max_records_per_shard: as `TFRecordSink`'s; the bytes of a shard
            are its serialized examples'.

    Raises:
        ConfigError: the array-record package is missing, or an invalid
            argument (options the writer refuses), named.
    """

    writer_options: str = DEFAULT_OPTIONS
    num_shards: int = 0
    deterministic: bool = False
    shuffle: bool = False
    max_shard_bytes: int | None = None
    max_records_per_shard: int | None = None

    name = "array_record"
    file_format = "array_record"

    def __post_init__(self) -> None:
        check_common(self)
        if self.writer_options:
            options.check("array_record_options", self.writer_options)
        module = _module()
        with tempfile.TemporaryDirectory() as folder:  # the writer checks its options
            try:
                module.ArrayRecordWriter(os.path.join(folder, "x"), self.writer_options).close()
            except ValueError as e:
                raise ConfigError(
                    f"array_record_options: ArrayRecordWriter refuses {self.writer_options!r}: {e}"
                ) from None

    @classmethod
    def from_options(cls, values: Mapping[str, object]) -> ArrayRecordSink:
        options_given = values["array_record_options"] or DEFAULT_OPTIONS
        return cls(writer_options=options_given, **common_options(values))

    def write(self, stage_dir: str) -> beam.PTransform:
        return write_parts(self, stage_dir)

    def open_part(self, path: str) -> ArrayRecordPart:
        return ArrayRecordPart(path, self.writer_options)

    def shard_name(self, index: int, total: int) -> str:
        return files.shard_name(_PREFIX, index, total, "")

    def empty_file(self) -> bytes:
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "empty")
            _module().ArrayRecordWriter(path, self.writer_options).close()
            with open(path, "rb") as f:
                return f.read()

    def merge(self, parts: Sequence[StagedFile], path: str) -> None:
        out = ArrayRecordPart(path, self.writer_options)
        for part in parts:
            batch = []
            for record in framing.read_records(part.path):
                batch.append(record)
                if len(batch) == 4096:
                    out.write(batch)
                    batch = []
            out.write(batch)
        out.close()

    @classmethod
    def read_rows(cls, path: str, limit: int) -> list[dict]:
        from tfx_bsl.coders import example_coder

        records = read_array_records(path, limit)
        if not records:
            return []
        return example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(records).to_pylist()

    def report(self) -> dict[str, object]:
        return {
            "output_format": self.name,
            "array_record_options": self.writer_options,
            **caps_report(self),
        }
