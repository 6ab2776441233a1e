"""The embedded default: `./dev demo` (demo/run.py: `klio job run --direct-runner` on the root
klio-job.yaml, batch over the listing of demo/videos, then the labels table) labels every demo
video, and the demo model gives each its (stand-in) true category."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

from tests.graph.helpers import REPO, dead_letters, files_under, location_overrides

DEMO = os.path.join(REPO, "demo")
MIN_CORRECT = 0.9  # share of demo videos whose true category must be among their labels
HEARD = ("351", "371")  # Dance and Electronic Music, Talk Radio: one look, two sounds (demo/build.py)


def test_demo_run_labels_every_video_with_its_true_category(tmp_path):
    out = str(tmp_path / "demo-output")
    # The committed demo inputs (videos, sidecars, PCA, model); outputs under tmp instead of
    # demo-output/ so the test leaves the checkout alone.
    args = location_overrides(out, videos=os.path.join(DEMO, "videos"),
                              metadata=os.path.join(DEMO, "metadata"))
    proc = subprocess.run([sys.executable, "-m", "demo.run", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]

    with open(os.path.join(DEMO, "manifest.json"), encoding="utf-8") as fh:
        manifest = json.load(fh)
    videos = sorted(name[:-4] for name in os.listdir(os.path.join(DEMO, "videos")) if name.endswith(".mp4"))
    assert videos == sorted(manifest["videos"]) and len(videos) >= 20
    assert sorted(files_under(os.path.join(out, "labels"))) == [f"{v}.json" for v in videos]

    correct, extra = [], 0
    for vid in videos:
        with open(os.path.join(out, "labels", f"{vid}.json"), encoding="utf-8") as fh:
            doc = json.load(fh)
        truth = manifest["videos"][vid]
        assert doc["video_id"] == vid and doc["frames_used"] >= 1
        assert doc["model"]["name"] == "demo-nextvlad"
        assert doc["schema_version"] == 2 and len(doc["model"]["version"]) == 12
        embedder = doc["features"]["embedder"]
        assert embedder["seeded_weights"] is True and ";seeded:" in embedder["version"]  # a demo's
        assert "demo" in doc["features"]["note"] and doc["features"]["pca"]
        assert all(x["score"] >= x["threshold"] for x in doc["labels"])
        assert doc["metadata_source"] == ("sidecar" if truth["metadata_sidecar"] else "unknown")
        ids = [label["id"] for label in doc["labels"]]
        correct.append(truth["category_id"] in ids)
        extra += len([i for i in ids if i != truth["category_id"]])
    assert sum(correct) >= math.ceil(MIN_CORRECT * len(videos)), (
        f"{sum(correct)}/{len(videos)} demo videos labelled with their category: "
        f"{[v for v, ok in zip(videos, correct) if not ok]}")
    assert extra <= len(videos) * (1 - MIN_CORRECT), f"{extra} wrong labels in total"
    # The categories told apart by sound alone (their videos look alike) are labelled right.
    heard = [ok for v, ok in zip(videos, correct) if manifest["videos"][v]["category_id"] in HEARD]
    assert len(heard) >= 6 and all(heard), f"{sum(heard)}/{len(heard)} told apart by sound"
    for job in ("video-features", "video-iab"):
        assert dead_letters(os.path.join(out, "dead-letter", job)) == []

    # stderr: no start-up noise (README "Run summary"): Beam's false "Resource module is not
    # available", the empty dead-letter sinks' "No shards found", any line twice in a row
    assert "Resource module is not available" not in proc.stderr, proc.stderr[-3000:]
    assert "No shards found" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert not [a for a, b in zip(lines, lines[1:]) if a == b], proc.stderr[-3000:]

    # stdout: the runtime's summary table first, then the labels table naming every video
    text = proc.stdout
    summary_at, labels_at = text.find("klio job run:"), text.find("labels (")
    assert 0 <= summary_at < labels_at, text[-3000:]
    table = text[labels_at:]
    for vid in videos:
        assert vid in table
    first = videos[0]
    name = manifest["videos"][first]["category_name"]
    line = next(row for row in table.splitlines() if first in row)
    assert name in line or not correct[0]


HELD_OUT_PER_CLASS = 2
MIN_HELD_OUT_CORRECT = 0.75  # measured 15/16 here; chance is 1/8: the model must generalise


def test_demo_model_labels_held_out_videos_with_their_category(tmp_path):
    """Videos the demo build never saw (new seeds of the same scene classes and sounds): the
    graph as shipped must still give most of them their category, and rank the right one first
    for the look-alike pair only sound tells apart."""
    from demo.build import CATEGORIES, generate_videos
    from tests.graph.helpers import job_run

    root = str(tmp_path / "root")
    items = generate_videos(os.path.join(root, "videos"), "heldout", HELD_OUT_PER_CLASS)
    job_run(*location_overrides(root))
    correct, heard_first = [], []
    for vid, index, _ in items:
        with open(os.path.join(root, "labels", f"{vid}.json"), encoding="utf-8") as fh:
            doc = json.load(fh)
        truth = CATEGORIES[index][1]
        correct.append(truth in [label["id"] for label in doc["labels"]])
        if truth in HEARD:
            heard_first.append(doc["top_k"][0]["id"] == truth)
    assert sum(correct) >= math.ceil(MIN_HELD_OUT_CORRECT * len(items)), (
        f"{sum(correct)}/{len(items)} held-out videos labelled with their category")
    # measured 4/4: the audio stream tells music from talk in videos it never heard
    assert len(heard_first) == 2 * HELD_OUT_PER_CLASS and sum(heard_first) >= 3, heard_first
