"""Clustering metrics: accuracy under the best label matching, a report, and scorers."""

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, make_scorer, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

__all__ = ["clustering_accuracy", "matched_confusion_matrix", "clustering_report", "SCORERS", "get_scorer"]


def clustering_accuracy(labels_true, labels_pred):
    """Accuracy of ``labels_pred`` under the best one-to-one matching of clusters to classes.

    The matching maximises the number of agreeing samples (Hungarian algorithm,
    :func:`scipy.optimize.linear_sum_assignment`). When there are more clusters
    than classes, the unmatched clusters count as errors; with fewer clusters,
    the unmatched classes do.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Ground-truth classes.
    labels_pred : array-like of shape (n_samples,)
        Cluster labels.

    Returns
    -------
    accuracy : float
        In ``[0, 1]``.

    Examples
    --------
    >>> from skdeepcluster.metrics import clustering_accuracy
    >>> clustering_accuracy([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    """
    labels_true = np.asarray(labels_true)
    labels_pred = np.asarray(labels_pred)
    if labels_true.shape != labels_pred.shape or labels_true.ndim != 1:
        raise ValueError(
            f"labels_true and labels_pred must be 1-D of the same length, got {labels_true.shape} and {labels_pred.shape}."
        )
    if labels_true.size == 0:
        raise ValueError("labels_true is empty.")
    counts = contingency_matrix(labels_true, labels_pred)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / labels_true.size)


def matched_confusion_matrix(labels_true, labels_pred):
    """Confusion matrix of classes against clusters, clusters reordered to match the classes.

    Cluster numbers are arbitrary, so a plain confusion matrix of a clustering
    scatters its counts. Here column ``j`` is the cluster matched to the
    ``j``-th class by :func:`clustering_accuracy`'s one-to-one matching, so a
    good clustering has its counts on the diagonal, and the diagonal's sum
    over the total is the clustering accuracy. Clusters matched to no class
    (more clusters than classes) come last; a class matched to no cluster
    (fewer clusters than classes) gets a column of zeros, an empty cluster.

    Parameters
    ----------
    labels_true, labels_pred : array-like of shape (n_samples,)
        Ground-truth classes and cluster labels.

    Returns
    -------
    counts : ndarray of shape (n_classes, max(n_classes, n_clusters))
        ``counts[i, j]`` samples of the ``i``-th class (in sorted order) in
        the ``j``-th cluster (in matched order).

    Examples
    --------
    >>> from skdeepcluster.metrics import matched_confusion_matrix
    >>> matched_confusion_matrix([0, 0, 1, 1, 1], [5, 5, 2, 2, 5])
    array([[2, 0],
           [1, 2]])
    """
    counts = contingency_matrix(labels_true, labels_pred)
    n_classes, n_clusters = counts.shape
    rows, cols = linear_sum_assignment(counts, maximize=True)
    matched = np.zeros((n_classes, max(n_classes, n_clusters)), dtype=counts.dtype)
    matched[:, rows] = counts[:, cols]
    matched[:, n_classes:] = counts[:, [j for j in range(n_clusters) if j not in set(cols)]]
    return matched


def clustering_report(labels_true, labels_pred):
    """ACC, NMI and ARI of a clustering, as a dict.

    Examples
    --------
    >>> from skdeepcluster.metrics import clustering_report
    >>> clustering_report([0, 0, 1, 1], [1, 1, 0, 0])
    {'acc': 1.0, 'nmi': 1.0, 'ari': 1.0}
    """
    return {
        "acc": clustering_accuracy(labels_true, labels_pred),
        "nmi": float(normalized_mutual_info_score(labels_true, labels_pred)),
        "ari": float(adjusted_rand_score(labels_true, labels_pred)),
    }


#: Scorers for :class:`~sklearn.model_selection.GridSearchCV` (they call ``predict``).
SCORERS = {
    "clustering_accuracy": make_scorer(clustering_accuracy),
    "normalized_mutual_info": make_scorer(normalized_mutual_info_score),
    "adjusted_rand": make_scorer(adjusted_rand_score),
}


def get_scorer(name):
    """The scorer called ``name`` among :data:`SCORERS`."""
    try:
        return SCORERS[name]
    except KeyError:
        raise ValueError(f"Unknown scorer {name!r}; choose one of {sorted(SCORERS)}.") from None
