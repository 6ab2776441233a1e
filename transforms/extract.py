"""The video-features job as one Beam PTransform: decode -> embed (RunInference) -> PCA -> write.

With `FeaturesConfig.audio`, the decode also reads the audio (same pass, one 16 kHz window per
sample) and a second RunInference embeds it (VGGish, model/audio): the feature file then holds
an `audio` list beside `rgb`.

    outputs = tasks | ExtractFeatures(FeaturesConfig(job_name=...))
    outputs["main"]         Task   feature file written at task.output_path
    outputs["skipped"]      Task   feature file existed (skip_existing)
    outputs["dead_letter"]  jobgraph.deadletter.DeadLetter, one per failed element

Input: PCollection[jobgraph.task.Task]: the video at `input_path`, its feature file at
`output_path`. Every input element ends in exactly one of the three outputs. Counters
(namespace "video_features"): videos-in, videos-skipped-existing, videos-decoded,
frames-decoded, packets-demuxed, packets-decoded, videos-rejected-<reason>, videos-written,
frames-written, dead-letters-<stage>; with audio: audio-<source> (stream, none, undecodable),
audio-packets, audio-packets-failed.
"""
from __future__ import annotations

import collections
import dataclasses
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue

from jobgraph.deadletter import StepChain, failed
from jobgraph.ids import DEFAULT_ID_PATTERN, InvalidElementId, validate_id
from jobgraph.task import Task
from model.audio.config import AudioEmbedderConfig
from model.audio.constants import NAME as AUDIO_EMBEDDER_NAME
from model.embedding.config import EmbedderConfig
from model.embedding.constants import NAME as EMBEDDER_NAME
from model.embedding.handler import EmbedderHandler
from transforms.calibration import CALIBRATION
from transforms.decode import AudioStats, DecodeConfig, VideoRejected

NAMESPACE = "video_features"


@dataclasses.dataclass(frozen=True)
class FeaturesConfig:
    """pca_path: .npz from `klio features fit-pca` (None: store float16 2048-d features).
    skip_existing: pass through videos whose feature file exists (the job graph's runtime checks
      outputs itself, so it turns this off).
    decode_ahead: videos decoded ahead in a helper process while the current one is embedded
      (transforms.decode_ahead); 0 decodes in the worker itself. Worth it where a worker has
      idle cores or reads from remote storage; with one single-thread worker per core the
      cores are already busy and more workers is the better lever (README, Benchmarks).
    audio: the audio embedder's config; None extracts no audio (rgb only).
    """

    job_name: str = "video-features"
    decode: DecodeConfig = DecodeConfig()
    embedder: EmbedderConfig = EmbedderConfig()
    pca_path: str | None = None
    skip_existing: bool = True
    id_pattern: str = DEFAULT_ID_PATTERN
    decode_ahead: int = 0
    audio: AudioEmbedderConfig | None = None

    def __post_init__(self):
        if not isinstance(self.decode_ahead, int) or self.decode_ahead < 0:
            raise ValueError(f"decode_ahead must be an integer >= 0, got {self.decode_ahead!r}")

    @property
    def decoding(self) -> DecodeConfig:
        """The decode as run: `decode`, reading audio exactly when there is an audio embedder."""
        return dataclasses.replace(self.decode, audio=self.audio is not None)


@dataclasses.dataclass(frozen=True, eq=False)
class VideoSample:
    """What travels with a video's frames through RunInference (the element's key).

    audio: float32[T, WINDOW_SAMPLES] windows until the audio embedder takes them (None
    without audio); audio_stats: transforms.decode_audio.AudioStats; rgb: float32[T, 2048]
    once the frames are embedded."""

    task: Task
    timestamps_s: tuple[float, ...]
    duration_s: float
    audio: np.ndarray | None = None
    audio_timestamps_s: tuple[float, ...] = ()
    audio_stats: AudioStats | None = None
    rgb: np.ndarray | None = None


def _failed(config: FeaturesConfig, element: str, stage: str, exc: BaseException, reason: str | None = None):
    return failed(config.job_name, element, stage, exc, reason, namespace=NAMESPACE)


