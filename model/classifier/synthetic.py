"""Seeded synthetic YouTube-8M-format data for tests and demos.

Classes are defined by frame content (or by metadata), in four kinds, indexed in this order:
  dense     the class prototype fills 30-60 % of the frames;
  sparse    "few informative frames": 2-4 frames among 20-60 generic ones carry the prototype;
  metadata  no visual signal at all; the upload category carries it (90 % of the class's
            videos have the class's own upload category, 4 % of the others do);
  audio     look alike, sound different: classes come in pairs (2k, 2k+1 among the audio
            classes) that share one visual prototype (on 30-60 % of the frames, so frames cannot
            tell the two apart); each has its own audio prototype, on 30-60 % of the audio frames.
Generic frames come from two per-video scene centres drawn afresh for every video (isotropic,
so no direction of feature space is free of them); every frame gets Gaussian noise. A frame
vector lies roughly in [-2, 2] and is YT8M-quantised to uint8 (or stored as float16).
Language, duration and channel are random (they carry no signal).

With audio_feature_size > 0 every video also has audio frames float32[T, audio_feature_size],
one per rgb frame, made the same way (two generic audio scenes + noise; only audio classes put
a prototype there), written as the uint8 `audio` feature list. Audio is drawn from a second
random stream, so with audio_classes=0 the rgb frames, labels and metadata are exactly those
of the same spec without audio (and audio_feature_size=0 writes the files of old).

Each video has 1-2 labels. Files: {split}-{i:05d}-of-{n:05d}.tfrecord, plus classes.json with
each class's kind and the audio pairs.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

import numpy as np

from model.classifier.data import write_tfrecord
from model.features.codec import sequence_example

DENSE, SPARSE, METADATA_KIND, AUDIO_KIND = "dense", "sparse", "metadata", "audio"
GENERIC_CATEGORIES = ("people", "entertainment", "howto", "news", "comedy")
LANGUAGES = ("en", "es", "de", "fr")


@dataclass(frozen=True)
class SyntheticSpec:
    """Shape of a synthetic dataset; every random draw comes from `seed`."""

    num_videos: int = 1500
    feature_size: int = 64
    min_frames: int = 20
    max_frames: int = 60
    dense_classes: int = 6
    sparse_classes: int = 4
    metadata_classes: int = 2
    sparse_frames: tuple[int, int] = (2, 4)
    prototype_scale: float = 0.6
    scene_scale: float = 0.5
    noise: float = 0.3
    encoding: str = "uint8"
    seed: int = 0
    audio_classes: int = 0       # even: pairs of look-alike classes told apart by audio only
    audio_feature_size: int = 0  # 0 = no audio feature list; 128 as YouTube-8M

    def __post_init__(self) -> None:
        if self.num_classes < 2:
            raise ValueError("synthetic: need at least 2 classes in total")
        if not 0 < self.min_frames <= self.max_frames:
            raise ValueError(f"synthetic: need 0 < min_frames <= max_frames, got "
                             f"{self.min_frames}, {self.max_frames}")
        if self.sparse_frames[1] >= self.min_frames:
            raise ValueError("synthetic: sparse_frames must stay below min_frames")
        if self.encoding not in ("uint8", "float16"):
            raise ValueError(f"synthetic: encoding must be 'uint8' or 'float16', got {self.encoding!r}")
        if self.audio_classes < 0 or self.audio_classes % 2:
            raise ValueError(f"synthetic: audio_classes must be an even number >= 0 (pairs), "
                             f"got {self.audio_classes}")
        if self.audio_feature_size < 0 or (self.audio_classes and not self.audio_feature_size):
            raise ValueError(f"synthetic: audio classes need audio_feature_size > 0, got "
                             f"{self.audio_feature_size}")

    @property
    def num_classes(self) -> int:
        return self.dense_classes + self.sparse_classes + self.metadata_classes + self.audio_classes

    @property
    def class_kinds(self) -> tuple[str, ...]:
        return ((DENSE,) * self.dense_classes + (SPARSE,) * self.sparse_classes
                + (METADATA_KIND,) * self.metadata_classes + (AUDIO_KIND,) * self.audio_classes)

    def classes_of(self, kind: str) -> list[int]:
        return [i for i, k in enumerate(self.class_kinds) if k == kind]

    @property
    def audio_pairs(self) -> list[tuple[int, int]]:
        """The look-alike pairs of audio classes (same visual prototype, own audio prototype)."""
        audio = self.classes_of(AUDIO_KIND)
        return list(zip(audio[::2], audio[1::2]))


@dataclass
class SyntheticVideo:
    """rgb float32[T, D]; labels sorted class indices; metadata dict (model/classifier/metadata.py
    keys); audio float32[T, A] (None when the spec has audio_feature_size 0)."""

    video_id: str
    rgb: np.ndarray
    labels: list[int]
    metadata: dict
    audio: np.ndarray | None = None


def metadata_category(class_index: int) -> str:
    """The upload category that signals a metadata-kind class."""
    return f"topic-{class_index}"


def generate_videos(spec: SyntheticSpec) -> list[SyntheticVideo]:
    """The spec's videos, in order; rgb float32[T, feature_size], audio float32[T, A] or None."""
    rng = np.random.default_rng(spec.seed)
    d = spec.feature_size
    prototypes = rng.normal(0.0, spec.prototype_scale, size=(spec.num_classes, d))
    for first, second in spec.audio_pairs:
        prototypes[second] = prototypes[first]  # the pair looks alike: only audio tells them apart
    audio = _AudioSource(spec) if spec.audio_feature_size else None
    kinds = spec.class_kinds
    meta_classes = spec.classes_of(METADATA_KIND)
    videos = []
    for v in range(spec.num_videos):
        frames = int(rng.integers(spec.min_frames, spec.max_frames + 1))
        scenes = rng.normal(0.0, spec.scene_scale, size=(2, d))
        rgb = scenes[rng.integers(0, 2, size=frames)]
        labels = sorted(rng.choice(spec.num_classes, size=int(rng.integers(1, 3)), replace=False).tolist())
        free = np.ones(frames, dtype=bool)
        for c in labels:
            if kinds[c] == METADATA_KIND:
                continue
            if kinds[c] == SPARSE:
                count = int(rng.integers(spec.sparse_frames[0], spec.sparse_frames[1] + 1))
            else:  # dense and audio classes
                count = int(round(frames * rng.uniform(0.3, 0.6)))
            slots = rng.choice(np.flatnonzero(free), size=min(count, int(free.sum())), replace=False)
            rgb[slots] = prototypes[c]
            free[slots] = False
        rgb = (rgb + rng.normal(0.0, spec.noise, size=rgb.shape)).astype(np.float32)
        metadata = _metadata(rng, labels, meta_classes, frames)
        videos.append(SyntheticVideo(f"synth{spec.seed}-{v:06d}", rgb, labels, metadata,
                                     audio.frames(frames, labels) if audio else None))
    return videos


