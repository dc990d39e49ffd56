"""`TFRecordSink`: split examples to TFRecord files, gzip or plain (what TFX writes).

The first `beam_ingest.sink.Sink`: part files are written by `WriteSplits`
(parallel gzip on writer threads), fixed shards are merged by streaming the
uncompressed parts of a shard through one `PartWriter`.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Mapping, Sequence

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from beam_ingest import files, options
from beam_ingest.sink import Sink
from beam_ingest.transforms.shards import caps_of, caps_report, check_common, common_options
from beam_ingest.transforms.write import PartWriter, StagedFile, WriteSplits

__all__ = ["TFRecordSink"]

_PREFIX = "data_tfrecord"
_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True, kw_only=True)
class TFRecordSink(Sink):
    """TFRecord output files: `Split-<name>/data_tfrecord-SSSSS-of-NNNNN[.gz]`.

    Args:
        compression: "gzip" (as TFX writes and reads) or "none".
        compression_level: zlib level 0-9; 0 stores the data in gzip framing.
        num_shards: files per split; 0 writes one per bundle (no merge).
        deterministic: byte-identical files on reruns (needs num_shards).
        shuffle: reshuffle examples before writing, as TFX does.
        max_shard_bytes, max_records_per_shard: size caps of automatic shards
            (`beam_ingest.transforms.shards`); bytes are TFRecord bytes before
            compression, so a gzip file is smaller than the cap.

    Raises:
        ConfigError: an invalid argument, named.
    """

    compression: str = "gzip"
    compression_level: int = 6
    num_shards: int = 0
    deterministic: bool = False
    shuffle: bool = False
    max_shard_bytes: int | None = None
    max_records_per_shard: int | None = None

    name = "tfrecord"
    record_overhead = 16  # length, its CRC and the data's CRC

    def __post_init__(self) -> None:
        check_common(self)
        for name in ("compression", "compression_level"):
            options.check(name, getattr(self, name))

    @property
    def file_format(self) -> str:  # type: ignore[override]
        return "tfrecords_gzip" if self.compression == "gzip" else "tfrecords"

    @classmethod
    def from_options(cls, values: Mapping[str, object]) -> TFRecordSink:
        return cls(
            compression=values["compression"],
            compression_level=values["compression_level"],
            **common_options(values),
        )

    def write(self, stage_dir: str) -> beam.PTransform:
        return WriteSplits(
            stage_dir,
            num_shards=self.num_shards,
            compression=self.compression,
            compression_level=self.compression_level,
            deterministic=self.deterministic,
            shuffle=self.shuffle,
            caps=caps_of(self),
        )

    def shard_name(self, index: int, total: int) -> str:
        return files.shard_name(_PREFIX, index, total, ".gz" if self.compression == "gzip" else "")

    def empty_file(self) -> bytes:
        return zlib.compress(b"", wbits=31) if self.compression == "gzip" else b""

    def merge(self, parts: Sequence[StagedFile], path: str) -> None:
        # Part files of a fixed shard are staged uncompressed; one writer
        # compresses the shard as a whole.
        out = PartWriter(path, compress=self.compression == "gzip", level=self.compression_level)
        for part in parts:
            with FileSystems.open(part.path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                while chunk := f.read(_CHUNK):
                    out.write(chunk, records=0)
        out.close()

    def report(self) -> dict[str, object]:
        return {
            "output_format": self.name,
            "compression": self.compression,
            "compression_level": self.compression_level,
            **caps_report(self),
        }
