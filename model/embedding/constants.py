"""The frame embedder's fixed shapes: Inception-v3's input and its average-pool output."""
from __future__ import annotations

import numpy as np

NAME = "inception_v3"
INPUT_SIZE = 299                       # frames are resized whole to INPUT_SIZE x INPUT_SIZE
FRAME_SHAPE = (INPUT_SIZE, INPUT_SIZE, 3)
DIM = 2048                             # average-pool features per frame

Frames = np.ndarray    # uint8[N,299,299,3] RGB
Features = np.ndarray  # float32[N,2048]