def _metadata(rng: np.random.Generator, labels: list[int], meta_classes: list[int],
              frames: int) -> dict:
    """Upload metadata of one video: the category signals its metadata class, if any."""
    own = [c for c in labels if c in meta_classes]
    if own and rng.random() < 0.9:
        category = metadata_category(own[0])
    elif meta_classes and rng.random() < 0.04 * len(meta_classes):
        category = metadata_category(int(rng.choice(meta_classes)))
    else:
        category = str(rng.choice(GENERIC_CATEGORIES))
    return {"category": category, "language": str(rng.choice(LANGUAGES)),
            "duration": float(frames + rng.uniform(0, 1)),
            "channel": f"channel-{int(rng.integers(0, 50))}"}


class _AudioSource:
    """Audio frames, drawn from their own stream (seeded by [seed, 1]) so that adding audio
    changes no draw of the rgb frames, labels or metadata."""

    def __init__(self, spec: SyntheticSpec):
        self.spec = spec
        self.rng = np.random.default_rng([spec.seed, 1])
        audio_classes = spec.classes_of(AUDIO_KIND)
        drawn = self.rng.normal(0.0, spec.prototype_scale,
                                size=(len(audio_classes), spec.audio_feature_size))
        self.prototypes = dict(zip(audio_classes, drawn))

    def frames(self, count: int, labels: list[int]) -> np.ndarray:
        """float32[count, audio_feature_size]: generic scenes + noise, the audio classes'
        prototypes on 30-60 % of the frames each."""
        spec, rng = self.spec, self.rng
        scenes = rng.normal(0.0, spec.scene_scale, size=(2, spec.audio_feature_size))
        audio = scenes[rng.integers(0, 2, size=count)]
        free = np.ones(count, dtype=bool)
        for c in labels:
            if c not in self.prototypes:
                continue
            wanted = int(round(count * rng.uniform(0.3, 0.6)))
            slots = rng.choice(np.flatnonzero(free), size=min(wanted, int(free.sum())),
                               replace=False)
            audio[slots] = self.prototypes[c]
            free[slots] = False
        return (audio + rng.normal(0.0, spec.noise, size=audio.shape)).astype(np.float32)


def write_dataset(out_dir: str, spec: SyntheticSpec,
                  splits: dict[str, float] | None = None, shards: int = 2) -> dict[str, list[str]]:
    """Generate and write the dataset; returns split -> written files.

    splits: fraction of videos per split, in order (default train 0.7 / validate 0.15 / test 0.15).
    """
    splits = splits or {"train": 0.7, "validate": 0.15, "test": 0.15}
    if abs(sum(splits.values()) - 1.0) > 1e-6 or any(f <= 0 for f in splits.values()):
        raise ValueError(f"splits: fractions must be positive and sum to 1, got {splits}")
    if shards <= 0:
        raise ValueError(f"shards: expected a positive integer, got {shards}")
    os.makedirs(out_dir, exist_ok=True)
    videos = generate_videos(spec)
    bounds = np.round(np.cumsum([0.0, *splits.values()]) * len(videos)).astype(int)
    written: dict[str, list[str]] = {}
    counts = {name: int(hi - lo) for name, lo, hi in zip(splits, bounds[:-1], bounds[1:])}
    for (name, _), lo, hi in zip(splits.items(), bounds[:-1], bounds[1:]):
        part = videos[lo:hi]
        written[name] = []
        for shard in range(shards):
            path = os.path.join(out_dir, f"{name}-{shard:05d}-of-{shards:05d}.tfrecord")
            write_tfrecord(path, (sequence_example(x.video_id, x.rgb, encoding=spec.encoding,
                                                   labels=x.labels, metadata=x.metadata,
                                                   audio=x.audio)
                                  for x in part[shard::shards]))
            written[name].append(path)
    spec_dict = asdict(spec)
    with open(os.path.join(out_dir, "classes.json"), "w") as f:
        json.dump({"spec": spec_dict, "kinds": list(spec.class_kinds),
                   "audio_pairs": [list(p) for p in spec.audio_pairs],
                   "metadata_categories": {c: metadata_category(c)
                                           for c in spec.classes_of(METADATA_KIND)},
                   "videos": counts}, f, indent=1)
    return written
