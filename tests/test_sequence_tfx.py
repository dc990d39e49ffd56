"""tf.SequenceExample output through TFX (issue 20): the executor in
`LocalDagRunner`, with the sequence options in `custom_config`, and TFX
ImportExampleGen-style input of SequenceExample TFRecords. One pipeline, so
TFX starts once; each test looks at one component's artifact."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest
import tensorflow as tf
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs

from beam_ingest.errors import ConfigError
from beam_ingest.example_gen import Executor, custom_config, translate
from tests.test_example_gen import _exec_properties, _run, _spec
from tests.test_sequence import (
    LISTS,
    clickstream,
    expected,
    parts,
    read_sequences,
    tfxio_rows,
    write_csv,
)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> dict:
    data = tmp_path_factory.mktemp("data")
    rows = clickstream(seed=3, users=25)
    files = parts(rows)
    (data / "csv").mkdir()
    for i, part in enumerate(files):
        write_csv(data / "csv" / f"part-{i}.csv", part)
    (data / "seq").mkdir()
    with tf.io.TFRecordWriter(str(data / "seq" / "data.tfrecord")) as writer:
        for user in range(30):
            s = tf.train.SequenceExample()
            s.context.feature["user"].int64_list.value.append(user)
            for step in range(user % 4 + 1):
                s.feature_lists.feature_list["x"].feature.add().int64_list.value.append(step)
            writer.write(s.SerializeToString())
    components = [
        FileBasedExampleGen(
            input_base=str(data / "csv"),
            custom_config=custom_config(
                format="csv", sequence_key="user", sequence_order="ts", context=["country"],
                max_sequence_length=8, max_bad_records=3,
            ),
            output_data_format=example_gen_pb2.FORMAT_TF_SEQUENCE_EXAMPLE,
            custom_executor_spec=_spec(Executor),
        ).with_id("Sequences"),
        FileBasedExampleGen(
            input_base=str(data / "seq"),
            custom_config=custom_config(format="tfrecord", payload="sequence_example"),
            output_config=example_gen_pb2.Output(
                split_config=example_gen_pb2.SplitConfig(
                    splits=[example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=3),
                            example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1)],
                    partition_feature_name="user",
                )
            ),
            output_data_format=example_gen_pb2.FORMAT_TF_SEQUENCE_EXAMPLE,
            custom_executor_spec=_spec(Executor),
        ).with_id("ImportSequences"),
    ]  # fmt: skip
    runs = _run(components, tmp_path_factory.mktemp("pipeline"))
    found = {component: found[0] for component, found in runs.items()}
    return {"artifacts": found, "files": files}


def test_executor_writes_sequence_examples_that_tfxio_reads(artifacts, tmp_path):
    artifact = artifacts["artifacts"]["Sequences"]
    assert artifact["payload_format"] == "FORMAT_TF_SEQUENCE_EXAMPLE"
    assert artifact["split_names"] == '["train", "eval"]'
    uri = artifact["uri"]
    want = expected(artifacts["files"], max_length=8)
    assert artifact["beam_ingest_examples"] == len(want)
    assert {u: {"context": s["context"], "lists": s["lists"]}
            for u, s in read_sequences(uri).items()} == want  # fmt: skip
    rows = tfxio_rows(uri, "*.gz", tmp_path)
    assert len(rows) == len(want)
    for row in rows:
        user = row["user"][0].decode()
        for name in LISTS:
            assert row["##SEQUENCE##"][name] == [v for _, v in want[user]["lists"][name]]


def test_imported_sequence_examples_are_split_on_a_context_feature(artifacts):
    artifact = artifacts["artifacts"]["ImportSequences"]
    assert artifact["payload_format"] == "FORMAT_TF_SEQUENCE_EXAMPLE"
    assert artifact["beam_ingest_examples"] == 30
    seen = {}
    for path in glob.glob(os.path.join(artifact["uri"], "Split-*", "*.gz")):
        split = Path(path).parent.name
        for record in tf.data.TFRecordDataset(path, compression_type="GZIP"):
            s = tf.train.SequenceExample.FromString(record.numpy())
            user = s.context.feature["user"].int64_list.value[0]
            assert len(s.feature_lists.feature_list["x"].feature) == user % 4 + 1
            seen[user] = split
    assert len(seen) == 30 and set(seen.values()) == {"Split-train", "Split-eval"}


def test_sequence_payload_without_sequence_options_is_refused(tmp_path):
    properties = _exec_properties(
        tmp_path,
        **{standard_component_specs.OUTPUT_DATA_FORMAT_KEY: (
            example_gen_pb2.FORMAT_TF_SEQUENCE_EXAMPLE)},
    )  # fmt: skip
    with pytest.raises(ConfigError, match="FORMAT_TF_SEQUENCE_EXAMPLE needs custom_config"):
        translate(properties, str(tmp_path / "out"))
