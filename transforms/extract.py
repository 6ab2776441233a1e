"""The video-features job as one Beam PTransform: decode -> embed (RunInference) -> PCA -> write.

    outputs = pairs | ExtractFeatures(FeaturesConfig(output_location=..., job_name=...))
    outputs["main"]         (video_id: str, feature_path: str, num_frames: int[, passthrough])
    outputs["skipped"]      (video_id: str, feature_path: str[, passthrough])  output existed
    outputs["dead_letter"]  jobgraph.deadletter.DeadLetter       one per failed element

Input: PCollection[(video_id: str, video_path: str)], or (video_id, video_path, passthrough) where
`passthrough` (any picklable value, e.g. the serialized KlioMessage) is appended to the element
in "main" (4-tuple) and "skipped" (3-tuple). Every input element ends in exactly one of the three
outputs. Counters (namespace "video_features"): videos-in, videos-skipped-existing,
videos-decoded, frames-decoded, packets-demuxed, packets-decoded, videos-rejected-<reason>,
videos-written, frames-written, dead-letters-<stage>.
"""
from __future__ import annotations

import collections
import dataclasses
import re
from typing import Any, Callable

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import RunInference
from apache_beam.utils.windowed_value import WindowedValue

from jobgraph.deadletter import DeadLetter
from model.embedder import EmbedderConfig, InceptionEmbedderHandler
from transforms.decode import DecodeConfig, VideoRejected, decode_video

NAMESPACE = "video_features"
DEFAULT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"


@dataclasses.dataclass(frozen=True)
class FeaturesConfig:
    """output_location: directory (local or gs://) for {video_id}.tfrecord files.
    pca_path: .npz from `klio features fit-pca` (None: store float16 2048-d features).
    skip_existing: pass through videos whose feature file exists (rerun/backfill resume).
    decode_ahead: videos decoded ahead in a helper process while the current one is embedded
      (transforms.decode_ahead); 0 decodes in the worker itself. Worth it where a worker has
      idle cores or reads from remote storage; with one single-thread worker per core the
      cores are already busy and more workers is the better lever (README, Benchmarks).
    upload_metadata: passthrough value -> the upload's metadata ({category, language, duration,
      channel}), stored with the features so that later batch runs of the classifier have it.
    """

    output_location: str
    job_name: str = "video-features"
    decode: DecodeConfig = DecodeConfig()
    embedder: EmbedderConfig = EmbedderConfig()
    pca_path: str | None = None
    skip_existing: bool = True
    id_pattern: str = DEFAULT_ID_PATTERN
    decode_ahead: int = 0
    upload_metadata: Callable[[Any], dict] | None = None

    def __post_init__(self):
        if not isinstance(self.decode_ahead, int) or self.decode_ahead < 0:
            raise ValueError(f"decode_ahead must be an integer >= 0, got {self.decode_ahead!r}")


@dataclasses.dataclass(frozen=True)
class VideoSample:
    """What travels with a video's frames through RunInference (the element's key)."""

    video_id: str
    video_path: str
    timestamps_s: tuple[float, ...]
    duration_s: float
    passthrough: tuple = ()  # () or (value,): carried to the output element


def feature_path(output_location: str, video_id: str) -> str:
    return FileSystems.join(output_location, f"{video_id}.tfrecord")


def _dead(config: FeaturesConfig, video_id: str, stage: str, exc: BaseException,
          reason: str | None = None) -> DeadLetter:
    Metrics.counter(NAMESPACE, f"dead-letters-{stage}").inc()
    return DeadLetter.from_exception(config.job_name, video_id, stage, exc, reason=reason)


