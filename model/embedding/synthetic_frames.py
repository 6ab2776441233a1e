"""A labelled synthetic frame task for the embedding backends' quality guard and benchmarks.

`synthetic_frames()` draws a multi-label frame task: each class is a texture family (waveform,
orientation, spatial frequency, palette) and a frame shows the textures of its 1-3 labels in
separate regions, under nuisance variation (phase, jitter, brightness, noise), so a classifier
on the features has to work for its score. The model itself comes from
`model.embedding.inception.build_inception` (seeded weights with re-estimated BatchNorm where no real
weights exist).
"""
from __future__ import annotations

import numpy as np

from model.embedding.constants import INPUT_SIZE as FRAME_SIZE
_WAVES = ("sine", "square", "checker", "rings")


def _class_params(num_classes: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    params = []
    for c in range(num_classes):
        params.append({
            "wave": _WAVES[c % len(_WAVES)],
            "theta": rng.uniform(0, np.pi),
            "freq": rng.uniform(4.0, 18.0),  # cycles per frame
            "colors": rng.uniform(0, 255, size=(2, 3)),
        })
    return params


def _texture(p: dict, rng: np.random.Generator, jitter: float) -> np.ndarray:
    """One class texture, float32[299,299,3] in [0,255]."""
    n = FRAME_SIZE
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / n
    theta = p["theta"] + rng.normal(0, 0.25 * jitter)
    freq = p["freq"] * (1 + rng.normal(0, 0.2 * jitter))
    phase = rng.uniform(0, 2 * np.pi)
    u = xx * np.cos(theta) + yy * np.sin(theta)
    if p["wave"] == "sine":
        w = 0.5 + 0.5 * np.sin(2 * np.pi * freq * u + phase)
    elif p["wave"] == "square":
        w = (np.sin(2 * np.pi * freq * u + phase) > 0).astype(np.float32)
    elif p["wave"] == "checker":
        v = -xx * np.sin(theta) + yy * np.cos(theta)
        w = ((np.sin(2 * np.pi * freq * u + phase) * np.sin(2 * np.pi * freq * v)) > 0).astype(np.float32)
    else:  # rings around a random centre
        cy, cx = rng.uniform(0.2, 0.8, size=2)
        r = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        w = 0.5 + 0.5 * np.sin(2 * np.pi * freq * r + phase)
    colors = p["colors"] + rng.normal(0, 40 * jitter, size=(2, 3))
    return (w[..., None] * colors[0] + (1 - w[..., None]) * colors[1]).astype(np.float32)


def synthetic_frames(n: int, num_classes: int = 10, seed: int = 0, task_seed: int = 1234,
                     jitter: float = 0.75, noise: float = 16.0) -> tuple[np.ndarray, np.ndarray]:
    """A labelled multi-label frame set.

    Args:
      n: number of frames.
      num_classes: number of texture classes.
      seed: draws the frames (different seeds give disjoint samples of the same task).
      task_seed: defines the classes; keep it fixed to compare splits of the same task.
      jitter: scale of the nuisance variation of each texture (0 = exact prototypes).
      noise: standard deviation of the added pixel noise, in uint8 steps.

    Returns:
      frames: uint8[n,299,299,3] RGB.
      labels: float32[n,num_classes], 1-3 ones per row.
    """
    params = _class_params(num_classes, task_seed)
    rng = np.random.default_rng(seed)
    frames = np.empty((n, FRAME_SIZE, FRAME_SIZE, 3), np.uint8)
    labels = np.zeros((n, num_classes), np.float32)
    yy, xx = np.mgrid[0:FRAME_SIZE, 0:FRAME_SIZE].astype(np.float32) / FRAME_SIZE
    for i in range(n):
        k = rng.integers(1, 4)
        cls = rng.choice(num_classes, size=k, replace=False)
        labels[i, cls] = 1.0
        # Regions: the nearest of k random seed points (a Voronoi split of the frame).
        pts = rng.uniform(0, 1, size=(k, 2))
        owner = np.argmin((yy[None] - pts[:, 0, None, None]) ** 2 + (xx[None] - pts[:, 1, None, None]) ** 2, axis=0)
        img = np.zeros((FRAME_SIZE, FRAME_SIZE, 3), np.float32)
        for j, c in enumerate(cls):
            img += (owner == j)[..., None] * _texture(params[c], rng, jitter)
        img = img * rng.uniform(0.6, 1.2) + rng.normal(0, noise, size=img.shape)
        frames[i] = np.clip(img, 0, 255).astype(np.uint8)
    return frames, labels
