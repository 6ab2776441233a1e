"""Model configuration: frozen dataclasses, loaded from and saved to YAML.

One `ModelConfig` defines everything that shapes the classifier (streams, head, metadata
branch, classes) plus the training recipe. It is parsed once at the edge (CLI) and passed
down explicitly; `save_config` writes it next to the weights so a model directory is
self-describing.

YAML layout (see model/classifier/configs/yt8m-nextvlad-best.yaml)::

    name: yt8m-nextvlad-best
    max_frames: 300
    rgb: {feature_size: 1024, cluster_size: 128, groups: 8, expansion: 2}
    audio: {feature_size: 128, cluster_size: 64, groups: 4, expansion: 2}   # or null
    dropout: 0.5
    hidden_size: 2048
    gating_reduction: 8
    num_classes: 3862
    categories: []            # IAB IDs in class order, or a file name (visual-categories.yaml)
    metadata: null            # or {categories: [...], languages: [...], duration: true, channel_buckets: 64}
    train: {batch_size: 160, learning_rate: 2.0e-4, ...}
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

CONFIG_FILE = "config.yaml"


# Input names of the model (and keys of the tf.data elements fed to it).
RGB, AUDIO, NUM_FRAMES, METADATA = "rgb", "audio", "num_frames", "metadata"


@dataclass(frozen=True)
class StreamConfig:
    """One NeXtVLAD stream (video or audio): input dim N, clusters K, groups G, expansion lambda."""

    feature_size: int
    cluster_size: int
    groups: int
    expansion: int = 2

    def __post_init__(self) -> None:
        for name in ("feature_size", "cluster_size", "groups", "expansion"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"stream.{name}: expected a positive integer, got {value!r}")
        if (self.expansion * self.feature_size) % self.groups:
            raise ValueError(
                f"stream: expansion*feature_size ({self.expansion * self.feature_size}) must be "
                f"divisible by groups ({self.groups})")

    @property
    def group_size(self) -> int:
        """d = lambda*N/G, the dimension of one group's features."""
        return self.expansion * self.feature_size // self.groups

    @property
    def output_size(self) -> int:
        """Length of the flattened VLAD descriptor, d*K."""
        return self.group_size * self.cluster_size


@dataclass(frozen=True)
class MetadataConfig:
    """Upload metadata encoded into one float vector, concatenated before the hidden layer.

    categories / languages: vocabularies (case-insensitive); one-hot with slot 0 = unknown/missing.
    duration: adds [log1p(seconds) / 8, missing] (two floats).
    channel_buckets: one-hot over a stable hash (blake2b) of the channel/owner id; 0 = off.
    """

    categories: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    duration: bool = False
    channel_buckets: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.channel_buckets, int) or self.channel_buckets < 0:
            raise ValueError(
                f"metadata.channel_buckets: expected an integer >= 0, got {self.channel_buckets!r}")
        for name in ("categories", "languages"):
            values = getattr(self, name)
            normalised = [str(v).strip().lower() for v in values]
            if len(set(normalised)) != len(normalised):
                raise ValueError(f"metadata.{name}: duplicate entries in {list(values)!r}")

    @property
    def enabled(self) -> bool:
        return bool(self.categories or self.languages or self.duration or self.channel_buckets)

    @property
    def width(self) -> int:
        """Length of the encoded metadata vector."""
        width = 0
        if self.categories:
            width += len(self.categories) + 1
        if self.languages:
            width += len(self.languages) + 1
        if self.duration:
            width += 2
        return width + self.channel_buckets


