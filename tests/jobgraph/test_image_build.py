"""`klio image build`: the docker command (image name from sdk_container_image, tag from git or
--tag), printed and not run with --dry-run; without Docker, one line and exit 1. No Docker
engine runs here, so the build itself is checked with a stand-in `docker` script on PATH that
records its arguments (the real binary, if any, is never called)."""
from __future__ import annotations

import os
import subprocess

import pytest

from jobgraph.image import strip_tag
from tests.jobgraph import toygraph
from tests.jobgraph.inprocess import klio_main

IMAGE = "europe-west1-docker.pkg.dev/my-proj/ml/video-iab"


def _job_dir(tmp_path) -> tuple[str, list[str]]:
    """A job directory (toy graph, a Dockerfile) and the arguments naming its image."""
    directory = tmp_path / "job"
    directory.mkdir()
    toygraph.config_copy(directory)
    (directory / "Dockerfile").write_text("FROM scratch\n")
    return str(directory), ["-j", str(directory), *toygraph.template_args("gs://b-b-b/root", "my-proj"),
                            "-O", f"pipeline_options.sdk_container_image={IMAGE}:old"]


def _fake_docker(tmp_path, version_answer: str) -> tuple[str, str]:
    """(PATH holding only a `docker` script, its log): `docker version` runs `version_answer`."""
    bin_dir, log = tmp_path / "bin", tmp_path / "docker.log"
    bin_dir.mkdir()
    script = bin_dir / "docker"
    script.write_text(f'#!/bin/sh\necho "$@" >> {log}\nif [ "$1" = version ]; then {version_answer}; fi\nexit 0\n')
    script.chmod(0o755)
    return str(bin_dir), str(log)


@pytest.mark.parametrize("image, name", [
    ("europe-west1-docker.pkg.dev/p/r/video-iab:TAG", "europe-west1-docker.pkg.dev/p/r/video-iab"),
    ("localhost:5000/video-iab", "localhost:5000/video-iab"),
    ("localhost:5000/video-iab:1@sha256:abc", "localhost:5000/video-iab"),
    ("video-iab:2", "video-iab"),
])
def test_strip_tag(image, name):
    assert strip_tag(image) == name


def test_dry_run_prints_the_exact_command_and_runs_nothing(tmp_path, monkeypatch, capsys):
    directory, args = _job_dir(tmp_path)
    path, log = _fake_docker(tmp_path, "exit 0")
    monkeypatch.setenv("PATH", path)
    code, out, err = klio_main(monkeypatch, capsys, "image", "build", "--dry-run", "--tag", "v7", *args,
                           "--build-arg", "EMBEDDER_WEIGHTS=imagenet")
    assert code == 0, err
    assert out == (f"docker build -t {IMAGE}:v7 --build-arg EMBEDDER_WEIGHTS=imagenet "
                   f"-f {directory}/Dockerfile {directory}\n")
    assert not os.path.exists(log)


def _git(directory: str, *args: str) -> str:
    return subprocess.run(["git", "-C", directory, "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_the_default_tag_is_the_commit_short_sha_dirty_when_the_tree_has_changes(tmp_path, monkeypatch, capsys):
    directory, args = _job_dir(tmp_path)
    _git(directory, "init", "-q")
    _git(directory, "add", ".")
    _git(directory, "commit", "-q", "-m", "job")
    sha = _git(directory, "rev-parse", "--short", "HEAD")
    code, out, err = klio_main(monkeypatch, capsys, "image", "build", "--dry-run", *args)
    assert code == 0, err
    assert out.split()[3] == f"{IMAGE}:{sha}"
    (tmp_path / "job" / "new.py").write_text("")  # untracked files go into the image too
    code, out, err = klio_main(monkeypatch, capsys, "image", "build", "--dry-run", *args)
    assert out.split()[3] == f"{IMAGE}:{sha}-dirty"


def test_without_docker_it_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    _, args = _job_dir(tmp_path)
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code, out, err = klio_main(monkeypatch, capsys, "image", "build", "--tag", "v7", *args)
    assert (code, out, err) == (1, "", "klio: error: docker not found on PATH: install Docker, or print the "
                                       "command with --dry-run\n")


def test_without_a_docker_engine_it_is_one_line_and_exit_1(tmp_path, monkeypatch, capsys):
    _, args = _job_dir(tmp_path)
    said = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
    path, log = _fake_docker(tmp_path, f'echo "{said}" >&2; exit 1')
    monkeypatch.setenv("PATH", path)
    code, out, err = klio_main(monkeypatch, capsys, "image", "build", "--tag", "v7", *args)
    assert (code, out) == (1, "")
    assert err == f"klio: error: no Docker engine reachable ({said}): start it, or print the command with --dry-run\n"
    assert open(log).read().split("\n")[0].startswith("version")
    assert "build" not in open(log).read()


def test_with_an_engine_it_runs_the_printed_command(tmp_path, monkeypatch, capsys):
    directory, args = _job_dir(tmp_path)
    path, log = _fake_docker(tmp_path, "exit 0")
    monkeypatch.setenv("PATH", path)
    code, out, err = klio_main(monkeypatch, capsys, "image", "build", "--tag", "v7", *args)
    assert code == 0, err
    assert open(log).read().splitlines()[-1] == f"build -t {IMAGE}:v7 -f {directory}/Dockerfile {directory}"


def test_an_image_name_is_needed(tmp_path, monkeypatch, capsys):
    directory, args = _job_dir(tmp_path)
    code, _, err = klio_main(monkeypatch, capsys, "image", "build", "--dry-run", "--tag", "v7", *args[:-2])
    assert code == 1 and err.strip().endswith(
        "job toy-upper: pipeline_options.sdk_container_image: expected the worker image's name "
        "(e.g. REGION-docker.pkg.dev/PROJECT/REPO/NAME)")

