"""The architecture's rules, checked on the source tree.

- every module imports on its own, and module-level imports form no cycle;
- no private name (leading `_`) of one package is used from another;
- only the format table (`beam_ingest/formats.py`) spells out format names,
  outside `connectors/`;
- no argparse internals (`parser._actions`, `argparse._StoreTrueAction`);
- no module over 450 lines; no file cites a design document outside the repo.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from beam_ingest import formats

ROOT = Path(__file__).resolve().parents[1]
#: Folder -> the package its modules belong to (setup.py's package_dir).
PACKAGES = {
    "beam_ingest": "beam_ingest",
    "connectors": "beam_ingest.connectors",
    "transforms": "beam_ingest.transforms",
    "templates": "templates",
    "benchmarks": "benchmarks",
    "examples": "examples",
    "engines": "engines",
}


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            found[name] = path
    return found


MODULES = _modules()
PRODUCT = {n: p for n, p in MODULES.items() if n.startswith("beam_ingest")}
#: What the rules on private names and format names hold for: the installed
#: package, the template and the examples. The benchmarks measure internal
#: pieces on purpose (a codec, a decoder) and name the formats they measure.
RULED = {n: p for n, p in MODULES.items() if not n.startswith("benchmarks")}


def _package(module: str) -> str:
    path = MODULES[module]
    return module if path.stem == "__init__" else module.rsplit(".", 1)[0]


def _top_level_imports(tree: ast.Module, module: str) -> list[tuple[str, list[str]]]:
    """(imported module, names) of the imports run when the module loads:
    module level and class bodies, not functions or TYPE_CHECKING blocks."""
    found: list[tuple[str, list[str]]] = []

    def visit(nodes) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.extend((a.name, []) for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                base = node.module
                if node.level:
                    base = ".".join(_package(module).split(".")[: 1 - node.level or None])
                    base = f"{base}.{node.module}" if node.module else base
                found.append((base, [a.name for a in node.names]))
            elif isinstance(node, ast.If):
                if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, (ast.Try | ast.With, ast.ClassDef)):
                visit(node.body)

    visit(tree.body)
    return found


def _edges(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text())
    edges = set()
    for imported, names in _top_level_imports(tree, module):
        for name in names or [None]:
            target = f"{imported}.{name}" if name and f"{imported}.{name}" in MODULES else imported
            if target in MODULES and target != module:
                edges.add(target)
    return edges


@pytest.mark.parametrize("module", sorted(PRODUCT))
def test_every_module_imports_on_its_own(module):
    # A fresh interpreter, so that no module was imported first by another.
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_no_import_cycle():
    graph = {m: _edges(m) for m in MODULES}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycle = [*path[path.index(module) :], module]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if module in done:
            return
        for target in sorted(graph[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    # The check finds a cycle when there is one.
    graph["beam_ingest.options"] = graph["beam_ingest.options"] | {"beam_ingest.formats"}
    done.clear()
    with pytest.raises(pytest.fail.Exception, match="import cycle"):
        visit("beam_ingest.formats", [])


def _private_uses(module: str) -> list[str]:
    """`package.other._private` names this module uses from another package."""
    tree = ast.parse(MODULES[module].read_text())
    own = _package(module)
    aliases: dict[str, str] = {}
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                if target in MODULES:
                    aliases[alias.asname or alias.name] = target
                if node.module in MODULES and _package(node.module) != own:
                    parts = [*node.module.split("."), alias.name]
                    if any(p.startswith("_") and p != "__version__" for p in parts):
                        uses.append(f"from {node.module} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in MODULES:
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            target = aliases[node.value.id]
            if _package(target) != own:
                uses.append(f"{target}.{node.attr}")
    return uses


def test_no_private_name_is_used_across_packages():
    found = {m: u for m in RULED if (u := _private_uses(m))}
    assert found == {}


def test_only_the_format_table_spells_out_format_names():
    names = set(formats.names())
    spelled = {}
    for module, path in RULED.items():
        # A connector (input) or sink (output) module is its format's code.
        if module.startswith("beam_ingest.connectors") or module.endswith("_sink"):
            continue
        if module == "beam_ingest.formats":
            continue
        tree = ast.parse(path.read_text())
        found = sorted(
            {
                node.value
                for node in ast.walk(tree)
                if isinstance(node, ast.Constant) and node.value in names
            }
        )
        if found:
            spelled[module] = found
    assert spelled == {}


def test_no_argparse_internals():
    pattern = re.compile(r"\._actions\b|argparse\._[A-Za-z]|\._SubParsersAction")
    found = [
        str(p.relative_to(ROOT))
        for p in MODULES.values()
        if pattern.search(p.read_text()) and p.name != "test_architecture.py"
    ]
    assert found == []


def test_no_module_is_over_450_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in [*MODULES.values(), *ROOT.glob("tests/**/*.py")]
        if (n := len(p.read_text().splitlines())) > 450 and "tests" not in p.parts
    }
    assert long == {}


def test_nothing_cites_a_design_document_outside_the_repository():
    tracked = subprocess.run(
        ["git", "ls-files"], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.split()
    pattern = re.compile(r"\.\./shared|(^|[^/_\w])DESIGN\.md")
    citing = [
        f
        for f in tracked
        if f not in ("docs/design.md", "tests/test_architecture.py")
        and (ROOT / f).is_file()
        and pattern.search((ROOT / f).read_text(errors="replace"))
    ]
    assert citing == []


def test_the_public_surface_imports():
    import beam_ingest

    for name in beam_ingest.__all__:
        assert getattr(beam_ingest, name) is not None
    importlib.import_module("beam_ingest.example_gen")


def test_moved_names_keep_a_deprecated_alias():
    from beam_ingest import files, framing

    with pytest.warns(DeprecationWarning, match="moved to beam_ingest.framing.read_records"):
        assert files.read_records is framing.read_records
    with pytest.raises(AttributeError):
        _ = files.no_such_name


def test_data_errors_are_runtime_errors_as_tfx_raises_them():
    from beam_ingest.errors import ConfigError, DataError, IngestError, OutputError

    assert issubclass(DataError, IngestError) and issubclass(DataError, RuntimeError)
    assert issubclass(OutputError, RuntimeError) and issubclass(ConfigError, ValueError)
