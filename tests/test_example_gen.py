"""beam-ingest as TFX's ExampleGen executor (issue 7), end to end in TFX's
`LocalDagRunner` with an SQLite ML-metadata store.

One pipeline holds every case, so TFX starts once: TFX's own `CsvExampleGen`
and `FileBasedExampleGen` with beam-ingest's executor side by side on the
taxi CSV (default splits, a partition feature, input splits), and
beam-ingest's executor on each other format. Each test looks at one
component's Examples artifact.
"""

from __future__ import annotations

import collections
import glob
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import tensorflow as tf
from google.protobuf import text_format
from PIL import Image
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.components.example_gen.csv_example_gen.component import CsvExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.orchestration import metadata
from tfx.orchestration import pipeline as tfx_pipeline
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs
from tfx_bsl.public import tfxio

from beam_ingest.errors import ConfigError, DataError
from beam_ingest.example_gen import (
    CsvExecutor,
    Executor,
    ImageExecutor,
    TFRecordExecutor,
    custom_config,
    translate,
)
from beam_ingest.framing import read_records
from tests.formats import TAXI, write_taxi_formats

ROWS = 500  # per format, for the formats other than the taxi CSV itself


def _spec(executor=Executor) -> executor_spec.BeamExecutorSpec:
    return executor_spec.BeamExecutorSpec(executor)


def _hash_splits(partition_feature: str = "") -> example_gen_pb2.Output:
    return example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=2),
                example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1),
            ],
            partition_feature_name=partition_feature,
        )
    )


def _input_splits() -> example_gen_pb2.Input:
    return example_gen_pb2.Input(
        splits=[
            example_gen_pb2.Input.Split(name="train", pattern="train/*"),
            example_gen_pb2.Input.Split(name="eval", pattern="eval/*"),
        ]
    )


def _run(components: list, root: Path) -> dict[str, dict]:
    """Runs the components as one pipeline; returns, per component id, its
    Examples artifact's uri, split names and custom properties."""
    db = root / "metadata.sqlite"
    config = metadata.sqlite_metadata_connection_config(str(db))
    LocalDagRunner().run(
        tfx_pipeline.Pipeline(
            pipeline_name="beam_ingest_test",
            pipeline_root=str(root),
            components=components,
            enable_cache=False,
            metadata_connection_config=config,
        )
    )
    artifacts = {}
    with metadata.Metadata(config) as m:
        for artifact in m.store.get_artifacts_by_type("Examples"):
            component = os.path.relpath(artifact.uri, root).split(os.sep)[0]
            custom = {
                k: v.string_value or v.int_value for k, v in artifact.custom_properties.items()
            }
            artifacts.setdefault(component, []).append(
                {
                    "uri": artifact.uri,
                    "split_names": artifact.properties["split_names"].string_value,
                    **custom,
                }
            )
    return artifacts


def _examples(uri: str) -> dict[str, list[bytes]]:
    """Split -> sorted deterministic serializations (TFX does not serialize
    deterministically, so its bytes are re-serialized to compare)."""
    out = {}
    for folder in sorted(glob.glob(os.path.join(uri, "Split-*"))):
        records = [r for p in sorted(glob.glob(os.path.join(folder, "*"))) for r in read_records(p)]
        out[os.path.basename(folder).removeprefix("Split-")] = sorted(
            tf.train.Example.FromString(r).SerializeToString(deterministic=True) for r in records
        )
    return out


def _images(folder: Path) -> Path:
    for label, color in (("cat", (200, 10, 10)), ("dog", (10, 200, 10))):
        (folder / label).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (8 + i, 6), color).save(folder / label / f"{i}.png")
    return folder


def _tfrecords(folder: Path, rows: int) -> Path:
    folder.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(folder / "data.tfrecord")) as writer:
        for i in range(rows):
            example = tf.train.Example()
            example.features.feature["id"].int64_list.value.append(i)
            example.features.feature["name"].bytes_list.value.append(f"n{i}".encode())
            writer.write(example.SerializeToString())
    return folder


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> dict[str, dict]:
    data = tmp_path_factory.mktemp("data")
    taxi = data / "taxi"
    taxi.mkdir()
    shutil.copy(TAXI, taxi / "data.csv")
    presplit = data / "presplit"
    with open(TAXI) as f:
        header, *lines = f.readlines()
    for name, part in (("train", lines[:9000]), ("eval", lines[9000:])):
        (presplit / name).mkdir(parents=True)
        (presplit / name / "part.csv").write_text(header + "".join(part))
    paths = write_taxi_formats(data / "formats", ROWS)
    for fmt in ("jsonl", "parquet", "avro"):
        (data / fmt).mkdir()
        shutil.copy(paths[fmt], data / fmt)
    bad = data / "bad_csv"
    bad.mkdir()
    (bad / "rows.csv").write_text("a,b\n1,x\n2\n3,z\n")

    components = [
        CsvExampleGen(input_base=str(taxi)).with_id("TfxCsv"),
        FileBasedExampleGen(input_base=str(taxi), custom_executor_spec=_spec()).with_id(
            "IngestCsv"
        ),
        CsvExampleGen(input_base=str(taxi), output_config=_hash_splits("trip_start_hour")).with_id(
            "TfxPartition"
        ),
        FileBasedExampleGen(
            input_base=str(taxi),
            output_config=_hash_splits("trip_start_hour"),
            custom_executor_spec=_spec(),
        ).with_id("IngestPartition"),
        CsvExampleGen(input_base=str(presplit), input_config=_input_splits()).with_id(
            "TfxInputSplits"
        ),
        FileBasedExampleGen(
            input_base=str(presplit), input_config=_input_splits(), custom_executor_spec=_spec()
        ).with_id("IngestInputSplits"),
        FileBasedExampleGen(
            input_base=str(bad),
            custom_config=custom_config(max_bad_records=1),
            custom_executor_spec=_spec(CsvExecutor),
        ).with_id("IngestBadCsv"),
        FileBasedExampleGen(
            input_base=str(_tfrecords(data / "tfrecord", ROWS)),
            custom_executor_spec=_spec(TFRecordExecutor),
        ).with_id("IngestTfrecord"),
        FileBasedExampleGen(
            input_base=str(_images(data / "images")),
            input_config=example_gen_pb2.Input(
                splits=[example_gen_pb2.Input.Split(name="single_split", pattern="*/*.png")]
            ),
            custom_config=custom_config(image_root=str(data / "images")),
            custom_executor_spec=_spec(ImageExecutor),
        ).with_id("IngestImages"),
    ] + [
        # No format in custom_config: it follows from the files' extension.
        FileBasedExampleGen(input_base=str(data / fmt), custom_executor_spec=_spec()).with_id(
            f"Ingest{fmt.title()}"
        )
        for fmt in ("jsonl", "parquet", "avro")
    ]
    runs = _run(components, tmp_path_factory.mktemp("pipeline"))
    return {component: found[0] for component, found in runs.items()}


INGEST_FORMATS = {
    "IngestCsv": 15_002,
    "IngestJsonl": ROWS,
    "IngestParquet": ROWS,
    "IngestAvro": ROWS,
    "IngestTfrecord": ROWS,
    "IngestImages": 8,
}


@pytest.mark.parametrize("component", sorted(INGEST_FORMATS))
def test_artifact_has_tfx_layout_and_reads_back_through_tfxio(artifacts, component):
    artifact = artifacts[component]
    assert artifact["split_names"] == '["train", "eval"]'
    assert artifact["payload_format"] == "FORMAT_TF_EXAMPLE"
    assert artifact["file_format"] == "tfrecords_gzip"
    assert artifact["beam_ingest_examples"] == INGEST_FORMATS[component]
    uri = artifact["uri"]
    schema = text_format.Parse(
        Path(uri, "schema.pbtxt").read_text(), schema_pb2.Schema()
    )  # what beam-ingest wrote beside the splits
    rows = 0
    for split in ("train", "eval"):
        files = glob.glob(os.path.join(uri, f"Split-{split}", "data_tfrecord-*-of-*.gz"))
        assert files
        source = tfxio.TFExampleRecord(
            file_pattern=files, schema=schema, telemetry_descriptors=["beam_ingest_test"]
        )
        options = tfxio.RecordBatchesOptions(batch_size=1000, num_epochs=1, shuffle=False)
        for batch in source.RecordBatches(options):
            assert set(batch.schema.names) == {f.name for f in schema.feature}
            rows += batch.num_rows
    assert rows == INGEST_FORMATS[component]


