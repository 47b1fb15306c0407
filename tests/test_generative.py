"""VaDE, DHVC and the von Mises-Fisher code they share (skdeepcluster.nn.vmf)."""

import math

import numpy as np
import pytest
import torch
from scipy import special
from scipy.stats import vonmises_fisher

from skdeepcluster import DHVC, VaDE
from skdeepcluster.nn.vmf import (
    VonMisesFisher,
    fit_vmf_mixture,
    kl_to_uniform,
    log_bessel_iv,
    log_normalizer,
    log_sphere_area,
    mean_resultant_length,
    vmf_mixture_log_posterior,
)
from skdeepcluster.nn.vmf import _sample_one_minus_w

DIMS = [3, 4, 10, 32, 64, 128]
KAPPAS = [1e-6, 0.3, 2.0, 10.0, 80.0, 500.0, 3000.0]


def _unit(d, seed=0):
    v = np.random.default_rng(seed).normal(size=d)
    return v / np.linalg.norm(v)


# -- the distribution against scipy ------------------------------------------------------
@pytest.mark.parametrize("d", [2, 3, 10, 64, 128])
def test_log_bessel_and_mean_length_match_scipy(d):
    kappa = torch.tensor([1e-3, 0.5, 3.0, 40.0, 700.0, 5000.0], dtype=torch.float64)
    v = d / 2 - 1
    ref = np.log(special.ive(v, kappa.numpy())) + kappa.numpy()
    np.testing.assert_allclose(log_bessel_iv(v, kappa).numpy(), ref, atol=1e-6, rtol=1e-9)
    ratio = special.ive(d / 2, kappa.numpy()) / special.ive(v, kappa.numpy())
    np.testing.assert_allclose(mean_resultant_length(kappa, d).numpy(), ratio, rtol=1e-6)


@pytest.mark.parametrize("d", DIMS)
def test_log_prob_entropy_and_kl_match_scipy(d):
    mu = _unit(d, d)
    x = vonmises_fisher(mu, 5.0).rvs(4, random_state=1)
    loc = torch.tensor(mu)
    for kappa in [0.3, 5.0, 80.0, 500.0]:
        dist = VonMisesFisher(loc, torch.tensor(kappa, dtype=torch.float64))
        ref = vonmises_fisher(mu, kappa)
        np.testing.assert_allclose(dist.log_prob(torch.tensor(x)).numpy(), ref.logpdf(x), rtol=1e-7, atol=1e-6)
        np.testing.assert_allclose(dist.entropy().item(), ref.entropy(), rtol=1e-7, atol=1e-6)
        # KL(vMF || U) = -H[vMF] + log |S^{d-1}| (the uniform density is 1/|S^{d-1}|)
        kl = kl_to_uniform(torch.tensor(kappa, dtype=torch.float64), d).item()
        np.testing.assert_allclose(kl, -ref.entropy() + log_sphere_area(d), rtol=1e-7, atol=1e-6)


def test_kl_to_uniform_by_monte_carlo():
    d, kappa = 10, 4.0
    mu = _unit(d)
    x = vonmises_fisher(mu, kappa).rvs(200_000, random_state=0)
    mc = np.mean(vonmises_fisher(mu, kappa).logpdf(x)) + log_sphere_area(d)
    assert abs(kl_to_uniform(torch.tensor(kappa), d).item() - mc) < 0.01


def test_log_sphere_area():
    assert log_sphere_area(2) == pytest.approx(math.log(2 * math.pi))
    assert log_sphere_area(3) == pytest.approx(math.log(4 * math.pi))


