"""The video-iab job's work: feature file -> NeXtVLAD scores (RunInference) -> labels JSON.

    outputs = tasks | ClassifyVideos(ClassifyConfig(...))
    outputs["main"]         Task whose message carries a JSON summary of the labels (labels written)
    outputs["dead_letter"]  jobgraph.deadletter.DeadLetter                          (one per failure)

Input: PCollection[jobgraph.task.Task]: the feature file at `input_path` (the runtime checked it
exists), the labels file to write at `output_path`. Upload metadata for the metadata branch
comes from the message payload (the upload event's JSON), else as video-features stored it with
the features, else a sidecar `{metadata_location}/{id}.json`; missing metadata is "unknown";
present but unusable metadata (too large, too deep, not an object, not a regular file) is a
`bad-metadata` dead letter. Labels file (written atomically; README "Labels file"):
{schema_version: 2, video_id, model: {name, version, backend}, taxonomy,
 features: {embedder: {name, version, backend, precision, seeded_weights}, sampling, pca
            [, audio: {embedder: {name, version, backend}, source}][, note]},
 labels: [{id, name, tier_path, score, threshold, source[, textual_score]}],
 top_k: [{id, name, score}], frames_used, metadata_source, created_at}
model.version: sha256 of the weights, thresholds and categories files (first 12 hex digits);
scores and thresholds rounded to 4 decimal places after thresholding.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import numbers

import apache_beam as beam
from apache_beam.metrics import Metrics

from jobgraph import storage
from jobgraph.deadletter import StepChain, failed
from jobgraph.task import Task
from model.classifier.handler import ClassifierHandler, VideoInput
from transforms.upload_metadata import (BadMetadata, as_duration, clean_metadata, finite_number,
                                        metadata_from_context, metadata_from_payload,
                                        metadata_from_sidecar, read_small_json, sidecar_path)

NAMESPACE = "video_iab"
LABELS_SCHEMA_VERSION = 2  # bump on any change a reader of the labels file must know about
SCORE_DECIMALS = 4  # enough to read against a threshold, without float32 noise; applied after thresholding
SEEDED_NOTE = ("features from seeded (random) embedder weights: a demo's; these labels say "
               "nothing about real videos")


@dataclasses.dataclass(frozen=True)
class ClassifyConfig:
    job_name: str
    model_dir: str
    metadata_location: str | None = None
    textual_location: str | None = None
    top_k: int = 20
    max_batch_videos: int = 32
    backend: str = "openvino"  # the classifier's runtime (model/classifier/backends.py)
    cache_dir: str | None = None  # its conversion cache; None: the default one


def _failed(config: ClassifyConfig, element: str, stage: str, exc: BaseException, reason: str | None = None):
    return failed(config.job_name, element, stage, exc, reason, namespace=NAMESPACE)


class ReadFeatures(beam.DoFn):
    """Task -> (Task, VideoInput); an unreadable feature file or unusable metadata -> a dead
    letter for that element only (no exception leaves this step)."""

    def __init__(self, config: ClassifyConfig):
        self.config = config

    def process(self, task: Task):
        stage = "read-features"
        try:
            features = self._features(task.input_path)
            stage = "metadata"
            metadata, source = self._metadata(task, features.context)
        except BadMetadata as exc:
            yield _failed(self.config, task.element_id, stage, exc)
            return
        except Exception as exc:  # noqa: BLE001 - every failure is a record
            reason = "bad-feature-file" if stage == "read-features" else "bad-metadata"
            yield _failed(self.config, task.element_id, stage, exc, reason)
            return
        # The video's own duration stands in when the upload did not say (not upload metadata).
        if "duration" not in metadata and features.context.get("duration_s") is not None:
            duration = as_duration(features.context["duration_s"])
            if duration is not None:
                metadata["duration"] = duration
        Metrics.counter(NAMESPACE, f"metadata-{source}").inc()
        yield task, VideoInput(task.element_id, features.frames, features.num_frames, metadata, source,
                               feature_provenance(features.context), audio=features.audio)

    @staticmethod
    def _features(path: str):
        from model.features.codec import read_feature_file

        features = read_feature_file(path)
        if features.num_frames == 0:
            raise ValueError(f"{path} holds no frames")
        return features

    def _metadata(self, task: Task, context: dict) -> tuple[dict, str]:
        """(cleaned metadata, source: "payload" | "sidecar" | "unknown"). The upload event's
        payload wins: from the message, else as video-features stored it with the features (a
        batch run has no payload); then the sidecar."""
        payload = task.message.data.payload if task.message is not None else b""
        metadata = clean_metadata(metadata_from_payload(payload))
        if not metadata:
            metadata = metadata_from_context(context)
        if metadata:
            return metadata, "payload"
        if self.config.metadata_location:
            metadata = clean_metadata(metadata_from_sidecar(self.config.metadata_location, task.element_id))
            if metadata:
                return metadata, "sidecar"
        return {}, "unknown"


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


def feature_provenance(context: dict) -> dict:
    """The labels file's `features`: the embedder, weights, sampling and PCA a feature file's
    context records (model/features/codec.py), and its audio embedder and source when it has
    an audio list; features of a seeded (frame or audio) embedder are marked."""
    version = context.get("embedder_version")
    seeded = ";seeded:" in str(version or "")
    embedder = {"name": context.get("embedder_name"), "version": version,
                "backend": context.get("embedder_backend"),
                "precision": context.get("embedder_precision"), "seeded_weights": seeded}
    out = {"embedder": embedder, "sampling": context.get("sampling"), "pca": context.get("pca")}
    if context.get("audio_embedder_name") is not None:
        out["audio"] = {"embedder": {key: context.get(f"audio_embedder_{key}")
                                     for key in ("name", "version", "backend")},
                        "source": context.get("audio_source")}
        seeded = seeded or ";seeded:" in str(context.get("audio_embedder_version") or "")
    if seeded:
        out["note"] = SEEDED_NOTE
    return out


def _rounded(value):
    """A score as the labels file shows it: 4 decimal places (None and non-numbers kept)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return value
    return round(float(value), SCORE_DECIMALS)


