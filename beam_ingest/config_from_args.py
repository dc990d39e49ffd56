"""Deprecated alias (kept for one release): use `beam_ingest.config.build_config`.

`config_from_args(args)` builds the config from parsed `beam-ingest run`
arguments; it is `build_config(beam_ingest.cli.given_options(args))`.
"""

from __future__ import annotations

import argparse

from beam_ingest.ingest import IngestConfig

__all__ = ["config_from_args"]


def config_from_args(args: argparse.Namespace) -> IngestConfig:
    """Deprecated: `build_config(given_options(args))`."""
    from beam_ingest.cli import given_options
    from beam_ingest.config import build_config

    values = given_options(args)
    values.pop("verbose", None)
    return build_config(values)
