"""Serialized protos of any message type: their descriptor, and split keys from a field path.

TFRecord input read with `payload="proto"` holds records that are not
tf.Examples: they are written unchanged (TFX's `FORMAT_PROTO`, as
ImportExampleGen does), and split by a hash of their bytes, TFX's rule. To
split them on a field instead, the message type is given as a descriptor:

    protoc --include_imports --descriptor_set_out=schema.desc schema.proto

`MessageType(descriptor_file, message)` loads that FileDescriptorSet (binary,
as protoc writes it) from any Beam filesystem; `message` is the message's
full name, and may be left out when the set defines one message only.

A field path (`partition_feature`, e.g. `feature.name`) names fields from
the message down, by name. Every value found at the path (through repeated
message fields, in order) is put in a tf.train.Feature, as a tf.Example would
hold it: integers, bools and enums (by number) as an int64_list, strings and
bytes as a bytes_list. The split key is that Feature's bytes, so a record
splits as a tf.Example carrying the same value as its partition feature
would. An unset field gives its default value (protobuf's reading). Float,
double and message leaves are refused, as TFX refuses float partition
features.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable

from google.protobuf import descriptor, descriptor_pb2, descriptor_pool, message, message_factory

from beam_ingest import files
from beam_ingest.errors import ConfigError
from beam_ingest.example_proto import example_class

__all__ = ["MessageType"]

_FD = descriptor.FieldDescriptor
_INT_TYPES = frozenset(
    {_FD.TYPE_INT32, _FD.TYPE_INT64, _FD.TYPE_UINT32, _FD.TYPE_UINT64, _FD.TYPE_SINT32,
     _FD.TYPE_SINT64, _FD.TYPE_FIXED32, _FD.TYPE_FIXED64, _FD.TYPE_SFIXED32,
     _FD.TYPE_SFIXED64, _FD.TYPE_BOOL, _FD.TYPE_ENUM}
)  # fmt: skip
_BYTES_TYPES = frozenset({_FD.TYPE_STRING, _FD.TYPE_BYTES})
_INT64_MAX = (1 << 63) - 1


class MessageType:
    """A message type from a FileDescriptorSet file; picklable (it keeps the
    file's bytes and builds the message class where it is used).

    Raises:
        ConfigError: the file cannot be read or is not a FileDescriptorSet, or
            `message` is not defined in it (or, left out, the set defines
            more than one message), named with the option.
    """

    def __init__(self, descriptor_file: str, message_name: str | None = None) -> None:
        self.descriptor_file = descriptor_file
        try:
            self._data = files.read_bytes(descriptor_file)
        except (OSError, ValueError) as e:
            raise ConfigError(f"proto_descriptor: cannot read {descriptor_file!r}: {e}") from e
        descriptor_set = self._descriptor_set()
        names = _message_names(descriptor_set.file)
        if message_name is None:
            if len(names) != 1:
                last = _message_names(descriptor_set.file[-1:]) or ["pkg.Message"]
                raise ConfigError(
                    f"proto_message: {descriptor_file!r} defines {len(names)} messages; name the "
                    f"records' one (its full name, e.g. {last[0]!r})"
                )
            message_name = names[0]
        elif message_name not in names:
            near = difflib.get_close_matches(message_name, names, n=3, cutoff=0.5)
            hint = f"; did you mean {' or '.join(map(repr, near))}?" if near else ""
            listed = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
            raise ConfigError(
                f"proto_message: {message_name!r} is not a message of {descriptor_file!r}{hint} "
                f"(it defines {len(names)}: {listed})"
            )
        self.name = message_name
        self._class = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_class": None}

    def _descriptor_set(self) -> descriptor_pb2.FileDescriptorSet:
        try:
            parsed = descriptor_pb2.FileDescriptorSet.FromString(self._data)
        except message.DecodeError as e:
            raise ConfigError(
                f"proto_descriptor: {self.descriptor_file!r} is not a FileDescriptorSet "
                f"(protoc --include_imports --descriptor_set_out=FILE): {e}"
            ) from e
        if not parsed.file:
            raise ConfigError(
                f"proto_descriptor: {self.descriptor_file!r} holds no file descriptors "
                "(protoc --include_imports --descriptor_set_out=FILE)"
            )
        return parsed

    def message_class(self) -> type[message.Message]:
        """The message class (built once per process)."""
        if self._class is None:
            pool = descriptor_pool.DescriptorPool()
            for proto in self._descriptor_set().file:
                try:
                    pool.Add(proto)
                except TypeError as e:  # a conflicting definition
                    raise ConfigError(f"proto_descriptor: {self.descriptor_file!r}: {e}") from e
            try:
                found = pool.FindMessageTypeByName(self.name)
            except KeyError as e:  # an import left out: protoc needs --include_imports
                raise ConfigError(
                    f"proto_descriptor: {self.descriptor_file!r} cannot define {self.name!r}: "
                    f"{e}; write it with protoc --include_imports"
                ) from e
            self._class = message_factory.GetMessageClass(found)
        return self._class

    def describe(self, data: bytes, width: int = 160) -> str:
        """A record as one line of text format, cut at `width` characters."""
        from google.protobuf import text_format

        try:
            text = text_format.MessageToString(
                self.message_class().FromString(data), as_one_line=True
            )
        except message.DecodeError as e:
            text = f"<not a {self.name}: {e}>"
        return text if len(text) <= width else text[: width - 3] + "..."

    def problem(self, data: bytes) -> str | None:
        """Why `data` is not a serialized message of this type, or None."""
        try:
            self.message_class().FromString(data)
        except message.DecodeError as e:
            return str(e)
        return None

    def key_function(self, path: str) -> Callable[[bytes], bytes]:
        """record bytes -> split key, the tf.train.Feature of the values at `path`.

        Raises:
            ConfigError: (here) `path` names no field, passes through a
                non-message field, or ends at a float, double or message field.
        """
        fields = _resolve(self.message_class().DESCRIPTOR, path)
        leaf = fields[-1]
        as_int = leaf.type in _INT_TYPES
        parse = self.message_class().FromString
        feature_class = type(example_class()().features.feature["_"])

        def key(data: bytes) -> bytes:
            values = list(_values(parse(data), fields))
            feature = feature_class()
            if as_int:
                feature.int64_list.value.extend(
                    int(v) - (1 << 64) * (v > _INT64_MAX) for v in values
                )
            else:
                feature.bytes_list.value.extend(
                    v.encode("utf-8") if isinstance(v, str) else v for v in values
                )
            return feature.SerializeToString(deterministic=True)

        return key


def _message_names(protos: Iterable[descriptor_pb2.FileDescriptorProto]) -> list[str]:
    names = []

    def add(prefix: str, messages: Iterable[descriptor_pb2.DescriptorProto]) -> None:
        for m in messages:
            if m.options.map_entry:
                continue
            names.append(f"{prefix}{m.name}")
            add(f"{prefix}{m.name}.", m.nested_type)

    for f in protos:
        add(f"{f.package}." if f.package else "", f.message_type)
    return names


def _resolve(message_descriptor: descriptor.Descriptor, path: str) -> list[_FD]:
    parts = path.split(".")
    fields, current = [], message_descriptor
    for i, part in enumerate(parts):
        if current is None:
            raise ConfigError(
                f"partition_feature: {path!r}: {'.'.join(parts[:i])!r} is not a message field, "
                f"so it has no field {part!r}"
            )
        field = current.fields_by_name.get(part)
        if field is None:
            near = difflib.get_close_matches(part, list(current.fields_by_name), n=3)
            hint = f"; did you mean {' or '.join(map(repr, near))}?" if near else ""
            raise ConfigError(
                f"partition_feature: {path!r}: {current.full_name} has no field {part!r}{hint}"
            )
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            raise ConfigError(
                f"partition_feature: {path!r}: {field.full_name} is a map; a path cannot pass "
                "through a map field"
            )
        fields.append(field)
        current = field.message_type
    leaf = fields[-1]
    if leaf.type not in _INT_TYPES | _BYTES_TYPES:
        what = "a message" if leaf.message_type is not None else "a float"
        raise ConfigError(
            f"partition_feature: {path!r} is {what} field ({leaf.full_name}); TFX partitions only "
            "on int or bytes values: name an integer, bool, enum, string or bytes field"
        )
    return fields


def _values(msg: message.Message, fields: list[_FD]) -> Iterable[object]:
    field, rest = fields[0], fields[1:]
    value = getattr(msg, field.name)
    repeated = field.is_repeated
    if not rest:
        yield from (value if repeated else (value,))
        return
    for child in value if repeated else (value,):
        yield from _values(child, rest)
