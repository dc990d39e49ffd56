"""Connectors: one module per source, each a Read* PTransform emitting Arrow RecordBatches."""
