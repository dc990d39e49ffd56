"""Feature kinds, given schemas and the schema written next to the output.

A `Schema` is the ordered list of columns with the tf.Example kind of each.
It is what CSV type inference produces, what `--schema` gives instead, and
what is written to `OUT/schema.pbtxt` as a tensorflow_metadata `Schema` text
proto (ready for TFX `ImportSchemaGen`).
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Iterable, Mapping

import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from beam_ingest.errors import ConfigError

#: The STRUCT feature under which TFX (tfx_bsl, TFDV) lists a SequenceExample's
#: feature lists in a schema.
SEQUENCE_FEATURE = "##SEQUENCE##"


class Kind(enum.IntEnum):
    """The tf.Example kind of a feature, ordered as TFX's CSV type hierarchy.

    Inference takes the max over values: an INT column that sees one FLOAT
    value becomes FLOAT; anything else makes it BYTES. UNKNOWN means no value
    was seen (a column empty everywhere), written as an empty `Feature()`.
    """

    UNKNOWN = 0
    INT = 1
    FLOAT = 2
    BYTES = 3

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW_TYPES[self]


_ARROW_TYPES = {
    Kind.UNKNOWN: pa.null(),
    Kind.INT: pa.int64(),
    Kind.FLOAT: pa.float32(),
    Kind.BYTES: pa.large_binary(),
}
_JSON_KINDS = {"int": Kind.INT, "float": Kind.FLOAT, "bytes": Kind.BYTES, "string": Kind.BYTES}
_PROTO_KINDS = {
    schema_pb2.INT: Kind.INT,
    schema_pb2.FLOAT: Kind.FLOAT,
    schema_pb2.BYTES: Kind.BYTES,
}


@dataclasses.dataclass(frozen=True)
class Column:
    name: str
    kind: Kind


@dataclasses.dataclass(frozen=True)
class Schema:
    """Columns in input order, each with its kind. For tf.SequenceExample
    output, `columns` are the context features and `sequence` the feature
    lists (written as the STRUCT feature `##SEQUENCE##`, as TFDV infers it)."""

    columns: tuple[Column, ...]
    sequence: tuple[Column, ...] = ()

    def flat(self) -> Schema:
        """Context and sequence features as one list of columns."""
        return Schema(self.columns + self.sequence) if self.sequence else self

    @classmethod
    def from_kinds(cls, kinds: Iterable[tuple[str, Kind]]) -> Schema:
        return cls(tuple(Column(name, Kind(kind)) for name, kind in kinds))

    @classmethod
    def from_arrow(cls, schema: pa.Schema) -> Schema:
        """Kinds of columns already under the value contract (see arrow_values):
        int64 -> INT, floating -> FLOAT, binary -> BYTES, null -> UNKNOWN, and
        a list takes the kind of its values."""
        return cls(tuple(Column(f.name, _kind_of_arrow(f.type)) for f in schema))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def kind_of(self, name: str) -> Kind:
        for column in self.columns:
            if column.name == name:
                return column.kind
        raise KeyError(name)

    def to_dict(self) -> dict[str, object]:
        result: dict[str, object] = {c.name: c.kind.name.lower() for c in self.columns}
        if self.sequence:
            result[SEQUENCE_FEATURE] = {c.name: c.kind.name.lower() for c in self.sequence}
        return result

    def to_proto(self) -> schema_pb2.Schema:
        """The schema as tensorflow_metadata's proto, for tfx_bsl's decoders.

        A column with no value anywhere (UNKNOWN) is left out: a feature
        without a type is invalid there (tfx_bsl's decoder refuses the whole
        schema), and its examples hold an empty `Feature()` that decoders
        read as missing. The report's `schema` still lists it as "unknown".
        """
        proto = schema_pb2.Schema()
        _add_features(proto.feature, self.columns)
        if self.sequence:
            struct = proto.feature.add(name=SEQUENCE_FEATURE, type=schema_pb2.STRUCT)
            _add_features(struct.struct_domain.feature, self.sequence)
        return proto

    def to_pbtxt(self) -> str:
        return text_format.MessageToString(self.to_proto())


def _add_features(features, columns: Iterable[Column]) -> None:
    for column in columns:
        if column.kind is not Kind.UNKNOWN:
            features.add(
                name=column.name,
                type={Kind.INT: schema_pb2.INT, Kind.FLOAT: schema_pb2.FLOAT}.get(
                    column.kind, schema_pb2.BYTES
                ),
            )


def _kind_of_arrow(t: pa.DataType) -> Kind:
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        t = t.value_type
    if pa.types.is_null(t):
        return Kind.UNKNOWN
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return Kind.INT
    if pa.types.is_floating(t):
        return Kind.FLOAT
    return Kind.BYTES


def merge_schemas(schemas: Iterable[Schema]) -> Schema:
    """Widens kinds column by column (input splits inferred apart, one schema file)."""
    kinds: dict[str, Kind] = {}
    sequence: dict[str, Kind] = {}
    for schema in schemas:
        for column in schema.columns:
            kinds[column.name] = max(kinds.get(column.name, Kind.UNKNOWN), column.kind)
        for column in schema.sequence:
            sequence[column.name] = max(sequence.get(column.name, Kind.UNKNOWN), column.kind)
    merged = Schema.from_kinds(kinds.items())
    if sequence:
        return Schema(merged.columns, sequence=Schema.from_kinds(sequence.items()).columns)
    return merged


def load_schema(path: str) -> Schema:
    """Reads a given schema: a tensorflow_metadata `Schema` text proto or JSON.

    JSON is an object `{"name": "int" | "float" | "bytes"}`; anything else is
    parsed as a text proto, as TFX SchemaGen writes it.

    Raises:
        ConfigError: the file cannot be read, parsed, or names a type with no
            tf.Example kind.
    """
    try:
        with FileSystems.open(path) as f:
            text = f.read().decode("utf-8")
    except Exception as e:
        raise ConfigError(f"--schema: cannot read {path!r}: {e}") from e
    if text.lstrip().startswith("{"):
        return _schema_from_json(path, text)
    return _schema_from_pbtxt(path, text)


def _schema_from_json(path: str, text: str) -> Schema:
    try:
        mapping = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"--schema: {path!r} is not valid JSON: {e}") from e
    if not isinstance(mapping, Mapping) or not mapping:
        raise ConfigError(f"--schema: {path!r} must be a non-empty object {{name: type}}")
    columns = []
    for name, kind in mapping.items():
        if not isinstance(kind, str) or kind.lower() not in _JSON_KINDS:
            raise ConfigError(
                f"--schema: column {name!r} in {path!r} has type {kind!r}; "
                f"valid types: {sorted(_JSON_KINDS)}"
            )
        columns.append(Column(name, _JSON_KINDS[kind.lower()]))
    return Schema(tuple(columns))


def _schema_from_pbtxt(path: str, text: str) -> Schema:
    proto = schema_pb2.Schema()
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as e:
        raise ConfigError(
            f"--schema: {path!r} is neither JSON nor a tensorflow_metadata Schema text proto: {e}"
        ) from e
    if not proto.feature:
        raise ConfigError(f"--schema: {path!r} has no features")
    columns, sequence = [], []
    for feature in proto.feature:
        if feature.name == SEQUENCE_FEATURE and feature.type == schema_pb2.STRUCT:
            sequence = [_proto_column(path, f) for f in feature.struct_domain.feature]
            continue
        columns.append(_proto_column(path, feature))
    clash = sorted({c.name for c in columns} & {c.name for c in sequence})
    if clash:
        raise ConfigError(
            f"--schema: {clash[0]!r} in {path!r} is both a context feature and a sequence "
            f"feature (in {SEQUENCE_FEATURE}); a feature must be one or the other"
        )
    return Schema(tuple(columns), sequence=tuple(sequence))


def _proto_column(path: str, feature) -> Column:
    if feature.type not in _PROTO_KINDS:
        raise ConfigError(
            f"--schema: feature {feature.name!r} in {path!r} has type "
            f"{schema_pb2.FeatureType.Name(feature.type)}; valid types: INT, FLOAT, BYTES "
            f"(and a STRUCT {SEQUENCE_FEATURE} of sequence features)"
        )
    return Column(feature.name, _PROTO_KINDS[feature.type])
