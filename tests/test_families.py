"""DCN, N2D and DeepCluster: the parts whose mistakes would not show in the generic checks."""

import builtins
import warnings

import numpy as np
import pytest
import torch

from conftest import small
from skdeepcluster import DCN, N2D, DeepCluster
from skdeepcluster.cluster._dcn import update_centroids
from skdeepcluster.cluster._deepcluster import (
    kmeans_with_splits,
    pca_whitening,
    random_resized_crop,
    split_empty_clusters,
    uniform_label_sampler,
)


# -- DCN ---------------------------------------------------------------------------
def test_dcn_centroid_update_matches_the_papers_sequential_rule():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 4))
    counts = np.array([100.0, 5.0, 1.0])
    z = rng.normal(size=(7, 4))
    labels = np.array([0, 1, 1, 0, 1, 0, 1])  # cluster 2 gets no sample
    # hand computation, sample by sample: c_k += 1; m_k -= (1/c_k)(m_k - z_i)
    expected_m, expected_c = centers.copy(), counts.copy()
    for zi, k in zip(z, labels):
        expected_c[k] += 1
        expected_m[k] -= (1.0 / expected_c[k]) * (expected_m[k] - zi)
    m = torch.tensor(centers)
    c = torch.tensor(counts)
    update_centroids(m, c, torch.tensor(z), torch.tensor(labels))
    np.testing.assert_allclose(m.numpy(), expected_m, rtol=1e-12)
    np.testing.assert_allclose(c.numpy(), expected_c)
    np.testing.assert_array_equal(m.numpy()[2], centers[2])
    # closed form of the running mean: cluster 1 started at count 5 and got 4 samples
    np.testing.assert_allclose(m.numpy()[1], (5 * centers[1] + z[labels == 1].sum(0)) / 9)


def test_dcn_small_count_moves_centroid_onto_the_batch_mean():
    m = torch.zeros(1, 2)
    c = torch.full((1,), 1e-9)
    z = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    update_centroids(m, c, z, torch.zeros(2, dtype=torch.long))
    torch.testing.assert_close(m[0], torch.tensor([2.0, 3.0]))


def test_dcn_fit_records_terms_and_counts(blobs):
    X, y = blobs
    model = small(DCN, n_clusters=3, epochs=4, refresh_interval=2, random_state=0).fit(X)
    assert set(model.history_["clustering"]) == {"reconstruction", "kmeans", "delta_label"}
    assert len(model.history_["clustering"]["kmeans"]) == 4 and model.n_iter_ == 4
    # every sample is absorbed once per epoch on top of the initial counts
    np.testing.assert_allclose(model.cluster_counts_.sum(), 3 * 100 + 4 * len(X))
    np.testing.assert_array_equal(model.predict(X), model.labels_)


# -- DeepCluster ---------------------------------------------------------------------
def test_split_empty_clusters_follows_the_papers_rule():
    centers = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0], [4.0, 5.0, 6.0]])
    counts = np.array([1, 0, 9])  # cluster 0 is a singleton: never split
    n = split_empty_clusters(centers, counts, np.random.default_rng(0))
    assert n == 1
    eps = 1 / 1024
    torch.testing.assert_close(centers[1], torch.tensor([4 * (1 + eps), 5 * (1 - eps), 6 * (1 + eps)]))
    torch.testing.assert_close(centers[2], torch.tensor([4 * (1 - eps), 5 * (1 + eps), 6 * (1 - eps)]))
    torch.testing.assert_close(centers[0], torch.tensor([1.0, 2.0, 3.0]))
    assert counts.tolist() == [1, 4, 5]


