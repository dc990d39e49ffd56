"""Staged writes and the publish step: shards, compression, atomicity."""

from __future__ import annotations

import os

import pytest
import tensorflow as tf

from beam_ingest import IngestConfig, SplitSpec
from beam_ingest.connectors.csv import ReadCsv
from beam_ingest.errors import OutputError
from beam_ingest.framing import frame_records
from beam_ingest.source import ExtraOutputs
from beam_ingest.transforms.commit import _MergeShardFn, _publish, stage_dir_for
from beam_ingest.transforms.tfrecord_sink import TFRecordSink
from beam_ingest.transforms.write import StagedFile
from tests.helpers import run_ingest


def tf_read(path: str) -> list[bytes]:
    compression = "GZIP" if path.endswith(".gz") else ""
    return list(tf.data.TFRecordDataset(path, compression_type=compression).as_numpy_iterator())


def test_merged_shard_is_one_gzip_stream_tensorflow_reads_whole(tmp_path):
    parts = []
    for i in range(3):
        path = tmp_path / f"part-{i}"
        path.write_bytes(frame_records([f"r{i}-{j}".encode() for j in range(4)]))
        parts.append(StagedFile(split="train", path=str(path), records=4, shard=0))
    merge = _MergeShardFn(str(tmp_path), 1, TFRecordSink(num_shards=1))
    merged = list(merge.process(("train", 0), parts))
    assert merged[0].records == 12
    assert sorted(tf_read(merged[0].path)) == sorted(
        f"r{i}-{j}".encode() for i in range(3) for j in range(4)
    )


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sharded")
    (folder / "d.csv").write_text("id\n" + "".join(f"{i}\n" for i in range(500)))
    out = folder / "out"
    report = run_ingest(
        IngestConfig(
            source=ReadCsv(str(folder / "d.csv")),
            output_dir=str(out),
            splits=(SplitSpec(name="train", buckets=1), SplitSpec(name="other", buckets=1)),
            num_shards=2,
        )
    )
    return report, out, folder


def test_fixed_shards_hold_every_record_readable_by_tensorflow(sharded):
    report, out, _ = sharded
    total = 0
    for split in ("train", "other"):
        names = sorted(os.listdir(out / f"Split-{split}"))
        assert names == ["data_tfrecord-00000-of-00002.gz", "data_tfrecord-00001-of-00002.gz"]
        total += sum(len(tf_read(str(out / f"Split-{split}" / n))) for n in names)
    assert total == 500 == report["examples"]


def test_stage_folder_is_gone_after_success(sharded):
    _, _, folder = sharded
    assert [n for n in os.listdir(folder) if "beam-ingest" in n] == []


def test_empty_split_gets_one_readable_file(tmp_path):
    (tmp_path / "d.csv").write_text("id\n")  # header only: zero examples
    out = tmp_path / "out"
    report = run_ingest(IngestConfig(source=ReadCsv(str(tmp_path / "d.csv")), output_dir=str(out)))
    assert report["examples"] == 0
    for split in ("train", "eval"):
        assert os.listdir(out / f"Split-{split}") == ["data_tfrecord-00000-of-00001.gz"]
        assert tf_read(str(out / f"Split-{split}" / "data_tfrecord-00000-of-00001.gz")) == []


def test_publish_refuses_an_output_filled_meanwhile(tmp_path):
    final = tmp_path / "final"
    final.mkdir()
    (final / "ingest_report.json").write_text("{}")
    out = tmp_path / "out"
    out.mkdir()
    (out / "other-run").write_text("x")
    with pytest.raises(OutputError, match="was filled by someone else"):
        _publish(str(final), str(out), overwrite=False)
    assert os.listdir(out) == ["other-run"]


def test_publish_swaps_in_the_whole_folder(tmp_path):
    final = tmp_path / "final"
    (final / "Split-train").mkdir(parents=True)
    (final / "ingest_report.json").write_text("{}")
    out = tmp_path / "out"
    out.mkdir()
    (out / "old").write_text("x")
    _publish(str(final), str(out), overwrite=True)
    assert sorted(os.listdir(out)) == ["Split-train", "ingest_report.json"]
    assert not final.exists()


def test_stage_folder_is_a_hidden_sibling():
    assert stage_dir_for("/data/out/", "abc") == "/data/.out.beam-ingest-abc"
    assert stage_dir_for("gs://b/x/out", "abc") == "gs://b/x/.out.beam-ingest-abc"


def test_a_source_can_add_output_files_and_report_fields(tmp_path):
    class WithExtras(ReadCsv):
        def extra_outputs(self):
            return ExtraOutputs({"labels.txt": b"cat\ndog\n"}, {"skipped_files": 2})

    (tmp_path / "d.csv").write_text("id\n1\n")
    out = tmp_path / "out"
    report = run_ingest(
        IngestConfig(source=WithExtras(str(tmp_path / "d.csv")), output_dir=str(out))
    )
    assert (out / "labels.txt").read_bytes() == b"cat\ndog\n"
    assert report["skipped_files"] == {"all": 2}
