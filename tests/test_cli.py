"""The `beam-ingest` console script, as a user runs it: exit codes and messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import read_report, split_records

SCRIPT = os.path.join(os.path.dirname(sys.executable), "beam-ingest")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "in" / "data.csv"
    path.parent.mkdir()
    path.write_text("id,name\n" + "".join(f"{i},n{i}\n" for i in range(30)))
    return path


def test_run_succeeds_and_prints_a_summary(tmp_path, data):
    out = tmp_path / "out"
    result = run("run", "--format", "csv", "--input", str(data), "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert "records read" in result.stdout and "train" in result.stdout
    report = read_report(str(out))
    assert report["records_read"] == 30
    assert sum(s["examples"] for s in report["splits"].values()) == 30
    assert sorted(os.listdir(out)) == [
        "Split-eval",
        "Split-train",
        "ingest_report.json",
        "schema.pbtxt",
    ]
    assert "traceback" not in result.stderr.lower()


def test_inspect_shows_report_and_examples(tmp_path, data):
    out = tmp_path / "out"
    assert run("run", "--format", "csv", "--input", str(data), "--output", str(out)).returncode == 0
    result = run("inspect", str(out), "--examples", "2")
    assert result.returncode == 0, result.stderr
    assert "records read: 30" in result.stdout
    assert '"name": ["n' in result.stdout


def test_custom_splits_shards_and_no_compression(tmp_path, data):
    out = tmp_path / "out"
    result = run(
        "run", "--format", "csv", "--input", str(data), "--output", str(out),
        "--split", "a=1", "--split", "b=1", "--split", "c=2",
        "--num-shards", "3", "--compression", "none",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    names = sorted(os.listdir(out / "Split-c"))
    assert names == [f"data_tfrecord-0000{i}-of-00003" for i in range(3)]
    total = sum(len(split_records(str(out), s)) for s in "abc")
    assert total == 30


def test_input_splits_are_kept(tmp_path, data):
    other = tmp_path / "in2.csv"
    other.write_text("id,name\n100,x\n101,y\n")
    out = tmp_path / "out"
    result = run(
        "run", "--format", "csv", "--input-split", f"train={data}",
        "--input-split", f"test={other}", "--output", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(split_records(str(out), "train")) == 30
    assert len(split_records(str(out), "test")) == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--input", "/nonexistent/*.csv"], "--input: no file matches '/nonexistent/*.csv'"),
        (["--split", "train"], "--split: expected NAME=BUCKETS"),
        (["--max-bad-records", "-1"], "--max-bad-records: must be an int >= 0; got -1"),
        (["--partition-feature", "nope"], "--partition-feature: 'nope' is not a feature"),
        (["--schema", "/nonexistent.json"], "--schema: cannot read '/nonexistent.json'"),
        (["--delimiter", "ab"], "--delimiter: must be one character"),
    ],
)
def test_configuration_errors_exit_2(tmp_path, data, extra, message):
    args = ["run", "--format", "csv", "--output", str(tmp_path / "out")]
    if "--input" not in extra:
        args += ["--input", str(data)]
    result = run(*args, *extra)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_format_is_a_usage_error(tmp_path, data):
    result = run("run", "--format", "xls", "--input", str(data), "--output", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "--format: 'xls' is not one of ['avro', 'bigquery', 'csv'" in result.stderr


def test_existing_output_needs_overwrite(tmp_path, data):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    result = run("run", "--format", "csv", "--input", str(data), "--output", str(out))
    assert result.returncode == 2
    assert "exists and is not empty; use --overwrite" in result.stderr
    assert sorted(os.listdir(out)) == ["keep.txt"]
    result = run(
        "run", "--format", "csv", "--input", str(data), "--output", str(out), "--overwrite"
    )
    assert result.returncode == 0, result.stderr
    assert "keep.txt" not in os.listdir(out)
    assert read_report(str(out))["records_read"] == 30


@pytest.fixture
def bad_data(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,name\n1,a\n2\n3,c\n4,d,e\n")
    return path


def test_bad_records_fail_the_run_and_write_nothing(tmp_path, bad_data):
    out = tmp_path / "out"
    result = run("run", "--format", "csv", "--input", str(bad_data), "--output", str(out))
    assert result.returncode == 1
    assert f"{bad_data}:3: wrong field count: expected 2, got 1" in result.stderr
    assert f"{bad_data}:5: wrong field count: expected 2, got 3" in result.stderr
    assert "2 bad record(s), more than --max-bad-records 0" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()  # no Split-*, no report: nothing that looks complete


def test_max_bad_records_lets_the_run_through(tmp_path, bad_data):
    out = tmp_path / "out"
    result = run(
        "run", "--format", "csv", "--input", str(bad_data), "--output", str(out),
        "--max-bad-records", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = read_report(str(out))
    assert report["bad_records"]["count"] == 2
    assert report["records_read"] == report["examples"] + 2 == 4
    assert os.listdir(out / "errors") == ["bad_records-00000-of-00001.jsonl"]


def test_progress_line_counts_staged_bytes(tmp_path):
    from beam_ingest.cli import progress_line

    (tmp_path / "Split-train").mkdir()
    (tmp_path / "Split-train" / "part-1").write_bytes(b"x" * 1_500_000)
    (tmp_path / "part-2").write_bytes(b"x" * 500_000)
    assert progress_line(str(tmp_path), 12.4) == "    12 s       2.0 MB written"
    assert progress_line(None, 0) == "     0 s       0.0 MB written"


def test_a_terminal_sees_progress(tmp_path, data):
    """On a terminal (a pty here) a run rewrites a progress line on stderr."""
    import pty

    leader, follower = pty.openpty()
    big = tmp_path / "big.csv"
    big.write_text("id,name\n" + "".join(f"{i},n{i}\n" for i in range(300_000)))
    proc = subprocess.run(
        [SCRIPT, "run", "--format", "csv", "--input", str(big), "--output", str(tmp_path / "o")],
        stdout=subprocess.PIPE, stderr=follower, timeout=300,
    )  # fmt: skip
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert proc.returncode == 0
    assert b"MB written" in seen


def test_parquet_with_projection(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table({"a": [1, 0, None], "b": ["x", "", None], "s": [{"c": 1.5}, None, {"c": 0.0}]}),
        tmp_path / "d.parquet",
        row_group_size=2,
    )
    out = tmp_path / "out"
    result = run(
        "run", "--format", "parquet", "--input", str(tmp_path / "*.parquet"),
        "--output", str(out), "--columns", "a,s.c", "--split", "all=1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert read_report(str(out))["schema"] == {"a": "int", "s.c": "float"}
    assert len(split_records(str(out), "all")) == 3


def test_columns_only_for_parquet(tmp_path, data):
    result = run(
        "run", "--format", "csv", "--input", str(data), "--output", str(tmp_path / "o"),
        "--columns", "id",
    )  # fmt: skip
    assert result.returncode == 2
    assert "--columns: only applies to format parquet; got format 'csv'" in result.stderr


def test_tfrecord_input_is_resplit(tmp_path):
    """The taxi TFRecords that TFX ships, re-split into our layout, none lost."""
    from tfx.components import example_gen

    source = os.path.join(
        os.path.dirname(example_gen.__file__), "..", "testdata", "external", "tfrecord", "*"
    )
    out = tmp_path / "out"
    result = run(
        "run", "--format", "tfrecord", "--input", source, "--output", str(out),
        "--split", "a=1", "--split", "b=1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = read_report(str(out))
    assert report["records_read"] == report["examples"] == 15_000


def test_jsonl_and_avro_give_the_csv_examples(tmp_path):
    """One small table as CSV, JSONL and Avro: the same examples in each split."""
    import fastavro

    rows = [{"id": i, "name": f"n{i}", "score": i / 2} for i in range(40)]
    (tmp_path / "d.csv").write_text(
        "id,name,score\n" + "".join(f"{r['id']},{r['name']},{r['score']:.1f}\n" for r in rows)
    )
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    schema = {
        "type": "record",
        "name": "Row",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "name", "type": "string"},
            {"name": "score", "type": "double"},
        ],
    }
    with open(tmp_path / "d.avro", "wb") as f:
        fastavro.writer(f, schema, rows)
    examples = {}
    for fmt, name in [("csv", "d.csv"), ("jsonl", "d.jsonl"), ("avro", "d.avro")]:
        out = tmp_path / f"out-{fmt}"
        result = run(
            "run", "--format", fmt, "--input", str(tmp_path / name), "--output", str(out)
        )  # fmt: skip
        assert result.returncode == 0, (fmt, result.stderr)
        examples[fmt] = {s: sorted(split_records(str(out), s)) for s in ("train", "eval")}
    assert examples["csv"] == examples["jsonl"] == examples["avro"]
    assert len(examples["csv"]["train"]) + len(examples["csv"]["eval"]) == 40


def test_jsonl_mixed_kinds_is_a_configuration_error(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"v": 1}\n{"v": "x"}\n')
    result = run("run", "--format", "jsonl", "--input", str(path), "--output", str(tmp_path / "o"))
    assert result.returncode == 2, result.stderr
    assert "field 'v' is a number at" in result.stderr
    assert "Traceback" not in result.stderr


def _span_tree(root, spans):
    for span, version in spans:
        folder = root / f"span-{span}" / f"v{version}"
        folder.mkdir(parents=True)
        (folder / "d.csv").write_text("id,span\n" + "".join(f"{i},{span}\n" for i in range(5)))
    return str(root / "span-{SPAN}" / "v{VERSION}" / "*.csv")


def test_a_new_span_is_picked_up_by_the_next_run(tmp_path):
    pattern = _span_tree(tmp_path / "in", [(1, 1), (1, 2)])
    out = tmp_path / "out"
    args = ["run", "--format", "csv", "--input", pattern, "--output", str(out), "--overwrite"]
    assert run(*args).returncode == 0
    report = read_report(str(out))
    assert (report["span"], report["version"], report["records_read"]) == (1, 2, 5)
    _span_tree(tmp_path / "in", [(2, 1)])  # new data lands
    assert run(*args).returncode == 0
    report = read_report(str(out))
    assert (report["span"], report["version"]) == (2, 1)
    assert report["input_fingerprint"].startswith("split:all,num_files:1")


def test_span_selection_and_spans_command(tmp_path):
    pattern = _span_tree(tmp_path / "in", [(1, 1), (2, 1), (3, 1)])
    result = run("spans", "--input", pattern, "--span-range", "1:2")
    assert result.returncode == 0, result.stderr
    assert "span-1/v1/d.csv" in result.stdout and "span-2/v1/d.csv" in result.stdout
    assert "span-3" not in result.stdout.split("read")[-1]
    out = tmp_path / "out"
    result = run("run", "--format", "csv", "--input", pattern, "--output", str(out), "--span", "3")
    assert result.returncode == 0, result.stderr
    assert read_report(str(out))["spans"] == [3]
    bad = run("spans", "--input", str(tmp_path / "in" / "span-{SPAN}-{SPAN}"))
    assert bad.returncode == 2
    assert "{SPAN}" in bad.stderr


def test_images_with_folder_labels(tmp_path):
    from PIL import Image

    for label in ("cat", "dog"):
        (tmp_path / "img" / label).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 6), (i, 0, 0)).save(tmp_path / "img" / label / f"{i}.png")
    (tmp_path / "img" / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    result = run(
        "run", "--format", "images", "--input", str(tmp_path / "img" / "**"),
        "--output", str(out), "--split", "all=1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (out / "labels.txt").read_text().split() == ["cat", "dog"]
    report = read_report(str(out))
    assert report["examples"] == 6
    assert report["skipped_files"]["all"]["count"] == 1


def test_span_feature_holds_each_examples_span(tmp_path):
    from tests.helpers import decode

    pattern = _span_tree(tmp_path / "in", [(1, 1), (2, 1), (3, 1)])
    out = tmp_path / "out"
    result = run(
        "run", "--format", "csv", "--input", pattern, "--output", str(out),
        "--last-spans", "2", "--span-feature", "data_span", "--split", "all=1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [decode(r) for r in split_records(str(out), "all")]
    assert sorted(r["data_span"][1][0] for r in rows) == [2] * 5 + [3] * 5
    assert all(r["data_span"][1] == r["span"][1] for r in rows)  # the file's own column
    assert read_report(str(out))["schema"]["data_span"] == "int"


def test_span_feature_errors(tmp_path, data):
    base = ["run", "--format", "csv", "--output", str(tmp_path / "o"), "--span-feature"]
    result = run(*base, "x", "--input", str(data))
    assert result.returncode == 2
    assert "--span-feature: needs an input pattern with {SPAN}" in result.stderr
    pattern = _span_tree(tmp_path / "in", [(1, 1)])
    result = run(*base, "span", "--input", pattern)
    assert result.returncode == 2
    assert "--span-feature: the input already has a feature 'span'" in result.stderr


def test_compression_level_zero_is_valid_gzip_tensorflow_reads(tmp_path, data):
    import tensorflow as tf

    out = tmp_path / "out"
    result = run(
        "run", "--format", "csv", "--input", str(data), "--output", str(out),
        "--compression-level", "0", "--split", "all=1", "--num-shards", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    paths = sorted(str(p) for p in (out / "Split-all").iterdir())
    read = tf.data.TFRecordDataset(paths, compression_type="GZIP")
    assert sum(1 for _ in read) == 30
    assert read_report(str(out))["compression_level"] == 0
    bad = run("run", "--format", "csv", "--input", str(data), "--output", str(tmp_path / "o"),
              "--compression-level", "10")  # fmt: skip
    assert bad.returncode == 2
    assert "--compression-level: must be 0 to 9; got 10" in bad.stderr


# --- options the command does not know are errors, not silently ignored ----------------


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--splitt", "train=3"], "unrecognized argument '--splitt'; did you mean '--split'?"),
        (["--ouput-format", "x"], "unrecognized argument '--ouput-format'"),
        (
            ["--runner=DirectRunner"],
            "--runner is a Beam pipeline option: put it after --, e.g. -- --runner=DirectRunner",
        ),
        (["--", "--max-bad-records=3"], "--max-bad-records is a beam-ingest option: put it before"),
        (["--", "--direct_num_wokers=2"], "--direct_num_wokers is not a Beam pipeline option; did"),
        (["--max-bad-records", "-1"], "--max-bad-records: must be an int >= 0; got -1"),
        (["--format", "cvs"], "--format: 'cvs' is not one of ['avro', 'bigquery', 'csv'"),
        (["--columns", "a"], "--columns: only applies to format parquet; got format 'csv'"),
    ],
)
def test_unknown_or_misplaced_options_are_usage_errors(tmp_path, data, capsys, extra, message):
    from beam_ingest.cli import main

    args = ["run", "--format", "csv", "--input", str(data), "--output", str(tmp_path / "o")]
    if extra[:1] == ["--format"]:
        args = args[:1] + args[3:]
    status = main(args + extra)
    err = capsys.readouterr().err
    assert status == 2, err
    assert message in err
    assert not (tmp_path / "o").exists()
