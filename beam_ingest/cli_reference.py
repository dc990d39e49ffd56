"""`docs/cli.md`, generated from the options model and the format table.

    python -m beam_ingest.cli_reference --write   # regenerate docs/cli.md
    python -m beam_ingest.cli_reference --check   # exit 1 if it is out of date

tests/test_docs.py fails when the committed file differs from `render()`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from beam_ingest import formats, options

__all__ = ["render"]

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"

_GROUP_TITLES = {
    "input": "Input",
    "spans": "Spans and versions",
    "output": "Output",
    "sequence": "Sequences (tf.SequenceExample output, docs/sequences.md)",
    "run": "The run",
}


def _value(option: options.Option) -> str:
    if option.kind == "flag":
        return "flag"
    choices = option.choice_list()
    if option.name == "format":
        return "a format name (below)"
    if choices:
        return " \\| ".join(f"`{c}`" for c in choices)
    shape = f"`{option.metavar}`" if option.metavar else "text"
    return f"{shape}, repeatable" if option.kind == "list" else shape


def _default(option: options.Option) -> str:
    if option.kind == "flag" or option.default in (None, False):
        return ""
    return f"`{option.default}`"


def _row(option: options.Option) -> str:
    where = "CLI, Python, template" + (", TFX custom_config" if option.tfx else "")
    help_text = option.help.replace("|", "\\|")
    return (
        f"| `{option.flag}` | `{option.name}` | {_value(option)} | {_default(option)} | "
        f"{help_text} | {where} |"
    )


def render() -> str:
    """The text of docs/cli.md for the current options and formats."""
    lines = [
        "# `beam-ingest` command line reference",
        "",
        "Generated from the options model (`beam_ingest/options.py`) and the format table",
        "(`beam_ingest/formats.py`) by `python -m beam_ingest.cli_reference --write`; a test",
        "fails when this file is out of date. Do not edit it by hand.",
        "",
        "```",
        "beam-ingest run --format FORMAT --input PATTERN --output OUT [options] [-- beam options]",
        "beam-ingest run --format FORMAT --input-split NAME=PATTERN ... --output OUT",
        "beam-ingest run --registry ROOT --input ENTRY_PATTERN --output OUT",
        "beam-ingest spans --input PATTERN [--span N | --span-range A:B | --last-spans K]",
        "beam-ingest registry push|ls|show|delete ...",
        "beam-ingest inspect OUT [--examples N]",
        "```",
        "",
        "Each option has one name: the CLI flag is `--` and the name with `-` for `_`; the",
        "Python API (`beam_ingest.config.build_config`), TFX `custom_config` and the Flex",
        "Template parameters use the name itself (the template renames `labels` to",
        "`image_labels`, a Beam option's name). An option that is not known is an error",
        "that names the closest one. Beam pipeline options go after `--`; an unknown Beam",
        "option is refused too (Beam itself would drop it with a warning).",
        "",
        "Exit status: 0 done; 2 bad usage or configuration; 1 bad data or a failed run.",
        "",
    ]
    table = (
        "| flag | name | value | default | meaning | where |\n| --- | --- | --- | --- | --- | --- |"
    )
    general = options.GENERAL
    for group, title in _GROUP_TITLES.items():
        lines += [f"## {title}", "", table]
        lines += [_row(o) for o in general if o.group == group]
        lines.append("")
    for name in options.EXCLUSIVE:
        lines.append(f"At most one of {', '.join(f'`{n}`' for n in name)} may be given.")
    lines += ["", "## Formats", ""]
    for fmt in formats.all_formats():
        extensions = ", ".join(f"`{e}`" for e in fmt.extensions) or "none"
        lines += [
            f"### `{fmt.name}`",
            "",
            f"{fmt.description}. Extensions (for folders and TFX's format detection): "
            f"{extensions}. Schema: {'inferred' if fmt.infers_schema else 'from the data'}. "
            f"TFX executor alias: `beam_ingest.example_gen.{fmt.executor or 'Executor'}`.",
            "",
        ]
        if fmt.options:
            lines += [table, *(_row(o) for o in fmt.options), ""]
        else:
            lines += ["No options of its own.", ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate docs/cli.md")
    mode.add_argument("--check", action="store_true", help="exit 1 if docs/cli.md is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(text, encoding="utf-8")
        print(f"wrote {DOC}")
        return 0
    if not DOC.exists() or DOC.read_text(encoding="utf-8") != text:
        print(f"{DOC} is out of date: run python -m beam_ingest.cli_reference --write")
        return 1
    print(f"{DOC}: current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