class CheckExisting(beam.DoFn):
    """(id, path[, passthrough]) -> main (same) to process, "skipped" (id, feature path[,
    passthrough]), or a dead letter for an id that is not safe to use in a path."""

    def __init__(self, config: FeaturesConfig):
        self.config = config
        self._pattern = re.compile(config.id_pattern)

    def process(self, element: tuple):
        Metrics.counter(NAMESPACE, "videos-in").inc()
        try:
            video_id, video_path, *passthrough = element
            if len(passthrough) > 1:
                raise ValueError(f"expected (id, path[, passthrough]), got {len(element)} items")
            video_id = str(video_id)
        except (TypeError, ValueError) as exc:
            yield beam.pvalue.TaggedOutput("dead_letter", _dead(
                self.config, repr(element)[:200], "parse", exc, reason="bad-element"))
            return
        if not self._pattern.match(video_id):
            yield beam.pvalue.TaggedOutput("dead_letter", DeadLetter(
                job=self.config.job_name, element=video_id, stage="validate-id",
                reason="invalid-id", message=f"video id does not match {self.config.id_pattern}"))
            Metrics.counter(NAMESPACE, "dead-letters-validate-id").inc()
            return
        out = feature_path(self.config.output_location, video_id)
        try:
            exists = self.config.skip_existing and FileSystems.exists(out)
        except Exception as exc:  # noqa: BLE001 - storage errors must not kill the pipeline
            yield beam.pvalue.TaggedOutput("dead_letter", _dead(
                self.config, video_id, "check-existing", exc, reason="existence-check-failed"))
            return
        if exists:
            Metrics.counter(NAMESPACE, "videos-skipped-existing").inc()
            yield beam.pvalue.TaggedOutput("skipped", (video_id, out, *passthrough))
            return
        yield video_id, video_path, *passthrough


class DecodeVideo(beam.DoFn):
    """(id, path[, passthrough]) -> (VideoSample, uint8[T,size,size,3]) or a dead letter.

    With `config.decode_ahead` = k > 0, up to k videos decode in a helper process while the
    current one goes downstream (to RunInference, fused into this step); what is still pending
    at the end of a bundle is emitted there, in order, with its own window and timestamp.
    """

    def __init__(self, config: FeaturesConfig):
        self.config = config
        self._ahead = None
        self._pending: collections.deque = collections.deque()

    def setup(self):
        from transforms.decode_ahead import DecodeAhead

        self._ahead = DecodeAhead(self.config.decode, self.config.decode_ahead)

    def start_bundle(self):
        self._pending = collections.deque()

    def process(self, element: tuple, window=beam.DoFn.WindowParam, timestamp=beam.DoFn.TimestampParam):
        self._pending.append((element, self._ahead.submit(element[1]), window, timestamp))
        while len(self._pending) > self.config.decode_ahead:
            yield from self._outputs(*self._pending.popleft()[:2])

    def finish_bundle(self):
        while self._pending:
            element, decoding, window, timestamp = self._pending.popleft()
            for out in self._outputs(element, decoding):
                if isinstance(out, beam.pvalue.TaggedOutput):
                    yield beam.pvalue.TaggedOutput(out.tag, WindowedValue(out.value, timestamp, [window]))
                else:
                    yield WindowedValue(out, timestamp, [window])

    def teardown(self):
        if self._ahead is not None:
            self._ahead.close()

    def _outputs(self, element: tuple, decoding):
        video_id, video_path, *passthrough = element
        try:
            decoded = decoding.result()
        except VideoRejected as exc:
            Metrics.counter(NAMESPACE, f"videos-rejected-{exc.reason}").inc()
            yield beam.pvalue.TaggedOutput("dead_letter", _dead(self.config, video_id, "decode", exc))
            return
        except Exception as exc:  # noqa: BLE001 - every failure becomes a dead letter
            yield beam.pvalue.TaggedOutput("dead_letter", _dead(
                self.config, video_id, "decode", exc, reason="decode-error"))
            return
        stats = decoded.stats
        Metrics.counter(NAMESPACE, "videos-decoded").inc()
        Metrics.counter(NAMESPACE, "frames-decoded").inc(stats.frames_decoded)
        Metrics.counter(NAMESPACE, "packets-demuxed").inc(stats.packets)
        Metrics.counter(NAMESPACE, "packets-decoded").inc(stats.packets_decoded)
        Metrics.distribution(NAMESPACE, "samples-per-video").update(len(decoded.frames))
        key = VideoSample(video_id=video_id, video_path=video_path,
                          timestamps_s=tuple(float(t) for t in decoded.timestamps_s),
                          duration_s=decoded.duration_s, passthrough=tuple(passthrough))
        yield key, decoded.frames


