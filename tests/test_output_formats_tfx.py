"""The TFX executor writes each output format, with the artifact properties
TFX's readers go by (issue 21)."""

from __future__ import annotations

import os

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from tfx.components.util import examples_utils, tfxio_utils
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from beam_ingest.errors import ConfigError
from beam_ingest.example_gen import Executor, custom_config
from beam_ingest.tfx_config import translate
from tests.test_example_gen import _exec_properties


def _properties(tmp_path, **overrides) -> dict:
    """test_example_gen's exec_properties over a bigger CSV of three columns."""
    properties = _exec_properties(tmp_path, **overrides)
    rows = "".join(f"{i},{i * 0.5},w{i % 7}\n" for i in range(300))
    (tmp_path / "in" / "a.csv").write_text("x,y,z\n" + rows)
    return properties


def _do(tmp_path, properties):
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "out")
    os.makedirs(examples.uri)
    Executor().Do({}, {"examples": [examples]}, properties)
    return examples


def _custom(**options) -> str:
    return proto_utils.proto_to_json(custom_config(**options))


@pytest.mark.parametrize(
    "overrides,payload,file_format,pattern",
    [
        ({"custom_config": _custom(output_format="parquet")},
         "FORMAT_PARQUET", "FILE_FORMAT_PARQUET", r"data_parquet-00000-of-00001\.parquet"),
        ({standard_component_specs.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_PARQUET,
          standard_component_specs.OUTPUT_FILE_FORMAT_KEY: example_gen_pb2.FILE_FORMAT_PARQUET},
         "FORMAT_PARQUET", "FILE_FORMAT_PARQUET", r"data_parquet-00000-of-00001\.parquet"),
        ({"custom_config": _custom(output_format="array_record",
                                   array_record_options="group_size:1", max_records_per_shard=50)},
         "FORMAT_TF_EXAMPLE", "array_record", r"data_array_record-000\d\d-of-000\d\d"),
        ({"custom_config": _custom(max_shard_bytes="4KB")},
         "FORMAT_TF_EXAMPLE", "tfrecords_gzip", r"data_tfrecord-000\d\d-of-000\d\d\.gz"),
    ],
)  # fmt: skip
def test_the_executor_writes_each_format_with_its_artifact_properties(
    tmp_path, overrides, payload, file_format, pattern
):
    import re

    examples = _do(tmp_path, _properties(tmp_path, **overrides))
    assert examples_utils.get_payload_format_string(examples) == payload
    assert examples_utils.get_file_format(examples) == file_format
    assert examples.get_int_custom_property("beam_ingest_examples") == 300
    names = os.listdir(os.path.join(examples.uri, "Split-train"))
    assert names and all(re.fullmatch(pattern, n) for n in names)
    if payload == "FORMAT_PARQUET":  # TFX's own reader of the artifact
        io = tfxio_utils.get_split_tfxio([examples], "train", telemetry_descriptors=["t"])
        with beam.Pipeline() as p:
            rows = p | io.BeamSource() | beam.Map(lambda b: b.num_rows) | beam.CombineGlobally(sum)
            train = os.path.join(examples.uri, "Split-train")
            assert_that(rows, equal_to([_parquet_rows(train)]))


def _parquet_rows(folder: str) -> int:
    import pyarrow.parquet as pq

    return sum(pq.read_metadata(os.path.join(folder, n)).num_rows for n in os.listdir(folder))


def test_output_format_that_contradicts_tfx_output_data_format_is_refused(tmp_path):
    properties = _properties(
        tmp_path,
        custom_config=_custom(output_format="array_record"),
        **{standard_component_specs.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_PARQUET},
    )
    with pytest.raises(
        ConfigError, match="output_format 'array_record' does not write FORMAT_PARQUET"
    ):
        translate(properties, str(tmp_path / "out"))