def test_split_picks_clusters_by_the_cyclic_acceptance_rule():
    picks = []
    rng = np.random.default_rng(0)
    for _ in range(3000):
        centers = torch.arange(8.0).reshape(4, 2) + 1
        counts = np.array([0, 2, 4, 7])  # weights (size - 1) = 1, 3, 6 out of n - k = 9
        split_empty_clusters(centers, counts, rng)
        picks.append(int(np.argmax([counts[1] < 2, counts[2] < 4, counts[3] < 7])) + 1)
    freq = np.bincount(picks, minlength=4)[1:] / len(picks)
    # visit 1, 2, 3, 1, ... until one accepts: P(j) = p_j prod_{i<j}(1 - p_i) / (1 - prod_i (1 - p_i))
    p = np.array([1, 3, 6]) / 9
    reach = np.cumprod(np.r_[1, 1 - p[:-1]])
    expected = p * reach / (1 - np.prod(1 - p))
    np.testing.assert_allclose(freq, expected, atol=0.03)


def test_kmeans_never_returns_empty_clusters():
    # Two far groups and initial rows drawn so that several centroids start in one group:
    # plain Lloyd would leave clusters empty on these duplicated points.
    X = torch.cat([torch.zeros(30, 2), torch.ones(30, 2) * 10, torch.ones(5, 2) * 10.5])
    X += 0.01 * torch.randn(X.shape, generator=torch.Generator().manual_seed(0))
    for seed in range(10):
        centers, labels, _ = kmeans_with_splits(X, 6, np.random.default_rng(seed), n_iter=20)
        assert torch.bincount(labels, minlength=6).min() > 0
    # identical rows: the guard splits anyway, and terminates
    same = torch.ones(12, 3)
    _, labels, n_split = kmeans_with_splits(same, 3, np.random.default_rng(0), n_iter=3)
    assert n_split > 0 and labels.shape == (12,)


def test_uniform_sampler_balances_pseudo_classes():
    torch.manual_seed(0)
    labels = torch.tensor([0] * 900 + [1] * 90 + [2] * 10 + [4] * 0)  # class 3 and 4 empty
    index = uniform_label_sampler(labels, 5)
    assert index.shape == (1000,)
    counts = torch.bincount(labels[index], minlength=5)
    assert counts[3] == 0 and counts[4] == 0
    # per class: 1000 // 3 + 1 = 334 draws before truncation to 1000
    assert ((counts[:3] - 1000 / 3).abs() <= 2).all()
    # the big class is drawn without replacement, the small ones with it
    big = index[labels[index] == 0]
    assert big.unique().numel() == big.numel()
    assert labels[index][labels[index] == 2].numel() > 10


def test_pca_whitening_gives_identity_covariance():
    g = torch.Generator().manual_seed(0)
    F_ = torch.randn(500, 6, generator=g) @ torch.randn(6, 6, generator=g) + 3
    mean, W = pca_whitening(F_, 4, eps=0.0)
    white = (F_ - mean) @ W
    cov = white.T @ white / (len(F_) - 1)
    torch.testing.assert_close(cov, torch.eye(4), atol=1e-3, rtol=0)


def test_deepcluster_trains_a_fresh_head_on_pseudo_labels(blobs):
    X, y = blobs
    model = small(DeepCluster, n_clusters=3, n_pseudo_classes=5, epochs=3, random_state=0).fit(X)
    hist = model.history_["clustering"]
    assert set(hist) == {"cross_entropy", "nmi_previous", "empty_splits"} and len(hist["cross_entropy"]) == 3
    assert model.head_.out_features == 5 and set(np.unique(model.pseudo_labels_)) <= set(range(5))
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    with pytest.raises(ValueError, match="n_pseudo_classes=100"):
        small(DeepCluster, n_clusters=3, n_pseudo_classes=100).fit(X)


def test_random_resized_crop_samples_inside_the_image():
    torch.manual_seed(0)
    x = torch.rand(16, 2 * 6 * 5)
    out = random_resized_crop(x, (2, 6, 5))
    assert out.shape == x.shape and not torch.allclose(out, x)
    # every crop lies inside the image: a constant image stays constant (no padding leaks in)
    torch.testing.assert_close(random_resized_crop(torch.full((64, 30), 0.7), (1, 6, 5)), torch.full((64, 30), 0.7))


