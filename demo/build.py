"""Rebuild the embedded demo set deterministically from seeds: `.venv/bin/python -m demo.build`.

What it writes (all committed; everything here is a DEMO, see demo/README.md):
  demo/videos/{id}.mp4       generated "category scenes" (transforms/synthetic_video.py), H.264,
                             with a generated sound track (transforms/synthetic_audio.py), AAC
  demo/metadata/{id}.json    upload-metadata sidecars for every other video
  demo/manifest.json         each demo video's scene class and true (stand-in) IAB category
  demo/pca.npz               a 64-d YT8M-style PCA fitted on the seeded-Inception features
  demo/model/                a small NeXtVLAD (config, weights, categories, thresholds)

How, through the project's own code paths:
  1. generate the demo videos plus extra training and validation videos (not committed);
  2. run the video-features job of the root klio-job.yaml (jobgraph.pipeline.run, the same
     decode/embedder/audio settings: seeded Inception-v3 and VGGish, seed 0) with `pca: null`
     to get 2048-d features, and fit the PCA on them (model/features/pca.py);
  3. run the video-features job again exactly as configured (with demo/pca.npz): the uint8
     64-d features the demo run produces;
  4. train the two-stream NeXtVLAD (video + audio, model/classifier/train.py) on those features
     (frame-subset augmentation, upload metadata on half the examples) and calibrate
     per-category thresholds on the validation videos (model/classifier/calibrate.py).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import yaml

DEMO = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(DEMO)
CONFIG = os.path.join(REPO, "klio-job.yaml")

# Demo category -> the scene class of transforms/synthetic_video.py it shows, a stand-in IAB
# Content Taxonomy 3.0 category, an upload category, and its sound (transforms/synthetic_audio.py).
# The synthetic scenes look nothing like these topics: the mapping only gives the demo real IDs.
# The first six are told apart by what is seen; their sound is drawn from GENERIC_SOUNDS per
# video, so it says nothing. The last two LOOK alike (one scene class) and are told apart only by
# what is heard: a beat (music) or formant-shaped, syllable-rate noise (talk).
CATEGORIES = [
    # (scene class, IAB id, IAB name, upload category of the sidecar metadata, id prefix, sound)
    (0, "533", "Soccer", "sports", "soccer", None),
    (1, "216", "Cooking", "food", "cooking", None),
    (2, "425", "Dogs", "pets", "dogs", None),
    (3, "518", "Auto Racing", "autos", "racing", None),
    (4, "275", "Gardening", "home", "gardening", None),
    (5, "680", "Video Gaming", "gaming", "gaming", None),
    (6, "351", "Dance and Electronic Music", "music", "music", "rhythm"),
    (6, "371", "Talk Radio", "radio", "talk", "speech"),
]
GENERIC_SOUNDS = ("noise", "tone", "silence")
DEMO_PER_CLASS = 3          # committed videos per category
TRAIN_PER_CLASS = 12        # extra training videos per category (generated, not committed)
VALIDATE_PER_CLASS = 6      # extra validation videos per category (for the thresholds)
VIDEO = dict(duration_s=5.0, fps=10.0, width=128, height=96, crf=30, preset="veryfast")
PCA_DIMS = 64
AUDIO_DIM = 128             # VGGish's, PCA-whitened by the audio embedder itself
AUGMENT = 8                 # training examples per training video (random frame subsets)
TARGET_PRECISION = 0.9
LANGUAGES = ["en", "es", "de", "fr"]


def video_ids(split: str, per_class: int) -> list[tuple[str, int, int]]:
    """(id, category index in CATEGORIES, seed) for a split; seeds differ between splits and
    videos. "heldout" videos are never used to build the demo (the tests score the demo model
    on them)."""
    base = {"demo": 0, "train": 10_000, "validate": 20_000, "heldout": 30_000}[split]
    out = []
    for index, (_, _, _, _, prefix, _) in enumerate(CATEGORIES):
        for k in range(per_class):
            vid = f"{prefix}-{k + 1:02d}" if split == "demo" else f"{split}-{prefix}-{k + 1:02d}"
            out.append((vid, index, base + 100 * index + k))
    return out


def video_spec(index: int, seed: int):
    """The VideoSpec of a video of category `index` (its scene and its sound)."""
    from transforms.synthetic_video import VideoSpec

    scene, sound = CATEGORIES[index][0], CATEGORIES[index][5]
    if sound is None:
        sound = GENERIC_SOUNDS[seed % len(GENERIC_SOUNDS)]
    return VideoSpec(content="scene", category=scene, seed=seed, audio=True, audio_kind=sound, **VIDEO)


def generate_videos(directory: str, split: str, per_class: int) -> list[tuple[str, int, int]]:
    from transforms.synthetic_video import write_video

    os.makedirs(directory, exist_ok=True)
    items = video_ids(split, per_class)
    for vid, index, seed in items:
        write_video(os.path.join(directory, f"{vid}.mp4"), video_spec(index, seed))
    return items


def sidecar(vid: str, index: int, seed: int) -> dict:
    return {"category": CATEGORIES[index][3], "language": LANGUAGES[seed % len(LANGUAGES)],
            "duration": VIDEO["duration_s"], "channel": f"demo-channel-{index}"}


def run_features(videos_dir: str, out_dir: str, pca: str | None, ids: list[str]) -> None:
    """The video-features job of the root klio-job.yaml, as configured but for its locations
    (and `pca` when given: "null" for raw 2048-d features)."""
    from jobgraph.config import load_graph
    from jobgraph.pipeline import run

    overrides = [
        f"video-features:job_config.data.inputs.0.location={videos_dir}",
        f"video-features:job_config.data.outputs.0.location={out_dir}/features",
        f"video-features:job_config.events.outputs.1.location={out_dir}/events",
        f"video-features:job_config.dead_letter.1.location={out_dir}/dead-letter",
    ]
    if pca is not None:
        overrides.append(f"video-features:job_config.pca={pca}")
    graph = load_graph(CONFIG, overrides=overrides)
    summary = run(graph, job_name="video-features", direct_runner=True, ids=ids)
    done = summary.get("video-features", "kmsg-success") + summary.get("video-features", "kmsg-skip-force")
    if "DONE" not in summary.state or done != len(ids):
        raise RuntimeError(f"video-features job: state {summary.state}, {done} of {len(ids)} "
                           f"written (or existing); counters {summary.counters.get('video-features')}")


def read_raw(features_dir: str, vid: str):
    from model.features.codec import read_feature_file

    return read_feature_file(os.path.join(features_dir, f"{vid}.tfrecord"))


def model_config(base_config: str):
    from model.classifier.config import config_from_dict

    with open(base_config, encoding="utf-8") as fh:
        doc = yaml.safe_load(fh)
    doc.update({
        "name": "demo-nextvlad",
        "num_classes": len(CATEGORIES),
        "categories": [c[1] for c in CATEGORIES],
        "max_frames": 30,
        "rgb": {"feature_size": PCA_DIMS, "cluster_size": 16, "groups": 4, "expansion": 2},
        "audio": {"feature_size": AUDIO_DIM, "cluster_size": 8, "groups": 4, "expansion": 2},
        "hidden_size": 64,
        "metadata": {"categories": [c[3] for c in CATEGORIES], "languages": LANGUAGES,
                     "duration": True, "channel_buckets": 0},
    })
    doc["train"] = {**doc["train"], "epochs": 25, "batch_size": 32, "learning_rate": 3.0e-3}
    return config_from_dict(doc, source="demo/build.py (from model/classifier/configs/synthetic-demo.yaml)")


def write_examples(path: str, records: list, rng: np.random.Generator, augment: int) -> int:
    """records: (feature file, category index, metadata dict or None). With augment > 0 each
    video gives `augment` examples of random frame subsets (order kept, rgb and audio rows
    alike), metadata on about half."""
    from model.classifier.data import write_tfrecord
    from model.features.codec import sequence_example as make_sequence_example

    examples = []
    for feats, index, meta in records:
        raw, audio = feats.raw, feats.audio_raw
        duration = {"duration": float(feats.context.get("duration_s") or VIDEO["duration_s"])}
        if augment == 0:
            full = {**duration, **{k: v for k, v in (meta or {}).items() if k in ("category", "language")}}
            examples.append(make_sequence_example(feats.video_id, raw, labels=[index], audio=audio,
                                                  metadata=full))
            continue
        for _ in range(augment):
            n = int(rng.integers(max(1, len(raw) // 2), len(raw) + 1))
            keep = np.sort(rng.choice(len(raw), size=n, replace=False))
            with_meta = meta is not None and rng.random() < 0.5
            md = dict(duration)
            if with_meta:
                md.update(category=meta["category"], language=meta["language"])
            examples.append(make_sequence_example(feats.video_id, raw[keep], labels=[index],
                                                  audio=audio[keep], metadata=md))
    order = rng.permutation(len(examples))
    return write_tfrecord(path, [examples[i] for i in order])


def generate_demo_set(work: str):
    """Videos (demo ones in demo/videos, all of them under work) and the demo's sidecars.
    Returns (demo, train, validate, sidecars): lists of (id, category index, seed) and
    {id: sidecar}."""
    videos = os.path.join(DEMO, "videos")
    metadata_dir = os.path.join(DEMO, "metadata")
    for directory in (videos, metadata_dir, os.path.join(DEMO, "model")):
        shutil.rmtree(directory, ignore_errors=True)
    all_videos = os.path.join(work, "videos")
    print("demo.build: generating videos", file=sys.stderr)
    demo = generate_videos(videos, "demo", DEMO_PER_CLASS)
    train_items = generate_videos(all_videos, "train", TRAIN_PER_CLASS)
    validate = generate_videos(all_videos, "validate", VALIDATE_PER_CLASS)
    for vid, _, _ in demo:
        shutil.copy(os.path.join(videos, f"{vid}.mp4"), all_videos)
    os.makedirs(metadata_dir, exist_ok=True)
    sidecars = {}
    for i, (vid, index, seed) in enumerate(demo):
        if i % 2 == 0:
            sidecars[vid] = sidecar(vid, index, seed)
            with open(os.path.join(metadata_dir, f"{vid}.json"), "w", encoding="utf-8") as fh:
                json.dump(sidecars[vid], fh, indent=1)
                fh.write("\n")
    return demo, train_items, validate, sidecars


def fit_demo_pca(work: str, fit_ids: list[str]) -> None:
    """The video-features job without PCA over `fit_ids`, then demo/pca.npz fitted on it."""
    from model.features.pca import fit_pca
    from transforms.features_io import write_pca

    print(f"demo.build: video-features job, raw 2048-d features of {len(fit_ids)} videos", file=sys.stderr)
    run_features(os.path.join(work, "videos"), os.path.join(work, "raw"), "null", fit_ids)
    frames = np.concatenate([read_raw(os.path.join(work, "raw", "features"), v).frames for v in fit_ids])
    write_pca(os.path.join(DEMO, "pca.npz"), fit_pca(frames, dims=PCA_DIMS))
    print(f"demo.build: PCA {PCA_DIMS}-d fitted on {len(frames)} frames", file=sys.stderr)


def train_demo_model(work: str, feats_dir: str, train_items: list, validate: list) -> dict:
    """Train the demo NeXtVLAD, calibrate it on the validation videos, copy it to demo/model.
    Returns the thresholds document."""
    from model.classifier import artifacts
    from model.classifier.calibrate import calibration_document
    from model.classifier.config import builtin_config_path
    from model.classifier.evaluate import predict_files
    from model.classifier.serving import load_classifier
    from model.classifier.train import train

    rng = np.random.default_rng(0)
    train_records = [(read_raw(feats_dir, v), s, sidecar(v, s, seed)) for v, s, seed in train_items]
    val_records = [(read_raw(feats_dir, v), s, sidecar(v, s, seed) if i % 2 == 0 else None)
                   for i, (v, s, seed) in enumerate(validate)]
    train_path, val_path = os.path.join(work, "train.tfrecord"), os.path.join(work, "validate.tfrecord")
    n_train = write_examples(train_path, train_records, rng, AUGMENT)
    write_examples(val_path, val_records, rng, 0)
    config = model_config(builtin_config_path("synthetic-demo.yaml"))
    model_dir = os.path.join(work, "model")
    print(f"demo.build: training {config.name} on {n_train} examples", file=sys.stderr)
    train(config, [train_path], model_dir)
    classifier = load_classifier(model_dir)
    _, predictions, labels = predict_files(classifier, [val_path])
    document = calibration_document(predictions, labels, classifier.categories, TARGET_PRECISION,
                                    min_positives=1, data=["demo validation videos (generated)"])
    artifacts.write_json(os.path.join(model_dir, artifacts.THRESHOLDS_FILE), document)
    out_model = os.path.join(DEMO, "model")
    os.makedirs(out_model, exist_ok=True)
    for name in artifacts.SERVING_FILES:
        shutil.copy(os.path.join(model_dir, name), os.path.join(out_model, name))
    return document


def write_manifest(demo: list, sidecars: dict, document: dict) -> dict:
    manifest = {
        "note": "DEMO: synthetic videos; the IAB categories are stand-ins for the scene classes "
                "and sounds",
        "embedder": "inception_v3, seeded random weights (seed 0), BatchNorm re-estimated",
        "audio_embedder": "vggish, seeded random weights (seed 0), PCA fitted on generated sounds",
        "categories": [{"scene": s, "id": i, "name": n, "upload_category": u,
                        "sound": sound or f"any of {', '.join(GENERIC_SOUNDS)}"}
                       for s, i, n, u, _, sound in CATEGORIES],
        "videos": {vid: {"scene": CATEGORIES[index][0], "sound": video_spec(index, seed).audio_kind,
                         "seed": seed, "category_id": CATEGORIES[index][1],
                         "category_name": CATEGORIES[index][2], "metadata_sidecar": vid in sidecars}
                   for vid, index, seed in demo},
        "validation": document.get("validation"),
        "thresholds": {row["id"]: row["threshold"] for row in document["categories"]},
    }
    with open(os.path.join(DEMO, "manifest.json"), "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")
    return manifest


def build(work: str) -> dict:
    demo, train_items, validate, sidecars = generate_demo_set(work)
    fit_ids = [v for v, _, _ in demo + train_items]
    fit_demo_pca(work, fit_ids)
    all_ids = fit_ids + [v for v, _, _ in validate]
    print(f"demo.build: video-features job as configured (PCA) over {len(all_ids)} videos", file=sys.stderr)
    run_features(os.path.join(work, "videos"), os.path.join(work, "pca"), None, all_ids)
    document = train_demo_model(work, os.path.join(work, "pca", "features"), demo + train_items, validate)
    return write_manifest(demo, sidecars, document)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.build", description=__doc__.split("\n")[0])
    parser.add_argument("--work-dir", help="keep intermediate files here (default: a temp dir, removed)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    work = args.work_dir or tempfile.mkdtemp(prefix="demo-build-")
    try:
        manifest = build(work)
    finally:
        if not args.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"videos": len(manifest["videos"]), "validation": manifest["validation"],
                      "thresholds": manifest["thresholds"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
