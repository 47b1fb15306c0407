"""Sample graphs for the graph-based methods (SDCN, CaEGCN, ...).

A method that runs a graph convolutional network over the samples needs an
adjacency matrix. With none given, :func:`knn_graph` builds the k-nearest
neighbour graph of SDCN (Bo et al., 2020, section 3.1) from the features;
:func:`check_adjacency` validates a graph the user passes; :func:`normalize_adjacency`
adds self-loops and applies the GCN normalisation; :class:`SparsePropagation`
holds the normalised matrix on the device and multiplies by it.

Nothing here ever builds a dense ``n x n`` array: the neighbour search runs
through scikit-learn's :class:`~sklearn.neighbors.NearestNeighbors` (blocked,
parallel over ``n_jobs``), or, for data already on a GPU, through
:func:`device_kneighbors` (blocks of query rows against all samples), and every
matrix is ``scipy.sparse`` or a torch sparse tensor.
"""

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.neighbors import NearestNeighbors

from .losses import squared_distances

__all__ = [
    "KERNELS",
    "NORMALIZATIONS",
    "neighbor_index",
    "device_kneighbors",
    "knn_graph",
    "check_adjacency",
    "normalize_adjacency",
    "edge_list",
    "degrees",
    "link_new_samples",
    "extended_graph",
    "SparsePropagation",
]

#: Similarities of SDCN's kNN graph: "heat" (dense features) and "cosine" (sparse/text features).
KERNELS = ("heat", "cosine")
#: ``"symmetric"``: D^-1/2 (A+I) D^-1/2 (the SDCN paper's eq. 6); ``"row"``: D^-1 (A+I) (the released code).
NORMALIZATIONS = ("symmetric", "row")


def _binarize(X):
    if sp.issparse(X):
        X = sp.csr_matrix(X, copy=True)
        X.data = (X.data > 0).astype(np.float32)
        X.eliminate_zeros()
        return X
    return (np.asarray(X) > 0).astype(np.float32)


