"""The TFX-style SQL baseline: rows as Python dicts to tf.Examples, one at a time.

    python benchmarks/sql_dict_baseline.py postgresql://... OUT

As TFX's BigQuery and Presto executors convert rows: each row a dict,
`tfx.components.example_gen.utils.dict_to_example`, serialized
deterministically, put in train/eval by TFX's hash rule (2:1 on the
SHA-256 of the bytes, beam_ingest.splits), written with `tf.io.TFRecordWriter` (gzip). Rows
are fetched with ADBC's `fetchmany`, the fastest row fetch there is, so what
is measured is the per-row conversion.
"""

from __future__ import annotations

import os
import sys

import adbc_driver_postgresql.dbapi as pg
import tensorflow as tf
from tfx.components.example_gen import utils

from beam_ingest.splits import DEFAULT_SPLITS, SplitAssigner


def main(url: str, out: str) -> None:
    assigner = SplitAssigner(DEFAULT_SPLITS)
    names = assigner.names
    writers = {}
    for name in names:
        os.makedirs(os.path.join(out, f"Split-{name}"), exist_ok=True)
        path = os.path.join(out, f"Split-{name}", "data_tfrecord-00000-of-00001.gz")
        writers[name] = tf.io.TFRecordWriter(path, options="GZIP")
    with pg.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("select * from taxi")
        columns = [d[0] for d in cursor.description]
        while rows := cursor.fetchmany(10_000):
            for row in rows:
                record = utils.dict_to_example(
                    dict(zip(columns, row, strict=True))
                ).SerializeToString(deterministic=True)
                writers[names[assigner.assign(record)]].write(record)
    for writer in writers.values():
        writer.close()


if __name__ == "__main__":
    main(*sys.argv[1:])
