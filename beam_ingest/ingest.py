"""`Ingest`: a source to published split TFRecords, bad records and a report."""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from collections.abc import Mapping

import apache_beam as beam

from beam_ingest import options
from beam_ingest.errors import ConfigError
from beam_ingest.sink import Sink
from beam_ingest.source import merge_extra_outputs
from beam_ingest.splits import DEFAULT_SPLITS, SplitSpec, validate_splits
from beam_ingest.transforms.commit import CommitOutput, output_is_occupied, stage_dir_for
from beam_ingest.transforms.encode import ToTFExample, examples_of
from beam_ingest.transforms.proto_keys import PROTO_PAYLOAD, proto_keys
from beam_ingest.transforms.sequence import SequenceSpec
from beam_ingest.transforms.sequence_step import (
    SEQUENCE_PAYLOAD,
    payload_format_of,
    sequence_report,
    sequence_step,
    shuffle_buckets,
)
from beam_ingest.transforms.split import HashSplit
from beam_ingest.transforms.tfrecord_sink import TFRecordSink
from beam_ingest.transforms.write import WriteBadRecords
from beam_ingest.user_transform import ApplyTransformFn
from beam_ingest.version import __version__


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class IngestConfig:
    """What to ingest and where. The CLI, the TFX executor and Python build this.

    Exactly one of `source` (hash-split into `splits`) and `split_sources`
    ({split name: source}, for inputs that are already split) is given. A
    source is a connector PTransform such as `ReadCsv`. `deterministic`
    writes byte-identical files on every rerun (a fixed shard count, 1 unless
    `num_shards` says otherwise, records sorted in each shard; it costs a
    GroupByKey); `shuffle` reshuffles examples before writing, as TFX does. `transform_fn`
    (`FILE.py:FN`, `MODULE:FN` or a callable, see `beam_ingest.user_transform`)
    is applied to every batch of every source before encoding. `sink` writes
    the output files (`beam_ingest.sink.Sink`); by default a `TFRecordSink` with
    `compression`, `compression_level`, `num_shards`, `deterministic` and
    `shuffle`. `sequence` (a `SequenceSpec`) groups rows into
    tf.SequenceExamples (`beam_ingest.transforms.sequence`).
    """

    output_dir: str
    source: beam.PTransform | None = None
    split_sources: Mapping[str, beam.PTransform] | None = None
    splits: tuple[SplitSpec, ...] = DEFAULT_SPLITS
    partition_feature: str | None = None
    max_bad_records: int = 0
    num_shards: int = 0
    deterministic: bool = False
    shuffle: bool = False
    compression: str = "gzip"
    compression_level: int = 6
    overwrite: bool = False
    report_fields: Mapping[str, object] = dataclasses.field(default_factory=dict)
    transform_fn: object = None
    sink: Sink | None = None
    sequence: SequenceSpec | None = None

    def __post_init__(self) -> None:
        if self.transform_fn is not None:
            from beam_ingest.user_transform import TransformFn

            object.__setattr__(self, "transform_fn", TransformFn.load(self.transform_fn))
        if (self.source is None) == (self.split_sources is None):
            raise ConfigError(
                "source: give either source (one source to split) or split_sources, not both"
            )
        if self.split_sources is not None:
            if not self.split_sources:
                raise ConfigError("input_split: at least one NAME=PATTERN is needed")
            if self.partition_feature:
                raise ConfigError(
                    "partition_feature: has no effect with `input_split` (inputs already split)"
                )
            validate_splits([SplitSpec(name=n, buckets=1) for n in self.split_sources])
        object.__setattr__(self, "splits", validate_splits(self.splits))
        if not isinstance(self.output_dir, str) or not self.output_dir.strip():
            raise ConfigError(f"output: must be a path; got {self.output_dir!r}")
        for name in _CHECKED:
            object.__setattr__(self, name, options.check(name, getattr(self, name)))
        _check_sequence(self)
        if self.deterministic and self.shuffle:
            raise ConfigError("shuffle: cannot go with `deterministic` (which sorts records)")
        if self.deterministic and not self.num_shards:
            object.__setattr__(self, "num_shards", 1)  # a fixed count; 1 unless given
        if self.sink is None:
            object.__setattr__(
                self,
                "sink",
                TFRecordSink(
                    compression=self.compression,
                    compression_level=self.compression_level,
                    num_shards=self.num_shards,
                    deterministic=self.deterministic,
                    shuffle=self.shuffle,
                ),
            )

    @property
    def payload_format(self) -> str:
        """What the TFX Examples artifact records: tf.SequenceExamples for
        `sequence`, or what the source reads (tf.SequenceExamples, protos),
        else tf.Examples."""
        if self.sequence is not None:
            return SEQUENCE_PAYLOAD
        sources = [self.source] if self.source is not None else list(self.split_sources.values())
        return payload_format_of(*sources)

    @property
    def split_names(self) -> tuple[str, ...]:
        if self.split_sources is not None:
            return tuple(self.split_sources)
        return tuple(s.name for s in self.splits)


