"""Generated calibration audio: the windows a seeded network's PCA is fitted on (pure numpy).

`calibration_windows(seed, count)` -> float32[count, WINDOW_SAMPLES], 16 kHz samples in [-1, 1],
a seeded mix of the kinds of sound the spectrum front end separates: harmonic tones, chirps,
band-limited noise, click trains, tones over noise, and near-silence, at levels from quiet to
loud. The same (seed, count) gives the same samples on every machine.
"""
from __future__ import annotations

import numpy as np

from model.audio.constants import SAMPLE_RATE, WINDOW_SAMPLES

_T = np.arange(WINDOW_SAMPLES) / SAMPLE_RATE


def _tone(rng: np.random.Generator) -> np.ndarray:
    f0 = rng.uniform(80.0, 4000.0)
    harmonics = np.arange(1, rng.integers(1, 6) + 1)
    harmonics = harmonics[harmonics * f0 < SAMPLE_RATE / 2]
    weights = rng.uniform(0.2, 1.0, len(harmonics)) / harmonics
    phases = rng.uniform(0, 2 * np.pi, len(harmonics))
    return (weights[:, None] * np.sin(2 * np.pi * f0 * harmonics[:, None] * _T + phases[:, None])).sum(0)


def _chirp(rng: np.random.Generator) -> np.ndarray:
    f_start, f_end = rng.uniform(100.0, 6000.0, 2)
    phase = 2 * np.pi * (f_start * _T + (f_end - f_start) * _T ** 2 / (2 * _T[-1]))
    return np.sin(phase)


def _noise_band(rng: np.random.Generator) -> np.ndarray:
    low = rng.uniform(50.0, 6000.0)
    high = min(low * rng.uniform(1.2, 4.0), SAMPLE_RATE / 2)
    spectrum = np.fft.rfft(rng.standard_normal(WINDOW_SAMPLES))
    freqs = np.fft.rfftfreq(WINDOW_SAMPLES, 1 / SAMPLE_RATE)
    spectrum[(freqs < low) | (freqs > high)] = 0  # an ideal band-pass: enough for calibration
    return np.fft.irfft(spectrum, WINDOW_SAMPLES)


def _clicks(rng: np.random.Generator) -> np.ndarray:
    out = np.zeros(WINDOW_SAMPLES)
    period = int(SAMPLE_RATE / rng.uniform(2.0, 40.0))
    decay = np.exp(-np.arange(64) / rng.uniform(2.0, 16.0))
    for start in range(int(rng.integers(0, period)), WINDOW_SAMPLES - len(decay), period):
        out[start:start + len(decay)] += decay * rng.choice([-1.0, 1.0])
    return out


def _tone_over_noise(rng: np.random.Generator) -> np.ndarray:
    noise = _noise_band(rng)
    return _tone(rng) + rng.uniform(0.05, 0.5) * noise / max(noise.std(), 1e-12)


def _silence(rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(WINDOW_SAMPLES) * 10.0 ** rng.uniform(-6, -4)


KINDS = (_tone, _chirp, _noise_band, _clicks, _tone_over_noise, _silence)


def calibration_windows(seed: int, count: int) -> np.ndarray:
    """float32[count, WINDOW_SAMPLES]: `count` generated windows, kinds in turn, levels drawn."""
    rng = np.random.default_rng([seed, 0xA0D10])
    out = np.empty((count, WINDOW_SAMPLES), np.float32)
    for i in range(count):
        sound = KINDS[i % len(KINDS)](rng)
        peak = np.abs(sound).max()
        if KINDS[i % len(KINDS)] is not _silence and peak > 0:
            sound = sound / peak * 10.0 ** rng.uniform(-2.5, 0)  # -50 dB to full scale
        out[i] = np.clip(sound, -1.0, 1.0)
    return out
