"""Helpers of the SQL tests: run a `--format sql` ingest, read its examples."""

from __future__ import annotations

from beam_ingest.config import build_config
from tests.helpers import decode, read_report, run_ingest, split_records


def ingest(out, **options) -> dict:
    """Runs build_config(options) on the DirectRunner; the report."""
    return run_ingest(build_config({"format": "sql", "output": str(out), **options}))


def examples(out, splits=("train", "eval")) -> list[dict]:
    """Every example of the splits, decoded."""
    return [decode(r) for s in splits for r in split_records(str(out), s)]


def by_key(out, key: str = "id", splits=("train", "eval")) -> dict:
    """{key value: decoded example}; fails on a repeated key."""
    found: dict = {}
    for example in examples(out, splits):
        value = example[key][1][0]
        assert value not in found, f"{key}={value} written twice"
        found[value] = example
    return found


__all__ = ["by_key", "examples", "ingest", "read_report"]
