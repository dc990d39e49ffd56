"""The same ingestion on every runner: DirectRunner in process and with worker
processes, the portable runner (the path Flink takes), and a Dataflow job
built by its dry run, all without network.

Each runner runs one pipeline that holds one `Ingest` per format (labels
`Ingest[csv]`, ...), so the portable job service and the worker processes
start once per runner, not once per format.
"""

from __future__ import annotations

import collections
import gzip
import json
import os
import re
import tarfile
from pathlib import Path

import apache_beam as beam
import pytest
import tensorflow as tf
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.portability.api import beam_runner_api_pb2
from PIL import Image

from beam_ingest import Ingest
from beam_ingest.cli import build_parser, main
from beam_ingest.config_from_args import config_from_args
from beam_ingest.framing import frame_records
from tests.formats import write_taxi_formats
from tests.helpers import read_report, split_records

FORMATS = ("csv", "jsonl", "parquet", "avro", "tfrecord", "images")
ROWS = 300
IMAGES = 24
RUNNERS = {
    "in_process": [],
    "multi_processing": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
    "portable": ["--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"],
}
# A project id and bucket names that pass Beam's option validation: an invalid
# bucket name makes Beam look for a default bucket over the network.
DATAFLOW = [
    "--runner=DataflowRunner",
    "--dry_run=True",
    "--project=beam-ingest-demo",
    "--region=europe-west1",
    "--temp_location=gs://beam-ingest-demo/tmp",
    "--staging_location=gs://beam-ingest-demo/staging",
]
READ_STEPS = {"csv": "ReadRows", "jsonl": "ReadLines", "parquet": "ReadRowGroups",
              "avro": "ReadBlocks", "tfrecord": "ReadRecords", "images": "ReadImages"}  # fmt: skip
# Labels our code gives its steps: CamelCase, with an optional [name] suffix.
READABLE = re.compile(r"^[A-Z][A-Za-z0-9]*(\[[A-Za-z0-9_.-]+\])?$")


def write_inputs(folder: Path, rows: int = ROWS) -> dict[str, list[str]]:
    """Small inputs in every format; returns `--format F --input P` per format."""
    tabular = write_taxi_formats(folder / "tabular", rows)
    examples = []
    for i in range(rows):
        example = tf.train.Example()
        example.features.feature["id"].int64_list.value.append(i)
        example.features.feature["x"].float_list.value.extend([i / 7, -i])
        example.features.feature["s"].bytes_list.value.append(f"row {i}".encode())
        examples.append(example.SerializeToString())
    (folder / "tfrecord").mkdir()
    records = folder / "tfrecord" / "data.tfrecord.gz"
    records.write_bytes(gzip.compress(frame_records(examples)))
    for i in range(IMAGES):
        path = folder / "images" / ("cat", "dog", "bird")[i % 3] / f"{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.linear_gradient("L").resize((4 + i % 5, 3 + i % 4)).rotate(i * 15).save(path)
    inputs = {fmt: str(tabular[fmt]) for fmt in ("csv", "jsonl", "parquet", "avro")}
    inputs["tfrecord"] = str(records)
    inputs["images"] = str(folder / "images" / "**")
    return {fmt: ["--format", fmt, "--input", inputs[fmt]] for fmt in FORMATS}


def run_all_formats(inputs: dict[str, list[str]], out: Path, beam_args: list[str]) -> set[int]:
    """One pipeline, one Ingest per format, configured as the CLI configures
    it; returns the ids of the processes that ran a DoFn."""
    pids = out / "pids"
    pids.mkdir(parents=True)
    pipeline = beam.Pipeline(options=PipelineOptions(beam_args))
    for fmt, args in inputs.items():
        parsed = build_parser().parse_args(["run", *args, "--output", str(out / fmt)])
        _ = pipeline | f"Ingest[{fmt}]" >> Ingest(config_from_args(parsed))
    _ = (
        pipeline
        | "Pids" >> beam.Create(range(4))
        # A lambda pickles by value: a worker process must not import this
        # module (TensorFlow, TFX), which is not what it measures.
        | "RecordPid" >> beam.Map(lambda _, d: Path(d, str(os.getpid())).touch(), str(pids))
    )
    pipeline.run().wait_until_finish()
    return {int(name) for name in os.listdir(pids)}


def examples_per_split(out: Path) -> dict[str, collections.Counter]:
    report = read_report(str(out))
    return {name: collections.Counter(split_records(str(out), name)) for name in report["splits"]}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, list[str]]:
    return write_inputs(tmp_path_factory.mktemp("inputs"))


@pytest.fixture(scope="module")
def runs(inputs, tmp_path_factory) -> dict[str, tuple[set[int], dict]]:
    """{runner: (worker pids, {format: {split: Counter of examples}})}."""
    results = {}
    for runner, beam_args in RUNNERS.items():
        out = tmp_path_factory.mktemp(runner)
        pids = run_all_formats(inputs, out, beam_args)
        results[runner] = (pids, {fmt: examples_per_split(out / fmt) for fmt in FORMATS})
    return results


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_runner_writes_the_same_examples_in_every_split(runs, fmt):
    expected = runs["in_process"][1][fmt]
    assert set(expected) == {"train", "eval"}
    assert all(expected.values()), "both splits hold examples"
    assert sum(sum(c.values()) for c in expected.values()) == (IMAGES if fmt == "images" else ROWS)
    for runner in ("multi_processing", "portable"):
        got = runs[runner][1][fmt]
        assert got == expected, f"{runner} differs from in_process for {fmt}"


def test_the_runners_really_differ_in_where_dofns_run(runs):
    assert runs["in_process"][0] == {os.getpid()}
    assert runs["portable"][0] == {os.getpid()}  # LOOPBACK: the SDK harness is this process
    assert runs["multi_processing"][0] and os.getpid() not in runs["multi_processing"][0]


