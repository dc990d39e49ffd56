"""A look at the first records of TFRecord input before a run (for `ReadTFRecord`).

A partition feature on TFRecord input is checked on the records themselves:
TFX partitions only on a feature every example has, of kind int64 or bytes.
Reading every record to find out would be the run itself, so the first
`SAMPLE` records of each file are read (one pass over a few KB per file,
before the pipeline is built) and a feature missing from any of them, or
a float one, is a configuration error naming the file and the record.
Records further on are still checked while the run encodes them
(`beam_ingest.transforms.encode.partition_keys`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import BinaryIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from beam_ingest.errors import ConfigError
from beam_ingest.framing import FrameParser, FramingError

__all__ = ["SAMPLE", "check_partition_feature"]

#: Records read from the start of each file.
SAMPLE = 100


def check_partition_feature(
    name: str,
    paths: Sequence[str],
    parse: Callable[[bytes], object],
    chunks: Callable[[str, BinaryIO], Iterable[bytes]],
) -> None:
    """Refuses `name` as the partition feature if one of the first `SAMPLE`
    examples of a file lacks it, holds no value, or holds floats.

    `parse` turns a record into a tf.Example message; `chunks(path, f)`
    gives the file's (decompressed) bytes. Records that do not parse or
    framing that is broken are left to the run, which makes them dead letters.

    Raises:
        ConfigError: the feature cannot partition a sampled example.
    """
    for path in paths:
        for index, example in enumerate(_first_examples(path, parse, chunks)):
            if example is None:
                continue
            where = f"{path!r}, record {index}"
            features = example.features.feature
            if name not in features:
                present = sorted(features)[:10]
                raise ConfigError(
                    f"partition_feature: {name!r} is missing from {where} (TFX partitions "
                    f"only on a feature every example has); its features: {present}"
                )
            kind = features[name].WhichOneof("kind")
            if kind is None or not len(getattr(features[name], kind).value):
                raise ConfigError(
                    f"partition_feature: {name!r} has no value in {where}: it cannot "
                    "place the example"
                )
            if kind == "float_list":
                raise ConfigError(
                    f"partition_feature: {name!r} is a float feature ({where}); TFX "
                    "partitions only on int or bytes features"
                )


def _first_examples(path, parse, chunks) -> Iterator[object | None]:
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            for _, data in itertools.islice(FrameParser(chunks(path, f)), SAMPLE):
                try:
                    yield parse(data)
                except Exception:  # noqa: BLE001 - not a tf.Example: the run's dead letter
                    yield None
    except (FramingError, OSError):
        return  # the run reports it, with its offset
