"""k-means on the data's own device: k-means++ seeding and Lloyd's iterations, all restarts at once.

The clustering layer of DEC, IDEC, DCN, SDCN, CaEGCN and DSCDAN, and AEKMeans'
clusters, start from k-means on the autoencoder's embedding. On a GPU the
embedding is already there; :func:`kmeans` clusters it in place instead of
copying it to the host for scikit-learn's :class:`~sklearn.cluster.KMeans`,
with the same algorithm:

- greedy k-means++ seeding (Arthur and Vassilvitskii, 2007): each new centre
  is the best, by the potential :math:`\\sum_i \\min_j \\|z_i - \\mu_j\\|^2`,
  of :math:`2 + \\lfloor \\ln k \\rfloor` candidates drawn with probability
  proportional to the squared distance to the nearest centre so far;
- Lloyd's iterations until no label changes or the centres move less than
  ``tol`` times the mean variance of the features (scikit-learn's rule);
- ``n_init`` restarts, run together as one batch, and the one of lowest
  inertia kept.

A cluster that loses all its points is moved, as in scikit-learn, to the
point farthest from its own centre, which leaves its cluster. Computed in
float64, like scikit-learn; never an ``n x n`` tensor: the working arrays are
``n_init x n x n_clusters``, taken in groups of restarts that keep them under
``max_elements``.
"""

import math

import torch

from .losses import squared_distances

__all__ = ["kmeans"]


def _to_centers(Z, centers):
    """``||z_i - mu_j||^2`` for every restart: ``Z`` is ``(n, d)``, ``centers`` ``(r, k, d)``, out ``(r, n, k)``."""
    r, k, d = centers.shape
    return squared_distances(Z, centers.reshape(r * k, d)).view(len(Z), r, k).transpose(0, 1)


def _kmeans_plusplus(Z, n_clusters, n_restarts, generator):
    """Greedy k-means++ centres, ``(n_restarts, n_clusters, d)``."""
    n = Z.shape[0]
    trials = 2 + int(math.log(n_clusters))
    first = torch.randint(n, (n_restarts,), device=Z.device, generator=generator)
    centers = [Z[first]]
    closest = squared_distances(Z[first], Z)  # (r, n)
    for _ in range(1, n_clusters):
        potential = closest.sum(1, keepdim=True)
        draws = torch.rand(n_restarts, trials, device=Z.device, dtype=Z.dtype, generator=generator) * potential
        candidates = torch.searchsorted(closest.cumsum(1), draws).clamp_max(n - 1)  # (r, t)
        to_candidates = squared_distances(Z[candidates.flatten()], Z).view(n_restarts, trials, n)
        improved = torch.minimum(closest[:, None], to_candidates)  # (r, t, n)
        best = improved.sum(2).argmin(1)
        rows = torch.arange(n_restarts, device=Z.device)
        closest = improved[rows, best]
        centers.append(Z[candidates[rows, best]])
    return torch.stack(centers, 1)


def _relocate_empty_clusters(Z, distances, labels, counts, sums):
    """scikit-learn's rule: each empty cluster takes, out of its cluster, the point farthest from its centre.

    ``distances`` ``(r, n, k)`` are those the labels were drawn from; ``counts``
    ``(r, k)`` and ``sums`` ``(r, k, d)`` are updated in place.
    """
    for i in (counts == 0).any(1).nonzero().flatten().tolist():
        empty = (counts[i] == 0).nonzero().flatten().tolist()
        own = distances[i].gather(1, labels[i][:, None]).squeeze(1)
        for cluster, point in zip(empty, own.topk(len(empty)).indices.tolist()):
            old = labels[i, point]
            sums[i, old] -= Z[point]
            counts[i, old] -= 1
            sums[i, cluster] = Z[point]
            counts[i, cluster] = 1


def _lloyd(Z, centers, max_iter, tol):
    """Lloyd's iterations from ``centers`` ``(r, k, d)``; returns ``(centers, labels (r, n), inertia (r,))``."""
    k = centers.shape[1]
    labels = None
    for _ in range(max_iter):
        distances = _to_centers(Z, centers)
        new_labels = distances.argmin(2)
        members = torch.nn.functional.one_hot(new_labels, k).to(Z.dtype)  # (r, n, k)
        counts = members.sum(1)
        sums = members.transpose(1, 2) @ Z
        if bool((counts == 0).any()):
            _relocate_empty_clusters(Z, distances, new_labels, counts, sums)
        moved = torch.where(counts[..., None] > 0, sums / counts.clamp_min(1)[..., None], centers)
        shift = (moved - centers).pow(2).sum((1, 2))
        same_labels = labels is not None and bool((new_labels == labels).all())
        centers, labels = moved, new_labels
        if same_labels or bool((shift <= tol).all()):
            break
    distances = _to_centers(Z, centers)
    inertia, labels = distances.min(2)
    return centers, labels, inertia.sum(1)


@torch.no_grad()
def kmeans(Z, n_clusters, *, n_init=10, init=None, max_iter=300, tol=1e-4, random_state=None,
           max_elements=2**25):
    """k-means of the rows of the tensor ``Z`` on its device.

    Parameters
    ----------
    Z : torch.Tensor of shape (n_samples, n_features)
        The points; computed in float64 whatever their dtype.
    n_clusters : int
        Number of clusters (at most ``n_samples``).
    n_init : int, default=10
        Restarts from k-means++ seeds; the one of lowest inertia is returned.
        Ignored when ``init`` is given.
    init : torch.Tensor of shape (n_clusters, n_features), optional
        Starting centres (one run of Lloyd's iterations from them).
    max_iter : int, default=300
        Lloyd's iterations at most per restart.
    tol : float, default=1e-4
        Stop when the squared centre shift is at most ``tol`` times the mean
        variance of the features (scikit-learn's tolerance).
    random_state : int or None
        Seed of the k-means++ draws (a generator on ``Z``'s device).
    max_elements : int
        Largest ``restarts x n_samples x n_clusters`` working array; more
        restarts run in groups.

    Returns
    -------
    centers : torch.Tensor of shape (n_clusters, n_features), dtype of ``Z``
    labels : torch.LongTensor of shape (n_samples,)
    inertia : float
        Sum of squared distances to the nearest centre.
    """
    if not 1 <= n_clusters <= len(Z):
        raise ValueError(f"n_clusters={n_clusters} must be between 1 and the number of samples ({len(Z)}).")
    dtype = Z.dtype
    Z = Z.double()
    tol = tol * float(Z.var(0, unbiased=False).mean())
    if init is not None:
        centers, labels, inertia = _lloyd(Z, init.to(Z)[None], max_iter, tol)
        return centers[0].to(dtype), labels[0], float(inertia[0])
    generator = torch.Generator(device=Z.device)
    generator.manual_seed(int(torch.randint(2**62, ()).item()) if random_state is None else int(random_state))
    group = max(1, min(n_init, max_elements // max(len(Z) * n_clusters, 1)))
    best = None
    for start in range(0, n_init, group):
        seeds = _kmeans_plusplus(Z, n_clusters, min(group, n_init - start), generator)
        centers, labels, inertia = _lloyd(Z, seeds, max_iter, tol)
        i = int(inertia.argmin())
        if best is None or float(inertia[i]) < best[2]:
            best = (centers[i], labels[i], float(inertia[i]))
    return best[0].to(dtype), best[1], best[2]
