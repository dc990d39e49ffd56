"""Parity with TFX: beam-ingest writes the same examples into the same splits
as TFX's own `CsvExampleGen` executor.

Each case (a dataset and a split config) is run once, on both sides, over the
same files:

- TFX: `csv_example_gen.executor.Executor().Do(...)`, the way TFX's own
  `csv_example_gen/executor_test.py` calls it, writing into an `Examples`
  artifact's `Split-<name>/` folders;
- beam-ingest: `Ingest(IngestConfig(source=ReadCsv(...)))` on the DirectRunner.

Examples are compared per split as multisets of their deterministic
serialization (TFX does not serialize deterministically; beam-ingest does,
which is checked separately). The datasets are the CSV test data that the
`tfx` wheel ships and its Chicago taxi sample.
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import tensorflow as tf
from tfx.components.example_gen.csv_example_gen import executor as csv_executor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from beam_ingest import IngestConfig, SplitSpec
from beam_ingest.connectors.csv import ReadCsv
from beam_ingest.framing import read_records
from tests.helpers import decode, run_ingest

TFX_DIR = Path(csv_executor.__file__).parents[3]
TESTDATA = TFX_DIR / "components" / "testdata" / "external"
TAXI_DIR = TFX_DIR / "examples" / "chicago_taxi_pipeline" / "data" / "simple"


@dataclasses.dataclass(frozen=True)
class Dataset:
    input_base: Path
    pattern: str  # relative to input_base: TFX's `Input.Split.pattern`
    rows: int  # data rows in the files (header excluded)


DATASETS = {
    # The folder holds data.csv (10,000 rows) and data2.csv (5,000 rows); TFX's
    # own executor test reads it as `csv/*`, so both files, one split input.
    "csv": Dataset(TESTDATA, "csv/*", 15_000),
    # Column B is empty in every row, C in one row.
    "csv_empty": Dataset(TESTDATA, "csv_empty/*", 3),
    # A quoted field spanning four lines, with quotes and commas inside.
    "csv_multi_line_string": Dataset(TESTDATA, "csv_multi_line_string/*", 3),
    "taxi": Dataset(TAXI_DIR, "data.csv", 15_002),
}

DEFAULT = (("train", 2), ("eval", 1))  # TFX's default output config
THREE_WAY = (("train", 6), ("eval", 3), ("test", 1))


@dataclasses.dataclass(frozen=True)
class Case:
    dataset: str
    splits: tuple[tuple[str, int], ...]
    partition_feature: str | None = None

    @property
    def id(self) -> str:
        config = "-".join(f"{n}{b}" for n, b in self.splits)
        return "/".join(filter(None, [self.dataset, config, self.partition_feature]))

    @property
    def split_names(self) -> list[str]:
        return [name for name, _ in self.splits]


DEFAULT_CASES = [Case(name, DEFAULT) for name in DATASETS]
THREE_WAY_CASES = [Case("taxi", THREE_WAY), Case("csv", THREE_WAY)]
PARTITION_CASES = [
    Case("taxi", DEFAULT, "trip_start_hour"),  # int, 24 values, never empty
    Case("taxi", DEFAULT, "pickup_community_area"),  # int, empty in 2 rows
    Case("csv", DEFAULT, "company"),  # bytes, empty in 5,140 rows
]
ALL_CASES = DEFAULT_CASES + THREE_WAY_CASES + PARTITION_CASES
LARGE_CASES = [c for c in ALL_CASES if DATASETS[c.dataset].rows > 1000]

_SHARD = re.compile(r"^data_tfrecord-\d{5}-of-\d{5}\.gz$")


def _ids(cases: list[Case]) -> list[str]:
    return [c.id for c in cases]


@dataclasses.dataclass
class Run:
    """What both sides wrote for one case."""

    case: Case
    tfx_split_names: list[str]  # as recorded on the Examples artifact
    tfx: dict[str, list[bytes]]  # split -> raw records, per Split-* folder
    ingest: dict[str, list[bytes]]
    tfx_files: dict[str, list[str]]  # split -> file names
    ingest_files: dict[str, list[str]]
    report: dict


def _read_splits(output_dir: Path) -> tuple[dict[str, list[bytes]], dict[str, list[str]]]:
    records, files = {}, {}
    for folder in sorted(output_dir.glob("Split-*")):
        split = folder.name.removeprefix("Split-")
        paths = sorted(glob.glob(str(folder / "*")))
        files[split] = [os.path.basename(p) for p in paths]
        records[split] = [r for p in paths for r in read_records(p)]
    return records, files


def _run_tfx(case: Case, uri: Path) -> list[str]:
    dataset = DATASETS[case.dataset]
    split_config = example_gen_pb2.SplitConfig(
        splits=[
            example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=buckets)
            for name, buckets in case.splits
        ]
    )
    if case.partition_feature:
        split_config.partition_feature_name = case.partition_feature
    examples = standard_artifacts.Examples()
    examples.uri = str(uri)
    exec_properties = {
        standard_component_specs.INPUT_BASE_KEY: str(dataset.input_base),
        standard_component_specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Input(
                splits=[example_gen_pb2.Input.Split(name="single_split", pattern=dataset.pattern)]
            )
        ),
        standard_component_specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Output(split_config=split_config)
        ),
    }
    csv_executor.Executor().Do(
        {}, {standard_component_specs.EXAMPLES_KEY: [examples]}, exec_properties
    )
    return artifact_utils.decode_split_names(examples.split_names)


def _run_ingest(case: Case, output_dir: Path) -> dict:
    dataset = DATASETS[case.dataset]
    return run_ingest(
        IngestConfig(
            source=ReadCsv(str(dataset.input_base / dataset.pattern)),
            output_dir=str(output_dir),
            splits=tuple(SplitSpec(name=n, buckets=b) for n, b in case.splits),
            partition_feature=case.partition_feature,
        )
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Callable[[Case], Run]:
    """Runs TFX and beam-ingest for a case, once per case in this module."""
    cache: dict[Case, Run] = {}

    def get(case: Case) -> Run:
        if case not in cache:
            folder = tmp_path_factory.mktemp(re.sub(r"\W", "_", case.id))
            tfx_split_names = _run_tfx(case, folder / "tfx")
            report = _run_ingest(case, folder / "ingest")
            tfx, tfx_files = _read_splits(folder / "tfx")
            ingest, ingest_files = _read_splits(folder / "ingest")
            cache[case] = Run(case, tfx_split_names, tfx, ingest, tfx_files, ingest_files, report)
        return cache[case]

    return get


def _normalized(record: bytes) -> bytes:
    return tf.train.Example.FromString(record).SerializeToString(deterministic=True)


def _show(record: bytes) -> str:
    return repr(dict(sorted(decode(record).items())))


def _explain(run: Run, split: str, tfx_only: collections.Counter, ingest_only: collections.Counter):
    """A failure message: which examples differ, decoded, and where they went."""
    where_ingest = {_normalized(r): s for s, rs in run.ingest.items() for r in rs}
    where_tfx = {_normalized(r): s for s, rs in run.tfx.items() for r in rs}
    lines = [
        f"{run.case.id}: Split-{split}: {sum(tfx_only.values())} example(s) only in TFX, "
        f"{sum(ingest_only.values())} only in beam-ingest"
    ]
    for record in list(tfx_only)[:3]:
        lines.append(f"  TFX only (beam-ingest split: {where_ingest.get(record)}): {_show(record)}")
    for record in list(ingest_only)[:3]:
        lines.append(f"  beam-ingest only (TFX split: {where_tfx.get(record)}): {_show(record)}")
    return "\n".join(lines)


@pytest.mark.parametrize("case", ALL_CASES, ids=_ids(ALL_CASES))
def test_same_split_names_and_layout(runs, case):
    run = runs(case)
    assert run.tfx_split_names == case.split_names
    assert sorted(run.tfx) == sorted(case.split_names)
    assert sorted(run.ingest) == sorted(case.split_names)
    assert sorted(run.report["splits"]) == sorted(case.split_names)
    for split in case.split_names:
        # TFX's WriteSplit names its shards data_tfrecord-SSSSS-of-NNNNN.gz.
        assert run.tfx_files[split] and all(_SHARD.match(f) for f in run.tfx_files[split])
        assert run.ingest_files[split] and all(_SHARD.match(f) for f in run.ingest_files[split])


@pytest.mark.parametrize("case", ALL_CASES, ids=_ids(ALL_CASES))
def test_same_examples_in_each_split(runs, case):
    run = runs(case)
    for split in case.split_names:
        tfx = collections.Counter(_normalized(r) for r in run.tfx[split])
        ingest = collections.Counter(_normalized(r) for r in run.ingest[split])
        if tfx != ingest:
            pytest.fail(_explain(run, split, tfx - ingest, ingest - tfx))
        assert sorted(tfx.elements()) == sorted(ingest.elements())


@pytest.mark.parametrize("case", ALL_CASES, ids=_ids(ALL_CASES))
def test_ingest_writes_deterministic_serialization(runs, case):
    run = runs(case)
    for split, records in run.ingest.items():
        for record in records:
            assert record == _normalized(record), f"{case.id}: Split-{split}: {_show(record)}"


@pytest.mark.parametrize("case", ALL_CASES, ids=_ids(ALL_CASES))
def test_every_row_written_once_and_reported(runs, case):
    run = runs(case)
    rows = DATASETS[case.dataset].rows
    assert sum(len(r) for r in run.tfx.values()) == rows
    assert sum(len(r) for r in run.ingest.values()) == rows
    assert run.report["records_read"] == run.report["examples"] == rows
    assert run.report["bad_records"]["count"] == 0
    assert run.report["partition_feature"] == case.partition_feature
    assert run.report["split_config"] == dict(case.splits)
    for split in case.split_names:
        assert run.report["splits"][split]["examples"] == len(run.ingest[split])
        assert len(run.ingest[split]) == len(run.tfx[split]), split


@pytest.mark.parametrize("case", LARGE_CASES, ids=_ids(LARGE_CASES))
def test_large_datasets_fill_every_split(runs, case):
    """The comparison is not vacuous: every split gets examples, and without a
    partition feature each split's share is close to its share of buckets."""
    run = runs(case)
    rows = DATASETS[case.dataset].rows
    total_buckets = sum(b for _, b in case.splits)
    for name, buckets in case.splits:
        assert run.ingest[name], name
        if case.partition_feature is None:
            assert abs(len(run.ingest[name]) / rows - buckets / total_buckets) < 0.03, name


