"""Atomic local writes, the owner-named temporary files they leave when killed, and the sweep
that removes a dead writer's leftovers (never a live writer's). The kill is deterministic: the
fault switch SIGKILLs the writer right after its Nth temporary file is created."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from jobgraph import eventio, storage
from jobgraph.faults import KILL_AFTER_TEMP_FILES
from tests.jobgraph import toygraph


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _touch(path: str, age_s: float = 0.0) -> str:
    with open(path, "wb") as fh:
        fh.write(b"partial")
    if age_s:
        old = time.time() - age_s
        os.utime(path, (old, old))
    return path


def test_write_atomically_replaces_and_leaves_no_temp(tmp_path):
    path = str(tmp_path / "out" / "a.json")
    storage.write_atomically(path, b"first")
    storage.write_atomically(path, b"second")
    assert open(path, "rb").read() == b"second"
    assert os.listdir(tmp_path / "out") == ["a.json"]


def test_temp_names_carry_the_writer_and_are_recognised():
    name = storage.temp_name("a.json")
    assert name.startswith(".a.json.tmp-") and storage.owner_tag() in name
    assert storage.is_temporary(f"/x/{name}") and not storage.is_temporary("/x/a.json")


def test_sweep_removes_dead_writers_leftovers_only(tmp_path):
    host = storage.owner_tag().split("@", 1)[1]
    hexid = "0123456789abcdef0123456789abcdef"
    dead = _touch(str(tmp_path / f".a.json.tmp-{_dead_pid()}@{host}-{hexid}"))
    live = _touch(str(tmp_path / f".b.json.tmp-{os.getpid()}@{host}-{hexid}"))
    foreign_old = _touch(str(tmp_path / f".c.json.tmp-1@other-host-{hexid}"), age_s=2 * 86400)
    foreign_new = _touch(str(tmp_path / f".d.json.tmp-1@other-host-{hexid}"))
    legacy_old = _touch(str(tmp_path / f".e.json.tmp-{hexid}"), age_s=2 * 86400)
    output = _touch(str(tmp_path / "f.json"))
    dead_run = tmp_path / f"beam-temp-20260101T000000000000Z-{_dead_pid()}@{host}-{hexid}"
    live_run = tmp_path / f"beam-temp-{eventio.new_run_id()}-{hexid}"
    for folder in (dead_run, live_run):
        folder.mkdir()
        _touch(str(folder / "shard"))

    removed = storage.sweep_dead_writers(str(tmp_path))

    assert sorted(removed) == sorted([dead, foreign_old, legacy_old, str(dead_run)])
    assert all(os.path.exists(p) for p in (live, foreign_new, output, str(live_run)))


def _write_three(tmp_path, kill_after: int) -> subprocess.CompletedProcess:
    script = ("import sys\nfrom jobgraph.storage import write_atomically\n"
              "for name in 'abc':\n    write_atomically(f'{sys.argv[1]}/{name}.json', b'{}')\n")
    env = {**os.environ, KILL_AFTER_TEMP_FILES: str(kill_after)}
    return subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=env, timeout=60)


def test_kill_after_second_temp_file_leaves_it_and_the_sweep_removes_it(tmp_path):
    proc = _write_three(tmp_path, kill_after=2)
    assert proc.returncode == -signal.SIGKILL
    temp, complete = sorted(os.listdir(tmp_path))
    assert complete == "a.json" and temp.startswith(".b.json.tmp-")
    assert storage.sweep_dead_writers(str(tmp_path)) == [str(tmp_path / temp)]
    assert os.listdir(tmp_path) == ["a.json"]


def test_toy_graph_killed_mid_write_then_rerun_leaves_nothing_behind(tmp_path):
    """A batch run SIGKILLed right after its 20th temporary file: the rerun sweeps the dead run's
    temporary file and Beam staging folders and completes every output."""
    ids = [f"k{i:02d}" for i in range(12)]
    root = toygraph.make_root(tmp_path, ids)
    args = ["job", "run", "--direct-runner", "-c", toygraph.config_copy(tmp_path),
            *toygraph.template_args(root), *ids]
    killed = toygraph.klio(*args, env={KILL_AFTER_TEMP_FILES: "20"}, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    leftovers = [f for f in _files(root) if storage.is_temporary(f)]
    assert len(leftovers) == 1
    assert [f for f in _files(root) if "beam-temp-" in f], "the kill should land after Beam staged shards"

    summary = tmp_path / "summary.json"
    toygraph.klio(*args, "--summary-json", str(summary))
    assert json.loads(summary.read_text())["state"].endswith("DONE")
    files = _files(root)
    assert sorted(f for f in files if f.startswith("out/")) == [f"out/{i}.json" for i in ids]
    assert [f for f in files if storage.is_temporary(f) or "beam-temp-" in f] == []


def _files(root: str) -> list[str]:
    return sorted(os.path.relpath(os.path.join(base, n), root)
                  for base, _, names in os.walk(root) for n in names)