def test_random_resized_crop_mirrors_only_when_asked():
    torch.manual_seed(0)
    # a ramp rising to the right: crops keep it rising unless they are mirrored
    ramp = torch.arange(8.0).repeat(8).reshape(1, 64).repeat(200, 1)

    def rising(out):
        rows = out.view(-1, 8, 8)
        return (rows[:, :, -1] > rows[:, :, 0]).all(1)

    assert rising(random_resized_crop(ramp, (1, 8, 8), min_area=0.5, flip=False)).all()
    mirrored = (~rising(random_resized_crop(ramp, (1, 8, 8), min_area=0.5))).float().mean()
    assert 0.35 < mirrored < 0.65


def test_deepcluster_trains_on_augmented_images():
    X = np.random.default_rng(0).random((40, 256)).astype(np.float32)
    model = small(DeepCluster, n_clusters=2, image_shape=(1, 16, 16), n_components=3, epochs=2, random_state=0).fit(X)
    assert model.labels_.shape == (40,)


# -- N2D -----------------------------------------------------------------------------
@pytest.fixture
def no_umap(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "umap" or name.startswith("umap."):
            raise ImportError("No module named 'umap'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_n2d_umap_missing_says_how_to_install(no_umap, blobs):
    model = small(N2D, n_clusters=3, manifold="umap")
    with pytest.raises(ImportError, match=r"pip install skdeepcluster\[umap\].*manifold='spectral'"):
        model.fit(blobs[0])
    assert not hasattr(model, "autoencoder_")  # failed before any training


def test_n2d_auto_falls_back_to_spectral_with_a_warning(no_umap, blobs):
    X, y = blobs
    with pytest.warns(UserWarning, match="umap-learn is not installed"):
        model = small(N2D, n_clusters=3, manifold="auto", random_state=0).fit(X)
    assert model.manifold_ == "spectral"


@pytest.mark.parametrize("exact_below", [4096, 50])
def test_n2d_with_umap_gets_exact_neighbours_on_large_data(exact_below, monkeypatch, blobs):
    pytest.importorskip("umap")
    from sklearn.metrics import adjusted_rand_score
    from sklearn.neighbors import NearestNeighbors

    from skdeepcluster.cluster import _n2d

    monkeypatch.setattr(_n2d, "_UMAP_EXACT_BELOW", exact_below)  # 50: blobs count as large
    X, y = blobs
    model = small(N2D, n_clusters=3, manifold="umap", random_state=0).fit(X)
    indices, distances, _ = model.manifold_learner_.precomputed_knn
    if exact_below > len(X):
        assert indices is None  # UMAP's own exact search on small data
    else:
        z = model.transform(X).astype(np.float64)
        expected = NearestNeighbors(n_neighbors=model.n_neighbors).fit(z).kneighbors(z)
        np.testing.assert_allclose(distances, expected[0])
    assert adjusted_rand_score(y, model.labels_) > 0.9
    # new samples are interpolated on the manifold: a training point maps to itself
    np.testing.assert_array_equal(model.predict(X), model.labels_)


@pytest.mark.parametrize("manifold", ["spectral", "isomap"])
def test_n2d_without_umap(manifold, blobs):
    from sklearn.metrics import adjusted_rand_score

    X, y = blobs
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*umap")  # an explicit manifold never warns about umap
        model = small(N2D, n_clusters=3, manifold=manifold, random_state=0).fit(X)
    assert model.manifold_ == manifold
    assert model.autoencoder_.n_components == 3  # SMALL's n_components
    assert model.embedding_manifold_.shape == (len(X), 3)  # manifold_components defaults to n_clusters
    assert adjusted_rand_score(y, model.labels_) > 0.9
    proba = model.predict_proba(X[:7])
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-6)
    if manifold == "spectral":  # interpolation maps a training point onto itself
        np.testing.assert_array_equal(model.predict(X), model.labels_)
    # embedding width follows n_clusters when n_components is None, as in the paper
    wide = N2D(n_clusters=3, hidden_dims=(8,), pretrain_epochs=1, manifold=manifold, device="cpu",
               random_state=0).fit(X)
    assert wide.transform(X).shape == (len(X), 3)
