"""Beam pipeline options for the runners beam-ingest supports.

`pipeline_options(args)` is the one place where the CLI, the TFX executor and
the Flex Template turn Beam arguments into `PipelineOptions`.
"""

from __future__ import annotations

from collections.abc import Sequence

from apache_beam.options.pipeline_options import PipelineOptions

from beam_ingest.errors import ConfigError

__all__ = ["pipeline_options"]


def pipeline_options(args: Sequence[str]) -> PipelineOptions:
    """`PipelineOptions` from Beam arguments.

    Raises:
        ConfigError: arguments Beam cannot parse.
    """
    try:
        return PipelineOptions(list(args))
    except Exception as e:
        raise ConfigError(f"bad Beam pipeline options {list(args)}: {e}") from e
