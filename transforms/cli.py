"""`klio features ...`: extract / show / fit-pca for one video or a set of feature files, and
convert (fill the embedder's conversion cache from a job's config, e.g. when building an image).

Errors exit non-zero with one line `klio features: <reason>: <message>` on stderr.
"""
from __future__ import annotations

import json
import os
import sys

import click

from jobgraph.cli import common_options, load_config
from transforms.decode import DecodeConfig, VideoRejected


def _fail(reason: str, message: str) -> None:
    click.echo(f"klio features: {reason}: {message}", err=True)
    sys.exit(1)


@click.group()
def features() -> None:
    """Video features: decode, embed, PCA-quantise, YouTube-8M feature files."""


@features.command()
@click.argument("video")
@click.option("-o", "--output", required=True, help="feature file to write (.tfrecord)")
@click.option("--id", "video_id", default=None, help="video id to record (default: file stem)")
@click.option("--weights", default="imagenet", show_default=True,
              help='"imagenet", "seeded" (random weights from --seed; "none" is an alias) or a weights file')
@click.option("--seed", type=int, default=None, help="seed for --weights seeded")
@click.option("--backend", default="keras-fp32", show_default=True)
@click.option("--fps", type=float, default=1.0, show_default=True)
@click.option("--max-frames", type=int, default=300, show_default=True)
@click.option("--policy", type=click.Choice(["head", "uniform"]), default="head", show_default=True)
@click.option("--pca", "pca_path", default=None, help="PCA .npz (from fit-pca): store uint8 like YT8M")
def extract(video, output, video_id, weights, seed, backend, fps, max_frames, policy, pca_path):
    """Decode VIDEO, embed its frames and write one feature file."""
    from model.embedding.config import EmbedderConfig
    from transforms.calibration import embedder_for
    from model.features.pca import encode_frames, load_pca
    from transforms.decode import decode_video
    from model.features.codec import FeatureRecord
    from transforms.features_io import write_features

    try:
        decode_cfg = DecodeConfig(fps=fps, max_frames=max_frames, policy=policy)
        embed_cfg = EmbedderConfig(weights="seeded" if weights == "none" else weights, seed=seed,
                                   backend=backend)
    except ValueError as exc:
        _fail("bad-option", str(exc))
    try:
        pca = load_pca(pca_path) if pca_path else None
        decoded = decode_video(video, decode_cfg)
        embedder = embedder_for(embed_cfg)
        feats = embedder.embed(decoded.frames)
        vid = video_id or os.path.splitext(os.path.basename(video))[0]
        record = FeatureRecord(
            video_id=vid, rgb=encode_frames(pca, feats), timestamps_s=decoded.timestamps_s.tolist(),
            duration_s=decoded.duration_s, embedder_name=embedder.info.name,
            embedder_version=embedder.info.version, embedder_backend=embedder.info.backend,
            embedder_precision=embedder.info.precision, sampling=decode_cfg.describe(),
            pca=os.path.basename(pca_path) if pca_path else None)
        write_features(output, record)
    except VideoRejected as exc:
        _fail(exc.reason, exc.message)
    except Exception as exc:  # noqa: BLE001 - one line, not a trace, for people debugging a video
        _fail(type(exc).__name__, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    click.echo(json.dumps({"id": vid, "output": output, "num_frames": int(len(feats))}))


@features.command()
@click.argument("file")
def show(file):
    """Print FILE's id, frame count, dimension, dtype, timestamps and embedder as JSON."""
    from model.features.codec import read_feature_file

    try:
        parsed = read_feature_file(file)
    except Exception as exc:  # noqa: BLE001
        _fail("unreadable", f"{file}: {exc}")
    ctx = parsed.context
    info = {
        "id": parsed.video_id, "num_frames": parsed.num_frames, "dim": int(parsed.raw.shape[1]),
        "dtype": str(parsed.raw.dtype), "labels": list(parsed.labels) if parsed.labels else None,
        "timestamps": [round(t, 6) for t in ctx.get("timestamps_s", [])],
        "duration_s": ctx.get("duration_s"), "sampling": ctx.get("sampling"), "pca": ctx.get("pca"),
        "embedder": {k: ctx.get(f"embedder_{k}") for k in ("name", "version", "backend", "precision")},
    }
    meta = {k: v for k, v in ctx.items() if k.startswith("meta_")}
    if meta:
        info["meta"] = meta
    click.echo(json.dumps(info, indent=2))


@features.command("fit-pca")
@click.argument("features_glob")
@click.option("-o", "--output", required=True, help="PCA parameters to write (.npz)")
@click.option("--dims", type=int, default=1024, show_default=True)
@click.option("--sample", type=int, default=100_000, show_default=True,
              help="at most this many frames, drawn uniformly (seeded) from all files")
@click.option("--seed", type=int, default=0, show_default=True)
def fit_pca_command(features_glob, output, dims, sample, seed):
    """Fit a YT8M-style PCA on float16 feature files matching FEATURES_GLOB."""
    import numpy as np

    from model.features.pca import fit_pca
    from transforms.features_io import iter_features, matching_paths, write_pca

    paths = matching_paths(features_glob)
    if not paths:
        _fail("no-input", f"no feature files match {features_glob}")
    rng = np.random.default_rng(seed)
    reservoir, seen = [], 0
    try:
        for _, frames, _ in iter_features(features_glob):
            for row in frames:  # reservoir sampling: memory bounded by --sample
                seen += 1
                if len(reservoir) < sample:
                    reservoir.append(row)
                else:
                    j = int(rng.integers(0, seen))
                    if j < sample:
                        reservoir[j] = row
        params = fit_pca(np.stack(reservoir), dims=dims)
        write_pca(output, params)
    except ValueError as exc:
        _fail("bad-input", str(exc))
    click.echo(json.dumps({"output": output, "files": len(paths), "frames_seen": seen,
                           "frames_used": len(reservoir), "dims": dims}))


@features.command()
@common_options
def convert(job_name, job_dir, config_file, overrides, templates):
    """Build the features job's embedder once, filling its conversion cache (embedder.cache_dir).

    Run it where the worker image is built, so workers load the converted model in seconds
    without building the Keras model. Prints {"job", "backend", "cache_dir", "cache_hit"}.
    """
    from jobgraph.config import ConfigError
    from transforms.calibration import embedder_for
    from transforms.job_settings import features_config

    try:
        graph = load_config(job_dir, config_file, overrides, templates)
        job = graph.job(job_name or "video-features")
        embedder_config = features_config(job).embedder
    except (ConfigError, KeyError, ValueError) as exc:
        _fail("bad-config", str(exc))
    if embedder_config.cache_dir is None or not embedder_config.backend.startswith("openvino"):
        _fail("nothing-to-convert", f"job {job.job_name}: embedder backend {embedder_config.backend!r} with "
              f"cache_dir {embedder_config.cache_dir!r}; conversion needs an openvino-* backend and a cache_dir")
    embedder = embedder_for(embedder_config)
    click.echo(json.dumps({"job": job.job_name, "backend": embedder_config.backend,
                           "cache_dir": embedder_config.cache_dir, "cache_hit": embedder.cache_hit}))
