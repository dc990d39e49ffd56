"""Typed errors. The CLI maps them to exit codes: ConfigError 2, DataError 1."""

from __future__ import annotations

import re


class IngestError(Exception):
    """Base class of every error beam-ingest raises on purpose."""

    exit_code = 1


class ConfigError(IngestError, ValueError):
    """Bad usage or configuration, found before the pipeline starts."""

    exit_code = 2


class DataError(IngestError, RuntimeError):
    """The input data is bad: more bad records than allowed, corrupt files.

    Also a `RuntimeError`, which is what TFX's ExampleGen raises for the same
    faults (an invalid feature name, an empty feature, a partition feature of
    the wrong kind), so TFX code that catches those catches this too.
    """

    exit_code = 1


class OutputError(IngestError, RuntimeError):
    """The output cannot be committed (a concurrent run, an internal mismatch)."""

    exit_code = 1


_IN_PIPELINE = re.compile(
    r"\b(ConfigError|DataError|OutputError): (.*?)(?: \[while running|$)", re.S
)


def from_pipeline_failure(error: BaseException) -> IngestError | None:
    """The beam-ingest error inside an exception a runner raised, if any.

    Runners re-raise a DoFn's exception wrapped in their own, with the
    original's type and message in the text; this finds them again, so a
    failure inside the pipeline reads as clearly as one before it.
    """
    match = _IN_PIPELINE.search(str(error))
    if not match:
        return None
    kind = {"ConfigError": ConfigError, "DataError": DataError, "OutputError": OutputError}
    message = re.sub(r"\s*\[while running '[^']*'\]\s*$", "", match.group(2).strip())
    return kind[match.group(1)](message)