@pytest.mark.parametrize(
    "ours,theirs",
    [
        ("IngestCsv", "TfxCsv"),
        ("IngestPartition", "TfxPartition"),
        ("IngestInputSplits", "TfxInputSplits"),
    ],
)
def test_same_examples_in_same_splits_as_csv_example_gen(artifacts, ours, theirs):
    assert artifacts[ours]["split_names"] == artifacts[theirs]["split_names"]
    mine, tfx = _examples(artifacts[ours]["uri"]), _examples(artifacts[theirs]["uri"])
    assert sorted(mine) == sorted(tfx) == ["eval", "train"]
    assert mine == tfx


def test_partition_feature_keeps_each_value_in_one_split(artifacts):
    hours = collections.defaultdict(set)
    for split, records in _examples(artifacts["IngestPartition"]["uri"]).items():
        for record in records:
            hour = tf.train.Example.FromString(record).features.feature["trip_start_hour"]
            hours[tuple(hour.int64_list.value)].add(split)
    assert len(hours) == 24 and all(len(splits) == 1 for splits in hours.values())


def test_bad_records_go_to_the_artifacts_errors_folder(artifacts):
    artifact = artifacts["IngestBadCsv"]
    assert artifact["beam_ingest_bad_records"] == 1
    assert artifact["beam_ingest_examples"] == 2
    errors = glob.glob(os.path.join(artifact["uri"], "errors", "bad_records-*.jsonl"))
    assert errors and "rows.csv" in Path(errors[0]).read_text()


# --- configuration errors, straight from the executor ---------------------------------


def _exec_properties(tmp_path: Path, **overrides) -> dict:
    (tmp_path / "in").mkdir(exist_ok=True)
    (tmp_path / "in" / "a.csv").write_text("x\n1\n")
    properties = {
        standard_component_specs.INPUT_BASE_KEY: str(tmp_path / "in"),
        standard_component_specs.INPUT_CONFIG_KEY: '{"splits": [{"name": "single_split", '
        '"pattern": "*"}]}',
        standard_component_specs.OUTPUT_CONFIG_KEY: '{"split_config": {"splits": ['
        '{"name": "train", "hash_buckets": 2}, {"name": "eval", "hash_buckets": 1}]}}',
        standard_component_specs.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
    }
    properties.update(overrides)
    return properties


def _custom(**options) -> str:
    from tfx.utils import proto_utils

    return proto_utils.proto_to_json(custom_config(**options))


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"custom_config": _custom(format="xml")}, r"'xml' is not one of \['avro', 'bigquery'"),
        (
            {"custom_config": _custom(delimeter=";")},
            r"custom_config: 'delimeter' is not a valid key; did you mean 'delimiter'\?; "
            r"valid keys: \['array_record_options', 'bigquery_project', 'bigquery_schema', "
            r"'classes'",
        ),
        ({"custom_config": _custom(output="/x")}, r"'output' is set by TFX's input/output"),
        ({"custom_config": _custom(verify_images="maybe")}, r"verify_images: must be true or"),
        ({"custom_config": _custom(max_bad_records=-1)}, r"max_bad_records: must be an int"),
        (
            {standard_component_specs.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_PROTO},
            r"output_data_format: FORMAT_PROTO needs TFRecord input of serialized protos "
            r"\(format tfrecord, payload 'proto'\); got format 'csv'",
        ),
        (
            {standard_component_specs.OUTPUT_DATA_FORMAT_KEY: 99},
            r"output_data_format: beam-ingest writes tf.Example only .*Parquet .*got 99",
        ),
        (
            {standard_component_specs.OUTPUT_FILE_FORMAT_KEY: 99},
            r"output_file_format: beam-ingest writes gzip TFRecords .* or Parquet .*got 99",
        ),
    ],
)
def test_configuration_errors_are_clear(tmp_path, overrides, message):
    from beam_ingest.config import build_config

    with pytest.raises(ConfigError, match=message):
        run = translate(_exec_properties(tmp_path, **overrides), str(tmp_path / "out"))
        build_config(run.values, where="custom_config")


