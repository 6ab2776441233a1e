"""The features job with an audio embedder: every video, whatever its audio, gets a feature file
with an `audio` list beside `rgb`, and `klio features show` lists both streams."""
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from model.audio.config import AudioEmbedderConfig
from model.features.codec import read_feature_file
from tests.features.test_extract import run_job, tasks
from transforms import synthetic_video as sv
from transforms.cli import features
from transforms.extract import FeaturesConfig


@pytest.fixture(scope="module")
def audio_config():
    # Seeded VGGish weights (the published ones cannot be downloaded here), converted once into
    # the tests' shared cache.
    return AudioEmbedderConfig(weights="seeded", seed=0, backend="openvino-fp32",
                               cache_dir=os.path.join(os.environ["VIDEO_IAB_CACHE"], "audio"))


@pytest.fixture(scope="module")
def written(tmp_path_factory, pipeline_embedder_config, audio_config):
    """The job over videos with a tone, noise, no audio, broken audio, short and long audio."""
    root = tmp_path_factory.mktemp("audio-job")
    base = dict(duration_s=3.0, fps=10, content="scene", width=96, height=64, audio=True)
    specs = {"tone": dict(audio_kind="tone"), "noise": dict(audio_kind="noise", seed=1),
             "short": dict(audio_kind="tone", audio_duration_s=1.2),
             "long": dict(audio_kind="tone", audio_duration_s=12.0)}
    for name, extra in specs.items():
        sv.write_video(str(root / f"{name}.mp4"), sv.VideoSpec(**{**base, **extra}))
    sv.write_video(str(root / "mute.mp4"), sv.VideoSpec(**{**base, "audio": False}))
    sv.corrupt_audio(str(root / "tone.mp4"), str(root / "broken.mp4"))
    names = [*specs, "mute", "broken"]
    out = str(root / "features")
    os.makedirs(out)
    config = FeaturesConfig(embedder=pipeline_embedder_config, audio=audio_config)
    outputs = run_job(tasks([(n, str(root / f"{n}.mp4")) for n in names], out, None), config, root)
    return out, outputs


def test_every_video_gets_an_audio_list_beside_rgb(written):
    out, outputs = written
    assert outputs["dead_letter"] == [] and len(outputs["main"]) == 6
    files = {name: read_feature_file(os.path.join(out, f"{name}.tfrecord"))
             for name in ("tone", "noise", "short", "long", "mute", "broken")}
    for name, parsed in files.items():
        assert parsed.audio_raw.shape == (3, 128) and parsed.audio_raw.dtype == np.uint8, name
        assert parsed.audio.dtype == np.float32 and parsed.context["audio_timestamps_s"] == [0.0, 1.0, 2.0]
        assert parsed.context["audio_embedder_name"] == "vggish"
        assert parsed.context["audio_embedder_version"].endswith(";seeded:0")
    sources = {name: parsed.context["audio_source"] for name, parsed in files.items()}
    assert sources == {"tone": "stream", "noise": "stream", "short": "stream", "long": "stream",
                       "mute": "none", "broken": "stream"}
    assert files["broken"].context["audio_decode_errors"] > 0
    assert files["tone"].context["audio_decode_errors"] == 0


def test_audio_features_follow_what_is_heard(written):
    out, _ = written
    audio = {name: read_feature_file(os.path.join(out, f"{name}.tfrecord")).audio
             for name in ("tone", "noise", "short", "long", "mute")}
    distance = lambda a, b: float(np.linalg.norm(a - b, axis=1).mean())  # noqa: E731
    # the same tone heard for the video's whole length: as long, as short (first second), longer
    assert distance(audio["long"], audio["tone"]) < 0.2 * distance(audio["noise"], audio["tone"])
    assert distance(audio["short"][:1], audio["tone"][:1]) < 0.2 * distance(audio["noise"], audio["tone"])
    # silence after the short track ends sounds like the video without audio
    assert distance(audio["short"][2:], audio["mute"][2:]) < 0.2 * distance(audio["tone"], audio["mute"])
    assert np.ptp(audio["mute"], axis=0).max() == 0  # every silent second embeds the same


def test_features_show_lists_both_streams(written):
    out, _ = written
    result = CliRunner().invoke(features, ["show", os.path.join(out, "short.tfrecord")])
    assert result.exit_code == 0, result.output
    streams = json.loads(result.output)["streams"]
    assert streams["rgb"] == {"num_frames": 3, "dim": 2048, "dtype": "float16",
                              "timestamps": [0.0, 1.0, 2.0]}
    audio = streams["audio"]
    assert (audio["num_frames"], audio["dim"], audio["dtype"]) == (3, 128, "uint8")
    assert audio["timestamps"] == [0.0, 1.0, 2.0] and audio["source"] == "stream"
    assert audio["embedder"]["name"] == "vggish" and audio["embedder"]["backend"] == "openvino-fp32"
