"""The format table: what beam-ingest knows about each input format.

Each `Format` names its Source class (imported only when used), its file
extensions, whether it infers a schema, the options that only it uses, the
TFX payload and file format its output has, and the name of its TFX executor
alias. The CLI's `--format` choices and help, folder inputs, the TFX
executors, the registry and the Flex Template metadata all read this table:
adding a format is a connector module and one `register(Format(...))`.
The output formats are at the end, one `register_output(OutputFormat(...))`
each. The entries' classes and lookups are in `beam_ingest.format_model`.
"""

from __future__ import annotations

from beam_ingest import options as _options
from beam_ingest.files import extension_of
from beam_ingest.format_model import (
    Format,
    OutputFormat,
    all_formats,
    by_extension,
    get,
    names,
    of_source,
    output_format,
    output_names,
    register,
    register_output,
    unregister,
)
from beam_ingest.options import Option, char, optional_char, text

__all__ = [
    "Format",
    "OutputFormat",
    "all_formats",
    "by_extension",
    "extension_of",
    "get",
    "names",
    "of_source",
    "output_format",
    "output_names",
    "register",
    "register_output",
    "unregister",
]


# --- the table ------------------------------------------------------------------------

register(
    Format(
        name="avro",
        source="beam_ingest.connectors.avro:ReadAvro",
        description="Avro object container files (schema from the files)",
        extensions=(".avro",),
        executor="AvroExecutor",
    )
)
register(
    Format(
        name="csv",
        source="beam_ingest.connectors.csv:ReadCsv",
        description="CSV with a header row; column types inferred as TFX's CsvExampleGen does",
        extensions=(".csv", ".tsv"),
        infers_schema=True,
        options=(
            Option(name="delimiter", metavar="C", parse=char, default=",", group="csv", stored=True,
                   help="CSV: the field delimiter, one character (default ,)"),
            Option(name="quote_char", metavar="C", parse=optional_char, default='"', group="csv",
                   stored=True, help='CSV: the quote character (default "); "" for none'),
            Option(name="escape_char", metavar="C", parse=optional_char, group="csv", stored=True,
                   help="CSV: the escape character (default: none)"),
            Option(name="encoding", metavar="NAME", parse=text, default="utf-8", group="csv",
                   stored=True, help="CSV: the text encoding (default utf-8)"),
        ),
        executor="CsvExecutor",
    )
)  # fmt: skip
register(
    Format(
        name="images",
        source="beam_ingest.connectors.images:ReadImages",
        description="image files (JPEG, PNG, ...), labels from class folders or a manifest",
        extensions=(".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".gif", ".bmp", ".webp",
                    ".tif", ".tiff"),
        options=(
            Option(name="image_root", metavar="DIR", group="images",
                   help="images: the folder image/filename is relative to"),
            Option(name="label_pattern", metavar="REGEX", group="images", stored=True,
                   help="images: a regex with one group on the relative path, the label"),
            Option(name="labels", metavar="FILE", group="images",
                   help="images: a manifest CSV/JSONL of path, label"),
            Option(name="no_labels", kind="flag", default=False, group="images", stored=True,
                   help="images: write no label features"),
            Option(name="classes", parse=lambda v: _classes(v), metavar="FILE", group="images",
                   stored=True,
                   help="images: the fixed label vocabulary, one a line (a list in Python)"),
            Option(name="verify_images", kind="flag", default=False, group="images",
                   stored=True, help="images: decode every image fully (slower)"),
        ),
        executor="ImageExecutor",
    )
)  # fmt: skip
register(
    Format(
        name="jsonl",
        source="beam_ingest.connectors.jsonl:ReadJsonl",
        description="JSON Lines, one object a line; types inferred over the files",
        extensions=(".jsonl", ".ndjson", ".json"),
        infers_schema=True,
        executor="JsonlExecutor",
    )
)
register(
    Format(
        name="parquet",
        source="beam_ingest.connectors.parquet:ReadParquet",
        description="Parquet files (schema from the footers), read by row group",
        extensions=(".parquet",),
        options=(
            Option(name="columns", parse=_options.names, metavar="A,B,C", group="parquet",
                   stored=True,
                   help="Parquet: read only these columns (parent.child for a struct field)"),
        ),
        executor="ParquetExecutor",
    )
)  # fmt: skip
#: Options of every query format (sql, bigquery): declared once, shared.
_QUERIES = (
    Option(name="query", metavar="SQL", group="sql", tfx=False,
           help="sql, bigquery: the query; may hold {SPAN}, {YYYY}{MM}{DD}, "
           "@span_begin_timestamp"),
    Option(name="query_file", metavar="FILE", group="sql", tfx=False,
           help="sql, bigquery: a file holding the query"),
    Option(name="query_split", kind="list", parse=_options.name_value("SQL"),
           metavar="NAME=SQL", group="sql", tfx=False,
           help="sql, bigquery: a query that is already a split (repeatable); no hash split"),
    Option(name="span_query", metavar="SQL", group="sql",
           help="sql, bigquery: a query listing the available span numbers (first column), "
           "for the latest span or `last_spans`"),
)  # fmt: skip
_SQL_TYPES = (
    Option(name="decimal_as", choices=("float", "string"), default="float", group="sql",
           help="sql, bigquery: numeric/decimal columns as float (default) or exact text"),
    Option(name="time_as", choices=("int", "string"), default="int", group="sql",
           help="sql, bigquery: dates and times as int64 microseconds, UTC (default) or "
           "ISO-8601 text"),
)  # fmt: skip
register(
    Format(
        name="bigquery",
        source="beam_ingest.connectors.bigquery:ReadBigQuery",
        description="a BigQuery query's result or table, read by Beam's ReadFromBigQuery "
        "(DIRECT_READ, the Storage Read API); docs/sql.md",
        inputs="beam_ingest.connectors.bigquery:resolve_inputs",
        options=(
            *_QUERIES,
            Option(name="table", metavar="PROJECT:DATASET.TABLE", group="bigquery", tfx=False,
                   help="bigquery: read this table instead of a query (may hold {SPAN}, "
                   "{YYYY}{MM}{DD}: date-sharded tables)"),
            Option(name="bigquery_project", metavar="PROJECT", group="bigquery",
                   help="bigquery: the project of the schema lookup and `span_query`, and of "
                   "the query job when Beam's --project is not set (Beam bills the read to "
                   "--project, or to the temp dataset's project)"),
            Option(name="temp_dataset", metavar="[PROJECT:]DATASET", group="bigquery",
                   help="bigquery: an existing dataset for the query's temporary table "
                   "(default: Beam creates and deletes one)"),
            Option(name="bigquery_schema", metavar="FILE", group="bigquery",
                   help="bigquery: the result's schema as `bq show --schema` prints it "
                   "(default: asked of BigQuery, a dry-run query, when the pipeline is built)"),
            *_SQL_TYPES,
        ),
        executor="BigQueryExecutor",
    )
)  # fmt: skip
register(
    Format(
        name="sql",
        source="beam_ingest.connectors.sql:ReadSql",
        description="an SQL query's result (PostgreSQL, SQLite, DuckDB, SQLAlchemy URLs); "
        "docs/sql.md",
        inputs="beam_ingest.connectors.sql:resolve_inputs",
        options=(
            Option(name="connection", metavar="URL", group="sql",
                   help="sql: the database URL, e.g. postgresql://user@host:5432/db, "
                   "sqlite:///file.db, duckdb:///file.duckdb (a password here is never shown)"),
            Option(name="connection_env", metavar="VAR", group="sql",
                   help="sql: the environment variable holding the password (PGPASSWORD "
                   "also works for PostgreSQL)"),
            *_QUERIES,
            Option(name="partition_column", metavar="C", group="sql",
                   help="sql: read the query in `partitions` pieces cut on this column"),
            Option(name="partitions", parse=_options.integer(1), default=1, metavar="N",
                   group="sql",
                   help="sql: pieces read in parallel (default 1); without `partition_column` "
                   "a single-table PostgreSQL query is cut by block ranges"),
            Option(name="partition_method", choices=("range", "hash"), default="range",
                   group="sql",
                   help="sql: range (quantiles of `partition_column`, default) or hash"),
            *_SQL_TYPES,
        ),
        executor="SqlExecutor",
    )
)  # fmt: skip
register(
    Format(
        name="tfrecord",
        source="beam_ingest.connectors.tfrecord:ReadTFRecord",
        description="TFRecord files of serialized tf.Examples (or tf.SequenceExamples, "
        "or protos of any message), re-split as they are",
        extensions=(".tfrecord", ".tfrecords"),
        folder_names=("*tfrecord*",),  # TFX's data_tfrecord-00000-of-00001.gz
        options=(
            Option(name="input_compression", choices=("auto", "gzip", "none"), default="auto",
                   metavar="auto|gzip|none", group="tfrecord", stored=True,
                   help="TFRecord input: auto (gzip by the .gz extension), gzip or none"),
            Option(name="payload", choices=("example", "sequence_example", "proto"),
                   default="example", metavar="example|sequence_example|proto",
                   group="tfrecord", stored=True,
                   help="TFRecord input: the records are tf.Examples (default), "
                   "tf.SequenceExamples (written as such; split on a context feature), or "
                   "serialized protos of any message (TFX FORMAT_PROTO: written unchanged, "
                   "split by a hash of their bytes or, with proto_descriptor, on a field path)"),
            Option(name="proto_descriptor", metavar="FILE", group="tfrecord",
                   help="payload proto: a FileDescriptorSet of the records' message "
                   "(protoc --include_imports --descriptor_set_out=FILE); records that do not "
                   "parse as it are bad records, and partition_feature may name a field path "
                   "such as feature.name"),
            Option(name="proto_message", metavar="NAME", group="tfrecord",
                   help="payload proto: the full name of the records' message in "
                   "proto_descriptor (e.g. tensorflow.metadata.v0.Schema); needed when it "
                   "defines more than one"),
        ),
        executor="TFRecordExecutor",
    )
)  # fmt: skip