@pytest.mark.parametrize("d", [3, 4, 10, 128])
@pytest.mark.parametrize("kappa", [0.5, 5.0, 50.0, 2000.0])
def test_samples_have_the_mean_resultant_length(d, kappa):
    torch.manual_seed(0)
    mu = torch.tensor(_unit(d, 3))
    n = 20_000 if d <= 10 else 3000
    z = VonMisesFisher(mu, torch.tensor(kappa, dtype=torch.float64)).sample((n,))
    assert torch.allclose(z.norm(dim=1), torch.ones(()).double(), atol=1e-9)
    w = z @ mu
    # the mean of w = mu^T z is A_d(kappa); its sampling sd is at most 1/sqrt(n)
    a = mean_resultant_length(torch.tensor(kappa, dtype=torch.float64), d).item()
    se = w.std().item() / math.sqrt(len(w))
    assert abs(w.mean().item() - a) < 5 * se + 1e-6
    # and the directions: the mean of z points along mu
    assert torch.allclose(z.mean(0), a * mu, atol=6 / math.sqrt(len(w)))


def test_samples_match_scipy_distribution_of_w():
    d, kappa, n = 10, 7.0, 20_000
    mu = _unit(d)
    ours = VonMisesFisher(torch.tensor(mu), torch.tensor(kappa, dtype=torch.float64)).sample((n,)).numpy() @ mu
    theirs = vonmises_fisher(mu, kappa).rvs(n, random_state=0) @ mu
    from scipy.stats import ks_2samp

    assert ks_2samp(ours, theirs).pvalue > 1e-3


@pytest.mark.parametrize("d", DIMS)
def test_no_nan_from_tiny_to_huge_kappa_with_gradients(d):
    torch.manual_seed(0)
    kappa = torch.tensor(KAPPAS * 4, dtype=torch.float32, requires_grad=True)
    loc_raw = torch.randn(len(KAPPAS) * 4, d, requires_grad=True)
    loc = loc_raw / loc_raw.norm(dim=1, keepdim=True)
    dist = VonMisesFisher(loc, kappa)
    z = dist.rsample()
    loss = (z * torch.randn(d)).sum() + dist.kl_to_uniform().sum() + dist.entropy().sum() + dist.log_prob(z).sum()
    loss.backward()
    assert torch.isfinite(z).all() and torch.isfinite(loss)
    assert torch.isfinite(kappa.grad).all() and torch.isfinite(loc_raw.grad).all()
    assert kappa.grad.abs().sum() > 0 and loc_raw.grad.abs().sum() > 0
    kl = kl_to_uniform(kappa.detach().double(), d)
    assert (kl >= -1e-9).all() and kl[0] < 1e-6  # KL -> 0 as kappa -> 0


