"""TFRecord files of tf.Examples, as TFX `ImportExampleGen` takes them: `ReadTFRecord`.

Design: examples pass through, they are not rebuilt
----------------------------------------------------
Every other connector emits Arrow RecordBatches that `ToTFExample` encodes.
That round trip is lossy for data that already is tf.Examples: a feature
absent from one example and present in another comes back present-and-empty,
an empty `Feature()` and an empty list become the same thing, and features of
one example would be widened to the kinds of others. So `ReadTFRecord` emits
the examples themselves, as `ExampleBatch`es of serialized examples (the type
`ToTFExample` emits and `HashSplit` takes), each example changed only by
re-serializing it deterministically: map entries in protobuf's deterministic
order, repeated numbers packed, a duplicated feature name resolved as the
parser does (last wins). The bytes written are exactly TensorFlow's
`tf.train.Example.FromString(raw).SerializeToString(deterministic=True)`, the
bytes TFX's split hash is computed on (pinned by the tests). Note that
protobuf's deterministic order is not plain sorted order: upb orders map keys
by their UTF-8 bytes but puts a key after the longer keys it is a prefix of
("aa" before "a", "" last); being upb's own output, these bytes match.

No TensorFlow on the ingest path (DESIGN.md): the tf.Example message class is
built here from a `FileDescriptorProto` that repeats the wire schema of
`tensorflow/core/example/{feature,example}.proto` (the same field numbers,
types and packing; checked against TensorFlow's own descriptors in the
tests). It lives in a private `DescriptorPool` under a private package name,
so it never clashes with TensorFlow's registration when both are loaded in one
process. Parsing and serializing are protobuf's C runtime (upb); a record
costs one parse, one serialization and one walk over its feature names.

What is a tf.Example (the bad records)
--------------------------------------
A record is a bad record (`BadRecord(file, index, reason, raw)`, `index`
0-based in the file) when the protobuf parser rejects it, and also when it
parses only by keeping fields that tf.Example does not define (protobuf keeps
unknown fields). TFX would carry such records along, but they are not
tf.Examples: a tf.SequenceExample, for one, parses as an Example of its
context features plus an unknown `feature_lists`. The reason names the first
problem and its byte position in the record (a small wire-format walk, run
only for bad records). `raw` is the record's bytes decoded as UTF-8 with
surrogate escapes (the `BadRecord` contract: `raw.encode("utf-8",
"surrogateescape")` gives the bytes back), at most the first 64 KiB of them,
the reason saying so when a record is longer.

Framing (uint64 length, masked CRC32C of it, data, masked CRC32C of the data)
is read in Python from large chunks. A length checksum that does not match, a
data checksum that does not match, a record cut short by the end of the file
and a gzip stream that is corrupt or ends early all stop reading that file,
as TensorFlow's reader does: after any of them, what follows cannot be
trusted to be framed. The file then yields one more bad record, at the index
the next record would have had, whose reason names the byte offset in the
uncompressed stream. Other files are read on. `counts` gives the records read
per file, the bad ones included, so records read = examples + bad records.

Files are opened with `FileSystems.open` (any Beam filesystem) without Beam's
decompression: gzip is inflated here with zlib, because Beam's `CompressedFile`
returns a truncated gzip stream as if it were complete, so records lost at the
cut would go unnoticed. Compression is "auto" (gzip when the name ends in
`.gz`, as Beam and TFX decide), "gzip" or "none". A file of another
compression read as uncompressed stops at its first record with a reason that
says what it looks like. An I/O error (as opposed to bad data) is raised, so
the runner retries the bundle.

The schema
----------
One `Schema`, columns sorted by name, from the kinds seen while reading (no
extra pass): each file reports {feature: kind} and a CombineGlobally merges
them, a feature seen only as an empty `Feature()` being `Kind.UNKNOWN`. A
feature with two kinds (int64_list in one example, bytes_list in another)
raises `DataError` naming the feature, both kinds and where each was seen.
Which example is the odd one out cannot be told (and examples already written
cannot be taken back), and such data breaks TFX downstream anyway: tfx_bsl's
example decoder, used by StatisticsGen and Transform, rejects mixed kinds.

Work units are files: neither a TFRecord file (no sync markers) nor a gzip
stream can be split, as with Beam's own TFRecord source.
"""