def _classes(given: object) -> list[str]:
    """A label vocabulary: a list of labels, or a file of one label a line."""
    if isinstance(given, list | tuple):
        labels = [str(c) for c in given]
    elif isinstance(given, str):
        from beam_ingest import files

        try:
            data = files.read_bytes(given)
        except Exception as e:  # noqa: BLE001 - any Beam filesystem's error
            raise ValueError(f"cannot read the file: {e}") from None
        labels = [line for line in data.decode("utf-8").splitlines() if line]
    else:
        raise TypeError("must be a file of one label a line, or a list of labels")
    return labels


register_output(
    OutputFormat(
        name="tfrecord",
        sink="beam_ingest.transforms.tfrecord_sink:TFRecordSink",
        description="TFRecords of tf.Example, gzip or plain (what TFX writes)",
        options=("compression", "compression_level"),
    )
)
register_output(
    OutputFormat(
        name="parquet",
        sink="beam_ingest.transforms.parquet_sink:ParquetSink",
        description="Parquet, one column per feature (TFX FORMAT_PARQUET)",
        options=("parquet_compression",),
    )
)
register_output(
    OutputFormat(
        name="array_record",
        sink="beam_ingest.transforms.array_record_sink:ArrayRecordSink",
        description="ArrayRecord files of serialized tf.Examples (random access, for Grain)",
        options=("array_record_options",),
    )
)
