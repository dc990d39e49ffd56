"""The `beam-ingest` command: run, inspect.

Exit status: 0 done; 2 bad usage or configuration; 1 bad data or a failed run.
User errors print one clear message, never a Python traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Sequence

from beam_ingest.config_from_args import SOURCES
from beam_ingest.errors import ConfigError, IngestError, from_pipeline_failure


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="beam-ingest",
        description="Raw data to TFX-compatible tf.Example TFRecords on Apache Beam.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="ingest input files into split TFRecords",
        description="Ingest input files into split TFRecords. Arguments the command does not "
        "know (or all after --) are Beam pipeline options, e.g. --runner, "
        "--direct_num_workers.",
    )
    run.add_argument(
        "--format",
        choices=sorted(SOURCES),
        help="input format (required, except with --registry: manifests name it)",
    )
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", help="glob of input files on any Beam filesystem")
    source.add_argument(
        "--input-split",
        action="append",
        metavar="NAME=PATTERN",
        help="an input that is already a split (repeatable); no hash split is done",
    )
    run.add_argument("--output", required=True, help="output folder (must be empty or new)")
    run.add_argument(
        "--split",
        action="append",
        metavar="NAME=BUCKETS",
        help="an output split and its hash buckets (repeatable); default train=2 eval=1",
    )
    run.add_argument("--partition-feature", help="split by this feature's value, as TFX does")
    run.add_argument("--schema", help="schema file: tensorflow_metadata text proto or JSON")
    run.add_argument(
        "--max-bad-records",
        type=int,
        default=0,
        metavar="N",
        help="let the run succeed with up to N bad records (default 0)",
    )
    run.add_argument(
        "--num-shards", type=int, default=0, metavar="N", help="files per split (0: automatic)"
    )
    run.add_argument(
        "--deterministic",
        action="store_true",
        help="byte-identical files on every rerun: fixed shards (--num-shards, default 1), "
        "records sorted in each; costs a shuffle and memory",
    )
    run.add_argument(
        "--shuffle", action="store_true", help="reshuffle examples before writing, as TFX does"
    )
    run.add_argument("--compression", default="gzip", choices=("gzip", "none"))
    run.add_argument(
        "--compression-level",
        type=int,
        default=6,
        metavar="0-9",
        help="gzip level (default 6); 0 is fastest, for already compressed data such as images",
    )
    run.add_argument("--overwrite", action="store_true", help="replace a non-empty output")
    csv_group = run.add_argument_group("CSV dialect")
    csv_group.add_argument("--delimiter", default=",")
    csv_group.add_argument("--quote-char", default='"', help='quote character; "" for none')
    csv_group.add_argument("--escape-char", default=None)
    csv_group.add_argument("--encoding", default="utf-8")
    run.add_argument(
        "--columns",
        metavar="A,B,C",
        help="Parquet: read only these columns (parent.child for a struct field)",
    )
    run.add_argument(
        "--input-compression",
        default="auto",
        metavar="auto|gzip|none",
        help="TFRecord input: auto (gzip by the .gz extension), gzip or none",
    )
    _add_span_arguments(run)
    run.add_argument(
        "--span-feature", metavar="NAME", help="add each example's span as an int feature NAME"
    )
    images = run.add_argument_group("images")
    images.add_argument("--image-root", help="folder image/filename is relative to")
    images.add_argument("--label-pattern", help="regex with one group on the relative path")
    images.add_argument("--labels", metavar="FILE", help="manifest CSV/JSONL: path, label")
    images.add_argument("--no-labels", action="store_true", help="write no label features")
    images.add_argument("--classes", metavar="FILE", help="fixed label vocabulary, one a line")
    images.add_argument("--verify-images", action="store_true", help="decode fully (slower)")
    run.add_argument(
        "--registry",
        metavar="ROOT",
        help="read dataset registry entries: --input/--input-split patterns name entries",
    )
    run.add_argument(
        "--transform-fn",
        metavar="FILE.py:FN",
        help="apply FN (pyarrow.RecordBatch -> RecordBatch) to every batch before encoding; "
        "also MODULE:FN",
    )
    run.add_argument("--verbose", action="store_true", help="show Beam's logs")

    spans = sub.add_parser("spans", help="show which spans, versions and files a run would ingest")
    spans_source = spans.add_mutually_exclusive_group(required=True)
    spans_source.add_argument("--input", help="pattern with {SPAN}, {VERSION}, {YYYY}...")
    spans_source.add_argument("--input-split", action="append", metavar="NAME=PATTERN")
    _add_span_arguments(spans)

    from beam_ingest import _registry_cli

    _registry_cli.add_parser(sub)

    inspect = sub.add_parser("inspect", help="show a run's report and a few decoded examples")
    inspect.add_argument("output", help="an output folder written by `beam-ingest run`")
    inspect.add_argument("--examples", type=int, default=3, help="examples per split to show")
    return parser


def _add_span_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("spans and versions")
    choice = group.add_mutually_exclusive_group()
    choice.add_argument("--span", type=int, help="ingest this span (default: the latest)")
    choice.add_argument("--span-range", metavar="A:B", help="ingest spans A to B")
    choice.add_argument("--last-spans", type=int, metavar="K", help="ingest the K latest spans")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    beam_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, beam_args = argv[:cut], argv[cut + 1 :]
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if args.command == "spans":
        if unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        return _guard(lambda: _spans(args))
    if args.command == "registry":
        from beam_ingest import _registry_cli

        return _guard(lambda: _registry_cli.run(args, unknown + beam_args))
    if args.command == "inspect":
        if unknown:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        return _guard(lambda: _inspect(args))
    return _guard(lambda: _run(args, unknown + beam_args))


def _guard(action) -> int:
    try:
        return action()
    except IngestError as e:
        _print_error(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        _print_error("interrupted")
        return 130
    except Exception as e:  # noqa: BLE001 - a pipeline failure: say what failed, briefly
        error = from_pipeline_failure(e)
        if error is not None:
            _print_error(str(error))
            return error.exit_code
        _print_error(f"the run failed: {type(e).__name__}: {str(e).strip()[:2000]}")
        return 1


def _print_error(message: str) -> None:
    # Beam appends the failing step to errors raised inside a pipeline.
    message = re.sub(r"\s*\[while running '[^']*'\]\s*$", "", message)
    print(f"beam-ingest: error: {message}", file=sys.stderr)


def _run(args: argparse.Namespace, beam_args: list[str]) -> int:
    if not args.verbose:
        logging.getLogger("apache_beam").setLevel(logging.CRITICAL)
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from beam_ingest.config_from_args import config_from_args

    config = config_from_args(args)
    started = time.time()
    try:
        options = PipelineOptions(beam_args)
    except Exception as e:
        raise ConfigError(f"bad Beam pipeline options {beam_args}: {e}") from e
    from beam_ingest import Ingest

    pipeline = beam.Pipeline(options=options)
    ingest = Ingest(config)
    _ = pipeline | "Ingest" >> ingest
    progress = _Progress(ingest.stage_dir, started) if sys.stderr.isatty() else None
    try:
        result = pipeline.run()
        result.wait_until_finish()
    finally:
        if progress:
            progress.stop()
    if options.get_all_options().get("dry_run"):
        print("Dry run: the job was built, not submitted; nothing was written")
        return 0
    _print_summary(config.output_dir, time.time() - started)
    return 0


def progress_line(stage_dir: str | None, seconds: float) -> str:
    """`  12 s  48.0 MB written`: what a terminal shows while a run works."""
    written = 0
    if stage_dir and os.path.isdir(stage_dir):
        for folder, _, names in os.walk(stage_dir):
            for name in names:
                with contextlib.suppress(OSError):  # a part file renamed meanwhile
                    written += os.path.getsize(os.path.join(folder, name))
    return f"  {seconds:4.0f} s  {written / 1e6:8.1f} MB written"


class _Progress:
    """Rewrites one stderr line each second while the pipeline runs (local output)."""

    def __init__(self, stage_dir: str | None, started: float) -> None:
        self._stage_dir = stage_dir
        self._started = started
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._done.wait(1.0):
            line = progress_line(self._stage_dir, time.time() - self._started)
            print(f"\r{line}", end="", file=sys.stderr, flush=True)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()
        print("\r\033[K", end="", file=sys.stderr, flush=True)


def _print_summary(output_dir: str, seconds: float) -> None:
    from beam_ingest import files
    from beam_ingest.transforms.commit import REPORT_NAME

    report_path = files.join(output_dir, REPORT_NAME)
    if not files.exists(report_path):
        # A runner that only submits the job (Dataflow) returns before it ends.
        print(f"Submitted; the output will be in {output_dir}")
        return
    report = json.loads(files.read_bytes(report_path))
    rows = [(name, s["examples"], len(s["files"])) for name, s in report["splits"].items()]
    width = max(len(r[0]) for r in [*rows, ("split", 0, 0)])
    print(f"{'split':<{width}}  {'examples':>10}  {'files':>5}")
    for name, count, nfiles in rows:
        print(f"{name:<{width}}  {count:>10,}  {nfiles:>5}")
    bad = report["bad_records"]
    print(f"{'bad':<{width}}  {bad['count']:>10,}  {len(bad['files']):>5}")
    rate = report["records_read"] / seconds if seconds > 0 else 0.0
    print(
        f"{report['records_read']:,} records read in {seconds:.1f} s ({rate:,.0f} records/s); "
        f"output: {output_dir}"
    )


def _spans(args: argparse.Namespace) -> int:
    from beam_ingest.config_from_args import input_splits, span_selection
    from beam_ingest.spans import describe, resolve

    patterns = input_splits(args.input_split) if args.input_split else {"all": args.input}
    print(describe(resolve(patterns, **span_selection(args))))
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from beam_ingest.inspect import inspect_output

    print(inspect_output(args.output, examples=args.examples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
