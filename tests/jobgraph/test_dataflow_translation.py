"""CI's check that the video graph translates for Dataflow, offline.

For each job of the root klio-job.yaml, streaming and batch: `klio job run --job JOB` with
DataflowRunner and `dry_run`, every location moved to gs:// with -O. Beam builds the pipeline,
serialises it to its runner API (every DoFn, coder and side input pickled) and translates it
for Dataflow, then stops before its API client: nothing is submitted, no Google endpoint is
called (a dead proxy catches any attempt). So an unpicklable DoFn, a coder Beam cannot encode
or an option Beam rejects fails here, not at deployment. The models are loaded lazily
(setup / load_model) and nothing here builds Inception. video-iab's config checks that its
model directory holds a model, so the demo model is uploaded to the GCS emulator first; a batch
run of video-iab alone also builds video-features' stage (the bottom-up fill).
"""
from __future__ import annotations

import os

import pytest

from tests.jobgraph import toygraph
from tests.jobgraph.inprocess import klio_main, offline

pytestmark = pytest.mark.emulator
CONFIG = os.path.join(toygraph.REPO, "klio-job.yaml")
GS = "gs://test-bucket/translate"
MODEL_FILES = ("config.yaml", "model.weights.h5", "categories.json", "thresholds.json")

OVERRIDES = [
    "pipeline_options.runner=DataflowRunner", "pipeline_options.dry_run=true",
    "pipeline_options.region=europe-west1", f"pipeline_options.temp_location={GS}/tmp",
    "pipeline_options.sdk_container_image=europe-west1-docker.pkg.dev/video-iab-local/ml/video-iab:ci",
    f"video-features:job_config.data.inputs.0.location={GS}/videos",
    f"video-features:job_config.data.outputs.0.location={GS}/features",
    f"video-features:job_config.events.outputs.1.location={GS}/events/video-features",
    f"video-features:job_config.dead_letter.1.location={GS}/dead-letter/video-features",
    f"video-features:job_config.pca={GS}/pca.npz",
    f"video-iab:job_config.data.inputs.0.location={GS}/features",
    f"video-iab:job_config.data.outputs.0.location={GS}/labels",
    f"video-iab:job_config.events.outputs.1.location={GS}/events/video-iab",
    f"video-iab:job_config.dead_letter.1.location={GS}/dead-letter/video-iab",
    f"video-iab:job_config.model_dir={GS}/model",
    f"video-iab:job_config.metadata_location={GS}/metadata",
]


@pytest.fixture(scope="module")
def demo_model_on_gcs(gcs_emulator):
    from google.cloud import storage

    bucket = storage.Client(project="video-iab-local").bucket("test-bucket")
    for name in MODEL_FILES:
        bucket.blob(f"translate/model/{name}").upload_from_filename(
            os.path.join(toygraph.REPO, "demo", "model", name))
    return f"{GS}/model"


@pytest.mark.parametrize("mode", ["--streaming", "--batch"])
@pytest.mark.parametrize("job", ["video-features", "video-iab"])
def test_each_video_job_translates_for_dataflow(job, mode, demo_model_on_gcs, monkeypatch, capsys):
    offline(monkeypatch)
    ids = ["v1"] if mode == "--batch" and job == "video-iab" else []  # it has no batch event input
    overrides = [a for o in OVERRIDES for a in ("-O", o)]
    code, out, err = klio_main(monkeypatch, capsys, "job", "run", "--job", job, mode, "-c", CONFIG, *overrides, *ids)
    assert code == 0, err
    assert out.strip() == f"klio job run: dry run of {job}: translated, not submitted"
