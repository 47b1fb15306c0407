"""Shared test settings: tiny networks and few epochs, passed explicitly."""

import inspect

import numpy as np
import pytest
from sklearn.base import BaseEstimator

import skdeepcluster

#: Small settings for fast tests; each estimator takes the ones it has.
SMALL = {
    "hidden_dims": (32, 32),
    "n_components": 3,
    "pretrain_epochs": 30,
    "batch_size": 32,
    "max_iter": 150,
    "epochs": 20,
    "head_iter": 20,
    "update_interval": 15,
    "lr": 0.01,
    "device": "cpu",
}


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


@pytest.fixture
def blobs():
    from sklearn.datasets import make_blobs

    X, y = make_blobs(n_samples=90, centers=3, n_features=5, random_state=0, cluster_std=0.6)
    return X.astype(np.float32), y
