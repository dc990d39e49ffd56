"""The Flex Template: metadata.json agrees with the options model, the
Dockerfile with the pinned Beam, and template-style parameters
(`--name=value`, as Dataflow's launcher passes them) mean what the same CLI
options mean."""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from beam_ingest.cli import build_parser, given_options
from beam_ingest.config import build_config
from beam_ingest.errors import ConfigError
from templates import launcher, spec
from tests.helpers import read_report

ROOT = Path(__file__).parents[1]
OUT_OF_DATE = "run `python templates/spec.py --write`"


def test_metadata_json_is_valid_and_agrees_with_the_cli():
    metadata = json.loads((ROOT / "templates" / "metadata.json").read_text())
    found = spec.problems(metadata)
    # After a CLI change, regenerate: python templates/spec.py --write
    assert found == [], "\n".join(found)
    names = {p["name"] for p in metadata["parameters"]}
    assert names == {name for name, _ in launcher.parameters()}
    assert {"format", "input", "input_split", "output", "split", "image_labels"} <= names
    output = next(p for p in metadata["parameters"] if p["name"] == "output")
    assert output["isOptional"] is False
    assert all(p["helpText"] and p["label"] for p in metadata["parameters"])


def test_metadata_check_fails_on_drift_and_bad_entries():
    current = spec.build_metadata()
    stale = copy.deepcopy(current)
    stale["parameters"].pop()
    assert any(OUT_OF_DATE in p for p in spec.problems(stale))
    bad = copy.deepcopy(current)
    bad["parameters"][0].update(name="max-bad", helpText="", regexes=["("])
    bad["parameters"].append(dict(bad["parameters"][1], name="labels"))
    found = "\n".join(spec.problems(bad))
    for part in ("the name must match", "helpText must be", "does not compile",
                 "'labels': is also a Beam pipeline option"):  # fmt: skip
        assert part in found


def test_parameter_regexes_accept_what_the_cli_accepts():
    parameters = {p["name"]: p for p in spec.build_metadata()["parameters"]}

    def accepts(name: str, value: str) -> bool:
        import re

        return all(re.match(r, value) for r in parameters[name].get("regexes", []))

    assert accepts("split", "train=8;eval=2") and not accepts("split", "train")
    assert accepts("input_split", "train=gs://b/t-*.csv;eval=gs://b/e-*.csv")
    assert accepts("format", "parquet") and not accepts("format", "xls")
    assert accepts("overwrite", "true") and not accepts("overwrite", "yes please")
    assert accepts("max_bad_records", "10") and not accepts("max_bad_records", "-1")
    assert accepts("span_range", "3:7") and accepts("input", "gs://bucket/data/*.csv")


def test_dockerfile_uses_the_pinned_beam_sdk_image_and_the_launcher():
    assert spec.dockerfile_problems((ROOT / "templates" / "Dockerfile").read_text()) == []
    wrong = (ROOT / "templates" / "Dockerfile").read_text().replace("2.77.0", "2.60.0")
    assert spec.dockerfile_problems(wrong)


def test_make_template_spec_check_passes():
    result = subprocess.run(
        [sys.executable, str(ROOT / "templates" / "spec.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "agrees with the options" in result.stdout


# --- template-style arguments ---------------------------------------------


def _comparable(config) -> dict:
    """An IngestConfig as plain data: its fields, and its source's type and
    settings (PTransforms compare by identity)."""
    out = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if field.name == "source":
            settings = {
                k: v for k, v in vars(value).items()
                if not k.startswith("_") and k not in ("label", "pipeline", "side_inputs")
            }  # fmt: skip
            value = (type(value).__name__, settings)
        out[field.name] = value
    return out


@pytest.fixture
def data(tmp_path) -> Path:
    path = tmp_path / "in" / "data.csv"
    path.parent.mkdir()
    path.write_text("id,name\n" + "".join(f"{i},n{i}\n" for i in range(40)))
    return path


def test_template_style_arguments_parse_into_the_cli_config(data, tmp_path):
    out = str(tmp_path / "out")
    template = [
        "--format=csv", f"--input={data}", f"--output={out}", "--split=train=8;eval=2",
        "--max_bad_records=3", "--overwrite=true", "--verify_images=false", "--delimiter=,",
        "--runner=DataflowRunner", "--project=p", "--labels=team=ml",
    ]  # fmt: skip
    cli = [
        "run", "--format", "csv", "--input", str(data), "--output", out,
        "--split", "train=8", "--split", "eval=2", "--max-bad-records", "3", "--overwrite",
        "--delimiter", ",",
    ]  # fmt: skip
    given, beam_args = launcher.split_arguments(template)
    # Beam's options, --labels (job labels) among them, go to Beam, not to beam-ingest.
    assert beam_args == ["--runner=DataflowRunner", "--project=p", "--labels=team=ml"]
    from_cli = given_options(build_parser().parse_args(cli))
    config = _comparable(build_config(given))
    assert config == _comparable(build_config(from_cli))
    assert [(s.name, s.buckets) for s in config["splits"]] == [("train", 8), ("eval", 2)]
    assert config["max_bad_records"] == 3 and config["overwrite"] is True
    assert config["source"][0] == "ReadCsv" and config["source"][1]["file_pattern"] == str(data)


def test_a_single_split_and_renamed_and_false_flags():
    given, beam_args = launcher.split_arguments(
        ["--input=x", "--output=y", "--split=train=8", "--image_labels=m.csv", "--overwrite=false"]
    )
    assert given == {
        "input": "x", "output": "y", "split": ["train=8"], "labels": "m.csv", "overwrite": False,
    }  # fmt: skip
    assert beam_args == []


def test_a_flag_that_is_not_true_or_false_is_refused():
    with pytest.raises(ConfigError, match=r"overwrite: must be true or false; got 'maybe'"):
        launcher.split_arguments(["--overwrite=maybe"])


def test_the_launcher_runs_the_cli(data, tmp_path):
    """templates/launcher.py as Dataflow's launcher starts it (here on the DirectRunner)."""
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, str(ROOT / "templates" / "launcher.py"), "--format=csv",
         f"--input={data}", f"--output={out}", "--split=train=3;eval=1", "--direct_num_workers=1"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = read_report(str(out))
    assert report["records_read"] == 40 and set(report["splits"]) == {"train", "eval"}


def test_the_deprecated_cli_args_alias_still_gives_run_arguments():
    args = launcher.cli_args(["--input=x", "--output=y", "--split=a=1;b=2", "--overwrite=true"])
    assert args == ["run", "--input", "x", "--output", "y", "--split", "a=1", "--split", "b=2",
                    "--overwrite", "--"]  # fmt: skip
