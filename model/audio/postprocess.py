"""VGGish's postprocessing PCA: the published `.npz` format, and one derived for seeded weights.

    out = (embedding - pca_means.T) @ pca_eigen_vectors.T        float32[N,128] -> float32[N,128]

`pca_eigen_vectors` float[128,128] holds one component per row, `pca_means` float[128,1]. The
result is not clipped or quantised here: the feature-file codec quantises it to uint8 over
[-2, 2], YouTube-8M's mapping.

Seeded weights have no published PCA, so one is derived from the seeded network's embeddings of
generated calibration audio (`model.audio.calibration`): principal components, each scaled to a
standard deviation of 1/2 (WHITENED_STD) over the calibration set, so four standard deviations
fit in the quantiser's [-2, 2] and the uint8 codes are used without clipping the tails that a
random network's embeddings have. Variances below EIGENVALUE_FLOOR times the largest are
raised to it before scaling: a few hundred windows estimate the smallest of 128 components
badly, and dividing by their underestimated spread would blow them up on new audio (with the
floor, held-out windows keep about 0.4-0.5 std per component and under 0.3% of values outside
[-2, 2]). This plays the part that BatchNorm re-estimation plays for seeded Inception weights.
"""
from __future__ import annotations

import dataclasses
import io

import numpy as np

from model.audio.constants import DIM
from model.features.pca import EPSILON, fit_pca

WHITENED_STD = 0.5
EIGENVALUE_FLOOR = 0.01


@dataclasses.dataclass(frozen=True)
class VGGishPCA:
    """eigen_vectors float32[128,128] (rows are components), means float32[128,1]."""

    eigen_vectors: np.ndarray
    means: np.ndarray

    def __post_init__(self):
        if self.eigen_vectors.shape != (DIM, DIM) or self.means.shape != (DIM, 1):
            raise ValueError(f"PCA params must be pca_eigen_vectors [{DIM},{DIM}] and pca_means "
                             f"[{DIM},1], got {self.eigen_vectors.shape} and {self.means.shape}")

    def apply(self, embeddings: np.ndarray) -> np.ndarray:
        """float[N,128] raw embeddings -> float32[N,128] postprocessed (not clipped)."""
        x = np.asarray(embeddings, np.float32)
        return ((x - self.means.T) @ self.eigen_vectors.T).astype(np.float32)

    def to_bytes(self) -> bytes:
        """The published `.npz` format's bytes."""
        buffer = io.BytesIO()
        np.savez(buffer, pca_eigen_vectors=self.eigen_vectors, pca_means=self.means)
        return buffer.getvalue()


def from_bytes(data: bytes, what: str = "PCA params") -> VGGishPCA:
    """Parse a `.npz` in the published format (`pca_eigen_vectors`, `pca_means`)."""
    with np.load(io.BytesIO(data)) as npz:
        missing = {"pca_eigen_vectors", "pca_means"} - set(npz.files)
        if missing:
            raise ValueError(f"{what}: not VGGish PCA params, missing {sorted(missing)}")
        return VGGishPCA(eigen_vectors=npz["pca_eigen_vectors"].astype(np.float32),
                         means=npz["pca_means"].astype(np.float32).reshape(-1, 1))


def load_pca(path: str) -> VGGishPCA:
    """Read PCA params from `path` (any Beam FileSystems path: local or gs://)."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        return from_bytes(fh.read(), path)


def derive_pca(embeddings: np.ndarray, std: float = WHITENED_STD) -> VGGishPCA:
    """PCA params from float[M,128] raw embeddings (M > 128): components in decreasing variance,
    each scaled to standard deviation `std` over these embeddings (variances floored at
    EIGENVALUE_FLOOR of the largest)."""
    fitted = fit_pca(embeddings, dims=DIM)
    variances = np.maximum(fitted.eigenvals.astype(np.float64), EIGENVALUE_FLOOR * fitted.eigenvals.max())
    scale = std / np.sqrt(variances + EPSILON)
    rows = (fitted.eigenvecs.astype(np.float64) * scale).T
    return VGGishPCA(eigen_vectors=rows.astype(np.float32), means=fitted.mean.reshape(DIM, 1))