def test_gradients_are_the_exact_identities():
    d = 10
    kappa = torch.tensor([1e-4, 0.7, 6.0, 90.0, 4000.0], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(log_normalizer(kappa, d).sum(), kappa)
    a = mean_resultant_length(kappa.detach(), d)
    assert torch.allclose(grad, -a)
    # and they agree with finite differences of the forward values
    for fn in (lambda k: log_normalizer(k, d), lambda k: mean_resultant_length(k, d), lambda k: log_bessel_iv(4.0, k)):
        k = kappa.detach()[1:4].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(fn(k).sum(), k)
        h = 1e-5 * k.detach()
        fd = (fn(k.detach() + h) - fn(k.detach() - h)) / (2 * h)
        assert torch.allclose(g, fd, rtol=1e-5)


def test_sampler_gradient_tracks_dA_dkappa():
    """d/dkappa E[mu^T z] must be about A_d'(kappa); the correction term is left out (a few % at d=10)."""
    torch.manual_seed(0)
    d, k0 = 10, 20.0
    mu = torch.tensor(_unit(d))
    kappa = torch.tensor(k0, dtype=torch.float64, requires_grad=True)
    z = VonMisesFisher(mu, kappa).rsample((40_000,))
    (grad,) = torch.autograd.grad((z @ mu).mean(), kappa)
    a = mean_resultant_length(torch.tensor(k0, dtype=torch.float64), d)
    exact = 1 - a**2 - (d - 1) * a / k0
    assert abs(grad.item() / exact.item() - 1) < 0.06
    # d = 3 uses the exact inverse CDF: unbiased
    mu3 = torch.tensor(_unit(3))
    kappa = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    z = VonMisesFisher(mu3, kappa).rsample((200_000,))
    (grad,) = torch.autograd.grad((z @ mu3).mean(), kappa)
    a = mean_resultant_length(torch.tensor(2.0, dtype=torch.float64), 3)
    assert abs(grad.item() / (1 - a**2 - 2 * a / 2.0).item() - 1) < 0.03


def test_fixed_rounds_accept_almost_surely():
    kappa = torch.tensor([1e-3, 1.0, 10.0, 100.0, 1e5], dtype=torch.float64).repeat(2000)
    for d in (4, 10, 128):
        _, accepted = _sample_one_minus_w(kappa, d, rounds=1)
        assert accepted.double().mean() > 0.65  # one proposal: Wood's worst case is ~0.69
        _, accepted = _sample_one_minus_w(kappa, d, rounds=32)
        assert accepted.all()


def test_mixture_posterior_and_em_recover_planted_clusters():
    torch.manual_seed(0)
    d, kappas = 5, [30.0, 60.0, 45.0]
    centers = [_unit(d, s) for s in range(3)]
    parts = [vonmises_fisher(c, k).rvs(300, random_state=i) for i, (c, k) in enumerate(zip(centers, kappas))]
    Z = torch.tensor(np.concatenate(parts))
    y = np.repeat(np.arange(3), 300)
    log_w, mus, ks = fit_vmf_mixture(Z, 3, n_init=3)
    log_resp, log_evidence = vmf_mixture_log_posterior(Z, log_w, mus, ks)
    assert torch.allclose(log_resp.exp().sum(1), torch.ones(()).double())
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(y, log_resp.argmax(1).numpy()) > 0.98
    order = (mus @ torch.tensor(np.array(centers)).T).argmax(0)
    np.testing.assert_allclose(ks[order].numpy(), kappas, rtol=0.25)
    np.testing.assert_allclose(log_w.exp().numpy(), 1 / 3, atol=0.02)
    # the evidence is the mixture density
    dens = sum(
        np.exp(lw) * vonmises_fisher(m, k).pdf(Z.numpy())
        for lw, m, k in zip(log_w.numpy(), mus.numpy(), ks.numpy())
    )
    np.testing.assert_allclose(log_evidence.numpy(), np.log(dens), atol=1e-6)


# -- VaDE: the ELBO pieces against direct computations ------------------------------------------
from skdeepcluster.cluster._generative import _reconstruction_nll, _vade_kl, _vade_responsibilities  # noqa: E402


def _tiny_gmm(seed=0):
    g = torch.Generator().manual_seed(seed)
    K, J = 3, 2
    return (
        torch.randn(K, generator=g, dtype=torch.float64),
        2 * torch.randn(K, J, generator=g, dtype=torch.float64),
        0.5 * torch.randn(K, J, generator=g, dtype=torch.float64),
    )


def test_vade_responsibilities_are_the_mixture_posterior():
    from scipy.stats import multivariate_normal

    pi_logits, means, log_vars = _tiny_gmm()
    z = torch.tensor([[0.3, -1.0], [2.0, 1.5], [1e4, -1e4]], dtype=torch.float64)
    gamma = _vade_responsibilities(z, pi_logits, means, log_vars).exp()
    assert torch.isfinite(gamma).all() and torch.allclose(gamma.sum(1), torch.ones(()).double())
    pi = torch.softmax(pi_logits, 0).numpy()
    dens = np.stack(
        [pi[c] * multivariate_normal(means[c].numpy(), np.diag(log_vars[c].exp().numpy())).pdf(z[:2].numpy()) for c in range(3)],
        axis=1,
    )
    np.testing.assert_allclose(gamma[:2].numpy(), dens / dens.sum(1, keepdims=True), rtol=1e-10)
    assert gamma[2].max() == 1.0  # a far point goes to one component, not 0/0


def test_vade_kl_matches_monte_carlo():
    """Closed form of KL(q(z,c|x) || p(z,c)) with q(c|x) = gamma, against sampling z ~ q(z|x)."""
    torch.manual_seed(0)
    pi_logits, means, log_vars = _tiny_gmm(1)
    mean = torch.tensor([[0.5, -0.2], [1.0, 2.0]], dtype=torch.float64)
    log_var = torch.tensor([[-1.0, 0.3], [0.0, -2.0]], dtype=torch.float64)
    log_gamma = torch.log_softmax(torch.tensor([[0.1, 2.0, -1.0], [1.0, 1.0, 0.0]], dtype=torch.float64), 1)
    closed = _vade_kl(mean, log_var, log_gamma, pi_logits, means, log_vars)
    q = torch.distributions.Normal(mean, (0.5 * log_var).exp())
    z = q.sample((400_000,))  # (S, B, J)
    log_q_z = q.log_prob(z).sum(-1)
    log_p_z_c = torch.distributions.Normal(means, (0.5 * log_vars).exp()).log_prob(z.unsqueeze(2)).sum(-1)  # (S, B, K)
    log_pi = torch.log_softmax(pi_logits, 0)
    gamma = log_gamma.exp()
    mc = (gamma * (log_q_z.unsqueeze(-1) + log_gamma - log_pi - log_p_z_c)).sum(-1).mean(0)
    np.testing.assert_allclose(closed.numpy(), mc.numpy(), atol=0.02)


def test_reconstruction_likelihoods():
    x = torch.tensor([[0.0, 1.0, 0.25]])
    logits = torch.tensor([[-2.0, 3.0, 0.5]])
    p = torch.sigmoid(logits)
    direct = -(x * p.log() + (1 - x) * (1 - p).log()).sum(1)
    assert torch.allclose(_reconstruction_nll(logits, x, "bernoulli"), direct)
    assert torch.allclose(_reconstruction_nll(logits, x, "gaussian"), ((logits - x) ** 2).sum(1))


# -- the estimators --------------------------------------------------------------------------
TINY = dict(hidden_dims=(32, 32), n_components=3, pretrain_epochs=20, epochs=15, batch_size=32, device="cpu")


def test_vade_fit_predict_proba_transform_and_sample(blobs):
    X, y = blobs
    model = VaDE(n_clusters=3, random_state=0, **TINY).fit(X)
    assert model.likelihood_ == "gaussian"
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-5)
    np.testing.assert_array_equal(proba.argmax(1), model.predict(X))
    np.testing.assert_array_equal(model.labels_, model.predict(X))
    assert model.transform(X).shape == (90, 3)
    assert model.weights_.shape == (3,) and model.means_.shape == (3, 3) and model.covariances_.shape == (3, 3)
    assert (model.covariances_ > 0).all() and model.weights_.sum() == pytest.approx(1, rel=1e-5)
    assert set(model.history_["clustering"]) == {"reconstruction", "kl", "lr"}
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(y, model.labels_) > 0.9
    Xs, ys = model.sample(7)
    assert Xs.shape == (7, 5) and Xs.dtype == np.float32 and ys.shape == (7,)
    Xc, yc = model.sample(5, cluster=2)
    assert (yc == 2).all()
    # generated points of a component are assigned back to it (the decoder inverts the encoder on blobs)
    assert (model.predict(Xc) == 2).mean() >= 0.8
    np.testing.assert_array_equal(model.sample(4)[0], model.sample(4)[0])  # random_state drives sampling
    with pytest.raises(ValueError, match="cluster"):
        model.sample(2, cluster=3)
    with pytest.raises(ValueError, match="n_samples"):
        model.sample(0)