class CheckExisting(beam.DoFn):
    """Task -> main (to process), "skipped" (its feature file exists), or a dead letter for an
    ID that is not safe to use in a path."""

    def __init__(self, config: FeaturesConfig):
        self.config = config

    def process(self, task: Task):
        Metrics.counter(NAMESPACE, "videos-in").inc()
        try:
            validate_id(task.element_id, self.config.id_pattern)
        except InvalidElementId as exc:
            yield _failed(self.config, task.element_id, "validate-id", exc, reason="invalid-id")
            return
        try:
            exists = self.config.skip_existing and FileSystems.exists(task.output_path)
        except Exception as exc:  # noqa: BLE001 - storage errors must not kill the pipeline
            yield _failed(self.config, task.element_id, "check-existing", exc, reason="existence-check-failed")
            return
        if exists:
            Metrics.counter(NAMESPACE, "videos-skipped-existing").inc()
            yield beam.pvalue.TaggedOutput("skipped", task)
            return
        yield task


def _in_window(out, window, timestamp):
    """An output of finish_bundle, which has no element to inherit its window from."""
    if isinstance(out, beam.pvalue.TaggedOutput):
        return beam.pvalue.TaggedOutput(out.tag, WindowedValue(out.value, timestamp, [window]))
    return WindowedValue(out, timestamp, [window])


