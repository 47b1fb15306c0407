"""Data loaders: MNIST from its standard IDX files."""

import gzip
import os
from pathlib import Path

import numpy as np

__all__ = ["load_mnist"]

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
