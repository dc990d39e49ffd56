"""The Flex Template's entry point: template parameters to an `IngestConfig`.

Dataflow's launcher runs this file (FLEX_TEMPLATE_PYTHON_PY_FILE) with one
`--name=value` per template parameter, followed by the pipeline options it
adds itself (`--runner=DataflowRunner`, `--project`, `--region`,
`--temp_location`, ...). A template parameter has one string value, so:

- a parameter is named after the option (`max_bad_records`), except where
  that name is also a Beam pipeline option (`labels`), see `RENAMED`;
- a flag (`overwrite`) takes `true` or `false`;
- a list option (`split`, `input_split`) takes several values separated by
  `;` (`train=8;eval=2`).

The values are parsed by the options model (`beam_ingest.options`) and the
config built by `beam_ingest.config.build_config`, as for the CLI and TFX;
everything else is a Beam pipeline option.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence

from beam_ingest import options

__all__ = ["RENAMED", "SEPARATOR", "cli_args", "parameters", "run_options", "split_arguments"]

#: Option name -> template parameter name, where the option's name is also a
#: Beam pipeline option (GoogleCloudOptions has `--labels` for job labels).
RENAMED = {"labels": "image_labels"}
SEPARATOR = ";"


def parameters() -> Iterator[tuple[str, options.Option]]:
    """(template parameter name, option) of each `run` option."""
    for option in options.all_options():
        yield RENAMED.get(option.name, option.name), option


def split_arguments(argv: Sequence[str]) -> tuple[dict[str, object], list[str]]:
    """Template-style arguments as (option values as given, Beam arguments).

    Raises:
        ConfigError: a flag parameter whose value is not true or false.
    """
    by_parameter = dict(parameters())
    given: dict[str, object] = {}
    beam: list[str] = []
    for arg in argv:
        name, sep, value = arg.partition("=")
        option = by_parameter.get(name[2:]) if name.startswith("--") and sep else None
        if option is None:
            beam.append(arg)
        elif option.kind == "list":
            given[option.name] = value.split(SEPARATOR)
        else:
            given[option.name] = option.value(value) if option.kind == "flag" else value
    return given, beam


def run_options() -> Iterator[tuple[str, options.Option]]:
    """Deprecated alias (one release) of `parameters()`."""
    return parameters()


def cli_args(argv: Sequence[str]) -> list[str]:
    """Deprecated (one release): template-style arguments as `beam-ingest run`
    arguments; the launcher now builds the config directly (`split_arguments`).

    Raises:
        ConfigError: a flag parameter whose value is not true or false.
    """
    given, beam = split_arguments(argv)
    ours: list[str] = []
    for name, value in given.items():
        flag = options.get(name).flag
        if value is True:
            ours.append(flag)
        elif isinstance(value, list):
            for item in value:
                ours += [flag, item]
        elif value is not False:
            ours += [flag, str(value)]
    return ["run", *ours, "--", *beam]


def main(argv: Sequence[str]) -> int:
    from beam_ingest import cli
    from beam_ingest.beam_options import check_beam_args
    from beam_ingest.config import build_config

    def launch() -> int:
        given, beam_args = split_arguments(argv)
        verbose = bool(given.pop("verbose", False))
        check_beam_args(beam_args)
        return cli.run(build_config(given, where="template"), beam_args, verbose=verbose)

    return cli.guard(launch)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
