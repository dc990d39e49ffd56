"""Queries of `--format sql` from the options, with their spans filled in.

`resolve_inputs(values)` is the format table's `inputs` hook: it takes the
queries from `query`, `query_file` or `query_split` (or from `input` /
`input_split`, where TFX puts a split's query), and gives back the option
values with `input`/`input_split` set (and `query_split` listing every query
read, split by split and span by span, when there are several: each
`ReadSql` then shares the run's snapshot), the queries per split as
`[(query, span)]`, and the report fields.

A query may hold `{SPAN}`, `{YYYY}`, `{MM}`, `{DD}` (the span as a date, days
since 1970-01-01 as in TFX) and TFX's `@span_begin_timestamp`,
`@span_end_timestamp` (seconds) and `@span_yyyymmdd_utc` (a quoted
'YYYYMMDD'). The spans come from `span` N, `span_range` A:B, or, with
`last_spans` K or no span option, from `span_query`: a query returning the
available span numbers in its first column (the latest one, or the K latest).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping

from beam_ingest.errors import ConfigError

__all__ = ["fill_span", "resolve_inputs"]

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_SPECS = re.compile(r"\{(SPAN|YYYY|MM|DD)\}|@span_(begin_timestamp|end_timestamp|yyyymmdd_utc)")
_VERSION = re.compile(r"\{VERSION(:[^}]*)?\}|\{SPAN:[^}]*\}")


def fill_span(query: str, span: int) -> str:
    """`query` with its span specs filled for `span` (TFX's rules)."""
    begin = _EPOCH + datetime.timedelta(days=span)
    end = begin + datetime.timedelta(days=1)
    spelled = {
        "SPAN": str(span),
        "YYYY": f"{begin.year:04d}",
        "MM": f"{begin.month:02d}",
        "DD": f"{begin.day:02d}",
        "begin_timestamp": str(int(begin.timestamp())),
        "end_timestamp": str(int(end.timestamp())),
        "yyyymmdd_utc": begin.strftime("'%Y%m%d'"),
    }
    return _SPECS.sub(lambda m: spelled[m.group(1) or m.group(2)], query)


def _read_file(path: str) -> str:
    from beam_ingest import files

    try:
        return files.read_bytes(path).decode("utf-8")
    except Exception as e:  # noqa: BLE001 - any Beam filesystem's error
        raise ConfigError(f"query_file: cannot read {path!r}: {e}") from None


def _queries(values: Mapping[str, object], fmt: str) -> tuple[dict[str, str], bool]:
    """{split or 'all': query}, and whether they are input splits."""
    given = [n for n in ("query", "query_file", "query_split") if values.get(n)]
    files = [n for n in ("input", "input_split") if values.get(n)]
    if len(given) > 1:
        raise ConfigError(f"{given[1]}: cannot go with `{given[0]}`; give one of them")
    if given and files:
        raise ConfigError(
            f"{files[0]}: not used with format {fmt}; the queries come from `{given[0]}`"
        )
    if values.get("query"):
        return {"all": values["query"]}, False
    if values.get("query_file"):
        return {"all": _read_file(values["query_file"])}, False
    if values.get("input"):  # TFX: the input split's pattern is the query
        return {"all": values["input"]}, False
    items = values.get("query_split") or values.get("input_split") or []
    if not items:
        raise ConfigError(f"query: required for format {fmt}: the SQL query (or query_split)")
    splits: dict[str, str] = {}
    for item in items:
        name, query = item if isinstance(item, tuple | list) else str(item).split("=", 1)
        if name in splits:
            raise ConfigError(f"query_split: split {name!r} is given twice")
        splits[name] = query
    return splits, True


def _available_spans(values: Mapping[str, object], run_query=None) -> list[int]:
    """The span numbers `span_query` lists; `run_query(values, sql)` gives its
    rows (default: on the `connection`)."""
    query = values.get("span_query")
    if not query:
        raise ConfigError(
            "span_query: the queries hold span specs; give `span` N, `span_range` A:B, or a "
            "span_query listing the available spans (for the latest, or `last_spans` K)"
        )
    rows = (run_query or _run_on_connection)(values, query)
    spans = sorted({int(r[0]) for r in rows if r and r[0] is not None})
    if not spans:
        raise ConfigError(f"span_query: returned no span: {query!r}")
    return spans


def _run_on_connection(values: Mapping[str, object], query: str) -> list:
    from beam_ingest.connectors._sql_connect import Connection, DriverError

    if not values.get("connection"):
        raise ConfigError("connection: required for format sql: a database URL")
    with Connection(values["connection"], values.get("connection_env")).open() as session:
        try:
            rows = session.execute(query)
        except DriverError as e:
            raise ConfigError(f"span_query: the database refused it: {e}") from None
    return rows


def resolve_inputs(values: Mapping[str, object], *, fmt: str = "sql", run_query=None):
    """(option values, {split: [(query, span)]}, report fields); see the module.
    `run_query(values, sql)` gives the rows of `span_query` (default: run on
    the `connection`).

    Raises:
        ConfigError: no query, or queries and options that do not go together.
    """
    queries, as_splits = _queries(values, fmt)
    for name, query in queries.items():
        if _VERSION.search(query):
            raise ConfigError(
                f"query: {{VERSION}} and {{SPAN:width}} are not supported in queries "
                f"(split {name!r}); use {{SPAN}}"
            )
    spanned = [bool(_SPECS.search(q)) for q in queries.values()]
    selection = {n: values.get(n) for n in ("span", "span_range", "last_spans")}
    chosen = {n: v for n, v in selection.items() if v is not None}
    fields: dict = {}
    if not any(spanned):
        if chosen or values.get("span_query"):
            name = next(iter(chosen), "span_query")
            raise ConfigError(f"{name}: the queries hold no {{SPAN}} or date spec")
        if values.get("span_feature"):
            raise ConfigError("span_feature: needs a query with {SPAN} or a date spec")
        resolved = {name: [(q, None)] for name, q in queries.items()}
    else:
        if not all(spanned):
            raise ConfigError("query_split: either every split's query holds span specs or none")
        if "span" in chosen:
            spans = [chosen["span"]]
        elif "span_range" in chosen:
            start, end = chosen["span_range"]
            spans = list(range(start, end + 1))
        else:
            available = _available_spans(values, run_query)
            spans = available[-(chosen.get("last_spans") or 1) :]
        resolved = {name: [(fill_span(q, s), s) for s in spans] for name, q in queries.items()}
        fields = {"span": spans[-1], "spans": spans, "version": None}
    reads = [(n, q) for n, items in resolved.items() for q, _ in items]
    updated = {
        **values, "span": None, "span_range": None, "last_spans": None,
        "input": None if as_splits else next(iter(queries.values())),
        "input_split": [(n, q) for n, q in queries.items()] if as_splits else [],
        # Every query read, when more than one: each shares the snapshot.
        "query_split": reads if len(reads) > 1 else values.get("query_split"),
    }  # fmt: skip
    return updated, resolved, fields
