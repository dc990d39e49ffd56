"""tf.SequenceExample output (issue 20): rows grouped into sequences, split on
the key, read back through tfx_bsl, and every error case.

A generated clickstream (users, sessions, events with timestamps, NULLs,
shuffled rows, tied timestamps, rows without a user) is written as three CSV,
Parquet and JSONL files and ingested through the CLI, the Python API and
`build_config`; the decoded sequences must equal a plain Python group-and-sort
of the same rows.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import pickle
import random
from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from beam_ingest import IngestConfig
from beam_ingest.cli import main
from beam_ingest.config import build_config
from beam_ingest.connectors.parquet import ReadParquet
from beam_ingest.errors import ConfigError
from beam_ingest.framing import read_records
from beam_ingest.source import FlattenSources
from beam_ingest.splits import DEFAULT_SPLITS, SplitAssigner
from beam_ingest.transforms import sequence as sequence_module
from beam_ingest.transforms.sequence import SequenceSpec
from tests.helpers import bad_records, read_report, run_ingest

COLUMNS = ("user", "country", "session", "ts", "event", "price")
KINDS = {"user": "bytes_list", "country": "bytes_list", "session": "bytes_list",
         "ts": "int64_list", "event": "bytes_list", "price": "float_list"}  # fmt: skip
LISTS = ("event", "price", "session", "ts")


def clickstream(seed: int = 20, users: int = 40) -> list[dict]:
    """Events of `users` users, shuffled; some NULL cells, ties, keyless rows."""
    rng = random.Random(seed)
    rows = []
    for u in range(users):
        for i in range(rng.randint(1, 14)):
            rows.append({
                "user": f"u{u}",
                "country": ("US", "FR", "JP")[u % 3],
                "session": f"u{u}-s{i // 5}",
                "ts": rng.randint(0, 40) if rng.random() > 0.08 else None,
                "event": rng.choice(("view", "click", "buy")) if rng.random() > 0.1 else None,
                "price": float(rng.randint(1, 999)) / 4 if rng.random() > 0.3 else None,
            })  # fmt: skip
    rng.shuffle(rows)
    for i in (3, 50, 120):
        rows.insert(i, {**rows[i], "user": None})
    return rows


def parts(rows: list[dict], n: int = 3) -> list[list[dict]]:
    return [rows[i::n] for i in range(n)]


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for r in rows:
            writer.writerow(["" if r[c] is None else r[c] for c in COLUMNS])


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps({k: v for k, v in r.items() if v is not None}) + "\n")


_ARROW = pa.schema([("user", pa.string()), ("country", pa.string()), ("session", pa.string()),
                    ("ts", pa.int64()), ("event", pa.string()),
                    ("price", pa.float64())])  # fmt: skip


def write_parquet(path: Path, rows: list[dict]) -> None:
    pq.write_table(pa.Table.from_pylist(rows, schema=_ARROW), path)


def _value(column: str, value) -> tuple[str, list]:
    if value is None:
        return KINDS[column], []
    if column == "price":
        return KINDS[column], [float(np.float32(value))]
    if column == "ts":
        return KINDS[column], [value]
    return KINDS[column], [value.encode()]


def expected(files: list[list[dict]], max_length: int | None = None, keep: str = "last"):
    """user -> {"context": {...}, "lists": {name: [(kind, values), ...]}}: a plain
    group-and-sort (NULL ts last, ties by file, then row in the file)."""
    grouped: dict[str, list] = {}
    for f, rows in enumerate(files):
        for i, r in enumerate(rows):
            if r["user"] is not None:
                grouped.setdefault(r["user"], []).append(((r["ts"] is None, r["ts"] or 0, f, i), r))
    out = {}
    for user, steps in grouped.items():
        steps = [r for _, r in sorted(steps, key=lambda s: s[0])]
        if max_length is not None and len(steps) > max_length:
            steps = steps[:max_length] if keep == "first" else steps[-max_length:]
        out[user] = {
            "context": {c: _value(c, steps[0][c]) for c in ("user", "country")},
            "lists": {c: [_value(c, r[c]) for r in steps] for c in LISTS},
        }
    return out


def _feature(feature) -> tuple[str | None, list]:
    kind = feature.WhichOneof("kind")
    return kind, list(getattr(feature, kind).value) if kind else []


def read_sequences(output: str) -> dict[str, dict]:
    """user -> decoded sequence, with the split it is in and its bytes."""
    found = {}
    for folder in sorted(glob.glob(os.path.join(output, "Split-*"))):
        split = os.path.basename(folder).removeprefix("Split-")
        for path in sorted(glob.glob(os.path.join(folder, "*"))):
            for record in read_records(path):
                s = tf.train.SequenceExample.FromString(record)
                assert s.SerializeToString(deterministic=True) == record
                user = s.context.feature["user"].bytes_list.value[0].decode()
                assert user not in found, f"{user} is in two sequences"
                found[user] = {
                    "split": split,
                    "context": {k: _feature(v) for k, v in s.context.feature.items()},
                    "lists": {
                        k: [_feature(f) for f in v.feature]
                        for k, v in s.feature_lists.feature_list.items()
                    },
                }
    return found


def _strip(found: dict) -> dict:
    return {u: {"context": s["context"], "lists": s["lists"]} for u, s in found.items()}


@pytest.fixture(scope="module")
def clicks(tmp_path_factory) -> dict:
    """The clickstream in three files per format, and each format's output."""
    root = tmp_path_factory.mktemp("clicks")
    rows = clickstream()
    files = parts(rows)
    for fmt, write in (("csv", write_csv), ("parquet", write_parquet), ("jsonl", write_jsonl)):
        (root / fmt).mkdir()
        for i, part in enumerate(files):
            write(root / fmt / f"part-{i}.{fmt}", part)
    outputs = {fmt: str(root / f"out_{fmt}") for fmt in ("csv", "parquet", "jsonl")}
    # The CLI ...
    assert main(["run", "--format", "csv", "--input", str(root / "csv" / "*.csv"),
                 "--output", outputs["csv"], "--sequence-key", "user", "--sequence-order", "ts",
                 "--context", "country", "--max-bad-records", "10"]) == 0  # fmt: skip
    # ... the Python API ...
    run_ingest(IngestConfig(
        source=ReadParquet(str(root / "parquet" / "*.parquet")),
        output_dir=outputs["parquet"],
        sequence=SequenceSpec(key=("user",), order="ts", context=("country",)),
        max_bad_records=10,
    ))  # fmt: skip
    # ... and build_config, as the TFX executor and the template call it.
    run_ingest(build_config({
        "format": "jsonl", "input": str(root / "jsonl" / "*.jsonl"), "output": outputs["jsonl"],
        "sequence_key": "user", "sequence_order": "ts", "context": ["country"],
        "max_bad_records": 10,
    }))  # fmt: skip
    return {"root": root, "rows": rows, "files": files, "outputs": outputs}


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_sequences_equal_a_python_group_and_sort(clicks, fmt):
    found = read_sequences(clicks["outputs"][fmt])
    assert _strip(found) == expected(clicks["files"])


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_counts_add_up_and_null_keys_are_dead_letters(clicks, fmt):
    output = clicks["outputs"][fmt]
    report = read_report(output)
    rows = clicks["rows"]
    keyed = [r for r in rows if r["user"] is not None]
    assert report["records_read"] == len(rows)
    assert report["examples"] == len({r["user"] for r in keyed})
    assert report["payload_format"] == "FORMAT_TF_SEQUENCE_EXAMPLE"
    seq = report["sequence"]
    assert seq["rows"] == len(keyed) and seq["steps"] == len(keyed)
    assert seq["null_keys"] == 3 and seq["sequences"] == report["examples"]
    assert seq["key"] == ["user"] and seq["context"] == ["user", "country"]
    bad = bad_records(output)
    assert len(bad) == report["bad_records"]["count"] == 3
    for record in bad:
        assert "sequence_key: 'user' is NULL" in record["reason"]
        assert record["file"].endswith(f".{fmt}")
        assert json.loads(record["raw"])["user"] is None