#: Fields checked as the options of the same name (`beam_ingest.options`).
_CHECKED = (
    "max_bad_records",
    "num_shards",
    "deterministic",
    "shuffle",
    "compression",
    "compression_level",
)


def _check_sequence(config: IngestConfig) -> None:
    """Options that do not go with sequence output (or input)."""
    spec = config.sequence
    if spec is not None and not isinstance(spec, SequenceSpec):
        raise ConfigError(f"sequence: must be a SequenceSpec; got {spec!r}")
    sources = [config.source] if config.source is not None else list(config.split_sources.values())
    if spec is not None and any(getattr(s, "passes_examples", False) for s in sources):
        raise ConfigError(
            "sequence_key: needs a source of rows (CSV, JSONL, Parquet, Avro, ...); TFRecord "
            "input holds examples already (to re-split SequenceExamples: payload "
            "sequence_example, without sequence_key)"
        )
    feature = config.partition_feature
    if spec is not None and feature and feature not in spec.context_columns:
        raise ConfigError(
            f"partition_feature: {feature!r} must be a context feature of the sequences "
            f"(TFX splits a SequenceExample on its context); context: "
            f"{list(spec.context_columns)}"
        )
    payload = config.payload_format
    if config.transform_fn is not None and payload != "FORMAT_TF_EXAMPLE" and spec is None:
        what = "tf.SequenceExample" if payload == SEQUENCE_PAYLOAD else "proto (payload proto)"
        raise ConfigError(f"transform_fn: not supported for {what} input")
    sink = config.sink
    if (
        sink is not None
        and sink.payload_format != "FORMAT_TF_EXAMPLE"
        and (payload != "FORMAT_TF_EXAMPLE")
    ):
        what = "tf.SequenceExamples" if payload == SEQUENCE_PAYLOAD else "proto records"
        raise ConfigError(
            f"output_format: {sink.name!r} output converts tf.Examples and cannot hold "
            f"{what}; use an output format that stores the records as they are"
        )


def _check_output_path(output_dir: str) -> None:
    """A local output folder that is a file or cannot be created fails here,
    before the pipeline runs, not in its last step."""
    if "://" in output_dir:
        return
    path = os.path.abspath(output_dir)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(f"output: {output_dir!r} is a file, not a folder")
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ConfigError(
            f"output: {output_dir!r} cannot be created: {existing!r} is a file, not a folder"
        )
    folder = existing if existing != path else os.path.dirname(path)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"output: {output_dir!r} cannot be created: {folder!r} is not writable")


def _check_inputs_outside_output(inputs: Mapping[str, list[dict]], output_dir: str) -> None:
    """No input file may lie inside the output folder: the run would read its
    own output, and overwrite would delete its input."""
    if "://" in output_dir:
        prefix = output_dir.rstrip("/") + "/"
        inside = [f["path"] for fs in inputs.values() for f in fs if f["path"].startswith(prefix)]
    else:
        prefix = os.path.abspath(output_dir) + os.sep
        inside = [
            f["path"]
            for fs in inputs.values()
            for f in fs
            if "://" not in f["path"] and os.path.abspath(f["path"]).startswith(prefix)
        ]
    if inside:
        raise ConfigError(
            f"input: {inside[0]!r} is inside `output` {output_dir!r}; the run would read "
            "its own output (and overwrite=True would delete its input). Write elsewhere."
        )


def _check_same_selection(registry_reports: Mapping[str, dict]) -> None:
    """Input splits read from the registry select the same spans and version,
    as input splits of files must (`beam_ingest.spans.resolve`)."""
    selected = {
        split: (tuple(report.get("spans") or ()), report.get("version"))
        for split, report in registry_reports.items()
    }
    if len(set(selected.values())) > 1:
        described = ", ".join(
            f"{split!r}: span(s) {', '.join(map(str, spans)) or 'none'}"
            + (f" version {version}" if version is not None else "")
            for split, (spans, version) in selected.items()
        )
        raise ConfigError(
            f"input_split: the splits select different spans or versions: {described}"
        )


