"""Data loaders: MNIST from its standard IDX files."""

import gzip
import os
from pathlib import Path

import numpy as np

__all__ = ["load_mnist", "make_subspaces", "make_multimodal"]

_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _default_home():
    return Path(os.environ.get("SKDEEPCLUSTER_DATA", Path.home() / "skdeepcluster_data")) / "mnist"


def _read_idx(path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[:4], "big")
    if magic >> 8 != 0x08:  # 0x08: unsigned bytes
        raise ValueError(f"{path} is not an IDX file of unsigned bytes.")
    ndim = magic & 0xFF
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find(folder, name):
    for candidate in (folder / (name + ".gz"), folder / name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"MNIST file {name}(.gz) not found in {folder}: put the four standard IDX files "
        "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte, gzipped or not) there, or pass data_home."
    )


def load_mnist(data_home=None, subset="all"):
    """Load MNIST from its IDX files, as flat float32 rows scaled to [0, 1].

    Nothing is downloaded: the files must already be in ``data_home``.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder holding the IDX files. Defaults to ``$SKDEEPCLUSTER_DATA/mnist``
        or ``~/skdeepcluster_data/mnist``.
    subset : {"all", "train", "test"}, default="all"
        ``"train"``: 60,000 images, ``"test"``: 10,000, ``"all"``: both, train first.

    Returns
    -------
    X : ndarray of shape (n_samples, 784), float32
        Pixel intensities divided by 255.
    y : ndarray of shape (n_samples,), int64
        Digit labels.
    """
    if subset not in ("all", "train", "test"):
        raise ValueError(f"subset must be 'all', 'train' or 'test', got {subset!r}.")
    folder = Path(data_home) if data_home is not None else _default_home()
    if not folder.is_dir():
        raise FileNotFoundError(
            f"MNIST folder {folder} does not exist: create it and put the four standard IDX files there, "
            "or pass data_home."
        )
    parts = ["train", "test"] if subset == "all" else [subset]
    images, labels = [], []
    for part in parts:
        image_name, label_name = _FILES[part]
        x = _read_idx(_find(folder, image_name))
        y = _read_idx(_find(folder, label_name))
        if len(x) != len(y):
            raise ValueError(f"MNIST {part} images and labels differ in length ({len(x)} vs {len(y)}).")
        images.append(x.reshape(len(x), -1))
        labels.append(y)
    X = np.concatenate(images).astype(np.float32) / 255.0
    return X, np.concatenate(labels).astype(np.int64)


def _orthonormal(rng, n_features, dim):
    q, _ = np.linalg.qr(rng.standard_normal((n_features, dim)))
    return q[:, :dim]


def _check_subspace_dim(subspace_dim, width, what):
    if subspace_dim > width:
        raise ValueError(
            f"subspace_dim={subspace_dim} is larger than {what}={width}: a subspace cannot have more "
            "dimensions than the space it lies in."
        )


def make_subspaces(n_samples=300, n_subspaces=3, n_features=30, subspace_dim=3, noise=0.0, random_state=None):
    """Points on a union of random linear subspaces through the origin.

    Each cluster is a random ``subspace_dim``-dimensional subspace of
    ``R^n_features`` (a random orthonormal basis); its points are Gaussian
    combinations of the basis, plus isotropic Gaussian noise of standard
    deviation ``noise``. Every cluster is centred on the origin, so k-means
    cannot separate them, while subspace clustering can.

    Parameters
    ----------
    n_samples : int, default=300
        Number of points, split as evenly as possible among the subspaces.
    n_subspaces : int, default=3
        Number of subspaces (clusters).
    n_features : int, default=30
        Ambient dimension.
    subspace_dim : int, default=3
        Dimension of every subspace.
    noise : float, default=0.0
        Standard deviation of the added Gaussian noise.
    random_state : int, RandomState instance or None, default=None
        Seed.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float32
    y : ndarray of shape (n_samples,)
        The subspace of each point.
    """
    from sklearn.utils import check_random_state

    _check_subspace_dim(subspace_dim, n_features, "n_features")
    rng = check_random_state(random_state)
    y = np.arange(n_samples) % n_subspaces
    rng.shuffle(y)
    X = np.empty((n_samples, n_features))
    for k in range(n_subspaces):
        rows = y == k
        X[rows] = rng.standard_normal((rows.sum(), subspace_dim)) @ _orthonormal(rng, n_features, subspace_dim).T
    X += noise * rng.standard_normal(X.shape)
    return X.astype(np.float32), y


def make_multimodal(
    n_samples=300, n_subspaces=3, view_sizes=(30, 20), subspace_dim=3, noise=(0.0, 0.0), random_state=None
):
    """Several modalities of the same points on a union of subspaces.

    Every sample has one latent coefficient vector in ``R^subspace_dim`` and a
    cluster ``k``; modality ``m`` maps it through its own random orthonormal
    basis of cluster ``k`` into ``R^view_sizes[m]`` and adds Gaussian noise of
    standard deviation ``noise[m]``. Each modality alone is a union of
    subspaces; the modalities share the clusters and the latent coordinates.

    Parameters
    ----------
    n_samples : int, default=300
        Number of points.
    n_subspaces : int, default=3
        Number of clusters.
    view_sizes : sequence of int, default=(30, 20)
        Width of each modality.
    subspace_dim : int, default=3
        Dimension of every subspace.
    noise : float or sequence of float, default=(0.0, 0.0)
        Noise level of each modality (one number: the same for all).
    random_state : int, RandomState instance or None, default=None
        Seed.

    Returns
    -------
    views : list of ndarray, one (n_samples, view_sizes[m]) float32 array per modality
    y : ndarray of shape (n_samples,)
    """
    from sklearn.utils import check_random_state

    rng = check_random_state(random_state)
    view_sizes = [int(v) for v in view_sizes]
    _check_subspace_dim(subspace_dim, min(view_sizes), "the smallest of view_sizes")
    noise = [float(noise)] * len(view_sizes) if np.ndim(noise) == 0 else [float(v) for v in noise]
    if len(noise) != len(view_sizes):
        raise ValueError(f"noise has {len(noise)} entries, but view_sizes has {len(view_sizes)}.")
    y = np.arange(n_samples) % n_subspaces
    rng.shuffle(y)
    latent = rng.standard_normal((n_samples, subspace_dim))
    views = []
    for size, sigma in zip(view_sizes, noise):
        V = np.empty((n_samples, size))
        for k in range(n_subspaces):
            rows = y == k
            V[rows] = latent[rows] @ _orthonormal(rng, size, subspace_dim).T
        V += sigma * rng.standard_normal(V.shape)
        views.append(V.astype(np.float32))
    return views, y
