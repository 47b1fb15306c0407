"""The estimator contract shared by every method.

:class:`BaseDeepCluster` does everything that is not particular to a paper:
parameter and input validation, device selection, seeding, the ``fit``
template, ``transform``/``predict``/``fit_predict``, feature names, tags and
pickling. A method implements

- ``_fit(X, log)``: train on the device tensor ``X`` and set the fitted
  attributes (``labels_`` at least); ``log`` is a :class:`~skdeepcluster.training.TrainingLog`;
- ``_embed(X)``: the learned representation of a device tensor;
- ``_assign(X)``: cluster labels of a device tensor (inductive methods only).

:class:`AutoencoderClusterMixin` adds the autoencoder parameters and the
shared pretraining step used by most methods.
"""

import copy
import math
import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils._available_if import available_if
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from .nn import build_autoencoder
from .training import TrainingLog, batched_apply, pretrain_autoencoder

__all__ = ["BaseDeepCluster", "AutoencoderClusterMixin", "resolve_device"]


def resolve_device(device):
    """Turn ``"auto"``, a device string or a ``torch.device`` into an available ``torch.device``.

    ``"auto"`` picks CUDA when present, else Apple's MPS, else the CPU.
    """
    if isinstance(device, str) and device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a device: use 'auto', 'cpu', 'cuda', 'cuda:1', 'mps' or a torch.device."
        ) from exc
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} asks for CUDA, but torch finds no CUDA device here.")
        index = resolved.index if resolved.index is not None else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r} names a GPU that does not exist ({torch.cuda.device_count()} found).")
        return torch.device("cuda", index)
    if resolved.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device={device!r} asks for MPS, which is not available here.")
    return resolved


@contextmanager
def seeded(seed, device):
    """Seed torch for the duration of a fit and restore the caller's random state after.

    Weight initialisation, shuffling and sampling all draw from torch's default
    generators, which are forked here, so ``fit`` never changes the caller's
    global torch state; numpy draws go through a local ``RandomState``.
    """
    devices = [device.index] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _seed_of(random_state):
    """An integer seed for torch; ``None`` takes fresh entropy and leaves numpy's global state alone."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _module_device(obj):
    for value in vars(obj).values():
        if isinstance(value, torch.nn.Module):
            for p in value.parameters():
                return p.device
    return None


class BaseDeepCluster(ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """Base class of the deep clustering estimators (not for direct use).

    Fitted attributes every estimator sets: ``labels_``, ``n_features_in_``
    (and ``feature_names_in_`` for named columns), ``n_iter_``, ``history_``
    and ``device_``.
    """

    _parameter_constraints = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    #: batch size of ``transform``/``predict``; memory only, results do not depend on it.
    _inference_batch_size = 8192

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Networks compute in float32; transform returns float32 whatever came in.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    # -- validation ---------------------------------------------------------------
    def _validate_input(self, X, reset):
        X = validate_data(self, X, reset=reset, dtype=[np.float32, np.float64], ensure_min_samples=1 if not reset else 2)
        with np.errstate(over="ignore"):
            X32 = np.asarray(X, dtype=np.float32)
        if not X32.flags.writeable:  # read-only memory maps: torch wants writable memory
            X32 = X32.copy()
        if not np.isfinite(X32).all():
            raise ValueError("X has values too large for float32 (|x| > 3.4e38); rescale it first.")
        return X32

    def _check_n_clusters(self, n_samples):
        if self.n_clusters > n_samples:
            raise ValueError(f"n_clusters={self.n_clusters} is larger than the number of samples ({n_samples}).")

    def _to_device(self, X, device=None):
        return torch.as_tensor(X, device=device if device is not None else self.device_)

    # -- the fit template -----------------------------------------------------------
    def fit(self, X, y=None, **fit_params):
        """Fit the model to ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency.
        **fit_params : dict
            Method-specific data (for example ``adjacency`` for graph methods).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        self._validate_params()
        X = self._validate_input(X, reset=True)
        self._check_n_clusters(X.shape[0])
        device = resolve_device(self.device)
        seed = _seed_of(self.random_state)
        before = set(vars(self))
        try:
            with seeded(seed, device):
                self.device_ = device
                self._seed = seed
                log = TrainingLog(self.verbose)
                self._fit(self._to_device(X), log, **fit_params)
                self.history_ = log.history
        except BaseException:
            # Never half-fitted: drop whatever this fit set.
            for name in set(vars(self)) - before:
                delattr(self, name)
            raise
        del self._seed
        self._warn_if_fewer_clusters()
        return self

    def fit_predict(self, X, y=None, **fit_params):
        """Fit the model and return the cluster label of each training sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency.
        **fit_params : dict
            Method-specific data, as for :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Cluster labels.
        """
        return self.fit(X, y, **fit_params).labels_

    def _warn_if_fewer_clusters(self):
        found = np.unique(self.labels_).size
        if found < self.n_clusters:
            warnings.warn(
                f"{type(self).__name__} found {found} non-empty clusters of the {self.n_clusters} asked for.",
                RuntimeWarning,
                stacklevel=3,
            )

    # -- inference ------------------------------------------------------------------
    def _inference_input(self, X):
        check_is_fitted(self)
        return self._to_device(self._validate_input(X, reset=False))

    def _batched(self, fn, X):
        return batched_apply(fn, X, self._inference_batch_size)

    def transform(self, X):
        """Map ``X`` to the learned embedding.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to embed.

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components), float32
            The embedding.
        """
        X = self._inference_input(X)
        return self._batched(self._embed, X).cpu().numpy()

    def predict(self, X):
        """Cluster label of each sample of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            New data.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Cluster labels.
        """
        X = self._inference_input(X)
        return self._batched(self._assign, X).cpu().numpy()

    @available_if(lambda self: hasattr(self, "_proba"))
    def predict_proba(self, X):
        """Soft cluster assignments of new samples (the class docstring says which distribution).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            New data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_clusters)
            Rows sum to one.
        """
        X = self._inference_input(X)
        return self._batched(self._proba, X).cpu().numpy()

    @property
    def _n_features_out(self):
        return self.n_components

    # -- persistence: fitted on a GPU, loadable on a CPU-only machine --------------
    def __getstate__(self):
        state = super().__getstate__()
        for key, value in state.items():
            if isinstance(value, (torch.nn.Module, torch.Tensor)) and _is_off_cpu(value):
                state[key] = copy.deepcopy(value).cpu() if isinstance(value, torch.nn.Module) else value.cpu()
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        device = getattr(self, "device_", None)
        if device is None or device.type == "cpu":
            return
        try:
            device = resolve_device(device)
        except ValueError:
            device = torch.device("cpu")
        self.device_ = device
        for key, value in vars(self).items():
            if isinstance(value, (torch.nn.Module, torch.Tensor)):
                setattr(self, key, value.to(device))


