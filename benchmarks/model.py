"""`python -m benchmarks model [--quick] [--videos N] [--test-videos M] [--seed S] [--audio-classes A]`:
NeXtVLAD on the synthetic set.

Trains, in one run on the same seeded synthetic YouTube-8M-format data (model/classifier/synthetic.py,
with A = 4 audio classes by default: two look-alike pairs told apart only by their 128-d audio):
  nextvlad     video NeXtVLAD + metadata (synthetic-demo-audio.yaml with audio off), the
               video-only model
  two_stream   video + audio NeXtVLAD + metadata (model/classifier/configs/synthetic-demo-audio.yaml)
  no_metadata  video NeXtVLAD without metadata
  mean_pool    a mean-pooled logistic baseline (video + metadata)
and scores the test split: N videos train (1,050; --quick 420), the next M are the test split
(1,500; --quick 600). The test split is larger than the usual 15% because the classes only the
metadata signals have few positives: with the old 225 test videos (~20 positives per class) one
class's AP swung by up to 15 points between two models trained on the same data, and the
"does the two-stream model lose on the others" figure was decided by that noise. Figures (one
JSON line each, ratio = ours / baseline):
  gap_at_20                      nextvlad vs mean pooling
  sparse_class_map               AP on the "few informative frames" classes, nextvlad vs mean pooling
  metadata_class_map             AP on classes signalled only by metadata, nextvlad vs no_metadata
  coverage_at_80_precision       nextvlad vs mean pooling
  train_seconds                  nextvlad vs mean pooling (wall clock, this machine)
  audio_class_map                AP on the audio classes, two_stream vs nextvlad (video-only)
  other_class_map                AP on dense + sparse + metadata classes, two_stream vs nextvlad,
                                 with the paired-bootstrap sd of the difference (`difference_sd`,
                                 200 resamples of the test videos scoring both models) and
                                 "does_not_lose": difference >= -2 sd (not significantly worse)
  two_stream_gap_at_20           two_stream vs nextvlad
  two_stream_train_seconds       two_stream vs nextvlad
then one JSON object {"per_class_ap": [{"class", "kind", "two_stream", "video_only"}, ...]}.
The first five are computed on the set with audio classes since they were added (the video-only
models cannot tell a look-alike pair apart, so gap_at_20 values are lower than on the old set);
--audio-classes 0 gives the old set (synthetic-demo.yaml) and only the first five figures.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time

import numpy as np


def _figure(name: str, value: float, unit: str, baseline: float, **extra) -> None:
    ratio = value / baseline if baseline else None
    print(json.dumps({"figure": name, "value": round(float(value), 4), "unit": unit,
                      "baseline": round(float(baseline), 4),
                      "ratio": None if ratio is None else round(ratio, 3), **extra}))


def _paired_sd(ours: dict, baseline: dict, classes: list[int]) -> float:
    """Bootstrap sd of (ours - baseline) mean AP over `classes`: the same resamples of the test
    videos score both models, so the noise is that of the difference (the embedding quality
    guard's paired bootstrap, on this metric)."""
    from model.classifier import metrics
    from model.embedding.quality import paired_drop

    def mean_ap(scores, labels):
        return {"map": float(np.nanmean(metrics.class_average_precisions(scores, labels, 20)[classes]))}

    return paired_drop(baseline["scores"], ours["scores"], ours["labels"], metric_fn=mean_ap)["map"]["sd"]


def _runs(spec, seed: int) -> dict:
    """name -> (config, model builder) of the models to train on `spec`'s set."""
    from model.classifier.baseline import build_mean_pool_model
    from model.classifier.config import builtin_config_path, load_config
    from model.classifier.nextvlad import build_model

    name = "synthetic-demo-audio.yaml" if spec.audio_classes else "synthetic-demo.yaml"
    config = load_config(builtin_config_path(name))
    config = config.replace(num_classes=spec.num_classes,
                            train=dataclasses.replace(config.train, seed=seed))
    video = config.replace(audio=None)
    runs = {"nextvlad": (video, build_model),
            "no_metadata": (video.replace(metadata=None), build_model),
            "mean_pool": (video.replace(train=dataclasses.replace(video.train, learning_rate=1e-2,
                                                                  epochs=20)),
                          build_mean_pool_model)}
    if spec.audio_classes:
        runs["two_stream"] = (config, build_model)
    return runs


def _train_all(spec, runs: dict, train_fraction: float) -> dict:
    """Train every run on the first `train_fraction` of one written copy of `spec`'s set, test
    on the rest; name -> test scores, labels, APs."""
    from model.classifier import data, metrics, synthetic, train

    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-model-") as root:
        files = synthetic.write_dataset(os.path.join(root, "data"), spec,
                                        splits={"train": train_fraction, "test": 1 - train_fraction})
        for name, (cfg, builder) in runs.items():
            start = time.perf_counter()
            result = train.train(cfg, files["train"], os.path.join(root, name), builder=builder)
            seconds = time.perf_counter() - start
            test = data.read_examples(files["test"], cfg)
            scores = train.predict_arrays(result.model, test, cfg)
            results[name] = {"scores": scores, "labels": test["labels"], "seconds": seconds,
                             "aps": metrics.class_average_precisions(scores, test["labels"], 20)}
    return results


def main(argv: list[str]) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(prog="python -m benchmarks model")
    parser.add_argument("--quick", action="store_true", help="420 + 600 videos instead of 1050 + 1500")
    parser.add_argument("--videos", type=int, default=None, help="training videos")
    parser.add_argument("--test-videos", type=int, default=None, help="test videos")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--audio-classes", type=int, default=4,
                        help="audio classes (even; 0 = the set without audio, no two-stream run)")
    args = parser.parse_args(argv)

    from model.classifier import metrics, synthetic

    train_videos = args.videos or (420 if args.quick else 1050)
    test_videos = args.test_videos or (600 if args.quick else 1500)
    spec = synthetic.SyntheticSpec(num_videos=train_videos + test_videos, seed=args.seed,
                                   audio_classes=args.audio_classes,
                                   audio_feature_size=128 if args.audio_classes else 0)
    results = _train_all(spec, _runs(spec, args.seed), train_videos / spec.num_videos)

    def gap(name):
        return metrics.gap(results[name]["scores"], results[name]["labels"], 20)

    def class_map(name, *kinds):
        classes = [c for kind in kinds for c in spec.classes_of(kind)]
        return float(np.nanmean(results[name]["aps"][classes]))

    def coverage(name):
        return metrics.coverage_at_precision(results[name]["scores"], results[name]["labels"],
                                             0.8).coverage

    _figure("gap_at_20", gap("nextvlad"), "GAP", gap("mean_pool"))
    _figure("sparse_class_map", class_map("nextvlad", synthetic.SPARSE), "AP",
            class_map("mean_pool", synthetic.SPARSE))
    _figure("metadata_class_map", class_map("nextvlad", synthetic.METADATA_KIND), "AP",
            class_map("no_metadata", synthetic.METADATA_KIND))
    _figure("coverage_at_80_precision", coverage("nextvlad"), "fraction of videos",
            coverage("mean_pool"))
    _figure("train_seconds", results["nextvlad"]["seconds"], "s", results["mean_pool"]["seconds"])
    if spec.audio_classes:
        _two_stream_figures(spec, results, gap, class_map)
    return 0


