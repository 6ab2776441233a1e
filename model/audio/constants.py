"""The audio embedder's fixed shapes: VGGish's log-mel examples, as YouTube-8M computed them.

A video's audio is resampled to SAMPLE_RATE mono and cut into one window per sampling target
(the same 1-fps grid as the frames): WINDOW_SAMPLES samples starting at the target's time. A
window gives one log-mel example of EXAMPLE_FRAMES frames (STFT_WINDOW-sample Hann windows every
STFT_HOP samples: 25 ms / 10 ms) x MEL_BANDS bands (MEL_MIN_HZ..MEL_MAX_HZ), i.e. 0.96 s of
frame starts, and the network turns it into one DIM-d embedding.
"""
from __future__ import annotations

NAME = "vggish"
SAMPLE_RATE = 16_000
STFT_WINDOW = 400                     # 25 ms
STFT_HOP = 160                        # 10 ms
EXAMPLE_FRAMES = 96                   # 0.96 s of frame starts
MEL_BANDS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.01                     # log(mel + offset), as VGGish
WINDOW_SAMPLES = STFT_WINDOW + (EXAMPLE_FRAMES - 1) * STFT_HOP   # 15,600 samples = 0.975 s
DIM = 128
EXAMPLE_SHAPE = (EXAMPLE_FRAMES, MEL_BANDS)
