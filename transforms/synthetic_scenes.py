"""Synthetic "category scenes": frames distinctive for a class, for demo models that must learn
the class from Inception features (`VideoSpec(content="scene")` in synthetic_video.py).
"""
from __future__ import annotations

import colorsys
import math

import numpy as np


def category_frame(category: int, t: float, width: int, height: int,
                   rng: np.random.Generator) -> np.ndarray:
    """uint8[H,W,3] RGB frame at time `t` (s) of a scene distinctive for class `category`.

    The class sets the background hue (golden-ratio spaced), stripe angle and spatial frequency,
    and the number, colour and speed of moving discs; `rng` adds per-video jitter and noise.
    For whole videos prefer `SceneRenderer`, which keeps a per-video panning texture.
    """
    return SceneRenderer(category, width, height, rng).frame(t)


class SceneRenderer:
    """Frames of one category-scene video: class-specific stripes and moving discs over a
    seeded, slowly panning smooth texture, plus light temporal noise (camera-like content that
    codecs compress with B-frames, as real footage)."""

    def __init__(self, category: int, width: int, height: int, rng: np.random.Generator):
        self.category, self.width, self.height, self.rng = category, width, height, rng
        golden = 0.61803398875
        self.hue = (category * golden + float(rng.uniform(-0.03, 0.03))) % 1.0
        self.angle = math.pi * ((category * 0.37) % 1.0) + float(rng.uniform(-0.1, 0.1))
        self.freq = 2.0 + (category * 5) % 7  # stripes per frame width
        self.base = np.array(colorsys.hsv_to_rgb(self.hue, 0.8, 0.9), np.float32)
        self.comp = np.array(colorsys.hsv_to_rgb((self.hue + 0.5) % 1.0, 0.9, 0.6), np.float32)
        self.phase0 = float(rng.uniform(0, 2 * math.pi))
        pad = max(width, height) // 2
        coarse = rng.normal(0, 1, (height // 16 + 4, width // 16 + 4 + pad // 16, 1))
        texture = np.kron(coarse, np.ones((16, 16, 1)))[: height + 32, : width + pad]
        self.texture = (0.12 * texture).astype(np.float32)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        self.yy, self.xx = yy, xx
        self.u = (xx * math.cos(self.angle) + yy * math.sin(self.angle)) / max(width, height)

    def frame(self, t: float) -> np.ndarray:
        """uint8[H,W,3] RGB frame at `t` seconds (draws this video's noise from `rng`)."""
        c, width, height = self.category, self.width, self.height
        stripes = 0.5 + 0.5 * np.sin(2 * math.pi * (self.freq * self.u - 0.25 * t * (1 + c % 3)))
        image = stripes[..., None] * self.base + (1 - stripes[..., None]) * self.comp
        shift = int(t * 20) % max(1, self.texture.shape[1] - width)
        image = image + self.texture[:height, shift:shift + width]
        for k in range(1 + c % 4):
            phase = 2 * math.pi * (k / (1 + c % 4)) + self.phase0
            speed = 0.3 + 0.2 * (c % 5)
            cx = width * (0.5 + 0.35 * math.cos(phase + speed * t))
            cy = height * (0.5 + 0.35 * math.sin(phase + 1.3 * speed * t))
            radius = max(width, height) * (0.06 + 0.02 * (c % 3))
            disc = (self.xx - cx) ** 2 + (self.yy - cy) ** 2 < radius**2
            image[disc] = colorsys.hsv_to_rgb((self.hue + 0.25 + 0.1 * k) % 1.0, 1.0, 1.0)
        image = image * 255 + self.rng.normal(0, 1.5, image.shape[:2])[..., None]
        return np.clip(image, 0, 255).astype(np.uint8)
