"""Quality guard: the matrix-unit backends keep the synthetic task's metrics.

A linear probe is trained on each backend's features of a labelled synthetic frame task and
scored with the project's GAP@20 and coverage at 80% precision against keras-fp32's. GAP@20 may
fall at most one point. Coverage at a precision target has a sampling sd of several points on
300 frames (it jumps with the threshold where precision crosses 80%), so for it the test is
non-inferiority: the drop minus twice its paired-bootstrap sd is at most one point.
`python -m benchmarks backends` runs the same guard on more frames and on every backend.

openvino-bf16 is guarded on the first half of the frames (the fp32 probe retrained on the same
half): on a CPU without bf16 instructions OpenVINO emulates it at a few frames per second, and
its 600 frames alone took 111 s of a 2-vCPU CI run. Its GAP@20 noise grows accordingly (the
bootstrap sd is printed on failure); int8, the default, keeps all the frames.
"""
import pytest

from model.embedding.synthetic_frames import synthetic_frames
from model.embedding.quality import paired_drop, task_metrics, train_linear_probe

N = 300  # train frames = test frames
FRAMES = {"openvino-bf16": N // 2, "openvino-int8": N}  # frames of each split a backend is guarded on


@pytest.fixture(scope="module")
def task():
    train_x, train_y = synthetic_frames(N, seed=1)
    test_x, test_y = synthetic_frames(N, seed=2)
    return train_x, train_y, test_x, test_y


def _scores(embed, task, n=N):
    """Probe scores float32[n,C] on the first n test frames, the probe trained on the first n
    training frames; `embed` maps uint8 frames to features (or is the identity on features)."""
    train_x, train_y, test_x, _ = task
    return train_linear_probe(embed(train_x[:n]), train_y[:n])(embed(test_x[:n]))


@pytest.fixture(scope="module")
def fp32_features(backends, task):
    """keras-fp32's features of (train frames, test frames), in place of the frames."""
    embed = backends("keras-fp32")
    return embed(task[0]), task[1], embed(task[2]), task[3]


def test_task_is_neither_trivial_nor_hopeless(fp32_features):
    """The guard only means something when fp32 leaves room both ways."""
    got = task_metrics(_scores(lambda x: x, fp32_features), fp32_features[3])
    assert 0.3 < got["gap@20"] < 0.95 and 0.2 < got["coverage@80P"] < 0.98, got


@pytest.mark.parametrize("name", ["openvino-bf16", "openvino-int8"])
def test_reduced_precision_within_one_point_of_fp32(backends, task, fp32_features, name):
    n = FRAMES[name]
    reference = _scores(lambda x: x, fp32_features, n)
    drops = paired_drop(reference, _scores(backends(name), task, n), task[3][:n])
    assert drops["gap@20"]["drop"] <= 0.01, (name, n, drops)
    assert drops["coverage@80P"]["drop"] - 2 * drops["coverage@80P"]["sd"] <= 0.01, (name, n, drops)