@dataclass(frozen=True)
class TrainConfig:
    """Training recipe; defaults are the reference's (linrongc/youtube-8m, train_nextvlad_local.sh).

    learning_rate decays by decay_rate every decay_examples examples (staircase).
    l2_penalty is slim's convention (adds s*sum(w^2)/2); the Keras regulariser gets s/2.
    """

    batch_size: int = 160
    learning_rate: float = 2e-4
    decay_examples: int = 2_000_000
    decay_rate: float = 0.8
    epochs: int = 5
    clipnorm: float = 1.0
    l2_penalty: float = 1e-5
    adam_epsilon: float = 1e-8
    shuffle_buffer: int = 800
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("batch_size", "decay_examples", "epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"train.{name}: expected a positive integer, got {value!r}")
        for name in ("learning_rate", "decay_rate", "clipnorm", "adam_epsilon"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"train.{name}: expected a positive number, got {value!r}")
        if self.l2_penalty < 0:
            raise ValueError(f"train.l2_penalty: expected >= 0, got {self.l2_penalty!r}")


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines a NeXtVLAD classifier.

    rgb: the video stream (frames float32[T, rgb.feature_size]).
    audio: optional audio stream (float32[T, audio.feature_size]); None = off.
    categories: IAB Content Taxonomy 3.0 IDs in class order; empty = anonymous classes
        (e.g. the YouTube-8M vocabulary), then only num_classes matters.
    metadata: the metadata branch; None (or nothing enabled) = no branch at all.
    """

    name: str
    num_classes: int
    rgb: StreamConfig
    audio: StreamConfig | None = None
    max_frames: int = 300
    dropout: float = 0.5
    hidden_size: int = 2048
    gating_reduction: int = 8
    bn_momentum: float = 0.999
    bn_epsilon: float = 1e-3
    categories: tuple[str, ...] = ()
    metadata: MetadataConfig | None = None
    default_threshold: float = 0.5
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name: expected a non-empty string, got {self.name!r}")
        for key in ("num_classes", "max_frames", "hidden_size", "gating_reduction"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{key}: expected a positive integer, got {value!r}")
        if self.hidden_size % self.gating_reduction:
            raise ValueError(
                f"gating_reduction: {self.gating_reduction} must divide hidden_size {self.hidden_size}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout: expected a rate in [0, 1), got {self.dropout!r}")
        if not 0.0 < self.bn_momentum < 1.0:
            raise ValueError(f"bn_momentum: expected a value in (0, 1), got {self.bn_momentum!r}")
        if not 0.0 <= self.default_threshold <= 1.0:
            raise ValueError(f"default_threshold: expected [0, 1], got {self.default_threshold!r}")
        if self.categories and len(self.categories) != self.num_classes:
            raise ValueError(
                f"categories: {len(self.categories)} IDs listed but num_classes is {self.num_classes}")
        if len(set(self.categories)) != len(self.categories):
            raise ValueError("categories: duplicate IDs")

    @property
    def metadata_enabled(self) -> bool:
        return self.metadata is not None and self.metadata.enabled

    @property
    def input_names(self) -> tuple[str, ...]:
        """Names of the model's inputs, in order: rgb, num_frames[, audio][, metadata]."""
        names = [RGB, NUM_FRAMES]
        if self.audio is not None:
            names.append(AUDIO)
        if self.metadata_enabled:
            names.append(METADATA)
        return tuple(names)

    def to_dict(self) -> dict[str, Any]:
        """Plain-YAML form (tuples become lists)."""
        return _plain(dataclasses.asdict(self))

    def resume_key(self) -> dict[str, Any]:
        """The part that must match to resume training: everything except train.epochs."""
        data = self.to_dict()
        data["train"] = {k: v for k, v in data["train"].items() if k != "epochs"}
        return data

    def replace(self, **changes: Any) -> "ModelConfig":
        return dataclasses.replace(self, **changes)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _build(cls: type, data: Any, where: str, source: str) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{source}: {where or 'top level'}: expected a mapping, got {data!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{source}: {where or 'top level'}: unknown key(s) {unknown}; "
                         f"expected some of {sorted(known)}")
    try:
        return cls(**data)
    except ValueError as exc:
        raise ValueError(f"{source}: {where + '.' if where else ''}{exc}") from None
    except TypeError as exc:  # missing required keys
        raise ValueError(f"{source}: {where or 'top level'}: {exc}") from None


def _load_categories(value: Any, base_dir: str | None, source: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    if isinstance(value, str):
        from model import taxonomy  # local import: taxonomy reads package data

        candidates = [os.path.join(base_dir, value)] if base_dir else []
        candidates.append(str(resources.files("model.classifier") / "configs" / value))
        candidates.append(str(resources.files("model.taxonomy") / value))
        for path in candidates:
            if os.path.exists(path):
                return taxonomy.load_category_list(path)
        raise ValueError(f"{source}: categories: file {value!r} not found next to the config "
                         f"or in model/classifier/configs or model/taxonomy")
    raise ValueError(f"{source}: categories: expected a list of IAB IDs or a file name, got {value!r}")


def config_from_dict(data: dict[str, Any], source: str = "<dict>",
                     base_dir: str | None = None) -> ModelConfig:
    """Build a ModelConfig from plain data; errors name `source` and the key."""
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    data = dict(data)
    for key in ("rgb", "audio"):
        if data.get(key) is not None:
            data[key] = _build(StreamConfig, data[key], key, source)
    if data.get("metadata") is not None:
        meta = dict(data["metadata"]) if isinstance(data["metadata"], dict) else data["metadata"]
        if isinstance(meta, dict):
            for key in ("categories", "languages"):
                if key in meta:
                    if not isinstance(meta[key], (list, tuple)):
                        raise ValueError(f"{source}: metadata.{key}: expected a list, got {meta[key]!r}")
                    meta[key] = tuple(str(v) for v in meta[key])
        data["metadata"] = _build(MetadataConfig, meta, "metadata", source)
    if "train" in data:
        data["train"] = _build(TrainConfig, data["train"] or {}, "train", source)
    if "categories" in data:
        data["categories"] = _load_categories(data["categories"], base_dir, source)
        if "num_classes" not in data and data["categories"]:
            data["num_classes"] = len(data["categories"])
    return _build(ModelConfig, data, "", source)


def load_config(path: str) -> ModelConfig:
    """Read a YAML config (local path or gs://)."""
    from apache_beam.io.filesystems import FileSystems

    try:
        with FileSystems.open(path) as f:
            data = yaml.safe_load(f.read().decode("utf-8"))
    except (OSError, IOError) as exc:
        raise ValueError(f"{path}: cannot read config: {exc}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    base_dir = os.path.dirname(path) if "://" not in path else None
    return config_from_dict(data, source=path, base_dir=base_dir)


def dump_config(config: ModelConfig) -> str:
    return yaml.safe_dump(config.to_dict(), sort_keys=False)


def save_config(config: ModelConfig, path: str) -> None:
    """Write the config as YAML (local path or gs://)."""
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.create(path) as f:
        f.write(dump_config(config).encode("utf-8"))


def builtin_config_path(name: str) -> str:
    """Path of a config shipped in model/classifier/configs (e.g. 'yt8m-nextvlad-best.yaml')."""
    return str(resources.files("model.classifier") / "configs" / name)
