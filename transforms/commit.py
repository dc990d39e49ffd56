"""The last step of a run: check the counts, lay out the output, publish it.

`CommitOutput` turns staged part files into the output layout
(`Split-<name>/` files named by the run's `beam_ingest.sink.Sink`, `errors/`,
`schema.pbtxt`), writes `ingest_report.json`, and publishes the result:

- local paths: the layout is assembled in the stage folder, then one
  `rename(2)` puts it in place (an existing output is first renamed aside),
  so readers see the whole output or none of it;
- object stores (gs://, s3://), which have no atomic folder rename: files
  are copied in, and `ingest_report.json` last. A reader treats an output
  without the report as incomplete.

Too many bad records fail the run here, before anything is published; the
bad records stay in the stage folder's `errors/` and the message says where.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from beam_ingest import files
from beam_ingest.errors import DataError, OutputError
from beam_ingest.schema import Schema, merge_schemas
from beam_ingest.sink import Sink
from beam_ingest.transforms.write import StagedFile

__all__ = ["REPORT_NAME", "CommitOutput", "stage_dir_for"]

REPORT_NAME = "ingest_report.json"


def stage_dir_for(output_dir: str, run_id: str) -> str:
    """The run's private folder: a hidden sibling of the output folder."""
    output_dir = output_dir.rstrip("/")
    parent, name = (
        os.path.split(output_dir) if files.is_local(output_dir) else output_dir.rsplit("/", 1)
    )
    return FileSystems.join(parent or ".", f".{name}.beam-ingest-{run_id}")


def output_is_occupied(output_dir: str) -> bool:
    """True when the output folder holds anything (a file counts too)."""
    if files.is_local(output_dir):
        if os.path.isdir(output_dir):
            return bool(os.listdir(output_dir))
        return os.path.exists(output_dir)
    return bool(files.list_dir(output_dir))


class CommitOutput(beam.PTransform):
    """Staged files, bad records, counts and schema to the published output.

    Input: a dict with `staged` (StagedFile of splits), `bad` (StagedFile of
    bad records), `counts` ((file, records read)) and `schemas` (Schema), and
    optionally `dropped` (ints: records a user's transform function dropped,
    reported as `transform.records_dropped`) and `sequence` (count dicts of
    `beam_ingest.transforms.sequence.BuildSequences`: rows folded into
    sequences count as neither examples nor bad records).
    Returns a PCollection holding the report (a dict).
    """

    def __init__(
        self,
        *,
        output_dir: str,
        stage_dir: str,
        split_names: Sequence[str],
        sink: Sink,
        num_shards: int = 0,
        max_bad_records: int = 0,
        overwrite: bool,
        report: Mapping,
        extra_files: Mapping[str, bytes] | None = None,
    ) -> None:
        super().__init__()
        self.output_dir = output_dir
        self.stage_dir = stage_dir
        self.split_names = tuple(split_names)
        self.sink = sink
        self.num_shards = num_shards
        self.max_bad_records = max_bad_records
        self.overwrite = overwrite
        self.report = dict(report)
        self.extra_files = dict(extra_files or {})

    def expand(self, inputs: Mapping[str, beam.PCollection]) -> beam.PCollection:
        staged = inputs["staged"]
        if self.num_shards:
            staged = (
                inputs["staged"].pipeline
                | "ShardIds"
                >> beam.Create(
                    [(s, k) for s in self.split_names for k in range(self.num_shards)],
                    reshuffle=False,
                )
                | "MergeShards"
                >> beam.ParDo(
                    _MergeShardFn(self.stage_dir, self.num_shards, self.sink),
                    beam.pvalue.AsList(staged),
                )
            )
        return (
            staged.pipeline
            | "Trigger" >> beam.Create([None], reshuffle=False)
            | "Publish"
            >> beam.ParDo(
                _PublishFn(self),
                staged=beam.pvalue.AsList(staged),
                bad=beam.pvalue.AsList(inputs["bad"]),
                counts=beam.pvalue.AsList(inputs["counts"]),
                schemas=beam.pvalue.AsList(inputs["schemas"]),
                **(
                    {"dropped": beam.pvalue.AsList(inputs["dropped"])}
                    if "dropped" in inputs
                    else {}
                ),
                **(
                    {"sequence": beam.pvalue.AsList(inputs["sequence"])}
                    if "sequence" in inputs
                    else {}
                ),
            )
        )


def _final_dir(stage_dir: str) -> str:
    return FileSystems.join(stage_dir, "out")


