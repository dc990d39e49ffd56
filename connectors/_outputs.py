"""The source contract: what every connector's `expand()` returns.

A connector is a PTransform `PBegin -> dict` with four PCollections:

- `records`: `pyarrow.RecordBatch`es under the value contract
  (`beam_ingest.arrow_values`), or `ExampleBatch`es for sources that read
  serialized examples;
- `bad_records`: `beam_ingest.bad_records.BadRecord`s;
- `counts`: `(file, records read)` tuples, bad records included, so that
  records read = examples written + bad records can be checked;
- `schema`: exactly one `beam_ingest.schema.Schema`.

The connector also sets `self.files` (the matched `FileInfo`s) in `expand()`
for the report.
"""

from __future__ import annotations

import apache_beam as beam


def source_outputs(read: beam.pvalue.DoOutputsTuple, schema: beam.PCollection) -> dict:
    """The contract's dict from a read step tagged `records` (main),
    `bad_records` and `counts`, and the schema PCollection."""
    return {
        "records": read.records,
        "bad_records": read.bad_records,
        "counts": read.counts,
        "schema": schema,
    }
