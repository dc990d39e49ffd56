"""The Source contract: what every connector implements and `Ingest` relies on.

A source is a `beam.PTransform` from `PBegin` to `SourceOutputs`:

- `records`: `pyarrow.RecordBatch`es under the value contract
  (`beam_ingest.arrow_values`), or `ExampleBatch`es for pass-through sources
  that read serialized examples (`passes_examples = True`);
- `bad_records`: `beam_ingest.bad_records.BadRecord`s, the dead letters, each
  naming its file and record;
- `counts`: `(file, records read)` tuples, bad records included, so that
  records read = examples written + bad records can be checked;
- `schema`: exactly one `beam_ingest.schema.Schema`, inferred or given.

After `expand()`, `input_files()` gives the files the source resolved (for
the report and the output-inside-input check) and `extra_outputs()` any
files it adds to the output (an image label vocabulary) and report fields.
`match(pattern)` resolves an input for a connector: a glob, or a folder
meaning every file of the source's format under it (the format table's
extensions); the files of a folder it skips are reported as
`skipped_files`.

A source also gives, as class methods, what the CLI, the registry and the TFX
executor need without running a pipeline:

- `from_options(pattern, options, schema)`: the source for one input pattern
  from the options model's values (`beam_ingest.options`);
- `profile(paths, options)`: `(records, Schema)` of some files, read with the
  connector's own code (a registry push records them).

Each RecordBatch names its file in its schema metadata (`with_file`), so a
later step (a user's `transform_fn`) can say which file a failing batch came
from.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

import apache_beam as beam

from beam_ingest.errors import ConfigError

if TYPE_CHECKING:
    from beam_ingest.files import FileInfo
    from beam_ingest.schema import Schema

__all__ = [
    "FILE_METADATA",
    "ExtraOutputs",
    "FlattenSources",
    "Source",
    "SourceOutputs",
    "WithSpanFeature",
    "check_bundle_size",
    "check_pattern",
    "merge_extra_outputs",
    "skipped_report",
    "with_file",
]

#: The schema metadata key holding a RecordBatch's file (UTF-8 path).
FILE_METADATA = b"beam_ingest.file"


class SourceOutputs(NamedTuple):
    """What a source's `expand()` returns (see the module docstring)."""

    records: beam.PCollection
    bad_records: beam.PCollection
    counts: beam.PCollection
    schema: beam.PCollection


class ExtraOutputs(NamedTuple):
    """Files a source adds to the output folder, and fields for the report."""

    files: Mapping[str, bytes] = {}
    report: Mapping[str, object] = {}


class Source(beam.PTransform, abc.ABC):
    """Base of every connector. Subclasses implement `expand()` (returning
    `SourceOutputs`), `from_options()` and `profile()`, and set
    `self._files` in `expand()`."""

    #: True for sources whose `records` are serialized examples (`ExampleBatch`).
    passes_examples: bool = False

    def __init__(self) -> None:
        super().__init__()
        self._files: list[FileInfo] = []
        self._skipped: list[str] = []

    def match(self, pattern: str, argument: str = "input") -> list[FileInfo]:
        """The files of `pattern` (a glob, or a folder of this source's
        format's files); remembers the files a folder skipped.

        Raises:
            ConfigError: nothing to read (`beam_ingest.files.match_input`).
        """
        from beam_ingest import files, formats

        fmt = formats.of_source(type(self))
        matched = files.match_input(
            pattern,
            argument=argument,
            extensions=fmt.extensions if fmt else (),
            names=fmt.folder_names if fmt else (),
            what=fmt.name if fmt else "input",
        )
        self._skipped = matched.skipped
        return matched.files

    @abc.abstractmethod
    def expand(self, pbegin: beam.pvalue.PBegin) -> SourceOutputs: ...

    def input_files(self) -> list[FileInfo]:
        """The files this source resolved; known once it has expanded."""
        return list(self._files)

    def check_partition_feature(self, name: str) -> None:
        """Refuses, before the run, a partition feature this source can tell
        is missing or of the wrong kind (called once it has expanded; the
        base checks nothing: the first batch encoded does).

        Raises:
            ConfigError: `name` cannot partition the source's records.
        """

    def extra_outputs(self) -> ExtraOutputs:
        """Output files and report fields this source adds; known once it has
        expanded. The base gives the files a folder input skipped."""
        return ExtraOutputs({}, skipped_report(self._skipped) if self._skipped else {})

    @classmethod
    @abc.abstractmethod
    def from_options(
        cls, pattern: str, options: Mapping[str, object], schema: Schema | None
    ) -> Source:
        """The source reading `pattern`, from option values (keys are option
        names of `beam_ingest.options`; the format's options are all present).

        Raises:
            ConfigError: an option value the source refuses, named.
        """

    @classmethod
    @abc.abstractmethod
    def profile(cls, paths: Sequence[str], options: Mapping[str, object]) -> tuple[int, Schema]:
        """(records read, schema) of `paths`, as this source would read them.

        Raises:
            ConfigError: files the source would refuse.
        """


