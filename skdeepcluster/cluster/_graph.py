"""SDCN (Bo et al., WWW 2020) and CaEGCN (Huo et al., TKDE 2023): graph-based deep clustering.

Both run an autoencoder on the features and a graph convolutional network on
a sample graph side by side, full batch, one optimiser step per epoch. The
graph is a kNN graph of ``X`` unless ``fit(X, adjacency=A)`` gives one.

New samples (``predict``/``predict_proba``): each is joined to its
``n_neighbors`` nearest training samples (same kernel) and the network is run
on the training graph extended by these rows. The training nodes' rows do
not change, so a new sample's label depends only on itself and the training
data (not on the other new samples, nor on how they are batched).
``transform`` returns the autoencoder embedding, which needs no graph.
"""

from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from ..base import AutoencoderClusterMixin, BaseDeepCluster
from ..graph import (
    KERNELS,
    NORMALIZATIONS,
    SparsePropagation,
    check_adjacency,
    degrees,
    device_kneighbors,
    edge_list,
    extended_graph,
    knn_graph,
    link_new_samples,
    neighbor_index,
    normalize_adjacency,
)
from ..losses import kl_divergence, reconstruction_loss, student_t_assignment, target_distribution
from ..nn import CrossAttentionFusion, GraphConvolution
from ..nn.gcn import head_width
from ..training import LossAccumulator, TrainStep, kmeans_centers

__all__ = ["SDCN", "CaEGCN"]


def _encoder_layers(autoencoder, x):
    """Outputs of every layer of an MLP encoder: ``[H_1, ..., H_{L-1}, z]`` (after each ReLU, z linear)."""
    outputs = []
    layers = list(autoencoder.encoder)
    h = x
    for i, layer in enumerate(layers):
        h = layer(h)
        last_linear = isinstance(layer, nn.Linear) and i == len(layers) - 1
        if not isinstance(layer, nn.Linear) or last_linear:
            outputs.append(h)
    return outputs


def _gcn_stack(widths, last_activation):
    return nn.ModuleList(
        GraphConvolution(a, b, activation=last_activation or i < len(widths) - 2)
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:]))
    )


class _SDCNGraph(nn.Module):
    """GCN branch of SDCN with the delivery operator: ``d - h1 - ... - n_components - K``."""

    def __init__(self, n_features, hidden_dims, n_components, n_clusters, delivery_weight):
        super().__init__()
        self.delivery_weight = delivery_weight
        self.layers = _gcn_stack([n_features, *hidden_dims, n_components], last_activation=True)
        self.predict = GraphConvolution(n_components, n_clusters, activation=False)

    def forward(self, x, hs, propagate, n_context=None):
        eps = self.delivery_weight
        h = self.layers[0](x, propagate)
        for layer, content in zip(self.layers[1:], hs[:-1]):
            h = layer((1 - eps) * h + eps * content, propagate)
        return self.predict((1 - eps) * h + eps * hs[-1], propagate)


class _CaEGCNGraph(nn.Module):
    """Graph convolutional autoencoder of CaEGCN with a cross-attention fusion at every encoder level."""

    def __init__(self, n_features, hidden_dims, n_components, n_clusters, gamma, n_heads, attention_width,
                 attention_dtype):
        super().__init__()
        widths = [n_features, *hidden_dims, n_components]
        # Encoder GCN layers; the embedding layer is linear (like the CAE's z) so that
        # sigmoid(e_i . e_j) can go below 1/2 for non-edges.
        self.encoder = _gcn_stack(widths, last_activation=False)
        self.fusion = nn.ModuleList(
            CrossAttentionFusion(w, n_heads, head_width(w, n_heads, cap=attention_width), gamma, True, attention_dtype)
            for w in widths[1:]
        )
        self.predict = GraphConvolution(n_components, n_clusters, activation=False)
        self.decoder = _gcn_stack(widths[::-1], last_activation=False)

    def forward(self, x, hs, propagate, n_context=None):
        """Return ``(cluster logits, GAE embedding e, GAE content reconstruction)``."""
        g = self.encoder[0](x, propagate)
        embedding = None
        for level, (fusion, content) in enumerate(zip(self.fusion, hs)):
            if level == len(hs) - 1:
                embedding = g
            r = fusion(g, content, n_context)
            if level + 1 < len(self.encoder):
                g = self.encoder[level + 1](r, propagate)
        logits = self.predict(r, propagate)
        x_hat = embedding
        for layer in self.decoder:
            x_hat = layer(x_hat, propagate)
        return logits, embedding, x_hat