def test_a_user_is_in_one_split_chosen_by_tfx_rule_on_the_key(clicks):
    assigner = SplitAssigner(DEFAULT_SPLITS)
    found = read_sequences(clicks["outputs"]["csv"])
    assert {s["split"] for s in found.values()} == {"train", "eval"}
    for user, s in found.items():
        key = tf.train.Feature(bytes_list=tf.train.BytesList(value=[user.encode()]))
        index = assigner.assign(key.SerializeToString(deterministic=True))
        assert assigner.names[index] == s["split"], user


def test_schema_pbtxt_has_the_feature_lists_as_tfx_sequence_struct(clicks):
    text = Path(clicks["outputs"]["csv"], "schema.pbtxt").read_text()
    schema = text_format.Parse(text, schema_pb2.Schema())
    top = {f.name: f for f in schema.feature}
    assert set(top) == {"user", "country", "##SEQUENCE##"}
    assert top["##SEQUENCE##"].type == schema_pb2.STRUCT
    inner = {f.name: f.type for f in top["##SEQUENCE##"].struct_domain.feature}
    assert inner == {"event": schema_pb2.BYTES, "price": schema_pb2.FLOAT,
                     "session": schema_pb2.BYTES, "ts": schema_pb2.INT}  # fmt: skip


def _save(batch, folder: str) -> None:
    with open(os.path.join(folder, f"{id(batch)}.pkl"), "wb") as f:
        pickle.dump(batch, f)


