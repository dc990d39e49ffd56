"""The dataset registry as an ExampleGen: `RegistryExampleGen` and its driver.

The driver finds span and version from registry entry names with
beam-ingest's span rules; the executor reads the entries, each with the
format and options its manifest names.
"""

from __future__ import annotations

from tfx.components.example_gen import driver as tfx_driver
from tfx.components.example_gen import input_processor as tfx_input_processor
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from beam_ingest.errors import ConfigError
from beam_ingest.tfx_executor import Executor

__all__ = ["RegistryExampleGen", "RegistryExecutor"]


class RegistryExecutor(Executor):
    """`Executor` whose `input_base` is a dataset registry (`beam_ingest.registry`)
    and whose input patterns are entry names; each entry's manifest gives its
    format and options. Used by `RegistryExampleGen`."""

    REGISTRY = True


class _RegistryInputProcessor(tfx_input_processor.InputProcessor):
    """Span and version from registry entry names, with beam-ingest's span
    rules (`beam_ingest.spans`), the way TFX's `FileBasedInputProcessor` finds
    them from file names: the latest span and in it the latest version, or the
    span a static `range_config` names. The fingerprint is the selected
    entries' names and file checksums, so a changed entry is a new input."""

    def __init__(self, root: str, splits, range_config=None) -> None:
        super().__init__(splits, range_config)
        from beam_ingest.registry import Registry

        self._registry = Registry(root)
        self._patterns = {split.name: split.pattern for split in splits}
        self._resolution = None

    def _resolve(self, span: int | None = None):
        from beam_ingest.spans import resolve

        def list_entries(glob: str):
            found = self._registry.list_entries(glob)
            if not found:
                raise ConfigError(
                    f"input_config: no entry of registry {self._registry.root!r} matches "
                    f"{glob!r} (patterns {self._patterns}); see `beam-ingest registry ls`"
                )
            return found

        self._resolution = resolve(self._patterns, span=span, list_files=list_entries)
        return self._resolution

    def resolve_span_and_version(self) -> tuple[int, int | None]:
        span = None
        if self._range_config and self._range_config.HasField("static_range"):
            span = self._range_config.static_range.start_span_number
        resolution = self._resolve(span)
        return resolution.span, resolution.version

    def get_latest_span(self) -> int:
        return self._resolve().span

    def get_latest_version(self, span: int) -> int | None:
        return self._resolve(span).version

    def get_pattern_for_span_version(self, pattern: str, span: int, version: int | None) -> str:
        resolution = self._resolution or self._resolve(span)
        for split in resolution.splits:
            if split.spec.pattern == pattern:
                return split.patterns[-1]
        raise ConfigError(f"input_config: pattern {pattern!r} is not one of {self._patterns}")

    def get_input_fingerprint(self, span: int, version: int | None) -> str:
        resolution = self._resolution or self._resolve(span)
        lines = []
        for split in resolution.splits:
            for info in split.files:
                entry = self._registry.show(info.path)
                files = ",".join(f"{f.name}:{f.sha256}" for f in entry.files)
                lines.append(f"split:{split.name},entry:{entry.name},files:{files}")
        return "\n".join(lines)


class _RegistryDriver(tfx_driver.Driver):
    def get_input_processor(self, splits, range_config=None, input_base_uri=None):
        return _RegistryInputProcessor(input_base_uri, splits, range_config)


class RegistryExampleGen(FileBasedExampleGen):
    """An ExampleGen that ingests dataset registry entries.

        RegistryExampleGen("klue_sts/v{SPAN}_{VERSION}-train", registry="gs://bucket/registry")

    Each pipeline run ingests the newest entry (latest span, then latest
    version) that the pattern names, or the span of a static `range_config`;
    `input_config` gives several splits (one pattern each), `output_config`
    hash splits as usual. The Examples artifact records `span`, `version`,
    `input_fingerprint` (entry names and file checksums) and
    `registry_entries` (JSON: entry -> file -> sha256). Files are verified
    against their manifest's sha256 while they are read.

    Raises:
        ConfigError: neither or both of `pattern` and `input_config`.
    """

    DRIVER_CLASS = _RegistryDriver

    def __init__(
        self,
        pattern: str | None = None,
        *,
        registry: str | None = None,
        input_config: example_gen_pb2.Input | None = None,
        output_config: example_gen_pb2.Output | None = None,
        range_config=None,
        custom_config: example_gen_pb2.CustomConfig | None = None,
    ) -> None:
        from beam_ingest.registry import Registry

        if (pattern is None) == (input_config is None):
            raise ConfigError(
                "RegistryExampleGen: give an entry name pattern or an input_config, not both"
            )
        if pattern is not None:
            input_config = example_gen_pb2.Input(
                splits=[example_gen_pb2.Input.Split(name="single_split", pattern=pattern)]
            )
        super().__init__(
            input_base=Registry(registry).root,
            input_config=input_config,
            output_config=output_config,
            custom_config=custom_config,
            range_config=range_config,
            custom_executor_spec=executor_spec.BeamExecutorSpec(RegistryExecutor),
        )