def _rounded_items(items: list[dict], keys: tuple[str, ...]) -> list[dict]:
    return [{**item, **{k: _rounded(item[k]) for k in keys if k in item}} for item in items]


def labels_document(item: VideoInput, prediction: dict, labels: list[dict]) -> dict:
    """The labels file's content (module docstring; README "Labels file"). `labels` have
    passed their thresholds on the model's own scores: rounding comes after."""
    return {"schema_version": LABELS_SCHEMA_VERSION, "video_id": item.video_id,
            "model": prediction["model"], "taxonomy": prediction["taxonomy"],
            "features": item.features or feature_provenance({}),
            "labels": _rounded_items(labels, ("score", "threshold", "textual_score")),
            "top_k": _rounded_items(prediction["top_k"], ("score",)), "frames_used": int(item.num_frames),
            "metadata_source": item.metadata_source,
            "created_at": datetime.datetime.now(datetime.timezone.utc).isoformat()}


def event_payload(doc: dict, path: str) -> bytes:
    """What goes downstream in the message: the labels in brief and where the file is."""
    labels = [{"id": x["id"], "name": x.get("name"), "score": x.get("score"), "source": x["source"]}
              for x in doc["labels"]]
    return json.dumps({"labels": labels, "labels_path": path, "model": doc["model"]}).encode("utf-8")


class WriteLabels(beam.DoFn):
    """(Task, VideoInput, prediction) -> labels file written atomically -> Task downstream."""

    def __init__(self, config: ClassifyConfig):
        self.config = config

    def _textual(self, video_id: str) -> list[dict] | None:
        if not self.config.textual_location:
            return None
        path = sidecar_path(self.config.textual_location, video_id)
        if not storage.exists(path):
            return None
        doc = read_small_json(path)
        labels = doc.get("labels", []) if isinstance(doc, dict) else doc
        if not isinstance(labels, list):
            raise BadMetadata(f"{path}: labels are not a list")
        return labels

    def process(self, element):
        task, item, prediction = element
        if "error" in prediction:  # features the model cannot take (ClassifierHandler)
            yield _failed(self.config, item.video_id, "classify", prediction["error"],
                          prediction["error"].reason)
            return
        try:
            textual = self._textual(item.video_id)  # BadMetadata: a dead letter of its own reason
            labels = merge_textual(prediction["labels"], textual) if textual is not None else [
                {**label, "source": "visual"} for label in prediction["labels"]]
            doc = labels_document(item, prediction, labels)
            storage.write_atomically(task.output_path, json.dumps(doc, indent=1).encode("utf-8"))
        except BadMetadata as exc:
            yield _failed(self.config, item.video_id, "textual-labels", exc)
            return
        except Exception as exc:  # noqa: BLE001
            yield _failed(self.config, item.video_id, "write-labels", exc, "write-error")
            return
        Metrics.counter(NAMESPACE, "labels-written").inc()
        Metrics.counter(NAMESPACE, "labels-emitted").inc(len(labels))
        yield task.with_payload(event_payload(doc, task.output_path))


def _task_id(element: tuple[Task, VideoInput]) -> str:
    return element[0].element_id


class ClassifyVideos(beam.PTransform):
    """PCollection[Task] -> {"main": Task, "dead_letter": DeadLetter} (module docstring)."""

    def __init__(self, config: ClassifyConfig):
        super().__init__()
        self.config = config

    def expand(self, tasks):
        cfg = self.config
        chain = StepChain(cfg.job_name, NAMESPACE)
        read = chain.par_do(tasks, "read features", ReadFeatures(cfg)).main
        handler = ClassifierHandler(cfg.model_dir, cfg.max_batch_videos, cfg.top_k, cfg.backend, cfg.cache_dir)
        scored = chain.run_inference(read, "classify", handler, "classify", "classify-error", _task_id,
                                     warm_up=handler.warm_up_input())
        written = chain.par_do(scored, "write labels", WriteLabels(cfg)).main
        return {"main": written, "dead_letter": chain.dead_letters()}
