"""Shared test settings: tiny networks and few epochs, passed explicitly."""

import inspect
import os
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator

import skdeepcluster

# The tests fit tiny networks: one thread each is fastest, and with
# ``pytest -n 2`` on two cores more threads would only oversubscribe them.
torch.set_num_threads(1)

# Deterministic algorithms on a GPU need a fixed cuBLAS workspace, which
# cuBLAS reads when CUDA starts: after this import.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

#: Where the small fits run: ``SKDEEPCLUSTER_TEST_DEVICE=cuda`` runs the suite on
#: a GPU, with deterministic algorithms on so that the repeatability checks can hold.
TEST_DEVICE = os.environ.get("SKDEEPCLUSTER_TEST_DEVICE", "cpu")
if TEST_DEVICE != "cpu":
    torch.use_deterministic_algorithms(True)

#: Small settings for fast tests; each estimator takes the ones it has.
SMALL = {
    "hidden_dims": (32, 32),
    "n_components": 3,
    "pretrain_epochs": 30,
    "batch_size": 32,
    "max_iter": 150,
    "epochs": 20,
    "head_iter": 20,
    "spectral_hidden_dims": (32, 32),
    "spectral_batch_size": 64,
    "update_interval": 15,
    "lr": 0.01,
    "device": TEST_DEVICE,
    # N2D's manifold="auto" is UMAP only where umap-learn is installed: pin the
    # learner so that the shared tests mean the same everywhere (UMAP has its own).
    "manifold": "spectral",
}


#: Even smaller settings for tests that only need *a* fitted model (input checks, persistence).
TINY = {**SMALL, "pretrain_epochs": 2, "max_iter": 3, "epochs": 2, "head_iter": 2, "update_interval": 2, "n_init": 1}


def all_estimators():
    """Every estimator class that skdeepcluster exports."""
    return [
        obj
        for name in skdeepcluster.__all__
        if inspect.isclass(obj := getattr(skdeepcluster, name)) and issubclass(obj, BaseEstimator)
    ]


def small(cls, **overrides):
    """An instance of ``cls`` with the SMALL settings it accepts."""
    names = cls().get_params()
    params = {k: v for k, v in {**SMALL, **overrides}.items() if k in names}
    return cls(**params)


def tiny(cls, **overrides):
    """An instance of ``cls`` with the TINY settings it accepts (a fit takes a few ms)."""
    return small(cls, **{**TINY, **overrides})


def tiny_blobs():
    """60 samples x 5 features in 3 blobs, float32."""
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n_samples=60, centers=3, n_features=5, random_state=0, cluster_std=0.6)
    return X.astype(np.float32)


@pytest.fixture(scope="session")
def fitted_tiny():
    """``fitted_tiny(cls)``: one TINY fit of ``cls`` on :func:`tiny_blobs` per test session (do not modify it)."""
    cache = {}

    def get(cls):
        if cls not in cache:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # two epochs may leave a cluster empty
                cache[cls] = tiny(cls, n_clusters=3, random_state=0).fit(tiny_blobs())
        return cache[cls]

    return get


@pytest.fixture
def blobs():
    from sklearn.datasets import make_blobs

    X, y = make_blobs(n_samples=90, centers=3, n_features=5, random_state=0, cluster_std=0.6)
    return X.astype(np.float32), y
