"""SQL connections for `ReadSql`: URLs, secrets, drivers, streamed batches.

A connection URL is SQLAlchemy-style: `postgresql://user@host:5432/db`,
`sqlite:///relative.db` or `sqlite:////absolute.db`, `duckdb:///file.duckdb`;
any other scheme (`mysql+pymysql://...`, `postgresql+psycopg://...`) goes
through SQLAlchemy with a server-side cursor. Drivers:

| scheme      | driver                                   | batches                     |
| ----------- | ---------------------------------------- | --------------------------- |
| postgresql  | ADBC (`adbc-driver-postgresql`, libpq)   | `fetch_record_batch` stream |
| sqlite      | ADBC (`adbc-driver-sqlite`)              | `fetch_record_batch` stream |
| duckdb      | DuckDB's own Arrow API                   | `to_arrow_reader` stream    |
| other       | SQLAlchemy, `stream_results=True`        | rows fetched in batches     |

On PostgreSQL, through ADBC or SQLAlchemy, `Session.export_snapshot` and
`Session.set_snapshot` give `ReadSql` its one snapshot (`_sql_snapshot`).

The password comes from the URL, from `PGPASSWORD` (read by libpq itself),
or from the environment variable `connection_env` names, read when a
connection opens (on the worker), so it is never part of the pipeline's
pickled graph. `Connection.redacted` and every error message leave it out.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import urllib.parse
from collections.abc import Iterator

import pyarrow as pa

from beam_ingest.errors import ConfigError

__all__ = ["BATCH_ROWS", "Connection", "DriverError", "Session"]

BATCH_ROWS = 16_384
#: ADBC PostgreSQL batches by size: about 9,000 taxi rows, the size of a CSV
#: block's batch (16 MB, its default, costs about 200 MB more peak memory).
_PG_BATCH_BYTES = 4 << 20
_ARROW_NATIVE = ("postgresql", "postgres", "sqlite", "duckdb")


class DriverError(Exception):
    """A database error, its message scrubbed of the password; `message` is
    the database's own text, `sql` the statement."""

    def __init__(self, message: str, sql: str = "") -> None:
        super().__init__(f"{message}\n  query: {sql}" if sql else message)
        self.message = message
        self.sql = sql


@dataclasses.dataclass(frozen=True)
class Connection:
    """A connection URL and where its password comes from."""

    url: str
    password_env: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or "://" not in self.url:
            raise ConfigError(
                "connection: must be a URL such as postgresql://user@host:5432/db, "
                "sqlite:///file.db or duckdb:///file.duckdb"
            )
        if self.password_env is not None and not (
            isinstance(self.password_env, str) and self.password_env
        ):
            raise ConfigError("connection_env: must name an environment variable")

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0].lower()

    @property
    def dialect(self) -> str:
        """postgresql, sqlite, duckdb, or the SQLAlchemy dialect of another URL."""
        base = self.scheme.split("+", 1)[0]
        return "postgresql" if base == "postgres" else base

    @property
    def arrow_native(self) -> bool:
        return self.scheme in _ARROW_NATIVE

    def _parts(self) -> urllib.parse.SplitResult:
        return urllib.parse.urlsplit(self.url)

    @property
    def redacted(self) -> str:
        """The URL with any password replaced by `***`."""
        parts = self._parts()
        if parts.password is None:
            return self.url
        netloc = parts.netloc.rsplit("@", 1)
        user = netloc[0].split(":", 1)[0]
        return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))

    @property
    def where(self) -> str:
        """host:port (or the file) for error messages."""
        if self.dialect in ("sqlite", "duckdb"):
            return repr(self.path)
        parts = self._parts()
        return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"

    @property
    def path(self) -> str:
        """The database file of a sqlite:/// or duckdb:/// URL (`:memory:` if none)."""
        rest = self.url.split("://", 1)[1]
        path = rest[1:] if rest.startswith("/") else rest
        return urllib.parse.unquote(path.split("?", 1)[0]) or ":memory:"

    def _password(self) -> str | None:
        if self.password_env is None:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise ConfigError(
                f"connection_env: the environment variable {self.password_env!r} is not set"
            )
        return value

    def _url_with_password(self) -> str:
        password = self._password()
        if password is None:
            return self.url
        parts = self._parts()
        netloc = parts.netloc.rsplit("@", 1)
        if len(netloc) == 1:
            raise ConfigError("connection_env: the connection URL names no user")
        user = netloc[0].split(":", 1)[0]
        secret = urllib.parse.quote(password, safe="")
        return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:{secret}@{netloc[1]}"))

    def scrub(self, message: str) -> str:
        """`message` without the password (from the URL or the environment)."""
        secrets = [self._parts().password]
        if self.password_env:
            secrets.append(os.environ.get(self.password_env))
        for secret in filter(None, secrets):
            message = message.replace(secret, "***")
            message = message.replace(urllib.parse.quote(secret, safe=""), "***")
        return message.replace(self.url, self.redacted)

    def open(self) -> Session:
        """A session on the database.

        Raises:
            ConfigError: the driver is missing, or the server refuses the
                connection (named by host and port, without the password).
        """
        try:
            return Session(self, _connect(self))
        except ConfigError:
            raise
        except ImportError as e:
            raise ConfigError(f"connection: {self.scheme}:// needs a package: {e}") from None
        except Exception as e:  # noqa: BLE001 - every driver has its own errors
            raise ConfigError(
                f"connection: cannot connect to {self.dialect} at {self.where}: "
                f"{self.scrub(str(e)).strip()}"
            ) from None