def tfxio_rows(output: str, files: str, folder) -> list[dict]:
    """The rows tfx_bsl's TFSequenceExampleRecord TFXIO reads from an output
    (`files`: the glob under each Split-*), with the output's schema.pbtxt."""
    from tfx_bsl.public import tfxio

    schema = text_format.Parse(Path(output, "schema.pbtxt").read_text(), schema_pb2.Schema())
    source = tfxio.TFSequenceExampleRecord(
        file_pattern=os.path.join(output, "Split-*", files),
        schema=schema,
        telemetry_descriptors=["beam_ingest_test"],
    )
    with beam.Pipeline() as p:
        _ = p | source.BeamSource(batch_size=1000) | beam.Map(_save, str(folder))
    return [r for path in folder.glob("*.pkl") for r in pickle.loads(path.read_bytes()).to_pylist()]


def test_tfx_bsl_sequence_example_tfxio_reads_the_expected_record_batch(clicks, tmp_path):
    rows = tfxio_rows(clicks["outputs"]["parquet"], "*", tmp_path)
    want = expected(clicks["files"])
    assert len(rows) == len(want)
    for row in rows:
        user = row["user"][0].decode()
        assert row["country"] == want[user]["context"]["country"][1]
        for name in LISTS:  # every step present, NULLs as empty lists: aligned
            assert row["##SEQUENCE##"][name] == [v for _, v in want[user]["lists"][name]], name


def test_deterministic_reruns_write_identical_bytes(clicks, tmp_path):
    pattern = str(clicks["root"] / "csv" / "*.csv")
    outputs = []
    for run in ("a", "b"):
        out = tmp_path / run
        assert main(["run", "--format", "csv", "--input", pattern, "--output", str(out),
                     "--sequence-key", "user", "--sequence-order", "ts", "--context", "country",
                     "--max-bad-records", "3", "--deterministic"]) == 0  # fmt: skip
        outputs.append({p.relative_to(out): p.read_bytes() for p in out.glob("Split-*/*")})
    assert outputs[0] == outputs[1]
    assert _strip(read_sequences(str(tmp_path / "a"))) == expected(clicks["files"])


def test_inspect_prints_the_context_then_a_table_of_steps(clicks, capsys):
    assert main(["inspect", clicks["outputs"]["csv"], "--examples", "1"]) == 0
    out = capsys.readouterr().out
    assert "schema: " in out and "event:[bytes]" in out
    assert "context: country=" in out and ", user=u" in out
    header = [line for line in out.splitlines() if line.strip().startswith("step")]
    assert header and header[0].split() == ["step", "event", "price", "session", "ts"]


def test_reimported_sequence_examples_keep_their_bytes_and_splits(clicks, tmp_path):
    source = clicks["outputs"]["csv"]
    out = tmp_path / "re"
    assert main(["run", "--format", "tfrecord", "--payload", "sequence_example",
                 "--input", os.path.join(source, "Split-*", "*.gz"), "--output", str(out),
                 "--partition-feature", "user"]) == 0  # fmt: skip
    before, after = read_sequences(source), read_sequences(str(out))
    assert after == before  # same sequences, each in the same split (TFX's partition rule)
    report = read_report(str(out))
    assert report["payload_format"] == "FORMAT_TF_SEQUENCE_EXAMPLE"
    assert set(report["schema"]["##SEQUENCE##"]) == set(LISTS)


