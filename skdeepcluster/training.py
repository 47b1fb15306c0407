"""The training engine: skorch pretraining, the joint-phase loop helpers, history and progress.

Autoencoder pretraining runs through :class:`AutoencoderNet`, a skorch
``NeuralNet`` trained with ``y=None``, so skorch's callbacks (EarlyStopping,
LRScheduler, Checkpoint, ...) work on it. The joint clustering phases are plain
loops built from :func:`minibatches`, :class:`LossAccumulator` and
:class:`TrainingLog`; both kinds of phase write to the same ``history_`` and
drive the same progress display.

The data tensor lives on the training device for the whole fit: batches are
slices of it, never host-to-device copies.
"""

import contextvars
import math
import os
import re
import sys
import warnings
from contextlib import contextmanager

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from sklearn.cluster import KMeans

from .kmeans import kmeans
from .losses import reconstruction_loss
from .nn import MLPAutoencoder

__all__ = [
    "TrainingDivergedError",
    "DeviceBatchIterator",
    "AutoencoderNet",
    "TrainingLog",
    "LossAccumulator",
    "TrainStep",
    "step_precision",
    "float32_steps",
    "minibatches",
    "batched_apply",
    "pretrain_autoencoder",
    "PlateauStop",
    "DenoisingPair",
    "pretrain_layerwise",
    "kmeans_centers",
]


#: Replay training steps as CUDA graphs on CUDA devices (set SKDEEPCLUSTER_CUDA_GRAPHS=0 to turn off).
CUDA_GRAPHS = os.environ.get("SKDEEPCLUSTER_CUDA_GRAPHS", "1") != "0"

#: Let training steps on CUDA multiply float32 matrices on TF32 tensor cores (set SKDEEPCLUSTER_TF32=0 to turn off).
TF32 = os.environ.get("SKDEEPCLUSTER_TF32", "1") != "0"


_TF32_ALLOWED = contextvars.ContextVar("skdeepcluster_tf32_allowed", default=True)


@contextmanager
def float32_steps():
    """Within this block, training steps keep full float32 products (:func:`step_precision` does nothing).

    For methods whose training is measurably hurt by TF32's 10-bit mantissa
    (an estimator opts out with the class attribute ``_tf32_steps = False``).
    """
    token = _TF32_ALLOWED.set(False)
    try:
        yield
    finally:
        _TF32_ALLOWED.reset(token)


@contextmanager
def step_precision(device):
    """Within a training step on CUDA, float32 matrix products run on TF32 tensor cores.

    TF32 keeps float32's range with a 10-bit mantissa, as cuDNN convolutions in
    PyTorch already do by default (``torch.backends.cudnn.allow_tf32``). The
    networks of deep clustering are small multilayer perceptrons whose float32
    products are most of a step's time on a GPU: on an H100 an epoch of the
    d-500-500-2000-10 autoencoder on MNIST takes 108 ms in TF32 against
    158 ms. Only gradient steps run so: embeddings, assignments and targets
    keep full float32. A precision the user has set
    (``torch.set_float32_matmul_precision("medium")``, say) is left alone, and
    ``SKDEEPCLUSTER_TF32=0`` keeps every step at ``"highest"``, as
    :func:`float32_steps` does for the steps inside it.
    """
    previous = torch.get_float32_matmul_precision()
    if not (TF32 and _TF32_ALLOWED.get() and torch.device(device).type == "cuda" and previous == "highest"):
        yield
        return
    torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


class TrainingDivergedError(FloatingPointError):
    """A loss term (or the network's weights) became NaN or infinite during training."""


DIVERGENCE_ADVICE = "lower the learning rate or check the input scale (standardise X)."


class DeviceBatchIterator:
    """Mini-batches of a tensor that already sits on its device.

    A skorch ``iterator_train``/``iterator_valid`` replacement for
    ``DataLoader``: a batch is an index into the device tensor, so there is no
    per-sample collation and no host-device copy. Yields ``(X_batch, None)``.
    """

    def __init__(self, dataset, batch_size=256, shuffle=False):
        self.X = dataset.X if hasattr(dataset, "X") else dataset
        self.batch_size = batch_size
        self.shuffle = shuffle

    def __len__(self):
        return math.ceil(len(self.X) / self.batch_size)

    def __iter__(self):
        for index in minibatches(len(self.X), self.batch_size, self.X.device, self.shuffle):
            yield self.X[index], None


