"""model/classifier/metrics.py: hand-computed cases, edge cases, and agreement with a brute-force oracle.

The oracle below is written in this file from the metric definitions (model/classifier/metrics.py's
docstrings and the YouTube-8M paper), as plain loops over Python lists, one obvious step per
definition. It shares no code with model/classifier/metrics.py and is not copied from anybody's eval code;
it is slow on purpose, and the inputs here are tiny.
"""
import heapq
import math
import random

import numpy as np
import pytest

from model.classifier import metrics

P = np.array([[0.9, 0.8, 0.1], [0.7, 0.2, 0.6]])
Y = np.array([[1, 0, 1], [0, 0, 1]], dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# Brute-force oracle
# ---------------------------------------------------------------------------------------------

def oracle_top_k(row, k):
    """The classes one video keeps at k, k clamped to the class count.

    Any k largest scores qualify; which of several tied scores at the k-th place is kept is, by
    the documented definition, what numpy.argpartition(row, -k)[-k:] picks. The check below
    makes sure argpartition is used only for that.
    """
    k = min(k, len(row))
    kept = {int(c) for c in np.argpartition(np.asarray(row), -k)[-k:]}
    dropped = set(range(len(row))) - kept
    assert len(kept) == k
    assert all(row[c] >= row[d] for c in kept for d in dropped)
    return kept


def oracle_rank(entries):
    """Rank (score, label) entries, best first, with the documented tie-break.

    Only the order of equal scores depends on it: the entries, in pool order, are pushed one by
    one into a binary min-heap (heapq; a tuple compares score first, then label), the heap's list
    is permuted by random.Random(0).sample(range(n), n) (what random.seed(0) then random.sample
    gives) and then stable-sorted by score, descending.
    """
    heap = []
    for entry in entries:
        heapq.heappush(heap, entry)
    permutation = random.Random(0).sample(range(len(heap)), len(heap))
    shuffled = [heap[i] for i in permutation]
    return sorted(shuffled, key=lambda entry: entry[0], reverse=True)


def oracle_ap(ranked, num_positives):
    """sum over ranks r of precision@r * [entry r is positive], divided by num_positives."""
    if num_positives == 0:
        return 0.0
    total, hits = 0.0, 0
    for rank, (_, label) in enumerate(ranked, start=1):
        if label > 0:
            hits += 1
            total += hits / rank
    return total / num_positives


def count_positives(labels):
    return sum(1 for row in np.asarray(labels).tolist() for value in row if value > 0)


def oracle_pool(predictions, labels, k):
    """Every video's top-k (score, label) pairs; pool order = by class, then by video."""
    num_videos, num_classes = predictions.shape
    kept = [oracle_top_k(predictions[v], k) for v in range(num_videos)]
    return [(float(predictions[v, c]), float(labels[v, c]))
            for c in range(num_classes) for v in range(num_videos) if c in kept[v]]


def oracle_gap(predictions, labels, k):
    """GAP@k: the pooled top-k ranked; AP over ALL positives of the label matrix."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    return oracle_ap(oracle_rank(oracle_pool(predictions, labels, k)), count_positives(labels))


def oracle_class_aps(predictions, labels, k):
    """Per-class AP over the videos whose top-k holds the class (NaN: class has no positive)."""
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    num_videos, num_classes = predictions.shape
    kept = [oracle_top_k(predictions[v], k) for v in range(num_videos)]
    aps = []
    for c in range(num_classes):
        positives = count_positives(labels[:, c:c + 1])
        if positives == 0:
            aps.append(math.nan)
            continue
        entries = [(float(predictions[v, c]), float(labels[v, c]))
                   for v in range(num_videos) if c in kept[v]]
        aps.append(oracle_ap(oracle_rank(entries), positives))
    return aps


def oracle_map(predictions, labels, k):
    aps = [ap for ap in oracle_class_aps(predictions, labels, k) if not math.isnan(ap)]
    return sum(aps) / len(aps) if aps else 0.0


def oracle_hit_at_one(predictions, labels):
    """Share of videos whose best class (the first one on ties) is positive."""
    rows = np.asarray(predictions).tolist()
    hits = 0
    for row, truth in zip(rows, np.asarray(labels).tolist()):
        best = 0
        for c in range(len(row)):
            if row[c] > row[best]:
                best = c
        hits += truth[best] > 0
    return hits / len(rows)


def oracle_perr(predictions, labels):
    """Mean over videos of precision@L, L = the video's positive count.

    A kept class counts as a hit only if it is positive and scored > 0; a video without positives
    scores 0. Ties at the L-th place: the oracle_top_k rule.
    """
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    total = 0.0
    for v in range(predictions.shape[0]):
        num_labels = count_positives(labels[v:v + 1])
        if num_labels == 0:
            continue
        kept = oracle_top_k(predictions[v], num_labels)
        total += sum(1 for c in kept if labels[v, c] > 0 and predictions[v, c] > 0) / num_labels
    return total / predictions.shape[0]


def oracle_curve(predictions, labels, top_k=None):
    """One point per distinct candidate score t, highest first: emit every candidate >= t.

    Candidates: every (video, class), or each video's top-k. precision = positives emitted /
    emitted; coverage = share of videos with an emitted label; recall = positives emitted / all
    positives of the label matrix (0 when there are none).
    """
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    num_videos, num_classes = predictions.shape
    candidate = np.zeros(predictions.shape, dtype=bool)
    for v in range(num_videos):
        for c in (range(num_classes) if top_k is None else oracle_top_k(predictions[v], top_k)):
            candidate[v, c] = True
    positive = labels > 0
    total_positives = count_positives(labels)
    points = []
    for t in sorted({float(s) for s in predictions[candidate]}, reverse=True):
        emitted = candidate & (predictions >= t)
        n_emitted = int(emitted.sum())
        tp = int((emitted & positive).sum())
        covered = sum(1 for v in range(num_videos) if emitted[v].any())
        points.append({"threshold": t, "precision": tp / n_emitted,
                       "coverage": covered / num_videos, "emitted": n_emitted,
                       "recall": tp / total_positives if total_positives else 0.0})
    return points


def oracle_coverage(predictions, labels, target, top_k=None, conservative=False):
    """The chosen curve point, or None when the target precision is unreachable.

    Default: the lowest threshold whose precision is >= target. conservative: walking down from
    the highest threshold, the last one before the first that misses the target.
    """
    chosen = None
    for point in oracle_curve(predictions, labels, top_k):
        if point["precision"] >= target:
            chosen = point
        elif conservative:
            break
    return chosen


def assert_operating_point(point, expected):
    if expected is None:
        assert point.threshold == math.inf and point.precision is None
        assert point.coverage == 0.0 and point.labels_emitted == 0 and point.recall == 0.0
        return
    assert point.threshold == expected["threshold"]
    assert point.precision == pytest.approx(expected["precision"], abs=1e-9)
    assert point.coverage == pytest.approx(expected["coverage"], abs=1e-9)
    assert point.recall == pytest.approx(expected["recall"], abs=1e-9)
    assert point.labels_emitted == expected["emitted"]


# ---------------------------------------------------------------------------------------------
# Hand-computed cases and edge cases
# ---------------------------------------------------------------------------------------------

def test_gap_pools_top_k_and_counts_every_positive():
    # top-2 pooled: 0.9(+) 0.8(-) 0.7(-) 0.6(+); 3 positives in all (0.1(+) is outside the top-2)
    assert metrics.gap(P, Y, top_k=2) == pytest.approx((1 / 1 + 2 / 4) / 3)
    # all 3 per video: ... 0.2(-) 0.1(+)
    assert metrics.gap(P, Y, top_k=3) == pytest.approx((1 + 2 / 4 + 3 / 6) / 3)
    # top-1: 0.9(+) 0.7(-) -> (1/1) / 3; the two positives left out count as misses
    assert metrics.gap(P, Y, top_k=1) == pytest.approx(1 / 3)
    for k in (1, 2, 3):
        assert metrics.gap(P, Y, top_k=k) == pytest.approx(oracle_gap(P, Y, k), abs=1e-12)


def test_k_larger_than_class_count_is_clamped():
    assert metrics.gap(P, Y, top_k=50) == metrics.gap(P, Y, top_k=3)
    assert metrics.mean_average_precision(P, Y, top_k=50) == metrics.mean_average_precision(P, Y, 3)
    assert metrics.gap(P, Y, top_k=50) == pytest.approx(oracle_gap(P, Y, 50), abs=1e-12)
    assert metrics.mean_average_precision(P, Y, 50) == pytest.approx(oracle_map(P, Y, 50),
                                                                      abs=1e-12)
    point = metrics.coverage_at_precision(P, Y, 0.6, top_k=50)
    assert_operating_point(point, oracle_coverage(P, Y, 0.6))  # top-50 of 3 = all candidates


def test_map_hit_at_one_perr_by_hand():
    # k=2: class 0 gets (0.9,+), (0.7,-) -> AP 1; class 1 has no positive -> dropped;
    # class 2 gets only (0.6,+) of its 2 positives -> AP 1/2.
    assert metrics.mean_average_precision(P, Y, top_k=2) == pytest.approx(0.75)
    assert np.isnan(metrics.class_average_precisions(P, Y, 2)[1])
    np.testing.assert_allclose(metrics.class_average_precisions(P, Y, 2), [1.0, np.nan, 0.5])
    assert metrics.hit_at_one(P, Y) == pytest.approx(0.5)
    # video 0: top-2 {0, 1} -> 1/2; video 1: top-1 {0} -> 0
    assert metrics.perr(P, Y) == pytest.approx(0.25)
    # the oracle agrees on the same hand-worked numbers
    assert oracle_map(P, Y, 2) == pytest.approx(0.75)
    assert oracle_hit_at_one(P, Y) == pytest.approx(0.5)
    assert oracle_perr(P, Y) == pytest.approx(0.25)


def test_perr_needs_a_positive_score():
    scores = np.array([[0.0, -0.5, 0.3], [0.2, 0.9, 0.1]])
    labels = np.array([[1, 0, 0], [1, 1, 0]])
    # video 0: L=1, top-1 is class 2 (0.3, negative) -> 0; video 1: L=2, top-2 {1, 0}, both
    # positive with scores > 0 -> 1. A positive with score 0 is not a hit:
    assert metrics.perr(scores, labels) == pytest.approx(0.5)
    zero_top = np.array([[0.0, -0.5, -0.3]])
    assert metrics.perr(zero_top, np.array([[1, 0, 0]])) == 0.0  # top-1 is class 0 but scored 0
    assert oracle_perr(zero_top, np.array([[1, 0, 0]])) == 0.0


def test_no_positives():
    zeros = np.zeros_like(Y)
    assert metrics.gap(P, zeros) == 0.0
    assert metrics.mean_average_precision(P, zeros) == 0.0
    assert np.all(np.isnan(metrics.class_average_precisions(P, zeros)))
    assert metrics.perr(P, zeros) == 0.0
    assert metrics.hit_at_one(P, zeros) == 0.0
    point = metrics.coverage_at_precision(P, zeros, 0.8)
    assert point.threshold == float("inf") and point.coverage == 0.0 and point.precision is None
    assert oracle_gap(P, zeros, 20) == 0.0 and oracle_map(P, zeros, 20) == 0.0
    assert oracle_coverage(P, zeros, 0.8) is None
    # positives whose classes never reach a top-k: AP 0 for that class, not NaN
    labels = np.array([[0, 0, 1], [0, 1, 0]], dtype=np.float32)
    np.testing.assert_allclose(metrics.class_average_precisions(P, labels, 1),
                               [np.nan, 0.0, 0.0])
    assert metrics.gap(P, labels, 1) == 0.0 == oracle_gap(P, labels, 1)


def test_ties_are_broken_by_the_seeded_shuffle():
    # One video, three classes, all scored 0.5; pool = classes 0, 1, 2.
    tied = np.full((1, 3), 0.5)
    # Positive = class 2. Pool (.5,0) (.5,0) (.5,1). Heap pushes: nothing ever sifts up (a parent
    # (.5,0) is never greater), heap = [(.5,0), (.5,0), (.5,1)]. random.Random(0).sample of
    # range(3) is [1, 2, 0] -> (.5,0) (.5,1) (.5,0); the stable sort keeps it: positive at rank 2.
    assert random.Random(0).sample(range(3), 3) == [1, 2, 0]
    assert metrics.gap(tied, np.array([[0, 0, 1]]), top_k=3) == pytest.approx(1 / 2)
    # Positive = class 0. Pool (.5,1) (.5,0) (.5,0). The 2nd push sifts (.5,0) above (.5,1):
    # heap = [(.5,0), (.5,1), (.5,0)] -> permuted (.5,1) (.5,0) (.5,0): positive at rank 1.
    assert metrics.gap(tied, np.array([[1, 0, 0]]), top_k=3) == pytest.approx(1.0)
    for labels in ([[0, 0, 1]], [[1, 0, 0]], [[0, 1, 0]]):
        assert metrics.gap(tied, np.array(labels), 3) == oracle_gap(tied, np.array(labels), 3)

    # Mixed: scores 0.5 0.9 0.5 0.5, positive = class 3. Pool (.5,0) (.9,0) (.5,0) (.5,1).
    # Heap: [(.5,0)] -> [(.5,0), (.9,0)] -> [(.5,0), (.9,0), (.5,0)] -> the 4th lands under
    # (.9,0) and swaps with it: [(.5,0), (.5,1), (.5,0), (.9,0)]. Sample of range(4) is
    # [3, 1, 0, 2] -> (.9,0) (.5,1) (.5,0) (.5,0), already sorted: positive at rank 2 -> 1/2.
    # (A plain stable sort of the pool would put it at rank 4 -> 1/4.)
    assert random.Random(0).sample(range(4), 4) == [3, 1, 0, 2]
    mixed = np.array([[0.5, 0.9, 0.5, 0.5]])
    assert metrics.gap(mixed, np.array([[0, 0, 0, 1]]), top_k=4) == pytest.approx(1 / 2)
    assert oracle_gap(mixed, np.array([[0, 0, 0, 1]]), 4) == pytest.approx(1 / 2)

    # Bigger all-tie case: 12 equal scores, 2 positives.
    tied = np.full((3, 4), 0.5)
    labels = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]], dtype=np.float32)
    ours = metrics.gap(tied, labels, top_k=4)
    assert ours == pytest.approx(oracle_gap(tied, labels, 4), abs=1e-12)
    assert ours == metrics.gap(tied, labels, top_k=4)  # deterministic
    # The value depends only on where the 2 positives land after the heap and the shuffle
    # (ranks 5 and 10 of 12 -> (1/5 + 2/10) / 2), not the optimistic "positives first" 1.0.
    assert ours == pytest.approx((1 / 5 + 2 / 10) / 2)
    np.testing.assert_allclose(metrics.class_average_precisions(tied, labels, 4),
                               oracle_class_aps(tied, labels, 4), atol=1e-12)


def test_without_ties_the_order_is_just_the_scores():
    # Distinct scores: the heap and the shuffle cannot matter; GAP is AP of the pool sorted by
    # score alone.
    rng = np.random.default_rng(123)
    for _ in range(10):
        predictions = rng.random((8, 9))
        labels = (rng.random((8, 9)) < 0.3).astype(np.float32)
        k = int(rng.integers(1, 12))
        pool = oracle_pool(predictions, labels, k)
        plain = sorted(pool, key=lambda entry: entry[0], reverse=True)
        expected = oracle_ap(plain, count_positives(labels))
        assert metrics.gap(predictions, labels, k) == pytest.approx(expected, abs=1e-12)
        assert oracle_gap(predictions, labels, k) == pytest.approx(expected, abs=1e-12)


def test_hit_at_one_takes_the_first_of_tied_best_scores():
    scores = np.array([[0.5, 0.5, 0.1], [0.2, 0.7, 0.7]])
    # best classes: video 0 -> class 0 (not 1), video 1 -> class 1 (not 2)
    assert metrics.hit_at_one(scores, np.array([[1, 0, 0], [0, 1, 0]])) == 1.0
    assert metrics.hit_at_one(scores, np.array([[0, 1, 0], [0, 0, 1]])) == 0.0
    assert oracle_hit_at_one(scores, np.array([[1, 0, 0], [0, 1, 0]])) == 1.0
    assert oracle_hit_at_one(scores, np.array([[0, 1, 0], [0, 0, 1]])) == 0.0


# ---------------------------------------------------------------------------------------------
# Randomised agreement with the oracle
# ---------------------------------------------------------------------------------------------

def random_case(rng):
    videos, classes = int(rng.integers(1, 25)), int(rng.integers(2, 30))
    tied = rng.random() < 0.4
    if tied:
        predictions = rng.integers(0, 4, size=(videos, classes)) / 4.0  # many ties
    else:
        predictions = rng.random((videos, classes)).astype(np.float32)
    density = rng.choice([0.05, 0.15, 0.4])
    labels = (rng.random((videos, classes)) < density).astype(np.float32)
    return predictions, labels, int(rng.integers(1, 25)), tied


@pytest.mark.parametrize("seed", range(6))
def test_ranking_metrics_agree_with_the_oracle(seed):
    rng = np.random.default_rng(seed)
    tied_cases = clamped_cases = 0
    for _ in range(15):
        predictions, labels, k, tied = random_case(rng)
        tied_cases += tied
        clamped_cases += k >= predictions.shape[1]
        assert metrics.gap(predictions, labels, k) == pytest.approx(
            oracle_gap(predictions, labels, k), abs=1e-6)
        assert metrics.hit_at_one(predictions, labels) == pytest.approx(
            oracle_hit_at_one(predictions, labels), abs=1e-6)
        assert metrics.perr(predictions, labels) == pytest.approx(
            oracle_perr(predictions, labels), abs=1e-6)
        # NaN (no positives) in the same places, equal APs elsewhere
        np.testing.assert_allclose(metrics.class_average_precisions(predictions, labels, k),
                                   oracle_class_aps(predictions, labels, k), atol=1e-6)
        assert metrics.mean_average_precision(predictions, labels, k) == pytest.approx(
            oracle_map(predictions, labels, k), abs=1e-6)
    assert tied_cases > 0 and clamped_cases > 0  # the seeds do exercise ties and k >= C


@pytest.mark.parametrize("seed", range(6))
def test_coverage_at_precision_agrees_with_the_oracle(seed):
    rng = np.random.default_rng(100 + seed)
    reached = 0
    for _ in range(15):
        predictions, labels, k, _ = random_case(rng)
        target = float(rng.choice([0.8, 0.8, 0.5, 1.0]))
        for top_k in (None, k):
            curve = metrics.precision_coverage_curve(predictions, labels, top_k)
            expected = oracle_curve(predictions, labels, top_k)
            np.testing.assert_array_equal(curve.threshold, [p["threshold"] for p in expected])
            np.testing.assert_array_equal(curve.emitted, [p["emitted"] for p in expected])
            for field in ("precision", "coverage", "recall"):
                np.testing.assert_allclose(getattr(curve, field),
                                           [p[field] for p in expected], atol=1e-9)
            for conservative in (False, True):
                want = oracle_coverage(predictions, labels, target, top_k, conservative)
                reached += want is not None
                assert_operating_point(metrics.coverage_at_precision(
                    predictions, labels, target, top_k=top_k, conservative=conservative), want)
        thresholds = metrics.per_class_thresholds(predictions, labels, target)
        for c in range(predictions.shape[1]):
            want = oracle_coverage(predictions[:, c:c + 1], labels[:, c:c + 1], target)
            assert thresholds.threshold[c] == (math.inf if want is None else want["threshold"])
    assert reached > 0  # some targets are reachable, so thresholds are really compared


def test_coverage_at_precision_by_hand():
    scores = np.array([[0.9, 0.2], [0.8, 0.7], [0.3, 0.1]])
    labels = np.array([[1, 0], [0, 1], [0, 0]])
    # pooled: .9(+) .8(-) .7(+) .3 .2 .1 -> precision 1, 1/2, 2/3, 2/4, 2/5, 2/6
    point = metrics.coverage_at_precision(scores, labels, 0.6)
    assert point.threshold == 0.7 and point.labels_emitted == 3
    assert point.precision == pytest.approx(2 / 3)
    assert point.coverage == pytest.approx(2 / 3) and point.recall == 1.0
    conservative = metrics.coverage_at_precision(scores, labels, 0.6, conservative=True)
    assert conservative.threshold == 0.9 and conservative.coverage == pytest.approx(1 / 3)
    assert conservative.recall == 0.5 and conservative.labels_emitted == 1
    curve = metrics.precision_coverage_curve(scores, labels)
    np.testing.assert_allclose(curve.precision, [1, 1 / 2, 2 / 3, 2 / 4, 2 / 5, 2 / 6])
    np.testing.assert_allclose(curve.coverage, [1 / 3, 2 / 3, 2 / 3, 1, 1, 1])


def test_coverage_keeps_tie_blocks_together():
    scores = np.array([[0.5, 0.5], [0.4, 0.1]])
    labels = np.array([[1, 0], [1, 0]])
    # blocks: 0.5 -> 1/2, 0.4 -> 2/3, 0.1 -> 2/4. Splitting the 0.5 tie would give 1/1 or 0/1.
    point = metrics.coverage_at_precision(scores, labels, 0.6)
    assert point.threshold == 0.4 and point.labels_emitted == 3 and point.coverage == 1.0
    assert metrics.coverage_at_precision(scores, labels, 0.6, conservative=True).coverage == 0.0
    assert metrics.coverage_at_precision(scores, labels, 0.5).threshold == 0.1


def test_coverage_restricted_to_top_k():
    scores = np.array([[0.9, 0.8, 0.7]])
    labels = np.array([[1, 1, 1]])
    assert metrics.coverage_at_precision(scores, labels, 0.8).labels_emitted == 3
    point = metrics.coverage_at_precision(scores, labels, 0.8, top_k=1)
    assert point.labels_emitted == 1 and point.recall == pytest.approx(1 / 3)


def test_f1_by_hand():
    scores = np.array([[0.9, 0.2], [0.8, 0.7]])
    labels = np.array([[1, 0], [0, 1]])
    f1 = metrics.f1_scores(scores, labels, 0.5)
    assert f1["micro_precision"] == pytest.approx(2 / 3) and f1["micro_recall"] == 1.0
    assert f1["micro_f1"] == pytest.approx(0.8)
    assert f1["macro_f1"] == pytest.approx((2 / 3 + 1) / 2)
    disabled = metrics.f1_scores(scores, labels, [0.5, np.inf])
    assert disabled["micro_precision"] == pytest.approx(1 / 2)
    assert disabled["micro_recall"] == pytest.approx(1 / 2)


def test_per_class_thresholds_and_disabled_classes():
    scores = np.array([[0.9, 0.2, 0.9, 0.3], [0.8, 0.7, 0.1, 0.2], [0.3, 0.1, 0.5, 0.1]])
    labels = np.array([[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]])
    result = metrics.per_class_thresholds(scores, labels, target=0.8)
    assert result.threshold[0] == 0.9 and result.threshold[1] == 0.7
    np.testing.assert_array_equal(result.enabled, [True, True, False, False])
    assert "unreachable" in result.reason[2]      # its only positive ranks last: 0/1, 0/2, 1/3
    assert "0 positives" in result.reason[3]
    np.testing.assert_array_equal(result.emitted[:2], [1, 1])
    point = metrics.coverage_with_thresholds(scores, labels, result.threshold, 0.8)
    assert point.precision == 1.0 and point.coverage == pytest.approx(2 / 3)
    assert point.recall == pytest.approx(2 / 3)


def test_invalid_inputs_are_rejected():
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.gap(P, Y[:, :2])
    with pytest.raises(ValueError, match="positive integer"):
        metrics.gap(P, Y, top_k=0)
    with pytest.raises(ValueError, match="NaN"):
        metrics.gap(np.full((1, 2), np.nan), np.ones((1, 2)))
    with pytest.raises(ValueError, match="target precision"):
        metrics.coverage_at_precision(P, Y, 0.0)


def test_evaluate_predictions_is_json_ready():
    import json

    result = metrics.evaluate_predictions(P, Y, top_k=2, target_precision=0.6,
                                          thresholds=np.array([0.5, np.inf, 0.5]))
    text = json.dumps(result, allow_nan=False)
    assert json.loads(text)["gap_at_2"] == pytest.approx(0.5)
    assert result["per_class_thresholds"]["labels_emitted"] == 3  # 0.9, 0.7 (class 0) and 0.6 (class 2)