def test_format_follows_the_extension_and_unknown_ones_are_named(tmp_path):
    run = translate(_exec_properties(tmp_path), str(tmp_path / "out"))
    assert run.values["format"] == "csv"
    (tmp_path / "in" / "b.xml").write_text("<x/>")
    with pytest.raises(ConfigError, match=r"extension of '.*b\.xml' does not name one"):
        translate(_exec_properties(tmp_path), str(tmp_path / "out"))


def test_per_format_executor_refuses_another_format(tmp_path):
    properties = _exec_properties(tmp_path, custom_config=_custom(format="jsonl"))
    with pytest.raises(ConfigError, match="format 'jsonl' given to the csv executor"):
        translate(properties, str(tmp_path / "out"), fixed_format="csv")


def test_too_many_bad_records_fail_the_execution_with_a_data_error(tmp_path):
    from tfx.types import standard_artifacts

    properties = _exec_properties(tmp_path)
    (tmp_path / "in" / "a.csv").write_text("x,y\n1,2\n3\n")
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "out")
    os.makedirs(examples.uri)
    with pytest.raises(DataError, match=r"a\.csv:3: wrong field count: expected 2"):
        Executor().Do({}, {"examples": [examples]}, properties)
    assert not glob.glob(os.path.join(examples.uri, "Split-*"))


# --- spans: TFX's FileBasedDriver resolves them, the executor reads the result -----------


def _span_pipeline_run(base: Path, root: Path, range_config=None) -> dict:
    example_gen = FileBasedExampleGen(
        input_base=str(base),
        input_config=example_gen_pb2.Input(
            splits=[example_gen_pb2.Input.Split(name="single_split", pattern="span-{SPAN}/*")]
        ),
        range_config=range_config,
        custom_executor_spec=_spec(),
    ).with_id("Spans")
    found = _run([example_gen], root)["Spans"]
    return max(found, key=lambda a: int(os.path.basename(a["uri"])))  # the newest


def _write_span(base: Path, span: int, rows: int) -> None:
    (base / f"span-{span}").mkdir(parents=True)
    lines = "".join(f"{span},{i}\n" for i in range(rows))
    (base / f"span-{span}" / "data.csv").write_text("span,row\n" + lines)


def test_a_new_span_is_ingested_on_the_next_run_and_range_config_pins_one(tmp_path):
    from tfx.proto import range_config_pb2

    base, root = tmp_path / "data", tmp_path / "pipeline"
    _write_span(base, 1, rows=30)
    first = _span_pipeline_run(base, root)
    _write_span(base, 2, rows=40)
    second = _span_pipeline_run(base, root)
    pinned = _span_pipeline_run(
        base,
        root,
        range_config=range_config_pb2.RangeConfig(
            static_range=range_config_pb2.StaticRange(start_span_number=1, end_span_number=1)
        ),
    )
    for artifact, span, rows in ((first, 1, 30), (second, 2, 40), (pinned, 1, 30)):
        assert artifact["span"] == span
        assert artifact["beam_ingest_examples"] == rows
        spans = {
            tf.train.Example.FromString(r).features.feature["span"].int64_list.value[0]
            for records in _examples(artifact["uri"]).values()
            for r in records
        }
        assert spans == {span}
        report = json.loads(Path(artifact["uri"], "ingest_report.json").read_text())
        assert report["span"] == span and report["input_fingerprint"]


