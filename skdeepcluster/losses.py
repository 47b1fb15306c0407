"""Clustering losses shared by the methods.

Student-t soft assignment and target distribution (DEC), the KL divergence
between them, and the reconstruction loss of the autoencoders.
"""

import torch
import torch.nn.functional as F

__all__ = [
    "student_t_assignment",
    "target_distribution",
    "kl_divergence",
    "reconstruction_loss",
    "squared_distances",
]


def squared_distances(z, centers):
    """Squared Euclidean distances ``||z_i - mu_j||^2``, shape ``(n, k)``."""
    return (z.pow(2).sum(1, keepdim=True) - 2 * z @ centers.T + centers.pow(2).sum(1)).clamp_min(0)


def student_t_assignment(z, centers, alpha=1.0):
    """Soft assignment of DEC (Xie et al., 2016, eq. 1).

    .. math:: q_{ij} = \\frac{(1 + \\|z_i - \\mu_j\\|^2 / \\alpha)^{-\\frac{\\alpha + 1}{2}}}
              {\\sum_{j'} (1 + \\|z_i - \\mu_{j'}\\|^2 / \\alpha)^{-\\frac{\\alpha + 1}{2}}}

    Computed in log space so that far points do not underflow to 0/0.
    """
    logits = -(alpha + 1) / 2 * torch.log1p(squared_distances(z, centers) / alpha)
    return torch.softmax(logits, dim=1)


def target_distribution(q):
    """Auxiliary target of DEC (eq. 3): ``p_ij = (q_ij^2 / f_j) / sum_j' (q_ij'^2 / f_j')``.

    ``f_j = sum_i q_ij`` are the soft cluster frequencies; squaring sharpens the
    assignments and dividing by ``f_j`` keeps large clusters from taking over.
    """
    weight = q.pow(2) / q.sum(0)
    return weight / weight.sum(1, keepdim=True)


def kl_divergence(p, q, eps=1e-10):
    """``KL(P || Q) = sum_i sum_j p_ij log(p_ij / q_ij)``, averaged over the rows."""
    return (p * (torch.log(p + eps) - torch.log(q + eps))).sum(1).mean()


def reconstruction_loss(x_hat, x):
    """Mean squared error between a reconstruction and its input."""
    return F.mse_loss(x_hat, x)
