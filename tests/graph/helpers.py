"""Running the video graph (the root klio-job.yaml) on temporary locations.

`location_overrides(root)` points every location of both jobs at `root` (videos, features,
labels, event files, dead letters, metadata sidecars) with -O, keeping the demo's embedder,
PCA and model, so a test runs exactly the shipped graph on its own data.
"""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(REPO, "klio-job.yaml")
KLIO = os.path.join(os.path.dirname(sys.executable), "klio")
JOBS = ("video-features", "video-iab")


def embedder_cache() -> str:
    """The tests' shared conversion cache of the demo's embedder ($VIDEO_IAB_CACHE, set by
    tests/conftest.py): the first test to need it converts the seeded Inception once."""
    return os.path.join(os.environ["VIDEO_IAB_CACHE"], "embedder")


def openvino_embedder_overrides() -> list[str]:
    """-O arguments running the graph's embedder on OpenVINO fp32 from `embedder_cache()`, so
    every run starts without TensorFlow. For tests about the graph's behaviour, not about the
    shipped embedder."""
    return ["-O", "video-features:job_config.embedder.backend=openvino-fp32",
            "-O", f"video-features:job_config.embedder.cache_dir={embedder_cache()}"]


def location_overrides(root: str, videos: str | None = None, metadata: str | None = None) -> list[str]:
    """-O arguments placing the graph's data, events and dead letters under `root`."""
    root = root.rstrip("/")
    pairs = {
        "video-features:job_config.data.inputs.0.location": videos or f"{root}/videos",
        "video-features:job_config.data.outputs.0.location": f"{root}/features",
        "video-features:job_config.events.outputs.1.location": f"{root}/events/video-features",
        "video-features:job_config.dead_letter.1.location": f"{root}/dead-letter/video-features",
        "video-iab:job_config.data.inputs.0.location": f"{root}/features",
        "video-iab:job_config.data.outputs.0.location": f"{root}/labels",
        "video-iab:job_config.events.outputs.1.location": f"{root}/events/video-iab",
        "video-iab:job_config.dead_letter.1.location": f"{root}/dead-letter/video-iab",
        "video-iab:job_config.metadata_location": metadata or f"{root}/metadata",
    }
    args: list[str] = []
    for key, value in pairs.items():
        args += ["-O", f"{key}={value}"]
    return args


def job_run_command(*args: str) -> list[str]:
    """`klio job run --direct-runner -c klio-job.yaml ARGS...` (the root graph)."""
    return [KLIO, "job", "run", "--direct-runner", "-c", CONFIG, *args]


def job_run(*args: str, timeout: float = 600, check: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`klio job run` of the root graph in a subprocess (env: added to this process's)."""
    proc = subprocess.run(job_run_command(*args), capture_output=True, text=True, cwd=REPO,
                          timeout=timeout, env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"klio job run {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-4000:]}")
    return proc


def dead_letters(location: str) -> list[dict]:
    """Every dead-letter record in the .jsonl files under a local location."""
    records = []
    for path in sorted(glob.glob(os.path.join(location, "*.jsonl"))):
        with open(path, encoding="utf-8") as fh:
            records += [json.loads(line) for line in fh if line.strip()]
    return records


def files_under(root: str) -> list[str]:
    """Every file under `root`, relative, sorted."""
    out = []
    for base, _, names in os.walk(root):
        out += [os.path.relpath(os.path.join(base, n), root) for n in names]
    return sorted(out)
