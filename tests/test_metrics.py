import itertools

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skdeepcluster import AEKMeans
from skdeepcluster.metrics import SCORERS, clustering_accuracy, clustering_report, get_scorer, matched_confusion_matrix


def _brute_force(y, c):
    classes, clusters = np.unique(y), np.unique(c)
    best = 0
    k = max(len(classes), len(clusters))
    for perm in itertools.permutations(range(k), len(clusters)):
        mapping = dict(zip(clusters, perm))
        best = max(best, np.mean([classes[mapping[ci]] == yi if mapping[ci] < len(classes) else False
                                  for yi, ci in zip(y, c)]))
    return best


@pytest.mark.parametrize("n_clusters", [2, 3, 4, 5])
def test_accuracy_matches_brute_force(n_clusters):
    rng = np.random.default_rng(n_clusters)
    y = rng.integers(0, 3, 40)
    c = rng.integers(0, n_clusters, 40)
    assert clustering_accuracy(y, c) == pytest.approx(_brute_force(y, c))


@pytest.mark.parametrize("n_clusters", [1, 2, 3, 5])
def test_matched_confusion_matrix_diagonal_is_the_accuracy(n_clusters):
    # fewer, as many and more clusters than the 3 classes
    rng = np.random.default_rng(n_clusters)
    y = rng.integers(0, 3, 60)
    c = rng.integers(0, n_clusters, 60) * 7 + 2  # arbitrary cluster numbers
    counts = matched_confusion_matrix(y, c)
    assert counts.shape == (3, max(3, n_clusters))
    assert counts.sum() == 60 and np.array_equal(counts.sum(1), np.bincount(y))
    assert np.trace(counts) / 60 == pytest.approx(clustering_accuracy(y, c))
    assert sorted(counts.sum(0)[counts.sum(0) > 0]) == sorted(np.unique(c, return_counts=True)[1])


def test_accuracy_is_permutation_invariant_and_bounded():
    y = np.array([0, 0, 1, 1, 2, 2])
    assert clustering_accuracy(y, np.array([2, 2, 0, 0, 1, 1])) == 1.0
    assert clustering_accuracy(y, np.zeros(6, int)) == pytest.approx(1 / 3)


def test_accuracy_input_errors():
    with pytest.raises(ValueError, match="same length"):
        clustering_accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="empty"):
        clustering_accuracy([], [])


def test_report_keys():
    assert set(clustering_report([0, 1], [1, 0])) == {"acc", "nmi", "ari"}


def test_scorer_in_grid_search(blobs):
    X, y = blobs
    grid = GridSearchCV(
        AEKMeans(n_clusters=3, hidden_dims=(16,), n_components=2, batch_size=32, device="cpu", random_state=0),
        {"pretrain_epochs": [2, 10]},
        scoring=get_scorer("clustering_accuracy"),
        cv=2,
    )
    grid.fit(X, y)
    assert 0 <= grid.best_score_ <= 1
    assert set(SCORERS) == {"clustering_accuracy", "normalized_mutual_info", "adjusted_rand"}
    with pytest.raises(ValueError, match="Unknown scorer"):
        get_scorer("nope")