def test_tf_examples_given_as_sequence_examples_are_dead_letters(tmp_path):
    path = tmp_path / "in.tfrecord"
    with tf.io.TFRecordWriter(str(path)) as w:
        example = tf.train.Example()
        example.features.feature["id"].int64_list.value.append(1)
        w.write(example.SerializeToString())
        sequence = tf.train.SequenceExample()
        sequence.context.feature["id"].int64_list.value.append(2)
        sequence.feature_lists.feature_list["x"].feature.add().int64_list.value.append(3)
        w.write(sequence.SerializeToString())
        w.write(b"\xff\xff not a proto")
    report = run_ingest(build_config({
        "format": "tfrecord", "payload": "sequence_example", "input": str(path),
        "output": str(tmp_path / "out"), "max_bad_records": 2,
    }))  # fmt: skip
    assert report["examples"] == 1 and report["bad_records"]["count"] == 2
    reasons = [b["reason"] for b in bad_records(str(tmp_path / "out"))]
    assert "not a tf.SequenceExample: it has no feature_lists (a tf.Example?" in reasons[0]
    assert "rejects it as a tf.SequenceExample" in reasons[1]


def _small(tmp_path: Path, rows: list[dict], name: str = "in.csv") -> str:
    write_csv(tmp_path / name, rows)
    return str(tmp_path / name)


def _run(tmp_path: Path, path: str, **options) -> dict:
    values = {"format": "csv", "input": path, "output": str(tmp_path / "out"), **options}
    return run_ingest(build_config(values))


LONG = [{"user": "a", "country": "US", "session": "s", "ts": t, "event": f"e{t}", "price": 1.0}
        for t in (5, 1, 4, 2, 3)] + [
        {"user": "b", "country": "FR", "session": "s", "ts": 1, "event": "x",
         "price": None}]  # fmt: skip


@pytest.mark.parametrize("keep", ["last", "first"])
def test_max_sequence_length_keeps_the_latest_or_the_first_steps(tmp_path, keep):
    report = _run(tmp_path, _small(tmp_path, LONG), sequence_key="user", sequence_order="ts",
                  context="country", max_sequence_length=3, truncate=keep)  # fmt: skip
    found = read_sequences(str(tmp_path / "out"))
    assert [v for _, v in found["a"]["lists"]["ts"]] == (
        [[3], [4], [5]] if keep == "last" else [[1], [2], [3]]
    )
    assert _strip(found) == expected([LONG], 3, keep)
    assert report["sequence"]["truncated_steps"] == 2 and report["sequence"]["longest"] == 5


def test_truncate_none_makes_a_long_sequence_a_dead_letter(tmp_path):
    report = _run(tmp_path, _small(tmp_path, LONG), sequence_key="user", sequence_order="ts",
                  max_sequence_length=3, truncate="none", max_bad_records=1)  # fmt: skip
    assert report["examples"] == 1 and report["records_read"] == 6
    (bad,) = bad_records(str(tmp_path / "out"))
    assert (
        "user='a'" in bad["reason"]
        and "5 steps, more than max_sequence_length=3" in (bad["reason"])
    )


def test_a_context_value_that_differs_is_a_dead_letter_naming_key_and_column(tmp_path):
    rows = [dict(r) for r in LONG]
    rows[2]["country"] = "DE"
    report = _run(tmp_path, _small(tmp_path, rows), sequence_key="user", sequence_order="ts",
                  context="country", max_bad_records=1)  # fmt: skip
    assert report["examples"] == 1 and report["sequence"]["context_conflicts"] == 1
    (bad,) = bad_records(str(tmp_path / "out"))
    assert "sequence_key user='a'" in bad["reason"]
    assert "context feature 'country' differs" in bad["reason"] and "'DE'" in bad["reason"]


def test_a_context_conflict_across_files_is_found_too(tmp_path):
    _small(tmp_path, LONG[:3], "a.csv")
    _small(tmp_path, [{**r, "country": "DE"} for r in LONG[3:5]], "b.csv")
    with pytest.raises(Exception, match="1 bad record"):
        _run(tmp_path, str(tmp_path / "*.csv"), sequence_key="user", context="country")