def skipped_report(skipped: Sequence[str]) -> dict:
    """The report's `skipped_files` field: how many, and the first 20."""
    return {"skipped_files": {"count": len(skipped), "first": list(skipped[:20])}}


def with_file(batch, path: str):
    """The RecordBatch with its file in its schema metadata (no data is copied)."""
    return batch.replace_schema_metadata({FILE_METADATA: path.encode("utf-8", "replace")})


def source_outputs(read: beam.pvalue.DoOutputsTuple, schema: beam.PCollection) -> SourceOutputs:
    """`SourceOutputs` from a read step tagged `records` (main), `bad_records`
    and `counts`, and the schema PCollection."""
    return SourceOutputs(read.records, read.bad_records, read.counts, schema)


def merge_extra_outputs(sources: Sequence[Source]) -> ExtraOutputs:
    """Extra output files and report fields of several sources, merged.

    Raises:
        ConfigError: the same file with different contents from two sources.
    """
    files: dict[str, bytes] = {}
    report: dict = {}
    for source in sources:
        more = source.extra_outputs()
        for name, data in more.files.items():
            if name in files and files[name] != data:
                raise ConfigError(
                    f"the inputs give two different {name!r} (e.g. label vocabularies that "
                    "differ between splits or spans); pin it, e.g. with classes"
                )
            files[name] = data
        for key, value in more.report.items():
            report.setdefault(key, value)
    return ExtraOutputs(files, report)


class _Composite(Source):
    """A source made of other sources: options and profiles are theirs."""

    @classmethod
    def from_options(cls, pattern, options, schema):  # pragma: no cover - not a format
        raise TypeError(f"{cls.__name__} is built from sources, not options")

    @classmethod
    def profile(cls, paths, options):  # pragma: no cover - not a format
        raise TypeError(f"{cls.__name__} is built from sources, not options")


class FlattenSources(_Composite):
    """Several sources read as one (e.g. one per selected span): each output
    is the flattened union, the input files the union of theirs.

    Raises:
        ConfigError: two sources add the same output file with different
            contents (e.g. image label vocabularies that differ: pin them).
    """

    def __init__(self, sources: Sequence[Source]) -> None:
        super().__init__()
        self.sources = list(sources)
        self.passes_examples = any(s.passes_examples for s in self.sources)

    def expand(self, pbegin: beam.pvalue.PBegin) -> SourceOutputs:
        outputs = [pbegin | f"Read{i}" >> source for i, source in enumerate(self.sources)]
        self._files = sorted({f for source in self.sources for f in source.input_files()})
        return SourceOutputs(
            *(
                [o[i] for o in outputs]
                | f"Flatten{name.title().replace('_', '')}" >> beam.Flatten()
                for i, name in enumerate(SourceOutputs._fields)
            )
        )

    def extra_outputs(self) -> ExtraOutputs:
        return merge_extra_outputs(self.sources)


class WithSpanFeature(_Composite):
    """A source whose examples get an int feature holding their span.

    Raises (when the pipeline runs):
        ConfigError: the input already has a column of that name.
    """

    def __init__(self, source: Source, name: str, span: int) -> None:
        super().__init__()
        if source.passes_examples:
            raise ConfigError("span_feature: not supported for sources of serialized examples")
        self.source = source
        self.name = name
        self.span = span

    def expand(self, pbegin: beam.pvalue.PBegin) -> SourceOutputs:
        read = pbegin | "Read" >> self.source
        self._files = self.source.input_files()
        return read._replace(
            records=read.records | "AddSpan" >> beam.Map(_add_span, self.name, self.span),
            schema=read.schema | "AddSpanColumn" >> beam.Map(_add_span_column, self.name),
        )

    def extra_outputs(self) -> ExtraOutputs:
        return self.source.extra_outputs()


def _add_span(batch, name: str, span: int):
    import pyarrow as pa

    if name in batch.schema.names:
        raise ConfigError(f"span_feature: the input already has a feature {name!r}")
    return batch.append_column(name, pa.array([span] * batch.num_rows, pa.int64()))


def _add_span_column(schema, name: str):
    from beam_ingest.schema import Column, Kind, Schema

    return Schema((*schema.columns, Column(name, Kind.INT)))


def check_pattern(transform: str, file_pattern: object) -> str:
    """A connector's `file_pattern` argument, checked.

    Raises:
        ConfigError: it is not a non-empty string.
    """
    if not isinstance(file_pattern, str) or not file_pattern:
        raise ConfigError(
            f"{transform}: file_pattern must be a non-empty string; got {file_pattern!r}"
        )
    return file_pattern


def check_bundle_size(transform: str, size: object) -> int:
    """A connector's `desired_bundle_size` argument (bytes per work unit), checked.

    Raises:
        ConfigError: it is not an int >= 1.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"{transform}: desired_bundle_size must be an int >= 1; got {size!r}")
    return size