def _is_off_cpu(value):
    if isinstance(value, torch.Tensor):
        return value.device.type != "cpu"
    return any(p.device.type != "cpu" for p in value.parameters()) or any(
        b.device.type != "cpu" for b in value.buffers()
    )


class AutoencoderClusterMixin:
    """Autoencoder parameters and the shared pretraining step.

    A method that starts from a pretrained autoencoder lists these parameters
    in its ``__init__`` and calls :meth:`_pretrained_autoencoder` in ``_fit``.
    """

    _autoencoder_constraints = {
        "hidden_dims": [tuple, list],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "image_shape": [tuple, list, None],
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left")],
        "pretrain_lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "autoencoder": [torch.nn.Module, BaseEstimator, None],
        "pretrain_callbacks": [list, None],
    }

    def _check_image_shape(self, n_features):
        if self.image_shape is None:
            return None
        shape = tuple(self.image_shape)
        if len(shape) != 3 or not all(isinstance(s, Integral) and s > 0 for s in shape):
            raise ValueError(f"image_shape must be (channels, height, width) of positive ints, got {self.image_shape!r}.")
        if math.prod(shape) != n_features:
            raise ValueError(
                f"image_shape={shape} has {math.prod(shape)} values per row, but X has {n_features} features."
            )
        return shape

    def _pretrained_autoencoder(self, X, log, n_components=None, criterion=None, wrap=None):
        """The autoencoder to start from: reused when given, else built and pretrained on ``X``.

        ``n_components`` overrides ``self.n_components`` for a method whose
        embedding width follows another parameter (N2D: ``n_clusters``).

        ``autoencoder`` may be a torch module with ``encode``/``decode`` (for
        example ``other.autoencoder_``) or a fitted skdeepcluster estimator; it
        is copied, never modified, and not pretrained again.

        ``criterion`` (a loss class, MSE when None) is the pretraining loss;
        ``wrap``, when given, maps the built or copied module to the module
        that is pretrained and returned (for example one whose code is
        normalised onto the unit sphere).
        """
        image_shape = self._check_image_shape(X.shape[1])
        given = self.autoencoder
        if isinstance(given, BaseEstimator):
            if not hasattr(given, "autoencoder_"):
                raise ValueError(
                    "autoencoder is an estimator without a fitted autoencoder_; fit it first, "
                    "or pass its autoencoder_ module (which also survives sklearn.clone)."
                )
            given = given.autoencoder_
        if given is not None:
            if not (hasattr(given, "encode") and hasattr(given, "decode")):
                raise ValueError("autoencoder must have encode and decode methods.")
            n_in = getattr(given, "n_features", X.shape[1])
            if n_in != X.shape[1]:
                raise ValueError(f"autoencoder expects {n_in} features, but X has {X.shape[1]}.")
            module = copy.deepcopy(given).to(X.device)
            self.pretrain_history_ = None
            return wrap(module) if wrap is not None else module
        width = self.n_components if n_components is None else n_components
        module = build_autoencoder(X.shape[1], tuple(self.hidden_dims), width, image_shape).to(X.device)
        if wrap is not None:
            module = wrap(module)
        extra = {"criterion": criterion} if criterion is not None else {}
        net = pretrain_autoencoder(
            module,
            X,
            epochs=self.pretrain_epochs,
            batch_size=self.batch_size,
            lr=self.pretrain_lr,
            log=log,
            callbacks=self.pretrain_callbacks,
            **extra,
        )
        self.pretrain_history_ = net.history
        return net.module_

    def _n_embedding(self):
        return getattr(self.autoencoder_, "n_components", self.n_components)

    @property
    def _n_features_out(self):
        return self._n_embedding()
