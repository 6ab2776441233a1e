"""The classifier's RunInference handler on the demo's two-stream model (video + audio): a video
whose features do not fit the model gets an error of its own; the rest of its batch is scored."""
import os

import numpy as np
import pytest

from model.classifier.handler import ClassifierHandler, UnfitInput, VideoInput

DEMO_MODEL = os.path.join(os.path.dirname(__file__), "..", "..", "demo", "model")


@pytest.fixture(scope="module")
def handler_and_model():
    handler = ClassifierHandler(DEMO_MODEL, cache_dir=os.path.join(os.environ["VIDEO_IAB_CACHE"], "openvino"))
    return handler, handler.load_model()


def _video(name: str, rgb_dim: int, audio_dim: int | None, frames: int = 5, seed: int = 0) -> VideoInput:
    rng = np.random.default_rng(seed)
    audio = None if audio_dim is None else rng.uniform(-1, 1, (frames, audio_dim)).astype(np.float32)
    return VideoInput(name, rng.uniform(-1, 1, (frames, rgb_dim)).astype(np.float32), frames, {},
                      "unknown", audio=audio)


def test_unfit_videos_get_their_own_error_and_the_batch_is_scored(handler_and_model):
    handler, model = handler_and_model
    config = model.classifier.config
    assert config.audio is not None, "the demo model hears: it has an audio stream"
    rgb, audio = config.rgb.feature_size, config.audio.feature_size
    batch = [("a", _video("a", rgb, audio)), ("no-audio", _video("no-audio", rgb, None)),
             ("wide", _video("wide", rgb + 1, audio)), ("b", _video("b", rgb, audio, frames=3, seed=1)),
             ("short-audio", VideoInput("short-audio", np.zeros((4, rgb), np.float32), 4, {}, "unknown",
                                        audio=np.zeros((2, audio), np.float32)))]
    results = {key: prediction for key, _, prediction in handler.run_inference(batch, model)}
    errors = {key: (p["error"].reason if "error" in p else None) for key, p in results.items()}
    assert errors == {"a": None, "b": None, "no-audio": "no-audio-features",
                      "wide": "feature-size-mismatch", "short-audio": "feature-size-mismatch"}
    assert all(isinstance(results[k]["error"], UnfitInput) for k in ("no-audio", "wide", "short-audio"))
    # the fit videos score exactly as they would alone
    for key in ("a", "b"):
        alone = handler.run_inference([batch[[k for k, _ in batch].index(key)]], model)[0][2]
        assert [x["score"] for x in results[key]["top_k"]] == [x["score"] for x in alone["top_k"]]


def test_an_unfit_input_survives_pickling():
    import pickle

    error = pickle.loads(pickle.dumps(UnfitInput("no-audio-features", "no audio list")))
    assert error.reason == "no-audio-features" and str(error) == "no audio list"
