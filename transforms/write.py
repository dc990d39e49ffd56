"""Staged writes: split examples and bad records to part files in a stage folder.

Nothing here writes into the output folder. Each bundle writes its own part
files (unique names) and reports them; only reported files are committed by
`beam_ingest.transforms.commit.CommitOutput`, so a retried bundle leaves no
duplicate and a failed run leaves nothing in the output.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import os
import struct
import threading
import uuid
import zlib
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue
from zlib_ng import zlib_ng

from beam_ingest.bad_records import BadRecord
from beam_ingest.errors import ConfigError
from beam_ingest.framing import frame_records
from beam_ingest.transforms.shards import ShardCaps

__all__ = [
    "COMPRESSIONS",
    "StagedFile",
    "TFRecordPart",
    "WriteBadRecords",
    "WriteSplits",
]

_NAMESPACE = "beam_ingest"
COMPRESSIONS = ("gzip", "none")


@dataclasses.dataclass(frozen=True)
class StagedFile:
    """A part file in the stage folder, as reported by the bundle that wrote it.

    `shard` is the fixed shard the file belongs to (with `num_shards`), else
    None: the file is a shard of its own. `samples` holds the first few bad
    records' descriptions, for error messages.
    """

    split: str
    path: str
    records: int
    shard: int | None = None
    compressed: bool = False
    samples: tuple[str, ...] = ()


class PartWriter:
    """A part file being written: TFRecord frames, gzip-compressed or not.

    gzip is a large part of a run's time (nearly half with JPEG payloads), so
    it is done the way pigz does it: each buffer is deflated on its own, on a
    background thread, ending on a byte boundary (a sync flush), and the
    pieces are written in order between one gzip header and one trailer (the
    CRC-32 and length of all the data). The result is one ordinary gzip
    member. zlib(-ng) releases the GIL, so compression uses the other cores
    even on the in-process runner. At most `_IN_FLIGHT` buffers per writer
    are held, so memory stays bounded. The commit step writes merged
    fixed-shard files with it too, so the output has one gzip writer.
    """

    def __init__(self, path: str, compress: bool, level: int = 6) -> None:
        self.path = path
        self.records = 0
        self._file = FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED)
        self._level = level if compress else None
        self._pending: collections.deque[Future] = collections.deque()
        self._crc = 0
        self._size = 0
        if compress:
            self._file.write(_GZIP_HEADER)

    def write(self, data: bytes, records: int) -> None:
        self.records += records
        if self._level is None:
            self._file.write(data)
            return
        self._crc = zlib_ng.crc32(data, self._crc)
        self._size += len(data)
        while len(self._pending) >= _IN_FLIGHT:
            self._file.write(self._pending.popleft().result())
        self._pending.append(_background().submit(_deflate, data, self._level))

    def close(self) -> None:
        if self._level is not None:
            while self._pending:
                self._file.write(self._pending.popleft().result())
            self._file.write(_deflate(b"", self._level, last=True))
            self._file.write(struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))
        self._file.close()


class TFRecordPart:
    """A `beam_ingest.sink.PartFile` of TFRecord frames (a `PartWriter`)."""

    def __init__(self, path: str, compress: bool, level: int = 6) -> None:
        self.path = path
        self._writer = PartWriter(path, compress, level)

    @property
    def records(self) -> int:
        return self._writer.records

    def write(self, examples: list[bytes]) -> None:
        self._writer.write(frame_records(examples), len(examples))

    def close(self) -> None:
        self._writer.close()


# gzip member header: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_IN_FLIGHT = 3


def _deflate(data: bytes, level: int, *, last: bool = False) -> bytes:
    """Raw deflate of `data` ending on a byte boundary (or the final block)."""
    compressor = zlib_ng.compressobj(level, zlib_ng.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(
        zlib_ng.Z_FINISH if last else zlib_ng.Z_SYNC_FLUSH
    )


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _background() -> ThreadPoolExecutor:
    """The process's writer threads (made on first use: a pool does not pickle)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(
                max_workers=max(2, os.cpu_count() or 1), thread_name_prefix="beam-ingest-write"
            )
        return _POOL


def _emit(value) -> WindowedValue:
    return WindowedValue(value, MIN_TIMESTAMP, [GlobalWindow()])


