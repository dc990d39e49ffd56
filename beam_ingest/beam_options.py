"""Which Beam pipeline options exist: unknown ones are refused, not dropped.

Beam only logs "Discarding unparseable args" for an option it does not know
and runs without it; a typo in `--runner` options would then go unnoticed.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from beam_ingest.errors import ConfigError

__all__ = ["beam_option_names", "check_beam_args"]


@functools.cache
def beam_option_names() -> frozenset[str]:
    """The names (without `--`) of every Beam pipeline option."""
    from apache_beam.options.pipeline_options import PipelineOptions

    return frozenset(PipelineOptions([]).get_all_options())


def check_beam_args(args: Sequence[str]) -> None:
    """Raises ConfigError for a Beam argument that is no Beam pipeline option,
    or that is a beam-ingest option (which goes before `--`)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from beam_ingest import options

    try:
        parsed = PipelineOptions(list(args)).get_all_options(retain_unknown_options=True)
    except Exception as e:  # Beam's argparse: a bad value
        raise ConfigError(f"bad Beam pipeline options {list(args)}: {e}") from e
    unknown = sorted(set(parsed) - beam_option_names())
    if not unknown:
        return
    ours = {o.name for o in options.all_options()}
    name = unknown[0]
    if name.replace("-", "_") in ours:
        flag = options.get(name.replace("-", "_")).flag
        raise ConfigError(
            f"{flag} is a beam-ingest option: put it before --, where Beam's options end"
        )
    close = options.suggest(name, beam_option_names()).replace("'", "'--", 1)
    raise ConfigError(
        f"--{name} is not a Beam pipeline option{close} (Beam would drop it silently); "
        "see Beam's pipeline options for the runner"
    )
