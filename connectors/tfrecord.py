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

No TensorFlow on the ingest path: the tf.Example message class is built from
a descriptor that repeats TensorFlow's wire schema, in a private pool
(`beam_ingest.example_proto`). Parsing and serializing are protobuf's C runtime
(upb); a record costs one parse, one serialization and one walk over its
feature names.

What is a tf.Example (the bad records)
--------------------------------------
A record is a bad record (`BadRecord(file, index, reason, raw)`, `index`
0-based in the file) when the protobuf parser rejects it, and also when it
parses only by keeping fields that tf.Example does not define (protobuf keeps
unknown fields). TFX would carry such records along, but they are not
tf.Examples: a tf.SequenceExample, for one, parses as an Example of its
context features plus an unknown `feature_lists`. The reason names the first
problem and its byte position in the record (a small wire-format walk, run
only for bad records: `_tfrecord_diagnose`). `raw` is the record's bytes
decoded as UTF-8 with surrogate escapes (the `BadRecord` contract:
`raw.encode("utf-8", "surrogateescape")` gives the bytes back), at most the
first 64 KiB of them, the reason saying so when a record is longer.

Framing (uint64 length, masked CRC32C of it, data, masked CRC32C of the data)
is parsed by `beam_ingest.framing.FrameParser` from large chunks. A length
checksum that does not match, a data checksum that does not match, a record
cut short by the end of the file and a gzip stream that is corrupt or ends
early all stop reading that file, as TensorFlow's reader does: after any of
them, what follows cannot be trusted to be framed. The file then yields one
more bad record, at the index the next record would have had, whose reason
names the byte offset in the uncompressed stream. Other files are read on.
`counts` gives the records read per file, the bad ones included, so records
read = examples + bad records.

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
extra pass): each file reports {feature: kind} and a `MergeCombineFn` merges
them (`_tfrecord_kinds`), a feature seen only as an empty `Feature()` being
`Kind.UNKNOWN`. A feature with two kinds (int64_list in one example,
bytes_list in another) raises `DataError` naming the feature, both kinds and
where each was seen. Which example is the odd one out cannot be told (and
examples already written cannot be taken back), and such data breaks TFX
downstream anyway: tfx_bsl's example decoder, used by StatisticsGen and
Transform, rejects mixed kinds.