class _WriteSplitFn(beam.DoFn):
    """Lists of serialized examples of one split to part files, per bundle.

    `open_part` (a sink's, for automatic shards) makes the part files; by
    default TFRecords. With `caps`, a bundle starts a new part file whenever
    one is full, and reports the full one at once."""

    def __init__(
        self,
        stage_dir: str,
        split: str,
        num_shards: int,
        compress: bool,
        level: int = 6,
        open_part=None,
        caps: ShardCaps | None = None,
    ) -> None:
        self._folder = FileSystems.join(stage_dir, f"Split-{split}")
        self._split = split
        self._num_shards = num_shards
        # With fixed shards, parts are merged into one gzip stream per shard at
        # commit (TensorFlow reads only the first member of a multi-member
        # gzip file), so they are written uncompressed.
        self._compress = compress and not num_shards
        self._level = level
        self._open_part = None if num_shards else open_part
        self._caps = caps or ShardCaps()
        self._bytes = beam.metrics.Metrics.counter(_NAMESPACE, f"bytes_written_{split}")

    def start_bundle(self) -> None:
        self._writers: dict[int, TFRecordPart] = {}
        self._sizes: dict[int, int] = {}
        self._bundle = uuid.uuid4().hex
        self._next = 0
        self._files = 0

    def _writer(self, shard: int):
        writer = self._writers.get(shard)
        if writer is None:
            name = f"part-{self._bundle}-{shard:05d}"
            if self._caps:
                name, self._files = f"{name}-{self._files:05d}", self._files + 1
            path = FileSystems.join(self._folder, name)
            opened = self._open_part(path) if self._open_part else None
            writer = opened or TFRecordPart(path, self._compress, self._level)
            self._writers[shard], self._sizes[shard] = writer, 0
        return writer

    def process(self, examples: list[bytes]) -> Iterator[StagedFile]:
        if self._caps:
            yield from self._write_capped(examples)
            return
        shard = self._next % self._num_shards if self._num_shards else 0
        self._next += 1
        self._bytes.inc(sum(map(len, examples)))
        self._writer(shard).write(examples)

    def _write_capped(self, examples: list[bytes]) -> Iterator[StagedFile]:
        start = 0
        while start < len(examples):
            writer = self._writer(0)
            n = self._caps.fit(examples, start, writer.records, self._sizes[0])
            chunk = examples[start : start + n]
            if chunk:
                writer.write(chunk)
                size = sum(map(len, chunk))
                self._bytes.inc(size)
                self._sizes[0] += size + self._caps.overhead * n
                start += n
            if start < len(examples) or self._caps.full(writer.records, self._sizes[0]):
                yield from self._close(0)

    def _close(self, shard: int) -> list[StagedFile]:
        """The closed part file (a sink's part may have written several pieces)."""
        writer = self._writers.pop(shard)
        writer.close()
        pieces = writer.pieces() if hasattr(writer, "pieces") else [(writer.path, writer.records)]
        return [
            StagedFile(
                split=self._split,
                path=path,
                records=records,
                shard=shard if self._num_shards else None,
                compressed=self._compress,
            )
            for path, records in pieces
        ]

    def finish_bundle(self) -> Iterator[WindowedValue]:
        for shard in sorted(self._writers):
            yield from map(_emit, self._close(shard))
        self._writers = {}


class _WriteSortedShardFn(beam.DoFn):
    """(shard, lists of examples) to one uncompressed part holding the shard's
    examples in sorted order, at a path fixed by split and shard (a retried
    bundle rewrites the same file)."""

    def __init__(self, stage_dir: str, split: str) -> None:
        self._folder = FileSystems.join(stage_dir, f"Split-{split}")
        self._split = split
        self._bytes = beam.metrics.Metrics.counter(_NAMESPACE, f"bytes_written_{split}")

    def process(self, shard_lists: tuple[int, list[list[bytes]]]) -> Iterator[StagedFile]:
        shard, lists = shard_lists
        examples = sorted(itertools.chain.from_iterable(lists))
        path = FileSystems.join(self._folder, f"sorted-{shard:05d}")
        writer = PartWriter(path, compress=False)
        for start in range(0, len(examples), 4096):
            chunk = examples[start : start + 4096]
            data = frame_records(chunk)
            self._bytes.inc(len(data))
            writer.write(data, len(chunk))
        writer.close()
        yield StagedFile(split=self._split, path=path, records=len(examples), shard=shard)


def _by_shard(examples: list[bytes], num_shards: int) -> Iterator[tuple[int, list[bytes]]]:
    """A batch's examples grouped by shard (crc32 of the bytes: a function of the
    example alone, so the same example always lands in the same shard)."""
    shards: dict[int, list[bytes]] = {}
    for example in examples:
        shards.setdefault(zlib.crc32(example) % num_shards, []).append(example)
    yield from shards.items()


_SCATTER = 64


def _scatter(examples: list[bytes]) -> Iterator[list[bytes]]:
    """A batch in random order, cut into lists of `_SCATTER` that the reshuffle
    spreads over the split (no element per example: a list per 64)."""
    import random

    examples = list(examples)
    random.shuffle(examples)
    for start in range(0, len(examples), _SCATTER):
        yield examples[start : start + _SCATTER]