class _GraphClusterBase(AutoencoderClusterMixin, BaseDeepCluster):
    """Graph construction, the full-batch joint training and the out-of-sample rule shared by SDCN and CaEGCN."""

    _parameter_constraints = {
        **BaseDeepCluster._parameter_constraints,
        **{k: v for k, v in AutoencoderClusterMixin._autoencoder_constraints.items() if k != "image_shape"},
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "kernel": [StrOptions(set(KERNELS))],
        "normalization": [StrOptions(set(NORMALIZATIONS))],
        "clustering_weight": [Interval(Real, 0, None, closed="left")],
        "gcn_weight": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "tol": [Interval(Real, 0, 1, closed="both")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
    }

    #: Epochs between two checks of the stopping rule (``tol``).
    _check_every = 10

    #: The GCN branch mirrors an MLP encoder layer by layer; convolutional autoencoders are not supported.
    image_shape = None
    _inference_batch_size = 16384

    # -- fit with a routed adjacency --------------------------------------------------
    def fit(self, X, y=None, adjacency=None):
        """Fit the model to ``X`` and a sample graph.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency.
        adjacency : scipy sparse matrix of shape (n_samples, n_samples) or None
            Non-negative edge weights of a sample graph (symmetrise it first if
            it is directed). ``None`` builds the kNN graph of ``X``. Reaches the
            estimator inside a Pipeline or GridSearchCV through metadata routing
            (``set_fit_request(adjacency=True)``).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return super().fit(X, y, adjacency=adjacency)

    def fit_predict(self, X, y=None, adjacency=None):
        """Fit the model and return the cluster label of each training sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency.
        adjacency : scipy sparse matrix of shape (n_samples, n_samples) or None
            As in :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Cluster labels.
        """
        return self.fit(X, y, adjacency=adjacency).labels_

    def _build_graph(self, X, adjacency):
        """The graph of ``X``: ``adjacency`` checked, or the kNN graph, searched on the GPU when ``X`` is there."""
        if X.is_cuda:
            self._neighbor_cache = None  # new samples are searched on the device too
        else:
            X = X.cpu().numpy()
            self._neighbor_cache = neighbor_index(X, min(self.n_neighbors + 1, len(X)), self.kernel, self.n_jobs)
        if adjacency is None:
            A = knn_graph(X, self.n_neighbors, self.kernel, index=self._neighbor_cache)
        else:
            A = check_adjacency(adjacency, X.shape[0])
        self._degree = degrees(A)
        self.adjacency_ = normalize_adjacency(A, self.normalization)
        return A

    def _memory_estimate(self, n_samples, n_features):
        widths = [n_features, *self.hidden_dims, self.n_components, self.n_clusters]
        # the data, and both branches' activations with their gradients, all samples at once
        need = 4 * n_samples * (n_features + 4 * sum(widths))
        what = f"the full-batch joint phase on {n_samples} samples (activations and gradients of both branches)"
        return need, what, "lower hidden_dims (every epoch is one full batch)"

    def _check_autoencoder(self, autoencoder):
        encoder = getattr(autoencoder, "encoder", None)
        if not isinstance(encoder, nn.Sequential) or not any(isinstance(m, nn.Linear) for m in encoder):
            raise ValueError(
                f"{type(self).__name__} needs a fully connected autoencoder (MLPAutoencoder), not a "
                f"{type(autoencoder).__name__}: its GCN branch mirrors the encoder layer by layer."
            )

    def _fit(self, X, log, adjacency=None):
        A = self._build_graph(X, adjacency)  # validated before any training
        propagate = SparsePropagation(self.adjacency_, X.device)
        self.autoencoder_ = self._pretrained_autoencoder(X, log)
        self._check_autoencoder(self.autoencoder_)
        hs = _encoder_layers(self.autoencoder_, X[:2])
        self._widths = [h.shape[1] for h in hs]
        with torch.no_grad():
            Z = self._batched(self.autoencoder_.encode, X)
        centers, _ = kmeans_centers(Z, self.n_clusters, self._seed, self.n_init)
        self._centers = nn.Parameter(centers)
        self.gcn_ = self._build_gcn(X.shape[1], X.device).to(X.device)
        self._train(X, A, propagate, log)
        self._centers.requires_grad_(False)
        self.autoencoder_.eval()
        self.gcn_.eval()
        self._X_fit = X
        with torch.no_grad():
            self.labels_ = self._logits(X, propagate).argmax(1).cpu().numpy()
        self.cluster_centers_ = self._centers.detach().cpu().numpy()

    def _train(self, X, A, propagate, log):
        params = [*self.autoencoder_.parameters(), *self.gcn_.parameters(), self._centers]
        fused = {"fused": True} if X.device.type in ("cuda", "cpu") else {}
        optimizer = torch.optim.Adam(params, lr=self.lr, **fused)
        loss_fn = self._loss_function(X, A, propagate)
        # Sparse products (cuSPARSE) and the per-step sampling of non-edges are not
        # captured as a CUDA graph; one full-batch step per epoch over all samples
        # keeps the GPU busy, so launch overhead is negligible anyway.
        step = TrainStep(loss_fn, optimizer, graph=False)
        losses = LossAccumulator()
        labels, epoch = None, 0
        with log.phase("clustering", total=self.max_iter):
            while epoch < self.max_iter:
                losses.add(1, **step(X))
                log.record("clustering", **losses.means())
                epoch += 1
                if self.tol > 0 and epoch % self._check_every == 0:
                    with torch.no_grad():
                        new_labels = self._logits(X, propagate).argmax(1)
                    if labels is not None and (new_labels != labels).float().mean().item() < self.tol:
                        break
                    labels = new_labels
        self.n_iter_ = epoch

    def _clustering_terms(self, hs, logits):
        """KL(P || Q) and KL(P || Z) with P the target of the current Q, refreshed every epoch."""
        q = student_t_assignment(hs[-1], self._centers)
        p = target_distribution(q.detach())
        return kl_divergence(p, q), kl_divergence(p, torch.softmax(logits, dim=1))

    # -- new samples -----------------------------------------------------------------
    def _neighbors_of(self, X):
        k = min(self.n_neighbors, len(self._X_fit))
        if self._X_fit.is_cuda:
            return device_kneighbors(X, self._X_fit, k, self.kernel)
        index = getattr(self, "_neighbor_cache", None)
        if index is None:
            fitted = self._X_fit.cpu().numpy()
            index = self._neighbor_cache = neighbor_index(
                fitted, min(self.n_neighbors + 1, len(fitted)), self.kernel, self.n_jobs
            )
        x = X.cpu().numpy()
        if self.kernel == "cosine":
            x = (x > 0).astype(np.float32)
        return index.kneighbors(x, n_neighbors=k, return_distance=False)

    def _extended(self, X):
        """Training and new samples stacked, with the propagation of the extended graph."""
        rows = link_new_samples(self._neighbors_of(X), self._degree, self.normalization)
        propagate = SparsePropagation(extended_graph(self.adjacency_, rows), X.device)
        return torch.cat([self._X_fit, X]), propagate

    def _distribution(self, X):
        X_all, propagate = self._extended(X)
        logits = self._logits(X_all, propagate, n_context=len(self._X_fit))
        return torch.softmax(logits[len(self._X_fit):], dim=1)

    def _embed(self, X):
        return self.autoencoder_.encode(X)

    def _assign(self, X):
        return self._distribution(X).argmax(1)

    def _proba(self, X):
        return self._distribution(X)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_neighbor_cache", None)  # rebuilt from _X_fit on first use
        return state


_COMMON_PARAMS = """
    Parameters
    ----------
    {n_clusters}
    hidden_dims : tuple of int, default=(500, 500, 2000)
        Hidden widths of the autoencoder's encoder (mirrored by the decoder)
        and of the GCN branch.
    {n_components}
    n_neighbors : int, default={default}
        k of the kNN graph built when ``fit`` gets no ``adjacency``, and
        number of training neighbours a new sample is linked to.
    kernel : {"heat", "cosine"}, default="heat"
        Similarity of the kNN graph: "heat" for dense features (its top-k are
        the Euclidean nearest neighbours), "cosine" on binarised features for
        sparse/text data. Edges get weight 1, as in SDCN's code. The cosine
        ranks neighbours by shared words over :math:`\\sqrt{|b_j|}`; SDCN's
        paper writes the dot product :math:`x_j^\\top x_i` and its code's
        ``ncos`` divides by :math:`|b_j|` (:math:`|b_j|`: words of
        document :math:`j`), so documents of unequal lengths can get other
        neighbours.
    normalization : {"symmetric", "row"}, default="symmetric"
        "symmetric" is the papers' :math:`\\tilde D^{-1/2}(A+I)\\tilde D^{-1/2}`,
        "row" the released code's :math:`\\tilde D^{-1}(A+I)`.
    clustering_weight : float, default=0.1
        Weight of :math:`KL(P\\|Q)` (SDCN's :math:`\\alpha`).
    gcn_weight : float, default=0.01
        Weight of :math:`KL(P\\|Z)` (SDCN's :math:`\\beta`)."""

_COMMON_PARAMS_END = """
    {pretrain_epochs, pretrain_lr, batch_size_pretrain}
    max_iter : int, default={default}
        Epochs of the joint phase; each is one full-batch Adam step.
    tol : float, default=1e-4
        Stop early when fewer than this fraction of the labels (argmax Z)
        change between two checks 10 epochs apart; 0 runs all ``max_iter``
        epochs, as the papers' code does.
    lr : float, default={default}
        Adam learning rate of the joint phase.
    n_init : int, default=20
        k-means restarts for the initial centres.
    n_jobs : int or None, default=-1
        Parallel jobs of the neighbour search (-1: all cores).
    autoencoder : torch.nn.Module, fitted estimator or None, default=None
        A pretrained MLP autoencoder to start from (copied; pretraining is skipped).
    {pretrain_callbacks, divergence_retries, device, random_state, verbose}

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        :math:`\\arg\\max_j z_{ij}` of the GCN distribution Z on the training graph.
    cluster_centers_ : ndarray of shape (n_clusters, n_components)
        Centres :math:`\\mu_j` of the Student-t assignment Q.
    adjacency_ : scipy.sparse.csr_matrix of shape (n_samples, n_samples)
        The normalised training graph :math:`\\hat A`.
    autoencoder_ : torch.nn.Module
        The autoencoder (fine-tuned by the joint phase).
    gcn_ : torch.nn.Module
        The graph branch.
    history_ : dict
        Per-epoch loss terms of ``"pretrain"`` and ``"clustering"``.
    {pretrain_history_, pretrain_restarts_}
    n_iter_ : int
        Epochs of the joint phase run.
    {n_features_in_, feature_names_in_, device_}
    {learning_rate_scale_, divergence_restarts_}
"""

_OUT_OF_SAMPLE = """
    These methods are transductive. ``predict`` and ``predict_proba`` place
    new samples by linking each to its ``n_neighbors`` nearest training
    samples (the same kernel, even when ``fit`` got an ``adjacency``) plus a
    self-loop, and running the network on the training graph extended by these
    rows; the training rows are left as they were, so results do not depend on
    the other new samples. ``predict`` on the training data may therefore
    differ slightly from ``labels_`` (a training sample comes back as a new
    node). ``transform`` is the autoencoder embedding z, which needs no graph.
    The training data is kept (``_X_fit``) for this.
"""


class SDCN(_GraphClusterBase):
    __doc__ = (
        """Structural Deep Clustering Network (Bo, Wang, Shi, Zhu, Lu and Cui, WWW 2020).

    An autoencoder :math:`H^{(l)}` (d-500-500-2000-10) and a GCN of the same
    widths run side by side on a sample graph :math:`\\hat A`. The *delivery
    operator* passes each autoencoder layer into the next GCN layer,

    .. math:: Z^{(l+1)} = \\phi\\big(\\hat A\\, ((1-\\epsilon) Z^{(l)} + \\epsilon H^{(l)})\\, W^{(l)}\\big),
              \\quad Z^{(1)} = \\phi(\\hat A X W^{(0)}),

    with :math:`\\epsilon` = ``delivery_weight`` = 0.5, and the last GCN layer
    gives the cluster distribution :math:`Z = \\mathrm{softmax}(\\hat A((1-\\epsilon)Z^{(L)} + \\epsilon H^{(L)})W^{(L)})`.
    A Student-t :math:`Q` on the embedding :math:`z = H^{(L)}` and its target
    :math:`P` (DEC, refreshed every epoch from the current Q) supervise both:

    .. math:: L = L_{res} + \\alpha\\, KL(P\\|Q) + \\beta\\, KL(P\\|Z), \\quad
              L_{res} = \\tfrac{1}{Nd}\\|X - \\hat X\\|_F^2,

    :math:`\\alpha=0.1`, :math:`\\beta=0.01`. Labels are :math:`\\arg\\max_j z_{ij}`.
    Training is full batch, one Adam step (lr 1e-3) per epoch, 200 epochs,
    after 30 epochs of autoencoder pretraining and k-means (20 restarts) on z.
"""
        + _COMMON_PARAMS
        + """
    delivery_weight : float, default=0.5
        The delivery operator's :math:`\\epsilon`."""
        + _COMMON_PARAMS_END
        + """
    See Also
    --------
    CaEGCN : replaces the delivery operator by cross-attention and adds a graph autoencoder.
    IDEC : the autoencoder branch alone.

    Notes
    -----
    The kNN graph (default k = 3, the code's) is built with scikit-learn's
    NearestNeighbors, symmetrised as :math:`\\max(A, A^T)`, with unit weights,
    as in the released code. The normalisation defaults to the paper's
    symmetric one; the code's row normalisation is ``normalization="row"``.
    The KL terms use log-space Student-t and an epsilon inside the log (the
    code's ``log`` of a softmax can give ``-inf``). P is computed from the
    same forward pass as the step (the code runs a second forward pass with
    the same weights, which gives the same P). The reconstruction term is the
    code's mean over samples and features (``F.mse_loss``), where the paper
    writes :math:`\\frac{1}{2N}\\|X - \\hat X\\|_F^2`: against the same
    :math:`\\alpha, \\beta` the code's reconstruction weighs :math:`d/2`
    times less than the paper's.
"""
        + _OUT_OF_SAMPLE
        + """
    References
    ----------
    .. [1] D. Bo, X. Wang, C. Shi, M. Zhu, E. Lu and P. Cui, "Structural deep
       clustering network", WWW 2020.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skdeepcluster import SDCN
    >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    >>> model = SDCN(n_clusters=3, hidden_dims=(16,), n_components=2, pretrain_epochs=5,
    ...              max_iter=20, device="cpu", random_state=0)
    >>> model.fit_predict(X).shape
    (60,)
    >>> model.predict_proba(X[:4]).shape
    (4, 3)
    """
    )

    _parameter_constraints = {
        **_GraphClusterBase._parameter_constraints,
        "delivery_weight": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        hidden_dims=(500, 500, 2000),
        n_components=10,
        n_neighbors=3,
        kernel="heat",
        normalization="symmetric",
        clustering_weight=0.1,
        gcn_weight=0.01,
        delivery_weight=0.5,
        pretrain_epochs=30,
        pretrain_lr=1e-3,
        batch_size=256,
        max_iter=200,
        tol=1e-4,
        lr=1e-3,
        n_init=20,
        n_jobs=-1,
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
        self.n_neighbors = n_neighbors
        self.kernel = kernel
        self.normalization = normalization
        self.clustering_weight = clustering_weight
        self.gcn_weight = gcn_weight
        self.delivery_weight = delivery_weight
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_lr = pretrain_lr
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.lr = lr
        self.n_init = n_init
        self.n_jobs = n_jobs
        self.autoencoder = autoencoder
        self.pretrain_callbacks = pretrain_callbacks
        self.divergence_retries = divergence_retries
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _build_gcn(self, n_features, device):
        return _SDCNGraph(n_features, self._widths[:-1], self._widths[-1], self.n_clusters, self.delivery_weight)

    def _logits(self, X, propagate, n_context=None):
        return self.gcn_(X, _encoder_layers(self.autoencoder_, X), propagate, n_context)

    def _loss_function(self, X, A, propagate):
        def loss_fn(x):
            hs = _encoder_layers(self.autoencoder_, x)
            reconstruction = reconstruction_loss(self.autoencoder_.decode(hs[-1]), x)
            kl_q, kl_z = self._clustering_terms(hs, self.gcn_(x, hs, propagate))
            loss = reconstruction + self.clustering_weight * kl_q + self.gcn_weight * kl_z
            return loss, {"reconstruction": reconstruction, "kl_q": kl_q, "kl_z": kl_z}

        return loss_fn


class CaEGCN(_GraphClusterBase):
    __doc__ = (
        """Cross-attention fusion based Enhanced Graph Convolutional Network (Huo et al., TKDE 2023).

    Four modules trained jointly, full batch:

    1. Content autoencoder (CAE) :math:`H^{(l)}` on X with the reconstruction
       loss :math:`L_{res} = \\tfrac{1}{Nd}\\|X - \\hat X\\|_F^2`.
    2. Cross-attention fusion at every encoder level l, between the GAE layer
       :math:`Z^{(l)}` and the CAE layer :math:`H^{(l)}`:

       .. math:: Y = \\gamma Z^{(l)} + (1-\\gamma) H^{(l)}, \\quad
                 R^{(l)} = Y + [\\mathrm{head}_1,\\dots,\\mathrm{head}_M] W^o, \\quad
                 \\mathrm{head}_m = \\mathrm{softmax}\\Big(\\frac{Y W_m^q (Y W_m^k)^\\top}{\\sqrt{d_h}}\\Big) Y W_m^v,

       and :math:`R^{(l)}` feeds the next GAE layer,
       :math:`Z^{(l+1)} = \\phi(\\hat A R^{(l)} W^{(l)})` (see :class:`~skdeepcluster.nn.CrossAttentionFusion`).
    3. Graph convolutional autoencoder (GAE): the encoder above (its last
       layer, the embedding :math:`E = Z^{(L)}`, is linear), the cluster
       distribution :math:`Z = \\mathrm{softmax}(\\hat A R^{(L)} W)`, and a GCN
       decoder that reconstructs the content, :math:`L_{content} = \\tfrac{1}{Nd}\\|X - \\hat X_g\\|_F^2`,
       and the relations, :math:`\\hat A_{ij} = \\sigma(e_i^\\top e_j)`, with
       :math:`L_{relation}` the binary cross-entropy over the edges and as many
       sampled non-edges (see Notes).
    4. Self-supervised module: the Student-t :math:`Q` on the CAE embedding,
       its target :math:`P` (refreshed every epoch), and the GAE distribution
       :math:`Z` constrained to agree with it.

    .. math:: L = L_{res} + \\lambda_1 KL(P\\|Q) + \\lambda_2 KL(P\\|Z)
              + \\lambda_3 L_{content} + \\lambda_4 L_{relation}

    with :math:`\\lambda_1..\\lambda_4` = ``clustering_weight`` 0.1, ``gcn_weight``
    0.01, ``content_weight`` 0.01, ``relation_weight`` 0.01 (the released code's
    weights), Adam lr 5e-4 for 700 epochs (the code's), labels :math:`\\arg\\max_j z_{ij}`.
"""
        + _COMMON_PARAMS
        + """
    content_weight : float, default=0.01
        Weight of the GAE's content reconstruction :math:`\\lambda_3`.
    relation_weight : float, default=0.01
        Weight of the GAE's relation reconstruction :math:`\\lambda_4`.
    fusion_weight : float, default=0.5
        The fusion's :math:`\\gamma` (share of the graph layer in Y).
    n_heads : int, default=8
        Attention heads M.
    attention_width : int, default=256
        Each head's width is ``ceil(min(layer width, attention_width) / n_heads)``
        rounded up to a multiple of 8 (so 32 for the 500- and 2000-wide layers
        and 8 for the 10-wide one).
    negative_ratio : float, default=1.0
        Sampled non-edges per edge in the relation loss, drawn anew every epoch."""
        + _COMMON_PARAMS_END
        + """
    See Also
    --------
    SDCN : the method CaEGCN extends (delivery operator instead of attention, no GAE decoder).

    Notes
    -----
    Only the abstract of the paper could be read; the four modules follow it,
    the weights and schedule follow the released code (``huogy/CaEGCN``,
    read in full). Choices and deviations:

    - Scale: attention runs through ``scaled_dot_product_attention`` over all
      training samples as tokens (fused kernels, no ``N x N`` tensor; on CUDA in
      bfloat16 so the flash kernel applies), and the relation loss is the
      balanced binary cross-entropy over the graph's edges plus
      ``negative_ratio`` times as many uniformly sampled pairs (a sampled pair
      is an edge with probability about k/N, ignored), instead of the dense
      ``N x N`` BCE of the code. Both keep memory ``O(N + edges)``.
    - The relation target is the binary graph (the code uses the normalised
      :math:`\\hat A` as a soft target) and the relation decoder acts on the GAE
      embedding (the code uses the ReLU output of its content decoder, whose
      sigmoid scores never fall below 1/2).
    - Fusion happens at every encoder level, with per-head widths capped by
      ``attention_width``. The code's graph encoder is shallower, d-500-10-K:
      it fuses two levels (its 500-wide GCN layer with the CAE's second
      layer, its 10-wide one with z), with 8 heads each as wide as the layer
      (infeasible at N = 70,000: no fused kernel takes 500-wide heads) and
      :math:`Y = Z_l + H_l` (:math:`\\gamma = 0.5` up to a factor 2).
    - The GAE decoder is a plain GCN mirror of the encoder, from the
      embedding; the code's decoder starts from the cluster logits and adds
      the CAE decoder's activations along the way.
    - The fusion adds :math:`Y` back to the attention output (a residual):
      attention over all samples is nearly uniform at initialisation and
      would otherwise give every sample the same :math:`R^{(l)}`.
    - Graph and normalisation as in :class:`SDCN`; default k = 10 (the code's
      setting for USPS).
"""
        + _OUT_OF_SAMPLE.replace("training rows are", "training rows, and the keys and values of the attention, are")
        + """
    References
    ----------
    .. [1] G. Huo, Y. Zhang, J. Gao, B. Wang, Y. Hu and B. Yin, "CaEGCN:
       Cross-attention fusion based enhanced graph convolutional network for
       clustering", IEEE TKDE 35(4), 3471-3483, 2023 (arXiv:2101.06883).
    .. [2] D. Bo et al., "Structural deep clustering network", WWW 2020.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skdeepcluster import CaEGCN
    >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    >>> model = CaEGCN(n_clusters=3, hidden_dims=(16,), n_components=2, pretrain_epochs=5,
    ...                max_iter=20, device="cpu", random_state=0)
    >>> model.fit_predict(X).shape
    (60,)
    >>> model.transform(X).shape
    (60, 2)
    """
    )

    _parameter_constraints = {
        **_GraphClusterBase._parameter_constraints,
        "content_weight": [Interval(Real, 0, None, closed="left")],
        "relation_weight": [Interval(Real, 0, None, closed="left")],
        "fusion_weight": [Interval(Real, 0, 1, closed="both")],
        "n_heads": [Interval(Integral, 1, None, closed="left")],
        "attention_width": [Interval(Integral, 1, None, closed="left")],
        "negative_ratio": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        hidden_dims=(500, 500, 2000),
        n_components=10,
        n_neighbors=10,
        kernel="heat",
        normalization="symmetric",
        clustering_weight=0.1,
        gcn_weight=0.01,
        content_weight=0.01,
        relation_weight=0.01,
        fusion_weight=0.5,
        n_heads=8,
        attention_width=256,
        negative_ratio=1.0,
        pretrain_epochs=30,
        pretrain_lr=1e-3,
        batch_size=256,
        max_iter=700,
        tol=1e-4,
        lr=5e-4,
        n_init=20,
        n_jobs=-1,
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
        self.n_neighbors = n_neighbors
        self.kernel = kernel
        self.normalization = normalization
        self.clustering_weight = clustering_weight
        self.gcn_weight = gcn_weight
        self.content_weight = content_weight
        self.relation_weight = relation_weight
        self.fusion_weight = fusion_weight
        self.n_heads = n_heads
        self.attention_width = attention_width
        self.negative_ratio = negative_ratio
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_lr = pretrain_lr
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.lr = lr
        self.n_init = n_init
        self.n_jobs = n_jobs
        self.autoencoder = autoencoder
        self.pretrain_callbacks = pretrain_callbacks
        self.divergence_retries = divergence_retries
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _build_gcn(self, n_features, device):
        # bfloat16 attention on GPUs that have it: the flash kernel, several times faster at N ~ 1e5.
        bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return _CaEGCNGraph(
            n_features,
            self._widths[:-1],
            self._widths[-1],
            self.n_clusters,
            self.fusion_weight,
            self.n_heads,
            self.attention_width,
            torch.bfloat16 if bf16 else None,
        )

    def _logits(self, X, propagate, n_context=None):
        return self.gcn_(X, _encoder_layers(self.autoencoder_, X), propagate, n_context)[0]

    def _loss_function(self, X, A, propagate):
        edges = edge_list(A, X.device)
        n, n_edges = X.shape[0], edges.shape[1]
        n_negative = int(round(self.negative_ratio * n_edges))

        def relation_loss(embedding):
            terms = []
            if n_edges:
                pos = (embedding[edges[0]] * embedding[edges[1]]).sum(1)
                terms.append(F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos)))
            if n_negative:
                pairs = torch.randint(0, n, (2, n_negative), device=X.device)
                neg = (embedding[pairs[0]] * embedding[pairs[1]]).sum(1)
                terms.append(F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg)))
            return sum(terms) if terms else embedding.sum() * 0

        def loss_fn(x):
            hs = _encoder_layers(self.autoencoder_, x)
            reconstruction = reconstruction_loss(self.autoencoder_.decode(hs[-1]), x)
            logits, embedding, x_graph = self.gcn_(x, hs, propagate)
            kl_q, kl_z = self._clustering_terms(hs, logits)
            content = reconstruction_loss(x_graph, x)
            relation = relation_loss(embedding)
            loss = (
                reconstruction
                + self.clustering_weight * kl_q
                + self.gcn_weight * kl_z
                + self.content_weight * content
                + self.relation_weight * relation
            )
            return loss, {"reconstruction": reconstruction, "kl_q": kl_q, "kl_z": kl_z, "content": content,
                          "relation": relation}

        return loss_fn
