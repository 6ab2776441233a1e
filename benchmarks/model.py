"""`python -m benchmarks model [--quick] [--videos N] [--seed S]`: NeXtVLAD on the synthetic set.

Trains, in one run on the same seeded synthetic YouTube-8M-format data (model/classifier/synthetic.py):
NeXtVLAD with the metadata branch (model/classifier/configs/synthetic-demo.yaml), the same without
metadata, and a mean-pooled logistic baseline; scores the test split. Figures (one JSON line
each, ratio = ours / baseline):
  gap_at_20                      NeXtVLAD vs mean pooling
  sparse_class_map               AP on the "few informative frames" classes, vs mean pooling
  metadata_class_map             AP on classes signalled only by metadata, vs NeXtVLAD without it
  coverage_at_80_precision       NeXtVLAD vs mean pooling
  train_seconds                  NeXtVLAD vs mean pooling (wall clock, this machine)
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import tempfile
import time

import numpy as np


def _figure(name: str, value: float, unit: str, baseline: float) -> None:
    ratio = value / baseline if baseline else None
    print(json.dumps({"figure": name, "value": round(float(value), 4), "unit": unit,
                      "baseline": round(float(baseline), 4),
                      "ratio": None if ratio is None else round(ratio, 3)}))


def main(argv: list[str]) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(prog="python -m benchmarks model")
    parser.add_argument("--quick", action="store_true", help="600 videos instead of 1500")
    parser.add_argument("--videos", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from model.classifier import data, metrics, synthetic, train
    from model.classifier.baseline import build_mean_pool_model
    from model.classifier.config import builtin_config_path, load_config
    from model.classifier.nextvlad import build_model

    videos = args.videos or (600 if args.quick else 1500)
    spec = synthetic.SyntheticSpec(num_videos=videos, seed=args.seed)
    config = load_config(builtin_config_path("synthetic-demo.yaml"))
    config = config.replace(train=dataclasses.replace(config.train, seed=args.seed))
    runs = {"nextvlad": (config, build_model),
            "no_metadata": (config.replace(metadata=None), build_model),
            "mean_pool": (config.replace(train=dataclasses.replace(config.train, learning_rate=1e-2,
                                                                   epochs=20)),
                          build_mean_pool_model)}
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-model-") as root:
        files = synthetic.write_dataset(os.path.join(root, "data"), spec)
        for name, (cfg, builder) in runs.items():
            start = time.perf_counter()
            result = train.train(cfg, files["train"], os.path.join(root, name), builder=builder)
            seconds = time.perf_counter() - start
            test = data.read_examples(files["test"], cfg)
            scores = train.predict_arrays(result.model, test, cfg)
            results[name] = {"scores": scores, "labels": test["labels"], "seconds": seconds,
                             "aps": metrics.class_average_precisions(scores, test["labels"], 20)}

    def gap(name):
        return metrics.gap(results[name]["scores"], results[name]["labels"], 20)

    def class_map(name, kind):
        return float(np.nanmean(results[name]["aps"][spec.classes_of(kind)]))

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
    return 0

