"""beam-ingest: raw data to TFX-compatible tf.Example TFRecords on Apache Beam.

The public API, re-exported here. Connectors and transforms are imported
from their modules: `beam_ingest.connectors.csv.ReadCsv`,
`beam_ingest.transforms.encode.ToTFExample`, ...
"""

from __future__ import annotations

__version__ = "0.1.0"

from beam_ingest.errors import ConfigError, DataError, IngestError, OutputError
from beam_ingest.ingest import Ingest, IngestConfig
from beam_ingest.schema import Kind, Schema, load_schema
from beam_ingest.splits import DEFAULT_SPLITS, SplitSpec

__all__ = [
    "DEFAULT_SPLITS",
    "ConfigError",
    "DataError",
    "Ingest",
    "IngestConfig",
    "IngestError",
    "Kind",
    "OutputError",
    "Schema",
    "SplitSpec",
    "load_schema",
]
