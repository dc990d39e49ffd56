"""The source contract: what every connector's `expand()` returns.

A connector is a PTransform `PBegin -> dict` with four PCollections:

- `records`: `pyarrow.RecordBatch`es under the value contract
  (`beam_ingest.arrow_values`), or `ExampleBatch`es for sources that read
  serialized examples;
- `bad_records`: `beam_ingest.bad_records.BadRecord`s;
- `counts`: `(file, records read)` tuples, bad records included, so that
  records read = examples written + bad records can be checked;
- `schema`: exactly one `beam_ingest.schema.Schema`.

The connector also sets `self.files` (the matched `FileInfo`s) in `expand()`
for the report, and names each RecordBatch's file in its schema metadata
(`with_file`), so that later steps (a user's `--transform-fn`) can say which
file a failing batch came from.
"""

from __future__ import annotations

import apache_beam as beam

#: The schema metadata key holding a RecordBatch's file (UTF-8 path).
FILE_METADATA = b"beam_ingest.file"


def with_file(batch, path: str):
    """The RecordBatch with its file in its schema metadata (no data is copied)."""
    return batch.replace_schema_metadata({FILE_METADATA: path.encode("utf-8", "replace")})


def source_outputs(read: beam.pvalue.DoOutputsTuple, schema: beam.PCollection) -> dict:
    """The contract's dict from a read step tagged `records` (main),
    `bad_records` and `counts`, and the schema PCollection."""
    return {
        "records": read.records,
        "bad_records": read.bad_records,
        "counts": read.counts,
        "schema": schema,
    }


class FlattenSources(beam.PTransform):
    """Several sources read as one (e.g. one per selected span): each output
    is the flattened union, `files` the union of their files.

    Raises:
        ConfigError: two sources add the same output file with different
            contents (e.g. image label vocabularies that differ: pin them).
    """

    def __init__(self, sources: list[beam.PTransform]) -> None:
        super().__init__()
        self.sources = list(sources)
        self.files: list = []

    def expand(self, pbegin: beam.pvalue.PBegin) -> dict:
        outputs = [pbegin | f"Read{i}" >> source for i, source in enumerate(self.sources)]
        self.files = sorted({f for source in self.sources for f in getattr(source, "files", [])})
        return {
            key: [o[key] for o in outputs]
            | f"Flatten{key.title().replace('_', '')}" >> beam.Flatten()
            for key in ("records", "bad_records", "counts", "schema")
        }

    def extra_outputs(self) -> tuple[dict[str, bytes], dict]:
        return merge_extra_outputs(self.sources)


def merge_extra_outputs(sources) -> tuple[dict[str, bytes], dict]:
    """Extra output files and report fields of several sources, merged.

    Raises:
        ConfigError: the same file with different contents from two sources.
    """
    from beam_ingest.errors import ConfigError

    files: dict[str, bytes] = {}
    report: dict = {}
    for source in sources:
        if not hasattr(source, "extra_outputs"):
            continue
        more_files, more_report = source.extra_outputs()
        for name, data in more_files.items():
            if name in files and files[name] != data:
                raise ConfigError(
                    f"the inputs give two different {name!r} (e.g. label vocabularies that "
                    "differ between splits or spans); pin it, e.g. with --classes"
                )
            files[name] = data
        for key, value in more_report.items():
            report.setdefault(key, value)
    return files, report


class WithSpanFeature(beam.PTransform):
    """A source whose examples get an int feature holding their span.

    Raises (when the pipeline runs):
        ConfigError: the input already has a column of that name.
    """

    def __init__(self, source: beam.PTransform, name: str, span: int) -> None:
        super().__init__()
        self.source = source
        self.name = name
        self.span = span
        self.files: list = []

    def expand(self, pbegin: beam.pvalue.PBegin) -> dict:
        read = pbegin | "Read" >> self.source
        self.files = list(getattr(self.source, "files", []))
        return {
            **read,
            "records": read["records"] | "AddSpan" >> beam.Map(_add_span, self.name, self.span),
            "schema": read["schema"] | "AddSpanColumn" >> beam.Map(_add_span_column, self.name),
        }

    def extra_outputs(self) -> tuple[dict[str, bytes], dict]:
        return merge_extra_outputs([self.source])


def _add_span(batch, name: str, span: int):
    import pyarrow as pa

    from beam_ingest.errors import ConfigError

    if not isinstance(batch, pa.RecordBatch):
        raise ConfigError("--span-feature: not supported for sources of serialized examples")
    if name in batch.schema.names:
        raise ConfigError(f"--span-feature: the input already has a feature {name!r}")
    return batch.append_column(name, pa.array([span] * batch.num_rows, pa.int64()))


def _add_span_column(schema, name: str):
    from beam_ingest.schema import Column, Kind, Schema

    return Schema((*schema.columns, Column(name, Kind.INT)))


def check_pattern(transform: str, file_pattern: object) -> str:
    """A connector's `file_pattern` argument, checked.

    Raises:
        ConfigError: it is not a non-empty string.
    """
    from beam_ingest.errors import ConfigError

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
    from beam_ingest.errors import ConfigError

    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ConfigError(f"{transform}: desired_bundle_size must be an int >= 1; got {size!r}")
    return size
