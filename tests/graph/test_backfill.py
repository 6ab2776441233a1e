"""Backfill over 200 generated videos, killed half way (SIGKILL, twice) and restarted: exactly one
complete label file per video, no temporary files or Beam staging folders left, and the second run's summary adds up
(skipped as existing + processed = 200 for each job)."""
from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import time

from tests.graph.helpers import (JOBS, REPO, dead_letters, files_under, job_run, job_run_command,
                                 location_overrides, openvino_embedder_overrides)
from transforms.synthetic_video import VideoSpec, write_video

N = 200
KILL_AFTER_LABELS = 10  # kill the first run once this many label files exist


def _labels(root: str) -> list[str]:
    directory = os.path.join(root, "labels")
    return sorted(n for n in os.listdir(directory) if n.endswith(".json")) if os.path.isdir(directory) else []


def _features(root: str) -> list[str]:
    directory = os.path.join(root, "features")
    return sorted(n for n in os.listdir(directory) if n.endswith(".tfrecord")) if os.path.isdir(directory) else []


def _leftovers(root: str) -> list[str]:
    """Temporary files of atomic writes and Beam's `beam-temp-*` staging folders, anywhere."""
    return [f for f in files_under(root) if ".tmp-" in f or "beam-temp-" in f]


def test_backfill_killed_half_way_resumes_to_exactly_one_label_per_video(tmp_path):
    root = str(tmp_path / "root")
    os.makedirs(os.path.join(root, "videos"))
    ids = [f"b{i:03d}" for i in range(N)]
    for i, vid in enumerate(ids):  # tiny: 1 s, 64x48 -> one frame at 1 fps (Inception is the cost)
        write_video(os.path.join(root, "videos", f"{vid}.mp4"),
                    VideoSpec(content="scene", category=i % 6, seed=i, duration_s=1.0, fps=5.0,
                              width=64, height=48))
    # Embedding batches of 16 frames (not 64): feature files appear as the run goes. OpenVINO
    # from the shared cache: each run starts in seconds, not TensorFlow's tens of seconds.
    args = [*location_overrides(root), *openvino_embedder_overrides(),
            "-O", "video-features:job_config.embedder.batch_frames=16"]

    # Two interrupted runs over the listing of the videos, each SIGKILLed (whole process group)
    # half way: the first while video-features is writing feature files, the second once
    # video-iab has written some labels (the local runner finishes a job's stage before the
    # next job's stage starts, so one kill cannot land in both).
    def run_and_kill(ready) -> None:
        proc = subprocess.Popen(job_run_command(*args), cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 400
        try:
            while not ready():
                assert proc.poll() is None, "the run ended before it could be interrupted"
                assert time.monotonic() < deadline, "no progress within 400 s"
                time.sleep(0.1)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
        assert proc.returncode == -signal.SIGKILL

    run_and_kill(lambda: len(_features(root)) >= N // 4)
    assert N // 4 <= len(_features(root)) < N and _labels(root) == []
    run_and_kill(lambda: len(_labels(root)) >= KILL_AFTER_LABELS)
    labels_before, features_before = _labels(root), _features(root)
    assert KILL_AFTER_LABELS <= len(labels_before) < N, "the run was not interrupted half way"

    # Third run: resumes (every stage skips work whose output exists) and finishes.
    summary_path = str(tmp_path / "summary.json")
    proc = job_run(*args, "--summary-json", summary_path)
    assert "klio job run: DONE" in proc.stdout
    with open(summary_path, encoding="utf-8") as fh:
        counters = json.load(fh)["counters"]

    assert _labels(root) == [f"{v}.json" for v in ids]
    for vid in ids:  # none partial: every file parses and is about its video
        with open(os.path.join(root, "labels", f"{vid}.json"), encoding="utf-8") as fh:
            doc = json.load(fh)
        assert doc["video_id"] == vid and doc["frames_used"] == 1
    assert _leftovers(root) == []  # the killed runs' leftovers were swept
    for job in JOBS:
        assert dead_letters(os.path.join(root, "dead-letter", job)) == []

    # counters that never fired are absent: read them as 0
    features = collections.defaultdict(int, counters["video-features"])
    iab = collections.defaultdict(int, counters["video-iab"])
    assert features["kmsg-received"] == N and iab["kmsg-received"] == N
    assert features["kmsg-skip-force"] == len(features_before)
    assert features["kmsg-success"] == N - len(features_before)
    assert features["kmsg-skip-force"] + features["kmsg-success"] == N
    assert iab["kmsg-skip-force"] == len(labels_before)
    assert iab["kmsg-success"] == N - len(labels_before)
    assert iab["kmsg-skip-force"] + iab["kmsg-success"] == N
    assert features.get("dead-letter", 0) == 0 and iab.get("dead-letter", 0) == 0
    assert counters["video_iab"]["labels-written"] == N - len(labels_before)
    assert features["kmsg-output"] == N and iab["kmsg-output"] == N
