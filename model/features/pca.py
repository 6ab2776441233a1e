"""PCA whitening and 8-bit quantisation of frame features, exactly as YouTube-8M (pure numpy).

    f = ((x - mean) @ V[:, :K]) / sqrt(eigvals[:K] + 1e-4)      project, then whiten
    q = round((clip(f, -2, 2) + 2) * 255 / 4)  -> uint8          half-to-even, as Python's round
    x' = q * 4/255 + 4/512 - 2                                   YT8M's Dequantize

Parameters are stored as .npz (`mean` float32[D], `eigenvecs` float32[D,K], `eigenvals`
float32[K], `num_samples`): `pca_bytes` makes the file's bytes, `load_pca` reads one through
Beam FileSystems (local or gs://).
"""
from __future__ import annotations

import dataclasses
import io

import numpy as np

EPSILON = 1e-4
MIN_QUANTIZED = -2.0
MAX_QUANTIZED = 2.0


@dataclasses.dataclass(frozen=True)
class PCAParams:
    """mean float32[D]; eigenvecs float32[D,K] (columns, by decreasing eigenvalue); eigenvals float32[K]."""

    mean: np.ndarray
    eigenvecs: np.ndarray
    eigenvals: np.ndarray
    num_samples: int = 0

    @property
    def input_dim(self) -> int:
        return int(self.mean.shape[0])

    @property
    def dims(self) -> int:
        return int(self.eigenvals.shape[0])


def fit_pca(features: np.ndarray, dims: int = 1024) -> PCAParams:
    """Fit on float[N,D] samples (N > dims). Eigenvectors' signs are fixed (largest |component|
    positive) so refits on the same data give the same parameters."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be [N, D], got shape {x.shape}")
    n, d = x.shape
    if not 0 < dims <= d:
        raise ValueError(f"dims must be in 1..{d}, got {dims}")
    if n <= dims:
        raise ValueError(f"need more samples than dims to fit a {dims}-d PCA, got {n}")
    mean = x.mean(axis=0)
    centred = x - mean
    cov = centred.T @ centred / (n - 1)
    vals, vecs = np.linalg.eigh(cov)
    order = np.argsort(vals)[::-1][:dims]
    vals, vecs = np.clip(vals[order], 0.0, None), vecs[:, order]
    signs = np.sign(vecs[np.abs(vecs).argmax(axis=0), np.arange(dims)])
    vecs = vecs * np.where(signs == 0, 1.0, signs)
    return PCAParams(mean=mean.astype(np.float32), eigenvecs=vecs.astype(np.float32),
                     eigenvals=vals.astype(np.float32), num_samples=n)


def apply_pca(params: PCAParams, features: np.ndarray) -> np.ndarray:
    """float[T,D] -> float32[T,K]: ((x - mean) @ V) / sqrt(eigvals + 1e-4), as YT8M."""
    x = np.asarray(features, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != params.input_dim:
        raise ValueError(f"features must be [T, {params.input_dim}], got shape {x.shape}")
    projected = (x - params.mean) @ params.eigenvecs
    return (projected / np.sqrt(params.eigenvals + EPSILON)).astype(np.float32)


def quantize(features: np.ndarray, min_value: float = MIN_QUANTIZED,
             max_value: float = MAX_QUANTIZED) -> np.ndarray:
    """float[...] -> uint8[...]: clip to [min, max], then round((f - min) * 255 / range),
    half to even (YT8M's `int(round(f))` on float32 values)."""
    f = np.clip(np.asarray(features, dtype=np.float32), min_value, max_value)
    scaled = (f - np.float32(min_value)) * np.float32(255.0 / (max_value - min_value))
    return np.rint(scaled).astype(np.uint8)


def dequantize(quantized, min_value: float = MIN_QUANTIZED, max_value: float = MAX_QUANTIZED,
               dtype=np.float32):
    """uint8 codes -> values: q * range/255 + (range/512 + min) (YT8M's Dequantize).

    numpy in, numpy out, computed in `dtype` (float32 by default, as YT8M's TensorFlow graph
    computes it, so training and serving read the same values bit for bit); a TensorFlow tensor
    in, a float32 tensor out (the training reader's graph).
    """
    span = max_value - min_value
    scale, bias = span / 255.0, span / 512.0 + min_value
    if type(quantized).__module__.startswith("tensorflow"):
        import tensorflow as tf

        return tf.cast(quantized, tf.float32) * scale + bias
    return np.asarray(quantized).astype(dtype) * dtype(scale) + dtype(bias)


def encode_frames(params: PCAParams | None, features: np.ndarray) -> np.ndarray:
    """Stored per-frame values: uint8[T,K] with PCA, float16[T,D] without."""
    if params is None:
        return np.asarray(features, dtype=np.float16)
    return quantize(apply_pca(params, features))


def pca_bytes(params: PCAParams) -> bytes:
    """`params` as the bytes of an .npz file (the caller writes them where they belong)."""
    buffer = io.BytesIO()
    np.savez(buffer, mean=params.mean, eigenvecs=params.eigenvecs, eigenvals=params.eigenvals,
             num_samples=np.int64(params.num_samples))
    return buffer.getvalue()


def load_pca(path: str) -> PCAParams:
    """Read a .npz made by `pca_bytes` from `path` (any FileSystems path)."""
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        data = np.load(io.BytesIO(f.read()))
    params = PCAParams(mean=data["mean"].astype(np.float32).reshape(-1),
                       eigenvecs=data["eigenvecs"].astype(np.float32),
                       eigenvals=data["eigenvals"].astype(np.float32).reshape(-1),
                       num_samples=int(data["num_samples"]) if "num_samples" in data else 0)
    if params.eigenvecs.shape != (params.input_dim, params.dims):
        raise ValueError(f"{path}: eigenvecs shape {params.eigenvecs.shape} does not match "
                         f"mean {params.mean.shape} and eigenvals {params.eigenvals.shape}")
    return params


def from_yt8m(mean: np.ndarray, eigenvals: np.ndarray, eigenvecs: np.ndarray,
              dims: int = 1024) -> PCAParams:
    """YT8M's released yt8m_pca arrays (mean [2048,1], eigenvals [2048,1], eigenvecs [2048,2048],
    used as eigenvecs.T[:, :dims]) as PCAParams."""
    return PCAParams(mean=np.asarray(mean, np.float32).reshape(-1),
                     eigenvecs=np.asarray(eigenvecs, np.float32).T[:, :dims],
                     eigenvals=np.asarray(eigenvals, np.float32).reshape(-1)[:dims])
