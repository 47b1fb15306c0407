"""DEC (Xie et al., 2016) and IDEC (Guo et al., 2017)."""

from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import Interval

from ..base import AutoencoderClusterMixin, BaseDeepCluster
from ..losses import kl_divergence, reconstruction_loss, student_t_assignment, target_distribution
from ..training import LossAccumulator, TrainStep, kmeans_centers, minibatches

_PARAMETERS_HEAD = """
    Parameters
    ----------
    {n_clusters, hidden_dims, n_components, image_shape}
    alpha : float, default=1.0
        Degrees of freedom of the Student-t kernel.
"""

_PARAMETERS_SCHEDULE = """    {pretrain_epochs, pretrain_lr, batch_size}
    update_interval : int, default=140
        Iterations between two refreshes of the target distribution P.
    tol : float, default=1e-3
        Stop when fewer than this fraction of labels change between two refreshes of P.
    max_iter : int, default=20000
        Upper bound on clustering iterations (mini-batch steps).
"""

_PARAMETERS_TAIL_AND_ATTRIBUTES = """    n_init : int, default=20
        k-means restarts for the cluster centres.
    {autoencoder, pretrain_callbacks, divergence_retries, device, random_state, verbose}

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        ``argmax_j q_ij`` of the training samples under the final model.
    cluster_centers_ : ndarray of shape (n_clusters, n_components)
        Cluster centres ``mu_j`` in the embedding.
    autoencoder_ : torch.nn.Module
        The autoencoder (its encoder is fine-tuned by the clustering phase).
    history_ : dict
        Per-epoch loss terms: ``history_["pretrain"]["reconstruction"]`` and
        ``history_["clustering"]`` with ``kl``, ``delta_label`` (one entry per refresh of P).
    {pretrain_history_, pretrain_restarts_}
    n_iter_ : int
        Clustering iterations run.
    {n_features_in_, feature_names_in_, device_}
    {learning_rate_scale_, divergence_restarts_}
"""


