"""`python -m benchmarks embed [--quick] [--backends keras-fp32,...] [--batch-size N]`.

Frames/s through our pipeline (Beam RunInference with EmbedderHandler on the
BundleBasedDirectRunner: videos of `--frames-per-video` frames, batched across videos) against
the raw model at the same batch size: `model(batch)` for keras-fp32, the backend's own callable
for the others. Weights: seeded (ImageNet weights cannot be downloaded here; the arithmetic is the
same). Both sides time steady-state inference on the same frames: the pipeline loads its own
model (RunInference's sharing), and the load's time, from RunInference's own
`load_model_latency_milli_secs` metric, is taken out of the pipeline's wall time.
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from benchmarks.common import figure

_POOL: dict[tuple[int, int], np.ndarray] = {}


def frame_pool(count: int, seed: int = 0) -> np.ndarray:
    """uint8[count,299,299,3] synthetic frames (cached per process)."""
    from transforms.calibration import scene_frames as calibration_frames

    key = (count, seed)
    if key not in _POOL:
        _POOL[key] = calibration_frames(seed + 101, count)
    return _POOL[key]


def pipeline_throughput(config, frames: int, per_video: int) -> float:
    import apache_beam as beam
    from apache_beam.ml.inference.base import RunInference
    from apache_beam.options.pipeline_options import PipelineOptions

    from model.embedding.handler import EmbedderHandler
    from transforms.calibration import CALIBRATION

    videos = frames // per_video
    pool_size = frames

    def video_frames(i: int):
        pool = frame_pool(pool_size)
        return f"v{i}", pool[(i * per_video) % pool_size:][:per_video]

    start = time.perf_counter()
    p = beam.Pipeline(options=PipelineOptions(flags=[], runner="BundleBasedDirectRunner"))
    _ = (p | beam.Create(range(videos)) | beam.Map(video_frames)
         | RunInference(EmbedderHandler(config, CALIBRATION))
         | beam.Map(lambda kv: len(kv[1])))
    result = p.run()
    result.wait_until_finish()
    wall = time.perf_counter() - start
    return videos * per_video / (wall - model_load_seconds(result))


def model_load_seconds(result) -> float:
    """Seconds RunInference spent loading models in a finished pipeline (its own metric)."""
    from apache_beam.metrics.metric import MetricsFilter

    found = result.metrics().query(MetricsFilter().with_name("load_model_latency_milli_secs"))
    return sum(d.committed.sum for d in found["distributions"] if d.committed) / 1000.0


def raw_throughput(embed_batch, frames: int, batch_size: int) -> float:
    pool = frame_pool(frames)
    start = time.perf_counter()
    for i in range(0, frames, batch_size):
        embed_batch(pool[i:i + batch_size])
    return frames / (time.perf_counter() - start)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks embed")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backends", default="keras-fp32")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--frames", type=int, default=None)
    parser.add_argument("--frames-per-video", type=int, default=30)
    args = parser.parse_args(argv)
    frames = args.frames or (96 if args.quick else 600)
    per_video = min(args.frames_per_video, frames)
    frames = frames // per_video * per_video

    from model.embedding.config import EmbedderConfig
    from model.embedding.inception import preprocess
    from transforms.calibration import embedder_for

    frame_pool(frames)
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        config = EmbedderConfig(weights="seeded", seed=0, backend=backend,
                                batch_size=args.batch_size, batch_frames=args.batch_size * 4)
        embedder = embedder_for(config)  # the raw side's model (the pipeline loads its own)
        if backend == "keras-fp32":
            model = embedder.keras_model
            raw = lambda batch: model(preprocess(batch), training=False).numpy()  # noqa: E731
        else:
            raw = embedder.run_batch
        raw(frame_pool(frames)[: args.batch_size])  # warm-up (graph build / compile)
        embedder.embed(frame_pool(frames)[: args.batch_size])
        baseline = raw_throughput(raw, frames, args.batch_size)
        ours = pipeline_throughput(dataclasses.replace(config), frames, per_video)
        figure(f"embed_pipeline_vs_raw[{backend}]", ours, "frames/s", baseline,
               batch_size=args.batch_size, frames=frames, frames_per_video=per_video,
               weights="seeded")
    return 0
