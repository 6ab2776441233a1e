"""`klio image build`: the worker image, built with Docker and tagged as Klio tagged it.

Name: the job's `pipeline_options.sdk_container_image` (or `worker_harness_container_image`,
its older name) without its tag; every job of the graph naming a different image gets that
name too. Tag: `--tag`, else the short sha of the job directory's current git commit, plus
"-dirty" when its work tree has changes (untracked files included: the Dockerfile copies
whole folders). Command: `docker build -t NAME:TAG [-t NAME2:TAG] -f DIR/Dockerfile DIR`, DIR
being the folder of klio-job.yaml (`--build-arg KEY=VALUE` passed on).
"""
from __future__ import annotations

import os
import shutil
import subprocess

from jobgraph.config import ConfigError, GraphConfig
from jobgraph.infra import InfrastructureError

IMAGE_KEYS = ("sdk_container_image", "worker_harness_container_image")
ENGINE_TIMEOUT_S = 20.0


def strip_tag(image: str) -> str:
    """`registry:port/repo/name:tag` or `...@sha256:...` -> `registry:port/repo/name`."""
    image = image.split("@", 1)[0]
    name, _, last = image.rpartition("/")
    return f"{name}/{last.split(':', 1)[0]}" if name else last.split(":", 1)[0]


def image_names(graph: GraphConfig, job_name: str | None) -> list[str]:
    """The untagged image names of `job_name` (None: every job), without duplicates."""
    names: list[str] = []
    for job in [graph.job(job_name)] if job_name else graph.jobs:
        image = next((job.pipeline_options.get(k) for k in IMAGE_KEYS if job.pipeline_options.get(k)), None)
        if not image:
            raise ConfigError(job.source, f"job {job.job_name}: pipeline_options.sdk_container_image",
                              "the worker image's name (e.g. REGION-docker.pkg.dev/PROJECT/REPO/NAME)")
        if strip_tag(str(image)) not in names:
            names.append(strip_tag(str(image)))
    return names


def _git(directory: str, *args: str) -> str:
    proc = subprocess.run(["git", "-C", directory, *args], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise ValueError(f"no git commit to tag the image with in {directory} "
                         f"({(proc.stderr.strip().splitlines() or ['git failed'])[-1]}): pass --tag")
    return proc.stdout.strip()


def git_tag(directory: str) -> str:
    """Short sha of the current commit, "-dirty" appended when the work tree has changes."""
    if shutil.which("git") is None:
        raise ValueError("git not found, so no commit to tag the image with: pass --tag")
    sha = _git(directory, "rev-parse", "--short", "HEAD")
    return sha + ("-dirty" if _git(directory, "status", "--porcelain") else "")


def build_command(names: list[str], tag: str, directory: str, build_args: list[str] = ()) -> list[str]:
    """`docker build` of DIR/Dockerfile in DIR, tagged NAME:TAG for each name, with
    `--build-arg KEY=VALUE` for each of `build_args`."""
    dockerfile = os.path.join(directory, "Dockerfile")
    if not os.path.isfile(dockerfile):
        raise ValueError(f"no Dockerfile in {directory} (the folder of klio-job.yaml)")
    tags = [arg for name in names for arg in ("-t", f"{name}:{tag}")]
    args = [arg for item in build_args for arg in ("--build-arg", item)]
    return ["docker", "build", *tags, *args, "-f", dockerfile, directory]


def require_engine() -> None:
    """The docker binary must be on PATH and its engine must answer; else one line."""
    if shutil.which("docker") is None:
        raise InfrastructureError("docker not found on PATH: install Docker, or print the command "
                                  "with --dry-run")
    try:
        proc = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                              capture_output=True, text=True, timeout=ENGINE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise InfrastructureError(f"no Docker engine answered within {ENGINE_TIMEOUT_S:.0f} s: "
                                  "start it, or print the command with --dry-run") from None
    if proc.returncode != 0:
        said = (proc.stderr.strip().splitlines() or [f"docker version exited {proc.returncode}"])[-1]
        raise InfrastructureError(f"no Docker engine reachable ({said}): start it, or print the "
                                  "command with --dry-run")


def build(command: list[str]) -> None:
    """Run the build (require_engine first), its output shown as it comes; a failed build is
    one line."""
    code = subprocess.run(command).returncode
    if code != 0:
        raise InfrastructureError(f"docker build failed (exit code {code}); its output is above")