def _connect(connection: Connection):
    dialect = connection.dialect
    if dialect == "postgresql" and connection.arrow_native:
        import adbc_driver_postgresql.dbapi as pg

        url = connection._url_with_password().replace("postgres://", "postgresql://", 1)
        return pg.connect(url, autocommit=True)
    if dialect == "sqlite" and connection.arrow_native:
        import adbc_driver_sqlite.dbapi as sqlite

        if connection.path != ":memory:" and not os.path.exists(connection.path):
            raise ConfigError(f"connection: the SQLite file {connection.path!r} does not exist")
        return sqlite.connect(f"file:{connection.path}?mode=ro", autocommit=True)
    if dialect == "duckdb" and connection.arrow_native:
        import duckdb

        if connection.path == ":memory:":
            return duckdb.connect()
        if not os.path.exists(connection.path):
            raise ConfigError(f"connection: the DuckDB file {connection.path!r} does not exist")
        return duckdb.connect(connection.path, read_only=True)
    import sqlalchemy

    engine = sqlalchemy.create_engine(connection._url_with_password())
    return engine.connect()


class Session:
    """One open connection: statements, and queries streamed as RecordBatches."""

    def __init__(self, connection: Connection, raw) -> None:
        self.connection = connection
        self.raw = raw
        self.dialect = connection.dialect
        self.native = connection.arrow_native

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken connection
            self.raw.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _error(self, e: Exception, sql: str) -> DriverError:
        if isinstance(e, DriverError):
            return e
        text = self.connection.scrub(str(e)).strip()
        return DriverError(_clean(text), sql)

    def execute(self, sql: str) -> list[tuple]:
        """Runs one statement; its rows (a small result: planning queries).

        Raises:
            DriverError: the database refused it (its message and the query).
        """
        try:
            if not self.native:
                import sqlalchemy

                result = self.raw.execute(sqlalchemy.text(sql))
                return [tuple(r) for r in result] if result.returns_rows else []
            if self.dialect == "duckdb":
                return self.raw.execute(sql).fetchall()
            cursor = self.raw.cursor()
            try:
                cursor.execute(sql)
                return [tuple(r) for r in cursor.fetchall()] if cursor.description else []
            finally:
                cursor.close()
        except Exception as e:  # noqa: BLE001 - every driver has its own errors
            raise self._error(e, sql) from None

    def export_snapshot(self) -> str:
        """Begins a `REPEATABLE READ` transaction and exports its snapshot
        (PostgreSQL); the snapshot's id.

        Raises:
            DriverError: the database refused it.
        """
        self._begin_repeatable_read()
        if not self.native:
            self.execute("SET TRANSACTION READ ONLY")
        return str(self.execute("SELECT pg_export_snapshot()")[0][0])

    def set_snapshot(self, snapshot: str) -> None:
        """Begins a `REPEATABLE READ` transaction reading the exported `snapshot`.

        Raises:
            DriverError: the database refused it (the exporting transaction
                has ended, or the id is unknown).
        """
        self._begin_repeatable_read()
        self.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        if not self.native:
            self.execute("SET TRANSACTION READ ONLY")

    def _begin_repeatable_read(self) -> None:
        """ADBC runs in autocommit mode: an explicit BEGIN. SQLAlchemy begins
        a transaction itself before the first statement, at the connection's
        isolation level (the SQLAlchemy dialect's `isolation_level`); READ ONLY
        is then a `SET TRANSACTION` (not a query: the snapshot can still be set)."""
        if self.native:
            self.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return
        try:
            self.raw.execution_options(isolation_level="REPEATABLE READ")
        except Exception as e:  # noqa: BLE001 - every driver has its own errors
            raise self._error(e, "isolation_level=REPEATABLE READ") from None

    def batches(self, sql: str, batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
        """The result of `sql`, batch by batch (never whole in memory); the
        first item is the result's Arrow schema.

        Raises:
            DriverError: the database refused the query or failed while
                streaming it.
        """
        try:
            if not self.native:
                yield from _sqlalchemy_batches(self.raw, sql, batch_rows)
                return
            if self.dialect == "duckdb":
                reader = self.raw.sql(sql).to_arrow_reader(batch_rows)
                cursor = None
            else:
                cursor = self.raw.cursor()
                if self.dialect == "sqlite":
                    cursor.adbc_statement.set_options(
                        **{"adbc.sqlite.query.batch_rows": str(batch_rows)}
                    )
                else:
                    cursor.adbc_statement.set_options(
                        **{"adbc.postgresql.batch_size_hint_bytes": str(_PG_BATCH_BYTES)}
                    )
                cursor.execute(sql)
                reader = cursor.fetch_record_batch()
            try:
                yield reader.schema
                yield from reader
            finally:
                if cursor is not None:
                    cursor.close()
        except Exception as e:  # noqa: BLE001 - every driver has its own errors
            raise self._error(e, sql) from None


def _clean(text: str) -> str:
    """A driver's message without ADBC's wrapping: status, the repeated
    query, the LINE/caret lines (they point into a rewritten query)."""
    text = text.split("\nQuery was:", 1)[0]
    text = re.sub(r"^[A-Z_]+: ", "", text.strip())
    text = re.sub(r"^(\[\w+\] )?Failed to (execute|prepare) query( '.*?')?: ", "", text, flags=re.S)
    sqlstate = re.search(r"SQLSTATE: (\w+)", text)
    lines = [
        line for line in text.splitlines()
        if not line.startswith("LINE ") and line.strip() not in ("^", "") and "SQLSTATE" not in line
    ]  # fmt: skip
    text = " ".join(line.strip() for line in lines).removeprefix("ERROR:").strip()
    return f"{text} (SQLSTATE {sqlstate.group(1)})" if sqlstate else text


def _sqlalchemy_batches(conn, sql: str, batch_rows: int) -> Iterator:
    """Rows of a server-side cursor, `batch_rows` at a time, as RecordBatches
    whose types are fixed by the first batch (later batches are cast)."""
    import sqlalchemy

    result = conn.execution_options(stream_results=True, max_row_buffer=batch_rows).execute(
        sqlalchemy.text(sql)
    )
    names = list(result.keys())
    schema = None
    pending = []
    for rows in result.partitions(batch_rows):
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
        arrays = [pa.array(list(c)) for c in columns]
        if schema is None:
            schema = pa.schema([pa.field(n, a.type) for n, a in zip(names, arrays, strict=True)])
            pending.append(schema)
        else:
            arrays = [_widen(a, f) for a, f in zip(arrays, schema, strict=True)]
        pending.append(pa.RecordBatch.from_arrays(arrays, schema=schema))
        yield from pending
        pending = []
    if schema is None:
        yield pa.schema([pa.field(n, pa.null()) for n in names])


def _widen(array: pa.Array, field: pa.Field) -> pa.Array:
    if array.type == field.type or pa.types.is_null(array.type):
        return pa.nulls(len(array), field.type) if pa.types.is_null(array.type) else array
    try:
        return array.cast(field.type)
    except pa.ArrowException as e:
        raise DriverError(
            f"column {field.name!r} changed type from {field.type} to {array.type} "
            "between batches; CAST it in the query"
        ) from e