def _two_stream_figures(spec, results: dict, gap, class_map) -> None:
    """The two-stream model against the video-only one: audio classes, the others, per class."""
    from model.classifier import synthetic

    others = (synthetic.DENSE, synthetic.SPARSE, synthetic.METADATA_KIND)
    _figure("audio_class_map", class_map("two_stream", synthetic.AUDIO_KIND), "AP",
            class_map("nextvlad", synthetic.AUDIO_KIND))
    classes = [c for kind in others for c in spec.classes_of(kind)]
    two, video = class_map("two_stream", *others), class_map("nextvlad", *others)
    sd = _paired_sd(results["two_stream"], results["nextvlad"], classes)
    _figure("other_class_map", two, "AP", video, difference_sd=round(sd, 4),
            does_not_lose=bool(two - video >= -2 * sd))
    _figure("two_stream_gap_at_20", gap("two_stream"), "GAP", gap("nextvlad"))
    _figure("two_stream_train_seconds", results["two_stream"]["seconds"], "s",
            results["nextvlad"]["seconds"])
    print(json.dumps({"per_class_ap": [
        {"class": c, "kind": kind,
         "two_stream": round(float(results["two_stream"]["aps"][c]), 4),
         "video_only": round(float(results["nextvlad"]["aps"][c]), 4)}
        for c, kind in enumerate(spec.class_kinds)]}))
