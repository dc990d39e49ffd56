"""ReadRegistry in pipelines: every format read back, the newest span, integrity,
and the registry on S3 (moto's server on 127.0.0.1, Beam's S3 filesystem)."""

from __future__ import annotations

import json
import os
import socket
import uuid

import apache_beam as beam
import pytest
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from beam_ingest import Ingest, IngestConfig
from beam_ingest.connectors.registry import ReadRegistry
from beam_ingest.errors import ConfigError, DataError, from_pipeline_failure
from beam_ingest.registry import Registry
from tests import memfs
from tests.helpers import decode, run_ingest, split_records
from tests.registry_data import ROWS, write_all, write_csv

FORMATS = ["avro", "csv", "images", "jsonl", "parquet", "tfrecord"]


@pytest.fixture(scope="module", params=["local", "mem"])
def every_format(request, tmp_path_factory):
    """One run reading one entry of each format, each as its own split."""
    tmp = tmp_path_factory.mktemp(f"formats-{request.param}")
    data = write_all(tmp / "data")
    root = str(tmp / "registry") if request.param == "local" else f"mem://r-{uuid.uuid4().hex}"
    registry = Registry(root)
    for format in FORMATS:
        registry.push(f"rows/{format}/v1", [str(p) for p in data[format]], format=format)
    out = str(tmp / "out")
    report = run_ingest(
        IngestConfig(
            split_sources={f: ReadRegistry(f"rows/{f}/v{{SPAN}}", registry=root) for f in FORMATS},
            output_dir=out,
        )
    )
    return registry, report, out


@pytest.mark.parametrize("format", ["avro", "csv", "jsonl", "parquet", "tfrecord"])
def test_every_format_reads_back(every_format, format):
    _, report, out = every_format
    examples = sorted((decode(r) for r in split_records(out, format)), key=lambda e: e["id"])
    assert [e["id"] for e in examples] == [("int64_list", [r["id"]]) for r in ROWS]
    assert [e["text"][1][0].decode() for e in examples] == [r["text"] for r in ROWS]
    assert [e["score"][1] for e in examples] == [[r["score"]] for r in ROWS]
    assert report["splits"][format]["examples"] == len(ROWS)


def test_images_read_back_with_folder_labels(every_format):
    _, _, out = every_format
    examples = [decode(r) for r in split_records(out, "images")]
    labels = sorted(
        (e["image/filename"][1][0].decode(), e["image/class/text"][1][0].decode()) for e in examples
    )
    assert labels == [("cat/0.png", "cat"), ("cat/1.png", "cat"), ("dog/2.png", "dog")]


def test_report_names_entries_and_checksums(every_format):
    registry, report, _ = every_format
    for format in FORMATS:
        field = report["registry"][format]
        entry = registry.show(f"rows/{format}/v1")
        assert field["root"] == registry.root
        assert field["pattern"] == f"rows/{format}/v{{SPAN}}"
        assert field["span"] == 1
        assert field["entries"] == [
            {
                "name": entry.name,
                "format": format,
                "records": entry.records,
                "files": [
                    {"name": f.name, "size": f.size, "sha256": f.sha256} for f in entry.files
                ],
            }
        ]
    assert report["records_read"] == 5 * len(ROWS) + 3


@pytest.fixture(scope="module")
def spans(tmp_path_factory):
    """Two runs of one span pattern, with an entry pushed between them."""
    tmp = tmp_path_factory.mktemp("spans")
    root = str(tmp / "registry")
    registry = Registry(root)
    for name, rows in [("d/v1_1-train", 2), ("d/v1_2-train", 3), ("d/v2_1-train", 4)]:
        registry.push(name, [str(write_csv(tmp / name / "x.csv", ROWS[:rows]))], format="csv")
    source = ReadRegistry("d/v{SPAN}_{VERSION}-train", registry=root)
    first = run_ingest(IngestConfig(source=source, output_dir=str(tmp / "out1")))
    registry.push("d/v2_2-train", [str(write_csv(tmp / "new.csv", ROWS[:5]))], format="csv")
    second = run_ingest(
        IngestConfig(
            source=ReadRegistry("d/v{SPAN}_{VERSION}-train", registry=root),
            output_dir=str(tmp / "out2"),
        )
    )
    return first, second


def test_the_newest_span_and_version_is_read(spans):
    first, _ = spans
    assert [e["name"] for e in first["registry"]["all"]["entries"]] == ["d/v2_1-train"]
    assert (first["registry"]["all"]["span"], first["registry"]["all"]["version"]) == (2, 1)
    assert first["records_read"] == 4


def test_an_entry_pushed_later_is_read_by_the_next_run(spans):
    _, second = spans
    assert [e["name"] for e in second["registry"]["all"]["entries"]] == ["d/v2_2-train"]
    assert second["records_read"] == 5


