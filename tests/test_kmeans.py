"""The device k-means against scikit-learn's KMeans (run here on CPU tensors: the code is the same on a GPU)."""

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from skdeepcluster.kmeans import kmeans


@pytest.mark.parametrize("seed", [0, 1])
def test_separated_blobs_give_scikit_learns_partition_and_inertia(seed):
    X, y = make_blobs(600, centers=6, n_features=5, cluster_std=0.5, random_state=seed)
    centers, labels, inertia = kmeans(torch.as_tensor(X), 6, n_init=5, random_state=seed)
    reference = KMeans(6, n_init=5, random_state=seed).fit(X)
    assert adjusted_rand_score(y, labels.numpy()) == 1.0
    assert inertia == pytest.approx(reference.inertia_, rel=1e-9)
    assert np.allclose(np.sort(centers.numpy(), 0), np.sort(reference.cluster_centers_, 0))


def test_unstructured_data_reach_scikit_learns_inertia():
    X = np.random.RandomState(0).rand(2000, 4)
    _, labels, inertia = kmeans(torch.as_tensor(X), 12, n_init=10, random_state=0)
    assert inertia == pytest.approx(KMeans(12, n_init=10, random_state=0).fit(X).inertia_, rel=0.02)
    assert inertia == pytest.approx(((X - np.stack([X[labels.numpy() == k].mean(0) for k in range(12)])[labels.numpy()]) ** 2).sum())


def test_given_centres_run_lloyds_iterations_like_scikit_learn():
    X = np.random.RandomState(1).randn(500, 3)
    start = X[:7].copy()
    centers, labels, inertia = kmeans(torch.as_tensor(X), 7, init=torch.as_tensor(start))
    reference = KMeans(7, init=start, n_init=1).fit(X)
    assert np.allclose(centers.numpy(), reference.cluster_centers_, atol=1e-8)
    assert (labels.numpy() == reference.labels_).all()
    assert inertia == pytest.approx(reference.inertia_)


def test_as_many_clusters_as_points_seeds_every_point():
    X = torch.randn(9, 2, generator=torch.Generator().manual_seed(0))
    centers, labels, inertia = kmeans(X, 9, n_init=3, random_state=0)
    assert inertia == pytest.approx(0.0, abs=1e-12)
    assert sorted(labels.tolist()) == list(range(9))


def test_same_seed_same_clusters_and_the_input_dtype_kept():
    X = torch.as_tensor(make_blobs(300, centers=4, random_state=2)[0], dtype=torch.float32)
    a = kmeans(X, 4, n_init=4, random_state=3)
    b = kmeans(X, 4, n_init=4, random_state=3)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert a[0].dtype == torch.float32


def test_restarts_run_in_groups_under_the_memory_bound():
    X, _ = make_blobs(400, centers=5, n_features=3, random_state=4)
    _, _, inertia = kmeans(torch.as_tensor(X), 5, n_init=6, random_state=0, max_elements=400 * 5 * 2)
    assert inertia == pytest.approx(KMeans(5, n_init=6, random_state=0).fit(X).inertia_, rel=1e-6)


def test_more_clusters_than_points_is_an_error():
    with pytest.raises(ValueError, match="n_clusters=5"):
        kmeans(torch.zeros(3, 2), 5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_a_gpu_the_clusters_are_scikit_learns():
    X, y = make_blobs(2000, centers=8, n_features=6, cluster_std=0.5, random_state=5)
    centers, labels, inertia = kmeans(torch.as_tensor(X, device="cuda"), 8, n_init=10, random_state=0)
    assert centers.is_cuda and labels.is_cuda
    assert adjusted_rand_score(y, labels.cpu().numpy()) == 1.0
    assert inertia == pytest.approx(KMeans(8, n_init=10, random_state=0).fit(X).inertia_, rel=1e-9)


def test_an_empty_cluster_takes_the_farthest_point_as_in_scikit_learn():
    X = np.random.RandomState(2).randn(300, 2)
    start = np.vstack([X[:3], [[50.0, 50.0]]])  # the last centre is nearest to no point
    centers, labels, inertia = kmeans(torch.as_tensor(X), 4, init=torch.as_tensor(start))
    reference = KMeans(4, init=start, n_init=1).fit(X)
    assert np.allclose(centers.numpy(), reference.cluster_centers_, atol=1e-8)
    assert (labels.numpy() == reference.labels_).all()
    assert np.bincount(labels.numpy(), minlength=4).min() > 0
