"""Inception-v3 embedder: seeded weights give informative features; handler batches by frames."""
import numpy as np
import pytest

from model.embedding.config import EmbedderConfig
from model.embedding.constants import DIM
from model.embedding.handler import EmbedderHandler, load_embedder
from model.embedding.inception import build_inception
from transforms.calibration import CALIBRATION, scene_frames
from tests.threads import assert_each_concurrent_call_gets_its_own_result
from transforms.synthetic_video import SceneRenderer, frame_index_image


def cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(5)
    scenes = [SceneRenderer(c, 299, 299, rng).frame(2.0) for c in (0, 1, 7)]
    solid = np.full((299, 299, 3), (255, 0, 0), np.uint8)
    return np.stack(scenes + [solid, frame_index_image(4321, 299, 299)])


def test_seeded_features_distinguish_images(embedder, images):
    feats = embedder.embed(images)
    assert feats.shape == (len(images), DIM) and feats.dtype == np.float32
    assert np.isfinite(feats).all() and (feats >= 0).all()  # average-pooled ReLU outputs
    sims = [cosine(feats[i], feats[j]) for i in range(len(images)) for j in range(i)]
    assert max(sims) < 0.97, sims  # a fresh Inception-v3 gives ~0.9999 between any two images
    # the same image gives the same features, alone or in a batch
    np.testing.assert_allclose(embedder.embed(images[2:3])[0], feats[2], rtol=1e-3, atol=1e-4)


def test_seeded_weights_are_reproducible_and_explicit(embedder, embedder_config):
    frames = scene_frames(embedder_config.seed, embedder_config.calibration_frames)
    again = build_inception(embedder_config, frames)  # a second build from the same seed
    for w_again, w_first in zip(again.weights, embedder.keras_model.weights):
        if w_first.trainable:
            np.testing.assert_array_equal(w_again.numpy(), w_first.numpy())
        else:  # BatchNorm statistics re-estimated on the seeded calibration frames
            np.testing.assert_allclose(w_again.numpy(), w_first.numpy(), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="seed"):
        EmbedderConfig(weights="seeded")
    with pytest.raises(ValueError, match="seed"):
        EmbedderConfig(weights="imagenet", seed=3)
    with pytest.raises(ValueError, match="batchnorm_frames"):
        build_inception(embedder_config)  # seeded weights cannot be built without frames
    with pytest.raises(FileNotFoundError):
        build_inception(EmbedderConfig(weights="/nonexistent/inception.weights.h5"))
    assert embedder.info.version.endswith(";seeded:1234") and embedder.info.precision == "fp32"


def test_weights_file_round_trip(embedder, tmp_path, images):
    path = str(tmp_path / "inception.weights.h5")
    embedder.keras_model.save_weights(path)
    model = build_inception(EmbedderConfig(weights=path))
    import keras

    got = keras.ops.convert_to_numpy(model(images[:2].astype("float32") / 127.5 - 1, training=False))
    np.testing.assert_allclose(got, embedder.embed(images[:2]), rtol=1e-3, atol=1e-4)


def test_handler_concatenates_and_splits_by_video(embedder, embedder_config, images):
    handler = EmbedderHandler(embedder_config, CALIBRATION)
    kwargs = handler.batch_elements_kwargs()
    assert kwargs["max_batch_size"] == embedder_config.batch_frames
    assert kwargs["element_size_fn"](("v", images[:3])) == 3
    batch = [("a", images[:2]), ("b", images[2:5]), ("c", images[4:5])]
    out = list(handler.run_inference(batch, embedder))
    assert [k for k, _ in out] == ["a", "b", "c"]
    assert [f.shape for _, f in out] == [(2, DIM), (3, DIM), (1, DIM)]
    whole = embedder.embed(images)
    np.testing.assert_allclose(out[1][1], whole[2:5], rtol=1e-3, atol=1e-4)
    with pytest.raises(ValueError, match="uint8"):
        embedder.embed(images.astype(np.float32))


def test_unknown_backend_goes_to_embed_backends(embedder_config):
    import dataclasses

    config = dataclasses.replace(embedder_config, backend="no-such-backend")
    with pytest.raises((ValueError, KeyError, ImportError)) as info:
        load_embedder(config, CALIBRATION)  # model.embedding.backends.create_backend rejects the name
    assert "no-such-backend" in str(info.value) or isinstance(info.value, ImportError)


@pytest.mark.parametrize("threads", ["1", "2"])  # one infer request; an async queue of two
def test_one_loaded_embedder_serves_concurrent_threads(pipeline_embedder_config, images, threads,
                                                       monkeypatch):
    # RunInference hands one loaded model to all of a worker's threads: calls made at once must
    # each get their own frames' features (OpenVINO's infer requests are not thread-safe).
    monkeypatch.setenv("VIDEO_IAB_EMBED_THREADS", threads)
    embedder = load_embedder(pipeline_embedder_config, CALIBRATION)
    inputs = [images[i:i + 1 + i % 2] for i in range(4)]
    assert_each_concurrent_call_gets_its_own_result(embedder.embed, inputs, calls=40)


def test_a_pipeline_loads_the_embedder_once_across_its_threads(pipeline_embedder, pipeline_embedder_config,
                                                               images):
    # RunInference's sharing is the only model sharing: many bundles on two worker threads
    # load one model (counted by RunInference's own load metric), and every video gets its
    # own frames' features.
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.ml.inference.base import RunInference
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.testing.util import assert_that, equal_to

    videos = {f"v{i}": images[i % 5:i % 5 + 1 + i % 2] for i in range(12)}
    expected = {key: pipeline_embedder.embed(frames) for key, frames in videos.items()}
    options = PipelineOptions(flags=[], runner="FnApiRunner", direct_num_workers=2,
                              direct_running_mode="multi_threading")
    pipeline = beam.Pipeline(options=options)
    checked = (pipeline | beam.Create(sorted(videos.items())) | beam.Reshuffle()
               | RunInference(EmbedderHandler(pipeline_embedder_config, CALIBRATION))
               | beam.MapTuple(lambda key, got: (key, bool(np.allclose(got, expected[key], atol=1e-5)))))
    assert_that(checked, equal_to([(key, True) for key in sorted(videos)]))
    result = pipeline.run()
    result.wait_until_finish()
    loads = result.metrics().query(MetricsFilter().with_name("load_model_latency_milli_secs"))
    assert [d.committed.count for d in loads["distributions"]] == [1]
