"""`Ingest`: a source to published split TFRecords, bad records and a report."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Mapping

import apache_beam as beam

from beam_ingest import __version__
from beam_ingest.connectors._outputs import merge_extra_outputs
from beam_ingest.errors import ConfigError
from beam_ingest.splits import DEFAULT_SPLITS, SplitSpec, validate_splits
from beam_ingest.transforms.commit import CommitOutput, output_is_occupied, stage_dir_for
from beam_ingest.transforms.encode import ToTFExample
from beam_ingest.transforms.split import HashSplit
from beam_ingest.transforms.write import COMPRESSIONS, WriteBadRecords, WriteSplits


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class IngestConfig:
    """What to ingest and where. The CLI, the TFX executor and Python build this.

    Exactly one of `source` (hash-split into `splits`) and `split_sources`
    ({split name: source}, for inputs that are already split) is given. A
    source is a connector PTransform such as `ReadCsv`.
    """

    output_dir: str
    source: beam.PTransform | None = None
    split_sources: Mapping[str, beam.PTransform] | None = None
    splits: tuple[SplitSpec, ...] = DEFAULT_SPLITS
    partition_feature: str | None = None
    max_bad_records: int = 0
    num_shards: int = 0
    compression: str = "gzip"
    compression_level: int = 6
    overwrite: bool = False
    report_fields: Mapping[str, object] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.source is None) == (self.split_sources is None):
            raise ConfigError(
                "give either --input (one source to split) or --input-split, not both"
            )
        if self.split_sources is not None:
            if not self.split_sources:
                raise ConfigError("--input-split: at least one NAME=PATTERN is needed")
            if self.partition_feature:
                raise ConfigError(
                    "--partition-feature: has no effect with --input-split (inputs already split)"
                )
            validate_splits([SplitSpec(name=n, buckets=1) for n in self.split_sources])
        object.__setattr__(self, "splits", validate_splits(self.splits))
        if not isinstance(self.output_dir, str) or not self.output_dir.strip():
            raise ConfigError(f"--output: must be a path; got {self.output_dir!r}")
        _non_negative_int("--max-bad-records", self.max_bad_records)
        _non_negative_int("--num-shards", self.num_shards)
        if self.compression_level not in range(10):
            raise ConfigError(
                f"--compression-level: must be 0 to 9; got {self.compression_level!r}"
            )
        if self.compression not in COMPRESSIONS:
            raise ConfigError(
                f"--compression: {self.compression!r} is not one of {list(COMPRESSIONS)}"
            )

    @property
    def split_names(self) -> tuple[str, ...]:
        if self.split_sources is not None:
            return tuple(self.split_sources)
        return tuple(s.name for s in self.splits)


def _non_negative_int(argument: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{argument}: must be an int >= 0; got {value!r}")


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
        if not config.overwrite and output_is_occupied(config.output_dir):
            raise ConfigError(
                f"--output: {config.output_dir!r} exists and is not empty; "
                "use --overwrite to replace it"
            )
        started = time.time()
        stage = self.stage_dir = stage_dir_for(config.output_dir, uuid.uuid4().hex[:12])
        sources = {"": config.source} if config.source is not None else dict(config.split_sources)
        examples: dict[str, beam.PCollection] = {}
        bad, counts, schemas, inputs = [], [], [], {}
        extra_report: dict = {}
        for name, source in sources.items():
            tag = f"[{name}]" if name else ""
            read = pbegin | f"Read{tag}" >> source
            encoded = read["records"] | f"ToTFExample{tag}" >> ToTFExample(
                partition_feature=config.partition_feature
            )
            if name:
                examples[name] = encoded | f"Unbatch{tag}" >> beam.Map(lambda b: b.examples)
            else:
                examples.update(encoded | "HashSplit" >> HashSplit(config.splits))
            bad.append(read["bad_records"])
            counts.append(read["counts"])
            schemas.append(read["schema"])
            inputs[name or "all"] = [
                {"path": f.path, "size": f.size} for f in getattr(source, "files", [])
            ]
            # A source may add report fields (skipped files), known once it
            # has expanded.
            if hasattr(source, "extra_outputs"):
                for key, value in source.extra_outputs()[1].items():
                    extra_report.setdefault(key, {})[name or "all"] = value
        # ... and output files (labels.txt), which must agree across sources.
        extra_files, _ = merge_extra_outputs(sources.values())
        staged = examples | "WriteSplits" >> WriteSplits(
            stage,
            num_shards=config.num_shards,
            compression=config.compression,
            compression_level=config.compression_level,
        )
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
            "num_shards": config.num_shards,
            "compression": config.compression,
            "compression_level": config.compression_level,
            "output_dir": config.output_dir,
            "started_at": started,
            **extra_report,
            **config.report_fields,
        }
        return {
            "staged": staged,
            "bad": bad_staged,
            "counts": counts | "FlattenCounts" >> beam.Flatten(),
            "schemas": schemas | "FlattenSchemas" >> beam.Flatten(),
        } | "Commit" >> CommitOutput(
            output_dir=config.output_dir,
            stage_dir=stage,
            split_names=config.split_names,
            num_shards=config.num_shards,
            compression=config.compression,
            compression_level=config.compression_level,
            max_bad_records=config.max_bad_records,
            overwrite=config.overwrite,
            report=report,
            extra_files=extra_files,
        )
