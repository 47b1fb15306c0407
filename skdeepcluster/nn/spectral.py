"""Pieces of deep spectral clustering (SpectralNet, DSCDAN): orthonormal outputs and batch affinities.

The output layer of SpectralNet (Shaham et al., 2018) makes the ``m`` rows of a
batch ``Y_tilde`` orthonormal in the sense ``Y^T Y / m = I`` through a Cholesky
factor ``L L^T = Y_tilde^T Y_tilde``:

.. math:: Y = \\tilde Y \\sqrt{m} (L^{-1})^T .

During training the factor is recomputed from every batch (and kept as a
buffer); at inference the stored factor is applied, so new samples map to the
same embedding as the training samples did.
"""

import math

import torch
from torch import nn

from ..losses import squared_distances

__all__ = ["orthonormal_factor", "orthonormalize", "Orthonorm", "knn_affinity", "spectral_loss"]


def orthonormal_factor(gram, n_samples, eps=1e-7):
    """The matrix ``sqrt(m) (L^{-1})^T`` with ``L L^T = gram + eps * mean(diag(gram)) * I``.

    ``gram`` is ``Y_tilde^T Y_tilde`` summed over ``n_samples`` rows. The small
    ridge keeps the Cholesky factorisation defined when a column collapses. The
    algebra runs in float64 (the Gram matrix of tanh or softmax outputs is badly
    conditioned early in training) and ``cholesky_ex`` never synchronises with
    the device, so the factor can be computed inside a captured CUDA graph.
    """
    gram = gram.double()
    k = gram.shape[0]
    eye = torch.eye(k, dtype=gram.dtype, device=gram.device)
    ridge = eps * gram.diagonal().mean().clamp_min(1e-12)
    chol, _ = torch.linalg.cholesky_ex(gram + ridge * eye)
    chol_inv = torch.linalg.solve_triangular(chol, eye, upper=False)
    return math.sqrt(n_samples) * chol_inv.T


def orthonormalize(y_tilde, eps=1e-7):
    """Return ``(Y, factor)`` with ``Y = Y_tilde @ factor`` and ``Y^T Y / m = I`` (differentiable)."""
    factor = orthonormal_factor(y_tilde.T.double() @ y_tilde.double(), y_tilde.shape[0], eps)
    return (y_tilde.double() @ factor).to(y_tilde.dtype), factor.to(y_tilde.dtype)


class Orthonorm(nn.Module):
    """Orthonormalisation layer: per-batch Cholesky factor in training, the stored one at inference.

    Parameters
    ----------
    n_features : int
        Width ``k`` of the outputs to orthonormalise.
    eps : float, default=1e-7
        Relative ridge added to the Gram matrix before the factorisation.

    Attributes
    ----------
    factor : torch.Tensor of shape (k, k)
        Buffer holding the factor of the latest training batch (or of
        :meth:`fit_factor`), applied in ``eval`` mode.
    """

    def __init__(self, n_features, eps=1e-7):
        super().__init__()
        self.eps = eps
        self.register_buffer("factor", torch.eye(n_features))

    def forward(self, y_tilde):
        if not self.training:
            return y_tilde @ self.factor
        y, factor = orthonormalize(y_tilde, self.eps)
        with torch.no_grad():
            self.factor.copy_(factor)  # in place: safe under CUDA-graph replay
        return y

    @torch.no_grad()
    def fit_factor(self, y_tilde):
        """Set the stored factor so that ``Y^T Y / n = I`` holds on all rows of ``y_tilde`` at once."""
        self.factor.copy_(orthonormal_factor(y_tilde.T.double() @ y_tilde.double(), y_tilde.shape[0], self.eps))
        return self


def knn_affinity(z, n_neighbors, scale_neighbor=2, differentiable=False):
    """Sparse Gaussian affinity of the rows of ``z`` (a mini-batch), as a dense ``(m, m)`` tensor.

    Each row keeps its ``n_neighbors`` nearest other rows (Euclidean) with weight
    ``exp(-||z_i - z_j||^2 / (2 sigma^2))``; ``sigma`` is the median, over the
    batch, of the distance of each row to its ``scale_neighbor``-th nearest
    other row (SpectralNet's scale). ``W`` is symmetrised ``(W + W^T) / 2`` and
    has a zero diagonal.

    The choice of neighbours and the scale are constants. With
    ``differentiable=False`` (SpectralNet, whose affinity comes from fixed
    inputs) no gradient flows through ``W``; with ``differentiable=True`` the
    kept weights are differentiable functions of the distances, so a loss
    ``sum_ij W_ij ||y_i - y_j||^2`` also moves the codes: it pushes apart the
    neighbours whose outputs differ (DSCDAN's joint training).
    """
    m = z.shape[0]
    with torch.no_grad():
        d2 = squared_distances(z, z)
        d2.fill_diagonal_(float("inf"))  # a row is not its own neighbour
        k = max(min(n_neighbors, m - 1), 1)
        k_scale = max(min(scale_neighbor, m - 1), 1)
        nearest, index = torch.topk(d2, max(k, k_scale), dim=1, largest=False)
        sigma2 = nearest[:, k_scale - 1].median().clamp_min(1e-12)
    nearest, index = nearest[:, :k], index[:, :k]
    if differentiable:  # the same squared distances, now with their gradient
        nearest = (z.unsqueeze(1) - z[index]).pow(2).sum(2)
    weights = torch.exp(-nearest / (2 * sigma2))
    if m == 1:
        weights = torch.zeros_like(weights)
    W = torch.zeros(m, m, dtype=weights.dtype, device=weights.device).scatter(1, index, weights)
    return (W + W.T) / 2


def spectral_loss(y, W):
    """SpectralNet's loss ``sum_ij W_ij ||y_i - y_j||^2 / m`` over a batch of outputs ``y``."""
    return (W * squared_distances(y, y)).sum() / y.shape[0]
