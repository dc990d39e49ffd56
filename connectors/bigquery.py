"""BigQuery to Arrow RecordBatches: `ReadBigQuery` (docs/sql.md, "BigQuery").

The rows come from Beam's `ReadFromBigQuery` with `method=DIRECT_READ`: a
query runs into a temporary table (or a table is read as it is) and the
BigQuery Storage Read API streams it in Arrow (`use_native_datetime=True`:
DATETIME arrives as a datetime, not as text). In Beam 2.77 that transform
yields one Python dict per row whatever the wire format (its `output_type`
is `PYTHON_DICT` or `BEAM_ROW`, neither columnar), so the rows are batched
(`BatchElements`) and each batch becomes one RecordBatch of the result's
Arrow schema; the type rules are the SQL source's (`_bigquery_types`).

The result's schema is known when the pipeline is built: from
`bigquery_schema` (the JSON `bq show --schema` prints) or asked of BigQuery
with a dry-run query (`_bigquery_client`). A column with no tf.Example form
is a `ConfigError` naming it and its BigQuery type; a row whose columns
differ from it fails the run, a value that does not fit it is a dead letter.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping, Sequence

import apache_beam as beam
import pyarrow as pa

from beam_ingest.arrow_values import drop_rows
from beam_ingest.bad_records import BadRecord
from beam_ingest.connectors import _bigquery_client, _bigquery_types, _sql_spans
from beam_ingest.errors import ConfigError, DataError
from beam_ingest.schema import Schema
from beam_ingest.source import ExtraOutputs, Source, SourceOutputs, with_file

__all__ = ["ReadBigQuery", "resolve_inputs"]

_NAMESPACE = "beam_ingest"
_BATCH_ROWS = 10_000
_RAW_CHARS = 1_000
_LOG = logging.getLogger(__name__)


def resolve_inputs(values: Mapping[str, object]):
    """The format table's `inputs` hook: the SQL source's (`_sql_spans`), with
    `table` taking a query's place (its span specs filled the same way) and
    `span_query` run on BigQuery."""
    if values.get("table"):
        given = [n for n in ("query", "query_file", "query_split") if values.get(n)]
        if given:
            raise ConfigError(f"table: cannot go with `{given[0]}`; give one of them")
        values = {**values, "query": values["table"]}
    return _sql_spans.resolve_inputs(values, fmt="bigquery", run_query=_bigquery_client.run_query)


class ReadBigQuery(Source):
    """Reads a BigQuery query's result (or a table) as RecordBatches under the
    value contract, through `ReadFromBigQuery(method=DIRECT_READ)`.

    Returns `SourceOutputs`: `records`, `bad_records` (`BadRecord`, `file`
    naming the query or table, `record` the row's index in its batch: rows
    have no order), `counts` (one, all rows read) and `schema`.

    Args:
        query: a GoogleSQL (standard SQL) query; or give `table`.
        table: `project:dataset.table` or `dataset.table`, read without a query.
        project: the project of the schema lookup (default: the pipeline's
            `--project`); given to `ReadFromBigQuery`, which runs the query
            job in the temp dataset's project, else the pipeline's
            `--project`, and only without both in this one.
        temp_dataset: `[project:]dataset` for the query's temporary table
            (default: Beam makes a temporary dataset and deletes it).
        bigquery_schema: the result's BigQuery schema (a JSON list of fields,
            or what `bq show --schema` prints); default: asked of BigQuery.
        decimal_as: "float" or "string" (exact text) for NUMERIC/BIGNUMERIC.
        time_as: "int" (microseconds, UTC) or "string" (ISO-8601).
        batch_rows: at most this many rows per RecordBatch.
        label: the transform's label.

    Raises:
        ConfigError: a bad argument here; when the pipeline is built: no
            credentials to ask for the schema, BigQuery refuses the query, or
            a column has no tf.Example form (named, with its BigQuery type).
    """

    def __init__(
        self,
        query: str | None = None,
        *,
        table: str | None = None,
        project: str | None = None,
        temp_dataset: str | None = None,
        bigquery_schema: object = None,
        decimal_as: str = "float",
        time_as: str = "int",
        batch_rows: int = _BATCH_ROWS,
        label: str | None = None,
    ) -> None:
        super().__init__()
        self.label = label
        if (query is None) == (table is None):
            raise ConfigError("ReadBigQuery: give either query or table")
        if query is not None and (not isinstance(query, str) or not query.strip(" ;\n\t")):
            raise ConfigError("query: must be a non-empty SQL query")
        for name, value, allowed in (
            ("decimal_as", decimal_as, ("float", "string")),
            ("time_as", time_as, ("int", "string")),
        ):
            if value not in allowed:
                raise ConfigError(f"{name}: must be one of {list(allowed)}; got {value!r}")
        if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
            raise ConfigError(f"batch_rows: must be an int >= 1; got {batch_rows!r}")
        self.query = query.strip().rstrip(";").strip() if query is not None else None
        self.table = _bigquery_client.table_reference(table, project) if table else None
        self.project = project
        self.temp_dataset = (
            _bigquery_client.dataset_reference(temp_dataset, project) if temp_dataset else None
        )
        self.fields = _bigquery_types.load_schema(bigquery_schema) if bigquery_schema else None
        self.decimal_as = decimal_as
        self.time_as = time_as
        self.batch_rows = batch_rows
        self._report: dict = {}

    @classmethod
    def from_options(
        cls, pattern: str, options: Mapping[str, object], schema: Schema | None
    ) -> ReadBigQuery:
        """`ReadBigQuery` of the query (or, with `table`, the table) `pattern`.

        Raises:
            ConfigError: a schema is given (the result has its own types), or
                `bigquery_schema` cannot be read.
        """
        if schema is not None:
            raise ConfigError(
                "schema: a query's result carries its own types; leave schema out (the "
                "result's BigQuery schema is bigquery_schema)"
            )
        fields = None
        if options.get("bigquery_schema"):
            from beam_ingest import files

            path = options["bigquery_schema"]
            try:
                fields = files.read_bytes(path).decode("utf-8")
            except Exception as e:  # noqa: BLE001 - any Beam filesystem's error
                raise ConfigError(f"bigquery_schema: cannot read {path!r}: {e}") from None
            try:
                fields = _bigquery_types.load_schema(fields)
            except json.JSONDecodeError as e:
                raise ConfigError(f"bigquery_schema: {path!r} is not JSON: {e}") from None
            except ConfigError as e:
                raise ConfigError(f"{e} (in {path!r})") from None
        by_table = bool(options.get("table"))
        return cls(
            None if by_table else pattern,
            table=pattern if by_table else None,
            project=options.get("bigquery_project"),
            temp_dataset=options.get("temp_dataset"),
            bigquery_schema=fields,
            decimal_as=options.get("decimal_as") or "float",
            time_as=options.get("time_as") or "int",
        )

    @classmethod
    def profile(cls, paths: Sequence[str], options: Mapping[str, object]) -> tuple[int, Schema]:
        raise ConfigError("registry push: format bigquery reads BigQuery, not files")

    @property
    def name(self) -> str:
        """How dead letters and counts name this read."""
        if self.table is not None:
            return f"bigquery table {self._table_spec()}"
        digest = hashlib.sha1(self.query.encode()).hexdigest()[:8]  # a name, not security
        return f"bigquery query {digest}"

    def _table_spec(self) -> str:
        t = self.table
        return (
            f"{t.projectId}:{t.datasetId}.{t.tableId}"
            if t.projectId
            else f"{t.datasetId}.{t.tableId}"
        )

    def read_kwargs(self) -> dict:
        """The arguments given to Beam's `ReadFromBigQuery`."""
        kwargs = {
            "method": beam.io.ReadFromBigQuery.Method.DIRECT_READ,
            "use_native_datetime": True,  # the Storage API's Arrow format
        }
        if self.table is not None:
            kwargs["table"] = self._table_spec()
        else:
            kwargs.update(query=self.query, use_standard_sql=True)
        if self.project:
            kwargs["project"] = self.project
        if self.temp_dataset is not None:
            kwargs["temp_dataset"] = self.temp_dataset
        return kwargs

    def expand(self, pbegin: beam.pvalue.PBegin) -> SourceOutputs:
        from apache_beam.options.pipeline_options import GoogleCloudOptions, TestOptions

        fields = self.fields
        if fields is None:
            project = self.project or pbegin.pipeline.options.view_as(GoogleCloudOptions).project
            fields = _bigquery_client.result_schema(
                query=self.query, table=self.table, project=project
            )
        if not pbegin.pipeline.options.view_as(TestOptions).dry_run:
            _bigquery_client.check_credentials()  # else Beam's read waits on an OAuth flow
        where = "table" if self.table is not None else "query"
        raw = _bigquery_types.arrow_schema(fields, where)
        empty = pa.RecordBatch.from_pylist([], schema=raw)
        converted = _bigquery_types.prepare(empty, self.decimal_as, self.time_as)[0].schema
        self._report = {
            key: value
            for key, value in {
                "query": self.query,
                "table": self._table_spec() if self.table is not None else None,
                "method": "DIRECT_READ",
                "project": self.project,
                "columns": {f["name"]: _bigquery_types.bq_type(f) for f in fields},
            }.items()
            if value is not None
        }
        read = (
            pbegin
            | "ReadFromBigQuery" >> beam.io.ReadFromBigQuery(**self.read_kwargs())
            | "BatchRows" >> beam.BatchElements(min_batch_size=1, max_batch_size=self.batch_rows)
            | "ToRecordBatches"
            >> beam.ParDo(
                _ToBatchFn(self.name, raw, converted, self.decimal_as, self.time_as)
            ).with_outputs("bad_records", "counts", main="records")
        )
        counts = (
            read.counts
            | "CountRows" >> beam.CombineGlobally(sum)
            | "NameCount" >> beam.Map(_named_count, self.name, self.query or self._table_spec())
        )
        schema = pbegin | "Schema" >> beam.Create([Schema.from_arrow(converted)])
        return SourceOutputs(read.records, read.bad_records, counts, schema)

    def extra_outputs(self) -> ExtraOutputs:
        return ExtraOutputs({}, {"bigquery": self._report} if self._report else {})

    def display_data(self) -> dict:
        return {"query": self.query or "", "table": self._table_spec() if self.table else ""}