@pytest.fixture
def pushed(tmp_path):
    registry = Registry(str(tmp_path / "registry"))
    entry = registry.push("c/v1", [str(write_csv(tmp_path / "x.csv"))], format="csv")
    return registry, entry, registry.file_path(entry, entry.files[0])


def test_a_file_changed_after_push_fails_the_run_and_writes_nothing(pushed, tmp_path):
    registry, _, path = pushed
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[-3] = ord("X")  # same size: only the sha256 can tell
    with open(path, "wb") as f:
        f.write(data)
    out = str(tmp_path / "out")
    with pytest.raises(Exception) as caught:
        run_ingest(
            IngestConfig(source=ReadRegistry("c/v1", registry=registry.root), output_dir=out)
        )
    error = (
        caught.value if isinstance(caught.value, DataError) else from_pipeline_failure(caught.value)
    )
    assert isinstance(error, DataError)
    assert "registry entry 'c/v1': file" in str(error)
    assert path in str(error)
    assert "the manifest says" in str(error)
    assert not os.path.exists(out)


def test_a_file_of_another_size_fails_before_the_run(pushed, tmp_path):
    registry, _, path = pushed
    with open(path, "ab") as f:
        f.write(b"6,5.5,six\n")
    message = r"'c/v1': file 'x\.csv' has \d+ bytes, the manifest says"
    with pytest.raises(DataError, match=message), beam.Pipeline() as p:
        _ = p | Ingest(
            IngestConfig(
                source=ReadRegistry("c/v1", registry=registry.root),
                output_dir=str(tmp_path / "out"),
            )
        )


def test_a_file_added_after_push_fails_before_the_run(pushed, tmp_path):
    registry, _, path = pushed
    with open(os.path.join(os.path.dirname(path), "extra.csv"), "w") as f:
        f.write("id,score,text\n")
    message = r"file 'extra\.csv' in .* is not in the manifest"
    with pytest.raises(DataError, match=message), beam.Pipeline() as p:
        _ = p | ReadRegistry("c/v1", registry=registry.root)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="ReadRegistry: pattern must be a non-empty string"):
        ReadRegistry("")
    with pytest.raises(ConfigError, match="registry: must be a folder or URI prefix"):
        ReadRegistry("a", registry="")


def test_memfs_is_not_a_local_path():
    # The second scheme proves something only if it is really another filesystem.
    memfs.put("mem://probe/x", b"1")
    assert FileSystems.exists("mem://probe/x")
    assert not os.path.exists("mem://probe/x")


# --- S3 ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A registry on s3://, pushed, listed and ingested from; the server is moto
    on 127.0.0.1 and the client Beam's S3 filesystem (apache-beam[aws])."""
    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    flags = [
        f"--s3_endpoint_url={endpoint}",
        "--s3_access_key_id=testing",
        "--s3_secret_access_key=testing",
        "--s3_region_name=us-east-1",
    ]
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket="registry")
    # Outside a pipeline Beam's filesystems take their options from here; a
    # Pipeline sets them from its own options (the same flags below).
    FileSystems.set_options(PipelineOptions(flags))
    tmp = tmp_path_factory.mktemp("s3")
    registry = Registry("s3://registry/root")
    pushed = [
        registry.push(name, [str(write_csv(tmp / name / "x.csv", ROWS[:n]))], format="csv")
        for name, n in [("s/v1_1", 2), ("s/v2_1", 3), ("s/v2_2", 4)]
    ]
    listed = registry.ls("s/v{SPAN}_{VERSION}")
    with beam.Pipeline(options=PipelineOptions(flags)) as p:
        _ = p | Ingest(
            IngestConfig(
                source=ReadRegistry("s/v{SPAN}_{VERSION}", registry="s3://registry/root"),
                output_dir="s3://registry/out",
            )
        )
    with FileSystems.open("s3://registry/out/ingest_report.json") as f:
        report = json.loads(f.read())
    yield registry, pushed, listed, report
    FileSystems.set_options(None)
    server.stop()


def test_s3_push_writes_manifest_and_files(s3):
    registry, pushed, _, _ = s3
    entry = registry.show("s/v2_2")
    assert entry == pushed[2]
    assert entry.records == 4
    assert FileSystems.exists("s3://registry/root/s/v2_2/files/x.csv")


def test_s3_ls_and_span_resolution(s3):
    _, _, listed, _ = s3
    assert listed == ["s/v1_1", "s/v2_1", "s/v2_2"]


def test_s3_ingest_reads_the_newest_and_verifies(s3):
    _, pushed, _, report = s3
    assert report["records_read"] == 4
    (entry,) = report["registry"]["all"]["entries"]
    assert entry["name"] == "s/v2_2"
    assert entry["files"][0]["sha256"] == pushed[2].files[0].sha256