class WriteFeatures(beam.DoFn):
    """(VideoSample, float32[T,2048]) -> (id, feature path, T[, passthrough]) or a dead letter."""

    def __init__(self, config: FeaturesConfig):
        self.config = config
        self._pca = None

    def setup(self):
        from model.pca import load_pca

        if self.config.pca_path:
            self._pca = load_pca(self.config.pca_path)

    def process(self, element: tuple[VideoSample, np.ndarray]):
        from model import embedder as emb
        from model.pca import encode_frames
        from transforms.features_io import FeatureRecord, write_features

        sample, features = element
        try:
            cfg = self.config
            record = FeatureRecord(
                video_id=sample.video_id, rgb=encode_frames(self._pca, features),
                timestamps_s=sample.timestamps_s, duration_s=sample.duration_s,
                embedder_name=emb.NAME,
                embedder_version=emb.embedder_version(cfg.embedder),
                embedder_backend=cfg.embedder.backend,
                embedder_precision=emb.embedder_precision(cfg.embedder),
                sampling=cfg.decode.describe(),
                pca=FileSystems.split(cfg.pca_path)[1] if cfg.pca_path else None,
                meta=cfg.upload_metadata(sample.passthrough[0])
                if cfg.upload_metadata is not None and sample.passthrough else {})
            path = write_features(feature_path(cfg.output_location, sample.video_id), record)
        except Exception as exc:  # noqa: BLE001
            yield beam.pvalue.TaggedOutput("dead_letter", _dead(
                self.config, sample.video_id, "write", exc, reason="write-error"))
            return
        Metrics.counter(NAMESPACE, "videos-written").inc()
        Metrics.counter(NAMESPACE, "frames-written").inc(len(features))
        yield (sample.video_id, path, int(len(features)), *sample.passthrough)


def _failed_batch_to_dead_letters(config: FeaturesConfig):
    def convert(failed: tuple[Any, BaseException]):
        batch, exc = failed
        for key, _ in batch:
            video_id = key.video_id if isinstance(key, VideoSample) else str(key)
            yield _dead(config, video_id, "embed", exc, reason="embed-error")
    return convert


class ExtractFeatures(beam.PTransform):
    """PCollection[(video_id, video_path[, passthrough])] -> {"main", "skipped", "dead_letter"}
    (see the module docstring)."""

    def __init__(self, config: FeaturesConfig):
        super().__init__()
        self.config = config

    def expand(self, pairs):
        cfg = self.config
        checked = pairs | "check existing" >> beam.ParDo(CheckExisting(cfg)).with_outputs(
            "skipped", "dead_letter", main="main")
        decoded = checked.main | "decode" >> beam.ParDo(DecodeVideo(cfg)).with_outputs(
            "dead_letter", main="main")
        embedded, failed = (decoded.main | "embed" >> RunInference(
            InceptionEmbedderHandler(cfg.embedder)).with_exception_handling())
        embed_dead = failed.failed_inferences | "embed failures" >> beam.FlatMap(
            _failed_batch_to_dead_letters(cfg))
        written = embedded | "write" >> beam.ParDo(WriteFeatures(cfg)).with_outputs(
            "dead_letter", main="main")
        dead = ((checked.dead_letter, decoded.dead_letter, embed_dead, written.dead_letter)
                | "dead letters" >> beam.Flatten())
        return {"main": written.main, "skipped": checked.skipped, "dead_letter": dead}
