"""Registry entries to Arrow RecordBatches: `ReadRegistry`.

The pattern names entries (`klue_sts/v{SPAN}_{VERSION}-train`); its specs
resolve against entry names with the rules of `beam_ingest.spans` (latest
span and in it the latest version, a static span, a range, the last K).
Each selected entry is read by the connector of its format with the options
stored in its manifest; a CSV entry also reuses the schema inferred at push
(the files are proven unchanged, so inference would find the same kinds).

Integrity: when the pipeline is built, the files under each entry's `files/`
must be exactly those of its manifest, with their sizes. When it runs, a
step hashes every file; a sha256 that differs fails the run with a DataError
naming the entry and the file. That step feeds the `counts` output, which the
commit step waits for, so a failed check publishes nothing even when the
files were read meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import apache_beam as beam

from beam_ingest.errors import ConfigError, DataError
from beam_ingest.files import FileInfo
from beam_ingest.registry_formats import connector
from beam_ingest.schema import Schema
from beam_ingest.source import (
    ExtraOutputs,
    FlattenSources,
    Source,
    SourceOutputs,
    merge_extra_outputs,
)

__all__ = ["ReadRegistry"]

_NAMESPACE = "beam_ingest"


class ReadRegistry(Source):
    """Reads the registry entries a pattern selects, each with its format's connector.

    Returns `SourceOutputs` (`records`, `bad_records`, `counts`, `schema`).
    After expansion, `input_files()` gives the entries' files, `entries` the
    selected manifests and `passes_examples` whether they are TFRecord
    entries; `extra_outputs()` gives what the entries' connectors add (an
    image label vocabulary) and the report field `registry` (root, pattern,
    selected span/version, and per entry its format, records and files with
    size and sha256).

    Args:
        pattern: entry names, with `{SPAN}`/`{VERSION}` specs or Beam globs.
        registry: the registry's root; None: `$BEAM_INGEST_REGISTRY` or
            `~/.beam_ingest/registry`.
        span, span_range, last_spans: which spans (at most one; default the
            latest), as in `beam_ingest.spans.resolve`.

    Raises:
        ConfigError: a bad argument (here); when the pipeline is built: a bad
            pattern, no entry matches, or selected entries mix formats whose
            records cannot be flattened (serialized examples and columns).
        DataError: when the pipeline is built, an entry's files differ from
            its manifest (missing, extra or another size); when it runs, a
            file's sha256 differs.
    """

    def __init__(
        self,
        pattern: str,
        *,
        registry: str | None = None,
        span: int | None = None,
        span_range: tuple[int, int] | None = None,
        last_spans: int | None = None,
        label: str | None = None,
    ) -> None:
        super().__init__()
        self.label = label
        if not isinstance(pattern, str) or not pattern:
            raise ConfigError(f"ReadRegistry: pattern must be a non-empty string; got {pattern!r}")
        if registry is not None and (not isinstance(registry, str) or not registry):
            raise ConfigError(f"registry: must be a folder or URI prefix; got {registry!r}")
        self.pattern = pattern
        self.registry = registry
        self.selection = {"span": span, "span_range": span_range, "last_spans": last_spans}
        self.entries: list = []
        self._sources: list[Source] = []
        self._report: dict = {}

    @classmethod
    def from_options(
        cls, pattern: str, options: Mapping[str, object], schema: Schema | None
    ) -> ReadRegistry:
        """Not a format: build `ReadRegistry(pattern, registry=..., span=...)`.

        Raises:
            TypeError: always.
        """
        raise TypeError("ReadRegistry reads registry entries; it is not built from format options")

    @classmethod
    def profile(cls, paths: Sequence[str], options: Mapping[str, object]) -> tuple[int, Schema]:
        """Not a format: an entry's records and schema are in its manifest.

        Raises:
            TypeError: always.
        """
        raise TypeError("ReadRegistry reads registry entries; entries are profiled at push")

    @property
    def files(self) -> list[FileInfo]:
        """Deprecated alias of `input_files()`, kept for one release."""
        return self.input_files()

    def expand(self, pbegin: beam.pvalue.PBegin) -> SourceOutputs:
        from beam_ingest import formats
        from beam_ingest.registry import Registry

        registry = Registry(self.registry)
        self.entries, selected = registry.resolve(self.pattern, **self.selection)
        kinds = {formats.get(e.format).source_class().passes_examples for e in self.entries}
        if len(kinds) > 1:
            raise ConfigError(
                f"input: {self.pattern!r} selects TFRecord entries (serialized examples) "
                "together with entries of other formats; select one kind"
            )
        self._sources, checks = [], []
        for entry in self.entries:
            folder = registry.entry_dir(entry.name)
            _check_listing(registry, entry)
            self._sources.append(
                connector(
                    entry.format,
                    f"{folder}/files/**",
                    f"{folder}/files",
                    entry.options,
                    entry.schema if entry.format == "csv" else None,
                )
            )
            checks += [
                (entry.name, registry.file_path(entry, f), f.size, f.sha256) for f in entry.files
            ]
        source = self._sources[0] if len(self._sources) == 1 else FlattenSources(self._sources)
        self.passes_examples = source.passes_examples
        read = pbegin | "ReadEntries" >> source
        self._files = source.input_files()
        verified = (
            pbegin
            | "ListChecksums" >> beam.Create(checks)
            | "VerifyChecksums" >> beam.ParDo(_VerifyFn())
        )
        self._report = {
            "root": registry.root,
            "pattern": self.pattern,
            **selected,
            "entries": [
                {
                    "name": e.name,
                    "format": e.format,
                    "records": e.records,
                    "files": [
                        {"name": f.name, "size": f.size, "sha256": f.sha256} for f in e.files
                    ],
                }
                for e in self.entries
            ],
        }
        return read._replace(counts=(read.counts, verified) | "CountsAfterVerify" >> beam.Flatten())

    def extra_outputs(self) -> ExtraOutputs:
        files, report = merge_extra_outputs(self._sources)
        return ExtraOutputs(files, {**report, "registry": self._report})

    def display_data(self) -> dict:
        return {"pattern": self.pattern, "registry": self.registry or "(default)"}


def _check_listing(registry, entry) -> None:
    """The files under the entry's `files/` are the manifest's, with its sizes.

    Raises:
        DataError: a file is missing, extra, or of another size.
    """
    from apache_beam.io.filesystems import FileSystems

    folder = f"{registry.entry_dir(entry.name)}/files/"
    try:
        metadata = FileSystems.match([f"{folder}**"])[0].metadata_list
    except Exception as e:
        raise DataError(f"registry entry {entry.name!r}: cannot list {folder!r}: {e}") from e
    sizes = {m.path[len(folder) :]: m.size_in_bytes for m in metadata}
    for f in entry.files:
        if f.name not in sizes:
            raise DataError(
                f"registry entry {entry.name!r}: file {f.name!r} is missing from {folder!r}"
            )
        if sizes[f.name] != f.size:
            raise DataError(
                f"registry entry {entry.name!r}: file {f.name!r} has {sizes[f.name]} bytes, "
                f"the manifest says {f.size}; the entry was changed after it was pushed"
            )
    extra = sorted(set(sizes) - {f.name for f in entry.files})
    if extra:
        raise DataError(
            f"registry entry {entry.name!r}: file {extra[0]!r} in {folder!r} is not in the "
            "manifest; the entry was changed after it was pushed"
        )


class _VerifyFn(beam.DoFn):
    """Hashes one file of an entry; yields nothing, raises on a mismatch."""

    def __init__(self) -> None:
        self._bytes = beam.metrics.Metrics.counter(_NAMESPACE, "registry_bytes_verified")

    def process(self, item: tuple[str, str, int, str]) -> Iterator:
        from beam_ingest.registry import file_digest

        name, path, size, sha256 = item
        try:
            got_size, got_sha = file_digest(path)
        except OSError as e:
            raise DataError(f"registry entry {name!r}: cannot read {path!r}: {e}") from e
        if (got_size, got_sha) != (size, sha256):
            raise DataError(
                f"registry entry {name!r}: file {path!r} has sha256 {got_sha} ({got_size} bytes); "
                f"the manifest says {sha256} ({size} bytes). The entry was changed after it "
                "was pushed; nothing was written"
            )
        self._bytes.inc(size)
        return iter(())
