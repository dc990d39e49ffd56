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
- `report()`: fields for `ingest_report.json`;
- `from_options(values)`: the sink from option values (what `build_config`
  calls, through the output-format table in `beam_ingest.formats`);
- `open_part(path)`: a `PartFile` writing part files in the sink's own file
  format (`beam_ingest.transforms.write.WriteSplits` uses it for automatic
  and size-capped shards; fixed shards are staged as plain TFRecords and
  converted by `merge`);
- `finish(staged, schema)`: called once at commit with every part and the
  run's merged schema, before the layout (Parquet rewrites the few parts
  whose column types differ from the run's); by default nothing;
- `read_rows(path, limit)`: the first examples of an output file as dicts,
  for `beam-ingest inspect`;
- `takes_columns`: True for a sink that writes columns (Parquet): the
  examples made from Arrow rows then reach its part files with those rows
  (`ExampleList.columns`), so it need not decode them again.

`CommitOutput` (beam_ingest.transforms.commit) does the rest: counts, the
layout, schema.pbtxt, the report, and the atomic publish.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import apache_beam as beam

if TYPE_CHECKING:
    from beam_ingest.schema import Schema
    from beam_ingest.transforms.write import StagedFile

__all__ = ["PartFile", "Sink"]


class PartFile(Protocol):
    """A part file being written by one bundle (`Sink.open_part`)."""

    path: str
    records: int

    def write(self, examples: list[bytes]) -> None:
        """Appends serialized examples."""

    def close(self) -> None:
        """Finishes the file (errors of background writes surface here)."""


class Sink(abc.ABC):
    """Base of every output format (see the module docstring). Sinks are
    pickled into the pipeline: keep their state small and picklable."""

    #: The output format's name (`ingest_report.json`'s `output_format`).
    name: str = ""
    #: TFX `example_gen_pb2.PayloadFormat` name of the records written.
    payload_format: str = "FORMAT_TF_EXAMPLE"
    #: The TFX Examples artifact's file format.
    file_format: str = ""
    #: Whether part files get the examples' columns too (`ExampleList`).
    takes_columns: bool = False

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

    #: Bytes a record adds in a file beyond its own, for `max_shard_bytes`.
    record_overhead: int = 0

    def report(self) -> dict[str, object]:
        """Fields this sink adds to the report."""
        return {"output_format": self.name}

    @classmethod
    def from_options(cls, values: Mapping[str, object]) -> Sink:
        """The sink from parsed option values (`beam_ingest.options`)."""
        raise NotImplementedError(f"{cls.__name__} is not built from options")

    def open_part(self, path: str) -> PartFile:
        """A part file at `path` in this sink's format."""
        raise NotImplementedError(f"{type(self).__name__} writes no part files itself")

    def finish(self, staged: list[StagedFile], schema: Schema) -> list[StagedFile]:
        """The parts to lay out, given all of them and the run's schema."""
        return staged

    @classmethod
    def read_rows(cls, path: str, limit: int) -> list[dict]:
        """The first `limit` examples of an output file, decoded to dicts."""
        from tfx_bsl.coders import example_coder

        from beam_ingest import framing

        records = list(framing.read_records(path, limit=limit))
        if not records:
            return []
        return example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(records).to_pylist()
