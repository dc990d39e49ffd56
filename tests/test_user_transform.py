"""`--transform-fn`: loading the function, applying it to any source, errors, counts."""

from __future__ import annotations

import pytest

from beam_ingest import IngestConfig
from beam_ingest.connectors.csv import ReadCsv
from beam_ingest.connectors.tfrecord import ReadTFRecord
from beam_ingest.errors import ConfigError, DataError, from_pipeline_failure
from beam_ingest.user_transform import TransformFn
from tests.helpers import decode, run_ingest, split_records
from tests.registry_data import ROWS, write_all, write_csv

FUNCTIONS = '''
import pyarrow as pa
import pyarrow.compute as pc

def prepare(batch):
    """Joins id and text, maps score to a label, drops id 3."""
    columns = {}
    for name in ("id", "text", "score"):
        column = batch.column(name)
        if pa.types.is_large_list(column.type):  # decoded examples: one value each
            column = pc.list_flatten(column)
        columns[name] = column
    keep = pc.not_equal(columns["id"], 3)
    ids, texts, scores = (pc.filter(columns[n], keep) for n in ("id", "text", "score"))
    as_text = [pc.cast(ids, pa.string()), pc.cast(texts, pa.string())]
    joined = pc.binary_join_element_wise(*as_text, ":")
    label = pc.if_else(pc.greater(scores, 2), "high", "low")
    return pa.RecordBatch.from_arrays([joined, label], names=["sentence", "label"])

def broken(batch):
    return batch.column("no_such_column")

def not_a_batch(batch):
    return [1, 2]

NOT_CALLABLE = 3
'''


@pytest.fixture(scope="module")
def module_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fn") / "prepare.py"
    path.write_text(FUNCTIONS)
    return path


@pytest.fixture(scope="module")
def applied(module_file, tmp_path_factory):
    """One run: a CSV and a TFRecord source (as two splits) through `prepare`."""
    tmp = tmp_path_factory.mktemp("applied")
    data = write_all(tmp / "data")
    out = str(tmp / "out")
    report = run_ingest(
        IngestConfig(
            split_sources={
                "csv": ReadCsv(str(data["csv"][0])),
                "tfrecord": ReadTFRecord(str(data["tfrecord"][0])),
            },
            output_dir=out,
            transform_fn=f"{module_file}:prepare",
        )
    )
    return report, out


EXPECTED = sorted(
    (f"{r['id']}:{r['text']}", "high" if r["score"] > 2 else "low") for r in ROWS if r["id"] != 3
)


@pytest.mark.parametrize("split", ["csv", "tfrecord"])
def test_the_function_shapes_the_examples(applied, split):
    _, out = applied
    examples = [decode(r) for r in split_records(out, split)]
    got = sorted((e["sentence"][1][0].decode(), e["label"][1][0].decode()) for e in examples)
    assert got == EXPECTED
    assert {tuple(sorted(e)) for e in examples} == {("label", "sentence")}


def test_dropped_records_are_counted_in_the_report(applied, module_file):
    report, _ = applied
    assert report["transform"] == {"function": f"{module_file}:prepare", "records_dropped": 2}
    assert report["records_read"] == 2 * len(ROWS)
    assert report["examples"] == 2 * (len(ROWS) - 1)
    assert report["schema"] == {"label": "bytes", "sentence": "bytes"}


def _failure(module_file, tmp_path, name: str) -> DataError:
    csv = write_csv(tmp_path / "in.csv")
    config = IngestConfig(
        source=ReadCsv(str(csv)),
        output_dir=str(tmp_path / "out"),
        transform_fn=f"{module_file}:{name}",
    )
    with pytest.raises(Exception) as caught:
        run_ingest(config)
    error = caught.value
    error = error if isinstance(error, DataError) else from_pipeline_failure(error)
    assert isinstance(error, DataError)
    assert not (tmp_path / "out").exists()
    return error


def test_an_exception_names_the_function_and_the_file(module_file, tmp_path):
    error = _failure(module_file, tmp_path, "broken")
    assert f"--transform-fn {module_file}:broken: raised on a batch of " in str(error)
    assert f"{tmp_path / 'in.csv'}" in str(error)
    assert "KeyError" in str(error)


def test_a_result_that_is_no_batch(module_file, tmp_path):
    error = _failure(module_file, tmp_path, "not_a_batch")
    assert "returned list for a batch of" in str(error)
    assert "return a pyarrow.RecordBatch" in str(error)


def test_load_forms(module_file):
    assert TransformFn.load(f"{module_file}:prepare").name == "prepare"
    assert TransformFn.load("json:dumps").function()([1]) == "[1]"

    def local(batch):
        return batch

    assert TransformFn.load(local).function() is local


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("prepare.py", "expected FILE.py:FUNCTION or MODULE:FUNCTION; got 'prepare.py'"),
        ("{dir}/missing.py:f", "cannot read '{dir}/missing.py'"),
        ("{file}:nothing", "'nothing' is missing"),
        ("{file}:NOT_CALLABLE", "'NOT_CALLABLE' is not callable (int)"),
        ("no_such_module_xyz:f", "cannot import 'no_such_module_xyz'"),
        ("{dir}/syntax.py:f", "'{dir}/syntax.py' fails to load: SyntaxError"),
    ],
)
def test_load_errors(module_file, spec, message):
    (module_file.parent / "syntax.py").write_text("def f(:\n")
    fill = {"dir": module_file.parent, "file": module_file}
    with pytest.raises(ConfigError, match="--transform-fn: ") as caught:
        TransformFn.load(spec.format(**fill))
    assert message.format(**fill) in str(caught.value)


def test_config_loads_it_before_the_pipeline(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        IngestConfig(
            source=ReadCsv("x.csv"),
            output_dir=str(tmp_path),
            transform_fn=f"{tmp_path}/none.py:f",
        )