def neighbor_index(X, n_neighbors, kernel="heat", n_jobs=-1):
    """A fitted :class:`~sklearn.neighbors.NearestNeighbors` for the kernel's similarity.

    ``"heat"``: :math:`s_{ij} = e^{-\\|x_i - x_j\\|^2 / t}` is decreasing in the
    Euclidean distance, so its top-k are the Euclidean nearest neighbours and
    ``t`` does not matter. ``"cosine"``: features are binarised (word present or
    not) and compared by cosine similarity, which works on scipy sparse input.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}.")
    if kernel == "cosine":
        X = _binarize(X)
        return NearestNeighbors(n_neighbors=n_neighbors, metric="cosine", algorithm="brute", n_jobs=n_jobs).fit(X)
    return NearestNeighbors(n_neighbors=n_neighbors, algorithm="brute", n_jobs=n_jobs).fit(X)


def _drop_self(neighbors, n_neighbors, distances=None):
    """Drop each row's own index (usually, but with duplicates not always, first); keep ``n_neighbors`` others.

    With ``distances``, returns ``(distances, neighbors)`` with the same entries dropped.
    """
    rows = np.arange(len(neighbors))[:, None]
    keep = neighbors != rows
    too_many = keep.sum(1) > n_neighbors
    keep[too_many, -1] = False  # self was absent: drop the farthest instead
    kept = neighbors[keep].reshape(len(neighbors), -1)
    return kept if distances is None else (distances[keep].reshape(len(neighbors), -1), kept)


def _query(index, X, n_neighbors, kernel, exclude_self):
    if kernel == "cosine":
        X = _binarize(X)
    k = n_neighbors + 1 if exclude_self else n_neighbors
    k = min(k, index.n_samples_fit_)
    _, neighbors = index.kneighbors(X, n_neighbors=k)
    return _drop_self(neighbors, n_neighbors) if exclude_self else neighbors


@torch.no_grad()
def device_kneighbors(X, X_fit, n_neighbors, kernel="heat", exclude_self=False, block_size=1024,
                      return_distance=False):
    """Indices of the ``n_neighbors`` nearest rows of ``X_fit`` for each row of ``X``, found on their device.

    The brute-force search of :func:`neighbor_index` for dense torch tensors
    that already live on a GPU. On MNIST (70,000 x 784) the search is about
    4 x 10^12 multiply-adds, which scikit-learn spreads over the host's cores
    (SDCN's graph took 39–42 s on 16 cores and 109 s on 2) and a GPU does in
    a few float64 matrix products. Distances are computed in float64, as
    scikit-learn does for float32 data, ``block_size`` query rows at a time,
    so memory is ``block_size x n_fit``, never ``n x n``.
    ``"heat"`` ranks by Euclidean distance, ``"cosine"`` by the cosine
    similarity of the binarised features (see :func:`neighbor_index`). Rows are
    sorted nearest first; among exact ties the order may differ from
    scikit-learn's.

    Parameters
    ----------
    X : tensor of shape (n_queries, n_features)
    X_fit : tensor of shape (n_samples, n_features), on the same device
    n_neighbors : int
    kernel : {"heat", "cosine"}
    exclude_self : bool
        ``X`` is ``X_fit``: leave each row's own index out (as :func:`knn_graph` does).
    block_size : int
        Query rows per block.
    return_distance : bool
        Also return the distances, as scikit-learn's ``kneighbors`` does:
        Euclidean (``"heat"``) or cosine distances (``"cosine"``).

    Returns
    -------
    distances : ndarray of float64 of shape (n_queries, n_neighbors)
        Only with ``return_distance``.
    neighbors : ndarray of int64 of shape (n_queries, n_neighbors)
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}.")
    k = min(n_neighbors + 1 if exclude_self else n_neighbors, len(X_fit))

    def prepare(T):
        return torch.nn.functional.normalize((T > 0).double(), dim=1) if kernel == "cosine" else T.double()

    fit = prepare(X_fit)
    blocks, scores = [], []
    for start in range(0, len(X), block_size):
        q = prepare(X[start : start + block_size])
        score = -(q @ fit.T) if kernel == "cosine" else squared_distances(q, fit)  # cosine: distance minus one
        nearest = torch.topk(score, k, dim=1, largest=False, sorted=True)
        blocks.append(nearest.indices)
        if return_distance:
            # from the differences, not the expanded square: a point is at distance exactly 0 from itself
            scores.append((1 + nearest.values).clamp_min(0) if kernel == "cosine"
                          else (q[:, None] - fit[nearest.indices]).norm(dim=-1))
    neighbors = torch.cat(blocks).cpu().numpy()
    if not return_distance:
        return _drop_self(neighbors, n_neighbors) if exclude_self else neighbors
    distances = torch.cat(scores).cpu().numpy()
    return _drop_self(neighbors, n_neighbors, distances) if exclude_self else (distances, neighbors)


def knn_graph(X, n_neighbors=3, kernel="heat", n_jobs=-1, index=None):
    """Binary, symmetric k-nearest-neighbour graph of the rows of ``X`` (no self-loops).

    Each sample is joined to its ``n_neighbors`` most similar other samples
    under ``kernel`` (see :func:`neighbor_index`); the directed edges are then
    symmetrised as ``max(A, A^T)``, as in SDCN's code. Edge weights are 1: the
    similarity only picks the neighbours.

    Parameters
    ----------
    X : ndarray, scipy sparse matrix or torch tensor of shape (n_samples, n_features)
        A tensor on a CUDA device is searched there (:func:`device_kneighbors`).
    n_neighbors : int
        ``k``; capped at ``n_samples - 1``.
    kernel : {"heat", "cosine"}
    n_jobs : int
        Parallel jobs of the neighbour search (-1: all cores). On 70,000 x 784
        (MNIST) the brute-force search takes tens of seconds on 16 cores.
    index : NearestNeighbors or None
        An index already fitted on ``X`` (by :func:`neighbor_index`).

    Returns
    -------
    A : scipy.sparse.csr_matrix of shape (n_samples, n_samples), float32
    """
    n = X.shape[0]
    on_gpu = isinstance(X, torch.Tensor) and X.is_cuda
    if isinstance(X, torch.Tensor) and not on_gpu:
        X = X.cpu().numpy()
    if index is None and not on_gpu:
        index = neighbor_index(X, n_neighbors + 1, kernel, n_jobs)
    k = min(n_neighbors, n - 1)
    if k < 1:
        return sp.csr_matrix((n, n), dtype=np.float32)
    if on_gpu:
        neighbors = device_kneighbors(X, X, k, kernel, exclude_self=True)
    else:
        neighbors = _query(index, X, k, kernel, exclude_self=True)
    rows = np.repeat(np.arange(n), neighbors.shape[1])
    A = sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, neighbors.ravel())), shape=(n, n))
    return A.maximum(A.T).tocsr()


