"""The Sink contract: how examples of each split become output files.

A sink writes serialized examples to part files in the run's private stage
folder and describes what the commit needs to lay them out:

- `write(stage_dir)`: a PTransform from `{split: PCollection[list[bytes]]}`
  (lists of serialized examples) to a PCollection of
  `beam_ingest.transforms.write.StagedFile`, one per part file written. A
  part file is only ever reported by the bundle that wrote it, so a retried
  bundle leaves no duplicate;
- `shard_name(index, total)`: the final name of a file of a split
  (`data_tfrecord-00000-of-00004.gz`), `-SSSSS-of-NNNNN` as TFX writes;
- `empty_file()`: the bytes of a file holding no example (an empty split
  still gets one file);
- `merge(parts, path)`: one file at `path` holding the records of the part
  files `parts`, in order (used when a fixed shard count is asked for);
- `payload_format` / `file_format`: what the TFX Examples artifact says;
- `report()`: fields for `ingest_report.json`.

`CommitOutput` (beam_ingest.transforms.commit) does the rest: counts, the
layout, schema.pbtxt, the report, and the atomic publish.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING

import apache_beam as beam

if TYPE_CHECKING:
    from beam_ingest.transforms.write import StagedFile

__all__ = ["Sink"]


class Sink(abc.ABC):
    """Base of every output format (see the module docstring). Sinks are
    pickled into the pipeline: keep their state small and picklable."""

    #: The output format's name (`ingest_report.json`'s `output_format`).
    name: str = ""
    #: TFX `example_gen_pb2.PayloadFormat` name of the records written.
    payload_format: str = "FORMAT_TF_EXAMPLE"
    #: The TFX Examples artifact's file format.
    file_format: str = ""

    @abc.abstractmethod
    def write(self, stage_dir: str) -> beam.PTransform:
        """The transform writing {split: lists of examples} to staged part files."""

    @abc.abstractmethod
    def shard_name(self, index: int, total: int) -> str:
        """File `index` of `total` of a split, e.g. `data_tfrecord-00000-of-00002.gz`."""

    @abc.abstractmethod
    def empty_file(self) -> bytes:
        """The bytes of a file that holds no record."""

    @abc.abstractmethod
    def merge(self, parts: Sequence[StagedFile], path: str) -> None:
        """Writes the records of `parts`, in order, to one file at `path`."""

    def report(self) -> dict[str, object]:
        """Fields this sink adds to the report."""
        return {"output_format": self.name}
