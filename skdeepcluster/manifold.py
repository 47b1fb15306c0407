"""UMAP's layout optimisation in torch, on the device where the data are.

umap-learn builds the fuzzy graph and the spectral start; a seeded umap-learn
then optimises the layout on one CPU thread (its rule for reproducibility),
which on 70,000 points takes most of N2D's fit. :func:`optimize_umap_layout`
runs the same optimisation (McInnes, Healy and Melville, 2018, Sec. 3.2 and
umap-learn's ``optimize_layout_euclidean``) with every epoch's sampled edges
and negative samples processed at once on the GPU.

The one difference: umap-learn moves points edge by edge (each update sees
the previous ones, Hogwild across threads), while here all updates of an
epoch are computed from the positions at its start and then summed (as in
cuML's UMAP and uwot's batch mode). The schedule, forces, clipping, learning
rate decay and negative sampling are umap-learn's.
"""

import numpy as np
import scipy.sparse
import torch

__all__ = ["umap_default_epochs", "umap_edges", "optimize_umap_layout", "optimize_fitted_umap"]

#: per-coordinate bound of every gradient step (umap-learn's ``clip``)
_CLIP = 4.0


def umap_default_epochs(n_samples):
    """umap-learn's default number of layout epochs: 500 up to 10,000 samples, else 200."""
    return 500 if n_samples <= 10000 else 200


def umap_edges(graph, n_epochs):
    """The 1-simplices UMAP samples, and how often: ``(head, tail, epochs_per_sample)``.

    As umap-learn's ``simplicial_set_embedding``: edges weighing less than
    ``max / n_epochs`` (they would be sampled less than once) are dropped, and
    an edge of weight ``w`` is sampled every ``max / w`` epochs.

    Parameters
    ----------
    graph : sparse matrix of shape (n_samples, n_samples)
        UMAP's fuzzy simplicial set (``UMAP.graph_``).
    n_epochs : int
        Epochs of the layout optimisation.

    Returns
    -------
    head, tail : ndarray of int64 of shape (n_edges,)
    epochs_per_sample : ndarray of float64 of shape (n_edges,)
    """
    graph = scipy.sparse.coo_matrix(graph, copy=True)
    graph.sum_duplicates()
    if graph.nnz == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    top = graph.data.max()
    graph.data[graph.data < top / float(max(n_epochs, 1))] = 0.0
    graph.eliminate_zeros()
    return graph.row.astype(np.int64), graph.col.astype(np.int64), top / graph.data.astype(np.float64)


def _attraction(diff, d2, a, b):
    # -2ab d^(2(b-1)) / (1 + a d^(2b)) (y_i - y_j), zero for coincident points
    safe = d2.clamp_min(torch.finfo(d2.dtype).tiny)
    coeff = -2.0 * a * b * safe.pow(b - 1.0) / (a * safe.pow(b) + 1.0)
    return (torch.where(d2 > 0, coeff, 0.0) * diff).clamp(-_CLIP, _CLIP)


def _repulsion(diff, d2, a, b, gamma):
    # 2 gamma b / ((0.001 + d^2)(1 + a d^(2b))) (y_i - y_j), zero for coincident points
    coeff = 2.0 * gamma * b / ((0.001 + d2) * (a * d2.pow(b) + 1.0))
    return (torch.where(d2 > 0, coeff, 0.0) * diff).clamp(-_CLIP, _CLIP)