def test_example_pipeline_runs_and_its_consumer_reads_every_example(tmp_path, capsys, monkeypatch):
    import importlib.util
    import sys

    path = Path(__file__).parents[1] / "examples" / "tfx_pipeline.py"
    spec = importlib.util.spec_from_file_location("example_tfx_pipeline", path)
    example = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, example)  # TFX's @component looks it up
    spec.loader.exec_module(example)
    data = tmp_path / "data"
    data.mkdir()
    (data / "rows.csv").write_text("a,b\n" + "".join(f"{i},x{i}\n" for i in range(60)))
    example.main(["--input-base", str(data), "--root", str(tmp_path / "root")])
    printed = capsys.readouterr().out
    counts = dict(re.findall(r"^(train|eval): (\d+) examples, 2 features$", printed, re.M))
    assert set(counts) == {"train", "eval"} and sum(map(int, counts.values())) == 60


# --- RegistryExampleGen -----------------------------------------------------------------


def test_registry_example_gen_ingests_the_newest_entry_on_each_run(tmp_path):
    from beam_ingest.example_gen import RegistryExampleGen
    from beam_ingest.registry import Registry

    registry, root = Registry(str(tmp_path / "registry")), tmp_path / "pipeline"

    def push(span: int, version: int, rows: int) -> None:
        for split in ("train", "test"):
            path = tmp_path / f"{span}_{version}_{split}.csv"
            path.write_text(
                "span,version,row\n" + "".join(f"{span},{version},{i}\n" for i in range(rows))
            )
            registry.push(f"klue/v{span}_{version}-{split}", [str(path)], format="csv")

    def run() -> dict:
        example_gen = RegistryExampleGen(
            registry=registry.root,
            input_config=example_gen_pb2.Input(
                splits=[
                    example_gen_pb2.Input.Split(name=s, pattern=f"klue/v{{SPAN}}_{{VERSION}}-{s}")
                    for s in ("train", "test")
                ]
            ),
        ).with_id("Registry")
        found = _run([example_gen], root)["Registry"]
        return max(found, key=lambda a: int(os.path.basename(a["uri"])))

    push(1, 0, rows=20)
    push(1, 1, rows=25)  # a newer version of span 1
    first = run()
    push(2, 0, rows=30)  # a new span lands between runs
    second = run()
    for artifact, span, version, rows in ((first, 1, 1, 25), (second, 2, 0, 30)):
        assert artifact["span"] == span and artifact["version"] == version
        assert artifact["split_names"] == '["train", "test"]'
        examples = _examples(artifact["uri"])
        assert {s: len(r) for s, r in examples.items()} == {"train": rows, "test": rows}
        values = {
            (f.feature["span"].int64_list.value[0], f.feature["version"].int64_list.value[0])
            for records in examples.values()
            for f in (tf.train.Example.FromString(r).features for r in records)
        }
        assert values == {(span, version)}
        entries = json.loads(artifact["registry_entries"])
        names = {f"klue/v{span}_{version}-train", f"klue/v{span}_{version}-test"}
        assert set(entries) == names
        for name in names:
            manifest = registry.show(name)
            assert entries[name] == {f.name: f.sha256 for f in manifest.files}
            assert f"entry:{name}" in artifact["input_fingerprint"]


def test_configuration_errors_surface_from_the_component_in_local_dag_runner(tmp_path):
    from beam_ingest.example_gen import RegistryExampleGen

    (tmp_path / "registry").mkdir()
    example_gen = RegistryExampleGen(
        "klue/v{SPAN}-train", registry=str(tmp_path / "registry")
    ).with_id("Registry")
    with pytest.raises(ConfigError, match=r"no entry of registry .* matches 'klue/v\*-train'"):
        _run([example_gen], tmp_path / "pipeline")


def test_module_file_and_transform_fn_name_the_user_function(tmp_path):
    module = tmp_path / "udf.py"
    module.write_text("def rename(batch):\n    return batch\n")
    properties = _exec_properties(
        tmp_path, custom_config=_custom(module_file=str(module), transform_fn="rename")
    )
    run = translate(properties, str(tmp_path / "out"))
    assert run.values["transform_fn"] == f"{module}:rename"
    bad = _exec_properties(tmp_path, custom_config=_custom(module_file=str(module)))
    with pytest.raises(ConfigError, match="module_file needs transform_fn"):
        translate(bad, str(tmp_path / "out"))
