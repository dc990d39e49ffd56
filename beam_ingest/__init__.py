"""beam-ingest: raw data to TFX-compatible tf.Example TFRecords on Apache Beam.

The public API, re-exported here. Connectors and transforms are imported
from their modules: `beam_ingest.connectors.csv.ReadCsv`,
`beam_ingest.transforms.encode.ToTFExample`, ...; the format table and the
options model from `beam_ingest.formats` and `beam_ingest.options`.
"""

from __future__ import annotations

from beam_ingest.config import build_config
from beam_ingest.errors import ConfigError, DataError, IngestError, OutputError
from beam_ingest.ingest import Ingest, IngestConfig
from beam_ingest.schema import Kind, Schema, load_schema
from beam_ingest.sink import Sink
from beam_ingest.source import Source, SourceOutputs
from beam_ingest.splits import DEFAULT_SPLITS, SplitSpec
from beam_ingest.version import __version__

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
    "Sink",
    "Source",
    "SourceOutputs",
    "SplitSpec",
    "__version__",
    "build_config",
    "load_schema",
]
