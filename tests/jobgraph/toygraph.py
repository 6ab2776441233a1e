"""Helpers to render the toy graph (examples/toy-graph) into a temporary root."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOY_CONFIG = os.path.join(REPO, "examples", "toy-graph", "klio-job.yaml")
KLIO = os.path.join(os.path.dirname(sys.executable), "klio")
PROJECT = "test-project"


def make_root(tmp_path, ids, root: str | None = None) -> str:
    """Copy the toy config into tmp_path and write one input text per ID under {root}/in."""
    root = root or str(tmp_path / "root")
    os.makedirs(os.path.join(root, "in"), exist_ok=True)
    for element in ids:
        with open(os.path.join(root, "in", f"{element}.txt"), "w") as fh:
            fh.write(f"hello {element} world\n")
    return root


def config_copy(tmp_path) -> str:
    """The toy graph's klio-job.yaml and its entry point module (toy.py), copied to tmp_path."""
    path = str(tmp_path / "klio-job.yaml")
    shutil.copy(TOY_CONFIG, path)
    shutil.copy(os.path.join(os.path.dirname(TOY_CONFIG), "toy.py"), str(tmp_path / "toy.py"))
    return path


def template_args(root: str, project: str = PROJECT) -> list[str]:
    return ["-T", f"root={root}", "-T", f"project={project}"]


def klio(*args: str, env: dict | None = None, timeout: float = 300, check: bool = True):
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run([KLIO, *args], capture_output=True, text=True, env=full_env,
                          timeout=timeout, cwd=REPO)
    if check and proc.returncode != 0:
        raise AssertionError(f"klio {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc
