"""Hostile input through the whole batch graph, all in one run beside good videos: every hostile
case ends as one dead letter with its reason, the good videos are labelled, the run succeeds
(in bounded time: the run is one subprocess-free CLI call, well under a minute).
(The decoder's own hostile files are tested in tests/features/test_hostile_videos.py.)"""
from __future__ import annotations

import json
import os

from tests.graph.helpers import dead_letters, files_under, location_overrides
from tests.graph.test_graph_batch import klio_job_run, scene
from transforms import synthetic_video as sv

NESTED = b"[" * 5000 + b"]" * 5000  # json would recurse past Python's limit


def test_hostile_metadata_textual_labels_and_id_lines_are_dead_letters(tmp_path):
    root = tmp_path / "root"
    for sub in ("videos", "metadata", "textual"):
        (root / sub).mkdir(parents=True)
    good = ["good1", "good2", "hugeduration"]
    hostile_metadata = ["nested", "bigmeta", "fifometa", "zerometa"]
    ids = [*good, *hostile_metadata, "badtextual"]
    for i, vid in enumerate(ids):
        scene(str(root / "videos" / f"{vid}.mp4"), seed=i, duration_s=1.0)
    meta = root / "metadata"
    (meta / "good1.json").write_text(json.dumps({"category": "sports", "language": "en"}))
    (meta / "hugeduration.json").write_text('{"category": "news", "duration": 1' + "0" * 400 + "}")
    (meta / "nested.json").write_bytes(NESTED)
    (meta / "bigmeta.json").write_bytes(b'{"category": "' + b"x" * (3 * 2**20) + b'"}')
    os.mkfifo(meta / "fifometa.json")
    os.symlink("/dev/zero", meta / "zerometa.json")
    (root / "textual" / "badtextual.json").write_bytes(b'{"labels": ' + NESTED + b"}")
    # hostile "videos": a FIFO (would block an open forever), a link out of the folder, a PNG
    # declaring a 16000x16000 canvas (about 2 GB decoded) under a video name
    videos = root / "videos"
    os.mkfifo(videos / "fifovideo.mp4")
    os.symlink("/etc/passwd", videos / "escapevideo.mp4")
    sv.write_png_bomb(str(videos / "pngvideo.mp4"))
    hostile_videos = {"fifovideo": "not-a-regular-file", "escapevideo": "outside-root",
                      "pngvideo": "not-a-video"}
    # a BOM before the first ID, and one line that is not UTF-8
    ids_file = tmp_path / "ids.txt"
    ids_file.write_bytes(b"\xef\xbb\xbf" + "\n".join([*ids, *hostile_videos]).encode()
                         + b"\nbad\xff\xfeid\n")

    _, counters = klio_job_run(*location_overrides(str(root)), "-O",
                               f"video-iab:job_config.textual_location={root}/textual",
                               "--batch-input", str(ids_file), summary=str(tmp_path / "s.json"))

    assert files_under(str(root / "labels")) == sorted(f"{v}.json" for v in good)
    with open(root / "labels" / "hugeduration.json", encoding="utf-8") as fh:
        doc = json.load(fh)
    assert doc["metadata_source"] == "sidecar"  # category kept, the absurd duration dropped
    iab = {r["element"]: (r["stage"], r["reason"]) for r in dead_letters(str(root / "dead-letter" / "video-iab"))}
    assert iab == {**{v: ("metadata", "bad-metadata") for v in hostile_metadata},
                   "badtextual": ("textual-labels", "bad-metadata")}
    features = {r["element"]: r for r in dead_letters(str(root / "dead-letter" / "video-features"))}
    assert {e: r["reason"] for e, r in features.items()} == {**hostile_videos, "bad\ufffd\ufffdid": "invalid-id"}
    not_utf8 = features["bad\ufffd\ufffdid"]
    assert not_utf8["stage"] == "read-ids" and "not UTF-8" in not_utf8["message"]
    assert not_utf8["raw_length"] == len(b"bad\xff\xfeid")
    assert counters["video-features"]["kmsg-success"] == len(ids)
    assert counters["video-iab"]["kmsg-success"] == len(good)
    assert counters["video-iab"]["dead-letter:bad-metadata"] == len(hostile_metadata) + 1
