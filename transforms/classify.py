"""The video-iab job's work: feature file -> NeXtVLAD scores (RunInference) -> labels JSON.

    outputs = messages | ClassifyVideos(ClassifyConfig(...))
    outputs["main"]         KlioMessage, payload = JSON summary of the labels   (labels written)
    outputs["dead_letter"]  jobgraph.deadletter.DeadLetter                      (one per failure)

Input: PCollection[KlioMessage] whose element is a validated video ID and whose feature file
exists (the runtime checked). Upload metadata for the metadata branch comes from the message
payload (the upload event's JSON) or a sidecar `{metadata_location}/{id}.json`; missing metadata
is "unknown"; present but unusable metadata (too large, too deep, not an object, not a regular
file) is a `bad-metadata` dead letter. Labels file (`{labels_location}/{id}.json`, written atomically):
{video_id, model: {name, version}, taxonomy, labels: [{id, name, tier_path, score, source}],
 top_k: [{id, name, score}], frames_used, metadata_source, created_at}.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
from typing import Any, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, RunInference

from jobgraph import storage
from jobgraph.deadletter import DeadLetter
from jobgraph.message import KlioMessage
from transforms.upload_metadata import (BadMetadata, as_duration, clean_metadata, finite_number,
                                        metadata_from_context, metadata_from_payload,
                                        metadata_from_sidecar, read_small_json)

NAMESPACE = "video_iab"


@dataclasses.dataclass(frozen=True)
class ClassifyConfig:
    job_name: str
    features_location: str
    labels_location: str
    model_dir: str
    metadata_location: str | None = None
    textual_location: str | None = None
    top_k: int = 20
    max_batch_videos: int = 32


@dataclasses.dataclass(frozen=True)
class VideoInput:
    """One video ready for the classifier. frames: float32[T, D]; metadata: keys of METADATA_KEYS."""

    video_id: str
    frames: np.ndarray
    num_frames: int
    metadata: dict
    metadata_source: str


def _dead(job: str, video_id: str, stage: str, exc: BaseException, reason: str | None = None):
    Metrics.counter(NAMESPACE, f"dead-letters-{stage}").inc()
    return beam.pvalue.TaggedOutput("dead_letter", DeadLetter.from_exception(job, video_id, stage, exc, reason))


class ReadFeatures(beam.DoFn):
    """KlioMessage -> (message bytes, VideoInput); an unreadable feature file or unusable
    metadata -> a dead letter for that element only (no exception leaves this step)."""

    def __init__(self, config: ClassifyConfig):
        self.config = config

    def process(self, msg: KlioMessage):
        video_id = msg.data.element.decode("utf-8", "replace")
        stage = "read-features"
        try:
            features = self._features(video_id)
            stage = "metadata"
            metadata, source = self._metadata(msg, video_id, features.context)
        except BadMetadata as exc:
            yield _dead(self.config.job_name, video_id, stage, exc)
            return
        except Exception as exc:  # noqa: BLE001 - every failure is a record
            reason = "bad-feature-file" if stage == "read-features" else "bad-metadata"
            yield _dead(self.config.job_name, video_id, stage, exc, reason)
            return
        # The video's own duration stands in when the upload did not say (not upload metadata).
        if "duration" not in metadata and features.context.get("duration_s") is not None:
            duration = as_duration(features.context["duration_s"])
            if duration is not None:
                metadata["duration"] = duration
        Metrics.counter(NAMESPACE, f"metadata-{source}").inc()
        yield msg.SerializeToString(), VideoInput(video_id, features.frames, features.num_frames,
                                                  metadata, source)

    def _features(self, video_id: str):
        from transforms.features_io import read_feature_file

        path = f"{self.config.features_location.rstrip('/')}/{video_id}.tfrecord"
        features = read_feature_file(path)
        if features.num_frames == 0:
            raise ValueError(f"{path} holds no frames")
        return features

    def _metadata(self, msg: KlioMessage, video_id: str, context: dict) -> tuple[dict, str]:
        """(cleaned metadata, source: "payload" | "sidecar" | "unknown"). The upload event's
        payload wins: from the message, else as video-features stored it with the features (a
        batch run has no payload); then the sidecar."""
        metadata = clean_metadata(metadata_from_payload(msg.data.payload))
        if not metadata:
            metadata = metadata_from_context(context)
        if metadata:
            return metadata, "payload"
        if self.config.metadata_location:
            metadata = clean_metadata(metadata_from_sidecar(self.config.metadata_location, video_id))
            if metadata:
                return metadata, "sidecar"
        return {}, "unknown"


@dataclasses.dataclass
class LoadedModel:
    classifier: Any
    name: str
    version: str
    taxonomy: str


class ClassifierHandler(ModelHandler[tuple[bytes, VideoInput], tuple[bytes, VideoInput, dict], LoadedModel]):
    """RunInference handler: loads the model directory once per process, batches videos.

    Element: (key, VideoInput) -> (key, VideoInput, prediction) where prediction is
    {"labels": [{id, name, tier_path, score}] passing the shipped per-category thresholds,
     "top_k": [{id, name, score}], "model": {name, version}, "taxonomy": str}.
    """

    def __init__(self, model_dir: str, max_batch_videos: int = 32, top_k: int = 20):
        super().__init__()
        self.model_dir = model_dir
        self.max_batch_videos = max_batch_videos
        self.top_k = top_k

    def load_model(self) -> LoadedModel:
        from model import artifacts
        from model.classifier import load_classifier

        classifier = load_classifier(self.model_dir)
        weights = storage.read_bytes(artifacts.join(self.model_dir, artifacts.WEIGHTS_FILE))
        version = hashlib.sha256(weights).hexdigest()[:12]
        taxonomy = classifier.thresholds_info.get("taxonomy") or "IAB Content Taxonomy 3.0"
        return LoadedModel(classifier, classifier.config.name, version, str(taxonomy))

    def run_inference(self, batch: Sequence[tuple[bytes, VideoInput]], model: LoadedModel,
                      inference_args=None):
        inputs = [item for _, item in batch]
        steps = max(item.frames.shape[0] for item in inputs)
        dim = inputs[0].frames.shape[1]
        frames = np.zeros((len(inputs), steps, dim), dtype=np.float32)
        for i, item in enumerate(inputs):
            frames[i, : item.frames.shape[0]] = item.frames
        clf = model.classifier
        scores = clf.predict(frames, np.array([i.num_frames for i in inputs]),
                             [i.metadata or None for i in inputs])
        return [(key, item, {"labels": clf.labels_for(score), "top_k": clf.top_k(score, self.top_k),
                             "model": {"name": model.name, "version": model.version},
                             "taxonomy": model.taxonomy})
                for (key, item), score in zip(batch, scores)]

    def batch_elements_kwargs(self):
        return {"min_batch_size": 1, "max_batch_size": self.max_batch_videos}

    def share_model_across_processes(self) -> bool:
        return False

    def get_metrics_namespace(self) -> str:
        return "video_iab_classifier"


def merge_textual(labels: list[dict], textual: list[dict]) -> list[dict]:
    """Union of visual and textual labels by IAB id; each marked with its source(s)."""
    merged = {item["id"]: {**item, "source": "visual"} for item in labels}
    for item in textual:
        if not isinstance(item, dict) or "id" not in item:
            continue
        key = str(item["id"])
        if key in merged:
            merged[key]["source"] = "visual+textual"
            merged[key]["textual_score"] = finite_number(item.get("score"))
        else:
            merged[key] = {"id": key, "name": item.get("name"), "tier_path": item.get("tier_path"),
                           "score": finite_number(item.get("score")), "source": "textual"}
    return sorted(merged.values(), key=lambda x: -(finite_number(x.get("score")) or 0.0))


class WriteLabels(beam.DoFn):
    """(key, VideoInput, scores) -> labels file written atomically -> KlioMessage downstream."""

    def __init__(self, config: ClassifyConfig):
        self.config = config

    def _textual(self, video_id: str) -> list[dict] | None:
        if not self.config.textual_location:
            return None
        path = f"{self.config.textual_location.rstrip('/')}/{video_id}.json"
        if not storage.exists(path):
            return None
        doc = read_small_json(path)
        labels = doc.get("labels", []) if isinstance(doc, dict) else doc
        if not isinstance(labels, list):
            raise BadMetadata(f"{path}: labels are not a list")
        return labels

    def process(self, element):
        key, item, prediction = element
        try:
            msg = KlioMessage.FromString(key)
            labels = prediction["labels"]
            textual = self._textual(item.video_id)  # BadMetadata: a dead letter of its own reason
            labels = merge_textual(labels, textual or []) if textual is not None else [
                {**label, "source": "visual"} for label in labels]
            doc = {
                "video_id": item.video_id,
                "model": prediction["model"],
                "taxonomy": prediction["taxonomy"],
                "labels": labels,
                "top_k": prediction["top_k"],
                "frames_used": int(item.num_frames),
                "metadata_source": item.metadata_source,
                "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            }
            path = f"{self.config.labels_location.rstrip('/')}/{item.video_id}.json"
            storage.write_atomically(path, json.dumps(doc, indent=1).encode("utf-8"))
        except BadMetadata as exc:
            yield _dead(self.config.job_name, item.video_id, "textual-labels", exc)
            return
        except Exception as exc:  # noqa: BLE001
            yield _dead(self.config.job_name, item.video_id, "write-labels", exc, "write-error")
            return
        Metrics.counter(NAMESPACE, "labels-written").inc()
        Metrics.counter(NAMESPACE, "labels-emitted").inc(len(labels))
        msg.data.payload = json.dumps({"labels": [{"id": x["id"], "name": x.get("name"),
                                                   "score": x.get("score"), "source": x["source"]}
                                                  for x in labels],
                                       "labels_path": path, "model": doc["model"]}).encode("utf-8")
        yield msg


def _failed_batch_to_dead_letters(job: str):
    def convert(failed):
        batch, exc = failed
        for _, item in batch:
            Metrics.counter(NAMESPACE, "dead-letters-classify").inc()
            yield DeadLetter.from_exception(job, item.video_id, "classify", exc, "classify-error")
    return convert


class ClassifyVideos(beam.PTransform):
    """PCollection[KlioMessage] -> {"main": KlioMessage, "dead_letter": DeadLetter} (module doc)."""

    def __init__(self, config: ClassifyConfig):
        super().__init__()
        self.config = config

    def expand(self, messages):
        cfg = self.config
        read = messages | "read features" >> beam.ParDo(ReadFeatures(cfg)).with_outputs(
            "dead_letter", main="main")
        scored, failed = read.main | "classify" >> RunInference(
            ClassifierHandler(cfg.model_dir, cfg.max_batch_videos, cfg.top_k)).with_exception_handling()
        classify_dead = failed.failed_inferences | "classify failures" >> beam.FlatMap(
            _failed_batch_to_dead_letters(cfg.job_name))
        written = scored | "write labels" >> beam.ParDo(WriteLabels(cfg)).with_outputs(
            "dead_letter", main="main")
        dead = (read.dead_letter, classify_dead, written.dead_letter) | "dead letters" >> beam.Flatten()
        return {"main": written.main, "dead_letter": dead}
