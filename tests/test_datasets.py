import gzip
from pathlib import Path

import numpy as np
import pytest

from skdeepcluster.datasets import load_mnist, make_multimodal, make_subspaces

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def _write_idx(path, array, compress):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


@pytest.mark.parametrize("compress", [True, False])
def test_reads_idx_files(tmp_path, compress):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 5), ("t10k", 3)):
        images = rng.integers(0, 256, (n, 28, 28))
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", images, compress)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10, compress)
    X, y = load_mnist(tmp_path)
    assert X.shape == (8, 784) and X.dtype == np.float32 and 0 <= X.min() and X.max() <= 1
    assert y.tolist() == [0, 1, 2, 3, 4, 0, 1, 2]
    assert load_mnist(tmp_path, subset="test")[0].shape == (3, 784)


def test_missing_folder_says_what_to_put_where(tmp_path):
    with pytest.raises(FileNotFoundError, match="IDX files"):
        load_mnist(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path)
    with pytest.raises(ValueError, match="subset"):
        load_mnist(tmp_path, subset="validation")


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared MNIST folder not present")
def test_real_mnist_test_subset():
    X, y = load_mnist(SHARED, subset="test")
    assert X.shape == (10000, 784) and np.bincount(y).size == 10


def test_generated_subspaces_check_their_dimension():
    with pytest.raises(ValueError, match="subspace_dim=3 is larger than n_features=2"):
        make_subspaces(n_samples=30, n_features=2, subspace_dim=3)
    with pytest.raises(ValueError, match="subspace_dim=3 is larger than the smallest of view_sizes=2"):
        make_multimodal(view_sizes=(2, 5), subspace_dim=3)
    views, _ = make_multimodal(n_samples=30, noise=np.array(0.1), random_state=0)  # a 0-d array is one level
    assert [v.shape for v in views] == [(30, 30), (30, 20)]