def test_without_a_cap_a_huge_sequence_fails_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setattr(sequence_module, "UNCAPPED_BYTES", 30)
    with pytest.raises(Exception, match=r"sequence_key user='a': the sequence holds more than"):
        _run(tmp_path, _small(tmp_path, LONG), sequence_key="user")
    monkeypatch.setattr(sequence_module, "UNCAPPED_BYTES", 30)  # a cap bounds it instead
    report = _run(tmp_path, str(tmp_path / "in.csv"), sequence_key="user",
                  max_sequence_length=2, overwrite=True)  # fmt: skip
    assert report["sequence"]["steps"] == 3


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"sequence_key": "nobody"}, Exception, "sequence_key: column 'nobody' is not in"),
        ({"sequence_key": "user", "sequence_order": "when"}, Exception,
         "sequence_order: column 'when' is not in"),
        ({"sequence_key": "user", "context": "planet"}, Exception,
         "context: column 'planet' is not in"),
        ({"sequence_key": "user", "sequence_order": "country"}, ConfigError,
         "is a context feature"),
        ({"sequence_order": "ts"}, ConfigError, "sequence_order: needs `sequence_key`"),
        ({"sequence_key": "user", "truncate": "none"}, ConfigError, "truncate: 'none' needs"),
        ({"sequence_key": "user", "partition_feature": "session"}, ConfigError,
         "partition_feature: 'session' must be a context feature"),
        ({"sequence_key": "user", "max_sequence_length": 0}, ConfigError,
         "max_sequence_length: must be"),
    ],
)  # fmt: skip
def test_configuration_errors_name_the_option(tmp_path, options, error, message):
    path = _small(tmp_path, LONG)
    with pytest.raises(error, match=message):
        _run(tmp_path, path, **{"context": "country", **options})


def test_an_order_column_of_mixed_types_is_not_sortable(tmp_path):
    pq.write_table(pa.table({"user": ["a", "a"], "ts": [1, 2]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"user": ["a"], "ts": ["x"]}), tmp_path / "b.parquet")
    with pytest.raises(Exception, match=r"sequence_order: 'ts' is not sortable: it has mixed"):
        run_ingest(IngestConfig(  # two sources (two spans, say) may type a column apart
            source=FlattenSources([ReadParquet(str(tmp_path / f"{n}.parquet")) for n in "ab"]),
            output_dir=str(tmp_path / "out"), sequence=SequenceSpec(key=("user",), order="ts"),
        ))  # fmt: skip


