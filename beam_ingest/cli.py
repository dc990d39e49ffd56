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

from beam_ingest import options
from beam_ingest.errors import ConfigError, IngestError, from_pipeline_failure

#: `run` option groups, in the order `--help` shows them.
_GROUPS = {
    "input": "input",
    "spans": "spans and versions",
    "output": "output",
    "sequence": "sequences (tf.SequenceExample output)",
    "run": "the run",
}


def add_option(parser: argparse.ArgumentParser, option: options.Option) -> None:
    """Adds `option` to an argparse parser. Nothing is set for an option not
    given (the options model fills in defaults), so what was given is known."""
    help_text = options.cli_message(option.help)
    kwargs: dict = {"dest": option.name, "default": argparse.SUPPRESS, "help": help_text}
    if option.kind == "flag":
        kwargs["action"] = "store_true"
    else:
        if option.kind == "list":
            kwargs["action"] = "append"
        choices = option.choice_list()
        if choices is not None and option.metavar is None:
            kwargs["metavar"] = "{" + ",".join(choices) + "}"
        elif option.metavar:
            kwargs["metavar"] = option.metavar
        if option.default not in (None, False) and "default" not in help_text:
            kwargs["help"] = f"{help_text} (default {option.default})"
    parser.add_argument(option.flag, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="beam-ingest",
        description="Raw data to TFX-compatible tf.Example TFRecords on Apache Beam.",
        allow_abbrev=False,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="ingest input files into split TFRecords",
        description="Ingest input files into split TFRecords. Beam pipeline options go after "
        "--, e.g. beam-ingest run ... -- --runner=FlinkRunner. All options: docs/cli.md.",
        allow_abbrev=False,
    )
    groups = {key: run.add_argument_group(title) for key, title in _GROUPS.items()}
    for option in options.all_options():
        if option.group not in groups:
            groups[option.group] = run.add_argument_group(f"{option.group} options")
        add_option(groups[option.group], option)

    spans = sub.add_parser(
        "spans",
        help="show which spans, versions and files a run would ingest",
        allow_abbrev=False,
    )
    for name in ("input", "input_split", "span", "span_range", "last_spans"):
        add_option(spans, options.get(name))

    from beam_ingest import _registry_cli

    _registry_cli.add_parser(sub)

    inspect = sub.add_parser("inspect", help="show a run's report and a few decoded examples")
    inspect.add_argument("output", help="an output folder written by `beam-ingest run`")
    inspect.add_argument("--examples", type=int, default=3, help="examples per split to show")
    return parser


def given_options(args: argparse.Namespace) -> dict[str, object]:
    """The options given on the command line (by name), as strings."""
    return {k: v for k, v in vars(args).items() if k not in ("command",)}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    beam_args: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, beam_args = argv[:cut], argv[cut + 1 :]
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if args.command == "registry":
        from beam_ingest import _registry_cli

        return guard(lambda: _registry_cli.run(args, unknown + beam_args))
    if unknown:
        return _usage_error(parser, args.command, unknown)
    if args.command == "spans":
        return guard(lambda: _spans(args))
    if args.command == "inspect":
        return guard(lambda: _inspect(args))
    values = given_options(args)
    verbose = bool(values.pop("verbose", False))
    return guard(lambda: _run_command(values, beam_args, verbose))


def _usage_error(parser: argparse.ArgumentParser, command: str, unknown: list[str]) -> int:
    """Exit 2 for arguments the command does not know, saying what was meant."""
    from beam_ingest.beam_options import beam_option_names

    arg = unknown[0]
    name = arg.split("=", 1)[0]
    known = [o.flag for o in options.all_options()] if command == "run" else []
    if name.startswith("--") and name[2:] in beam_option_names():
        hint = f"; {name} is a Beam pipeline option: put it after --, e.g. -- {arg}"
    else:
        hint = options.suggest(name, known)
    _print_error(f"{command}: unrecognized argument {arg!r}{hint}")
    return 2


def _run_command(values: dict[str, object], beam_args: list[str], verbose: bool) -> int:
    from beam_ingest.beam_options import check_beam_args
    from beam_ingest.config import build_config

    check_beam_args(beam_args)
    return run(build_config(values), beam_args, verbose=verbose)


def guard(action) -> int:
    """Runs `action`; an error becomes one clear message and its exit status."""
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
    message = options.cli_message(message)
    print(f"beam-ingest: error: {message}", file=sys.stderr)


def run(config, beam_args: Sequence[str], *, verbose: bool = False) -> int:
    """Runs `Ingest(config)` with Beam arguments, as `beam-ingest run` does:
    a progress line on a terminal, a summary at the end. Returns 0.

    Raises:
        ConfigError: a bad configuration or Beam option (before anything runs).
        IngestError, or the runner's exception: the run failed.
    """
    if not verbose:
        logging.getLogger("apache_beam").setLevel(logging.CRITICAL)
    import apache_beam as beam

    from beam_ingest import Ingest
    from beam_ingest.runners import pipeline_options

    started = time.time()
    options_ = pipeline_options(beam_args)
    pipeline = beam.Pipeline(options=options_)
    ingest = Ingest(config)
    _ = pipeline | "Ingest" >> ingest
    progress = _Progress(ingest.stage_dir, started) if sys.stderr.isatty() else None
    try:
        result = pipeline.run()
        result.wait_until_finish()
    finally:
        if progress:
            progress.stop()
    if options_.get_all_options().get("dry_run"):
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
    """Rewrites one stderr line each second while the pipeline runs (local
    output), the first as soon as it starts (however short the run)."""

    def __init__(self, stage_dir: str | None, started: float) -> None:
        self._stage_dir = stage_dir
        self._started = started
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            line = progress_line(self._stage_dir, time.time() - self._started)
            print(f"\r{line}", end="", file=sys.stderr, flush=True)
            if self._done.wait(1.0):
                return

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
    skipped = sum(s["count"] for s in report.get("skipped_files", {}).values())
    if skipped:
        print(f"{skipped:,} files of the input skipped (markers, other extensions): {REPORT_NAME}")


def _spans(args: argparse.Namespace) -> int:
    from beam_ingest.config import input_splits, span_selection
    from beam_ingest.spans import describe, resolve

    values = options.parse_values(given_options(args))
    if not values["input"] and not values["input_split"]:
        raise ConfigError("input: required: a pattern with {SPAN}, {VERSION}, {YYYY}...")
    patterns = (
        input_splits(values["input_split"]) if values["input_split"] else {"all": values["input"]}
    )
    print(describe(resolve(patterns, **span_selection(values))))
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from beam_ingest.inspect import inspect_output

    print(inspect_output(args.output, examples=args.examples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
