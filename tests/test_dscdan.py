"""DSCDAN and its pieces: orthonormalisation, kNN affinity, spectral loss, JSD mutual information."""

import math

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from skdeepcluster import DSCDAN
from skdeepcluster.nn import (
    ConvAutoencoder,
    GlobalDiscriminator,
    LocalDiscriminator,
    Orthonorm,
    cluster_prior_kl,
    gaussian_prior_kl,
    jsd_mutual_information,
    knn_affinity,
    orthonormalize,
    shuffle_batch,
    spectral_loss,
)


TINY = dict(
    hidden_dims=(16,),
    n_components=3,
    spectral_hidden_dims=(16,),
    pretrain_epochs=3,
    max_iter=10,
    batch_size=32,
    device="cpu",
    random_state=0,
)


def test_orthonormalize_gives_identity_gram_and_spans_the_same_space():
    g = torch.Generator().manual_seed(0)
    y_tilde = torch.tanh(torch.randn(200, 5, generator=g) @ torch.randn(5, 5, generator=g))
    y, factor = orthonormalize(y_tilde)
    m = y.shape[0]
    torch.testing.assert_close(y.T @ y / m, torch.eye(5), atol=1e-5, rtol=0)
    # Y = Y_tilde sqrt(m) (L^-1)^T with L the Cholesky factor of Y_tilde^T Y_tilde
    L = torch.linalg.cholesky(y_tilde.double().T @ y_tilde.double())
    expected = math.sqrt(m) * torch.linalg.inv(L).T
    torch.testing.assert_close(factor.double(), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(y, y_tilde @ factor, atol=1e-5, rtol=1e-5)
    # the factor is upper triangular: column j of Y depends on columns <= j of Y_tilde (Gram-Schmidt order)
    assert torch.equal(factor, factor.triu())


def test_orthonormalize_passes_gradients():
    y_tilde = torch.randn(50, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: orthonormalize(t)[0], (y_tilde,))


def test_orthonorm_layer_keeps_the_training_factor_for_inference():
    g = torch.Generator().manual_seed(0)
    layer = Orthonorm(4)
    train = torch.randn(64, 4, generator=g) * torch.tensor([1.0, 3.0, 0.1, 2.0])
    out = layer(train)
    torch.testing.assert_close(out.T @ out / 64, torch.eye(4), atol=1e-4, rtol=0)  # up to the small ridge
    layer.eval()
    # in eval mode the stored factor is applied, whatever the batch
    torch.testing.assert_close(layer(train[:7]), out[:7], atol=1e-5, rtol=1e-5)
    new = torch.randn(3, 4, generator=g)
    torch.testing.assert_close(layer(new), new @ layer.factor)
    # fit_factor orthonormalises a full set of correlated columns (a rotation
    # and scaling of condition number 30: far from singular, so float32 holds)
    rotation, _ = torch.linalg.qr(torch.randn(4, 4, generator=g))
    full = torch.randn(500, 4, generator=g) @ (rotation * torch.tensor([1.0, 30.0, 2.0, 5.0]))
    layer.fit_factor(full)
    y = layer(full)
    torch.testing.assert_close(y.T @ y / 500, torch.eye(4), atol=1e-4, rtol=0)


def test_knn_affinity_is_sparse_symmetric_gaussian():
    rng = np.random.default_rng(0)
    z = torch.as_tensor(rng.normal(size=(30, 4)), dtype=torch.float32)
    W = knn_affinity(z, n_neighbors=3, scale_neighbor=2)
    assert torch.allclose(W, W.T)
    assert torch.all(W.diagonal() == 0)
    # the same construction by hand, with scipy/numpy
    from scipy.spatial.distance import cdist

    d = cdist(z.numpy(), z.numpy())
    np.fill_diagonal(d, np.inf)
    order = np.argsort(d, axis=1)
    second = np.sort(np.sort(d, axis=1)[:, 1])
    sigma2 = second[(len(second) - 1) // 2] ** 2  # torch's median is the lower middle value
    ref = np.zeros_like(d)
    for i in range(30):
        for j in order[i, :3]:
            ref[i, j] = np.exp(-(d[i, j] ** 2) / (2 * sigma2))
    ref = (ref + ref.T) / 2
    np.testing.assert_allclose(W.numpy(), ref, rtol=1e-4, atol=1e-6)
    # every row keeps at least its own n_neighbors
    assert (W > 0).sum(1).min() >= 3


def test_default_affinity_is_the_official_codes_self_counting_knn():
    """DSCDAN's defaults keep what the official code keeps: top-3 *with* the sample itself, then ``W - I``."""
    z = torch.as_tensor(np.random.default_rng(1).normal(size=(40, 5)), dtype=torch.float32)
    model = DSCDAN()
    W = knn_affinity(z, model.n_neighbors, model.scale_neighbor)
    d2 = torch.cdist(z.double(), z.double()).pow(2)  # self at distance 0, as in the code
    nearest, index = torch.topk(d2, 3, dim=1, largest=False)  # n_nbrs=3, self included
    sigma2 = nearest[:, 1].median()  # scale_nbr=2, self included: the nearest other sample
    code = torch.zeros_like(d2).scatter(1, index, torch.exp(-nearest / (2 * sigma2)))
    code = (code + code.T) / 2 - torch.eye(40, dtype=code.dtype)
    torch.testing.assert_close(W.double(), code, rtol=1e-4, atol=1e-6)


def test_differentiable_knn_affinity_moves_codes_by_the_gradient_of_the_kept_weights():
    g = torch.Generator().manual_seed(3)
    z = torch.randn(25, 3, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(25, 2, generator=g, dtype=torch.float64)
    fixed = knn_affinity(z, n_neighbors=3, scale_neighbor=2)
    assert not fixed.requires_grad  # SpectralNet's constant affinity
    W = knn_affinity(z, n_neighbors=3, scale_neighbor=2, differentiable=True)
    torch.testing.assert_close(W.detach(), fixed)
    (grad,) = torch.autograd.grad(spectral_loss(y, W), z)
    # reference: the dense Gaussian kernel of all pairs, masked by the same
    # neighbour sets, with the scale taken from the fixed affinity's construction
    with torch.no_grad():
        d2 = torch.cdist(z, z).pow(2)
        d2.fill_diagonal_(float("inf"))
        nearest, index = torch.topk(d2, 3, dim=1, largest=False)
        sigma2 = nearest[:, 1].median()
        mask = torch.zeros(25, 25, dtype=torch.float64).scatter(1, index, 1.0)
    kernel = torch.exp(-(z.unsqueeze(1) - z.unsqueeze(0)).pow(2).sum(2) / (2 * sigma2)) * mask
    (ref,) = torch.autograd.grad(spectral_loss(y, (kernel + kernel.T) / 2), z)
    torch.testing.assert_close(grad, ref)
    assert grad.abs().sum() > 0


def test_spectral_loss_matches_laplacian_quadratic_form():
    g = torch.Generator().manual_seed(1)
    y = torch.randn(20, 3, generator=g, dtype=torch.float64)
    W = torch.rand(20, 20, generator=g, dtype=torch.float64)
    W = (W + W.T) / 2
    W.fill_diagonal_(0)
    laplacian = torch.diag(W.sum(1)) - W
    # sum_ij W_ij ||y_i - y_j||^2 = 2 tr(Y^T L Y)
    expected = 2 * torch.trace(y.T @ laplacian @ y) / 20
    torch.testing.assert_close(spectral_loss(y, W), expected)


def test_spectral_loss_minimised_by_cluster_indicators():
    """On a graph of two disconnected cliques the orthonormal minimiser is constant on each clique."""
    W = torch.zeros(10, 10)
    W[:5, :5] = 1
    W[5:, 5:] = 1
    W.fill_diagonal_(0)
    indicators, _ = orthonormalize(torch.tensor([[1.0, 0.0]] * 5 + [[0.0, 1.0]] * 5))
    assert spectral_loss(indicators, W) < 1e-6
    mixed, _ = orthonormalize(torch.randn(10, 2, generator=torch.Generator().manual_seed(0)))
    assert spectral_loss(mixed, W) > 1.0


def _train_discriminator(x, z, steps=300):
    torch.manual_seed(0)
    disc = GlobalDiscriminator(x.shape[1], z.shape[1], hidden_dims=(64,))
    opt = torch.optim.Adam(disc.parameters(), lr=1e-2)
    for _ in range(steps):
        perm = torch.randperm(len(x))
        xb, zb = x[perm[:128]], z[perm[:128]]
        mi = disc.mutual_information(xb, zb)
        opt.zero_grad()
        (-mi).backward()
        opt.step()
    with torch.no_grad():
        return disc.mutual_information(x, z).item()


def test_jsd_estimator_rises_for_dependent_pairs_only():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1024, 2, generator=g)
    dependent = _train_discriminator(x, x + 0.1 * torch.randn(1024, 2, generator=g))
    shuffled = _train_discriminator(x, x[torch.randperm(1024, generator=g)])
    floor = -2 * math.log(2)  # the value at independence
    assert dependent > floor + 0.8
    assert abs(shuffled - floor) < 0.15


def test_jsd_estimator_closed_form():
    pos = torch.tensor([2.0, -1.0])
    neg = torch.tensor([0.5, -3.0])
    expected = -np.mean(np.log1p(np.exp([-2.0, 1.0]))) - np.mean(np.log1p(np.exp([0.5, -3.0])))
    assert jsd_mutual_information(pos, neg).item() == pytest.approx(expected, rel=1e-6)
    assert jsd_mutual_information(torch.zeros(3), torch.zeros(3)).item() == pytest.approx(-2 * math.log(2))


def test_shuffle_never_pairs_a_row_with_itself():
    z = torch.arange(7.0)[:, None]
    assert torch.all(shuffle_batch(z) != z)
    assert sorted(shuffle_batch(z).squeeze(1).tolist()) == z.squeeze(1).tolist()


def test_local_discriminator_scores_every_position():
    disc = LocalDiscriminator(8, 3, hidden_channels=16)
    scores = disc(torch.randn(4, 8, 5, 6), torch.randn(4, 3))
    assert scores.shape == (4, 30)
    assert disc.mutual_information(torch.randn(4, 8, 5, 6), torch.randn(4, 3)).ndim == 0


def test_gaussian_prior_kl_closed_form():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(400, 3, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64) + 1
    mean, cov = z.mean(0), torch.cov(z.T)
    expected = torch.distributions.kl_divergence(
        torch.distributions.MultivariateNormal(mean, cov),
        torch.distributions.MultivariateNormal(torch.zeros(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64)),
    )
    assert gaussian_prior_kl(z, eps=0).item() == pytest.approx(expected.item(), rel=1e-6)
    standard = torch.randn(20000, 3, generator=g)
    assert gaussian_prior_kl(standard).item() < 1e-3


def test_cluster_prior_kl_is_the_kl_of_assignment_and_unit_gaussians():
    from scipy.stats import entropy

    g = torch.Generator().manual_seed(0)
    z = torch.randn(7, 3, generator=g, dtype=torch.float64)
    means = torch.randn(4, 3, generator=g, dtype=torch.float64)
    q = torch.softmax(torch.randn(7, 4, generator=g, dtype=torch.float64), 1)
    q[0] = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64)  # a one-hot row: 0 log 0 = 0
    expected = 0.0
    for zi, qi in zip(z.numpy(), q.numpy()):
        # KL(N(z, I) || N(mu_c, I)) = ||z - mu_c||^2 / 2, weighted by q; then KL(q || uniform)
        gaussian = sum(qc * 0.5 * np.sum((zi - mu) ** 2) for qc, mu in zip(qi, means.numpy()))
        expected += gaussian + entropy(qi, np.full(4, 0.25))
    assert cluster_prior_kl(z, q, means).item() == pytest.approx(expected / 7, rel=1e-10)
    # codes at the mean of their one cluster cost only the categorical part, log K
    assert cluster_prior_kl(means, torch.eye(4, dtype=torch.float64), means).item() == pytest.approx(math.log(4))


@pytest.fixture(scope="module")
def fitted():
    X, y = make_blobs(n_samples=150, centers=3, n_features=6, cluster_std=0.7, random_state=1)
    X = X.astype(np.float32)
    model = DSCDAN(n_clusters=3, **{**TINY, "pretrain_epochs": 10, "max_iter": 300}).fit(X)
    return model, X, y


def test_fit_clusters_blobs_and_embedding_is_orthonormal(fitted):
    model, X, y = fitted
    assert adjusted_rand_score(y, model.labels_) > 0.9
    Y = model.transform(X)
    assert Y.shape == (150, 3)
    np.testing.assert_allclose(Y.T @ Y / len(X), np.eye(3), atol=1e-3)
    assert set(model.history_) == {"pretrain", "clustering"}
    assert {"reconstruction", "relative", "global_mi", "prior", "spectral", "kl"} == set(model.history_["clustering"])
    assert model.cluster_means_.shape == (3, 3) and np.abs(model.cluster_means_).max() > 0
    assert len(model.history_["pretrain"]["reconstruction"]) == 10
    assert model.n_iter_ == 300


def test_predict_on_new_samples_is_consistent_with_labels(fitted):
    model, X, _ = fitted
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    # predict uses the stored factor: a sample's label does not depend on its batch-mates
    single = np.array([model.predict(X[i : i + 1])[0] for i in range(0, 150, 10)])
    np.testing.assert_array_equal(single, model.labels_[::10])
    # slightly perturbed copies of training samples keep their labels
    rng = np.random.default_rng(0)
    noisy = X + 0.01 * rng.standard_normal(X.shape).astype(np.float32)
    assert (model.predict(noisy) == model.labels_).mean() > 0.95


def test_image_rows_use_conv_encoder_and_local_mi():
    rng = np.random.default_rng(0)
    X = rng.random((40, 144)).astype(np.float32)
    model = DSCDAN(n_clusters=2, **{**TINY, "image_shape": (1, 12, 12), "pretrain_epochs": 1, "max_iter": 2}).fit(X)
    assert isinstance(model.autoencoder_, ConvAutoencoder)
    assert set(model.discriminators_) == {"global", "local"}
    assert "local_mi" in model.history_["clustering"]
    assert model.transform(X).shape == (40, 2)


def test_reuses_a_given_autoencoder_without_changing_it():
    X, _ = make_blobs(n_samples=60, centers=3, n_features=4, random_state=0)
    X = X.astype(np.float32)
    first = DSCDAN(n_clusters=3, **TINY).fit(X)
    before = [p.detach().clone() for p in first.autoencoder_.parameters()]
    second = DSCDAN(n_clusters=3, **{**TINY, "autoencoder": first}).fit(X)
    assert all(torch.equal(a, b) for a, b in zip(before, first.autoencoder_.parameters()))
    assert second.autoencoder_ is not first.autoencoder_


@pytest.mark.parametrize("bad", [{"n_neighbors": 0}, {"noise_std": -1.0}, {"spectral_batch_size": 1}])
def test_invalid_parameters_are_named(bad):
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        DSCDAN(**{**TINY, **bad}).fit(np.random.rand(20, 3))
