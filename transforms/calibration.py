"""Calibration frames for the embedder, drawn or decoded here so that model/ needs no video code.

scene_frames: seeded generated scenes (BatchNorm re-estimation of seeded weights; int8
calibration when no sample videos are configured). video_frames: 1-fps frames of sample videos.
`CALIBRATION` hands both to model.embedding (EmbedderHandler, load_embedder).
"""
from __future__ import annotations

import numpy as np
from apache_beam.io.filesystems import FileSystems

from model.embedding.config import EmbedderConfig
from model.embedding.constants import INPUT_SIZE, Frames
from model.embedding.embedder import Embedder
from model.embedding.handler import CalibrationSource, load_embedder


def scene_frames(seed: int, count: int) -> Frames:
    """uint8[count,299,299,3]: seeded category scenes (varied hues, stripes, shapes, textures)."""
    from transforms.synthetic_video import SceneRenderer

    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        renderer = SceneRenderer(int(rng.integers(0, 1000)), INPUT_SIZE, INPUT_SIZE, rng)
        frames.append(renderer.frame(float(rng.uniform(0, 30))))
    return np.stack(frames)


def video_frames(pattern: str, count: int) -> Frames:
    """uint8[count,299,299,3]: `count` frames taken evenly over the 1-fps samples of every video
    matching `pattern` (a glob, or a directory meaning every file in it; local or gs://), in
    path order. Videos that fail to decode are skipped; raises ValueError when no frame is left."""
    from transforms.decode import DecodeConfig, VideoRejected, decode_video

    if not any(ch in pattern for ch in "*?["):
        pattern = FileSystems.join(pattern, "*")
    paths = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    decoded = []
    for path in paths:
        try:
            decoded.append(decode_video(path, DecodeConfig(size=INPUT_SIZE)).frames)
        except VideoRejected:
            continue
    pool = np.concatenate(decoded) if decoded else np.zeros((0, INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    if len(pool) == 0:
        raise ValueError(f"no decodable video frames for calibration in {pattern} ({len(paths)} files)")
    return pool[np.linspace(0, len(pool) - 1, count).round().astype(int)]


CALIBRATION = CalibrationSource(scenes=scene_frames, videos=video_frames)


def embedder_for(config: EmbedderConfig) -> Embedder:
    """A newly loaded Embedder for `config`, calibrated with this module's frames (each call
    loads one: callers outside a pipeline keep what they load)."""
    return load_embedder(config, CALIBRATION)
