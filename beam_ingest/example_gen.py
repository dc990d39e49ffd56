"""beam-ingest inside TFX: a drop-in executor for `FileBasedExampleGen`.

    from tfx.components.example_gen.component import FileBasedExampleGen
    from tfx.dsl.components.base import executor_spec
    from beam_ingest.example_gen import Executor, custom_config

    FileBasedExampleGen(
        input_base="data/",
        custom_config=custom_config(format="csv", max_bad_records=10),
        custom_executor_spec=executor_spec.BeamExecutorSpec(Executor),
    )

The public TFX surface of beam-ingest; the only modules that import TFX are
this one and the `tfx_*` modules it re-exports from. TFX's `FileBasedDriver`
resolves `{SPAN}`/`{VERSION}` specs and `range_config` before the executor
runs; the executor receives concrete patterns relative to `input_base` and
runs the same pipeline as `beam-ingest run`, with TFX's configuration
translated into the same option values (`beam_ingest.tfx_config`).

`Executor` reads every format. The per-format names (`CsvExecutor`, ...) are
made from the format table, for TFX users who name an executor class path.
"""

from __future__ import annotations

from beam_ingest import formats
from beam_ingest.tfx_config import TfxRun, custom_config, translate
from beam_ingest.tfx_executor import Executor, executor_for
from beam_ingest.tfx_registry import RegistryExampleGen, RegistryExecutor
from beam_ingest.tfx_sql import SqlExampleGen

_ALIASES = {f.executor: executor_for(f.name) for f in formats.all_formats() if f.executor}
globals().update(_ALIASES)

__all__ = [
    "Executor",
    "RegistryExampleGen",
    "RegistryExecutor",
    "SqlExampleGen",
    "TfxRun",
    "custom_config",
    "executor_for",
    "translate",
    *sorted(_ALIASES),
]
