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
    """Print FILE's id, frame count, dimension, dtype, timestamps, embedder and streams (rgb,
    audio when present) as JSON."""
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
    info["streams"] = _streams(parsed)
    meta = {k: v for k, v in ctx.items() if k.startswith("meta_")}
    if meta:
        info["meta"] = meta
    click.echo(json.dumps(info, indent=2))


def _streams(parsed) -> dict:
    """Each feature list of a feature file: its shape and the times its rows stand for (a
    frame's presentation time; the start of the 0.96 s an audio row heard)."""
    ctx = parsed.context
    timestamps = [round(t, 6) for t in ctx.get("timestamps_s", [])]
    streams = {"rgb": {"num_frames": parsed.num_frames, "dim": int(parsed.raw.shape[1]),
                       "dtype": str(parsed.raw.dtype), "timestamps": timestamps}}
    if parsed.audio_raw is not None:
        streams["audio"] = {
            "num_frames": int(parsed.audio_raw.shape[0]), "dim": int(parsed.audio_raw.shape[1]),
            "dtype": str(parsed.audio_raw.dtype),
            "timestamps": [round(t, 6) for t in ctx.get("audio_timestamps_s", [])],
            "source": ctx.get("audio_source"), "decode_errors": ctx.get("audio_decode_errors"),
            "embedder": {k: ctx.get(f"audio_embedder_{k}") for k in ("name", "version", "backend")}}
    return streams


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
@click.option("--audio-cache-dir", default=None,
              help="where to put the audio embedder's conversion (default: its audio.cache_dir)")
def convert(job_name, job_dir, config_file, overrides, templates, audio_cache_dir):
    """Build the features job's embedders once, filling their conversion caches
    (embedder.cache_dir; audio.cache_dir when the job has an `audio:` section on OpenVINO).

    Run it where the worker image is built, so workers load the converted models in seconds
    without TensorFlow. Prints {"job", "backend", "cache_dir", "cache_hit"[, "audio": {"backend",
    "cache_dir", "cache_hit"}]}.
    """
    import dataclasses

    from jobgraph.config import ConfigError
    from model.openvino_cache import cache_dir_or_default
    from transforms.calibration import embedder_for
    from transforms.job_settings import features_config

    try:
        graph = load_config(job_dir, config_file, overrides, templates)
        job = graph.job(job_name or "video-features")
        config = features_config(job)
        embedder_config, audio = config.embedder, config.audio
        if audio is not None and audio_cache_dir:
            audio = dataclasses.replace(audio, cache_dir=audio_cache_dir)
    except (ConfigError, KeyError, ValueError) as exc:
        _fail("bad-config", str(exc))
    if not embedder_config.backend.startswith("openvino"):
        _fail("nothing-to-convert", f"job {job.job_name}: embedder backend {embedder_config.backend!r}; "
              "conversion needs an openvino-* backend")
    embedder = embedder_for(embedder_config)
    result = {"job": job.job_name, "backend": embedder_config.backend,
              "cache_dir": cache_dir_or_default(embedder_config.cache_dir), "cache_hit": embedder.cache_hit}
    if audio is not None and audio.backend.startswith("openvino"):
        result["audio"] = _convert_audio(audio)
    click.echo(json.dumps(result))


def _convert_audio(audio) -> dict:
    """Load (so convert, on a cache miss) the audio embedder of AudioEmbedderConfig `audio`."""
    from model.audio.handler import load_audio_embedder
    from model.openvino_cache import cache_dir_or_default

    loaded = load_audio_embedder(audio)
    return {"backend": audio.backend, "cache_dir": cache_dir_or_default(audio.cache_dir),
            "cache_hit": loaded.cache_hit}
