"""SQL queries to Arrow RecordBatches: `ReadSql` (docs/sql.md).

When the pipeline is built, the launching process connects, reads the
result's schema (refusing columns with no tf.Example form, by name and SQL
type), and cuts the query into partitions (`_sql_partition`). On PostgreSQL
(ADBC or SQLAlchemy) with more than one partition, or `share_snapshot` (one
of several queries: splits, spans), it first opens a `REPEATABLE READ`
transaction and exports its snapshot (`pg_export_snapshot()`), or joins the
one another `ReadSql` of the same pipeline on the same database exported
(`_sql_snapshot`); every partition sets that snapshot before it reads, so all
of them, in every split, see the same rows, and the launching process keeps
the exporting transaction open until they all have read. Work units are
partitions: each is streamed batch by batch (`_sql_connect.Session.batches`)
and never held whole; the type rules are `_sql_types`'.

A row whose values break the value contract is a dead letter named by the
partition and its row number in it; a partition whose columns or types differ
from the planned ones fails the run (nothing is published).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence

import apache_beam as beam
import pyarrow as pa

from beam_ingest.arrow_values import drop_rows
from beam_ingest.bad_records import BadRecord
from beam_ingest.connectors import _sql_partition, _sql_snapshot, _sql_types
from beam_ingest.connectors._sql_connect import BATCH_ROWS, Connection, DriverError
from beam_ingest.connectors._sql_spans import fill_span, resolve_inputs
from beam_ingest.errors import ConfigError, DataError
from beam_ingest.schema import Schema
from beam_ingest.source import ExtraOutputs, Source, SourceOutputs, source_outputs, with_file

__all__ = ["ReadSql", "fill_span", "resolve_inputs"]

_NAMESPACE = "beam_ingest"
_RAW_CHARS = 1_000
_LOG = logging.getLogger(__name__)


class ReadSql(Source):
    """Reads the result of one SQL query as RecordBatches under the value contract.

    Returns `SourceOutputs`: `records`, `bad_records` (`BadRecord`, `file`
    naming the partition, `record` the row's index in it), `counts` (one per
    partition) and `schema`.

    Args:
        query: one SELECT (a trailing `;` is dropped).
        connection: a URL (`postgresql://user@host/db`, `sqlite:///f.db`,
            `duckdb:///f.duckdb`, or any SQLAlchemy URL).
        connection_env: an environment variable holding the password.
        partition_column: cut the query by this result column.
        partitions: how many pieces (1: none; more without a column: block
            ranges of a single-table PostgreSQL query).
        partition_method: "range" (quantiles, hash when the values have no
            literal form) or "hash".
        decimal_as: "float" or "string" (exact text) for numeric/decimal.
        time_as: "int" (microseconds, UTC) or "string" (ISO-8601).
        batch_rows: rows per batch fetched.
        share_snapshot: this query is one of several read by the pipeline
            (splits, spans): on PostgreSQL read one snapshot with the others
            even with one partition (`from_options` sets it for several
            queries). A query joins a snapshot the pipeline already holds
            on its database whatever this says.
        label: the transform's label.

    Raises:
        ConfigError: a bad argument here; when the pipeline is built: the
            connection fails (host and port named, never the password), the
            query fails (the server's message and the query), or a column has
            no tf.Example form.
    """

    def __init__(
        self,
        query: str,
        *,
        connection: str,
        connection_env: str | None = None,
        partition_column: str | None = None,
        partitions: int = 1,
        partition_method: str = "range",
        decimal_as: str = "float",
        time_as: str = "int",
        batch_rows: int = BATCH_ROWS,
        share_snapshot: bool = False,
        label: str | None = None,
    ) -> None:
        super().__init__()
        self.label = label
        if not isinstance(query, str) or not query.strip().rstrip(";").strip():
            raise ConfigError("query: must be a non-empty SQL query")
        if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
            raise ConfigError(f"partitions: must be an int >= 1; got {partitions!r}")
        for name, value, allowed in (
            ("partition_method", partition_method, ("range", "hash")),
            ("decimal_as", decimal_as, ("float", "string")),
            ("time_as", time_as, ("int", "string")),
        ):
            if value not in allowed:
                raise ConfigError(f"{name}: must be one of {list(allowed)}; got {value!r}")
        self.query = query.strip().rstrip(";").strip()
        self.connection = Connection(connection, connection_env)
        self.partition_column = partition_column
        self.partitions = partitions
        self.partition_method = partition_method
        self.decimal_as = decimal_as
        self.time_as = time_as
        self.batch_rows = batch_rows
        self.share_snapshot = bool(share_snapshot)
        self._report: dict = {}
        self._snapshots: list[str] = []

    @classmethod
    def from_options(
        cls, pattern: str, options: Mapping[str, object], schema: Schema | None
    ) -> ReadSql:
        """`ReadSql` of the query `pattern` with the sql options; it shares the
        snapshot when `query_split` lists several queries (`resolve_inputs`
        lists there every query of a run reading more than one).

        Raises:
            ConfigError: a schema is given (a result has its own types), or no
                `connection`.
        """
        if schema is not None:
            raise ConfigError("schema: a query's result carries its own types; leave schema out")
        if not options.get("connection"):
            raise ConfigError("connection: required for format sql: a database URL")
        return cls(
            pattern,
            connection=options["connection"],
            connection_env=options.get("connection_env"),
            partition_column=options.get("partition_column"),
            partitions=options.get("partitions") or 1,
            partition_method=options.get("partition_method") or "range",
            decimal_as=options.get("decimal_as") or "float",
            time_as=options.get("time_as") or "int",
            share_snapshot=len(options.get("query_split") or []) > 1,
        )

    @classmethod
    def profile(cls, paths: Sequence[str], options: Mapping[str, object]) -> tuple[int, Schema]:
        raise ConfigError("registry push: format sql reads a database, not files")

    def expand(self, pbegin: beam.pvalue.PBegin) -> SourceOutputs:
        pipeline = pbegin.pipeline
        postgres = self.connection.dialect == "postgresql"
        joined = _sql_snapshot.shared(pipeline, self.connection) if postgres else None
        session = self.connection.open()
        snapshot = joined
        try:
            if joined is not None:  # plan in the pipeline's snapshot
                session.set_snapshot(joined)
            elif postgres and (self.partitions > 1 or self.share_snapshot):
                snapshot = session.export_snapshot()
            raw = _result_schema(session, self.query)
            _sql_types.check_schema(raw, self.query)
            if self.partition_column is not None and self.partition_column not in raw.names:
                raise ConfigError(
                    f"partition_column: {self.partition_column!r} is not a column of the "
                    f"query's result; its columns: {raw.names}"
                )
            empty = pa.RecordBatch.from_pylist([], schema=raw)
            converted = _sql_types.prepare(empty, self.decimal_as, self.time_as)[0].schema
            pieces = _sql_partition.plan(
                session,
                self.query,
                column=self.partition_column,
                partitions=self.partitions,
                method=self.partition_method,
            )
        except DriverError as e:
            message = _own_error(session, self.query) or e.message
            self._fail(session, joined)
            raise ConfigError(
                f"query: the database refused it: {message}\n  query: {self.query}"
                + (f"\n  (while running: {e.sql})" if e.sql.strip() != self.query else "")
            ) from None
        except BaseException:
            self._fail(session, joined)
            raise
        member = uuid.uuid4().hex
        if snapshot is None or joined is not None:
            session.close()
        if joined is not None:
            _sql_snapshot.join(joined, member)
        elif snapshot is not None:  # held open until every partition has set it
            _sql_snapshot.hold(pipeline, self.connection, session, snapshot, member)
        if snapshot is not None:
            self._snapshots.append(snapshot)
        self._report = {
            "connection": self.connection.redacted,
            "query": self.query,
            "partitions": [p.describe for p in pieces],
            "snapshot": snapshot is not None,
        }
        units = [(i, len(pieces), p.sql, p.describe) for i, p in enumerate(pieces)]
        read = (
            pbegin
            | "ListPartitions" >> beam.Create(units)
            | "ReadPartitions"
            >> beam.ParDo(
                _ReadPartitionFn(self.connection, snapshot, raw, converted, self.decimal_as,
                                 self.time_as, self.batch_rows)
            ).with_outputs("bad_records", "counts", main="records")
        )  # fmt: skip
        if snapshot is not None:  # all read: the last reader ends the snapshot (in process)
            _ = (
                read.counts
                | "PartitionsRead" >> beam.combiners.Count.Globally()
                | "EndSnapshot" >> beam.Map(_sql_snapshot.finished, snapshot, member)
            )
        schema = Schema.from_arrow(converted)
        return source_outputs(read, pbegin | "Schema" >> beam.Create([schema]))

    @staticmethod
    def _fail(session, joined: str | None) -> None:
        """Building failed: the pipeline cannot run, so the snapshot it holds
        on this database (if this query joined one) ends too."""
        session.close()
        if joined is not None:
            _sql_snapshot.release(joined)

    def close(self) -> None:
        """Ends the snapshot transaction now (the pipeline ends it once every
        partition has read, when it runs in the launching process), also for
        the other queries sharing it."""
        for snapshot in self._snapshots:
            _sql_snapshot.release(snapshot)
        self._snapshots = []

    def extra_outputs(self) -> ExtraOutputs:
        return ExtraOutputs({}, {"sql": self._report} if self._report else {})

    def display_data(self) -> dict:
        return {"connection": self.connection.redacted, "query": self.query}


def _own_error(session, query: str) -> str | None:
    """PostgreSQL's message for the user's query itself (PREPARE parses and
    plans it without running it), not for the wrapped one that failed."""
    if session.dialect != "postgresql" or not session.native:
        return None
    try:
        session.execute("ROLLBACK")
        session.execute(f"PREPARE beam_ingest_check AS {query}")
        session.execute("DEALLOCATE beam_ingest_check")
    except DriverError as e:
        return e.message.replace("PREPARE beam_ingest_check AS ", "")
    return None


def _result_schema(session, query: str) -> pa.Schema:
    """The query's result schema. SQLite types values, not columns (and the
    SQLAlchemy path types Python values): the types are inferred from rows,
    so a sample decides, and a column null in it takes the type of its first
    value anywhere in the result."""
    if session.native and session.dialect != "sqlite":
        return next(session.batches(_sql_partition.wrap(query) + " LIMIT 0"))
    stream = session.batches(_sql_partition.wrap(query) + " LIMIT 1000")
    schema = next(stream)
    sample = pa.Table.from_batches(list(stream), schema=schema)
    fields = []
    for field, column in zip(schema, sample.columns, strict=True):
        if column.null_count == len(column):
            key = _sql_partition.quote(field.name)
            first = session.batches(_sql_partition.wrap(query, f"{key} IS NOT NULL") + " LIMIT 1")
            found = next(first)
            seen = any(b.num_rows for b in first)
            field = pa.field(field.name, found.field(field.name).type if seen else pa.null())
        fields.append(field)
    return pa.schema(fields)


class _ReadPartitionFn(beam.DoFn):
    """One partition to batches, bad records and a count."""

    def __init__(self, connection, snapshot, raw, converted, decimal_as, time_as, batch_rows):
        self._connection = connection
        self._snapshot = snapshot
        self._raw = raw
        self._converted = converted
        self._decimal_as = decimal_as
        self._time_as = time_as
        self._batch_rows = batch_rows
        self._rows = beam.metrics.Metrics.counter(_NAMESPACE, "sql_records_read")
        self._bad = beam.metrics.Metrics.counter(_NAMESPACE, "sql_bad_records")

    def process(self, unit: tuple[int, int, str, str]) -> Iterator:
        index, count, sql, describe = unit
        name = f"sql partition {index + 1}/{count} ({describe})"
        read = bad = 0
        try:
            session = self._connection.open()
        except ConfigError as e:
            raise DataError(f"{name}: {e}") from None
        try:
            if self._snapshot is not None:
                self._set_snapshot(session, name)
            stream = session.batches(sql, self._batch_rows)
            self._check_columns(next(stream), name)
            for batch in stream:
                records, failures = _sql_types.prepare(batch, self._decimal_as, self._time_as)
                records = self._conform(records, name)
                records = drop_rows(records, failures)
                if records.num_rows:
                    yield with_file(records, name)
                for i, reason in sorted(failures.items()):
                    yield beam.pvalue.TaggedOutput(
                        "bad_records", BadRecord(name, read + i, reason, _raw(batch, i))
                    )
                read += batch.num_rows
                bad += len(failures)
        except DriverError as e:
            raise DataError(f"{name}: the database failed: {e}") from None
        finally:
            session.close()
        if read == 0 and count == 1:
            _LOG.warning("the query returned no rows: %s", sql)
        self._rows.inc(read)
        self._bad.inc(bad)
        yield beam.pvalue.TaggedOutput("counts", (name, read))

    def _set_snapshot(self, session, name: str) -> None:
        try:
            session.set_snapshot(self._snapshot)
        except DriverError as e:
            raise DataError(
                f"{name}: cannot read the exported snapshot {self._snapshot!r}; the launching "
                f"process must keep running until every partition has read: {e.message}"
            ) from None

    def _check_columns(self, schema: pa.Schema, name: str) -> None:
        if schema.names != self._raw.names:
            gone = [n for n in self._raw.names if n not in schema.names]
            new = [n for n in schema.names if n not in self._raw.names]
            raise DataError(
                f"{name}: the result's columns changed since the pipeline was built "
                f"(missing: {gone}, new: {new}, now: {schema.names})"
            )

    def _conform(self, records: pa.RecordBatch, name: str) -> pa.RecordBatch:
        """The batch with the planned types; a column null in the whole batch
        takes them, and SQLite integers in a float column are widened."""
        if records.schema.equals(self._converted):
            return records
        columns = []
        for field, column in zip(self._converted, records.columns, strict=True):
            if column.type != field.type:
                if column.null_count == len(column):
                    column = pa.nulls(len(column), field.type)
                elif pa.types.is_integer(column.type) and pa.types.is_floating(field.type):
                    column = column.cast(field.type)
                elif pa.types.is_null(field.type):
                    raise DataError(
                        f"{name}: column {field.name!r} is NULL everywhere in the sample the "
                        f"schema was taken from but holds {column.type} here; CAST it in the "
                        "query"
                    )
                else:
                    raise DataError(
                        f"{name}: column {field.name!r} changed type from {field.type} to "
                        f"{column.type}; CAST it in the query"
                    )
            columns.append(column)
        return pa.RecordBatch.from_arrays(columns, schema=self._converted)


def _raw(batch: pa.RecordBatch, row: int) -> str:
    """A short JSON text of one row (non-JSON values as their str())."""
    try:
        value = batch.slice(row, 1).to_pylist()[0]
    except (pa.ArrowException, ValueError):  # an extension type with no Python form
        value = {}
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= _RAW_CHARS else text[:_RAW_CHARS] + "..."