class _DECBase(AutoencoderClusterMixin, BaseDeepCluster):
    """Shared self-training phase of DEC and IDEC."""

    _parameter_constraints = {
        **BaseDeepCluster._parameter_constraints,
        **AutoencoderClusterMixin._autoencoder_constraints,
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "update_interval": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, 1, closed="both")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
    }

    #: weight of the reconstruction term in the clustering phase (0 for DEC)
    _reconstruction_weight = 0.0

    def _clustering_weight(self):
        return 1.0

    def _layerwise_epochs(self):
        """Epochs of greedy layer-wise pretraining per layer pair (DEC's stacked denoising autoencoder)."""
        return 0

    def _fit(self, X, log):
        self.autoencoder_ = self._pretrained_autoencoder(X, log, layerwise_epochs=self._layerwise_epochs())
        Z = self._batched(self.autoencoder_.encode, X)
        centers, labels = kmeans_centers(Z, self.n_clusters, self._seed, self.n_init)
        self._centers = torch.nn.Parameter(centers)
        self.n_iter_ = self._self_training(X, labels, log)
        self._centers.requires_grad_(False)
        self.autoencoder_.eval()
        self.labels_ = self._batched(self._assign, X).cpu().numpy()
        self.cluster_centers_ = self._centers.detach().cpu().numpy()

    def _self_training(self, X, labels, log):
        """Minimise ``w_r L_r + gamma KL(P || Q)`` with SGD, refreshing P every ``update_interval`` steps."""
        params = [*self.autoencoder_.parameters(), self._centers]
        if self._reconstruction_weight == 0:
            # DEC trains the encoder only; the decoder is dropped.
            params = [*self._encoder_parameters(), self._centers]
        fused = {"fused": True} if X.device.type == "cuda" else {}
        optimizer = torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, **fused)
        gamma = self._clustering_weight()
        target = torch.empty(X.shape[0], self.n_clusters, device=X.device)  # P, refreshed in place

        def loss_fn(index):
            x = X[index]
            z = self.autoencoder_.encode(x)
            kl = kl_divergence(target[index], student_t_assignment(z, self._centers, self.alpha))
            if not self._reconstruction_weight:
                return gamma * kl, {"kl": kl}
            reconstruction = reconstruction_loss(self.autoencoder_.decode(z), x)
            return gamma * kl + self._reconstruction_weight * reconstruction, {
                "kl": kl,
                "reconstruction": reconstruction,
            }

        step = TrainStep(loss_fn, optimizer, max_grad_norm=self.max_grad_norm)
        losses = LossAccumulator()
        iteration, n = 0, X.shape[0]
        with log.phase("clustering", total=-(-self.max_iter // self.update_interval)):
            while iteration < self.max_iter:
                if iteration % self.update_interval == 0:
                    q = self._batched(self._soft_assignment, X)
                    target.copy_(target_distribution(q))
                    new_labels = q.argmax(1)
                    delta_label = (new_labels != labels).float().mean().item()
                    labels = new_labels
                    if iteration > 0:
                        log.record("clustering", **losses.means(), delta_label=delta_label)
                        if delta_label < self.tol:
                            break
                for index in minibatches(n, self.batch_size, X.device):
                    losses.add(len(index), **step(index))
                    iteration += 1
                    if iteration % self.update_interval == 0 or iteration >= self.max_iter:
                        break
        return iteration

    def _encoder_parameters(self):
        encode_owner = getattr(self.autoencoder_, "encoder", None)
        return list(encode_owner.parameters()) if encode_owner is not None else list(self.autoencoder_.parameters())

    def _soft_assignment(self, X):
        return student_t_assignment(self.autoencoder_.encode(X), self._centers, self.alpha)

    def _embed(self, X):
        return self.autoencoder_.encode(X)

    def _assign(self, X):
        return self._soft_assignment(X).argmax(1)

    def _proba(self, X):
        return self._soft_assignment(X)


class DEC(_DECBase):
    __doc__ = (
        """Deep Embedded Clustering (Xie, Girshick and Farhadi, 2016).

    An autoencoder is pretrained; k-means on its embedding initialises cluster
    centres :math:`\\mu_j`; then the encoder :math:`f` and the centres are
    refined by self-training. Each sample's soft assignment is a Student-t
    kernel

    .. math:: q_{ij} = \\frac{(1 + \\|z_i - \\mu_j\\|^2/\\alpha)^{-\\frac{\\alpha+1}{2}}}
              {\\sum_{j'}(1 + \\|z_i - \\mu_{j'}\\|^2/\\alpha)^{-\\frac{\\alpha+1}{2}}},
              \\quad z_i = f(x_i),

    the target distribution sharpens it,

    .. math:: p_{ij} = \\frac{q_{ij}^2 / f_j}{\\sum_{j'} q_{ij'}^2 / f_{j'}},
              \\quad f_j = \\sum_i q_{ij},

    and the loss is :math:`L = KL(P \\| Q) = \\sum_i \\sum_j p_{ij} \\log (p_{ij}/q_{ij})`,
    minimised by SGD (lr 0.01, momentum 0.9) with P held fixed for
    ``update_interval`` iterations. Training stops when fewer than ``tol`` of
    the labels change between two refreshes of P.

    The paper initialises the autoencoder as a stacked denoising autoencoder:
    greedy layer-wise pretraining of each encoder/decoder layer pair with 20%
    dropout on its input and hidden units, then end-to-end fine-tuning
    without dropout. ``layerwise_epochs > 0`` does exactly that, with Adam
    (lr ``pretrain_lr``) instead of the paper's SGD schedule and epochs instead
    of its 50,000 iterations per pair and 100,000 of fine-tuning
    (``pretrain_epochs``). The default, ``layerwise_epochs=0``, is end-to-end
    pretraining alone (Adam, 200 epochs, as in the IDEC code): on MNIST it
    already reaches the paper's accuracy in a fraction of the time.
"""
        + _PARAMETERS_HEAD
        + _PARAMETERS_SCHEDULE
        + """    lr : float, default=0.01
        SGD learning rate of the clustering phase.
    momentum : float, default=0.9
        SGD momentum of the clustering phase.
    max_grad_norm : float or None, default=10.0
        Clip the gradient norm of each clustering step to this value. A safeguard
        beyond the paper: on data scaled to unit range it does not bind (the
        largest norm seen on digits is below 4), but it keeps SGD with large
        momentum from diverging on unscaled data. ``None`` turns it off.
    layerwise_epochs : int, default=0
        Epochs of greedy layer-wise denoising pretraining of each layer pair
        before the end-to-end pretraining (the paper's stacked denoising
        autoencoder; history phases ``pretrain_layer1``, ...); 0 skips it.
        Needs the fully connected autoencoder.
"""
        + _PARAMETERS_TAIL_AND_ATTRIBUTES
        + """
    See Also
    --------
    IDEC : keeps the decoder and its reconstruction loss during clustering.
    AEKMeans : the pretraining and k-means stages alone.

    References
    ----------
    .. [1] J. Xie, R. Girshick and A. Farhadi, "Unsupervised deep embedding for
       clustering analysis", ICML 2016.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skdeepcluster import DEC
    >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    >>> model = DEC(n_clusters=3, hidden_dims=(16,), n_components=2,
    ...             pretrain_epochs=5, max_iter=20, device="cpu", random_state=0)
    >>> model.fit_predict(X).shape
    (60,)
    >>> model.predict_proba(X).shape
    (60, 3)
    """
    )

    _parameter_constraints = {
        **_DECBase._parameter_constraints,
        "layerwise_epochs": [Interval(Integral, 0, None, closed="left")],
    }

    def _layerwise_epochs(self):
        return self.layerwise_epochs

    def __init__(
        self,
        n_clusters=8,
        *,
        hidden_dims=(500, 500, 2000),
        n_components=10,
        image_shape=None,
        alpha=1.0,
        pretrain_epochs=200,
        pretrain_lr=1e-3,
        batch_size=256,
        update_interval=140,
        tol=1e-3,
        max_iter=20000,
        lr=0.01,
        momentum=0.9,
        n_init=20,
        max_grad_norm=10.0,
        layerwise_epochs=0,
        autoencoder=None,
        pretrain_callbacks=None,
        divergence_retries=0,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_clusters = n_clusters
        self.hidden_dims = hidden_dims
        self.n_components = n_components
        self.image_shape = image_shape
        self.alpha = alpha
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_lr = pretrain_lr
        self.batch_size = batch_size
        self.update_interval = update_interval
        self.tol = tol
        self.max_iter = max_iter
        self.lr = lr
        self.momentum = momentum
        self.n_init = n_init
        self.max_grad_norm = max_grad_norm
        self.layerwise_epochs = layerwise_epochs
        self.autoencoder = autoencoder
        self.pretrain_callbacks = pretrain_callbacks
        self.divergence_retries = divergence_retries
        self.device = device
        self.random_state = random_state
        self.verbose = verbose


class IDEC(_DECBase):
    __doc__ = (
        """Improved Deep Embedded Clustering (Guo, Gao, Liu and Yin, 2017).

    DEC with the decoder kept: the clustering loss would otherwise distort the
    embedding, so IDEC preserves local structure by minimising

    .. math:: L = L_r + \\gamma L_c, \\quad
              L_r = \\frac{1}{n d}\\sum_i \\|x_i - g(z_i)\\|_2^2, \\quad
              L_c = KL(P \\| Q) = \\frac{1}{n}\\sum_i \\sum_j p_{ij} \\log \\frac{p_{ij}}{q_{ij}},

    over a mini-batch of :math:`n` samples of :math:`d` features, with DEC's
    Student-t soft assignment :math:`q_{ij}` and target distribution
    :math:`p_{ij}` (see :class:`DEC`), ``gamma = clustering_weight`` (0.1 in
    the paper), SGD with lr 0.1 and momentum 0.99, and P refreshed every
    ``update_interval`` iterations until fewer than ``tol`` of the labels change.
    The two terms are averaged as in the authors' Keras code (its ``mse`` loss
    over samples and features, its ``kld`` over samples, weights
    :math:`[\\gamma, 1]`); the paper writes both as sums over the samples, where
    the same :math:`\\gamma` would weigh the reconstruction :math:`d` times more.
"""
        + _PARAMETERS_HEAD
        + """    clustering_weight : float, default=0.1
        The paper's :math:`\\gamma`, weight of the KL clustering loss against the
        reconstruction loss.
"""
        + _PARAMETERS_SCHEDULE
        + """    lr : float, default=0.1
        SGD learning rate of the clustering phase.
    momentum : float, default=0.99
        SGD momentum of the clustering phase.
    max_grad_norm : float or None, default=1.0
        Clip the gradient norm of each clustering step to this value. A safeguard
        beyond the paper: on data scaled to unit range it does not bind (the
        largest norm seen on digits is 0.3), but SGD with lr 0.1 and momentum
        0.99 diverges without it on small data sets where every step is a full
        batch. ``None`` turns it off.
"""
        + _PARAMETERS_TAIL_AND_ATTRIBUTES
        + """
    See Also
    --------
    DEC : the same without the reconstruction term.

    References
    ----------
    .. [1] X. Guo, L. Gao, X. Liu and J. Yin, "Improved deep embedded clustering
       with local structure preservation", IJCAI 2017.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skdeepcluster import IDEC
    >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    >>> model = IDEC(n_clusters=3, hidden_dims=(16,), n_components=2,
    ...              pretrain_epochs=5, max_iter=20, device="cpu", random_state=0)
    >>> model.fit(X).transform(X).shape
    (60, 2)
    """
    )

    _parameter_constraints = {
        **_DECBase._parameter_constraints,
        "clustering_weight": [Interval(Real, 0, None, closed="left")],
    }
    _reconstruction_weight = 1.0

    def __init__(
        self,
        n_clusters=8,
        *,
        hidden_dims=(500, 500, 2000),
        n_components=10,
        image_shape=None,
        alpha=1.0,
        clustering_weight=0.1,
        pretrain_epochs=200,
        pretrain_lr=1e-3,
        batch_size=256,
        update_interval=140,
        tol=1e-3,
        max_iter=20000,
        lr=0.1,
        momentum=0.99,
        n_init=20,
        max_grad_norm=1.0,
        autoencoder=None,
        pretrain_callbacks=None,
        divergence_retries=0,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_clusters = n_clusters
        self.hidden_dims = hidden_dims
        self.n_components = n_components
        self.image_shape = image_shape
        self.alpha = alpha
        self.clustering_weight = clustering_weight
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_lr = pretrain_lr
        self.batch_size = batch_size
        self.update_interval = update_interval
        self.tol = tol
        self.max_iter = max_iter
        self.lr = lr
        self.momentum = momentum
        self.n_init = n_init
        self.max_grad_norm = max_grad_norm
        self.autoencoder = autoencoder
        self.pretrain_callbacks = pretrain_callbacks
        self.divergence_retries = divergence_retries
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _clustering_weight(self):
        return self.clustering_weight