class WriteSplits(beam.PTransform):
    """{split: PCollection[list[bytes]]} to staged part files.

    Returns a PCollection of `StagedFile`. `CommitOutput` turns them into
    `Split-<name>/data_tfrecord-SSSSS-of-NNNNN.gz`.

    `deterministic` (needs `num_shards`): each example goes to the shard its
    bytes hash to and each shard's examples are written sorted, so a rerun
    writes byte-identical files, whatever the runner, its parallelism or the
    bundles. It costs a GroupByKey: a shard's examples are held in memory at
    once, and the runner's shuffle holds or spills the whole data set.
    `shuffle`: the examples are reshuffled before writing (as TFX's ExampleGen
    does), so files do not follow the input's order: each batch is shuffled,
    cut into lists of 64 and the lists are reshuffled across the split. It
    costs a shuffle of the whole data too.

    Args:
        stage_dir: the run's private stage folder (on any Beam filesystem).
        num_shards: output files per split; 0 writes one per bundle (no merge).
        compression: "gzip" (as TFX writes and reads) or "none".
        compression_level: zlib level 0-9. 0 stores the data in gzip framing
            (valid gzip, no compression): the fast choice for payloads that are
            compressed already, such as JPEG or PNG bytes.
    """

    def __init__(
        self,
        stage_dir: str,
        *,
        num_shards: int = 0,
        compression: str = "gzip",
        compression_level: int = 6,
        deterministic: bool = False,
        shuffle: bool = False,
        open_part=None,
        caps: ShardCaps | None = None,
    ) -> None:
        super().__init__()
        if caps and num_shards:
            raise ConfigError(
                "max_shard_bytes: size-capped shards cannot go with a fixed `num_shards`"
            )
        if deterministic and (not num_shards or shuffle):
            raise ConfigError(
                "--deterministic: needs a fixed --num-shards and cannot go with --shuffle; "
                f"got num_shards={num_shards!r}, shuffle={shuffle!r}"
            )
        if compression not in COMPRESSIONS:
            raise ConfigError(f"--compression: {compression!r} is not one of {list(COMPRESSIONS)}")
        if isinstance(num_shards, bool) or not isinstance(num_shards, int) or num_shards < 0:
            raise ConfigError(
                f"--num-shards: must be an int >= 0 (0: automatic); got {num_shards!r}"
            )
        if compression_level not in range(10):
            raise ConfigError(f"--compression-level: must be 0 to 9; got {compression_level!r}")
        self.stage_dir = stage_dir
        self.num_shards = num_shards
        self.compression = compression
        self.compression_level = compression_level
        self.deterministic = deterministic
        self.shuffle = shuffle
        self.open_part = open_part
        self.caps = caps

    def expand(self, splits: Mapping[str, beam.PCollection]) -> beam.PCollection:
        if self.deterministic:
            staged = [
                pcoll
                | f"Shard[{name}]" >> beam.FlatMap(_by_shard, self.num_shards)
                | f"GroupShards[{name}]" >> beam.GroupByKey()
                | f"WriteSorted[{name}]" >> beam.ParDo(_WriteSortedShardFn(self.stage_dir, name))
                for name, pcoll in splits.items()
            ]
            return staged | "FlattenStaged" >> beam.Flatten()
        if self.shuffle:
            splits = {
                name: pcoll
                | f"Scatter[{name}]" >> beam.FlatMap(_scatter)
                | f"Reshuffle[{name}]" >> beam.Reshuffle()
                for name, pcoll in splits.items()
            }
        staged = [
            pcoll
            | f"Write[{name}]"
            >> beam.ParDo(
                _WriteSplitFn(
                    self.stage_dir,
                    name,
                    self.num_shards,
                    self.compression == "gzip",
                    self.compression_level,
                    self.open_part,
                    self.caps,
                )
            )
            for name, pcoll in splits.items()
        ]
        return staged | "FlattenStaged" >> beam.Flatten()


class _WriteBadRecordsFn(beam.DoFn):
    _SAMPLES = 5

    def __init__(self, stage_dir: str) -> None:
        self._folder = FileSystems.join(stage_dir, "errors")

    def start_bundle(self) -> None:
        self._file = None
        self._count = 0
        self._samples: list[str] = []

    def process(self, record: BadRecord) -> None:
        if self._file is None:
            self._path = FileSystems.join(self._folder, f"part-{uuid.uuid4().hex}")
            self._file = FileSystems.create(
                self._path, compression_type=CompressionTypes.UNCOMPRESSED
            )
        self._file.write(record.to_json().encode("utf-8") + b"\n")
        self._count += 1
        if len(self._samples) < self._SAMPLES:
            self._samples.append(record.describe())

    def finish_bundle(self) -> Iterator[WindowedValue]:
        if self._file is not None:
            self._file.close()
            yield _emit(
                StagedFile(
                    split="errors",
                    path=self._path,
                    records=self._count,
                    samples=tuple(self._samples),
                )
            )
            self._file = None


class WriteBadRecords(beam.PTransform):
    """BadRecords to JSON-lines part files in `stage_dir/errors`; returns StagedFiles."""

    def __init__(self, stage_dir: str) -> None:
        super().__init__()
        self.stage_dir = stage_dir

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        return records | "WriteBadRecords" >> beam.ParDo(_WriteBadRecordsFn(self.stage_dir))