def test_vade_starts_from_the_mixture_with_uniform_pi(blobs):
    """pi uniform as in the authors' code, a small constant q(z|x) variance (the documented deviation)."""
    X, _ = blobs
    model = VaDE(n_clusters=3, random_state=0, **{**TINY, "epochs": 0}).fit(X)
    np.testing.assert_allclose(model.weights_, 1 / 3, rtol=1e-6)
    head = model._network.log_var_head
    assert (head.weight == 0).all()
    np.testing.assert_allclose(head.bias.detach().exp().numpy(), model.covariances_.min(0) / 10, rtol=1e-5)


def test_vade_bernoulli_for_unit_range_data():
    rng = np.random.default_rng(0)
    X = (rng.random((60, 8)) < np.repeat([[0.1] * 4 + [0.9] * 4, [0.9] * 4 + [0.1] * 4], 30, axis=0)).astype(np.float32)
    model = VaDE(n_clusters=2, random_state=0, **TINY).fit(X)
    assert model.likelihood_ == "bernoulli"
    Xs, _ = model.sample(10)
    assert (Xs >= 0).all() and (Xs <= 1).all()
    with pytest.raises(ValueError, match="bernoulli"):
        VaDE(likelihood="bernoulli", **TINY).fit(X - 0.5)


@pytest.mark.parametrize("pretrain_loss", ["likelihood", "squared"])
def test_vade_pretraining_loss(pretrain_loss):
    """Bernoulli data: "likelihood" pretrains by cross-entropy on the logits, "squared" by the MSE of the raw output."""
    rng = np.random.default_rng(0)
    X = rng.random((40, 6)).astype(np.float32)
    model = VaDE(n_clusters=2, random_state=0, pretrain_loss=pretrain_loss, pretrain_lr=1e-12,
                 **{**TINY, "epochs": 0, "batch_size": 40}).fit(X)
    x = torch.as_tensor(X)
    with torch.no_grad():
        out = model.autoencoder_.decode(model.autoencoder_.encode(x))
    expected = (torch.nn.functional.binary_cross_entropy_with_logits(out, x) if pretrain_loss == "likelihood"
                else torch.nn.functional.mse_loss(out, x))
    assert model.pretrain_history_[-1]["train_loss"] == pytest.approx(expected.item(), rel=1e-4)


