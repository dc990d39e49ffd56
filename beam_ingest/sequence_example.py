"""tf.SequenceExample without TensorFlow: the message class, and reading its bytes.

The class is built from tf.Example's descriptor (`beam_ingest.example_proto`,
which repeats `tensorflow/core/example/{feature,example}.proto`) plus the
three messages a SequenceExample adds (the tests check them against
TensorFlow's), in a private `DescriptorPool` under a private package name,
so it never clashes with TensorFlow's own registration. Used by the TFRecord connector
(`payload="sequence_example"`), `beam-ingest inspect` and the split keys of
sequence output.

The wire layout (deterministic serialization, `beam_ingest.protowire`):

    SequenceExample { Features context = 1;           0a len Features
                      FeatureLists feature_lists = 2; } 12 len FeatureLists
    FeatureLists    { map<string, FeatureList> feature_list = 1; }
    FeatureList     { repeated Feature feature = 1; }  0a len Feature, per step

`context`'s layout is tf.Example's `features`, so a tf.Example parses as a
SequenceExample with no `feature_lists`.
"""

from __future__ import annotations

import functools

from google.protobuf import descriptor_pool, message, message_factory, text_format

from beam_ingest.example_proto import PACKAGE, example_descriptor
from beam_ingest.protowire import BYTES_LIST, FLOAT_LIST, INT64_LIST, decode_varint

__all__ = [
    "SEQUENCE_FIELDS",
    "context_feature",
    "describe_feature",
    "feature_class",
    "feature_values",
    "sequence_example_class",
]


#: The messages a SequenceExample adds to tf.Example's (`protowire.EXAMPLE_FIELDS`).
SEQUENCE_FIELDS: dict[str, dict[int, str]] = {
    "SequenceExample": {1: "Features", 2: "FeatureLists"},
    "FeatureLists": {1: "FeatureListEntry"},
    "FeatureListEntry": {1: "name", 2: "FeatureList"},
    "FeatureList": {1: "Feature"},
}

#: The messages SequenceExample adds to tf.Example's (`beam_ingest.example_proto`).
_SEQUENCE_MESSAGES = f"""
message_type {{ name: "FeatureList"
  field {{ name: "feature" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE
    type_name: ".{PACKAGE}.Feature" }} }}
message_type {{ name: "FeatureLists"
  field {{ name: "feature_list" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE
    type_name: ".{PACKAGE}.FeatureLists.FeatureListEntry" }}
  nested_type {{ name: "FeatureListEntry" options {{ map_entry: true }}
    field {{ name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }}
    field {{ name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_MESSAGE
      type_name: ".{PACKAGE}.FeatureList" }} }} }}
message_type {{ name: "SequenceExample"
  field {{ name: "context" number: 1 label: LABEL_OPTIONAL type: TYPE_MESSAGE
    type_name: ".{PACKAGE}.Features" }}
  field {{ name: "feature_lists" number: 2 label: LABEL_OPTIONAL type: TYPE_MESSAGE
    type_name: ".{PACKAGE}.FeatureLists" }} }}
"""


@functools.cache
def _pool() -> descriptor_pool.DescriptorPool:
    proto = example_descriptor()  # tf.Example's messages, plus the sequence ones
    proto.name = "beam_ingest/tfrecord/sequence_example.proto"
    text_format.Merge(_SEQUENCE_MESSAGES, proto)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return pool


def sequence_example_class() -> type[message.Message]:
    """The tf.SequenceExample message class (private pool, built once per process)."""
    return _message("SequenceExample")


def feature_class() -> type[message.Message]:
    """The tf.train.Feature message class of the same pool."""
    return _message("Feature")


@functools.cache
def _message(name: str) -> type[message.Message]:
    return message_factory.GetMessageClass(_pool().FindMessageTypeByName(f"{PACKAGE}.{name}"))


def feature_values(feature) -> list:
    """A Feature message's values as a list (bytes, floats or ints; [] if empty)."""
    kind = feature.WhichOneof("kind")
    return list(getattr(feature, kind).value) if kind else []


def describe_feature(data: bytes) -> str:
    """A serialized Feature, readable: `42`, `'u1'`, `[1, 2]`, `(empty)`."""
    try:
        values = feature_values(feature_class().FromString(data))
    except message.DecodeError:
        return repr(data)
    shown = [v.decode("utf-8", "backslashreplace") if isinstance(v, bytes) else v for v in values]
    if not shown:
        return "(empty)"
    return repr(shown[0]) if len(shown) == 1 else repr(shown)


def context_feature(record: bytes, name: bytes) -> bytes | None:
    """The context Feature `name` of a deterministically serialized
    SequenceExample, or None: a walk over the wire bytes, no parse."""
    pos, end = 0, len(record)
    while pos < end:
        tag = record[pos]
        length, pos = decode_varint(record, pos + 1)
        if tag == 0x0A:  # context: Features
            stop = pos + length
            while pos < stop:
                entry_length, pos = decode_varint(record, pos + 1)
                entry_end = pos + entry_length
                key_length, key = decode_varint(record, pos + 1)
                if record[key : key + key_length] == name:
                    start = key + key_length + 1
                    feature_length, start = decode_varint(record, start)
                    return record[start : start + feature_length]
                pos = entry_end
            return None
        pos += length
    return None


#: A Feature's kind tag -> its name in messages.
KIND_NAMES = {BYTES_LIST: "bytes", FLOAT_LIST: "float", INT64_LIST: "int"}


def _cell(values: list) -> str:
    shown = [v.decode("utf-8", "backslashreplace") if isinstance(v, bytes) else v for v in values]
    if isinstance(shown[0] if shown else None, float):
        shown = [round(v, 6) for v in shown]
    text = "" if not shown else str(shown[0]) if len(shown) == 1 else str(shown)
    return text if len(text) <= 24 else text[:21] + "..."


def describe_sequence(record: bytes, steps: int = 5) -> list[str]:
    """A serialized SequenceExample as text lines: its context, then its first
    `steps` steps as a table (one column per feature list; an empty cell is
    an empty Feature)."""
    sequence = sequence_example_class().FromString(record)
    context = {
        name: _cell(feature_values(f)) for name, f in sorted(sequence.context.feature.items())
    }
    lists = dict(sorted(sequence.feature_lists.feature_list.items()))
    length = max((len(fl.feature) for fl in lists.values()), default=0)
    lines = [
        "context: " + ", ".join(f"{k}={v}" for k, v in context.items()),
        f"  {length:,} step(s); the first {min(steps, length)}:",
    ]
    header = ["step", *lists]
    rows = [
        [str(i), *(_cell(feature_values(fl.feature[i])) if i < len(fl.feature) else "" for fl in
                   lists.values())]
        for i in range(min(steps, length))
    ]  # fmt: skip
    widths = [max(len(r[j]) for r in [header, *rows]) for j in range(len(header))]
    for row in [header, *rows]:
        lines.append(
            ("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))).rstrip()
        )
    return lines
