"""A new format is one Source and one table entry.

The toy format here, fixed-width text, is registered in this file only. It
then runs through the CLI (its options in `--help`, its errors), the Python
API (`build_config`) and the TFX executor, with no other module edited: the
claim of the format table (`beam_ingest.formats`) and the options model.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pytest

from beam_ingest import Ingest, formats
from beam_ingest.bad_records import BadRecord
from beam_ingest.cli import main
from beam_ingest.config import build_config
from beam_ingest.errors import ConfigError
from beam_ingest.files import match_files
from beam_ingest.options import Option, integer
from beam_ingest.schema import Kind, Schema
from beam_ingest.source import Source, SourceOutputs, with_file
from tests.helpers import decode, read_report, split_records


def _widths(given: object) -> list[int]:
    items = given.split(",") if isinstance(given, str) else given
    return [integer(1)(item) for item in items]


class ReadFixedWidth(Source):
    """Lines of fixed-width fields; a line of another length is a bad record."""

    def __init__(self, file_pattern: str, *, widths: Sequence[int], names: Sequence[str]) -> None:
        super().__init__()
        if len(widths) != len(names):
            raise ValueError("fixed_widths and fixed_names differ in length")
        self.file_pattern, self.widths, self.names = file_pattern, list(widths), list(names)

    @classmethod
    def from_options(cls, pattern: str, options: Mapping[str, object], schema) -> Source:
        return cls(pattern, widths=options["fixed_widths"], names=options["fixed_names"])

    @classmethod
    def profile(cls, paths: Sequence[str], options: Mapping[str, object]):
        records = sum(len(Path(p).read_text().splitlines()) for p in paths)
        return records, Schema.from_kinds((n, Kind.BYTES) for n in options["fixed_names"])

    def expand(self, pbegin) -> SourceOutputs:
        self._files = match_files(self.file_pattern, argument="input")
        read = (
            pbegin
            | "Files" >> beam.Create([f.path for f in self._files])
            | "Read"
            >> beam.ParDo(_read, self.widths, self.names).with_outputs(
                "bad_records", "counts", main="records"
            )
        )
        schema = pbegin | "Schema" >> beam.Create(
            [Schema.from_kinds((n, Kind.BYTES) for n in self.names)]
        )
        return SourceOutputs(read.records, read.bad_records, read.counts, schema)


def _read(path: str, widths: list[int], names: list[str]):
    rows, lines = [], Path(path).read_text().splitlines()
    for number, line in enumerate(lines, 1):
        if len(line) != sum(widths):
            yield beam.pvalue.TaggedOutput(
                "bad_records", BadRecord(path, number, f"length {len(line)}", line)
            )
            continue
        cuts = [sum(widths[:i]) for i in range(len(widths) + 1)]
        rows.append([line[a:b].strip().encode() for a, b in itertools.pairwise(cuts)])
    columns = [pa.array([r[i] for r in rows], pa.large_binary()) for i in range(len(names))]
    yield with_file(pa.RecordBatch.from_arrays(columns, names=names), path)
    yield beam.pvalue.TaggedOutput("counts", (path, len(lines)))


@pytest.fixture(scope="module")
def toy_format():
    fmt = formats.register(
        formats.Format(
            name="fixedwidth",
            source=f"{__name__}:ReadFixedWidth",
            description="fixed-width text, one record a line",
            extensions=(".fw",),
            options=(
                Option(name="fixed_widths", parse=_widths, metavar="N,N,...",
                       group="fixedwidth", help="fixedwidth: the width of each field"),
                Option(name="fixed_names", parse=lambda v: v.split(",") if isinstance(v, str)
                       else list(v), metavar="A,B,...", group="fixedwidth",
                       help="fixedwidth: the name of each field"),
            ),
            executor="FixedWidthExecutor",
        )
    )  # fmt: skip
    yield fmt
    formats.unregister("fixedwidth")
    with pytest.raises(ConfigError, match="'fixedwidth' is not supported"):
        formats.get("fixedwidth")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fw")
    (folder / "a.fw").write_text("".join(f"{i:<3}{'n' + str(i):<5}\n" for i in range(30)))
    (folder / "b.fw").write_text("7  seven\ntoo long a line\n")
    return folder


def _examples(out) -> list[dict]:
    return sorted(
        (decode(r) for split in ("train", "eval") for r in split_records(str(out), split)),
        key=lambda e: e["id"][1][0],
    )


def test_the_cli_knows_the_new_format_and_its_options(toy_format, capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    assert "fixedwidth" in text and "--fixed-widths N,N,..." in text


def test_the_cli_runs_it(toy_format, data, tmp_path):
    out = tmp_path / "cli"
    status = main(
        ["run", "--format", "fixedwidth", "--input", str(data / "*.fw"), "--output", str(out),
         "--fixed-widths", "3,5", "--fixed-names", "id,name", "--max-bad-records", "1"]
    )  # fmt: skip
    assert status == 0
    report = read_report(str(out))
    assert report["records_read"] == 32 and report["bad_records"]["count"] == 1
    examples = _examples(out)
    assert len(examples) == 31
    assert examples[0] == {"id": ("bytes_list", [b"0"]), "name": ("bytes_list", [b"n0"])}


def test_the_cli_refuses_its_options_for_another_format(toy_format, data, tmp_path, capsys):
    status = main(
        ["run", "--format", "csv", "--input", str(data / "a.fw"), "--output", str(tmp_path / "x"),
         "--fixed-widths", "3,5"]
    )  # fmt: skip
    assert status == 2
    assert "--fixed-widths: only applies to format fixedwidth" in capsys.readouterr().err


def test_the_python_api_builds_it(toy_format, data, tmp_path):
    config = build_config(
        {"format": "fixedwidth", "input": str(data / "a.fw"), "output": str(tmp_path / "py"),
         "fixed_widths": [3, 5], "fixed_names": ["id", "name"]}
    )  # fmt: skip
    assert isinstance(config.source, ReadFixedWidth)
    with beam.Pipeline() as p:
        _ = p | Ingest(config)
    assert len(_examples(tmp_path / "py")) == 30


def test_the_tfx_executor_runs_it(toy_format, data, tmp_path):
    from tfx.proto import example_gen_pb2
    from tfx.types import standard_artifacts, standard_component_specs
    from tfx.utils import proto_utils

    from beam_ingest.example_gen import Executor, custom_config

    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "tfx")
    os.makedirs(examples.uri)
    properties = {
        standard_component_specs.INPUT_BASE_KEY: str(data),
        standard_component_specs.INPUT_CONFIG_KEY: json.dumps(
            {"splits": [{"name": "single_split", "pattern": "a.fw"}]}
        ),
        standard_component_specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Output(
                split_config=example_gen_pb2.SplitConfig(
                    splits=[
                        example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=2),
                        example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1),
                    ]
                )
            )
        ),
        standard_component_specs.CUSTOM_CONFIG_KEY: proto_utils.proto_to_json(
            custom_config(fixed_widths=[3, 5], fixed_names=["id", "name"])
        ),
    }
    # No `format`: the executor finds it from the extension, in the table.
    Executor().Do({}, {"examples": [examples]}, properties)
    assert len(_examples(tmp_path / "tfx")) == 30
    assert examples.split_names == '["train", "eval"]'
