"""`SqlExampleGen`: TFX's QueryBasedExampleGen reading SQL through beam-ingest.

    from beam_ingest.example_gen import SqlExampleGen

    SqlExampleGen(
        query="SELECT * FROM trips WHERE day = {SPAN}",
        connection="postgresql://etl@db:5432/warehouse",
        range_config=range_config_pb2.RangeConfig(
            static_range=range_config_pb2.StaticRange(start_span_number=19000,
                                                      end_span_number=19000)),
        partition_column="trip_id", partitions=8,
    )

As in TFX's BigQueryExampleGen, a split's pattern is a query
(`input_config`), `output_config` gives hash splits, and `range_config`'s
static range the span. The driver fills TFX's `@span_begin_timestamp`,
`@span_end_timestamp` and `@span_yyyymmdd_utc`, and also `{SPAN}`, `{YYYY}`,
`{MM}`, `{DD}`; the span is recorded on the artifact. Keyword options are the
sql format's and the general `run` options (`custom_config` keys); the
executor is `beam_ingest.example_gen.SqlExecutor`.
"""

from __future__ import annotations

from tfx.components.example_gen import driver, input_processor
from tfx.components.example_gen import utils as tfx_utils
from tfx.components.example_gen.component import QueryBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from beam_ingest import formats
from beam_ingest.errors import ConfigError
from beam_ingest.tfx_config import custom_config
from beam_ingest.tfx_executor import executor_for

__all__ = ["SqlDriver", "SqlExampleGen"]

_FORMAT = next(f.name for f in formats.all_formats() if f.executor == "SqlExecutor")


class _SqlInputProcessor(input_processor.QueryBasedInputProcessor):
    def get_pattern_for_span_version(self, pattern: str, span: int, version) -> str:
        from beam_ingest.connectors.sql import fill_span

        return fill_span(pattern, span)


class SqlDriver(driver.QueryBasedDriver):
    """TFX's query driver, filling beam-ingest's span specs as well as TFX's."""

    def get_input_processor(self, splits, range_config=None, input_base_uri=None):
        return _SqlInputProcessor(splits, range_config)


class SqlExampleGen(QueryBasedExampleGen):
    """QueryBasedExampleGen with beam-ingest's SQL executor (see the module).

    Raises:
        ConfigError: neither or both of `query` and `input_config`.
    """

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor_for(_FORMAT))
    DRIVER_CLASS = SqlDriver

    def __init__(
        self,
        query: str | None = None,
        *,
        connection: str,
        input_config: example_gen_pb2.Input | None = None,
        output_config: example_gen_pb2.Output | None = None,
        range_config=None,
        **options,
    ) -> None:
        if (query is None) == (input_config is None):
            raise ConfigError("SqlExampleGen: give either query or input_config (split queries)")
        if input_config is None:
            input_config = example_gen_pb2.Input(
                splits=[example_gen_pb2.Input.Split(name="single_split", pattern=query)]
            )
        output_config = output_config or tfx_utils.make_default_output_config(input_config)
        super().__init__(
            input_config=input_config,
            output_config=output_config,
            custom_config=custom_config(connection=connection, **options),
            range_config=range_config,
        )
