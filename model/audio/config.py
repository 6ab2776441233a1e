"""AudioEmbedderConfig: which VGGish weights and PCA, which backend, how windows are batched."""
from __future__ import annotations

import dataclasses
import os

from model.audio.constants import DIM, NAME
from model.embedding.config import weights_version

BACKENDS = ("keras-fp32", "openvino-fp32", "openvino-int8")
DEFAULT_CALIBRATION_WINDOWS = 256


@dataclasses.dataclass(frozen=True)
class AudioEmbedderConfig:
    """weights: "seeded" (random from `seed`) or a path to a VGGish `.weights.h5` file (made by
      `klio model convert-vggish` from the published checkpoint).
    seed: required with "seeded", not allowed otherwise.
    pca_params: a `.npz` with `pca_eigen_vectors` float[128,128] and `pca_means` float[128,1]
      (VGGish's published postprocessing format); None: seeded weights derive theirs from
      generated calibration audio, file weights need one.
    backend: "keras-fp32" (the reference), "openvino-fp32" (converted once, cached) or
      "openvino-int8" (the default: also NNCF-quantised, calibrated on `int8_calibration`;
      about 3x faster than openvino-fp32 on one AVX-512 VNNI thread).
    batch_size: windows per model call (16: about 50 MiB less working memory than 32 for 4%
      fewer windows/s); batch_windows: windows per RunInference batch (64, one 60-s video's).
    calibration_windows: generated windows the seeded PCA is fitted on (more than DIM), and
      openvino-int8 is calibrated on. With a weights file int8 is calibrated on the same
      generated sounds (seed 0): real audio from the videos it will see would calibrate
      better, and is not supported yet.
    cache_dir: where the OpenVINO conversion is cached (None: the default cache,
      model.openvino_cache.cache_dir_or_default(), as the classifier's).
    """

    weights: str = "seeded"
    seed: int | None = 0
    pca_params: str | None = None
    backend: str = "openvino-int8"
    batch_size: int = 16
    batch_windows: int = 64
    calibration_windows: int = DEFAULT_CALIBRATION_WINDOWS
    cache_dir: str | None = None

    def __post_init__(self):
        if not self.weights:
            raise ValueError('AudioEmbedderConfig.weights must be "seeded" or a path to a .weights.h5 file')
        if self.weights == "seeded" and self.seed is None:
            raise ValueError('AudioEmbedderConfig: weights="seeded" needs an explicit seed')
        if self.weights != "seeded" and self.seed is not None:
            raise ValueError('AudioEmbedderConfig: seed is only valid with weights="seeded" '
                             "(set seed: null with a weights file)")
        if self.weights != "seeded" and not self.pca_params:
            raise ValueError("AudioEmbedderConfig: a weights file needs its pca_params "
                             "(vggish_pca_params.npz); only seeded weights derive their own")
        if self.backend not in BACKENDS:
            raise ValueError(f"AudioEmbedderConfig.backend {self.backend!r}: expected one of {', '.join(BACKENDS)}")
        if self.backend == "openvino-int8" and self.calibration_windows < 1:
            raise ValueError("AudioEmbedderConfig: openvino-int8 needs calibration_windows >= 1")
        if self.batch_size < 1 or self.batch_windows < 1:
            raise ValueError("AudioEmbedderConfig: batch_size and batch_windows must be >= 1")
        if self.weights == "seeded" and self.pca_params is None and self.calibration_windows <= DIM:
            raise ValueError(f"AudioEmbedderConfig.calibration_windows must exceed {DIM} to fit a "
                             f"{DIM}-d PCA, got {self.calibration_windows}")

    @property
    def weights_id(self) -> str:
        """"seeded:0", or "file:vggish.weights.h5" (the basename) for a weights file."""
        if self.weights == "seeded":
            return f"seeded:{self.seed}"
        return f"file:{os.path.basename(self.weights)}"

    @property
    def version(self) -> str:
        """e.g. "keras-3.15.1;seeded:0": what the feature files record."""
        return weights_version(self.weights_id)

    @property
    def precision(self) -> str:
        """"int8" for openvino-int8, else "fp32"."""
        return self.backend.rsplit("-", 1)[1]

    @property
    def int8_calibration(self) -> tuple[int, int]:
        """(seed, count) of the generated windows openvino-int8 is calibrated on:
        `calibration.calibration_windows(seed, count)`, seed 0 for a weights file."""
        return (self.seed if self.weights == "seeded" else 0), self.calibration_windows

    @property
    def name(self) -> str:
        return NAME
