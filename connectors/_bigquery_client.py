"""What `ReadBigQuery` asks BigQuery itself when the pipeline is built.

- the result's schema: a dry-run query job (free, nothing runs; BigQuery
  returns the result's schema), or `tables.get` for a table; as TFX's
  BigQueryExampleGen does with a `LIMIT 0` query;
- the rows of a `span_query` (a few span numbers).

Both use google-cloud-bigquery with the application default credentials.
A missing credential, a refused query or an unreachable service is a
`ConfigError` saying which (exit 2), within `TIMEOUT` seconds. Table and
dataset specs are parsed here too (`table_reference`, `dataset_reference`).
"""

from __future__ import annotations

from collections.abc import Mapping

from beam_ingest.errors import ConfigError

__all__ = ["TIMEOUT", "dataset_reference", "result_schema", "run_query", "table_reference"]

#: Seconds to wait for BigQuery when the pipeline is built.
TIMEOUT = 60.0


def table_reference(spec: str, project: str | None = None):
    """`project:dataset.table` or `dataset.table` as Beam's TableReference.

    Raises:
        ConfigError: not a table spec.
    """
    from apache_beam.io.gcp import bigquery_tools

    try:
        ref = bigquery_tools.parse_table_reference(spec, project=project)
    except ValueError as e:
        raise ConfigError(f"table: {spec!r} is not PROJECT:DATASET.TABLE ({e})") from None
    return ref


def dataset_reference(spec: str, project: str | None = None):
    """`project:dataset`, `project.dataset` or `dataset` as Beam's DatasetReference.

    Raises:
        ConfigError: not a dataset spec, or no project for it.
    """
    from apache_beam.io.gcp.internal.clients import bigquery

    head, sep, dataset = spec.replace(":", ".", 1).rpartition(".")
    owner = head if sep else project
    if not dataset or not owner or not dataset.replace("_", "").isalnum():
        raise ConfigError(
            f"temp_dataset: {spec!r} is not [PROJECT:]DATASET (a bare dataset needs "
            "bigquery_project)"
        )
    return bigquery.DatasetReference(projectId=owner, datasetId=dataset)


def _needs_package(error: ImportError) -> ConfigError:
    return ConfigError(
        f"bigquery: needs google-cloud-bigquery (pip install 'apache-beam[gcp]'): {error}"
    )


def _client(project: str | None):
    try:
        from google.auth.exceptions import DefaultCredentialsError
        from google.cloud import bigquery
    except ImportError as e:
        raise _needs_package(e) from None
    try:
        return bigquery.Client(project=project)
    except DefaultCredentialsError as e:
        raise ConfigError(
            "bigquery: no Google Cloud credentials here to ask BigQuery for the result's "
            "schema (run `gcloud auth application-default login`, or give the schema: "
            f"`bigquery_schema` FILE): {e}"
        ) from None
    except OSError as e:  # no project could be determined, or the metadata server
        raise ConfigError(f"bigquery: cannot make a BigQuery client: {e}") from None


def check_credentials() -> None:
    """Refuses to build a read that cannot run: Beam's BigQuery read looks for
    the application default credentials when it runs, retrying, and then
    starts an interactive OAuth flow on stdin.

    Raises:
        ConfigError: no application default credentials here.
    """
    try:
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError
    except ImportError as e:
        raise _needs_package(e) from None
    try:
        google.auth.default()
    except DefaultCredentialsError as e:
        raise ConfigError(
            "bigquery: no Google Cloud credentials here for Beam's BigQuery read (run "
            f"`gcloud auth application-default login`, or run on Dataflow): {e}"
        ) from None


def _refused(what: str, sql: str, error: Exception) -> ConfigError:
    message = getattr(error, "message", None) or str(error)
    return ConfigError(f"{what}: BigQuery refused it: {message}\n  query: {sql}")


def result_schema(*, query: str | None = None, table=None, project: str | None = None) -> list:
    """The result's BigQuery schema fields (as JSON), of a query or a table.

    Raises:
        ConfigError: no credentials, or BigQuery refused the query / has no
            such table (its message).
    """
    from google.api_core import exceptions as api

    client = _client(project)
    try:
        if table is not None:
            spec = f"{table.projectId or client.project}.{table.datasetId}.{table.tableId}"
            fields = client.get_table(spec, timeout=TIMEOUT).schema
        else:
            from google.cloud import bigquery

            config = bigquery.QueryJobConfig(dry_run=True, use_query_cache=False)
            fields = client.query(query, job_config=config, timeout=TIMEOUT).schema
    except (api.GoogleAPIError, OSError) as e:
        raise _refused("table" if table is not None else "query", query or str(table), e) from None
    return [f.to_api_repr() for f in fields]


def run_query(values: Mapping[str, object], sql: str) -> list[tuple]:
    """The rows of a small query (the `span_query`), in `bigquery_project`.

    Raises:
        ConfigError: no credentials, or BigQuery refused the query.
    """
    from google.api_core import exceptions as api

    client = _client(values.get("bigquery_project"))
    try:
        rows = client.query(sql, timeout=TIMEOUT).result(timeout=TIMEOUT)
        return [tuple(row.values()) for row in rows]
    except (api.GoogleAPIError, OSError) as e:
        raise _refused("span_query", sql, e) from None