# --- Dataflow: the job its dry run builds -------------------------------------


def _our_labels(pipeline: beam.Pipeline) -> list[str]:
    """Full labels of the steps that beam-ingest code names: the Ingest
    composites and every child of a beam_ingest transform."""
    labels = []

    class Visitor(beam.pipeline.PipelineVisitor):
        def visit(self, node) -> None:
            parent = node.parent.transform if node.parent else None
            if node.full_label == "Ingest" or (
                parent is not None and type(parent).__module__.startswith("beam_ingest")
            ):
                labels.append(node.full_label)

        def enter_composite_transform(self, node) -> None:
            if node.full_label:
                self.visit(node)

        def visit_transform(self, node) -> None:
            self.visit(node)

    pipeline.visit(Visitor())
    return labels


def dataflow_dry_run(args: list[str], output: Path, extra: list[str] = ()):
    parsed, beam_args = build_parser().parse_known_args(["run", *args, "--output", str(output)])
    pipeline = beam.Pipeline(options=PipelineOptions([*beam_args, *DATAFLOW, *extra]))
    _ = pipeline | "Ingest" >> Ingest(config_from_args(parsed))
    labels = _our_labels(pipeline)
    return pipeline.run().job, labels


@pytest.mark.parametrize("fmt", FORMATS)
def test_dataflow_dry_run_builds_the_job_with_readable_step_labels(inputs, tmp_path, fmt):
    job, labels = dataflow_dry_run(inputs[fmt], tmp_path / "out")
    assert job.proto.name.startswith("beamapp-") and job.proto.type_.name == "JOB_TYPE_BATCH"
    steps = {t.unique_name for t in job.proto_pipeline.components.transforms.values()}
    read = READ_STEPS[fmt]
    for step in (f"Ingest/Read/{read}", "Ingest/ToTFExample", "Ingest/HashSplit",
                 "Ingest/WriteSplits/Write[train]", "Ingest/WriteSplits/Write[eval]",
                 "Ingest/DeadLetters", "Ingest/Commit/Publish"):  # fmt: skip
        assert step in steps, f"{step} is not a step of the {fmt} job"
    assert len(labels) > 10
    for label in labels:
        assert label in steps, f"{label} is not in the Dataflow job"
        assert READABLE.match(label.rsplit("/", 1)[-1]), f"unreadable step label {label!r}"
    (environment,) = job.proto_pipeline.components.environments.values()
    assert b"beam_python3.11_sdk:2.77.0" in environment.payload
    assert not os.path.exists(tmp_path / "out"), "a dry run writes no output"


def test_dataflow_job_description_with_setup_file_is_built_offline(inputs, tmp_path):
    """What the runner sends to the Dataflow API, up to the HTTP call: staging
    is redirected to a local folder (Beam stages locally for a non-gs://
    path), so the package built from --setup_file can be looked at."""
    from apache_beam.runners.dataflow.internal import apiclient

    setup = Path(__file__).parents[1] / "setup.py"
    job, _ = dataflow_dry_run(
        inputs["csv"], tmp_path / "out", ["--no_auth", f"--setup_file={setup}"]
    )
    staging = tmp_path / "staging"
    staging.mkdir()
    job.google_cloud_options.staging_location = str(staging)
    apiclient.DataflowApplicationClient(job.options, str(staging)).create_job_description(job)
    description = json.loads(job.json())
    (pool,) = description["environment"]["workerPools"]
    assert pool["workerHarnessContainerImage"].endswith("beam_python3.11_sdk:2.77.0")
    assert "workflow.tar.gz" in {p["name"] for p in pool["packages"]}
    options = description["environment"]["sdkPipelineOptions"]["options"]
    assert options["project"] == "beam-ingest-demo" and options["region"] == "europe-west1"
    assert "use_runner_v2" in options["experiments"]
    staged = beam_runner_api_pb2.Pipeline.FromString((staging / "pipeline.pb").read_bytes())
    assert staged == job.proto_pipeline
    with tarfile.open(staging / "workflow.tar.gz") as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    wanted = {"setup.py", "beam_ingest/ingest.py", "connectors/csv.py", "transforms/encode.py"}
    assert wanted <= names


def test_cli_passes_dataflow_options_through(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", *inputs["csv"], "--output", str(out), "--", *DATAFLOW])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Dry run: the job was built, not submitted" in captured.out
    assert not out.exists()


# --- Flink: what can be checked without a cluster ---------------------------


def test_flink_runner_options_are_accepted_and_name_the_job_server_jar():
    from apache_beam.options.pipeline_options import FlinkRunnerOptions, PortableOptions
    from apache_beam.runners.portability import flink_runner, portable_runner

    args = ["--runner=FlinkRunner", "--flink_master=flink-jm:8081", "--environment_type=LOOPBACK"]
    options = PipelineOptions(args)
    assert options.view_as(FlinkRunnerOptions).flink_master == "flink-jm:8081"
    assert options.view_as(PortableOptions).environment_type == "LOOPBACK"
    runner = beam.Pipeline(options=options).runner
    # FlinkRunner is the PortableRunner plus a job server for the cluster.
    assert isinstance(runner, flink_runner.FlinkRunner)
    assert isinstance(runner, portable_runner.PortableRunner)
    jar = flink_runner.FlinkJarJobServer(options).path_to_jar()
    flink = options.view_as(FlinkRunnerOptions).flink_version
    assert jar == (
        "https://repo.maven.apache.org/maven2/org/apache/beam/"
        f"beam-runners-flink-{flink}-job-server/2.77.0/"
        f"beam-runners-flink-{flink}-job-server-2.77.0.jar"
    )
