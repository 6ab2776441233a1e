"""Quality guard: the matrix-unit backends keep the synthetic task's metrics.

A linear probe is trained on each backend's features of a labelled synthetic frame task and
scored with the project's GAP@20 and coverage at 80% precision against keras-fp32's. GAP@20 may
fall at most one point. Coverage at a precision target has a sampling sd of several points on
300 frames (it jumps with the threshold where precision crosses 80%), so for it the test is
non-inferiority: the drop minus twice its paired-bootstrap sd is at most one point.
`python -m benchmarks backends` runs the same guard on more frames and on every backend.
"""
import pytest

from model.embedding.synthetic_frames import synthetic_frames
from model.embedding.quality import paired_drop, task_metrics, train_linear_probe

N = 300  # train frames = test frames


@pytest.fixture(scope="module")
def task():
    train_x, train_y = synthetic_frames(N, seed=1)
    test_x, test_y = synthetic_frames(N, seed=2)
    return train_x, train_y, test_x, test_y


def _scores(embed, task):
    train_x, train_y, test_x, _ = task
    return train_linear_probe(embed(train_x), train_y)(embed(test_x))


@pytest.fixture(scope="module")
def fp32_scores(backends, task):
    return _scores(backends("keras-fp32"), task)


def test_task_is_neither_trivial_nor_hopeless(fp32_scores, task):
    """The guard only means something when fp32 leaves room both ways."""
    got = task_metrics(fp32_scores, task[3])
    assert 0.3 < got["gap@20"] < 0.95 and 0.2 < got["coverage@80P"] < 0.98, got


@pytest.mark.parametrize("name", ["openvino-bf16", "openvino-int8"])
def test_reduced_precision_within_one_point_of_fp32(backends, task, fp32_scores, name):
    drops = paired_drop(fp32_scores, _scores(backends(name), task), task[3])
    assert drops["gap@20"]["drop"] <= 0.01, (name, drops)
    assert drops["coverage@80P"]["drop"] - 2 * drops["coverage@80P"]["sd"] <= 0.01, (name, drops)
