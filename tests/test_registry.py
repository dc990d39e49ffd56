"""The registry: push, ls, show, delete, span resolution, atomicity, integrity.

Every test that takes `root` runs twice: on a local folder and on `mem://`,
an in-memory Beam filesystem without folders or rename (tests/memfs.py), so
nothing may assume a local `os` path. The S3 tests run against moto.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from beam_ingest.errors import ConfigError
from beam_ingest.files import list_dir
from beam_ingest.registry import Registry, file_digest
from beam_ingest.schema import Kind
from tests import memfs  # noqa: F401 - registers mem://
from tests.registry_data import ROWS, write_all, write_csv

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(params=["local", "mem"])
def root(request, tmp_path) -> str:
    if request.param == "local":
        return str(tmp_path / "registry")
    return f"mem://registry-{uuid.uuid4().hex}"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_all(tmp_path_factory.mktemp("data"))


EXPECTED_KINDS = {"id": Kind.INT, "score": Kind.FLOAT, "text": Kind.BYTES}


@pytest.mark.parametrize("format", ["avro", "csv", "jsonl", "parquet", "tfrecord"])
def test_push_records_checksums_and_schema(root, data, format):
    registry = Registry(root)
    entry = registry.push(f"rows/{format}", [str(p) for p in data[format]], format=format)
    assert entry.records == len(ROWS)
    assert {c.name: c.kind for c in entry.schema.columns} == EXPECTED_KINDS
    source = data[format][0]
    (file,) = entry.files
    assert file.name == source.name
    assert (file.size, file.sha256) == file_digest(str(source))
    assert file_digest(registry.file_path(entry, file)) == (file.size, file.sha256)
    assert registry.show(f"rows/{format}") == entry


def test_push_images_keeps_class_folders(root, data):
    registry = Registry(root)
    entry = registry.push("pets/v1", [str(data["images"][0])], format="images")
    assert [f.name for f in entry.files] == ["cat/0.png", "cat/1.png", "dog/2.png"]
    assert entry.records == 3
    assert "image/class/label" in entry.schema.names


def test_manifest_fields(root, data):
    registry = Registry(root)
    registry.push(
        "klue_sts/v3_1-train",
        [str(data["csv"][0])],
        format="csv",
        options={"delimiter": ","},
        description="KLUE STS train",
        tags=["nlp", "ko"],
    )
    from beam_ingest import files

    manifest = json.loads(files.read_bytes(f"{registry.root}/klue_sts/v3_1-train/manifest.json"))
    assert manifest["name"] == "klue_sts/v3_1-train"
    assert manifest["format"] == "csv"
    assert manifest["records"] == 5
    assert manifest["schema"] == {"id": "int", "score": "float", "text": "bytes"}
    assert manifest["options"] == {
        "delimiter": ",",
        "quote_char": '"',
        "escape_char": None,
        "encoding": "utf-8",
    }
    assert manifest["description"] == "KLUE STS train"
    assert manifest["tags"] == ["nlp", "ko"]
    assert manifest["files"][0]["name"] == "data.csv"
    assert len(manifest["files"][0]["sha256"]) == 64
    assert manifest["created"].endswith("+00:00")


def _push_names(registry: Registry, csv: str, names: list[str]) -> None:
    for name in names:
        registry.push(name, [csv], format="csv")


def test_spans_and_versions_pick_the_newest(root, data):
    registry = Registry(root)
    names = [
        "klue_sts/v1_1-train",
        "klue_sts/v1_2-train",
        "klue_sts/v2_1-train",
        "klue_sts/v2_3-train",
        "klue_sts/v2_3-test",
        "klue_sts/v10_1-train",
    ]
    _push_names(registry, str(data["csv"][0]), names)
    pattern = "klue_sts/v{SPAN}_{VERSION}-train"
    entries, selected = registry.resolve(pattern)
    assert [e.name for e in entries] == ["klue_sts/v10_1-train"]
    assert selected == {"span": 10, "spans": [10], "version": 1}
    entries, selected = registry.resolve(pattern, span=2)
    assert [e.name for e in entries] == ["klue_sts/v2_3-train"]
    entries, _ = registry.resolve(pattern, span_range=(1, 2))
    assert [e.name for e in entries] == ["klue_sts/v1_2-train", "klue_sts/v2_3-train"]
    entries, _ = registry.resolve(pattern, last_spans=2)
    assert [e.name for e in entries] == ["klue_sts/v2_3-train", "klue_sts/v10_1-train"]
    assert registry.ls(pattern) == sorted(n for n in names if n.endswith("-train"))
    assert registry.ls("klue_sts/*-test") == ["klue_sts/v2_3-test"]
    assert registry.ls() == sorted(names)


def test_an_entry_pushed_later_is_selected_next_time(root, data):
    registry = Registry(root)
    csv = str(data["csv"][0])
    _push_names(registry, csv, ["d/v1_1", "d/v1_2"])
    assert [e.name for e in registry.resolve("d/v{SPAN}_{VERSION}")[0]] == ["d/v1_2"]
    registry.push("d/v2_1", [csv], format="csv")
    assert [e.name for e in registry.resolve("d/v{SPAN}_{VERSION}")[0]] == ["d/v2_1"]


def test_no_entry_matches(root):
    with pytest.raises(ConfigError, match=r"no entry of registry .* matches 'x/v\{SPAN\}'"):
        Registry(root).resolve("x/v{SPAN}")


def test_pushing_an_existing_name_is_refused(root, data):
    registry = Registry(root)
    registry.push("a/b", [str(data["csv"][0])], format="csv")
    with pytest.raises(ConfigError, match=r"entry 'a/b' exists .* entries are immutable"):
        registry.push("a/b", [str(data["jsonl"][0])], format="jsonl")
    assert registry.show("a/b").format == "csv"


def test_names_inside_or_around_an_entry_are_refused(root, data):
    registry = Registry(root)
    csv = str(data["csv"][0])
    registry.push("a/b", [csv], format="csv")
    with pytest.raises(ConfigError, match="'a/b/c' would be inside the entry 'a/b'"):
        registry.push("a/b/c", [csv], format="csv")
    with pytest.raises(ConfigError, match=r"'a' is a folder of other entries, e\.g\. 'a/b'"):
        registry.push("a", [csv], format="csv")


@pytest.mark.parametrize(
    "name", ["", "a//b", "../x", "a/../b", ".hidden", "a/files", "a/manifest.json", "a b", "x{"]
)
def test_bad_names(tmp_path, name):
    with pytest.raises(ConfigError, match="entry name"):
        Registry(str(tmp_path)).push(name, [str(tmp_path)], format="csv")


def test_bad_format_and_options(tmp_path, data):
    registry = Registry(str(tmp_path / "r"))
    csv = str(data["csv"][0])
    with pytest.raises(ConfigError, match=r"format: 'xml' is not supported; formats: \['avro'"):
        registry.push("a", [csv], format="xml")
    with pytest.raises(
        ConfigError, match=r"option\(s\) \['columns'\] do not apply to format 'csv'"
    ):
        registry.push("a", [csv], format="csv", options={"columns": ["x"]})
    with pytest.raises(ConfigError, match=r"^delimiter: must be one character"):
        registry.push("a", [csv], format="csv", options={"delimiter": ";;"})
    with pytest.raises(ConfigError, match=r"registry push: '.*nothing\.csv' does not exist"):
        registry.push("a", [str(tmp_path / "nothing.csv")], format="csv")
    assert registry.ls() == []


def test_a_failed_push_leaves_no_entry(root, tmp_path):
    registry = Registry(root)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    good = write_csv(tmp_path / "good.csv")
    with pytest.raises(ConfigError, match="is empty; a CSV file needs a header row"):
        registry.push("a/b", [str(good), str(empty)], format="csv")
    assert registry.ls() == []
    assert not registry.exists("a/b")
    assert list_dir(registry.root) == []  # no staging debris, no files
    registry.push("a/b", [str(good)], format="csv")  # the name is free
    assert registry.ls() == ["a/b"]


def test_delete(root, data):
    registry = Registry(root)
    registry.push("a/b", [str(data["csv"][0])], format="csv")
    registry.push("a/c", [str(data["csv"][0])], format="csv")
    assert registry.delete("a/b").name == "a/b"
    assert registry.ls() == ["a/c"]
    assert not [p for p in list_dir(registry.root) if "/a/b/" in p]
    with pytest.raises(ConfigError, match="no entry 'a/b' in"):
        registry.delete("a/b")


def test_listing_ignores_staging_and_data_files_named_manifest(tmp_path):
    from tests.registry_data import png

    registry = Registry(str(tmp_path / "r"))
    folder = tmp_path / "src"
    (folder / "cat").mkdir(parents=True)
    (folder / "cat" / "0.png").write_bytes(png(0))
    (folder / "manifest.json").write_text("{}")  # a data file of that name
    registry.push("a", [str(folder)], format="images")
    assert (tmp_path / "r" / "a" / "files" / "manifest.json").exists()
    os.makedirs(tmp_path / "r" / ".staging" / "x")
    (tmp_path / "r" / ".staging" / "x" / "manifest.json").write_text("{}")
    assert registry.ls() == ["a"]


# --- several processes ------------------------------------------------------

_PUSH = textwrap.dedent(
    """
    import sys, time
    from beam_ingest.registry import Registry
    from beam_ingest.errors import ConfigError
    start = float(sys.argv[4])
    time.sleep(max(0.0, start - time.time()))
    try:
        Registry(sys.argv[1]).push(sys.argv[2], [sys.argv[3]], format="csv")
        print("pushed")
    except ConfigError as e:
        print("refused", e)
    """
)


def _pushers(root: str, names: list[str], csv: str) -> list[str]:
    start = str(time.time() + 4.0)  # every process imports Beam first, then all push at once
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PUSH, root, name, csv, start],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        for name in names
    ]
    return [p.communicate(timeout=120)[0].strip() for p in procs]


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory):
    rows = [{"id": i, "score": i / 2, "text": f"row {i}"} for i in range(20000)]
    return str(write_csv(tmp_path_factory.mktemp("big") / "big.csv", rows))


def test_concurrent_pushes_of_different_names(tmp_path, big_csv):
    root = str(tmp_path / "r")
    names = [f"c/v{i}" for i in range(4)]
    assert _pushers(root, names, big_csv) == ["pushed"] * 4
    registry = Registry(root)
    assert registry.ls() == names
    digest = file_digest(big_csv)
    for name in names:
        entry = registry.show(name)
        assert entry.records == 20000
        assert file_digest(registry.file_path(entry, entry.files[0])) == digest


def test_concurrent_pushes_of_one_name_let_one_win(tmp_path, big_csv):
    root = str(tmp_path / "r")
    outcomes = _pushers(root, ["same"] * 4, big_csv)
    assert sorted(o.split(" ")[0] for o in outcomes) == ["pushed", "refused", "refused", "refused"]
    registry = Registry(root)
    entry = registry.show("same")
    assert file_digest(registry.file_path(entry, entry.files[0])) == file_digest(big_csv)
    assert os.listdir(os.path.join(root, ".staging")) == []


_KILLED = textwrap.dedent(
    """
    import sys, time
    from beam_ingest import registry
    copy = registry._copy
    def copy_then_hang(source, destination, relative):
        result = copy(source, destination, relative)
        open(sys.argv[3], "w").close()  # one file is in: kill me now
        time.sleep(600)
        return result
    registry._copy = copy_then_hang
    registry.Registry(sys.argv[1]).push("k/v1", sys.argv[2].split(","), format="csv")
    """
)


def test_a_push_killed_half_way_leaves_no_entry(tmp_path, big_csv):
    root = str(tmp_path / "r")
    second = write_csv(tmp_path / "second.csv")
    marker = tmp_path / "copied"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED, root, f"{big_csv},{second}", str(marker)], cwd=REPO
    )
    try:
        deadline = time.time() + 60
        while not marker.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert marker.exists()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    registry = Registry(root)
    assert registry.ls() == []
    with pytest.raises(ConfigError, match="no entry 'k/v1'"):
        registry.show("k/v1")
    registry.push("k/v1", [big_csv, str(second)], format="csv")
    assert registry.show("k/v1").records == 20000 + len(ROWS)