@torch.no_grad()
def optimize_umap_layout(
    embedding,
    head,
    tail,
    epochs_per_sample,
    n_epochs,
    a,
    b,
    *,
    repulsion_strength=1.0,
    initial_alpha=1.0,
    negative_sample_rate=5,
    generator=None,
):
    """Optimise a UMAP layout by stochastic gradient descent on its fuzzy cross-entropy.

    In epoch ``e`` (learning rate ``alpha`` falling linearly from
    ``initial_alpha``), every edge ``(i, j)`` due for a sample pulls ``y_i``
    and ``y_j`` together with

    .. math:: \\frac{-2ab\\,\\|y_i - y_j\\|^{2(b-1)}}{1 + a\\|y_i - y_j\\|^{2b}}\\,(y_i - y_j),

    and pushes ``y_i`` away from ``negative_sample_rate`` uniformly drawn
    points ``y_k`` per sample with

    .. math:: \\frac{2\\gamma b}{(0.001 + \\|y_i - y_k\\|^2)(1 + a\\|y_i - y_k\\|^{2b})}\\,(y_i - y_k),

    each coordinate clipped to [-4, 4]. The updates of an epoch are computed
    from the positions at its start and summed (see the module's docstring).

    Parameters
    ----------
    embedding : Tensor of shape (n_samples, n_components)
        Starting layout (UMAP's scaled spectral start); not modified.
    head, tail : array-like of int of shape (n_edges,)
    epochs_per_sample : array-like of float of shape (n_edges,)
        From :func:`umap_edges`.
    n_epochs : int
    a, b : float
        Parameters of the low-dimensional similarity ``1 / (1 + a d^(2b))``
        (``UMAP._a``, ``UMAP._b``).
    repulsion_strength : float, default=1.0
        :math:`\\gamma`.
    initial_alpha : float, default=1.0
    negative_sample_rate : int, default=5
    generator : torch.Generator or None
        Source of the negative samples, on ``embedding``'s device.

    Returns
    -------
    Tensor of shape (n_samples, n_components)
    """
    device = embedding.device
    Y = embedding.detach().clone()
    n = Y.shape[0]
    head = torch.as_tensor(head, dtype=torch.long, device=device)
    tail = torch.as_tensor(tail, dtype=torch.long, device=device)
    every = torch.as_tensor(epochs_per_sample, dtype=torch.float64, device=device)
    every_negative = every / negative_sample_rate
    next_sample = every.clone()
    next_negative = every_negative.clone()
    alpha = initial_alpha
    for epoch in range(n_epochs):
        due = torch.nonzero(next_sample <= epoch).squeeze(1)
        i, j = head[due], tail[due]
        diff = Y[i] - Y[j]
        step = alpha * _attraction(diff, diff.pow(2).sum(1, keepdim=True), a, b)
        delta = torch.zeros_like(Y).index_add_(0, i, step).index_add_(0, j, -step)
        next_sample[due] += every[due]

        n_negative = ((epoch - next_negative[due]) / every_negative[due]).floor().clamp_min(0)
        next_negative[due] += n_negative * every_negative[due]
        pushed = torch.repeat_interleave(i, n_negative.long())
        others = torch.randint(0, n, pushed.shape, device=device, generator=generator)
        diff = Y[pushed] - Y[others]
        step = alpha * _repulsion(diff, diff.pow(2).sum(1, keepdim=True), a, b, repulsion_strength)
        delta.index_add_(0, pushed, step)

        Y += delta
        alpha = initial_alpha * (1.0 - epoch / n_epochs)
    return Y


def optimize_fitted_umap(learner, device, generator=None):
    """The layout of a umap-learn ``UMAP`` fitted with ``n_epochs=0``, optimised on ``device``.

    Starts from the learner's ``embedding_`` (its scaled spectral start) and
    samples its ``graph_`` for umap-learn's default number of epochs, with the
    learner's ``a``, ``b``, repulsion strength, learning rate and negative
    sample rate (see :func:`optimize_umap_layout`).

    Returns
    -------
    Tensor of shape (n_samples, n_components), on ``device``
    """
    start = torch.as_tensor(learner.embedding_, dtype=torch.float32, device=device)
    n_epochs = umap_default_epochs(len(start))
    head, tail, every = umap_edges(learner.graph_, n_epochs)
    return optimize_umap_layout(
        start,
        head,
        tail,
        every,
        n_epochs,
        learner._a,
        learner._b,
        repulsion_strength=learner.repulsion_strength,
        initial_alpha=learner.learning_rate,
        negative_sample_rate=learner.negative_sample_rate,
        generator=generator,
    )