@pytest.mark.parametrize("case", PARTITION_CASES, ids=_ids(PARTITION_CASES))
def test_partition_feature_keeps_values_together(runs, case):
    """On both sides all examples with one partition value share a split, and
    the value-to-split map is the same."""
    run = runs(case)
    name = case.partition_feature
    placements = {}
    for side, splits in (("tfx", run.tfx), ("ingest", run.ingest)):
        where = collections.defaultdict(set)
        for split, records in splits.items():
            for record in records:
                feature = tf.train.Example.FromString(record).features.feature[name]
                where[feature.SerializeToString(deterministic=True)].add(split)
        assert all(len(s) == 1 for s in where.values()), (side, dict(where))
        placements[side] = {value: s.pop() for value, s in where.items()}
    assert placements["ingest"] == placements["tfx"]
    assert len(set(placements["ingest"].values())) == len(case.splits)


def test_csv_empty_column_kinds_as_in_tfx_test(runs):
    """What TFX's executor_test asserts on csv_empty, on beam-ingest's output:
    A int, B an empty Feature() (no kind), C bytes (empty in row 3), D float."""
    run = runs(Case("csv_empty", DEFAULT))
    rows = sorted(
        (decode(r) for split in run.ingest.values() for r in split), key=lambda e: e["A"][1]
    )
    assert rows == [
        {
            "A": ("int64_list", [i]),
            "B": (None, []),
            "C": ("bytes_list", [c] if c else []),
            "D": ("float_list", [pytest.approx(d)]),
        }
        for i, c, d in [(1, b"x", 0.1), (2, b"y", 0.2), (3, None, 0.3)]
    ]


def test_multi_line_string_value_as_in_tfx_test(runs):
    """What TFX's executor_test asserts on csv_multi_line_string."""
    run = runs(Case("csv_multi_line_string", DEFAULT))
    rows = [decode(r) for split in run.ingest.values() for r in split]
    b_values = sorted(values for kind, values in (row["B"] for row in rows))
    assert [kind for kind, _ in (row["B"] for row in rows)] == ["bytes_list"] * 3
    assert b_values == [[b'"2,\n"3",\n4\n5"'], [b"2"], [b"2"]]