def _named_count(total: int, name: str, what: str) -> tuple[str, int]:
    if total == 0:
        _LOG.warning("BigQuery returned no rows: %s", what)
    return name, total


class _ToBatchFn(beam.DoFn):
    """A list of row dicts to one RecordBatch, dead letters and a count."""

    def __init__(self, name, raw, converted, decimal_as, time_as):
        self._name = name
        self._raw = raw
        self._converted = converted
        self._decimal_as = decimal_as
        self._time_as = time_as
        self._rows = beam.metrics.Metrics.counter(_NAMESPACE, "bigquery_records_read")
        self._bad = beam.metrics.Metrics.counter(_NAMESPACE, "bigquery_bad_records")

    def process(self, rows: list[dict]) -> Iterator:
        expected = set(self._raw.names)
        for row in rows:
            if row.keys() != expected:
                raise DataError(
                    f"{self._name}: a row's columns differ from the result's schema the "
                    f"pipeline was built with (missing: {sorted(expected - row.keys())}, "
                    f"new: {sorted(row.keys() - expected)})"
                )
        batch, failures = _bigquery_types.to_batch(rows, self._raw)
        records, more = _bigquery_types.prepare(batch, self._decimal_as, self._time_as)
        failures = {**more, **failures}
        if not records.schema.equals(self._converted):
            records = records.cast(self._converted)
        records = drop_rows(records, failures)
        if records.num_rows:
            yield with_file(records, self._name)
        for i, reason in sorted(failures.items()):
            yield beam.pvalue.TaggedOutput(
                "bad_records", BadRecord(self._name, i, reason, _raw_text(rows[i]))
            )
        self._rows.inc(len(rows))
        self._bad.inc(len(failures))
        yield beam.pvalue.TaggedOutput("counts", len(rows))


def _raw_text(row: Mapping) -> str:
    """A short JSON text of one row (non-JSON values as their str())."""
    text = json.dumps(row, default=str, ensure_ascii=False)
    return text if len(text) <= _RAW_CHARS else text[:_RAW_CHARS] + "..."
