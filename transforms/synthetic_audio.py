"""Generated sound tracks for synthetic videos: category-typical audio, alignment beeps, and
broken audio streams (re-exported by synthetic_video.py).

`category_audio(kind, seed, duration_s, rate)` makes one of KINDS, mono float32 in [-1, 1]:
  tone     a steady harmonic tone: f0 220-880 Hz, 2-3 harmonics, slight 4-6 Hz vibrato;
  noise    band-limited noise, a "sizzle": a 1.5-2.5 kHz wide band inside 2-6 kHz;
  rhythm   percussive beats at 2-3 per second: a decaying 60-120 Hz thump plus a short click;
  speech   noise shaped by three formant-like bands, amplitude-modulated at a 3-5 Hz
           syllable rate with seeded pauses;
  silence  zeros.
The seed varies pitch, band, tempo and formants inside a kind, so two videos of one kind differ
while the kinds stay apart (spectral centroid, tonality, envelope rhythm).
`beep_audio` is silence with one tone burst at a known time, for alignment tests.
`corrupt_audio` garbles the payload of every audio packet of a file, leaving video intact.
"""
from __future__ import annotations

import math

import av
import numpy as np

KINDS = ("tone", "noise", "rhythm", "speech", "silence")
_LEVEL = 0.5  # peak amplitude of a generated sound: headroom for lossy coding


def category_audio(kind: str, seed: int, duration_s: float, rate: int) -> np.ndarray:
    """float32[int(duration_s * rate)] mono samples in [-1, 1] of sound `kind` (one of KINDS),
    deterministic for (kind, seed, duration_s, rate)."""
    if kind not in KINDS:
        raise ValueError(f"audio kind must be one of {list(KINDS)}, got {kind!r}")
    if duration_s < 0 or rate <= 0:
        raise ValueError(f"need duration_s >= 0 and rate > 0, got {duration_s}, {rate}")
    n = int(duration_s * rate)
    if kind == "silence" or n == 0:
        return np.zeros(n, np.float32)
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    t = np.arange(n) / rate
    make = {"tone": _tone, "noise": _band_noise, "rhythm": _rhythm, "speech": _speech}[kind]
    samples = make(rng, t, rate)
    peak = float(np.max(np.abs(samples)))
    return (samples * (_LEVEL / peak) if peak > 0 else samples).astype(np.float32)


def _tone(rng: np.random.Generator, t: np.ndarray, rate: int) -> np.ndarray:
    f0 = rng.uniform(220.0, 880.0)
    vibrato = 0.005 * np.sin(2 * math.pi * rng.uniform(4.0, 6.0) * t)   # +-0.5 % of the pitch
    phase = 2 * math.pi * f0 * (t + np.cumsum(vibrato) / rate)
    harmonics = int(rng.integers(2, 4))
    out = np.zeros_like(t)
    for h in range(1, harmonics + 1):
        if h * f0 < rate / 2:
            out += np.sin(h * phase) / h
    return out


def _spectral_filter(noise: np.ndarray, rate: int, gain) -> np.ndarray:
    """float64[N] noise filtered in the frequency domain by gain(freqs float64[F]) -> float64[F]."""
    spectrum = np.fft.rfft(noise)
    return np.fft.irfft(spectrum * gain(np.fft.rfftfreq(len(noise), 1.0 / rate)), len(noise))


def _band_noise(rng: np.random.Generator, t: np.ndarray, rate: int) -> np.ndarray:
    nyquist = rate / 2
    low = min(rng.uniform(2000.0, 3500.0), 0.5 * nyquist)
    high = min(low + rng.uniform(1500.0, 2500.0), 6000.0, 0.95 * nyquist)
    return _spectral_filter(rng.normal(size=len(t)), rate,
                            lambda f: ((f >= low) & (f <= high)).astype(float))


def _rhythm(rng: np.random.Generator, t: np.ndarray, rate: int) -> np.ndarray:
    period = 1.0 / rng.uniform(2.0, 3.0)
    thump_hz = rng.uniform(60.0, 120.0)
    since = np.mod(t - rng.uniform(0.0, period), period)  # seconds since the last beat
    thump = np.sin(2 * math.pi * thump_hz * since) * np.exp(-since / 0.04)
    click = rng.normal(size=len(t)) * np.exp(-since / 0.002)
    return thump + 0.3 * click


def _speech(rng: np.random.Generator, t: np.ndarray, rate: int) -> np.ndarray:
    centres = [rng.uniform(400, 800), rng.uniform(1000, 1800), rng.uniform(2200, 3000)]
    widths = [rng.uniform(80, 160) for _ in centres]

    def formants(f):
        return sum(np.exp(-0.5 * ((f - c) / w) ** 2) / (i + 1)
                   for i, (c, w) in enumerate(zip(centres, widths)))

    voiced = _spectral_filter(rng.normal(size=len(t)), rate, formants)
    syllable_hz = rng.uniform(3.0, 5.0)
    envelope = np.sin(math.pi * np.mod(t * syllable_hz, 1.0)) ** 2   # one bump per syllable
    pauses = rng.random(int(t[-1] * syllable_hz) + 2) < 0.2           # some syllables silent
    envelope = envelope * ~pauses[(t * syllable_hz).astype(int)]
    return voiced * envelope


def beep_audio(duration_s: float, rate: int, start_s: float, length_s: float,
               freq: float = 1000.0) -> np.ndarray:
    """float32[int(duration_s * rate)]: silence with one sine burst of `freq` Hz (amplitude
    0.5) on [start_s, start_s + length_s), cut to the track."""
    n = int(duration_s * rate)
    out = np.zeros(n, np.float32)
    first = max(0, int(round(start_s * rate)))
    last = min(n, int(round((start_s + length_s) * rate)))
    if last > first:
        t = np.arange(last - first) / rate
        out[first:last] = _LEVEL * np.sin(2 * math.pi * freq * t)
    return out


def corrupt_audio(src: str, dst: str, seed: int = 0) -> str:
    """Copy `src` (a file with video and audio streams) to `dst`, overwriting the middle half
    of every audio packet's payload with seeded random bytes; video packets and the container
    structure stay untouched, so the video decodes as before. AAC (.mp4) then fails to decode
    almost every audio packet; Opus (.webm) conceals the damage and decodes noise.

    A packet is found at its demuxed position (`packet.pos`: the payload itself in MP4, the
    block header just before it in Matroska/WebM) by searching for its bytes from there."""
    with av.open(src) as container:
        if not container.streams.audio:
            raise ValueError(f"{src}: no audio stream to corrupt")
        packets = [(packet.pos, bytes(packet))
                   for packet in container.demux(container.streams.audio[0])
                   if packet.size and packet.pos is not None and packet.pos >= 0]
    data = bytearray(open(src, "rb").read())
    rng = np.random.default_rng(seed)
    found = 0
    for pos, payload in packets:
        start = data.find(payload, pos, pos + len(payload) + 64)
        if start < 0:
            continue
        size = len(payload)
        lo, hi = start + size // 4, start + max(size - size // 4, size // 4 + 1)
        data[lo:hi] = rng.integers(0, 256, hi - lo, dtype=np.uint8).tobytes()
        found += 1
    if not found:
        raise ValueError(f"{src}: found no audio packet payload to corrupt")
    with open(dst, "wb") as f:
        f.write(bytes(data))
    return dst