class DecodeVideo(beam.DoFn):
    """Task -> (VideoSample, uint8[T,size,size,3]) or a dead letter.

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

        self._ahead = DecodeAhead(self.config.decoding, self.config.decode_ahead)

    def start_bundle(self):
        self._pending = collections.deque()

    def process(self, task: Task, window=beam.DoFn.WindowParam, timestamp=beam.DoFn.TimestampParam):
        self._pending.append((task, self._ahead.submit(task.input_path), window, timestamp))
        while len(self._pending) > self.config.decode_ahead:
            yield from self._outputs(*self._pending.popleft()[:2])

    def finish_bundle(self):
        while self._pending:
            task, decoding, window, timestamp = self._pending.popleft()
            for out in self._outputs(task, decoding):
                yield _in_window(out, window, timestamp)

    def teardown(self):
        if self._ahead is not None:
            self._ahead.close()

    def _outputs(self, task: Task, decoding):
        try:
            decoded = decoding.result()
        except VideoRejected as exc:
            Metrics.counter(NAMESPACE, f"videos-rejected-{exc.reason}").inc()
            yield _failed(self.config, task.element_id, "decode", exc)
            return
        except Exception as exc:  # noqa: BLE001 - every failure becomes a dead letter
            yield _failed(self.config, task.element_id, "decode", exc, reason="decode-error")
            return
        stats = decoded.stats
        Metrics.counter(NAMESPACE, "videos-decoded").inc()
        Metrics.counter(NAMESPACE, "frames-decoded").inc(stats.frames_decoded)
        Metrics.counter(NAMESPACE, "packets-demuxed").inc(stats.packets)
        Metrics.counter(NAMESPACE, "packets-decoded").inc(stats.packets_decoded)
        Metrics.distribution(NAMESPACE, "samples-per-video").update(len(decoded.frames))
        audio = decoded.audio_stats
        if audio is not None:
            Metrics.counter(NAMESPACE, f"audio-{audio.source}").inc()
            Metrics.counter(NAMESPACE, "audio-packets").inc(audio.packets)
            Metrics.counter(NAMESPACE, "audio-packets-failed").inc(audio.decode_errors)
        sample = VideoSample(task=task, timestamps_s=tuple(float(t) for t in decoded.timestamps_s),
                             duration_s=decoded.duration_s, audio=decoded.audio, audio_stats=audio,
                             audio_timestamps_s=tuple(float(t) for t in decoded.audio_timestamps_s)
                             if audio is not None else ())
        yield sample, decoded.frames


def _with_rgb(element: tuple[VideoSample, np.ndarray]) -> tuple[VideoSample, np.ndarray | None]:
    """(sample, rgb features) -> (sample holding them, its audio windows or None)."""
    sample, rgb = element
    return dataclasses.replace(sample, rgb=rgb, audio=None), sample.audio


class WriteFeatures(beam.DoFn):
    """(VideoSample with rgb float32[T,2048], audio float32[T,128] or None) -> Task (feature
    file written) or a dead letter."""

    def __init__(self, config: FeaturesConfig):
        self.config = config
        self._pca = None

    def setup(self):
        from model.features.pca import load_pca

        if self.config.pca_path:
            self._pca = load_pca(self.config.pca_path)

    def process(self, element: tuple[VideoSample, np.ndarray | None]):
        from transforms.features_io import write_features

        sample, audio = element
        try:
            write_features(sample.task.output_path, self._record(sample, audio))
        except Exception as exc:  # noqa: BLE001
            yield _failed(self.config, sample.task.element_id, "write", exc, reason="write-error")
            return
        Metrics.counter(NAMESPACE, "videos-written").inc()
        Metrics.counter(NAMESPACE, "frames-written").inc(len(sample.rgb))
        yield sample.task

    def _record(self, sample: VideoSample, audio: np.ndarray | None):
        """The feature file's content: frames (PCA-quantised or float16), timestamps, what made
        them, the audio list, and the upload's metadata from the message payload (kept for
        later batch runs)."""
        from model.features.codec import FeatureRecord
        from model.features.pca import encode_frames
        from transforms.upload_metadata import metadata_from_message

        cfg, task = self.config, sample.task
        return FeatureRecord(
            video_id=task.element_id, rgb=encode_frames(self._pca, sample.rgb),
            timestamps_s=sample.timestamps_s, duration_s=sample.duration_s,
            embedder_name=EMBEDDER_NAME, embedder_version=cfg.embedder.version,
            embedder_backend=cfg.embedder.backend, embedder_precision=cfg.embedder.precision,
            sampling=cfg.decode.describe(),
            pca=FileSystems.split(cfg.pca_path)[1] if cfg.pca_path else None,
            meta=metadata_from_message(task.message) if task.message is not None else {},
            audio=audio, audio_context=self._audio_context(sample) if audio is not None else {})

    def _audio_context(self, sample: VideoSample) -> dict:
        audio, stats = self.config.audio, sample.audio_stats
        return {"audio_source": stats.source, "audio_decode_errors": int(stats.decode_errors),
                "audio_timestamps_s": list(sample.audio_timestamps_s),
                "audio_embedder_name": AUDIO_EMBEDDER_NAME, "audio_embedder_version": audio.version,
                "audio_embedder_backend": audio.backend}


def _sample_id(element: tuple[VideoSample, Any]) -> str:
    return element[0].task.element_id


class ExtractFeatures(beam.PTransform):
    """PCollection[Task] -> {"main", "skipped", "dead_letter"} (see the module docstring)."""

    def __init__(self, config: FeaturesConfig):
        super().__init__()
        self.config = config

    def expand(self, tasks):
        cfg = self.config
        chain = StepChain(cfg.job_name, NAMESPACE)
        checked = chain.par_do(tasks, "check existing", CheckExisting(cfg), "skipped")
        decoded = chain.par_do(checked.main, "decode", DecodeVideo(cfg)).main
        frames = EmbedderHandler(cfg.embedder, CALIBRATION)
        embedded = chain.run_inference(decoded, "embed", frames, "embed", "embed-error", _sample_id,
                                       warm_up=frames.warm_up_input())
        embedded = embedded | "keep rgb" >> beam.Map(_with_rgb)
        if cfg.audio is not None:
            from model.audio.handler import AudioEmbedderHandler

            audio = AudioEmbedderHandler(cfg.audio)
            embedded = chain.run_inference(embedded, "embed audio", audio, "embed-audio", "embed-error",
                                           _sample_id, warm_up=audio.warm_up_input())
        written = chain.par_do(embedded, "write", WriteFeatures(cfg)).main
        return {"main": written, "skipped": checked.skipped, "dead_letter": chain.dead_letters()}