class _MergeShardFn(beam.DoFn):
    """Joins the parts of one fixed shard into its final file (the sink's `merge`)."""

    def __init__(self, stage_dir: str, num_shards: int, sink: Sink) -> None:
        self._stage_dir = stage_dir
        self._num_shards = num_shards
        self._sink = sink

    def process(self, split_shard: tuple[str, int], staged: list[StagedFile]) -> Iterator:
        split, shard = split_shard
        parts = sorted(
            (s for s in staged if s.split == split and s.shard == shard), key=lambda s: s.path
        )
        name = self._sink.shard_name(shard, self._num_shards)
        path = FileSystems.join(self._stage_dir, "merged", f"Split-{split}", name)
        self._sink.merge(parts, path)
        yield StagedFile(
            split=split,
            path=path,
            records=sum(p.records for p in parts),
            shard=shard,
            compressed=True,
        )


class _PublishFn(beam.DoFn):
    def __init__(self, spec: CommitOutput) -> None:
        self._spec = spec

    def process(
        self, _, staged, bad, counts, schemas, dropped=None, sequence=None
    ) -> Iterator[dict]:
        spec = self._spec
        published = _published_report(spec.output_dir, spec.stage_dir)
        if published is not None:  # a retried attempt: the first one published, then failed
            files.delete_tree(spec.stage_dir)
            yield published
            return
        bad_count = sum(b.records for b in bad)
        if bad_count > spec.max_bad_records:
            self._fail_on_bad_records(bad, bad_count)
        read = sum(n for _, n in counts)
        written = sum(s.records for s in staged)
        removed = sum(dropped or ())
        folded, sequence_counts = _sequence_counts(sequence)
        if read != written + bad_count + removed + folded:
            raise OutputError(
                f"internal error: {read} records read but {written} examples written, "
                f"{bad_count} bad records, {removed} dropped by transform_fn and {folded} "
                f"folded into sequences; nothing "
                f"was published (stage: {spec.stage_dir})"
            )
        final = _final_dir(spec.stage_dir)
        schema = merge_schemas(schemas) if schemas else Schema(())
        staged = spec.sink.finish(list(staged), schema)
        splits = self._lay_out_splits(staged, final)
        errors = self._lay_out_errors(bad, final)
        files.write_bytes(FileSystems.join(final, "schema.pbtxt"), schema.to_pbtxt().encode())
        for name, data in spec.extra_files.items():
            files.write_bytes(FileSystems.join(final, name), data)
        report = dict(spec.report, run_id=_run_id(spec.stage_dir))
        if sequence is not None:
            report["sequence"] = {**report.get("sequence", {}), **sequence_counts}
        if dropped is not None:
            report["transform"] = {**report.get("transform", {}), "records_dropped": removed}
        finished = time.time()
        seconds = finished - report.get("started_at", finished)
        report.update(
            records_read=read,
            examples=written,
            splits=splits,
            bad_records={
                "count": bad_count,
                "max_allowed": spec.max_bad_records,
                "files": errors,
                "first": [s for b in bad for s in b.samples][:5],
            },
            schema=schema.to_dict(),
            finished_at=finished,
            seconds=round(seconds, 3),
            records_per_second=round(read / seconds, 1) if seconds > 0 else None,
        )
        report_bytes = json.dumps(report, indent=2, sort_keys=True).encode()
        files.write_bytes(FileSystems.join(final, REPORT_NAME), report_bytes)
        _publish(final, spec.output_dir, spec.overwrite)
        files.delete_tree(spec.stage_dir)
        yield report

    def _fail_on_bad_records(self, bad: list[StagedFile], count: int) -> None:
        spec = self._spec
        for name in spec.split_names:
            files.delete_tree(FileSystems.join(spec.stage_dir, f"Split-{name}"))
        files.delete_tree(FileSystems.join(spec.stage_dir, "merged"))
        first = [s for b in sorted(bad, key=lambda b: b.path) for s in b.samples][:5]
        listing = "\n".join(f"  {line}" for line in first)
        raise DataError(
            f"{count} bad record(s), more than max_bad_records={spec.max_bad_records}; "
            f"nothing was written to {spec.output_dir}.\nThe first:\n{listing}\n"
            f"All bad records (file, line, reason, raw text) are in "
            f"{FileSystems.join(spec.stage_dir, 'errors')}/"
        )

    def _lay_out_splits(self, staged: list[StagedFile], final: str) -> dict:
        spec = self._spec
        by_split: dict[str, list[StagedFile]] = defaultdict(list)
        for s in staged:
            by_split[s.split].append(s)
        result = {}
        for name in spec.split_names:
            parts = sorted(by_split.get(name, []), key=lambda s: (s.shard or 0, s.path))
            folder = FileSystems.join(final, f"Split-{name}")
            _mkdirs(folder)
            names = []
            if not parts:  # an empty split still gets one (empty) file, as Beam writes
                names.append(spec.sink.shard_name(0, 1))
                files.write_bytes(FileSystems.join(folder, names[0]), spec.sink.empty_file())
            else:
                names = [spec.sink.shard_name(i, len(parts)) for i in range(len(parts))]
                _move([p.path for p in parts], [FileSystems.join(folder, n) for n in names])
            paths = [FileSystems.join(folder, n) for n in names]
            result[name] = {
                "examples": sum(p.records for p in parts),
                "files": [f"Split-{name}/{n}" for n in names],
                "bytes": _total_size(paths),
            }
        return result

    def _lay_out_errors(self, bad: list[StagedFile], final: str) -> list[str]:
        if not bad:
            return []
        parts = sorted(bad, key=lambda b: b.path)
        folder = FileSystems.join(final, "errors")
        _mkdirs(folder)
        names = [
            files.shard_name("bad_records", i, len(parts), ".jsonl") for i in range(len(parts))
        ]
        _move([p.path for p in parts], [FileSystems.join(folder, n) for n in names])
        return [f"errors/{n}" for n in names]


