"""The Flex Template's metadata.json, generated from the options model and checked.

    python templates/spec.py --write   # regenerate templates/metadata.json
    python templates/spec.py --check   # exit 1 if it is invalid or out of date

Every option of `beam-ingest run` (`beam_ingest.options`) is a template
parameter (see launcher.py for names and values), so the metadata cannot
drift from the options: `--check` (`make template-spec`, and
tests/test_template.py) fails when they disagree.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # launcher.py, run as a script too

from launcher import RENAMED, SEPARATOR, parameters

from beam_ingest import formats
from beam_ingest.options import Option

__all__ = ["build_metadata", "dockerfile_problems", "problems"]

METADATA = Path(__file__).resolve().parent / "metadata.json"
DOCKERFILE = Path(__file__).resolve().parent / "Dockerfile"
LAUNCHER_BINARY = "/opt/google/dataflow/python_template_launcher"
NAME = "beam-ingest"
DESCRIPTION = (
    f"Raw data ({', '.join(formats.names())}) to TFX-compatible tf.Example TFRecords split by "
    "hash buckets: the `beam-ingest run` command as a Dataflow Flex Template."
)
#: Input and output checks by metavar (the value's shape).
_SHAPES = {
    "NAME=BUCKETS": r"[A-Za-z0-9_.-]+=[0-9]+",
    "NAME=PATTERN": r"[^=;]+=[^;]+",
    "A:B": r"[0-9]+:[0-9]+",
    "0-9": r"[0-9]",
}
_PARAMETER_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]*$")


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _help(name: str, option: Option) -> str:
    # `name` in help is an option: here its parameter name.
    text = re.sub(r"`([a-z_]+)`", lambda m: RENAMED.get(m.group(1), m.group(1)), option.help)
    text = text[0].upper() + text[1:]
    if option.name != name:
        text += f" (option {option.name})"
    choices = option.choice_list()
    if choices:
        text += f". One of: {', '.join(choices)}"
    if option.kind == "flag":
        text += ". true or false"
    if option.kind == "list":
        text += f". Several: separate them with {SEPARATOR!r}"
    if option.name == "output":
        text += ". Required"
    return text + ("" if text.endswith(".") else ".")


def _regexes(option: Option) -> list[str]:
    choices = option.choice_list()
    if choices:
        return ["^(" + "|".join(re.escape(c) for c in choices) + ")$"]
    if option.kind == "flag":
        return ["^(true|false)$"]
    metavar = option.metavar or ""
    if metavar in _SHAPES:
        shape = _SHAPES[metavar]
        return [f"^{shape}({SEPARATOR}{shape})*$" if option.kind == "list" else f"^{shape}$"]
    if metavar in ("N", "K"):
        return ["^[0-9]+$"]
    return []


def build_metadata() -> dict:
    """The Flex Template metadata for the current options."""
    described = []
    for name, option in parameters():
        parameter = {
            "name": name,
            "label": _label(name),
            "helpText": _help(name, option),
            "isOptional": option.name != "output",
        }
        if regexes := _regexes(option):
            parameter["regexes"] = regexes
        described.append(parameter)
    return {"name": NAME, "description": DESCRIPTION, "parameters": described}


def problems(metadata: object) -> list[str]:
    """What is wrong with a metadata document (empty when it is valid and current)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    found = []
    if not isinstance(metadata, dict) or not isinstance(metadata.get("parameters"), list):
        return ["metadata.json: must be an object with a parameters list"]
    for key in ("name", "description"):
        if not isinstance(metadata.get(key), str) or not metadata[key]:
            found.append(f"metadata.json: {key!r} must be a non-empty string")
    beam_options = set(PipelineOptions([]).get_all_options())
    names = [p.get("name") for p in metadata["parameters"] if isinstance(p, dict)]
    for parameter in metadata["parameters"]:
        if not isinstance(parameter, dict):
            found.append(f"parameter {parameter!r}: must be an object")
            continue
        name = parameter.get("name")
        where = f"parameter {name!r}"
        if not isinstance(name, str) or not _PARAMETER_NAME.match(name):
            found.append(f"{where}: the name must match {_PARAMETER_NAME.pattern}")
        if names.count(name) > 1:
            found.append(f"{where}: given {names.count(name)} times")
        if name in beam_options:
            found.append(f"{where}: is also a Beam pipeline option; rename it in launcher.RENAMED")
        for key in ("label", "helpText"):
            if not isinstance(parameter.get(key), str) or not parameter[key].strip(".").strip():
                found.append(f"{where}: {key} must be a non-empty string (add help= to the option)")
        if not isinstance(parameter.get("isOptional", False), bool):
            found.append(f"{where}: isOptional must be true or false")
        regexes = parameter.get("regexes", [])
        if not isinstance(regexes, list):
            found.append(f"{where}: regexes must be a list")
            regexes = []
        for regex in regexes:
            try:
                re.compile(regex)
            except (re.error, TypeError) as e:
                found.append(f"{where}: regex {regex!r} does not compile: {e}")
        unknown = set(parameter) - {"name", "label", "helpText", "isOptional", "regexes"}
        if unknown:
            found.append(f"{where}: unknown keys {sorted(unknown)}")
    if not found and metadata != build_metadata():
        current = {p["name"] for p in build_metadata()["parameters"]}
        missing, extra = sorted(current - set(names)), sorted(set(names) - current)
        found.append(
            "templates/metadata.json is out of date with the options model "
            f"(missing: {missing}, not options: {extra}, or other fields differ); "
            "run `python templates/spec.py --write`"
        )
    return found


