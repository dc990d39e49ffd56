"""Input handling through the Python API (the CLI's cases are in the bad-input
corpus): folders as inputs, header-only CSVs, columns of empty lists, the
TFRecord partition feature checked before the run."""

from __future__ import annotations

import gzip

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from beam_ingest import ConfigError, Ingest, IngestConfig
from beam_ingest.connectors.csv import ReadCsv
from beam_ingest.connectors.parquet import ReadParquet
from beam_ingest.connectors.tfrecord import ReadTFRecord
from beam_ingest.files import is_marker, match_input
from tests.helpers import decode, read_report, run_ingest, split_records


def _examples(output: str) -> list[dict]:
    report = read_report(output)
    return [decode(r) for split in report["splits"] for r in split_records(output, split)]


@pytest.fixture(scope="module")
def csv_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("in")
    (root / "a").mkdir()
    (root / "a" / "part-0.csv").write_text("id,name\n1,x\n")
    (root / "part-1.tsv.gz").write_bytes(gzip.compress(b"id,name\n2,y\n"))
    (root / "_SUCCESS").write_text("")
    (root / ".part-0.csv.crc").write_text("")
    (root / "notes.txt").write_text("not data")
    return root


def test_folder_input_reads_the_formats_files_and_reports_the_rest(csv_folder, tmp_path):
    out = str(tmp_path / "out")
    report = run_ingest(IngestConfig(source=ReadCsv(str(csv_folder)), output_dir=out))
    assert sorted(e["id"][1][0] for e in _examples(out)) == [1, 2]
    skipped = report["skipped_files"]["all"]
    assert skipped["count"] == 3
    assert sorted(p.rsplit("/", 1)[1] for p in skipped["first"]) == [
        ".part-0.csv.crc",
        "_SUCCESS",
        "notes.txt",
    ]


def test_a_folder_without_the_formats_files_names_the_extensions(csv_folder):
    config = IngestConfig(source=ReadParquet(str(csv_folder)), output_dir="x")
    with pytest.raises(ConfigError, match=r"holds no parquet file \(\.parquet"):
        _ = beam.Pipeline() | Ingest(config)  # refused while the pipeline is built


@pytest.mark.parametrize(
    ("relative", "marker"),
    [
        ("a/b.csv", False),
        ("_SUCCESS", True),
        ("_committed_7", True),
        ("_temporary/0/a.csv", True),
        (".hidden/a.csv", True),
        ("a.csv.crc", True),
        ("a_b.csv", False),
    ],
)
def test_markers(relative, marker):
    assert is_marker(relative) is marker


def test_match_input_of_a_glob_is_unchanged(csv_folder):
    matched = match_input(str(csv_folder / "a" / "*.csv"), extensions=(".parquet",))
    assert [f.path for f in matched.files] == [str(csv_folder / "a" / "part-0.csv")]
    assert matched.skipped == []


@pytest.mark.parametrize("data", [b"a,b", b'"a","b c"', gzip.compress(b"a,b")])
def test_header_only_csv_without_a_final_newline_is_an_empty_output(data, tmp_path):
    path = tmp_path / ("h.csv.gz" if data[:2] == b"\x1f\x8b" else "h.csv")
    path.write_bytes(data)
    out = str(tmp_path / "out")
    report = run_ingest(IngestConfig(source=ReadCsv(str(path)), output_dir=out))
    assert (report["records_read"], report["examples"]) == (0, 0)


def test_empty_list_columns_become_empty_features(tmp_path):
    """A `list<null>` column from a file, and `empty_list: []` made by a
    user's transform_fn: an empty Feature(), as TFX writes them."""
    table = pa.table({"id": [1, 2], "tags": pa.array([[], []], pa.list_(pa.null()))})
    pq.write_table(table, tmp_path / "t.parquet")

    def add_empty(batch: pa.RecordBatch) -> pa.RecordBatch:
        rows = [{**row, "empty_list": []} for row in batch.to_pylist()]
        return pa.RecordBatch.from_pylist(rows)

    out = str(tmp_path / "out")
    source = ReadParquet(str(tmp_path / "t.parquet"))
    run_ingest(IngestConfig(source=source, output_dir=out, transform_fn=add_empty))
    examples = _examples(out)
    assert len(examples) == 2
    for example in examples:
        assert example["tags"] == (None, []) and example["empty_list"] == (None, [])


def test_tfrecord_partition_feature_is_checked_before_the_run(tmp_path):
    src = str(tmp_path / "src")
    (tmp_path / "a.csv").write_text("user,v\n1,2.5\n2,3.5\n")
    run_ingest(IngestConfig(source=ReadCsv(str(tmp_path / "a.csv")), output_dir=src))
    pipeline = beam.Pipeline()
    for name, message in [("nobody", "'nobody' is missing from"), ("v", "is a float feature")]:
        config = IngestConfig(
            source=ReadTFRecord(src), output_dir=str(tmp_path / name), partition_feature=name
        )
        with pytest.raises(ConfigError, match=message):
            _ = pipeline | name >> Ingest(config)  # refused while the pipeline is built
    out = str(tmp_path / "ok")
    config = IngestConfig(source=ReadTFRecord(src), output_dir=out, partition_feature="user")
    assert run_ingest(config)["examples"] == 2


def test_a_tfx_split_pattern_naming_a_folder_finds_its_format(csv_folder, tmp_path):
    """TFX's input_base + a split pattern that is a folder: the format comes
    from its files (markers and other files aside), and the run reads them."""
    from tfx.proto import example_gen_pb2
    from tfx.types import standard_component_specs as specs
    from tfx.utils import proto_utils

    from beam_ingest.config import build_config
    from beam_ingest.tfx_config import translate

    inputs = example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="all", pattern="a")])
    outputs = example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=1)]
        )
    )
    run = translate(
        {
            specs.INPUT_BASE_KEY: str(csv_folder),
            specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(inputs),
            specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(outputs),
        },
        str(tmp_path / "out"),
    )
    assert run.values["format"] == "csv"
    assert run_ingest(build_config(run.values))["examples"] == 1