def _sequence_counts(stats: list[dict] | None) -> tuple[int, dict]:
    """(rows folded into sequences, the report's sequence counts) of
    `BuildSequences`' stats: every grouped row but one per sequence, written
    or dead-lettered, and the steps truncation dropped."""
    if stats is None:
        return 0, {}
    from beam_ingest.transforms.sequence import merge_stats

    total = merge_stats(stats)
    outcomes = total["sequences"] + total["context_conflicts"] + total["too_long"]
    return total["rows"] - outcomes, total


def _total_size(paths: list[str]) -> int:
    return sum(m.size_in_bytes for r in FileSystems.match(paths) for m in r.metadata_list)


def _mkdirs(path: str) -> None:
    with contextlib.suppress(OSError):  # Beam raises IOError when it exists
        FileSystems.mkdirs(path)


def _run_id(stage_dir: str) -> str:
    return files.basename(stage_dir).rsplit("-", 1)[-1]


def _move(sources: list[str], targets: list[str]) -> None:
    """Renames; a pair already moved (by an earlier attempt of a retried
    bundle) is skipped, so the commit step can be retried."""
    pending = [
        (s, t)
        for s, t in zip(sources, targets, strict=True)
        if FileSystems.exists(s) or not FileSystems.exists(t)
    ]
    if pending:
        FileSystems.rename([s for s, _ in pending], [t for _, t in pending])


def _published_report(output_dir: str, stage_dir: str) -> dict | None:
    """The output's report if this run published it (an earlier attempt did)."""
    try:
        report = json.loads(files.read_bytes(FileSystems.join(output_dir, REPORT_NAME)))
    except (OSError, ValueError):
        return None
    return report if report.get("run_id") == _run_id(stage_dir) else None


def _publish(final: str, output_dir: str, overwrite: bool) -> None:
    if output_is_occupied(output_dir) and not overwrite:
        raise OutputError(
            f"output: {output_dir!r} was filled by someone else while this run worked; "
            "nothing was published. Use overwrite=True to replace it."
        )
    if files.is_local(output_dir):
        output_dir = output_dir.rstrip("/")
        aside = None
        if overwrite and os.path.isdir(output_dir) and os.listdir(output_dir):
            aside = f"{final}.replaced"
            try:
                os.rename(output_dir, aside)
            except FileNotFoundError:  # another run with --overwrite moved it first
                aside = None
        os.makedirs(os.path.dirname(os.path.abspath(output_dir)), exist_ok=True)
        try:
            os.replace(final, output_dir)  # atomic; replaces an empty folder
        except OSError as e:  # not empty: another run published between check and rename
            raise OutputError(
                f"output: {output_dir!r} was filled by another run while this one worked; "
                f"nothing was published ({e.strerror})"
            ) from e
        if aside:
            files.delete_tree(aside)
        return
    if overwrite:
        files.delete_tree(output_dir)
    sources = [p for p in files.list_dir(final) if not p.endswith(REPORT_NAME)]
    targets = [output_dir.rstrip("/") + p[len(final.rstrip("/")) :] for p in sources]
    FileSystems.copy(sources, targets)
    FileSystems.copy(
        [FileSystems.join(final, REPORT_NAME)], [FileSystems.join(output_dir, REPORT_NAME)]
    )