tf.SequenceExamples (`payload="sequence_example"`) are read the same way,
with the SequenceExample message (`beam_ingest.sequence_example`): see
`_tfrecord_sequence` for what a bad record is and how kinds are kept.
Records of any other message (`payload="proto"`, TFX's FORMAT_PROTO) are
not decoded: they are written byte for byte, their schema is empty, and
only framing errors (or, given their descriptor, a record that does not
parse as the message) make bad records (`beam_ingest.proto_records`).

Work units are files: neither a TFRecord file (no sync markers) nor a gzip
stream can be split, as with Beam's own TFRecord source.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from google.protobuf import message

from beam_ingest.bad_records import BadRecord
from beam_ingest.connectors import _tfrecord_sequence as sequence
from beam_ingest.connectors._tfrecord_chunks import chunks, looks_like
from beam_ingest.connectors._tfrecord_diagnose import diagnose
from beam_ingest.connectors._tfrecord_kinds import KINDS, merge_kinds, schema_of, track_kinds
from beam_ingest.connectors._tfrecord_sample import check_partition_feature
from beam_ingest.errors import ConfigError
from beam_ingest.example_proto import example_class
from beam_ingest.files import FileInfo
from beam_ingest.framing import FrameParser, FramingError
from beam_ingest.proto_records import MessageType
from beam_ingest.schema import Schema
from beam_ingest.source import (
    ExtraOutputs,
    Source,
    SourceOutputs,
    check_pattern,
    source_outputs,
)
from beam_ingest.transforms.encode import ExampleBatch
from beam_ingest.transforms.merge import MergeCombineFn
from beam_ingest.transforms.proto_keys import proto_keys

__all__ = ["ReadTFRecord"]

_NAMESPACE = "beam_ingest"
COMPRESSIONS = ("auto", "gzip", "none")
PAYLOADS = {
    "example": "FORMAT_TF_EXAMPLE",
    "sequence_example": "FORMAT_TF_SEQUENCE_EXAMPLE",
    "proto": "FORMAT_PROTO",  # any message, written unchanged (`beam_ingest.proto_records`)
}
_BATCH_EXAMPLES = 4096  # an ExampleBatch holds at most this many examples ...
_BATCH_BYTES = 64 << 20  # ... and about this many bytes of them
_RAW_LIMIT = 64 << 10  # bytes of a bad record kept in BadRecord.raw
_PROFILE_BATCH = 1000  # records decoded at a time by `profile`


class ReadTFRecord(Source):
    """Reads TFRecord files of serialized tf.Examples, as TFX `ImportExampleGen` does.

    Returns `SourceOutputs`: `records` (`ExampleBatch`es of deterministically
    re-serialized examples, `keys` None), `bad_records` (`BadRecord`),
    `counts` (`(file, records read)`) and `schema` (one `Schema` of the
    feature kinds seen). See the module docstring.

    Args:
        file_pattern: a glob on any Beam filesystem.
        compression: "auto" (gzip when a file name ends in `.gz`), "gzip" or
            "none", for every matched file (the option `input_compression`).
        payload: "example", "sequence_example", or "proto": serialized protos
            of any type, written unchanged (`beam_ingest.proto_records`).
        proto_descriptor, proto_message: for "proto", the FileDescriptorSet
            file and the full name of the records' message: records that do
            not parse as it are bad records, and `partition_feature` may
            name a field path.
        label: the transform's label.

    Raises:
        ConfigError: `file_pattern` is not a non-empty string or `compression`
            is not one of the above (at construction); no file matches the
            pattern (when the pipeline is built).
        DataError: (when the pipeline runs) a feature has two different kinds
            in the input.
    """

    passes_examples = True

    def __init__(
        self,
        file_pattern: str,
        *,
        compression: str = "auto",
        payload: str = "example",
        proto_descriptor: str | None = None,
        proto_message: str | None = None,
        label: str | None = None,
    ) -> None:
        super().__init__()
        self.label = label
        check_pattern("ReadTFRecord", file_pattern)
        if compression not in COMPRESSIONS:
            raise ConfigError(
                f"input_compression: {compression!r} is not one of {list(COMPRESSIONS)}"
            )
        if payload not in PAYLOADS:
            raise ConfigError(f"payload: {payload!r} is not one of {list(PAYLOADS)}")
        self.file_pattern = file_pattern
        self.compression = compression
        self.payload = payload
        #: What the TFX Examples artifact records (`payload="sequence_example"`:
        #: tf.SequenceExamples, see `_tfrecord_sequence`).
        self.payload_format = PAYLOADS[payload]
        if payload != "proto" and (proto_descriptor or proto_message):
            which = "proto_descriptor" if proto_descriptor else "proto_message"
            raise ConfigError(f"{which}: only applies to payload 'proto'; got payload {payload!r}")
        if proto_message and not proto_descriptor:
            raise ConfigError("proto_message: needs proto_descriptor, the file that defines it")
        #: The records' message type (payload "proto" with a descriptor), or None.
        self.proto = MessageType(proto_descriptor, proto_message) if proto_descriptor else None

    @classmethod
    def from_options(
        cls, pattern: str, options: Mapping[str, object], schema: Schema | None
    ) -> ReadTFRecord:
        """The reader of `pattern` with the option `input_compression`.

        Raises:
            ConfigError: a schema is given (tf.Examples carry their kinds), or
                the compression is not one of `COMPRESSIONS`.
        """
        if schema is not None:
            raise ConfigError("schema: tf.Examples carry their own feature kinds; leave schema out")
        return cls(
            pattern,
            compression=options["input_compression"],
            payload=options.get("payload") or "example",
            proto_descriptor=options.get("proto_descriptor"),
            proto_message=options.get("proto_message"),
        )

    @classmethod
    def profile(cls, paths: Sequence[str], options: Mapping[str, object]) -> tuple[int, Schema]:
        """(records, schema) of TFRecord files, as tfx_bsl's example decoder types them.

        Raises:
            ConfigError: `input_compression` is not "auto" (files are
                decompressed by their `.gz` extension here), a file is not a
                readable TFRecord file, or holds records that are not tf.Examples.
        """
        from tfx_bsl.coders import example_coder

        from beam_ingest.framing import read_records
        from beam_ingest.schema import merge_schemas

        payload = options.get("payload", "example")
        if payload != "example":
            raise ConfigError(
                "registry push: TFRecord entries hold tf.Examples only; payload "
                f"{payload!r} is not supported yet"
            )
        compression = options["input_compression"]
        if compression != "auto":
            # read_records decompresses by extension only; the connector's options
            # are honoured when the entry is read.
            raise ConfigError(
                "registry push: TFRecord entries are read with input_compression 'auto' (gzip "
                f"by the .gz extension); got input_compression={compression!r}; name the "
                "files .gz"
            )
        decoder = example_coder.ExamplesToRecordBatchDecoder()
        records, schemas, buffer = 0, [], []

        def kinds(buffer: list[bytes], path: str) -> Schema:
            try:
                return Schema.from_arrow(decoder.DecodeBatch(buffer).schema)
            except Exception as e:  # tfx_bsl raises its own types
                raise ConfigError(
                    f"registry push: {path!r} holds records that are no tf.Example: {e}"
                ) from e

        for path in paths:
            try:
                for record in read_records(path):
                    records += 1
                    buffer.append(record)
                    if len(buffer) == _PROFILE_BATCH:
                        schemas.append(kinds(buffer, path))
                        buffer = []
            except (ValueError, OSError) as e:
                raise ConfigError(
                    f"registry push: {path!r} is not a readable TFRecord file: {e}"
                ) from e
            if buffer:
                schemas.append(kinds(buffer, path))
                buffer = []
        return records, merge_schemas(schemas)

    @property
    def files(self) -> list[FileInfo]:
        """Deprecated alias of `input_files()`, kept for one release."""
        return self.input_files()

    def expand(self, pbegin: beam.pvalue.PBegin) -> SourceOutputs:
        self._files = self.match(self.file_pattern)
        paths = [f.path for f in self._files]
        read = (
            pbegin
            | "ListFiles" >> beam.Create(paths)
            | "ReadRecords"
            >> beam.ParDo(
                _ReadTFRecordFileFn(self.compression, self.payload, self.proto)
            ).with_outputs("bad_records", "counts", "kinds", main="records")
        )
        finish = sequence.schema_of if self.payload == "sequence_example" else schema_of
        schema = read.kinds | "MergeKinds" >> beam.CombineGlobally(
            MergeCombineFn(dict, merge_kinds, finish)
        )
        return source_outputs(read, schema)

    def check_partition_feature(self, name: str) -> None:
        """Refuses a partition feature that one of the first records of a
        file lacks, or holds as floats (`_tfrecord_sample`); for protos, a
        field path their descriptor does not allow (`proto_records`)."""
        if self.payload == "proto":
            proto_keys(self, name)
            return

        paths = [f.path for f in self._files]
        check_partition_feature(
            name,
            paths,
            example_class().FromString,
            functools.partial(chunks, compression=self.compression),
        )

    def extra_outputs(self) -> ExtraOutputs:
        """The base's, and for protos of a given type, its name and descriptor."""
        base = super().extra_outputs()
        if self.proto is None:
            return base
        proto = {"message": self.proto.name, "descriptor": self.proto.descriptor_file}
        return base._replace(report={**base.report, "proto": proto})

    def display_data(self) -> dict:
        return {"file_pattern": self.file_pattern, "compression": self.compression}


# --- reading ------------------------------------------------------------------


def _raw(data: bytes) -> tuple[str, str]:
    """BadRecord.raw for some bytes, and a note for the reason when they were cut."""
    note = f" (raw: the first {_RAW_LIMIT} of {len(data)} bytes)" if len(data) > _RAW_LIMIT else ""
    return data[:_RAW_LIMIT].decode("utf-8", "surrogateescape"), note


class _ReadTFRecordFileFn(beam.DoFn):
    """One file to ExampleBatches, bad records, its record count and its kinds
    ({feature: (kind, file, record)}, as `_tfrecord_kinds.merge_kinds` takes them)."""

    def __init__(
        self, compression: str, payload: str = "example", proto: MessageType | None = None
    ) -> None:
        self._compression = compression
        self._payload = payload
        self._proto = proto
        self._read = beam.metrics.Metrics.counter(_NAMESPACE, "tfrecord_records_read")
        self._bad = beam.metrics.Metrics.counter(_NAMESPACE, "tfrecord_bad_records")
        self._stopped = beam.metrics.Metrics.counter(_NAMESPACE, "tfrecord_files_cut_short")

    def setup(self) -> None:
        sequences = self._payload == "sequence_example"
        self._example = sequence.sequence_example_class() if sequences else example_class()
        self._track = sequence.track_sequence_kinds if sequences else track_kinds
        self._what = "tf.SequenceExample" if sequences else "tf.Example"
        if self._payload == "proto":
            self._what = self._proto.name if self._proto is not None else "proto"

    def _examine(self, data: bytes, path: str, index: int, kinds: dict, where: dict):
        """(the bytes to write, None) for a good record, else (b"", why it is bad);
        a good example's kinds are tracked."""
        if self._payload == "proto":  # written as it is
            return data, self._proto.problem(data) if self._proto is not None else None
        try:
            example = self._example.FromString(data)
        except message.DecodeError:
            example = None
        parsed = example
        if example is not None:
            out = example.SerializeToString(deterministic=True)
            example.DiscardUnknownFields()
            if example.ByteSize() != len(out):  # it had fields Example lacks
                example = None
            elif self._payload != "example":
                example = example if sequence.is_sequence_example(example) else None
        if example is None:
            why = diagnose(data) if self._payload == "example" else sequence.diagnose(data, parsed)
            return b"", why
        self._track(example, path, index, kinds, where)
        return out, None

    def process(self, path: str) -> Iterator:
        kinds: dict[str, str | None] = {}  # feature -> its kind (a oneof field name)
        where: dict[str, int] = {}  # feature -> the record its kind was first seen in
        examples: list[bytes] = []
        size = 0
        index = 0  # records read so far: the next record's index
        bad = 0
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            try:
                for offset, data in FrameParser(chunks(path, f, self._compression), looks_like):
                    out, why = self._examine(data, path, index, kinds, where)
                    if why is not None:
                        bad += 1
                        raw, note = _raw(data)
                        reason = f"the record at byte {offset} is not a {self._what}: {why}{note}"
                        yield beam.pvalue.TaggedOutput(
                            "bad_records", BadRecord(path, index, reason, raw)
                        )
                    else:
                        examples.append(out)
                        size += len(out)
                        if len(examples) >= _BATCH_EXAMPLES or size >= _BATCH_BYTES:
                            yield ExampleBatch(examples)
                            examples, size = [], 0
                    index += 1
            except FramingError as stop:
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
        seen = {name: (KINDS[kind], path, where[name]) for name, kind in kinds.items()}
        yield beam.pvalue.TaggedOutput("kinds", seen)
        yield beam.pvalue.TaggedOutput("counts", (path, index))
