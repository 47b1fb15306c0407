import numpy as np
import torch
from scipy.special import rel_entr

from skdeepcluster.losses import kl_divergence, squared_distances, student_t_assignment, target_distribution


def _q_numpy(z, mu, alpha):
    d2 = ((z[:, None, :] - mu[None]) ** 2).sum(-1)
    num = (1 + d2 / alpha) ** (-(alpha + 1) / 2)
    return num / num.sum(1, keepdims=True)


def test_student_t_matches_closed_form():
    rng = np.random.default_rng(0)
    z, mu = rng.normal(size=(20, 4)), rng.normal(size=(3, 4))
    for alpha in (1.0, 0.5, 3.0):
        q = student_t_assignment(torch.tensor(z), torch.tensor(mu), alpha).numpy()
        np.testing.assert_allclose(q, _q_numpy(z, mu, alpha), rtol=1e-10)


def test_student_t_far_points_do_not_underflow():
    z = torch.tensor([[1e6, 0.0]], dtype=torch.float32)
    mu = torch.tensor([[0.0, 0.0], [2e6, 0.0], [0.0, 5e6]])
    q = student_t_assignment(z, mu)
    assert torch.isfinite(q).all() and torch.allclose(q.sum(1), torch.ones(1))


def test_target_distribution_sharpens_and_normalises():
    q = torch.softmax(torch.randn(50, 4, dtype=torch.float64), 1)
    p = target_distribution(q)
    torch.testing.assert_close(p.sum(1), torch.ones(50, dtype=torch.float64))
    expected = (q**2 / q.sum(0)) / (q**2 / q.sum(0)).sum(1, keepdim=True)
    torch.testing.assert_close(p, expected)
    # with balanced clusters, squaring sharpens every row: its top probability grows
    balanced = torch.tensor([[0.6, 0.3, 0.1], [0.1, 0.6, 0.3], [0.3, 0.1, 0.6]], dtype=torch.float64)
    assert (target_distribution(balanced).max(1).values > balanced.max(1).values).all()


def test_kl_matches_scipy():
    rng = np.random.default_rng(1)
    p, q = rng.dirichlet(np.ones(5), 10), rng.dirichlet(np.ones(5), 10)
    ours = kl_divergence(torch.tensor(p), torch.tensor(q), eps=0).item()
    np.testing.assert_allclose(ours, rel_entr(p, q).sum(1).mean(), rtol=1e-10)


def test_squared_distances():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(7, 3)), rng.normal(size=(4, 3))
    d2 = squared_distances(torch.tensor(a), torch.tensor(b)).numpy()
    np.testing.assert_allclose(d2, ((a[:, None] - b[None]) ** 2).sum(-1), atol=1e-12)
