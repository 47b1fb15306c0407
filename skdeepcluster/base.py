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

import contextlib
import copy
import inspect
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
from .training import (
    DIVERGENCE_ADVICE,
    TrainingDivergedError,
    TrainingLog,
    batched_apply,
    dead_output_share,
    float32_steps,
    pretrain_autoencoder,
    pretrain_layerwise,
)

__all__ = ["BaseDeepCluster", "AutoencoderClusterMixin", "DeviceOutOfMemoryError", "resolve_device"]


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


def _check_scale(X):
    """Refuse values whose squared row norms overflow float32, the precision the networks compute in.

    Every method computes squared errors or distances of rows; beyond
    ``sqrt(float32 max / n_features)`` they are infinite and training turns to
    NaN, so the data must be rescaled first.
    """
    if X.size == 0:
        return
    largest = max(float(X.max()), -float(X.min()))  # no |X| copy of a large array
    limit = math.sqrt(float(np.finfo(np.float32).max) / X.shape[1])
    if largest > limit:
        raise ValueError(
            f"X has values too large for float32 arithmetic (|x| up to {largest:.3g}; squared distances of "
            f"{X.shape[1]} features overflow beyond {limit:.3g}); rescale X first, for example with StandardScaler."
        )


# A pretraining whose decoder outputs 0 on every sample for features holding more than this share of
# the data's sum of squares (dead output ReLUs, see training.dead_output_share) starts again from fresh
# weights, at most this many times: what the DSC-Net authors' advice to watch the reconstructions
# catches by eye.
_DEAD_OUTPUT_SHARE = 0.01
_DEAD_OUTPUT_RESTARTS = 3

#: torch's out-of-memory error (``torch.cuda.OutOfMemoryError`` before torch 2.5).
_OUT_OF_MEMORY = getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError)


class DeviceOutOfMemoryError(_OUT_OF_MEMORY, MemoryError):
    """A fit ran out of device memory; the message estimates the need and names the parameter to change.

    A subclass of both ``torch.OutOfMemoryError`` (code that catches torch's
    error still does) and :class:`MemoryError`.
    """


def _format_bytes(n):
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


def _check_finite_state(estimator, names):
    """Raise :class:`TrainingDivergedError` if a fitted network or tensor holds NaN or infinity.

    The per-epoch losses are checked as they are recorded; this catches the
    last optimiser step of a fit turning the weights to NaN after its loss was
    recorded, which would otherwise give arbitrary labels.
    """
    for name in sorted(names):
        value = getattr(estimator, name)
        if isinstance(value, torch.nn.Module):
            tensors = [*value.parameters(), *value.buffers()]
        elif isinstance(value, torch.Tensor):
            tensors = [value]
        else:
            continue
        tensors = [t.detach() for t in tensors if t.is_floating_point()]
        if tensors and not bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all()):
            raise TrainingDivergedError(
                f"{name} holds NaN or infinite values at the end of training; {DIVERGENCE_ADVICE}"
            )


def _is_learning_rate(name):
    """``lr``, ``learning_rate`` and every ``*_lr`` (``pretrain_lr``, ``joint_lr``, ``min_lr``, ...)."""
    return name in ("lr", "learning_rate") or name.endswith("_lr")


def _restart_overrides(estimator, restart):
    """What the ``restart``-th restart after a divergence changes: the learning rates and maybe clipping.

    Every learning rate is divided by ``10**restart``; where ``max_grad_norm``
    is None (no clipping), gradients are clipped at 1.0.
    """
    if restart == 0:
        return {}
    params = estimator.get_params(deep=False)
    overrides = {name: value / 10**restart for name, value in params.items() if _is_learning_rate(name)}
    if "max_grad_norm" in params and params["max_grad_norm"] is None:
        overrides["max_grad_norm"] = 1.0
    return overrides


