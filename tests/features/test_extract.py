"""ExtractFeatures in a batch pipeline (BundleBasedDirectRunner) over a directory of videos."""
import glob
import os
import pickle
import uuid

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from jobgraph.deadletter import DeadLetter
from jobgraph.message import new_message
from jobgraph.task import Task
from transforms import synthetic_video as sv
from transforms.decode import DecodeConfig
from transforms.extract import ExtractFeatures, FeaturesConfig
from model.features.codec import read_feature_file


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("uploads")
    sv.write_video(str(d / "clip_a.mp4"), sv.VideoSpec(duration_s=3.0))
    sv.write_video(str(d / "clip_b.webm"), sv.VideoSpec(codec="vp9", duration_s=2.0, width=65, height=49))
    sv.write_video(str(d / "clip_c.mp4"), sv.VideoSpec(codec="mpeg4", duration_s=4.0, content="scene"))
    sv.write_zero_bytes(str(d / "empty.mp4"))
    sv.write_audio_only(str(d / "song.m4a"))
    return d


def listing(video_dir):
    """(id, path) for every file in the upload directory, as a backfill would list them."""
    pairs = [(os.path.splitext(os.path.basename(p))[0], p) for p in sorted(glob.glob(str(video_dir / "*")))]
    return pairs + [("bad id/../x", str(video_dir / "clip_a.mp4"))]


def tasks(pairs, out_dir, message=None):
    """A Task per (id, video path): its feature file goes to {out_dir}/{id}.tfrecord."""
    return [Task(i, path, os.path.join(out_dir, f"{i}.tfrecord"), message) for i, path in pairs]


def frames_written(outputs):
    """(id, frames in its feature file) of each written task, sorted."""
    return sorted((t.element_id, read_feature_file(t.output_path).num_frames) for t in outputs)


def _dump(directory):
    def write(element):
        with open(os.path.join(directory, uuid.uuid4().hex), "wb") as f:
            pickle.dump(element, f)
    return write


def run_job(pairs, config, sink_root):
    """Run ExtractFeatures on `pairs` (Tasks); returns each output's elements (pickled to files
    by the pipeline, since DoFns run on pickled copies)."""
    sink_root = os.path.join(str(sink_root), uuid.uuid4().hex)
    options = PipelineOptions(flags=[], runner="BundleBasedDirectRunner")
    with beam.Pipeline(options=options) as p:
        out = p | beam.Create(pairs) | ExtractFeatures(config)
        for name in ("main", "skipped", "dead_letter"):
            os.makedirs(os.path.join(sink_root, name))
            _ = out[name] | f"dump {name}" >> beam.Map(_dump(os.path.join(sink_root, name)))
    collected = {}
    for name in ("main", "skipped", "dead_letter"):
        folder = os.path.join(sink_root, name)
        collected[name] = [pickle.load(open(os.path.join(folder, f), "rb")) for f in os.listdir(folder)]
    return collected


def test_batch_over_directory_then_rerun_skips(video_dir, tmp_path, pipeline_embedder,
                                                pipeline_embedder_config):
    out_dir = str(tmp_path / "features")
    os.makedirs(out_dir)
    pairs = listing(video_dir)
    config = FeaturesConfig(job_name="video-features-first", decode=DecodeConfig(),
                            embedder=pipeline_embedder_config)
    first = run_job(tasks(pairs, out_dir), config, tmp_path)
    assert frames_written(first["main"]) == [("clip_a", 3), ("clip_b", 2), ("clip_c", 4)]
    assert sorted(os.listdir(out_dir)) == ["clip_a.tfrecord", "clip_b.tfrecord", "clip_c.tfrecord"]
    dead = {d.element: d for d in first["dead_letter"]}
    assert all(isinstance(d, DeadLetter) for d in dead.values())
    assert {k: (d.stage, d.reason) for k, d in dead.items()} == {
        "empty": ("decode", "empty-file"), "song": ("decode", "no-video-stream"),
        "bad id/../x": ("validate-id", "invalid-id")}
    assert all(d.job == "video-features-first" for d in dead.values())
    assert len(first["main"]) + len(first["skipped"]) + len(first["dead_letter"]) == len(pairs)

    parsed = read_feature_file(os.path.join(out_dir, "clip_c.tfrecord"))
    assert parsed.video_id == "clip_c" and parsed.frames.shape == (4, 2048)
    assert parsed.raw.dtype == np.float16 and parsed.context["rgb_encoding"] == "float16"
    assert parsed.context["timestamps_s"] == [0.0, 1.0, 2.0, 3.0]
    assert parsed.context["embedder_name"] == "inception_v3"
    assert parsed.context["sampling"] == "head;fps=1;max_frames=300;size=299"
    # the pipeline's features are the embedder's features of the decoded frames
    from transforms.decode import decode_video

    direct = pipeline_embedder.embed(decode_video(str(video_dir / "clip_c.mp4")).frames)
    np.testing.assert_allclose(parsed.frames, direct.astype(np.float16).astype(np.float32),
                               rtol=1e-2, atol=1e-2)

    rerun = run_job(tasks(pairs, out_dir), FeaturesConfig(job_name="video-features-rerun",
                                                          decode=DecodeConfig(), embedder=pipeline_embedder_config),
                    tmp_path)
    assert rerun["main"] == []
    assert sorted(t.element_id for t in rerun["skipped"]) == ["clip_a", "clip_b", "clip_c"]
    assert len(rerun["dead_letter"]) == 3