def check_adjacency(adjacency, n_samples):
    """Validate a user graph and return it as a float32 CSR matrix with sorted indices.

    Raises a one-sentence ``ValueError``/``TypeError`` naming the problem.
    """
    if adjacency is None:
        raise ValueError("adjacency is None.")
    if not sp.issparse(adjacency):
        if isinstance(adjacency, torch.Tensor) or not hasattr(adjacency, "shape") and not isinstance(adjacency, list):
            raise TypeError(f"adjacency must be a scipy sparse matrix (or a 2-D array), got {type(adjacency).__name__}.")
        try:
            adjacency = np.asarray(adjacency, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError("adjacency must be a scipy sparse matrix of numbers.") from exc
        if adjacency.ndim != 2:
            raise ValueError(f"adjacency must be 2-D (n_samples x n_samples), got {adjacency.ndim} dimension(s).")
    shape = adjacency.shape
    if shape[0] != shape[1]:
        hint = (
            " (cross-validation splits the rows of sample-aligned fit parameters; train on all rows, "
            "for example cv=[(idx, idx)])"
            if shape[1] == n_samples or shape[0] == n_samples
            else ""
        )
        raise ValueError(f"adjacency must be square, got shape {shape}{hint}.")
    if shape[0] != n_samples:
        raise ValueError(f"adjacency has shape {shape}, but X has {n_samples} samples.")
    A = sp.csr_matrix(adjacency, dtype=np.float64)
    if A.dtype.kind not in "biuf":
        raise TypeError(f"adjacency must hold real numbers, got dtype {A.dtype}.")
    if not np.isfinite(A.data).all():
        raise ValueError("adjacency has NaN or infinite entries.")
    if (A.data < 0).any():
        raise ValueError("adjacency has negative weights; edge weights must be non-negative.")
    A = A.astype(np.float32)
    A.eliminate_zeros()
    A.sum_duplicates()
    A.sort_indices()
    return A


def normalize_adjacency(A, normalization="symmetric", self_loops=True):
    """GCN normalisation of a non-negative sparse adjacency.

    ``"symmetric"``: :math:`\\hat A = \\tilde D^{-1/2} (A + I) \\tilde D^{-1/2}`
    (Kipf and Welling, 2017; SDCN eq. 6); ``"row"``: :math:`\\hat A = \\tilde D^{-1} (A + I)`
    (the released SDCN/CaEGCN code), with :math:`\\tilde D_{ii} = \\sum_j (A + I)_{ij}`.
    Existing diagonal entries are replaced by the unit self-loop.

    Returns a float32 CSR matrix.
    """
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}.")
    A = sp.csr_matrix(A, dtype=np.float64)
    if self_loops:
        A = A - sp.diags(A.diagonal()) + sp.identity(A.shape[0], format="csr")
    degree = np.asarray(A.sum(1)).ravel()
    with np.errstate(divide="ignore"):
        if normalization == "symmetric":
            scale = np.where(degree > 0, degree**-0.5, 0.0)
            out = sp.diags(scale) @ A @ sp.diags(scale)
        else:
            out = sp.diags(np.where(degree > 0, 1.0 / degree, 0.0)) @ A
    out = sp.csr_matrix(out, dtype=np.float32)
    out.sort_indices()
    return out


def edge_list(A, device=None):
    """``(2, n_edges)`` long tensor of the off-diagonal nonzeros of ``A`` (both directions)."""
    coo = sp.coo_matrix(A)
    off = coo.row != coo.col
    index = np.vstack([coo.row[off], coo.col[off]]).astype(np.int64)
    return torch.as_tensor(index, device=device)


def _to_torch(A, device):
    A = sp.csr_matrix(A, dtype=np.float32)
    A.sort_indices()
    with warnings.catch_warnings():
        # "CSR support is in beta" and "invariant checks disabled": the matrix is built right here.
        warnings.filterwarnings("ignore", message=".*[Ss]parse.*", category=UserWarning)
        return torch.sparse_csr_tensor(
            torch.as_tensor(A.indptr, dtype=torch.int64),
            torch.as_tensor(A.indices, dtype=torch.int64),
            torch.as_tensor(A.data),
            size=A.shape,
        ).to(device)


