"""Split keys of proto records (payload "proto"): `ProtoKeys`.

Without a partition feature a record's key is its bytes (TFX's rule for
FORMAT_PROTO); with one, the tf.train.Feature of the values at that field
path (`beam_ingest.proto_records.MessageType.key_function`).
"""

from __future__ import annotations

import apache_beam as beam

from beam_ingest.errors import ConfigError
from beam_ingest.proto_records import MessageType
from beam_ingest.transforms.encode import ExampleBatch

__all__ = ["PROTO_PAYLOAD", "ProtoKeys", "proto_keys"]

PROTO_PAYLOAD = "FORMAT_PROTO"


class ProtoKeys(beam.PTransform):
    """`ExampleBatch`es of proto records, keyed on `field_path` of `message`
    (both or neither given); the records are not changed."""

    def __init__(
        self,
        message: MessageType | None = None,
        field_path: str | None = None,
        *,
        label: str | None = None,
    ) -> None:
        super().__init__(label)
        if (message is None) != (field_path is None):
            raise ValueError("ProtoKeys: give both message and field_path, or neither")
        if message is not None:
            message.key_function(field_path)  # refuses a bad path here
        self.message = message
        self.field_path = field_path

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        if self.message is None:
            return batches
        return batches | "SplitKeys" >> beam.ParDo(_KeysFn(self.message, self.field_path))


class _KeysFn(beam.DoFn):
    def __init__(self, message: MessageType, field_path: str) -> None:
        self._message = message
        self._path = field_path

    def setup(self) -> None:
        self._key = self._message.key_function(self._path)

    def process(self, batch: ExampleBatch):
        yield ExampleBatch(batch.examples, [self._key(r) for r in batch.examples])


def proto_keys(source: beam.PTransform, partition_feature: str | None) -> ProtoKeys:
    """`ProtoKeys` for what `source` (or, composite, its parts) reads.

    Raises:
        ConfigError: `partition_feature` without the records' message type.
    """
    message = _message_of(source)
    if partition_feature and message is None:
        raise ConfigError(
            f"partition_feature: {partition_feature!r}: proto records are split on a field "
            "only with proto_descriptor (and proto_message) naming their message type; "
            "without them they split by a hash of their bytes"
        )
    return ProtoKeys(message if partition_feature else None, partition_feature or None)


def _message_of(source: beam.PTransform) -> MessageType | None:
    if getattr(source, "proto", None) is not None:
        return source.proto
    parts = getattr(source, "sources", None) or [getattr(source, "source", None)]
    found = [m for m in (_message_of(p) for p in parts if p is not None) if m is not None]
    return found[0] if found else None