def minibatches(n_samples, batch_size, device, shuffle=True):
    """Index tensors (or slices) covering ``range(n_samples)`` in batches.

    Shuffling draws one permutation on ``device`` from torch's current
    generator, which the estimators seed for the duration of ``fit``.
    """
    if not shuffle:
        for start in range(0, n_samples, batch_size):
            yield slice(start, start + batch_size)
        return
    order = torch.randperm(n_samples, device=device)
    for start in range(0, n_samples, batch_size):
        yield order[start : start + batch_size]


@torch.no_grad()
def batched_apply(fn, X, batch_size=4096):
    """``fn`` over row blocks of the device tensor ``X``, concatenated (no grad)."""
    if len(X) <= batch_size:
        return fn(X)
    return torch.cat([fn(X[index]) for index in minibatches(len(X), batch_size, X.device, False)])


class LossAccumulator:
    """Sums loss terms on the device and reads them back once per epoch.

    ``add(batch_size, reconstruction=t1, kl=t2)`` keeps sample-weighted sums as
    tensors, so the training loop never waits for the GPU; ``means()`` makes one
    transfer.
    """

    def __init__(self):
        self._sums = {}
        self._count = 0

    def add(self, batch_size, **terms):
        for name, value in terms.items():
            value = value.detach() * batch_size
            self._sums[name] = self._sums[name] + value if name in self._sums else value
        self._count += batch_size

    def means(self):
        if not self._sums:
            return {}
        values = torch.stack(list(self._sums.values())).double().cpu().tolist()
        out = {name: v / max(self._count, 1) for name, v in zip(self._sums, values)}
        self._sums, self._count = {}, 0
        return out


class TrainingLog:
    """Per-epoch history of every loss term, a progress bar, and divergence checks.

    ``history`` is ``{phase: {term: [value per epoch]}}``; estimators expose it
    as ``history_``. ``verbose=1`` shows a progress bar per phase with the
    latest loss terms; ``verbose>=2`` also writes one line per epoch.
    """

    def __init__(self, verbose=0):
        self.verbose = verbose
        self.history = {}
        self._bar = None
        self._epoch = {}

    @contextmanager
    def phase(self, name, total=None):
        """Open a training phase: a fresh progress bar for ``total`` epochs."""
        self.history.setdefault(name, {})
        self._epoch[name] = 0
        if self.verbose:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=name, leave=True, dynamic_ncols=True)
        try:
            yield self
        finally:
            if self._bar is not None:
                self._bar.close()
                self._bar = None

    def record(self, phase, **terms):
        """Append one epoch of ``terms`` to ``phase``; raise if any is not finite."""
        self._epoch[phase] = epoch = self._epoch.get(phase, 0) + 1
        store = self.history.setdefault(phase, {})
        for name, value in terms.items():
            value = float(value)
            if not math.isfinite(value):
                raise TrainingDivergedError(
                    f"The {name} loss became {value} at epoch {epoch} of the {phase} phase; {DIVERGENCE_ADVICE}"
                )
            store.setdefault(name, []).append(value)
        if self._bar is not None:
            self._bar.set_postfix({k: f"{float(v):.4g}" for k, v in terms.items()}, refresh=False)
            self._bar.update(1)
            if self.verbose >= 2:
                text = ", ".join(f"{k}={float(v):.5g}" for k, v in terms.items())
                self._bar.write(f"[{phase}] epoch {epoch}: {text}", file=sys.stderr)

    def check_finite(self, phase, name, tensor):
        """Raise :class:`TrainingDivergedError` if ``tensor`` (say, the features of the next epoch) is not finite.

        A loss is recorded before the epoch's last step has changed the weights,
        so a step that turns them to NaN shows first in what is computed next.
        """
        if not bool(torch.isfinite(tensor).all()):
            epoch = self._epoch.get(phase, 0)
            raise TrainingDivergedError(
                f"The {name} became NaN or infinite after epoch {epoch} of the {phase} phase; {DIVERGENCE_ADVICE}"
            )


_SIDE_STREAMS = {}