class Ingest(beam.PTransform):
    """The whole run: read, encode, split, write, dead letters, commit.

    Applied to a pipeline (`p | Ingest(config)`); returns a PCollection with
    the report dict, which is also written to `OUT/ingest_report.json`.

    Raises (at pipeline construction, before anything runs):
        ConfigError: a bad configuration, no matching file, or an output folder
            that is not empty without `overwrite`.
    """

    def __init__(self, config: IngestConfig) -> None:
        super().__init__()
        self.config = config
        self.stage_dir: str | None = None  # known once the pipeline is built

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        config = self.config
        _check_output_path(config.output_dir)
        if not config.overwrite and output_is_occupied(config.output_dir):
            raise ConfigError(
                f"output: {config.output_dir!r} exists and is not empty; "
                "use overwrite=True to replace it"
            )
        started = time.time()
        stage = self.stage_dir = stage_dir_for(config.output_dir, uuid.uuid4().hex[:12])
        sources = {"": config.source} if config.source is not None else dict(config.split_sources)
        examples: dict[str, beam.PCollection] = {}
        bad, counts, schemas, inputs, dropped = [], [], [], {}, []
        sequence_stats: list[beam.PCollection] = []
        buckets: dict[str, int] = {}  # the sequences' shuffle buckets of each input
        extra_report: dict = {}
        for name, source in sources.items():
            tag = f"[{name}]" if name else ""
            read = pbegin | f"Read{tag}" >> source
            files = source.input_files()
            if config.partition_feature and config.transform_fn is None:
                source.check_partition_feature(config.partition_feature)
            if config.transform_fn is not None:
                applied = read.records | f"TransformFn{tag}" >> ApplyTransformFn(
                    config.transform_fn,
                    source_files=[f.path for f in files],
                )
                dropped.append(applied["dropped"])
                read = read._replace(records=applied["records"], schema=applied["schema"])
            if config.sequence is not None:
                buckets[name or "all"] = shuffle_buckets(
                    config.sequence, sum(f.size or 0 for f in files)
                )
            encoded, read, stats = sequence_step(
                read, config.sequence, config.partition_feature, tag, payload_format_of(source),
                buckets=buckets.get(name or "all"),
            )  # fmt: skip
            if stats is not None:
                sequence_stats.append(stats)
            if encoded is None and payload_format_of(source) == PROTO_PAYLOAD:
                encoded = read.records | f"ProtoKeys{tag}" >> proto_keys(
                    source, config.partition_feature
                )
            if encoded is None:
                encoded = read.records | f"ToTFExample{tag}" >> ToTFExample(
                    partition_feature=config.partition_feature,
                    keep_columns=config.sink.takes_columns,
                )
            if name:
                examples[name] = encoded | f"Unbatch{tag}" >> beam.Map(examples_of)
            else:
                examples.update(encoded | "HashSplit" >> HashSplit(config.splits))
            bad.append(read.bad_records)
            counts.append(read.counts)
            schemas.append(read.schema)
            inputs[name or "all"] = [{"path": f.path, "size": f.size} for f in files]
            # A source may add report fields (skipped files), known once it
            # has expanded.
            for key, value in source.extra_outputs().report.items():
                extra_report.setdefault(key, {})[name or "all"] = value
        _check_inputs_outside_output(inputs, config.output_dir)
        _check_same_selection(extra_report.get("registry", {}))
        # ... and output files (labels.txt), which must agree across sources.
        extra_files = merge_extra_outputs(list(sources.values())).files
        staged = examples | "WriteSplits" >> config.sink.write(stage)
        bad_staged = (
            bad | "FlattenBadRecords" >> beam.Flatten() | "DeadLetters" >> WriteBadRecords(stage)
        )
        report = {
            "beam_ingest_version": __version__,
            "source": type(config.source or next(iter(sources.values()))).__name__,
            "inputs": inputs,
            "input_bytes": sum(f["size"] for fs in inputs.values() for f in fs),
            "split_config": (
                None
                if config.split_sources is not None
                else {s.name: s.buckets for s in config.splits}
            ),
            "partition_feature": config.partition_feature,
            "payload_format": config.payload_format,
            **({"sequence": sequence_report(config.sequence, buckets)} if config.sequence else {}),
            "num_shards": getattr(config.sink, "num_shards", config.num_shards),
            "deterministic": config.deterministic,
            "shuffle": config.shuffle,
            **config.sink.report(),
            "output_dir": config.output_dir,
            "started_at": started,
            **(
                {"transform": {"function": config.transform_fn.spec}}
                if config.transform_fn is not None
                else {}
            ),
            **extra_report,
            **config.report_fields,
        }
        return {
            "staged": staged,
            "bad": bad_staged,
            "counts": counts | "FlattenCounts" >> beam.Flatten(),
            "schemas": schemas | "FlattenSchemas" >> beam.Flatten(),
            **({"dropped": dropped | "FlattenDropped" >> beam.Flatten()} if dropped else {}),
            **(
                {"sequence": sequence_stats | "FlattenSequenceStats" >> beam.Flatten()}
                if sequence_stats
                else {}
            ),
        } | "Commit" >> CommitOutput(
            output_dir=config.output_dir,
            stage_dir=stage,
            split_names=config.split_names,
            sink=config.sink,
            num_shards=getattr(config.sink, "num_shards", config.num_shards),
            max_bad_records=config.max_bad_records,
            overwrite=config.overwrite,
            report=report,
            extra_files=extra_files,
        )