@contextmanager
def _restart_settings(estimator, restart):
    """Train with :func:`_restart_overrides` set on ``estimator``; its parameters are restored after, whatever happens."""
    overrides = _restart_overrides(estimator, restart)
    saved = {name: getattr(estimator, name) for name in overrides}
    try:
        for name, value in overrides.items():
            setattr(estimator, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(estimator, name, value)


def _restart_message(estimator, error, restart):
    overrides = _restart_overrides(estimator, restart)
    rates = ", ".join(f"{name}={value:g}" for name, value in overrides.items() if _is_learning_rate(name))
    clipping = " and gradient clipping at max_grad_norm=1.0" if "max_grad_norm" in overrides else ""
    return (
        f"{type(estimator).__name__} diverged ({error}); restart {restart} of {estimator.divergence_retries}, "
        f"from scratch with the same seed, with every learning rate divided by {10**restart} ({rates}){clipping}."
    )


def _module_device(obj):
    for value in vars(obj).values():
        if isinstance(value, torch.nn.Module):
            for p in value.parameters():
                return p.device
    return None


class BaseDeepCluster(ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """Base class of the deep clustering estimators (not for direct use).

    Fitted attributes every estimator sets: ``labels_``, ``n_features_in_``
    (and ``feature_names_in_`` for named columns), ``n_iter_``, ``history_``,
    ``device_``, ``learning_rate_scale_`` and ``divergence_restarts_``.
    """

    _parameter_constraints = {
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "divergence_retries": [Interval(Integral, 0, None, closed="left")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    #: batch size of ``transform``/``predict``; memory only, results do not depend on it.
    _inference_batch_size = 8192
    #: Whether training steps on CUDA may run on TF32 tensor cores (:func:`~skdeepcluster.training.step_precision`).
    _tf32_steps = True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Networks compute in float32; transform returns float32 whatever came in.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def _pretrain_until_alive(self, X, log, pretrain_fresh):
        """Pretrain from fresh weights again while the network's output ReLUs are dead.

        ``pretrain_fresh()`` builds the network from fresh weights, pretrains
        it on ``X`` and returns ``(module, history)``, where ``module(x)``
        returns ``(code, reconstruction)``. When the reconstruction is 0 on
        every row for features holding over 1 % of the data's sum of squares
        (:func:`~skdeepcluster.training.dead_output_share`), it is called
        again, at most 3 times; a warning says if the last is still silent.
        ``log`` keeps the phases of the kept pretraining only. Sets
        ``pretrain_restarts_`` and returns what the kept call returned.
        """
        phases = set(log.history) if log is not None else set()
        for restart in range(_DEAD_OUTPUT_RESTARTS + 1):
            if restart and log is not None:
                for phase in set(log.history) - phases:
                    del log.history[phase]
            module, history = pretrain_fresh()
            dead = dead_output_share(module, X)
            if dead <= _DEAD_OUTPUT_SHARE:
                break
        else:
            warnings.warn(
                f"{type(self).__name__}: after {_DEAD_OUTPUT_RESTARTS + 1} pretrainings from fresh weights, the "
                f"autoencoder still outputs 0 for every sample on features holding {dead:.1%} of the data (ReLUs "
                "at its output that never fire: dead, or not yet woken by a pretraining this short); pretrain longer, "
                "try another random_state, or widen the last decoder layer.",
                RuntimeWarning,
                stacklevel=4,
            )
        self.pretrain_restarts_ = restart
        return module, history

    # -- validation ---------------------------------------------------------------
    def _validate_input(self, X, reset):
        X = validate_data(self, X, reset=reset, dtype=[np.float32, np.float64], ensure_min_samples=1 if not reset else 2)
        _check_scale(X)
        X32 = np.asarray(X, dtype=np.float32)
        if not X32.flags.writeable:  # read-only memory maps: torch wants writable memory
            X32 = X32.copy()
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

        Raises
        ------
        ValueError or TypeError
            Invalid parameters or input, named in the message.
        skdeepcluster.training.TrainingDivergedError
            A loss term or the network's weights became NaN or infinite; the
            message names the term, the epoch and the phase. With
            ``divergence_retries`` above 0, only when the last restart
            diverged too.
        skdeepcluster.base.DeviceOutOfMemoryError
            The device ran out of memory; the message estimates what the fit
            needs and names the parameter to change.

        Warns
        -----
        RuntimeWarning
            For each restart after a divergence (``divergence_retries``): the
            error and the learning rates of the next try.

        Notes
        -----
        A fit that stops, for whatever reason (an exception,
        ``KeyboardInterrupt``), leaves the estimator unfitted: the attributes
        of a previous fit are dropped when ``fit`` starts and those of this fit
        when it stops, and the exception propagates.
        """
        self._forget_fit()
        before = set(vars(self))
        try:
            self._validate_params()
            self._check_fit_params(fit_params)
            X = self._validate_input(X, reset=True)
            self._check_n_clusters(X.shape[0])
            device = resolve_device(self.device)
            seed = _seed_of(self.random_state)
            validated = set(vars(self))
            for restart in range(self.divergence_retries + 1):
                try:
                    precision = contextlib.nullcontext() if self._tf32_steps else float32_steps()
                    with _restart_settings(self, restart), seeded(seed, device), precision:
                        self.device_ = device
                        self._seed = seed
                        log = TrainingLog(self.verbose)
                        self._fit(self._to_device(X), log, **fit_params)
                        _check_finite_state(self, set(vars(self)) - before)
                        self.history_ = log.history
                    break
                except TrainingDivergedError as exc:
                    if restart == self.divergence_retries:
                        if restart:
                            raise TrainingDivergedError(
                                f"{type(self).__name__} diverged in each of its {restart + 1} tries "
                                f"({restart} restarts with lower learning rates); the last: {exc}"
                            ) from exc
                        raise
                    self._drop_attributes(set(vars(self)) - validated)  # the next try starts from scratch
                    warnings.warn(_restart_message(self, exc, restart + 1), RuntimeWarning, stacklevel=2)
            self.divergence_restarts_ = restart
        except BaseException as exc:
            # Never half-fitted, whatever stopped the fit (an error, KeyboardInterrupt):
            # drop everything this fit set; the previous fit was forgotten above.
            self._drop_attributes(set(vars(self)) - before)
            if isinstance(exc, _OUT_OF_MEMORY) and not isinstance(exc, DeviceOutOfMemoryError):
                raise DeviceOutOfMemoryError(self._out_of_memory_message(X, device)) from exc
            raise
        del self._seed
        self._fitted_attributes = tuple(sorted(set(vars(self)) - before))
        self._warn_if_fewer_clusters()
        return self

    @property
    def learning_rate_scale_(self):
        """Factor on every learning rate of the fit that succeeded, from ``divergence_restarts_``."""
        return 1 / 10**self.divergence_restarts_

    def _drop_attributes(self, names):
        for name in names:
            delattr(self, name)

    def _forget_fit(self):
        """Drop the attributes of a previous fit, so that none outlives a refit with other settings."""
        for name in vars(self).pop("_fitted_attributes", ()):
            vars(self).pop(name, None)

    def _memory_estimate(self, n_samples, n_features):
        """``(bytes, what, advice)`` for an out-of-memory error: a cheap lower bound of the device memory a fit needs.

        The default counts the training data, which stays on the device for the
        whole fit, and points at the mini-batch size; methods whose memory grows
        otherwise (``n x n`` matrices, full-batch phases) override it.
        """
        advice = "lower batch_size or hidden_dims" if "batch_size" in self.get_params() else "lower hidden_dims"
        return 4 * n_samples * n_features, f"the training data ({n_samples} x {n_features} float32)", advice

    def _out_of_memory_message(self, X, device):
        need, what, advice = self._memory_estimate(*X.shape)
        there = ""
        if device.type == "cuda":
            try:
                free, total = torch.cuda.mem_get_info(device)
                there = f" ({_format_bytes(free)} free of {_format_bytes(total)})"
            except RuntimeError:
                pass
        fallback = "" if device.type == "cpu" else ", or fit with device='cpu'"
        return (
            f"{type(self).__name__} ran out of memory on {device}{there}: {what} alone take about "
            f"{_format_bytes(need)}; {advice}{fallback}."
        )

    def _check_fit_params(self, fit_params):
        accepted = [p for p in inspect.signature(self._fit).parameters if p not in ("X", "log")]
        unknown = sorted(set(fit_params) - set(accepted))
        if unknown:
            takes = f"it takes {', '.join(accepted)}" if accepted else "it takes no fit parameters beyond X and y"
            raise TypeError(f"{type(self).__name__}.fit got unexpected fit parameters {unknown}; {takes}.")

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

    def _infer(self, fn, X):
        """``fn`` over the validated ``X`` on the fitted device, in batches, as a numpy array."""
        return self._batched(fn, self._inference_input(X)).cpu().numpy()

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
        return self._infer(self._embed, X)

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
        return self._infer(self._assign, X)

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
        return self._infer(self._proba, X)

    @property
    def _n_features_out(self):
        return self.n_components

    def get_feature_names_out(self, input_features=None):
        """Names of the embedding's columns: the class name in lower case and the column number.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Ignored beyond checking it against ``feature_names_in_``.

        Returns
        -------
        feature_names_out : ndarray of str
            ``["dec0", "dec1", ...]`` for a fitted ``DEC``.
        """
        check_is_fitted(self)  # the width may come from a parameter, which an unfitted model has too
        return super().get_feature_names_out(input_features)

    # -- persistence: fitted on a GPU, loadable on a CPU-only machine --------------
    def __getstate__(self):
        # A copy: Python's object.__getstate__ returns the live __dict__, which must keep its GPU networks.
        state = dict(super().__getstate__())
        off_cpu = {k: v for k, v in state.items() if isinstance(v, (torch.nn.Module, torch.Tensor)) and _is_off_cpu(v)}
        # Networks are copied together, so that one shared by two attributes stays shared.
        modules = copy.deepcopy({k: v for k, v in off_cpu.items() if isinstance(v, torch.nn.Module)})
        for key, value in off_cpu.items():
            state[key] = modules[key].cpu() if key in modules else value.cpu()
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

    def _pretrained_autoencoder(self, X, log, n_components=None, criterion=None, wrap=None, layerwise_epochs=0):
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

        ``layerwise_epochs > 0`` first pretrains the built autoencoder greedily,
        layer pair by layer pair, as a stacked denoising autoencoder
        (:func:`~skdeepcluster.training.pretrain_layerwise`); the end-to-end
        pretraining then fine-tunes it.

        A built autoencoder whose output ReLUs died in pretraining is built
        and pretrained again from fresh weights (:meth:`_pretrain_until_alive`).
        """
        image_shape = self._check_image_shape(X.shape[1])
        given = self.autoencoder
        if isinstance(given, BaseEstimator):
            if not hasattr(given, "autoencoder_"):
                if hasattr(given, "labels_"):
                    raise ValueError(
                        f"autoencoder is a fitted {type(given).__name__}, which has no autoencoder_ to reuse; "
                        "pass an estimator that has one (AEKMeans, DEC, ...) or an autoencoder module."
                    )
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
            self.pretrain_history_, self.pretrain_restarts_ = None, 0
            return wrap(module) if wrap is not None else module
        width = self.n_components if n_components is None else n_components

        def fresh():
            net = self._pretrain_fresh(X, log, width, image_shape, criterion, wrap, layerwise_epochs)
            return net.module_, net.history

        module, self.pretrain_history_ = self._pretrain_until_alive(X, log, fresh)
        return module

    def _pretrain_fresh(self, X, log, width, image_shape, criterion, wrap, layerwise_epochs):
        """Build the autoencoder from fresh weights and pretrain it: the skorch net that trained it."""
        module = self._build_autoencoder(X.shape[1], width, image_shape).to(X.device)
        if layerwise_epochs:
            pretrain_layerwise(module, X, epochs=layerwise_epochs, batch_size=self.batch_size, lr=self.pretrain_lr,
                               log=log)
        if wrap is not None:
            module = wrap(module)
        extra = {"criterion": criterion} if criterion is not None else {}
        return pretrain_autoencoder(
            module,
            X,
            epochs=self.pretrain_epochs,
            batch_size=self.batch_size,
            lr=self.pretrain_lr,
            log=log,
            callbacks=self._pretrain_callbacks(),
            **extra,
        )

    def _pretrain_callbacks(self):
        """The pretraining's skorch callbacks: the user's ``pretrain_callbacks`` (a method may add its own)."""
        return list(self.pretrain_callbacks or [])

    def _build_autoencoder(self, n_features, n_components, image_shape):
        """The autoencoder to pretrain: the library's default for rows or images."""
        return build_autoencoder(n_features, tuple(self.hidden_dims), n_components, image_shape)

    def _n_embedding(self):
        return getattr(self.autoencoder_, "n_components", self.n_components)

    @property
    def _n_features_out(self):
        return self._n_embedding()