def dockerfile_problems(text: str) -> list[str]:
    """What the Dockerfile gets wrong: the SDK image of another Beam or Python
    version than this environment's, no launcher binary, no entry point."""
    import apache_beam

    found = []
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    version = re.search(r"^ARG BEAM_VERSION=(\S+)$", text, re.M)
    if not version or version.group(1) != apache_beam.__version__:
        found.append(f"Dockerfile: ARG BEAM_VERSION must be {apache_beam.__version__} (installed)")
    if not re.search(rf"^FROM apache/beam_python{python}_sdk:\$\{{BEAM_VERSION\}}$", text, re.M):
        found.append(f"Dockerfile: the image must be FROM apache/beam_python{python}_sdk")
    if not re.search(rf"^COPY --from=launcher {LAUNCHER_BINARY} {LAUNCHER_BINARY}$", text, re.M):
        found.append(f"Dockerfile: must copy the Flex Template launcher {LAUNCHER_BINARY}")
    py_file = re.search(r"^ENV FLEX_TEMPLATE_PYTHON_PY_FILE=(\S+)$", text, re.M)
    copied = re.search(r"^COPY templates/launcher.py (\S+)$", text, re.M)
    workdir = re.search(r"^WORKDIR (\S+)$", text, re.M)
    if not (py_file and copied and workdir) or py_file.group(1) != (
        f"{workdir.group(1)}/{copied.group(1)}"
    ):
        found.append("Dockerfile: FLEX_TEMPLATE_PYTHON_PY_FILE must be where launcher.py is copied")
    if 'ENTRYPOINT ["/opt/apache/beam/boot"]' not in text:
        found.append(
            "Dockerfile: the entry point must be the Beam SDK harness, /opt/apache/beam/boot"
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="validate metadata.json, Dockerfile")
    mode.add_argument("--write", action="store_true", help="regenerate metadata.json")
    args = parser.parse_args(argv)
    if args.write:
        metadata = build_metadata()
        found = problems(metadata)
        if found:
            print("\n".join(found), file=sys.stderr)
            return 1
        METADATA.write_text(json.dumps(metadata, indent=2) + "\n")
        print(f"wrote {METADATA} ({len(metadata['parameters'])} parameters)")
        return 0
    try:
        metadata = json.loads(METADATA.read_text())
    except (OSError, ValueError) as e:
        print(f"{METADATA}: {e}", file=sys.stderr)
        return 1
    found = problems(metadata) + dockerfile_problems(DOCKERFILE.read_text())
    if found:
        print("\n".join(found), file=sys.stderr)
        return 1
    print(f"{METADATA}: valid, {len(metadata['parameters'])} parameters, agrees with the options")
    print(f"{DOCKERFILE}: on the Beam {_beam_version()} SDK image, with the launcher")
    return 0


def _beam_version() -> str:
    import apache_beam

    return apache_beam.__version__


if __name__ == "__main__":
    sys.exit(main())
