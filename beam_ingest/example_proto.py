"""The tf.Example messages, without TensorFlow (for `ReadTFRecord`, and the
base of `beam_ingest.sequence_example`).

No TensorFlow on the ingest path: the class is built from a
`FileDescriptorProto` that repeats the wire schema of
`tensorflow/core/example/{feature,example}.proto` (the same field numbers,
types and packing; checked against TensorFlow's own descriptors in the
tests). It lives in a private `DescriptorPool` under a private package name,
so it never clashes with TensorFlow's registration when both are loaded in
one process. Parsing and serializing are protobuf's C runtime (upb).
"""

from __future__ import annotations

import functools

from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory

__all__ = ["PACKAGE", "example_class", "example_descriptor"]

PACKAGE = "beam_ingest.tfrecord"  # private: never TensorFlow's "tensorflow"
_F = descriptor_pb2.FieldDescriptorProto


def example_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """tensorflow/core/example/{feature,example}.proto: the messages Example needs."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="beam_ingest/tfrecord/example.proto", package=PACKAGE, syntax="proto3"
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
            type_name=f".{PACKAGE}.{type_name}",
            oneof_index=0,
        )
    features = proto.message_type.add(name="Features")
    features.field.add(
        name="feature",
        number=1,
        label=_F.LABEL_REPEATED,
        type=_F.TYPE_MESSAGE,
        type_name=f".{PACKAGE}.Features.FeatureEntry",
    )
    entry = features.nested_type.add(name="FeatureEntry")
    entry.field.add(name="key", number=1, label=_F.LABEL_OPTIONAL, type=_F.TYPE_STRING)
    entry.field.add(
        name="value",
        number=2,
        label=_F.LABEL_OPTIONAL,
        type=_F.TYPE_MESSAGE,
        type_name=f".{PACKAGE}.Feature",
    )
    entry.options.map_entry = True
    proto.message_type.add(name="Example").field.add(
        name="features",
        number=1,
        label=_F.LABEL_OPTIONAL,
        type=_F.TYPE_MESSAGE,
        type_name=f".{PACKAGE}.Features",
    )
    return proto


@functools.cache
def example_class() -> type[message.Message]:
    """The tf.Example message class, in a private pool (built once per process)."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(example_descriptor())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.Example"))
