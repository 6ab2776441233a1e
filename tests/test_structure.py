"""The layers hold and the code stays small enough to read, checked from the source with `ast`.

Layers: jobgraph/ (generic runtime) <- model/ (pure models) <- transforms/ (Beam steps, decode,
feature files) <- run.py. model/ imports neither jobgraph/ nor transforms/; jobgraph/ imports
none of the video packages; nothing imports run.py; no import cycle between modules.
Size: no function over 60 lines, no file over 500 lines (tests and benchmarks excepted).
"""
from __future__ import annotations

import ast
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("jobgraph", "model", "transforms")
FORBIDDEN = {"jobgraph": {"model", "transforms", "run"}, "model": {"jobgraph", "transforms", "run"},
             "transforms": {"run"}, "run": set()}
MAX_FUNCTION_LINES, MAX_FILE_LINES = 60, 500


def _modules() -> dict[str, pathlib.Path]:
    paths = [p for package in PACKAGES for p in (REPO / package).rglob("*.py")] + [REPO / "run.py"]
    out = {}
    for path in paths:
        parts = path.relative_to(REPO).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The project module `name` refers to (a module, or the package holding a name)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: pathlib.Path) -> set[str]:
    """Project modules imported by `module`, at any depth of its code (lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[: -node.level or None] if path.name != "__init__.py" else \
                    module.split(".")[: len(module.split(".")) - node.level + 1]
                base = ".".join(package + ([base] if base else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {target for target in map(_resolve, names) if target and target != module}
    return found


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def test_the_import_walk_sees_the_real_edges():
    """The checks below mean something only if the walk finds imports (lazy ones included)."""
    assert "jobgraph.config" in GRAPH["jobgraph.pipeline"]
    assert "model.embedding.handler" in GRAPH["transforms.extract"]
    assert "transforms.decode" in GRAPH["transforms.calibration"]  # imported inside a function


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_import_runs_against_the_layers(layer):
    wrong = sorted(f"{module} -> {target}" for module, targets in GRAPH.items()
                   if module.split(".")[0] == layer for target in targets
                   if target.split(".")[0] in FORBIDDEN[layer])
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def _cycle_from(start: str) -> list[str] | None:
    """A path start -> ... -> start through the import graph, if one exists (depth-first)."""
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for target in sorted(GRAPH.get(node, ())):
            if target == start:
                return path + [start]
            if target not in seen:
                seen.add(target)
                stack.append((target, path + [target]))
    return None


def test_no_import_cycle():
    cycles = {" -> ".join(cycle) for cycle in map(_cycle_from, sorted(GRAPH)) if cycle}
    assert not cycles, "import cycles:\n" + "\n".join(sorted(cycles))


def _source_files():
    return [path for path in MODULES.values()] + sorted((REPO / "demo").rglob("*.py")) + \
        sorted((REPO / "examples").rglob("*.py"))


def test_no_long_function_and_no_long_file():
    problems = []
    for path in _source_files():
        text = path.read_text()
        name = path.relative_to(REPO)
        if len(text.splitlines()) > MAX_FILE_LINES:
            problems.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    problems.append(f"{name}:{node.lineno} {node.name}: {length} lines")
    assert not problems, "\n".join(problems)