def test_vade_lr_decays_to_its_floor(blobs):
    X, _ = blobs
    model = VaDE(n_clusters=3, random_state=0, **{**TINY, "epochs": 6}, lr_decay=0.5, lr_decay_epochs=2, min_lr=0.0006).fit(X)
    assert model.history_["clustering"]["lr"] == pytest.approx([0.002, 0.002, 0.001, 0.001, 0.0006, 0.0006])


def test_dhvc_fit_and_outputs(blobs):
    X, y = blobs
    model = DHVC(n_clusters=3, random_state=0, head_iter=100, **TINY).fit(X)
    Z = model.transform(X)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1, rtol=1e-5)
    for proba in (model.predict_proba(X), model.mixture_proba(X)):
        assert proba.shape == (90, 3)
        np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-5)
    np.testing.assert_array_equal(model.predict_proba(X).argmax(1), model.labels_)
    np.testing.assert_allclose(np.linalg.norm(model.mean_directions_, axis=1), 1, rtol=1e-5)
    assert (model.concentrations_ > 0).all() and model.weights_.sum() == pytest.approx(1, rel=1e-5)
    terms = {"reconstruction", "cluster_kl", "prior_kl", "marginal_entropy", "conditional_entropy", "lr"}
    assert set(model.history_["clustering"]) == terms
    assert len(model.history_["clustering"]["lr"]) == TINY["epochs"]
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(y, model.labels_) > 0.9
    # the network posterior and the mixture posterior agree after training
    assert (model.mixture_proba(X).argmax(1) == model.labels_).mean() > 0.9


@pytest.mark.filterwarnings("ignore:DHVC found")  # two epochs on purpose: not about the clusters
def test_dhvc_reuses_its_spherical_autoencoder(blobs):
    X, _ = blobs
    first = DHVC(n_clusters=3, random_state=0, head_iter=20, **{**TINY, "epochs": 2}).fit(X)
    second = DHVC(n_clusters=3, random_state=0, head_iter=20, autoencoder=first, **{**TINY, "epochs": 2}).fit(X)
    assert "pretrain" not in second.history_
    np.testing.assert_allclose(np.linalg.norm(second.transform(X), axis=1), 1, rtol=1e-5)
    circle = DHVC(n_clusters=2, head_iter=5, **{**TINY, "n_components": 1, "epochs": 1}).fit(X)
    np.testing.assert_allclose(np.linalg.norm(circle.transform(X), axis=1), 1, rtol=1e-5)
    assert circle.transform(X).shape == (90, 2) and circle.get_feature_names_out().shape == (2,)
