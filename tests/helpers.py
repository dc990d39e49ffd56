"""Shared test helpers: run an ingest, read what it wrote."""

from __future__ import annotations

import glob
import json
import os

import apache_beam as beam

from beam_ingest import Ingest, IngestConfig
from beam_ingest.framing import read_records


def run_ingest(config: IngestConfig) -> dict:
    """Runs `Ingest` on the DirectRunner; returns the written report."""
    with beam.Pipeline() as p:
        _ = p | Ingest(config)
    return read_report(config.output_dir)


def read_report(output_dir: str) -> dict:
    with open(os.path.join(output_dir, "ingest_report.json")) as f:
        return json.load(f)


def split_records(output_dir: str, split: str) -> list[bytes]:
    paths = sorted(glob.glob(os.path.join(output_dir, f"Split-{split}", "*")))
    assert paths, f"no files in Split-{split}"
    return [r for p in paths for r in read_records(p)]


def decode(record: bytes) -> dict:
    """A serialized tf.Example to {name: (kind, values)}; kind None for Feature()."""
    import tensorflow as tf

    example = tf.train.Example.FromString(record)
    out = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        out[name] = (kind, list(getattr(feature, kind).value) if kind else [])
    return out


def bad_records(output_dir: str) -> list[dict]:
    rows = []
    for path in sorted(glob.glob(os.path.join(output_dir, "errors", "*.jsonl"))):
        with open(path) as f:
            rows.extend(json.loads(line) for line in f)
    return rows
