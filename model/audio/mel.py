"""Log-mel examples, computed as VGGish's reference front end computes them (pure numpy).

One window of WINDOW_SAMPLES samples (16 kHz mono, floats in [-1, 1]) gives one example of
EXAMPLE_FRAMES x MEL_BANDS values:
  frames     STFT_WINDOW samples every STFT_HOP, no padding (exactly EXAMPLE_FRAMES frames);
  spectrum   periodic Hann window, |rfft| with FFT_SIZE points (the next power of two);
  mel        HTK mel scale (1127 ln(1 + f/700)), triangles laid out evenly in mel between
             MEL_MIN_HZ and MEL_MAX_HZ and evaluated on each FFT bin's mel value; the DC bin
             carries no weight;
  log        log(mel + LOG_OFFSET).
"""
from __future__ import annotations

import functools

import numpy as np

from model.audio.constants import (EXAMPLE_FRAMES, LOG_OFFSET, MEL_BANDS, MEL_MAX_HZ, MEL_MIN_HZ,
                                   SAMPLE_RATE, STFT_HOP, STFT_WINDOW, WINDOW_SAMPLES)

FFT_SIZE = 1 << int(np.ceil(np.log2(STFT_WINDOW)))   # 512
SPECTRUM_BINS = FFT_SIZE // 2 + 1                     # 257


def hertz_to_mel(hertz):
    """HTK mel scale: float[...] Hz -> float64[...] mel."""
    return 1127.0 * np.log1p(np.asarray(hertz, np.float64) / 700.0)


def periodic_hann(length: int) -> np.ndarray:
    """float64[length]: the periodic Hann window (the DFT-even one: its period is `length`)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)


@functools.cache
def mel_matrix() -> np.ndarray:
    """float64[SPECTRUM_BINS, MEL_BANDS]: spectrum magnitudes -> mel band energies.

    Band i is a triangle from edge i to edge i+2 of MEL_BANDS+2 edges spaced evenly in mel;
    its slopes are linear in mel (not in Hz), as VGGish's own filterbank.
    """
    bins_mel = hertz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2, SPECTRUM_BINS))[:, None]
    edges = np.linspace(hertz_to_mel(MEL_MIN_HZ), hertz_to_mel(MEL_MAX_HZ), MEL_BANDS + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins_mel - lower) / (center - lower)
    falling = (upper - bins_mel) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights[0, :] = 0.0  # the DC bin would otherwise leak into the lowest band
    weights.setflags(write=False)
    return weights


def check_windows(windows: np.ndarray, what: str = "windows") -> np.ndarray:
    """Validate float[N, WINDOW_SAMPLES] audio windows; returns them as C-contiguous float32."""
    windows = np.asarray(windows)
    if windows.ndim != 2 or windows.shape[1] != WINDOW_SAMPLES or windows.dtype.kind != "f":
        raise ValueError(f"{what} must be float32[N,{WINDOW_SAMPLES}] samples in [-1, 1], "
                         f"got {windows.dtype}{list(windows.shape)}")
    return np.ascontiguousarray(windows, dtype=np.float32)


def log_mel_examples(windows: np.ndarray) -> np.ndarray:
    """float32[N, WINDOW_SAMPLES] 16 kHz samples in [-1, 1] -> float32[N, 96, 64] log-mel examples.

    Computed in float32: twice as fast as the reference's float64, within 1e-5 of it. N may be 0.
    """
    windows = check_windows(windows)
    frames = np.lib.stride_tricks.sliding_window_view(windows, STFT_WINDOW, axis=1)[:, ::STFT_HOP]
    assert frames.shape[1] == EXAMPLE_FRAMES, frames.shape  # fixed by WINDOW_SAMPLES
    window = periodic_hann(STFT_WINDOW).astype(np.float32)
    spectrum = np.abs(np.fft.rfft(frames * window, FFT_SIZE, axis=-1))
    mel = spectrum @ mel_matrix().astype(np.float32)
    return np.log(mel + np.float32(LOG_OFFSET))
