"""`beam-ingest registry push|ls|show|delete` and `beam-ingest run --registry`."""

from __future__ import annotations

import json

import pytest

from beam_ingest.cli import main
from beam_ingest.registry import Registry
from tests.helpers import read_report
from tests.registry_data import ROWS, write_csv


@pytest.fixture
def root(tmp_path) -> str:
    return str(tmp_path / "registry")


def test_push_ls_show_delete(root, tmp_path, capsys, monkeypatch):
    csv = str(write_csv(tmp_path / "x.csv"))
    for name in ["k/v1_1-train", "k/v2_1-train", "k/v2_1-test"]:
        assert main(["registry", "push", name, csv, "--format", "csv", "--registry", root]) == 0
    assert "pushed k/v2_1-test: csv, 5 records, 1 files" in capsys.readouterr().out
    assert main(["registry", "ls", "k/v{SPAN}_{VERSION}-train", "--registry", root]) == 0
    assert capsys.readouterr().out.split() == ["k/v1_1-train", "k/v2_1-train"]
    monkeypatch.setenv("BEAM_INGEST_REGISTRY", root)  # the default root
    assert main(["registry", "ls", "--long"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:3] for line in lines] == [
        ["k/v1_1-train", "csv", "5"],
        ["k/v2_1-test", "csv", "5"],
        ["k/v2_1-train", "csv", "5"],
    ]
    assert main(["registry", "show", "k/v2_1-test"]) == 0
    assert json.loads(capsys.readouterr().out)["records"] == len(ROWS)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    assert main(["registry", "delete", "k/v2_1-test"]) == 1
    assert Registry(root).exists("k/v2_1-test")
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert main(["registry", "delete", "k/v2_1-test"]) == 0
    assert not Registry(root).exists("k/v2_1-test")


def test_push_with_format_options(root, tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("a;b\n1;x\n2;y\n")
    argv = ["registry", "push", "s/v1", str(path), "--format", "csv", "--delimiter", ";"]
    assert main([*argv, "--registry", root, "--description", "semi", "--tag", "t"]) == 0
    entry = Registry(root).show("s/v1")
    assert entry.options["delimiter"] == ";"
    assert (entry.records, entry.schema.to_dict()) == (2, {"a": "int", "b": "bytes"})
    assert (entry.description, entry.tags) == ("semi", ("t",))


def test_errors_exit_2_with_a_message(root, tmp_path, capsys):
    csv = str(write_csv(tmp_path / "x.csv"))
    assert main(["registry", "push", "a", csv, "--format", "csv", "--registry", root]) == 0
    assert main(["registry", "push", "a", csv, "--format", "csv", "--registry", root]) == 2
    assert "entry 'a' exists" in capsys.readouterr().err
    argv = ["registry", "push", "b", csv, "--format", "csv", "--columns", "x"]
    assert main([*argv, "--registry", root]) == 2
    assert "['columns'] do not apply to format 'csv'" in capsys.readouterr().err
    assert main(["registry", "show", "nope", "--registry", root]) == 2
    assert "no entry 'nope'" in capsys.readouterr().err
    assert main(["registry", "delete", "a", "--registry", root]) == 2  # stdin is no terminal
    assert "confirm deleting 'a' with --yes" in capsys.readouterr().err
    assert main(["registry", "delete", "a", "--yes", "--registry", root]) == 0


def test_run_flags_that_do_not_apply_to_the_registry(root, tmp_path, capsys):
    out = str(tmp_path / "out")
    argv = ["run", "--registry", root, "--input", "a", "--output", out]
    assert main([*argv, "--format", "csv"]) == 2
    assert "--format: not used with --registry" in capsys.readouterr().err
    assert main(["run", "--input", "a", "--output", out]) == 2
    assert "--format: required unless --registry" in capsys.readouterr().err


def test_run_from_the_registry_with_splits_and_a_transform(root, tmp_path, capsys):
    registry = Registry(root)
    for name, rows in [
        ("k/v1_1-train", 2),
        ("k/v1_2-train", 5),
        ("k/v1_2-test", 3),
        ("k/v0_1-test", 1),
    ]:
        registry.push(name, [str(write_csv(tmp_path / name / "x.csv", ROWS[:rows]))], format="csv")
    fn = tmp_path / "fn.py"
    fn.write_text(
        "import pyarrow.compute as pc\n"
        "def odd(batch):\n"
        "    return batch.filter(pc.equal(pc.bit_wise_and(batch.column('id'), 1), 1))\n"
    )
    out = str(tmp_path / "out")
    argv = ["run", "--registry", root, "--output", out, "--transform-fn", f"{fn}:odd"]
    argv += ["--input-split", "train=k/v{SPAN}_{VERSION}-train"]
    argv += ["--input-split", "test=k/v{SPAN}_{VERSION}-test", "--span", "1"]
    assert main(argv) == 0, capsys.readouterr().err
    report = read_report(out)
    assert [e["name"] for e in report["registry"]["train"]["entries"]] == ["k/v1_2-train"]
    assert [e["name"] for e in report["registry"]["test"]["entries"]] == ["k/v1_2-test"]
    assert report["records_read"] == 8
    assert report["transform"] == {"function": f"{fn}:odd", "records_dropped": 3}
    assert {n: s["examples"] for n, s in report["splits"].items()} == {"train": 3, "test": 2}


def test_registry_splits_that_select_different_spans_are_an_error(root, tmp_path, capsys):
    registry = Registry(root)
    for name in ["k/v1_1-train", "k/v1_1-test", "k/v2_1-train"]:
        registry.push(name, [str(write_csv(tmp_path / name / "x.csv", ROWS[:2]))], format="csv")
    out = str(tmp_path / "out")
    argv = ["run", "--registry", root, "--output", out]
    argv += ["--input-split", "train=k/v{SPAN}_{VERSION}-train"]
    argv += ["--input-split", "test=k/v{SPAN}_{VERSION}-test"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert (
        "the splits select different spans or versions: "
        "'train': span(s) 2 version 1, 'test': span(s) 1 version 1"
    ) in err
    assert main([*argv, "--span", "1"]) == 0, capsys.readouterr().err
    assert read_report(out)["registry"]["train"]["span"] == 1