def test_pca_quantised_output(video_dir, tmp_path, pipeline_embedder_config):
    from model.features.pca import fit_pca
    from transforms.features_io import write_pca

    rng = np.random.default_rng(0)
    pca_path = str(tmp_path / "pca.npz")
    write_pca(pca_path, fit_pca(rng.random((200, 2048)), dims=32))
    out_dir = str(tmp_path / "q")
    os.makedirs(out_dir)
    config = FeaturesConfig(job_name="video-features-first", embedder=pipeline_embedder_config, pca_path=pca_path,
                            skip_existing=False)
    result = run_job(tasks([("clip_a", str(video_dir / "clip_a.mp4"))], out_dir), config, tmp_path)
    assert frames_written(result["main"]) == [("clip_a", 3)]
    parsed = read_feature_file(os.path.join(out_dir, "clip_a.tfrecord"))
    assert parsed.raw.dtype == np.uint8 and parsed.raw.shape == (3, 32)
    assert parsed.context["rgb_encoding"] == "uint8" and parsed.context["pca"] == "pca.npz"


def test_embed_failures_become_dead_letters(video_dir, tmp_path, pipeline_embedder_config):
    # frames decoded at 128x128 do not fit Inception's 299x299 input: the whole RunInference
    # batch fails, and every video in it must come out as a dead letter, not crash the job.
    out_dir = str(tmp_path / "e")
    os.makedirs(out_dir)
    config = FeaturesConfig(job_name="video-features-first", decode=DecodeConfig(size=128),
                            embedder=pipeline_embedder_config)
    pairs = [("clip_a", str(video_dir / "clip_a.mp4")), ("clip_b", str(video_dir / "clip_b.webm"))]
    result = run_job(tasks(pairs, out_dir), config, tmp_path)
    assert result["main"] == [] and os.listdir(out_dir) == []
    assert sorted((d.element, d.stage, d.reason) for d in result["dead_letter"]) == [
        ("clip_a", "embed", "embed-error"), ("clip_b", "embed", "embed-error")]


def test_message_reaches_main_and_skipped_and_its_metadata_is_stored(video_dir, tmp_path, pipeline_embedder_config):
    out_dir = str(tmp_path / "p")
    os.makedirs(out_dir)
    config = FeaturesConfig(job_name="video-features-first", embedder=pipeline_embedder_config)
    message = new_message("clip_b", top_down=True, payload=b'{"category": "news"}')
    one = tasks([("clip_b", str(video_dir / "clip_b.webm"))], out_dir, message)
    first = run_job(one, config, tmp_path)
    assert frames_written(first["main"]) == [("clip_b", 2)]
    assert [t.message for t in first["main"]] == [message]
    assert read_feature_file(first["main"][0].output_path).context["meta_category"] == "news"
    again = run_job(one, config, tmp_path)
    assert [(t.element_id, t.message) for t in again["skipped"]] == [("clip_b", message)]


def test_decode_ahead_gives_the_same_outputs(video_dir, tmp_path, pipeline_embedder_config):
    # Decoding in a helper process, two videos ahead: the same feature files and dead letters,
    # with what is pending at the end of a bundle emitted in finish_bundle.
    outputs = {}
    for depth in (0, 2):
        out_dir = str(tmp_path / f"ahead{depth}")
        os.makedirs(out_dir)
        config = FeaturesConfig(job_name="video-features-first", embedder=pipeline_embedder_config,
                                decode_ahead=depth)
        result = run_job(tasks(listing(video_dir), out_dir), config, tmp_path)
        outputs[depth] = (frames_written(result["main"]),
                          sorted((d.element, d.reason) for d in result["dead_letter"]),
                          {f: read_feature_file(os.path.join(out_dir, f)).raw for f in os.listdir(out_dir)})
    assert outputs[2][0] == outputs[0][0] == [("clip_a", 3), ("clip_b", 2), ("clip_c", 4)]
    assert outputs[2][1] == outputs[0][1] and len(outputs[0][1]) == 3
    assert outputs[2][2].keys() == outputs[0][2].keys()
    for name, raw in outputs[0][2].items():
        np.testing.assert_array_equal(outputs[2][2][name], raw)