def test_an_order_column_of_lists_is_refused(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", [{"user": "a", "ts": [1, 2]}])
    with pytest.raises(Exception, match=r"sequence_order: 'ts' holds lists"):
        run_ingest(build_config({"format": "jsonl", "input": str(tmp_path / "a.jsonl"),
                                 "output": str(tmp_path / "out"), "sequence_key": "user",
                                 "sequence_order": "ts"}))  # fmt: skip


def test_a_schema_whose_context_and_sequence_features_clash_is_refused(tmp_path):
    schema = tmp_path / "schema.pbtxt"
    schema.write_text(
        'feature { name: "user" type: BYTES }\n'
        'feature { name: "##SEQUENCE##" type: STRUCT struct_domain {\n'
        '  feature { name: "user" type: BYTES } feature { name: "ts" type: INT } } }\n'
    )
    with pytest.raises(ConfigError, match=r"'user' in .* is both a context feature and a sequence"):
        _run(tmp_path, _small(tmp_path, LONG), sequence_key="user", schema=str(schema))
    schema.write_text(
        'feature { name: "user" type: BYTES }\n'
        'feature { name: "##SEQUENCE##" type: STRUCT struct_domain {\n'
        '  feature { name: "country" type: BYTES } } }\n'
    )
    with pytest.raises(ConfigError, match="schema: 'country' is a sequence feature"):
        _run(tmp_path, _small(tmp_path, LONG), sequence_key="user", context="country",
             schema=str(schema))  # fmt: skip


def test_a_column_named_like_tfx_sequence_struct_is_refused(tmp_path):
    pq.write_table(pa.table({"user": ["a"], "##SEQUENCE##": [1]}), tmp_path / "a.parquet")
    with pytest.raises(ConfigError, match="has a column named '##SEQUENCE##'"):
        run_ingest(IngestConfig(
            source=ReadParquet(str(tmp_path / "a.parquet")), output_dir=str(tmp_path / "out"),
            sequence=SequenceSpec(key=("user",)),
        ))  # fmt: skip


def _records(output: str) -> set[bytes]:
    return {
        r for path in glob.glob(os.path.join(output, "Split-*", "*")) for r in read_records(path)
    }


@pytest.mark.parametrize("buckets", [1, 13])
def test_the_number_of_buckets_changes_no_sequence(clicks, tmp_path, buckets):
    """The shuffle's key is a bucket of keys: one bucket or many, the same bytes."""
    out = tmp_path / "out"
    assert main(["run", "--format", "csv", "--input", str(clicks["root"] / "csv" / "*.csv"),
                 "--output", str(out), "--sequence-key", "user", "--sequence-order", "ts",
                 "--context", "country", "--max-bad-records", "10",
                 "--sequence-buckets", str(buckets)]) == 0  # fmt: skip
    assert _records(str(out)) == _records(clicks["outputs"]["csv"])
    report = read_report(str(out))["sequence"]
    assert report["sequences"] == len(expected(clicks["files"]))
    assert report["buckets"] == {"all": buckets}
    assert read_report(clicks["outputs"]["csv"])["sequence"]["buckets"] == {"all": 1}  # 3 KB in


def test_a_bucket_pruned_while_its_parts_arrive_keeps_the_cap(clicks, tmp_path, monkeypatch):
    """Every shuffle value alone (HOLD_BYTES 0), and the bucket merged and
    capped after each one (PRUNE_BYTES 0): as one merge at the end."""
    monkeypatch.setattr(sequence_module, "HOLD_BYTES", 0)
    monkeypatch.setattr(sequence_module, "PRUNE_BYTES", 0)
    files = [rows for rows in clicks["files"]]
    report = _run(tmp_path, str(clicks["root"] / "csv" / "*.csv"), sequence_key="user",
                  sequence_order="ts", context="country", max_sequence_length=3,
                  sequence_buckets=2, max_bad_records=10)  # fmt: skip
    found = read_sequences(str(tmp_path / "out"))
    want = expected(files, 3, "last")
    assert {u: [v for _, v in s["lists"]["ts"]] for u, s in _strip(found).items()} == {
        u: [v for _, v in s["lists"]["ts"]] for u, s in want.items()
    }
    assert report["sequence"]["steps"] == sum(len(s["lists"]["ts"]) for s in want.values())
    keyed = [r for r in clicks["rows"] if r["user"] is not None]
    assert report["sequence"]["rows"] == len(keyed)
    assert report["sequence"]["truncated_steps"] == len(keyed) - report["sequence"]["steps"]


def test_a_column_a_file_lacks_gives_empty_steps_and_a_key_without_it_no_list(tmp_path):
    pq.write_table(pa.table({"user": ["a", "b"], "ts": [1, 1]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"user": ["b"], "ts": [2], "price": [2.5]}), tmp_path / "b.parquet")
    report = run_ingest(IngestConfig(
        source=FlattenSources([ReadParquet(str(tmp_path / f"{f}.parquet")) for f in "ab"]),
        output_dir=str(tmp_path / "out"),
        sequence=SequenceSpec(key=("user",), order="ts", buckets=1),
    ))  # fmt: skip
    assert report["examples"] == 2
    lists = {}
    for path in glob.glob(str(tmp_path / "out" / "Split-*" / "*")):
        for record in read_records(path):
            s = tf.train.SequenceExample.FromString(record)
            user = s.context.feature["user"].bytes_list.value[0].decode()
            lists[user] = {k: [_feature(f) for f in v.feature]
                           for k, v in s.feature_lists.feature_list.items()}  # fmt: skip
    assert lists["a"] == {"ts": [("int64_list", [1])]}
    assert lists["b"] == {"ts": [("int64_list", [1]), ("int64_list", [2])],
                          "price": [(None, []), ("float_list", [2.5])]}  # fmt: skip
