"""The Flex Template's entry point: template parameters to `beam-ingest run`.

Dataflow's launcher runs this file (FLEX_TEMPLATE_PYTHON_PY_FILE) with one
`--name=value` per template parameter, followed by the pipeline options it
adds itself (`--runner=DataflowRunner`, `--project`, `--region`,
`--temp_location`, ...). A template parameter has one string value, so:

- a parameter is named after the CLI option's dest (`max_bad_records` for
  `--max-bad-records`), except where that name is also a Beam pipeline option
  (`--labels`), see `RENAMED`;
- a flag (`--overwrite`) takes `true` or `false`;
- a repeatable option (`--split`, `--input-split`) takes several values
  separated by `;` (`train=8;eval=2`).

Everything else is a Beam pipeline option and is passed on after `--`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence

from beam_ingest.cli import build_parser, main
from beam_ingest.errors import ConfigError

__all__ = ["RENAMED", "cli_args", "run_options"]

#: CLI dest -> template parameter name, where the dest is also a Beam
#: pipeline option (GoogleCloudOptions has `--labels` for job labels).
RENAMED = {"labels": "image_labels"}
SEPARATOR = ";"
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no", "")


def run_options() -> Iterator[tuple[str, argparse.Action]]:
    """(template parameter name, argparse action) of each `run` option."""
    parser = build_parser()
    (commands,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for action in commands.choices["run"]._actions:
        if action.option_strings and not isinstance(action, argparse._HelpAction):
            yield RENAMED.get(action.dest, action.dest), action


def is_flag(action: argparse.Action) -> bool:
    return isinstance(action, argparse._StoreTrueAction)


def is_repeatable(action: argparse.Action) -> bool:
    return isinstance(action, argparse._AppendAction)


def cli_args(argv: Sequence[str]) -> list[str]:
    """Template-style arguments to `beam-ingest run` arguments.

    Raises:
        ConfigError: a flag parameter whose value is not true or false.
    """
    options = dict(run_options())
    ours: list[str] = []
    beam: list[str] = []
    for arg in argv:
        name, sep, value = arg.partition("=")
        action = options.get(name[2:]) if name.startswith("--") and sep else None
        if action is None:
            beam.append(arg)
            continue
        option = max(action.option_strings, key=len)
        if is_flag(action):
            if value.lower() not in _TRUE + _FALSE:
                raise ConfigError(f"{name}: must be true or false; got {value!r}")
            ours += [option] if value.lower() in _TRUE else []
        elif is_repeatable(action):
            for item in value.split(SEPARATOR):
                ours += [option, item]
        else:
            ours += [option, value]
    return ["run", *ours, "--", *beam]


if __name__ == "__main__":
    try:
        args = cli_args(sys.argv[1:])
    except ConfigError as e:
        print(f"beam-ingest: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    sys.exit(main(args))
