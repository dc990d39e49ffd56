"""Typed errors. The CLI maps them to exit codes: ConfigError 2, DataError 1."""

from __future__ import annotations


class IngestError(Exception):
    """Base class of every error beam-ingest raises on purpose."""

    exit_code = 1


class ConfigError(IngestError, ValueError):
    """Bad usage or configuration, found before the pipeline starts."""

    exit_code = 2


class DataError(IngestError):
    """The input data is bad: more bad records than allowed, corrupt files."""

    exit_code = 1


class OutputError(IngestError):
    """The output cannot be committed (a concurrent run, an internal mismatch)."""

    exit_code = 1