from __future__ import annotations

import functools
import struct
import zlib
from collections.abc import Iterable, Iterator
from typing import BinaryIO

import apache_beam as beam
import google_crc32c
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory

from beam_ingest.bad_records import BadRecord
from beam_ingest.connectors._outputs import source_outputs
from beam_ingest.errors import ConfigError, DataError
from beam_ingest.files import FileInfo, match_files
from beam_ingest.schema import Kind, Schema
from beam_ingest.transforms.encode import ExampleBatch

__all__ = ["ReadTFRecord"]

_NAMESPACE = "beam_ingest"
COMPRESSIONS = ("auto", "gzip", "none")
_CHUNK = 1 << 20  # bytes read (and inflated) at a time
_BATCH_EXAMPLES = 4096  # an ExampleBatch holds at most this many examples ...
_BATCH_BYTES = 64 << 20  # ... and about this many bytes of them
_RAW_LIMIT = 64 << 10  # bytes of a bad record kept in BadRecord.raw
_GZIP_WBITS = 31  # zlib, expecting a gzip header and trailer


class ReadTFRecord(beam.PTransform):
    """Reads TFRecord files of serialized tf.Examples, as TFX `ImportExampleGen` does.

    Returns a dict of PCollections: `records` (`ExampleBatch`es of
    deterministically re-serialized examples, `keys` None), `bad_records`
    (`BadRecord`), `counts` (`(file, records read)`) and `schema` (one
    `Schema` of the feature kinds seen). See the module docstring.

    Args:
        file_pattern: a glob on any Beam filesystem.
        compression: "auto" (gzip when a file name ends in `.gz`), "gzip" or
            "none", for every matched file.
        label: the transform's label.

    Raises:
        ConfigError: `file_pattern` is not a non-empty string or `compression`
            is not one of the above (at construction); no file matches the
            pattern (when the pipeline is built).
        DataError: (when the pipeline runs) a feature has two different kinds
            in the input.
    """

    def __init__(
        self, file_pattern: str, *, compression: str = "auto", label: str | None = None
    ) -> None:
        super().__init__(label)
        if not isinstance(file_pattern, str) or not file_pattern:
            raise ConfigError(
                f"--input: ReadTFRecord needs a non-empty file pattern; got {file_pattern!r}"
            )
        if compression not in COMPRESSIONS:
            raise ConfigError(
                f"--input-compression: {compression!r} is not one of {list(COMPRESSIONS)}"
            )
        self.file_pattern = file_pattern
        self.compression = compression
        self.files: list[FileInfo] = []

    def expand(self, pbegin: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        self.files = match_files(self.file_pattern)
        paths = [f.path for f in self.files]
        read = (
            pbegin
            | "ListFiles" >> beam.Create(paths)
            | "ReadRecords"
            >> beam.ParDo(_ReadTFRecordFileFn(self.compression)).with_outputs(
                "bad_records", "counts", "kinds", main="records"
            )
        )
        schema = read.kinds | "MergeKinds" >> beam.CombineGlobally(_MergeKinds())
        return source_outputs(read, schema)

    def display_data(self) -> dict:
        return {"file_pattern": self.file_pattern, "compression": self.compression}


# --- the tf.Example message class, without TensorFlow ----------------------

_PACKAGE = "beam_ingest.tfrecord"  # private: never TensorFlow's "tensorflow"
_F = descriptor_pb2.FieldDescriptorProto


def _example_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """tensorflow/core/example/{feature,example}.proto: the messages Example needs."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="beam_ingest/tfrecord/example.proto", package=_PACKAGE, syntax="proto3"
    )
    for name, value_type, packed in (
        ("BytesList", _F.TYPE_BYTES, False),
        ("FloatList", _F.TYPE_FLOAT, True),
        ("Int64List", _F.TYPE_INT64, True),
    ):
        field = proto.message_type.add(name=name).field.add(
            name="value", number=1, label=_F.LABEL_REPEATED, type=value_type
        )
        if packed:
            field.options.packed = True
        if value_type == _F.TYPE_INT64:  # as TensorFlow declares it (JSON only)
            field.options.jstype = descriptor_pb2.FieldOptions.JS_STRING
    feature = proto.message_type.add(name="Feature")
    feature.oneof_decl.add(name="kind")
    for number, (name, type_name) in enumerate(
        (("bytes_list", "BytesList"), ("float_list", "FloatList"), ("int64_list", "Int64List")),
        start=1,
    ):
        feature.field.add(
            name=name,
            number=number,
            label=_F.LABEL_OPTIONAL,
            type=_F.TYPE_MESSAGE,
            type_name=f".{_PACKAGE}.{type_name}",
            oneof_index=0,
        )
    features = proto.message_type.add(name="Features")
    features.field.add(
        name="feature",
        number=1,
        label=_F.LABEL_REPEATED,
        type=_F.TYPE_MESSAGE,
        type_name=f".{_PACKAGE}.Features.FeatureEntry",
    )
    entry = features.nested_type.add(name="FeatureEntry")
    entry.field.add(name="key", number=1, label=_F.LABEL_OPTIONAL, type=_F.TYPE_STRING)
    entry.field.add(
        name="value",
        number=2,
        label=_F.LABEL_OPTIONAL,
        type=_F.TYPE_MESSAGE,
        type_name=f".{_PACKAGE}.Feature",
    )
    entry.options.map_entry = True
    proto.message_type.add(name="Example").field.add(
        name="features",
        number=1,
        label=_F.LABEL_OPTIONAL,
        type=_F.TYPE_MESSAGE,
        type_name=f".{_PACKAGE}.Features",
    )
    return proto


@functools.cache
def _example_class() -> type[message.Message]:
    """The tf.Example message class, in a private pool (built once per process)."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_example_descriptor())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.Example"))