def _side_stream(device):
    """The one side stream of ``device`` on which every :class:`TrainStep` runs its warm-up steps.

    Reused rather than created per step: cuBLAS keeps a workspace (32 MiB on
    an H100) for every stream that has run a matrix product, until the
    process ends, so a fresh stream per warm-up step left about 390 MB of GPU
    memory allocated after each fit.
    """
    device = torch.device(device)
    index = device.index if device.index is not None else torch.cuda.current_device()
    if index not in _SIDE_STREAMS:
        _SIDE_STREAMS[index] = torch.cuda.Stream(device=index)
    return _SIDE_STREAMS[index]


class TrainStep:
    """One optimisation step: ``zero_grad``, ``loss_fn(*inputs)``, backward, optional clipping, ``step``.

    ``loss_fn`` returns ``(loss, terms)`` with ``terms`` a dict of detached-able
    tensors; calling the step returns ``terms``. On a CUDA device the step is
    captured once as a CUDA graph and then replayed, so a small network's step
    costs two kernel launches instead of a hundred: inputs are copied into
    static buffers, and a batch of another shape (the last, partial batch) runs
    eagerly. Everything ``loss_fn`` reads besides its inputs must be updated in
    place (``tensor.copy_``) between steps. The optimizer must be capturable
    (Adam with ``capturable=True``; SGD as it is).
    """

    warmup_steps = 3

    def __init__(self, loss_fn, optimizer, max_grad_norm=None, graph=None):
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.max_grad_norm = max_grad_norm
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.graph = graph
        self._calls = 0
        self._graph = None

    def _eager(self, *inputs):
        self.optimizer.zero_grad(set_to_none=True)
        loss, terms = self.loss_fn(*inputs)
        loss.backward()
        if self.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.max_grad_norm)
        self.optimizer.step()
        return terms

    def __call__(self, *inputs):
        with step_precision(inputs[0].device):
            return self._step(*inputs)

    def _step(self, *inputs):
        use_graph = self.graph if self.graph is not None else CUDA_GRAPHS
        if not (use_graph and inputs[0].is_cuda):
            return self._eager(*inputs)
        if self._graph is not None:
            if any(x.shape != s.shape for x, s in zip(inputs, self._static_inputs)):
                return self._eager(*inputs)
            for static, x in zip(self._static_inputs, inputs):
                static.copy_(x)
            self._graph.replay()
            return {k: v.clone() for k, v in self._static_terms.items()}
        with warnings.catch_warnings():
            # Warm-up runs on a side stream; autograd notes that the parameters'
            # gradient accumulators were made on the default stream. Harmless here.
            warnings.filterwarnings("ignore", message=".*AccumulateGrad node's stream", category=UserWarning)
            return self._warm_up_or_capture(*inputs)

    def _warm_up_or_capture(self, *inputs):
        self._calls += 1
        if self._calls <= self.warmup_steps:
            # Warm-up steps run on a side stream, as graph capture requires.
            stream = _side_stream(inputs[0].device)
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                terms = self._eager(*inputs)
            torch.cuda.current_stream().wait_stream(stream)
            return terms
        self._static_inputs = [x.clone() for x in inputs]
        self._graph = torch.cuda.CUDAGraph()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.cuda.graph(self._graph):
            loss, terms = self.loss_fn(*self._static_inputs)
            loss.backward()
            if self.max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(self.params, self.max_grad_norm)
            self.optimizer.step()
        self._static_terms = {k: v.detach() for k, v in terms.items()}
        self._graph.replay()
        return {k: v.clone() for k, v in self._static_terms.items()}


class _LogCallback(Callback):
    """Forwards skorch's per-epoch train loss into a :class:`TrainingLog`."""

    def __init__(self, log, phase, term="reconstruction"):
        self.log = log
        self.phase = phase
        self.term = term

    def on_epoch_end(self, net, **kwargs):
        self.log.record(self.phase, **{self.term: net.history[-1, "train_loss"]})


