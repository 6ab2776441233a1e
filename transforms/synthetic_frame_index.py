"""The frame-index code drawn into synthetic "index" videos, so a decoded frame says which source
frame it is, even after lossy coding and a resize to 299x299.

A frame's index is drawn as an INDEX_GRID x INDEX_GRID grid of black/white blocks (16 bits, MSB
top-left, white = 1): `frame_index_image` draws it as RGB, `index_plane` as one gray plane (for
frames encoded straight from YUV), and `read_frame_index` reads it back from any decoded image.
"""
from __future__ import annotations

import numpy as np

INDEX_GRID = 4  # the frame-index code is INDEX_GRID x INDEX_GRID bits


def frame_index_image(index: int, height: int, width: int) -> np.ndarray:
    """uint8[H,W,3] RGB: `index` as INDEX_GRID**2 bits, white block = 1, MSB top-left."""
    bits = INDEX_GRID * INDEX_GRID
    if not 0 <= index < 2**bits:
        raise ValueError(f"frame index {index} does not fit in {bits} bits")
    image = np.zeros((height, width, 3), np.uint8)
    rows = np.linspace(0, height, INDEX_GRID + 1).round().astype(int)
    cols = np.linspace(0, width, INDEX_GRID + 1).round().astype(int)
    for b in range(bits):
        if index >> (bits - 1 - b) & 1:
            r, c = divmod(b, INDEX_GRID)
            image[rows[r]:rows[r + 1], cols[c]:cols[c + 1]] = 255
    return image


def read_frame_index(image: np.ndarray) -> int:
    """The index `frame_index_image` drew into `image` (uint8[H,W,3], any size), read at block
    centres."""
    height, width = image.shape[:2]
    gray = image.astype(np.float32).mean(axis=2)
    value = 0
    for b in range(INDEX_GRID * INDEX_GRID):
        r, c = divmod(b, INDEX_GRID)
        y0, y1 = int((r + 0.3) * height / INDEX_GRID), int((r + 0.7) * height / INDEX_GRID) + 1
        x0, x1 = int((c + 0.3) * width / INDEX_GRID), int((c + 0.7) * width / INDEX_GRID) + 1
        value = value << 1 | int(gray[y0:y1, x0:x1].mean() > 127)
    return value


def index_plane(index: int, height: int, width: int) -> np.ndarray:
    """uint8[H,W]: `frame_index_image` as one gray plane, built without an RGB frame (cheap for
    huge frames)."""
    bits = INDEX_GRID * INDEX_GRID
    grid = np.array([index >> (bits - 1 - b) & 1 for b in range(bits)], np.uint8)
    grid = grid.reshape(INDEX_GRID, INDEX_GRID) * 255
    rows = np.diff(np.linspace(0, height, INDEX_GRID + 1).round().astype(int))
    cols = np.diff(np.linspace(0, width, INDEX_GRID + 1).round().astype(int))
    return np.repeat(np.repeat(grid, rows, axis=0), cols, axis=1)