# --- framing and decompression ---------------------------------------------

_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")
_MASK_DELTA = 0xA282EAD8


def _masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


class _Stop(Exception):
    """The rest of a file cannot be read: `reason` says why and where."""

    def __init__(self, reason: str, raw: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.raw = raw


def _plain_chunks(f: BinaryIO) -> Iterator[bytes]:
    while chunk := f.read(_CHUNK):
        yield chunk


def _gzip_chunks(f: BinaryIO) -> Iterator[bytes]:
    """Inflates a gzip file (members one after another), `_CHUNK` bytes at a time.

    Raises:
        _Stop: the gzip data is corrupt, or the stream ends inside a member.
    """
    inflater = zlib.decompressobj(_GZIP_WBITS)
    pending = f.read(_CHUNK)
    at_end = not pending
    hint = (
        ""
        if pending.startswith(b"\x1f\x8b")
        else "; is the file gzip-compressed? see --input-compression"
    )
    in_member = False
    while True:
        if not pending and not at_end:
            pending = f.read(_CHUNK)
            at_end = not pending
        if at_end and not pending and not in_member:
            return
        in_member = True
        try:
            # At the end of the input this still drains what zlib holds back.
            out = inflater.decompress(pending, _CHUNK)
        except zlib.error as e:
            raise _Stop(f"corrupt gzip data ({e}{hint})") from None
        hint = ""
        pending = inflater.unconsumed_tail
        if inflater.eof:  # a member ends; anything after it is the next member
            pending = inflater.unused_data + pending
            inflater = zlib.decompressobj(_GZIP_WBITS)
            in_member = False
        if out:
            yield out
        elif at_end and not pending and in_member:
            raise _Stop("the gzip stream ends early: the file is truncated")


_MAGIC = (
    (b"\x1f\x8b", "gzip-compressed; set --input-compression gzip"),
    (b"BZh", "bzip2-compressed; TFRecord input is read uncompressed or gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed; TFRecord input is read uncompressed or gzip"),
    (b"\xfd7zXZ\x00", "xz-compressed; TFRecord input is read uncompressed or gzip"),
)


def _looks_like(head: bytes) -> str:
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return f" (the file looks {what})"
    return ""


class _Framing:
    """TFRecord frames from a stream of byte chunks: (offset, data) per record.

    Offsets are in the uncompressed stream. Never raises on bad framing until
    the records before it are all given out.

    Raises:
        _Stop: a checksum does not match or a record is cut short (the reason
            names the record's offset); also what the chunk source raises.
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buf = b""
        self._pos = 0
        self._base = 0  # offset of self._buf[0]
        self._eof = False

    def _fill(self, n: int) -> bool:
        """Makes n bytes available from `_pos`; False if the stream ends first."""
        have = len(self._buf) - self._pos
        if have >= n:
            return True
        parts = [self._buf[self._pos :]]
        self._base += self._pos
        self._pos = 0
        try:
            while have < n and not self._eof:
                chunk = next(self._chunks, b"")
                if not chunk:
                    self._eof = True
                    break
                parts.append(chunk)
                have += len(chunk)
        finally:
            self._buf = b"".join(parts)
        return have >= n

    def _fill_at(self, offset: int, n: int) -> bool:
        """`_fill`, naming the record being read when the chunk source stops."""
        try:
            return self._fill(n)
        except _Stop as e:
            raise _Stop(
                f"{e.reason}, while reading the record at byte {offset}", self._buf[self._pos :]
            ) from None

    def _stop(self, reason: str, end: int | None = None) -> _Stop:
        return _Stop(reason, self._buf[self._pos : end])

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        while True:
            offset = self._base + self._pos
            if not self._fill_at(offset, 1):
                return
            if not self._fill_at(offset, 12):
                raise self._stop(
                    f"truncated record at byte {offset}: the file ends "
                    f"{len(self._buf) - self._pos} bytes into its 12-byte header"
                )
            buf, pos = self._buf, self._pos
            (length,) = _U64.unpack_from(buf, pos)
            if _U32.unpack_from(buf, pos + 8)[0] != _masked_crc(buf[pos : pos + 8]):
                hint = _looks_like(buf[pos : pos + 8]) if offset == 0 else ""
                raise self._stop(f"corrupt length checksum at byte {offset}{hint}", pos + 12)
            complete = self._fill_at(offset, 12 + length + 4)
            buf, pos = self._buf, self._pos
            if not complete:
                raise self._stop(
                    f"truncated record at byte {offset}: it needs {12 + length + 4} bytes, "
                    f"the file ends after {len(buf) - pos}"
                )
            data = buf[pos + 12 : pos + 12 + length]
            if _U32.unpack_from(buf, pos + 12 + length)[0] != _masked_crc(data):
                raise self._stop(
                    f"corrupt data checksum in the record at byte {offset} ({length} bytes)",
                    pos + 16 + length,
                )
            self._pos = pos + 16 + length
            yield offset, data


# --- reading ----------------------------------------------------------------

_KINDS = {
    None: Kind.UNKNOWN,
    "int64_list": Kind.INT,
    "float_list": Kind.FLOAT,
    "bytes_list": Kind.BYTES,
}
_KIND_NAMES = {kind: name or "an empty Feature()" for name, kind in _KINDS.items()}
_ABSENT = object()


def _raw(data: bytes) -> tuple[str, str]:
    """BadRecord.raw for some bytes, and a note for the reason when they were cut."""
    note = f" (raw: the first {_RAW_LIMIT} of {len(data)} bytes)" if len(data) > _RAW_LIMIT else ""
    return data[:_RAW_LIMIT].decode("utf-8", "surrogateescape"), note


def _is_gzip(path: str, compression: str) -> bool:
    if compression == "auto":
        return path.lower().endswith(".gz")
    return compression == "gzip"


class _ReadTFRecordFileFn(beam.DoFn):
    """One file to ExampleBatches, bad records, its record count and its kinds."""

    def __init__(self, compression: str) -> None:
        self._compression = compression
        self._read = beam.metrics.Metrics.counter(_NAMESPACE, "tfrecord_records_read")
        self._bad = beam.metrics.Metrics.counter(_NAMESPACE, "tfrecord_bad_records")
        self._stopped = beam.metrics.Metrics.counter(_NAMESPACE, "tfrecord_files_cut_short")

    def setup(self) -> None:
        self._example = _example_class()

    def process(self, path: str) -> Iterator:
        parse = self._example.FromString
        kinds: dict[str, str | None] = {}  # feature -> its kind (a oneof field name)
        where: dict[str, int] = {}  # feature -> the record its kind was first seen in
        examples: list[bytes] = []
        size = 0
        index = 0  # records read so far: the next record's index
        bad = 0
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            chunks = _gzip_chunks(f) if _is_gzip(path, self._compression) else _plain_chunks(f)
            try:
                for offset, data in _Framing(chunks):
                    try:
                        example = parse(data)
                    except message.DecodeError:
                        example = None
                    if example is not None:
                        out = example.SerializeToString(deterministic=True)
                        example.DiscardUnknownFields()
                        if example.ByteSize() != len(out):  # it had fields Example lacks
                            example = None
                    if example is None:
                        bad += 1
                        raw, note = _raw(data)
                        reason = (
                            f"the record at byte {offset} is not a tf.Example: "
                            f"{_diagnose(data)}{note}"
                        )
                        yield beam.pvalue.TaggedOutput(
                            "bad_records", BadRecord(path, index, reason, raw)
                        )
                    else:
                        _track_kinds(example, path, index, kinds, where)
                        examples.append(out)
                        size += len(out)
                        if len(examples) >= _BATCH_EXAMPLES or size >= _BATCH_BYTES:
                            yield ExampleBatch(examples)
                            examples, size = [], 0
                    index += 1
            except _Stop as stop:
                bad += 1
                self._stopped.inc()
                raw, note = _raw(stop.raw)
                reason = f"{stop.reason}; the rest of the file is not read{note}"
                yield beam.pvalue.TaggedOutput("bad_records", BadRecord(path, index, reason, raw))
                index += 1
        if examples:
            yield ExampleBatch(examples)
        self._read.inc(index)
        self._bad.inc(bad)
        yield beam.pvalue.TaggedOutput(
            "kinds", (path, {name: (_KINDS[kind], where[name]) for name, kind in kinds.items()})
        )
        yield beam.pvalue.TaggedOutput("counts", (path, index))


def _track_kinds(
    example: message.Message,
    path: str,
    index: int,
    kinds: dict[str, str | None],
    where: dict[str, int],
) -> None:
    """Notes the kind of each feature of one example.

    Raises:
        DataError: a feature has another kind than in an earlier example.
    """
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        seen = kinds.get(name, _ABSENT)
        if seen == kind:
            continue
        if seen is _ABSENT or seen is None:
            kinds[name] = kind
            where[name] = index
        elif kind is not None:
            raise _mixed_kinds(name, (_KINDS[seen], path, where[name]), (_KINDS[kind], path, index))


def _mixed_kinds(
    name: str, first: tuple[Kind, str, int], second: tuple[Kind, str, int]
) -> DataError:
    (kind_a, path_a, record_a), (kind_b, path_b, record_b) = sorted(
        [first, second], key=lambda t: (t[1], t[2])
    )
    return DataError(
        f"feature {name!r} is {_KIND_NAMES[kind_a]} in {path_a} record {record_a} but "
        f"{_KIND_NAMES[kind_b]} in {path_b} record {record_b}: a feature must have one kind "
        "in every example (tfx_bsl's example decoder, used by StatisticsGen and Transform, "
        "rejects mixed kinds)"
    )


class _MergeKinds(beam.CombineFn):
    """Per-file {feature: (kind, record)} to one Schema, columns sorted by name.

    Raises:
        DataError: a feature has two different kinds (empty `Feature()` aside).
    """

    def create_accumulator(self) -> dict[str, tuple[Kind, str, int]]:
        return {}

    def add_input(
        self, acc: dict[str, tuple[Kind, str, int]], file_kinds: tuple[str, dict]
    ) -> dict[str, tuple[Kind, str, int]]:
        path, kinds = file_kinds
        for name, (kind, record) in kinds.items():
            self._add(acc, name, (kind, path, record))
        return acc

    @staticmethod
    def _add(acc: dict[str, tuple[Kind, str, int]], name: str, seen: tuple[Kind, str, int]) -> None:
        known = acc.get(name)
        if known is None or known[0] is Kind.UNKNOWN:
            acc[name] = seen
        elif seen[0] is not Kind.UNKNOWN and seen[0] is not known[0]:
            raise _mixed_kinds(name, known, seen)

    def merge_accumulators(self, accumulators) -> dict[str, tuple[Kind, str, int]]:
        merged: dict[str, tuple[Kind, str, int]] = {}
        for acc in accumulators:
            for name, seen in acc.items():
                self._add(merged, name, seen)
        return merged

    def extract_output(self, acc: dict[str, tuple[Kind, str, int]]) -> Schema:
        return Schema.from_kinds((name, acc[name][0]) for name in sorted(acc))


# --- why a record is not a tf.Example (bad records only) -------------------

# message -> {field number: what the field holds}
_FIELDS = {
    "Example": {1: "Features"},
    "Features": {1: "FeatureEntry"},
    "FeatureEntry": {1: "name", 2: "Feature"},
    "Feature": {1: "BytesList", 2: "FloatList", 3: "Int64List"},
    "BytesList": {1: "bytes"},
    "FloatList": {1: "float"},
    "Int64List": {1: "int64"},
}
_HINTS = {("Example", 2): " (a tf.SequenceExample's feature_lists?)"}


class _NotExample(Exception):
    pass


def _diagnose(data: bytes) -> str:
    """The first thing in `data` that a tf.Example cannot hold, with its byte position."""
    try:
        _walk(data, 0, len(data), "Example", "")
    except _NotExample as e:
        return str(e)
    return "the protobuf parser rejects it"  # a case the walk does not know


def _varint(data: bytes, pos: int, end: int, start: int, where: str) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise _NotExample(f"the field at byte {start}{where} is cut short")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise _NotExample(f"a varint longer than 10 bytes at byte {start}{where}")


def _walk(data: bytes, pos: int, end: int, name: str, where: str) -> None:
    fields = _FIELDS[name]
    while pos < end:
        start = pos
        tag, pos = _varint(data, pos, end, start, where)
        number, wire = tag >> 3, tag & 7
        if wire not in (0, 1, 2, 5):
            raise _NotExample(
                f"wire type {wire} at byte {start}{where}: no tf.Example field has it"
            )
        holds = fields.get(number)
        if holds is None:
            raise _NotExample(
                f"field {number} (wire type {wire}) at byte {start}{where} is not a field "
                f"of {name}{_HINTS.get((name, number), '')}"
            )
        if wire == 0:
            if holds != "int64":
                raise _NotExample(f"field {number} of {name} at byte {start}{where} is a varint")
            _, pos = _varint(data, pos, end, start, where)
            continue
        if wire in (1, 5):
            if not (holds == "float" and wire == 5):
                raise _NotExample(
                    f"field {number} of {name} at byte {start}{where} has wire type {wire}"
                )
            pos += 4
            if pos > end:
                raise _NotExample(f"the field at byte {start}{where} is cut short")
            continue
        length, pos = _varint(data, pos, end, start, where)
        if pos + length > end:
            raise _NotExample(
                f"the field at byte {start}{where} needs {length} bytes, {end - pos} are left"
            )
        body = data[pos : pos + length]
        if holds == "name":
            try:
                where = f" (in feature {body.decode('utf-8')!r})"
            except UnicodeDecodeError:
                raise _NotExample(
                    f"the feature name at byte {start} is not valid UTF-8: {body!r}"
                ) from None
        elif holds == "float":
            if length % 4:
                raise _NotExample(f"packed floats at byte {start}{where} are {length} bytes")
        elif holds == "int64":
            p = pos
            while p < pos + length:
                _, p = _varint(data, p, pos + length, start, where)
        elif holds != "bytes":
            _walk(data, pos, pos + length, holds, where)
        pos += length