class PlateauStop(Callback):
    """Stop training once the loss has stopped falling: a skorch callback.

    An epoch improves on the best loss so far when its loss is below
    ``(1 - tol)`` times that best; training stops after ``n_iter_no_change``
    epochs in a row without an improvement (scikit-learn's ``tol`` and
    ``n_iter_no_change``, relative, so the rule does not depend on the data's
    scale). It is skorch's ``EarlyStopping`` on the training loss with
    ``threshold_mode="rel"``, without its printed message, and changes no
    training step, so CUDA graphs stay on. :meth:`update` serves plain loops.
    """

    def __init__(self, n_iter_no_change, tol):
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol

    def on_train_begin(self, net=None, **kwargs):
        self.best_loss_, self.epochs_no_change_ = math.inf, 0

    def update(self, loss):
        """Record one epoch's loss; True when training should stop."""
        if loss < self.best_loss_ * (1 - self.tol):
            self.best_loss_, self.epochs_no_change_ = loss, 0
        else:
            self.epochs_no_change_ += 1
        return self.epochs_no_change_ >= self.n_iter_no_change

    def on_epoch_end(self, net, **kwargs):
        if self.update(net.history[-1, "train_loss"]):
            raise KeyboardInterrupt  # skorch's way for a callback to end training


class _StopTraining(KeyboardInterrupt):
    """A skorch callback's KeyboardInterrupt: the end of training, not a Ctrl-C."""


class AutoencoderNet(NeuralNet):
    """skorch ``NeuralNet`` that trains an autoencoder with ``y=None``.

    The module's ``forward`` returns ``(embedding, reconstruction)``; the loss
    is the criterion (MSE by default) between the reconstruction and the input.
    Batches come from :class:`DeviceBatchIterator` and the epoch loss is read
    back once per epoch, not once per batch, so the GPU is never stalled.
    """

    def __init__(
        self,
        module,
        *args,
        criterion=torch.nn.MSELoss,
        optimizer=torch.optim.Adam,
        train_split=None,
        iterator_train=DeviceBatchIterator,
        iterator_valid=DeviceBatchIterator,
        iterator_train__shuffle=True,
        verbose=0,
        **kwargs,
    ):
        super().__init__(
            module,
            *args,
            criterion=criterion,
            optimizer=optimizer,
            train_split=train_split,
            iterator_train=iterator_train,
            iterator_valid=iterator_valid,
            iterator_train__shuffle=iterator_train__shuffle,
            verbose=verbose,
            **kwargs,
        )

    def notify(self, method_name, **cb_kwargs):
        try:
            return super().notify(method_name, **cb_kwargs)
        except _StopTraining:
            raise
        except KeyboardInterrupt as exc:  # a callback stops training, skorch's way (EarlyStopping)
            raise _StopTraining() from exc
        except KeyError as exc:  # skorch's "Key 'valid_loss' was not found in history."
            key = re.search(r"'(valid_\w*)'", str(exc))
            if self.train_split is None and key:
                raise ValueError(
                    f"pretrain_callbacks: a callback reads '{key[1]}', but pretraining holds out no validation "
                    "data; monitor 'train_loss' instead, e.g. EarlyStopping(monitor='train_loss')."
                ) from exc
            raise

    def fit_loop(self, *args, **kwargs):
        # skorch's partial_fit swallows every KeyboardInterrupt: it is also how a callback
        # stops training. A Ctrl-C (any interrupt not from a callback) stops the whole fit
        # instead: pretrain_autoencoder raises it again.
        try:
            return super().fit_loop(*args, **kwargs)
        except KeyboardInterrupt as exc:
            if not isinstance(exc, _StopTraining):
                self._interrupt = exc
            raise

    def get_loss(self, y_pred, y_true, X=None, training=False):
        _, reconstruction = y_pred
        return self.criterion_(reconstruction, X)

    def initialize_optimizer(self, *args, **kwargs):
        self._graphed_step = None
        return super().initialize_optimizer(*args, **kwargs)

    def _reconstruction_step(self, X):
        loss = self.get_loss(self.module_(X), None, X=X, training=True)
        return loss, {"loss": loss}

    def train_step(self, batch, **fit_params):
        """skorch's step, or a replayed CUDA graph of it when :meth:`graphable` (TF32 on CUDA: :func:`step_precision`)."""
        if not self.graphable(fit_params):
            with step_precision(self.device):
                return super().train_step(batch, **fit_params)
        if getattr(self, "_graphed_step", None) is None:
            self._graphed_step = TrainStep(self._reconstruction_step, self.optimizer_)
        self.module_.train()
        return {"loss": self._graphed_step(batch[0])["loss"], "y_pred": None}

    def graphable(self, fit_params=None):
        """CUDA graphs need a CUDA device, a capturable optimizer, and no per-step callbacks.

        Extra callbacks (an LR scheduler, gradient clipping) may change what a
        step does, so they get skorch's ordinary eager step.
        """
        extra = [
            name for name, cb in self.callbacks_ if name not in self._graph_safe_callbacks and not isinstance(cb, PlateauStop)
        ]
        return (
            CUDA_GRAPHS
            and torch.device(self.device).type == "cuda"
            and not fit_params
            and not extra
            and getattr(self, "optimizer__capturable", False)
        )

    _graph_safe_callbacks = {"epoch_timer", "train_loss", "valid_loss", "print_log", "skdeepcluster_log"}

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        if iterator is None:
            return
        losses, sizes = [], []
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            step = step_fn(batch, **fit_params)
            losses.append(step["loss"].detach())
            sizes.append(len(batch[0]))
            self.notify("on_batch_end", batch=batch, training=training, **step)
        # One device-to-host transfer per epoch instead of one per batch.
        for loss, size in zip(torch.stack(losses).double().cpu().tolist(), sizes):
            self.history.record_batch(prefix + "_loss", loss)
            self.history.record_batch(prefix + "_batch_size", size)
        self.history.record(prefix + "_batch_count", len(sizes))


