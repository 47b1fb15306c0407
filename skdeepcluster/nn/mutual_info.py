"""Mutual-information maximisation of Deep InfoMax (Hjelm et al., 2019), as used by DSCDAN.

The Jensen-Shannon estimator of the mutual information between inputs ``x`` and
codes ``z`` scores pairs with a discriminator ``T``:

.. math:: \\hat I_{JSD}(x; z) = E_{P(x, z)}[-\\mathrm{sp}(-T(x, z))]
          - E_{P(x) P(z)}[\\mathrm{sp}(T(x, z'))],

with ``sp`` the softplus. Positive pairs are the rows of a batch; negative pairs
(samples of the product of marginals) pair each ``x`` with the code of another
row of the batch. The estimate lies in ``[-2 log 2, 0]``: ``-2 log 2`` when the
discriminator cannot tell the pairs apart (independence), rising towards 0 as
they separate.
"""

import math

import torch
from torch import nn

from .autoencoder import mlp
from ..losses import squared_distances

__all__ = [
    "jsd_mutual_information",
    "shuffle_batch",
    "GlobalDiscriminator",
    "LocalDiscriminator",
    "gaussian_prior_kl",
    "cluster_prior_kl",
]


def jsd_mutual_information(positive, negative):
    """DIM's Jensen-Shannon MI estimate from discriminator scores of positive and negative pairs."""
    return -nn.functional.softplus(-positive).mean() - nn.functional.softplus(negative).mean()


def shuffle_batch(z):
    """Pair every row with another row of the batch: a cyclic shift by one.

    Mini-batches are drawn in random order, so the shift is a random
    derangement of the batch: each ``x`` meets the code of a random other
    sample, never its own. Unlike a fresh permutation it needs no sort, so it
    is cheap and safe inside a captured CUDA graph.
    """
    return torch.roll(z, shifts=1, dims=0)


class GlobalDiscriminator(nn.Module):
    """``T(x, z)``: an MLP on the concatenation of (features of) ``x`` and the code ``z``.

    Parameters
    ----------
    n_features : int
        Width of the flattened input features.
    n_components : int
        Width of the code.
    hidden_dims : tuple of int, default=(512, 512)
        Widths of the hidden ReLU layers.
    """

    def __init__(self, n_features, n_components, hidden_dims=(512, 512)):
        super().__init__()
        self.net = mlp([n_features + n_components, *hidden_dims, 1])

    def forward(self, features, z):
        return self.net(torch.cat([features.flatten(1), z], dim=1)).squeeze(1)

    def mutual_information(self, features, z):
        """JSD estimate of I(features; z) on a batch, negatives by :func:`shuffle_batch`."""
        return jsd_mutual_information(self(features, z), self(features, shuffle_batch(z)))


class LocalDiscriminator(nn.Module):
    """``T(C_ij, z)`` at every position of a feature map: 1x1 convolutions on the map concatenated with ``z``.

    Parameters
    ----------
    n_channels : int
        Channels of the feature map.
    n_components : int
        Width of the code, tiled over the positions.
    hidden_channels : int, default=512
        Channels of the two hidden 1x1 convolutions.
    """

    def __init__(self, n_channels, n_components, hidden_channels=512):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(n_channels + n_components, hidden_channels, 1),
            nn.ReLU(),
            nn.Conv2d(hidden_channels, hidden_channels, 1),
            nn.ReLU(),
            nn.Conv2d(hidden_channels, 1, 1),
        )

    def forward(self, feature_map, z):
        tiled = z[:, :, None, None].expand(-1, -1, *feature_map.shape[2:])
        return self.net(torch.cat([feature_map, tiled], dim=1)).flatten(1)

    def mutual_information(self, feature_map, z):
        """JSD estimate averaged over positions, negatives by :func:`shuffle_batch` of the codes."""
        return jsd_mutual_information(self(feature_map, z), self(feature_map, shuffle_batch(z)))


def gaussian_prior_kl(z, eps=1e-4):
    """``KL(N(mean, cov) || N(0, I))`` of the Gaussian that matches the batch's first two moments.

    .. math:: \\tfrac12 (\\mathrm{tr}\\,\\Sigma + \\|\\mu\\|^2 - d - \\log\\det\\Sigma)

    A deterministic, non-adversarial way to match the distribution of the
    codes to the standard normal prior; ``eps`` is added to the diagonal of the
    covariance so that a small batch keeps it positive definite.
    """
    mean = z.mean(0)
    centred = z - mean
    d = z.shape[1]
    cov = centred.T @ centred / max(z.shape[0] - 1, 1) + eps * torch.eye(d, dtype=z.dtype, device=z.device)
    chol, _ = torch.linalg.cholesky_ex(cov)
    logdet = 2 * chol.diagonal().log().sum()
    return 0.5 * (cov.diagonal().sum() + mean.pow(2).sum() - d - logdet)


def cluster_prior_kl(z, q, means):
    """KL of ``q(y|x) q(z|x)`` to the clustered prior ``p(y) p(z|y)``, averaged over the batch.

    The prior is uniform over the ``K`` clusters, ``p(y) = 1/K``, and a unit
    Gaussian around each cluster's mean, ``p(z|y=c) = N(mu_c, I)``; ``q(y|x)``
    is a soft assignment (rows of ``q`` sum to one) and ``z`` the mean of
    ``q(z|x)``:

    .. math:: \\sum_c q_c \\tfrac12 \\|z - \\mu_c\\|^2 + \\sum_c q_c \\log (K q_c) .

    The first term pulls each code towards the means of its clusters, the
    second keeps ``q`` from collapsing onto one cluster; the variance terms
    of the Gaussian KL, which do not involve the clusters, are left out.
    """
    k = q.shape[1]
    pull = 0.5 * (q * squared_distances(z, means)).sum(1)
    categorical = (torch.special.xlogy(q, q) + q * math.log(k)).sum(1)
    return (pull + categorical).mean()
