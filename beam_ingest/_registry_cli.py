"""`beam-ingest registry push|ls|show|delete`: the registry on the command line.

Every subcommand takes `--registry ROOT` (default `$BEAM_INGEST_REGISTRY`,
else `~/.beam_ingest/registry`). Arguments it does not know (or all after
`--`) are Beam pipeline options for the filesystem, e.g. `--s3_endpoint_url`.
"""

from __future__ import annotations

import argparse
import json
import sys

from beam_ingest.errors import ConfigError


def add_parser(sub) -> None:
    """Adds `registry` and its subcommands to the CLI's subparsers (`add_subparsers()`)."""
    registry = sub.add_parser(
        "registry",
        help="push, list, show and delete dataset registry entries",
        description="The dataset registry: named, immutable entries of data files. Arguments "
        "the command does not know (or all after --) are Beam pipeline options for the "
        "filesystem, e.g. --s3_endpoint_url.",
    )
    verbs = registry.add_subparsers(dest="registry_command", required=True)

    def root(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--registry",
            metavar="ROOT",
            help="registry folder or gs:// / s3:// prefix (default: $BEAM_INGEST_REGISTRY, "
            "else ~/.beam_ingest/registry)",
        )

    push = verbs.add_parser("push", help="copy files into a new entry")
    push.add_argument("name", help="entry name, e.g. klue_sts/v3_1-train")
    push.add_argument("files", nargs="+", help="files, folders or globs (any Beam filesystem)")
    from beam_ingest import formats
    from beam_ingest.cli import add_option

    push.add_argument("--format", required=True, choices=formats.names())
    push.add_argument("--description", default="", help="free text")
    push.add_argument("--tag", action="append", default=[], help="a label (repeatable)")
    for fmt in formats.all_formats():
        stored = [o for o in fmt.options if o.stored]
        if stored:
            group = push.add_argument_group(f"{fmt.name} options")
            for option in stored:
                add_option(group, option)
    root(push)

    ls = verbs.add_parser("ls", help="list entries matching a glob or {SPAN}/{VERSION} pattern")
    ls.add_argument("pattern", nargs="?", default="**", help="default: every entry")
    ls.add_argument("--long", action="store_true", help="format, records, files, bytes, created")
    root(ls)

    show = verbs.add_parser("show", help="print an entry's manifest (JSON)")
    show.add_argument("name")
    root(show)

    delete = verbs.add_parser("delete", help="delete an entry")
    delete.add_argument("name")
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    root(delete)


def run(args: argparse.Namespace, beam_args: list[str]) -> int:
    """Runs a registry subcommand; returns the exit status.

    Raises:
        ConfigError: bad arguments, options or names (see `Registry`).
        DataError: a manifest that cannot be read.
    """
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions

    from beam_ingest.registry import Registry

    try:
        FileSystems.set_options(PipelineOptions(beam_args))
    except Exception as e:
        raise ConfigError(f"bad Beam pipeline options {beam_args}: {e}") from e
    registry = Registry(args.registry)
    command = args.registry_command
    if command == "push":
        entry = registry.push(
            args.name,
            args.files,
            format=args.format,
            options=_push_options(args),
            description=args.description,
            tags=args.tag,
        )
        print(
            f"pushed {entry.name}: {entry.format}, {entry.records:,} records, "
            f"{len(entry.files)} files, {entry.size:,} bytes"
        )
    elif command == "ls":
        for name in registry.ls(args.pattern):
            if args.long:
                e = registry.show(name)
                print(f"{name}\t{e.format}\t{e.records}\t{len(e.files)}\t{e.size}\t{e.created}")
            else:
                print(name)
    elif command == "show":
        print(json.dumps(registry.show(args.name).to_json(), indent=2))
    else:
        entry = registry.show(args.name)
        if not args.yes:
            if not sys.stdin.isatty():
                raise ConfigError(
                    f"registry delete: confirm deleting {args.name!r} with --yes "
                    "(no terminal to ask on)"
                )
            answer = input(
                f"Delete {entry.name} ({entry.records:,} records, {entry.size:,} bytes) "
                f"from {registry.root}? [y/N] "
            )
            if answer.strip().lower() not in ("y", "yes"):
                print("not deleted")
                return 1
        registry.delete(args.name)
        print(f"deleted {args.name}")
    return 0


def _push_options(args: argparse.Namespace) -> dict[str, object]:
    """The format options given, by name (the registry parses them and
    refuses those that do not apply to the format)."""
    from beam_ingest import formats

    names = {o.name for f in formats.all_formats() for o in f.options if o.stored}
    return {name: value for name, value in vars(args).items() if name in names}