def pretrain_autoencoder(
    module, X, *, epochs, batch_size, lr, log, callbacks=None, phase="pretrain", criterion=torch.nn.MSELoss
):
    """Train ``module`` to reconstruct the device tensor ``X`` with Adam.

    Returns the fitted :class:`AutoencoderNet`, whose ``history`` is skorch's;
    the per-epoch reconstruction loss also goes to ``log`` under ``phase``.
    ``criterion`` compares the module's output with ``X`` (MSE by default;
    ``torch.nn.BCEWithLogitsLoss`` for a Bernoulli decoder on data in [0, 1]).
    """
    fused = {"optimizer__fused": True, "optimizer__capturable": True} if X.device.type == "cuda" else {}
    net = AutoencoderNet(
        module,
        criterion=criterion,
        **fused,
        lr=lr,
        max_epochs=epochs,
        batch_size=batch_size,
        device=X.device,
        callbacks=[("skdeepcluster_log", _LogCallback(log, phase)), *list(callbacks or [])],
    )
    if epochs == 0:
        return net.initialize()
    with log.phase(phase, total=epochs):
        net.fit(X, None)
    if getattr(net, "_interrupt", None) is not None:
        raise net._interrupt
    net._graphed_step = None  # frees the CUDA graph's memory pool now rather than at garbage collection
    return net


@torch.no_grad()
def dead_output_share(module, X, batch_size=4096):
    """Share of the data's sum of squares on output features that ``module`` reconstructs as 0 for every row.

    A decoder whose last layer ends in a ReLU, as DSC-Net's does, can lose
    whole output features for good: once the weights feeding a feature make
    it negative on every input, the ReLU passes neither a value nor a
    gradient. With few channels this hits a fixed set of pixels; a 3x3
    stride-2 transposed convolution from 3 channels, for one, gives each
    quarter of the pixels (one parity of row and column) its own 3 kernel
    taps, all negative at initialisation with probability 1/8 (and alike
    codes kill a pixel more often: a weighted sum negative on one code is
    then negative on all). The share is
    0 for a decoder with a linear output; a dead feature counts in proportion
    to the data it should have reconstructed, so a pixel that is 0 in every
    image costs nothing.
    """
    dead, training = None, module.training
    module.eval()  # no batch statistics or dropout: the module as it will be used
    for index in minibatches(len(X), batch_size, X.device, shuffle=False):
        silent = (module(X[index])[1] == 0).all(0)
        dead = silent if dead is None else dead & silent
    module.train(training)
    total = float(X.square().sum())
    return float(X[:, dead].square().sum()) / total if total > 0 else 0.0