class _SpMM(torch.autograd.Function):
    """``A @ H`` with the gradient ``A^T @ G`` taken from a stored transpose.

    torch's own backward of a sparse product transposes (and re-sorts) ``A`` on
    every call; the normalised graph never changes during a fit, so its
    transpose is built once.
    """

    @staticmethod
    def forward(ctx, H, A, A_t):
        ctx.A_t = A_t
        return torch.sparse.mm(A, H)

    @staticmethod
    def backward(ctx, grad):
        return torch.sparse.mm(ctx.A_t, grad), None, None


class SparsePropagation:
    """The normalised graph :math:`\\hat A` on the device; ``prop(H)`` is :math:`\\hat A H`.

    Held as torch sparse CSR tensors (the matrix and its transpose, which
    coincide for the symmetric normalisation), so memory is ``O(n_edges)``.

    Parameters
    ----------
    A : scipy sparse matrix of shape (n_rows, n_cols)
        Already normalised (see :func:`normalize_adjacency`).
    device : torch.device or str
    """

    def __init__(self, A, device=None):
        A = sp.csr_matrix(A, dtype=np.float32)
        self.shape = A.shape
        self.matrix = _to_torch(A, device)
        symmetric = A.shape[0] == A.shape[1] and abs(A - A.T).sum() == 0
        self.transpose = self.matrix if symmetric else _to_torch(A.T, device)

    def __call__(self, H):
        """``(n_cols, d) -> (n_rows, d)``."""
        if H.requires_grad:
            return _SpMM.apply(H, self.matrix, self.transpose)
        return torch.sparse.mm(self.matrix, H)


def degrees(A):
    """Weighted degrees of ``A + I`` (unit self-loops), the :math:`\\tilde D_{ii}` of :func:`normalize_adjacency`."""
    A = sp.csr_matrix(A)
    return np.asarray(A.sum(1)).ravel() - A.diagonal() + 1.0


def link_new_samples(neighbors, train_degree, normalization="symmetric"):
    """Normalised rows that join new samples to their training neighbours.

    New sample ``i`` gets unit edges to its training neighbours ``N(i)`` and a
    self-loop, so its degree is ``|N(i)| + 1``; the training samples keep their
    own degrees ``train_degree`` (the new edges are not added to their rows, so
    the training part of the graph, and everything computed from it, is
    unchanged). With the symmetric normalisation the weight of ``(i, j)`` is
    :math:`1/\\sqrt{\\tilde d_i \\tilde d_j}`; with the row one, :math:`1/\\tilde d_i`.

    Parameters
    ----------
    neighbors : ndarray of shape (n_new, k)
        Training indices of each new sample's neighbours.
    train_degree : ndarray of shape (n_train,)
        :func:`degrees` of the training graph.
    normalization : {"symmetric", "row"}

    Returns
    -------
    scipy.sparse.csr_matrix of shape (n_new, n_train + n_new)
        Columns ``0..n_train-1`` are the training samples, then the new ones.
    """
    n_new, k = neighbors.shape
    n_train = len(train_degree)
    d_new = float(k + 1)
    rows = np.repeat(np.arange(n_new), k)
    cols = neighbors.ravel()
    if normalization == "symmetric":
        weights = 1.0 / np.sqrt(d_new * train_degree[cols])
    else:
        weights = np.full(cols.size, 1.0 / d_new)
    rows = np.concatenate([rows, np.arange(n_new)])
    cols = np.concatenate([cols, n_train + np.arange(n_new)])
    weights = np.concatenate([weights, np.full(n_new, 1.0 / d_new)])
    out = sp.csr_matrix((weights.astype(np.float32), (rows, cols)), shape=(n_new, n_train + n_new))
    out.sum_duplicates()
    out.sort_indices()
    return out


def extended_graph(A_hat, new_rows):
    """The training graph ``A_hat`` with the rows of :func:`link_new_samples` appended (square)."""
    n_train, n_new = A_hat.shape[0], new_rows.shape[0]
    top = sp.hstack([A_hat, sp.csr_matrix((n_train, n_new), dtype=np.float32)])
    return sp.vstack([top, new_rows]).tocsr()
