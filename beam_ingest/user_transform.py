"""A user function on every batch before encoding: `--transform-fn FILE.py:FN`.

The function takes a `pyarrow.RecordBatch` and returns one (or a
`pyarrow.Table`): a column renamed, two text fields joined, labels mapped,
rows filtered. It runs between a source and `ToTFExample`, for any source;
batches of serialized examples (TFRecord input) are decoded to columns first
(tfx_bsl's decoder: every feature a list column; a feature an example lacks
becomes present and empty).

- Where it comes from: `path/to/file.py:fn` (the file is read once, when the
  config is built, from any Beam filesystem, and its text travels with the
  pipeline, so workers need no copy), `package.module:fn` (imported on the
  workers too: install it there), or, from Python, any picklable callable.
- Errors: an exception the function raises fails the run with a DataError
  naming the function and the batch's file. Connectors put the file in the
  batch's schema metadata (`beam_ingest.source.FILE_METADATA`: CSV and
  Parquet do); for a batch without it the message names the source's file if
  it has one, else how many files it has and the first.
- Counting: rows in minus rows out, summed over batches, is the report's
  `transform.records_dropped` (negative if the function adds rows), and the
  check "records read = examples written + bad records" counts them.
- Schema: the output's kinds, merged over batches, replace the source's.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import types
from collections.abc import Callable, Iterator, Sequence

import apache_beam as beam

from beam_ingest.errors import ConfigError, DataError

__all__ = ["ApplyTransformFn", "TransformFn"]

_NAMESPACE = "beam_ingest"
_SPEC = re.compile(r"(?P<where>.+):(?P<name>[A-Za-z_][A-Za-z0-9_]*)\Z")


@dataclasses.dataclass(frozen=True)
class TransformFn:
    """A user function, loadable wherever the pipeline runs.

    Build it with `TransformFn.load`; `function()` returns the callable.
    """

    spec: str
    name: str
    source: str | None = None  # the text of FILE.py
    module: str | None = None  # an importable module
    fn: Callable | None = None

    @classmethod
    def load(cls, value: str | Callable | TransformFn) -> TransformFn:
        """Parses and loads `FILE.py:FN`, `MODULE:FN` or a callable.

        Raises:
            ConfigError: not of that form, the file or module cannot be loaded,
                or the name is missing or not callable.
        """
        if isinstance(value, TransformFn):
            return value
        if callable(value) and not isinstance(value, str):
            name = getattr(value, "__qualname__", type(value).__name__)
            return cls(spec=name, name=name, fn=value)
        if not isinstance(value, str):
            raise ConfigError(
                f"--transform-fn: expected FILE.py:FUNCTION, MODULE:FUNCTION or a callable; "
                f"got {value!r}"
            )
        found = _SPEC.match(value)
        if found is None:
            raise ConfigError(
                f"--transform-fn: expected FILE.py:FUNCTION or MODULE:FUNCTION; got {value!r}"
            )
        where, name = found.group("where"), found.group("name")
        if where.endswith(".py"):
            from beam_ingest import files

            try:
                source = files.read_bytes(where).decode("utf-8")
            except Exception as e:
                raise ConfigError(f"--transform-fn: cannot read {where!r}: {e}") from e
            loaded = cls(spec=value, name=name, source=source)
        else:
            loaded = cls(spec=value, name=name, module=where)
        loaded.function()  # fails here, before the pipeline, if it cannot load
        return loaded

    def function(self) -> Callable:
        """The callable (compiling or importing it on first use in a process).

        Raises:
            ConfigError: it cannot be loaded or is not callable.
        """
        if self.fn is not None:
            return self.fn
        if self.source is not None:
            where = self.spec.rsplit(":", 1)[0]
            module = types.ModuleType(f"beam_ingest_transform_fn_{self.name}")
            module.__file__ = where
            try:
                exec(compile(self.source, where, "exec"), module.__dict__)
            except Exception as e:
                raise ConfigError(
                    f"--transform-fn: {where!r} fails to load: {type(e).__name__}: {e}"
                ) from e
        else:
            try:
                module = importlib.import_module(self.module)
            except Exception as e:
                raise ConfigError(
                    f"--transform-fn: cannot import {self.module!r}: {type(e).__name__}: {e}"
                ) from e
        fn = getattr(module, self.name, None)
        if not callable(fn):
            raise ConfigError(
                f"--transform-fn: {self.spec!r}: {self.name!r} is "
                f"{'missing' if fn is None else f'not callable ({type(fn).__name__})'}"
            )
        return fn


class ApplyTransformFn(beam.PTransform):
    """Applies a `TransformFn` to a source's `records`.

    Returns a dict: `records` (RecordBatches), `dropped` (ints, rows in minus
    rows out per batch) and `schema` (exactly one `Schema`, the output's kinds
    merged over batches).

    Raises (when the pipeline runs):
        DataError: the function raises, returns something else than a
            RecordBatch or Table, or columns with no tf.Example form.
    """

    def __init__(
        self,
        transform: TransformFn | str | Callable,
        *,
        source_files: Sequence[str] = (),
        label: str | None = None,
    ) -> None:
        super().__init__(label)
        self.transform = TransformFn.load(transform)
        self.source_files = list(source_files)

    def expand(self, records: beam.PCollection) -> dict[str, beam.PCollection]:
        applied = records | "Apply" >> beam.ParDo(
            _ApplyFn(self.transform, _unknown_file(self.source_files))
        ).with_outputs("dropped", "schema", main="records")
        schema = applied.schema | "MergeSchemas" >> beam.CombineGlobally(_MergeSchemas())
        return {"records": applied.records, "dropped": applied.dropped, "schema": schema}

    def display_data(self) -> dict:
        return {"transform_fn": self.transform.spec}


def _unknown_file(files: Sequence[str]) -> str:
    if len(files) == 1:
        return f"a batch of {files[0]!r}"
    if files:
        return f"a batch of one of {len(files)} files ({files[0]!r}, ...)"
    return "a batch"


class _ApplyFn(beam.DoFn):
    def __init__(self, transform: TransformFn, unknown_file: str) -> None:
        self._transform = transform
        self._unknown_file = unknown_file
        self._dropped = beam.metrics.Metrics.counter(_NAMESPACE, "transform_fn_records_dropped")

    def setup(self) -> None:
        self._fn = self._transform.function()
        self._decoder = None

    def process(self, batch) -> Iterator:
        import pyarrow as pa

        from beam_ingest.arrow_values import to_example_columns
        from beam_ingest.schema import Schema
        from beam_ingest.source import FILE_METADATA

        if isinstance(batch, pa.RecordBatch):
            metadata = batch.schema.metadata or {}
            file = metadata.get(FILE_METADATA, b"").decode("utf-8", "replace") or None
            where = f"a batch of {file!r}" if file else self._unknown_file
        else:  # an ExampleBatch of serialized examples
            where = self._unknown_file
            batch = self._decode(batch.examples)
        name = self._transform.spec
        try:
            out = self._fn(batch)
        except Exception as e:
            raise DataError(
                f"--transform-fn {name}: raised on {where}: {type(e).__name__}: {e}"
            ) from e
        if isinstance(out, pa.Table):
            table = out.combine_chunks()
            batches = table.to_batches()
            out = batches[0] if batches else pa.RecordBatch.from_pylist([], schema=table.schema)
        if not isinstance(out, pa.RecordBatch):
            raise DataError(
                f"--transform-fn {name}: returned {type(out).__name__} for {where}; return a "
                "pyarrow.RecordBatch (an empty one to drop every row)"
            )
        try:
            converted, failures = to_example_columns(out.replace_schema_metadata(None))
        except ValueError as e:
            raise DataError(f"--transform-fn {name}: its output for {where}: {e}") from e
        if failures:
            row, reason = min(failures.items())
            raise DataError(f"--transform-fn {name}: its output for {where}, row {row}: {reason}")
        dropped = batch.num_rows - converted.num_rows
        self._dropped.inc(dropped)
        if converted.num_rows:
            yield converted
        yield beam.pvalue.TaggedOutput("dropped", dropped)
        yield beam.pvalue.TaggedOutput("schema", Schema.from_arrow(converted.schema))

    def _decode(self, examples: list[bytes]):
        from tfx_bsl.coders import example_coder

        if self._decoder is None:
            self._decoder = example_coder.ExamplesToRecordBatchDecoder()
        return self._decoder.DecodeBatch(examples)


class _MergeSchemas(beam.CombineFn):
    """Kinds widened over batches; columns in the batches' order when they
    all agree on it, else sorted by name (the result must not depend on the
    order batches arrive in)."""

    def create_accumulator(self) -> tuple[dict, set]:
        return {}, set()

    def add_input(self, acc: tuple[dict, set], schema) -> tuple[dict, set]:
        from beam_ingest.schema import Kind

        kinds, orders = acc
        for column in schema.columns:
            kinds[column.name] = max(kinds.get(column.name, Kind.UNKNOWN), column.kind)
        orders.add(schema.names)
        return acc

    def merge_accumulators(self, accumulators) -> tuple[dict, set]:
        from beam_ingest.schema import Kind

        kinds, orders = {}, set()
        for more_kinds, more_orders in accumulators:
            for name, kind in more_kinds.items():
                kinds[name] = max(kinds.get(name, Kind.UNKNOWN), kind)
            orders |= more_orders
        return kinds, orders

    def extract_output(self, acc: tuple[dict, set]):
        from beam_ingest.schema import Schema

        kinds, orders = acc
        names = next(iter(orders)) if len(orders) == 1 else sorted(kinds)
        return Schema.from_kinds((n, kinds[n]) for n in names)