class DenoisingPair(torch.nn.Module):
    """One encoder/decoder layer pair of a stacked denoising autoencoder (Vincent et al., 2010).

    .. math:: \\tilde x \\sim \\mathrm{Dropout}(x),\\; h = g_1(W_1 \\tilde x + b_1),\\;
              \\tilde h \\sim \\mathrm{Dropout}(h),\\; y = g_2(W_2 \\tilde h + b_2)

    trained to make ``y`` reconstruct the clean ``x``. The two ``Linear``
    layers are those of a deep autoencoder (shared, not copied), so training
    the pair trains them in place. ``forward`` returns ``(h, y)`` like an
    autoencoder; dropout acts only in training mode.

    Parameters
    ----------
    encode, decode : torch.nn.Linear
        :math:`W_1, b_1` and :math:`W_2, b_2`.
    encode_activation, decode_activation : bool
        Whether :math:`g_1`, :math:`g_2` are ReLU (else the identity).
    dropout : float
        Fraction of the input and of the hidden units zeroed.
    """

    def __init__(self, encode, decode, encode_activation, decode_activation, dropout):
        super().__init__()
        self.encode_layer, self.decode_layer = encode, decode
        self.encode_activation, self.decode_activation = encode_activation, decode_activation
        self.dropout = dropout

    def encode(self, x):
        h = self.encode_layer(torch.nn.functional.dropout(x, self.dropout, self.training))
        return torch.relu(h) if self.encode_activation else h

    def forward(self, x):
        h = self.encode(x)
        y = self.decode_layer(torch.nn.functional.dropout(h, self.dropout, self.training))
        return h, torch.relu(y) if self.decode_activation else y


def pretrain_layerwise(module, X, *, epochs, batch_size, lr, log, dropout=0.2):
    """Greedy layer-wise pretraining of a fully connected autoencoder as a stack of denoising pairs.

    The initialisation of DEC (Xie et al., 2016): the ``l``-th encoder layer
    and its mirror in the decoder form a :class:`DenoisingPair` trained for
    ``epochs`` epochs to reconstruct the (clean) output of the ``l - 1``
    trained encoder layers; ReLU everywhere except the last encoder layer
    (the embedding keeps full information) and the first pair's decoder (it
    reconstructs the data), exactly the activations of the deep
    :class:`~skdeepcluster.nn.MLPAutoencoder`. Every pair is logged as phase
    ``"pretrain_layer{l}"``. ``module`` is trained in place and returned;
    the end-to-end fine-tuning that follows is :func:`pretrain_autoencoder`.
    """
    if not isinstance(module, MLPAutoencoder):
        raise ValueError("Layer-wise pretraining needs a fully connected autoencoder (image_shape=None).")
    encoders = [m for m in module.encoder if isinstance(m, torch.nn.Linear)]
    decoders = [m for m in module.decoder if isinstance(m, torch.nn.Linear)][::-1]
    h = X
    for level, (encode, decode) in enumerate(zip(encoders, decoders), start=1):
        pair = DenoisingPair(encode, decode, level < len(encoders), level > 1, dropout)
        pretrain_autoencoder(pair, h, epochs=epochs, batch_size=batch_size, lr=lr, log=log,
                             phase=f"pretrain_layer{level}")
        pair.eval()
        with torch.no_grad():
            h = batched_apply(pair.encode, h)
    return module


def kmeans_centers(Z, n_clusters, random_state, n_init=20, init=None):
    """Fit k-means on embeddings ``Z`` (tensor) and return ``(centers, labels)`` as tensors.

    The centres initialise the clustering layer of DEC, IDEC, DCN, SDCN and
    their relatives (20 restarts, as in their papers); ``init`` (a tensor of
    centres) runs Lloyd's iterations once from it instead. On a CUDA device the
    embedding is clustered where it is (:func:`skdeepcluster.kmeans.kmeans`);
    elsewhere by scikit-learn's :class:`~sklearn.cluster.KMeans`, the same
    algorithm.
    """
    if Z.is_cuda:
        centers, labels, _ = kmeans(Z.detach(), n_clusters, n_init=n_init, init=init, random_state=random_state)
        return centers, labels
    if init is not None:
        init, n_init = init.detach().cpu().double().numpy(), 1
    km = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=random_state, init="k-means++" if init is None else init)
    labels = km.fit_predict(Z.detach().cpu().double().numpy())
    centers = torch.as_tensor(km.cluster_centers_, dtype=Z.dtype, device=Z.device)
    return centers, torch.as_tensor(labels.astype(np.int64), device=Z.device)


def autoencoder_loss(module, x):
    """Reconstruction loss of ``module`` on ``x``, with the embedding: ``(z, loss)``."""
    z, x_hat = module(x)
    return z, reconstruction_loss(x_hat, x)
