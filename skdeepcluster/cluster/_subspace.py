"""Deep subspace clustering: DSC-Net (Ji et al., 2017) and its multimodal DMSC (Abavisani and Patel, 2018).

Both learn codes ``Z`` with an autoencoder and a self-expressive layer
``Z ~ C Z`` (:class:`~skdeepcluster.nn.SelfExpressive`), turn ``C`` into an
affinity with the post-processing of the authors' code, and cluster it with
scikit-learn's spectral clustering. They share everything here except the
network: one autoencoder for DSC-Net, one per modality for DMSC.
"""

import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from scipy.sparse.linalg import svds
from sklearn.cluster import SpectralClustering
from sklearn.preprocessing import normalize
from sklearn.utils._param_validation import Interval, StrOptions

from ..base import AutoencoderClusterMixin, BaseDeepCluster
from ..nn import FeatureMapAutoencoder, SelfExpressive
from ..nn.multimodal import FUSION_FUNCTIONS, FUSIONS, MultimodalAutoencoder
from ..training import LossAccumulator, PlateauStop, TrainStep, minibatches, pretrain_autoencoder

__all__ = ["DSCNet", "DMSC", "threshold_coefficients", "subspace_affinity", "estimate_memory"]


# -- post-processing of C (as in the DSC-Net / DMSC code) ----------------------------------------
def threshold_coefficients(C, ratio):
    """Keep, in each column of ``C``, the largest entries holding a fraction ``ratio`` of its l1 mass.

    Column ``i`` is sorted by magnitude; the shortest prefix whose cumulative
    sum is strictly greater than ``ratio * ||C[:, i]||_1`` keeps its signed
    values, the rest becomes 0. ``ratio >= 1`` returns ``C`` unchanged
    (``thrC`` of the authors' code).
    """
    C = np.asarray(C, dtype=np.float64)
    if ratio >= 1:
        return C.copy()
    A = np.abs(C)
    order = np.argsort(-A, axis=0, kind="stable")
    ranked = np.take_along_axis(A, order, axis=0)
    before = np.cumsum(ranked, axis=0) - ranked  # mass of the larger entries
    # An entry is kept while the mass before it has not yet exceeded the target.
    keep_ranked = before <= ratio * A.sum(axis=0)
    keep_ranked[0] = True
    keep = np.zeros_like(keep_ranked)
    np.put_along_axis(keep, order, keep_ranked, axis=0)
    return np.where(keep, C, 0.0)


def subspace_affinity(C, n_clusters, subspace_dim, power, unit_diagonal=False):
    """The DSC-Net affinity of a coefficient matrix (``post_proC`` of the authors' code).

    ``C`` is symmetrised (and with ``unit_diagonal`` its diagonal set to 1, as
    the authors' COIL20 code does), its top ``r = min(subspace_dim *
    n_clusters + 1, n - 1)`` singular vectors are scaled by the square roots
    of their singular values and normalised row-wise to ``U``; the affinity is
    ``W = |max(U U^T, 0)|^power``, scaled to a maximum of 1 and symmetrised.
    """
    C = np.asarray(C, dtype=np.float64)
    n = C.shape[0]
    C = 0.5 * (C + C.T)
    if unit_diagonal:
        np.fill_diagonal(C, 1.0)
    r = max(1, min(subspace_dim * n_clusters + 1, n - 1))
    if r >= n - 1 or n < 3:
        U, S, _ = np.linalg.svd(C)
        U, S = U[:, :r], S[:r]
    else:
        U, S, _ = svds(C, r, v0=np.ones(n))
        U, S = U[:, ::-1], S[::-1]
    U = normalize(U * np.sqrt(S), axis=1)
    Z = U @ U.T
    Z = Z * (Z > 0)
    L = np.abs(Z**power)
    L = L / max(L.max(), np.finfo(float).tiny)
    return 0.5 * (L + L.T)


def estimate_memory(n_samples):
    """Bytes a full self-expressive fit on ``n_samples`` needs: ``(device, host)``.

    On the device: the ``n x n`` layer, its zero-diagonal view, their
    gradients and Adam's moments (6 float32 copies). On the host, the
    post-processing in float64 (C, its threshold, symmetrisation, ``U U^T``,
    the affinity and spectral clustering's Laplacian: 6 copies).
    """
    return SelfExpressive.memory_bytes(n_samples), 6 * 8 * int(n_samples) ** 2


_GIB = 2**30


# -- the shared estimator ------------------------------------------------------------------------
class _SelfExpressiveClustering(BaseDeepCluster):
    """Fine-tuning with a self-expressive layer, post-processing, landmarks and out-of-sample coding."""

    _subspace_constraints = {
        "regularization": [StrOptions({"l1", "l2"})],
        "pretrain_n_iter_no_change": [Interval(Integral, 1, None, closed="left"), None],  # PlateauStop
        "pretrain_tol": [Interval(Real, 0, 1, closed="left")],
        "coefficient_weight": [Interval(Real, 0, None, closed="left")],
        "self_expression_weight": [Interval(Real, 0, None, closed="left")],
        "coefficient_init": [Interval(Real, None, None, closed="neither")],
        "zero_diagonal": ["boolean"],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "thresh_ratio": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "subspace_dim": [Interval(Integral, 1, None, closed="left")],
        "affinity_power": [Interval(Real, 0, None, closed="neither")],
        "unit_diagonal": ["boolean"],
        "n_landmarks": [Interval(Integral, 2, None, closed="left"), None],
        "ridge": [Interval(Real, 0, None, closed="neither")],
        "max_memory_gb": [Interval(Real, 0, None, closed="neither")],
    }

    #: predict codes blocks of rows against every landmark: keep blocks moderate.
    _inference_batch_size = 2048

    # subclasses: self.network_ with codes(x) -> [Z_m], reconstruct([CZ_m]) -> [X_hat_m], split(x) -> [X_m]
    def _view_weights(self):
        return None, None

    def _plateau_stop(self):
        """The pretraining's stop once the error is flat (``pretrain_n_iter_no_change``), or None."""
        if self.pretrain_n_iter_no_change is None:
            return None
        return PlateauStop(self.pretrain_n_iter_no_change, self.pretrain_tol)

    def _check_feasible(self, n):
        """Raise before pretraining when the fit cannot succeed: an l1 penalty with a free diagonal, or too many samples."""
        if self.regularization == "l1" and not self.zero_diagonal:
            raise ValueError(
                "regularization='l1' needs zero_diagonal=True: with a free diagonal C = I is a trivial solution."
            )
        device_bytes, host_bytes = estimate_memory(n)
        limit = self.max_memory_gb * _GIB
        if max(device_bytes, host_bytes) > limit:
            largest = int(math.sqrt(limit / 48))
            raise ValueError(
                f"{type(self).__name__} on {n} samples needs an {n} x {n} coefficient matrix: about "
                f"{device_bytes / _GIB:.1f} GiB on the device and {host_bytes / _GIB:.1f} GiB on the host, "
                f"over max_memory_gb={self.max_memory_gb:g}. Set n_landmarks (for example n_landmarks={largest}) "
                "for the scalable mode, which self-expresses a subset and codes the rest, or raise max_memory_gb."
            )

    def _memory_estimate(self, n_samples, n_features):
        n = n_samples if self.n_landmarks is None else min(self.n_landmarks, n_samples)
        need = estimate_memory(n)[0] + 4 * n_samples * n_features
        advice = "set n_landmarks (the scalable mode)" if self.n_landmarks is None else "lower n_landmarks"
        return need, f"the {n} x {n} self-expressive layer (with its gradients and Adam moments) and the data", advice

    def _fit_subspace(self, X, log):
        """Everything after pretraining: landmarks, fine-tuning, affinity, spectral clustering, coding."""
        n = X.shape[0]
        landmarks = None
        if self.n_landmarks is not None and self.n_landmarks < n:
            if self.n_landmarks < self.n_clusters:
                raise ValueError(f"n_landmarks={self.n_landmarks} is smaller than n_clusters={self.n_clusters}.")
            landmarks = torch.randperm(n, device=X.device)[: self.n_landmarks].sort().values
        XL = X if landmarks is None else X[landmarks]
        self._check_feasible(XL.shape[0])
        C = self._fine_tune(XL, log)
        C = threshold_coefficients(C, self._thresh_ratio())
        affinity = subspace_affinity(C, self.n_clusters, self.subspace_dim, self.affinity_power, self.unit_diagonal)
        del C
        spectral = SpectralClustering(
            n_clusters=self.n_clusters,
            affinity="precomputed",
            eigen_solver="arpack",
            assign_labels="discretize",
            random_state=self._seed,
        )
        labels = spectral.fit_predict(affinity)
        del affinity
        self.network_.eval()
        self._fit_coding(XL, torch.as_tensor(labels.astype(np.int64), device=X.device))
        if landmarks is None:
            self.labels_ = labels.astype(np.int64)
        else:
            self.landmark_indices_ = landmarks.cpu().numpy()
            full = self._batched(self._assign, X)
            full[landmarks] = self._landmark_labels
            self.labels_ = full.cpu().numpy()

    def _self_expression_weight(self):
        """lambda2."""
        return self.self_expression_weight

    def _thresh_ratio(self):
        """rho; ``"auto"``: ``max(0.4 - 0.1 floor((K - 1) / 10), 0.1)``, the Extended Yale B and DMSC codes' rule."""
        if self.thresh_ratio == "auto":
            return max(0.4 - 0.1 * ((self.n_clusters - 1) // 10), 0.1)
        return self.thresh_ratio

    def _fine_tune(self, X, log):
        """Full-batch Adam on ``w_r/2 ||X - X_hat||^2 + lambda1 ||C||_p + lambda2/2 ||Z - C Z||^2`` (sums)."""
        n = X.shape[0]
        layer = SelfExpressive(n, init=self.coefficient_init, zero_diagonal=self.zero_diagonal).to(X.device)
        self.network_.train()
        params = [*self.network_.parameters(), *layer.parameters()]
        cuda = {"fused": True, "capturable": True} if X.device.type == "cuda" else {}
        optimizer = torch.optim.Adam(params, lr=self.lr, **cuda)
        p = 1 if self.regularization == "l1" else 2
        recon_w, selfexp_w = self._view_weights()
        lambda1, lambda2 = self.coefficient_weight, self._self_expression_weight()
        net = self.network_

        def loss_fn(x):
            codes = net.codes(x)
            expressed = [layer(z) for z in codes]
            # The decoder sees only the self-expressed codes, as in the authors' code.
            views = net.split(x)
            reconstruction = sum(
                w * 0.5 * (v - v_hat).pow(2).sum() for w, v, v_hat in zip(recon_w, views, net.reconstruct(expressed))
            )
            self_expression = sum(w * 0.5 * (z - cz).pow(2).sum() for w, z, cz in zip(selfexp_w, codes, expressed))
            coefficients = layer.penalty(p)
            loss = reconstruction + lambda1 * coefficients + lambda2 * self_expression
            return loss, {
                "reconstruction": reconstruction / n,
                "coefficients": coefficients / n,
                "self_expression": self_expression / n,
            }

        step = TrainStep(loss_fn, optimizer)
        losses = LossAccumulator()
        with log.phase("self_expression", total=self.max_iter):
            for _ in range(self.max_iter):
                losses.add(1, **step(X))
                log.record("self_expression", **losses.means())
        self.n_iter_ = self.max_iter
        return layer.coefficients().detach().cpu().double().numpy()

    # -- out-of-sample: ridge coding over the training codes, then the class residual ----------------
    def _fit_coding(self, X, labels):
        """Store the training codes and ``W = (Z^T Z + lambda I)^-1`` for :meth:`_assign`."""
        Z = self._batched(self.network_.encode, X).double()
        gram = Z.T @ Z
        scale = gram.diagonal().mean()
        if not scale > torch.finfo(torch.float32).tiny:  # every code is zero (or as good as)
            warnings.warn(
                f"{type(self).__name__}: every training code is zero after fine-tuning (dead ReLU units), so C and "
                "the labels carry no information; try another random_state or a smaller self_expression_weight.",
                RuntimeWarning,
                stacklevel=4,
            )
            scale = torch.ones_like(scale)
        eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
        self._ridge_inverse = torch.linalg.inv(gram + self.ridge * scale * eye).float()
        self._codes = Z.float()
        self._landmark_labels = labels
        self._one_hot = torch.nn.functional.one_hot(labels, self.n_clusters).float()

    def _assign(self, X):
        """Label of the cluster whose training samples best reconstruct the ridge code of each row.

        ``c = Z_train (Z_train^T Z_train + lambda I)^-1 z`` is the ridge
        self-expression of the new code ``z`` over the training codes (the
        Woodbury form of ``(Z Z^T + lambda I)^-1 Z z``: no ``n x n`` matrix);
        the label is ``argmin_k ||z - sum_{j in k} c_j z_j||``.
        """
        z = self.network_.encode(X)
        coef = (z @ self._ridge_inverse) @ self._codes.T  # (batch, n_train)
        residuals = torch.stack(
            [(z - (coef * self._one_hot[:, k]) @ self._codes).pow(2).sum(1) for k in range(self.n_clusters)], dim=1
        )
        return residuals.argmin(1)

    def _embed(self, X):
        return self.network_.encode(X)

    @property
    def _n_features_out(self):
        return self.network_.n_components


_COMMON_PARAMS = """    regularization : {"l2", "l1"}, default="l2"
        The norm ``p`` of the coefficient penalty: ``"l2"`` is the squared
        Frobenius norm (the released DSC-Net-L2), ``"l1"`` the entrywise l1 norm.
    coefficient_weight : float, default={default}
        :math:`\\lambda_1`, weight of :math:`\\|C\\|_p`.
    self_expression_weight : float, default={default}
        :math:`\\lambda_2`, weight of :math:`\\frac12\\|Z - CZ\\|_F^2`.
    coefficient_init : float, default={default}
        Initial value of every entry of :math:`C`.
    zero_diagonal : bool, default=True
        Zero the diagonal of :math:`C`, so no sample expresses itself (the
        paper's constraint). False keeps it trainable, as the released
        DSC-Net-L2 code does; with ``regularization="l1"`` it must stay True.
    {pretrain_epochs, pretrain_lr, batch_size_pretrain}
    max_iter : int, default={default}
        Full-batch Adam steps of the fine-tuning with the self-expressive layer
        (the authors' codes run 30 for COIL20, 700 for ORL and 1000 for DMSC's
        data sets).
    lr : float, default=1e-3
        Adam learning rate of the fine-tuning.
    thresh_ratio : float or "auto", default={default}
        :math:`\\rho`: each column of :math:`C` keeps its largest entries up to
        this fraction of its l1 mass (``>= 1`` keeps everything). ``"auto"``
        is the rule of the authors' Extended Yale B and DMSC codes,
        :math:`\\max(0.4 - 0.1 \\lfloor (K - 1) / 10 \\rfloor, 0.1)` (their
        Python 2 division floors): 0.4 for up to 10 clusters.
    subspace_dim : int, default={default}
        :math:`d`, the assumed dimension of each subspace: the affinity uses
        the top :math:`d K + 1` singular vectors of the symmetrised :math:`C`.
    affinity_power : float, default={default}
        :math:`\\alpha`, the power applied to the affinity.
    unit_diagonal : bool, default={default}
        Set the diagonal of the symmetrised :math:`C` to 1 before its SVD, as
        the authors' DSC-Net COIL20 code does ("for sparse C, this step will
        make the algorithm more numerically stable"); their ORL, COIL100,
        Extended Yale B and DMSC codes do not.
    n_landmarks : int or None, default=None
        Scalable mode: when set and smaller than the number of samples, the
        autoencoder is pretrained on all samples, but the self-expressive
        layer is fitted on ``n_landmarks`` random samples only
        (``n_landmarks^2`` coefficients), which are spectrally clustered; every
        other sample is labelled by the out-of-sample rule (see Notes).
    ridge : float, default=1e-3
        Ridge of the out-of-sample coding, relative to the mean squared code entry.
    max_memory_gb : float, default=32.0
        Refuse a full fit whose ``n x n`` matrices would need more than this
        many GiB on the device or the host (raising before allocating them);
        the error names the ``n_landmarks`` that fits.
    {divergence_retries, device, random_state, verbose}
"""

_COMMON_ATTRS = """    labels_ : ndarray of shape (n_samples,)
        Spectral clustering of the self-expressive affinity (landmarks), and
        the out-of-sample rule for the other samples in the scalable mode.
    network_ : torch.nn.Module
        The fine-tuned network.
    landmark_indices_ : ndarray
        Rows self-expressed in the scalable mode (only set there).
    history_ : dict
        Per-epoch loss terms: ``"pretrain"`` and ``"self_expression"``
        (``reconstruction``, ``coefficients``, ``self_expression``, each divided by n).
    n_iter_ : int
        Fine-tuning steps run.
    {n_features_in_, feature_names_in_, device_}
    {learning_rate_scale_, divergence_restarts_}
"""

_COMMON_NOTES = """    Transductive by nature: ``labels_`` (``fit_predict``) are the method's
    output. ``predict`` on new rows codes each new code :math:`z` over the
    training codes by ridge regression,
    :math:`c = Z_{tr}(Z_{tr}^\\top Z_{tr} + \\lambda I)^{-1} z`, and returns the
    cluster whose training samples reconstruct :math:`z` best,
    :math:`\\arg\\min_k \\|z - \\sum_{j \\in k} c_j z_j\\|` (the "coding,
    classifying" step of Peng et al., 2016). ``predict`` on the training rows
    may therefore differ from ``labels_`` in places.

    Memory: :math:`C` has :math:`n^2` entries (MNIST-full: 4.9e9). Before
    allocating it the fit estimates the device and host memory and raises a
    ValueError over ``max_memory_gb``; ``n_landmarks`` is the scalable mode.

    All loss terms are sums, as in the authors' code, so the weights depend on
    the data scale; the defaults suit features in about [0, 1].
"""


# -- DSC-Net ---------------------------------------------------------------------------------------
_PRETRAIN_UNTIL_CONVERGED = """    pretrain_epochs : int, default={default}
        Most epochs of autoencoder pretraining (mini-batch Adam, mean squared
        reconstruction error); it ends earlier once the error has stopped
        falling (``pretrain_n_iter_no_change``).
    pretrain_n_iter_no_change : int or None, default={default}
        Pretraining ends after this many epochs in a row that do not lower
        the best reconstruction error so far by a fraction ``pretrain_tol``
        (:class:`~skdeepcluster.training.PlateauStop`): the authors pretrain
        until the reconstructions are good. None runs all ``pretrain_epochs``.
    {pretrain_tol, pretrain_lr, batch_size_pretrain}
"""


class DSCNet(AutoencoderClusterMixin, _SelfExpressiveClustering):
    __doc__ = (
        """Deep Subspace Clustering Networks (Ji, Zhang, Li, Salzmann and Reid, 2017).

    An autoencoder (convolutional when ``image_shape`` is given) with a
    self-expressive layer between encoder and decoder: a learnable
    :math:`n \\times n` matrix :math:`C` with zero diagonal rewrites every
    code as a combination of the others, :math:`Z \\approx CZ` (rows are
    samples), and the decoder reconstructs :math:`X` from :math:`CZ`. After
    pretraining the plain autoencoder, the network and :math:`C` are
    fine-tuned on the full batch with

    .. math:: L = \\tfrac12 \\|X - \\hat X\\|_F^2 + \\lambda_1 \\|C\\|_p
              + \\tfrac{\\lambda_2}{2} \\|Z - CZ\\|_F^2,
              \\quad \\hat X = g(C f(X)), \\quad \\operatorname{diag}(C) = 0,

    with :math:`p = 2` (squared Frobenius) or :math:`p = 1`. :math:`C` is then
    post-processed as in the authors' code: each column keeps its largest
    entries up to a fraction :math:`\\rho` of its l1 mass, :math:`C` is
    symmetrised, its top :math:`dK+1` singular vectors scaled by
    :math:`\\sqrt{\\sigma}` and row-normalised give :math:`U`, and the
    affinity :math:`W = [UU^\\top]_+^{\\alpha}` goes to scikit-learn's
    ``SpectralClustering(affinity="precomputed")``.

    Parameters
    ----------
    {n_clusters, hidden_dims}
    n_components : int, default=32
        Width of the code :math:`z = f(x)` of the fully connected
        autoencoder. Ignored when ``image_shape`` is given, where the code is
        the last feature map.
    image_shape : tuple of int or None, default=None
        ``(channels, height, width)`` of each row; when given, the
        autoencoder is the paper's convolutional one
        (:class:`~skdeepcluster.nn.FeatureMapAutoencoder`), whose code is its
        last feature map, flattened.
    channels : tuple of int, default=(15,)
        Output channels of each stride-2 convolution of that autoencoder
        (the paper's COIL20 network: one layer of 15; its ORL network has
        three).
    kernel_sizes : tuple of int, default=(3,)
        Kernel size of each of those convolutions (odd).
    {autoencoder, pretrain_callbacks}
"""
        + _COMMON_PARAMS.replace("    {pretrain_epochs, pretrain_lr, batch_size_pretrain}\n", _PRETRAIN_UNTIL_CONVERGED)
        + """
    Attributes
    ----------
"""
        + _COMMON_ATTRS
        + """    autoencoder_ : torch.nn.Module
        The same module as ``network_``.
    {pretrain_history_, pretrain_restarts_}

    See Also
    --------
    DMSC : the multimodal version.

    Notes
    -----
"""
        + _COMMON_NOTES
        + """
    Defaults: the authors' COIL20 experiment throughout, the one of their
    settings made for features in [0, 1] (COIL20's pixels are): its network
    (one 3x3 layer of 15 channels), :math:`\\lambda_1 = 1`,
    :math:`\\lambda_2 = 150`, :math:`C` starting at 1e-8 everywhere, 30
    fine-tuning steps at learning rate 1e-3,
    and the post-processing :math:`\\rho = 0.04, d = 12, \\alpha = 8`, all
    but one step of it: the COIL20 code alone (not its ORL, COIL100,
    Extended Yale B or DMSC codes) sets the diagonal of the symmetrised
    :math:`C` to 1 before the SVD (``unit_diagonal=True``). Off by default:
    with it the defaults no longer cluster three small blobs (ARI 0.19
    against 0.94 without), since the unit diagonal outweighs coefficients
    of a few hundredths after 30 steps. Their other settings: ORL (pixels
    in 0-255; three 3x3 layers of 3, 3 and 5 channels)
    :math:`\\lambda_2 = 0.2`, 700 steps, :math:`\\rho = 0.2, d = 3,
    \\alpha = 1`; Extended Yale B (three layers of 10, 20 and 30 channels,
    kernels 5, 3, 3) :math:`\\lambda_2 = 10^{K/10 - 3}`, :math:`50 + 25K`
    steps, :math:`\\rho` by ``thresh_ratio="auto"``, :math:`d = 10, \\alpha = 3.5`.

    Deviations: the diagonal of :math:`C` is zeroed for both norms (the
    released L2 code does not zero it, the paper's L1 model does;
    ``zero_diagonal=False`` follows the code); without
    ``image_shape`` the autoencoder is fully connected; the reconstruction
    term is the paper's :math:`\\tfrac12 \\|X - \\hat X\\|^2` (the ORL code's;
    the COIL20 code drops the 1/2). The authors restore a pretraining
    checkpoint they stopped "once the reconstructed images are reasonably
    good (visually)"; the autoencoder they released for COIL20 reconstructs
    it to a mean squared error of 4e-7, a pretraining run to convergence.
    Ours runs mini-batch Adam until the reconstruction error has not fallen
    by 0.1 % for 50 epochs in a row, at most 2000 epochs
    (``pretrain_n_iter_no_change``, ``pretrain_tol``, ``pretrain_epochs``;
    100 fixed epochs until session 22).

    References
    ----------
    .. [1] P. Ji, T. Zhang, H. Li, M. Salzmann and I. Reid, "Deep subspace
       clustering networks", NeurIPS 2017.
    .. [2] X. Peng, H. Tang, L. Zhang, Z. Yi and S. Xiao, "A unified framework
       for representation-based subspace clustering of out-of-sample and
       large-scale data", IEEE TNNLS 2016.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skdeepcluster import DSCNet
    >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    >>> model = DSCNet(n_clusters=3, hidden_dims=(16,), n_components=4,
    ...                pretrain_epochs=5, max_iter=10, device="cpu", random_state=0)
    >>> model.fit_predict(X).shape
    (60,)
    """
    )

    _parameter_constraints = {
        **BaseDeepCluster._parameter_constraints,
        **AutoencoderClusterMixin._autoencoder_constraints,
        **_SelfExpressiveClustering._subspace_constraints,
        "channels": [tuple, list],
        "kernel_sizes": [tuple, list],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        hidden_dims=(128,),
        n_components=32,
        image_shape=None,
        channels=(15,),
        kernel_sizes=(3,),
        regularization="l2",
        coefficient_weight=1.0,
        self_expression_weight=150.0,
        coefficient_init=1e-8,
        zero_diagonal=True,
        pretrain_epochs=2000,
        pretrain_n_iter_no_change=50,
        pretrain_tol=1e-3,
        pretrain_lr=1e-3,
        batch_size=256,
        max_iter=30,
        lr=1e-3,
        thresh_ratio=0.04,
        subspace_dim=12,
        affinity_power=8.0,
        unit_diagonal=False,
        n_landmarks=None,
        ridge=1e-3,
        max_memory_gb=32.0,
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
        self.channels = channels
        self.kernel_sizes = kernel_sizes
        self.regularization = regularization
        self.coefficient_weight = coefficient_weight
        self.self_expression_weight = self_expression_weight
        self.coefficient_init = coefficient_init
        self.zero_diagonal = zero_diagonal
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_n_iter_no_change = pretrain_n_iter_no_change
        self.pretrain_tol = pretrain_tol
        self.pretrain_lr = pretrain_lr
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.lr = lr
        self.thresh_ratio = thresh_ratio
        self.subspace_dim = subspace_dim
        self.affinity_power = affinity_power
        self.unit_diagonal = unit_diagonal
        self.n_landmarks = n_landmarks
        self.ridge = ridge
        self.max_memory_gb = max_memory_gb
        self.autoencoder = autoencoder
        self.pretrain_callbacks = pretrain_callbacks
        self.divergence_retries = divergence_retries
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _view_weights(self):
        return [1.0], [1.0]

    def _pretrain_callbacks(self):
        converged = self._plateau_stop()
        return ([("converged", converged)] if converged else []) + super()._pretrain_callbacks()

    def _build_autoencoder(self, n_features, n_components, image_shape):
        if image_shape is None:
            return super()._build_autoencoder(n_features, n_components, image_shape)
        return FeatureMapAutoencoder(image_shape, self.channels, self.kernel_sizes)

    def _fit(self, X, log):
        # Check before pretraining: a doomed fit should fail at once.
        n = X.shape[0] if self.n_landmarks is None else min(self.n_landmarks, X.shape[0])
        self._check_feasible(n)
        self.autoencoder_ = self._pretrained_autoencoder(X, log)
        self.network_ = _SingleView(self.autoencoder_)
        self._fit_subspace(X, log)

    @property
    def _n_features_out(self):
        return self._n_embedding()


class _SingleView(torch.nn.Module):
    """An autoencoder seen through the multimodal interface (one modality)."""

    def __init__(self, autoencoder):
        super().__init__()
        self.autoencoder = autoencoder
        self.n_components = getattr(autoencoder, "n_components", None)

    def split(self, x):
        return [x]

    def codes(self, x):
        return [self.autoencoder.encode(x)]

    def reconstruct(self, codes):
        return [self.autoencoder.decode(codes[0])]

    def encode(self, x):
        return self.autoencoder.encode(x)


# -- DMSC ------------------------------------------------------------------------------------------
def _is_view_list(X):
    return isinstance(X, (list, tuple)) and len(X) > 0 and all(getattr(a, "ndim", 0) == 2 for a in X)


_DMSC_PRETRAIN = """    pretrain_epochs : int, default={default}
        Epochs of pretraining (Adam on the modalities' mean squared
        reconstruction errors, weighted by :math:`a_m`); with
        ``batch_size=None`` an epoch is one step (the authors' script runs
        150,000 such steps).
    pretrain_n_iter_no_change : int or None, default={default}
        When set, pretraining ends after this many epochs in a row that do
        not lower the best reconstruction error so far by a fraction
        ``pretrain_tol`` (:class:`~skdeepcluster.training.PlateauStop`, as
        in :class:`DSCNet`); ``pretrain_epochs`` is then the most it runs.
    {pretrain_tol, pretrain_lr}
    batch_size : int or None, default={default}
        Mini-batch size of the pretraining; None takes the whole data set, as
        the authors' code does (the fine-tuning is full batch either way).
"""


class DMSC(_SelfExpressiveClustering):
    __doc__ = (
        """Deep Multimodal Subspace Clustering networks (Abavisani and Patel, 2018).

    DSC-Net for several modalities of the same samples: one encoder and one
    decoder per modality (weights not shared). With spatial fusion the
    modalities are fused into one code that feeds one self-expressive layer
    (``fusion="early"``: fuse the inputs; ``"intermediate"``: fuse the
    modalities' first-layer features; ``"late"``: fuse the codes; each with
    ``fusion_function`` ``"sum"``, ``"max"`` or ``"concat"``), and every
    modality's decoder reconstructs it from the self-expressed fused code:

    .. math:: L = \\sum_m \\frac{a_m}{2} \\|X_m - \\hat X_m\\|_F^2 + \\lambda_1 \\|C\\|_p
              + \\frac{\\lambda_2}{2} \\|Z - CZ\\|_F^2.

    With ``fusion="affinity"`` each modality keeps its own code :math:`Z_m`,
    and all share one :math:`C`:

    .. math:: L = \\sum_m \\frac{a_m}{2} \\|X_m - g_m(C Z_m)\\|_F^2 + \\lambda_1 \\|C\\|_p
              + \\sum_m \\frac{\\lambda_2 b_m}{2} \\|Z_m - CZ_m\\|_F^2.

    :math:`C` is post-processed and spectrally clustered as in :class:`DSCNet`.

    The modalities are column blocks of ``X``: ``view_sizes=[784, 784]``
    means columns 0-783 and 784-1567 (this works in pipelines, grid search
    and ``check_estimator``). A list of 2-D arrays with the same number of
    rows is also accepted by ``fit``, ``predict`` and ``transform``; it is
    stacked side by side.

    Parameters
    ----------
    {n_clusters}
    view_sizes : sequence of int or None, default=None
        Width of each modality's column block; one entry may be ``-1`` for
        "the remaining columns". None: one modality (DSC-Net with this
        module's network), or the widths of the arrays when ``X`` is a list.
    fusion : {"affinity", "early", "intermediate", "late"}, default="affinity"
        Where the modalities meet (see above).
    fusion_function : {"sum", "max", "concat"}, default="sum"
        How spatial fusion combines them (ignored by ``"affinity"``).
    reconstruction_weights : sequence of float or None, default=None
        :math:`a_m`, one per modality. None: the authors' code's, 1.2 for the
        first modality and 0.2 for each other (its 0.6 and 0.1 weigh sums of
        squares without the 1/2 of the formula above).
    self_expression_weights : sequence of float or None, default=None
        :math:`b_m` of affinity fusion, one per modality. None: the code's,
        0.6 for the first and 0.1 for each other (its 0.3 and 0.05).
    hidden_dims : sequence of int, default=(128,)
        Hidden widths of each modality's fully connected encoder.
    n_components : int, default=32
        Width of the code of each fully connected encoder.
    image_shape : tuple, sequence of (tuple or None), or None, default=None
        ``(channels, height, width)`` of every modality, or one entry per
        modality; image modalities get the paper's convolutional autoencoder
        (:class:`~skdeepcluster.nn.FeatureMapAutoencoder`, no linear layer:
        the code is its last feature map).
    channels : tuple of int, default=(10, 20, 30)
        Output channels of each convolution of an image modality's encoder
        (the authors' code).
    kernel_sizes : tuple of int, default=(5, 3, 3)
        Their kernel sizes (odd).
    strides : tuple of int, default=(2, 1, 2)
        Their strides.
"""
        + _COMMON_PARAMS.replace("self_expression_weight : float,", 'self_expression_weight : float or "auto",').replace(
            "    {pretrain_epochs, pretrain_lr, batch_size_pretrain}\n", _DMSC_PRETRAIN
        )
        + """
    Attributes
    ----------
"""
        + _COMMON_ATTRS
        + """    view_sizes_ : list of int
        The width of each modality used in fit.
    coefficient_shared_ : bool
        Always True: one self-expressive layer serves every modality.
    {pretrain_restarts_}

    See Also
    --------
    DSCNet : the single-modality method.

    Notes
    -----
"""
        + _COMMON_NOTES
        + """
    Defaults: the authors' code's post-processing (``thresh_ratio="auto"``,
    :math:`d = 6`, :math:`\\alpha = 8`), its 1000 fine-tuning steps, :math:`C`
    starting at 1e-4, and its weights (since session 21): the first modality
    above the others (``reconstruction_weights``,
    ``self_expression_weights``), :math:`\\lambda_2 = 10^{K/10 - 3}`
    (``self_expression_weight="auto"``) and :math:`\\lambda_1 = 1/255^2`. The
    code weighs :math:`\\|C\\|_F^2` by 1 on pixels in 0-255, as its README
    asks the data to be; the squared errors of features in [0, 1] are
    :math:`255^2` times smaller, so :math:`\\lambda_1 = 1/255^2` keeps its
    balance of the terms (exactly so, up to Adam's epsilon, for a network
    without biases, whose codes scale with its input).

    Deviations: the authors' code releases affinity fusion only (with
    convolutional encoders, whose network ``image_shape`` gives each image
    modality); the spatial fusions here follow the paper's
    description with fully connected stems for ``"intermediate"`` and a linear
    adapter in front of each decoder when the fused code is not as wide as
    that modality's own code (``concat``, or the stems' code of width
    ``n_components`` before convolutional decoders). The code's pretraining
    script runs 150,000 full-batch Adam steps (its batch is the whole data
    set) and passes the codes through a trainable C with no penalty, which
    fine-tuning discards; as it shuffles the rows at every step, C cannot
    follow the samples, and what serves every order,
    :math:`aI + b\\mathbf{1}\\mathbf{1}^\\top`, the decoder can absorb.
    Ours pretrains without C for 100 epochs of mini-batches of 256, on each
    modality's mean squared error weighted (the code weighs sums, which
    differ when the modalities differ in width): too short by the code's
    measure, but fit for a CPU. Full batch on the code's sums until the
    error stopped falling (``batch_size=None, pretrain_n_iter_no_change=50,
    pretrain_epochs=150000``; session 22, commit c374698) ran 2,456 to
    3,578 steps, 6 minutes a fit on 2 CPU cores for one modality of digits
    and over 9 for two, and clustered no better on the four fits that
    finished (``benchmarks/results/dmsc_full_batch_pretraining.csv``).

    References
    ----------
    .. [1] M. Abavisani and V. M. Patel, "Deep multimodal subspace clustering
       networks", IEEE Journal of Selected Topics in Signal Processing,
       12(6):1601-1614, 2018.
    .. [2] P. Ji, T. Zhang, H. Li, M. Salzmann and I. Reid, "Deep subspace
       clustering networks", NeurIPS 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_blobs
    >>> from skdeepcluster import DMSC
    >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    >>> views = [X, np.abs(X)]
    >>> model = DMSC(n_clusters=3, hidden_dims=(16,), n_components=4, pretrain_epochs=5,
    ...              max_iter=10, device="cpu", random_state=0)
    >>> model.fit_predict(views).shape
    (60,)
    >>> model.view_sizes_
    [2, 2]
    """
    )

    _parameter_constraints = {
        **BaseDeepCluster._parameter_constraints,
        **_SelfExpressiveClustering._subspace_constraints,
        "view_sizes": [list, tuple, None],
        "fusion": [StrOptions(set(FUSIONS))],
        "fusion_function": [StrOptions(set(FUSION_FUNCTIONS))],
        "reconstruction_weights": [list, tuple, None],
        "self_expression_weights": [list, tuple, None],
        "self_expression_weight": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "hidden_dims": [tuple, list],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "image_shape": [tuple, list, None],
        "channels": [tuple, list],
        "kernel_sizes": [tuple, list],
        "strides": [tuple, list],
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left")],
        "pretrain_lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        view_sizes=None,
        fusion="affinity",
        fusion_function="sum",
        reconstruction_weights=None,
        self_expression_weights=None,
        hidden_dims=(128,),
        n_components=32,
        image_shape=None,
        channels=(10, 20, 30),
        kernel_sizes=(5, 3, 3),
        strides=(2, 1, 2),
        regularization="l2",
        coefficient_weight=1 / 255**2,
        self_expression_weight="auto",
        coefficient_init=1e-4,
        zero_diagonal=True,
        pretrain_epochs=100,
        pretrain_n_iter_no_change=None,
        pretrain_tol=1e-3,
        pretrain_lr=1e-3,
        batch_size=256,
        max_iter=1000,
        lr=1e-3,
        thresh_ratio="auto",
        subspace_dim=6,
        affinity_power=8.0,
        unit_diagonal=False,
        n_landmarks=None,
        ridge=1e-3,
        max_memory_gb=32.0,
        divergence_retries=0,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_clusters = n_clusters
        self.view_sizes = view_sizes
        self.fusion = fusion
        self.fusion_function = fusion_function
        self.reconstruction_weights = reconstruction_weights
        self.self_expression_weights = self_expression_weights
        self.hidden_dims = hidden_dims
        self.n_components = n_components
        self.image_shape = image_shape
        self.channels = channels
        self.kernel_sizes = kernel_sizes
        self.strides = strides
        self.regularization = regularization
        self.coefficient_weight = coefficient_weight
        self.self_expression_weight = self_expression_weight
        self.coefficient_init = coefficient_init
        self.zero_diagonal = zero_diagonal
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_n_iter_no_change = pretrain_n_iter_no_change
        self.pretrain_tol = pretrain_tol
        self.pretrain_lr = pretrain_lr
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.lr = lr
        self.thresh_ratio = thresh_ratio
        self.subspace_dim = subspace_dim
        self.affinity_power = affinity_power
        self.unit_diagonal = unit_diagonal
        self.n_landmarks = n_landmarks
        self.ridge = ridge
        self.max_memory_gb = max_memory_gb
        self.divergence_retries = divergence_retries
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # -- several modalities in, one 2-D X for the base class -----------------------------------------
    def _stack_views(self, X, fitting):
        if not _is_view_list(X):
            return X, None
        rows = {len(a) for a in X}
        if len(rows) != 1:
            raise ValueError(f"The modalities in X have different numbers of rows: {[len(a) for a in X]}.")
        sizes = [int(a.shape[1]) for a in X]
        if fitting and self.view_sizes is not None and self._resolve_view_sizes(sum(sizes)) != sizes:
            raise ValueError(f"view_sizes={list(self.view_sizes)} does not match the widths of the modalities {sizes}.")
        if not fitting and sizes != self.view_sizes_:
            raise ValueError(f"The modalities have widths {sizes}, but the model was fitted on {self.view_sizes_}.")
        return np.hstack([np.asarray(a) for a in X]), sizes

    def fit(self, X, y=None, **fit_params):
        """Fit the model to ``X`` (modalities as column blocks, or a list of 2-D arrays).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or list of arrays
            Training data: modalities side by side (see ``view_sizes``), or
            one 2-D array per modality with the same number of rows.
        y : Ignored
            Not used, present for API consistency.
        **fit_params : dict
            Not used.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        X, self._list_sizes = self._stack_views(X, fitting=True)
        try:
            return super().fit(X, y, **fit_params)
        finally:
            del self._list_sizes

    def transform(self, X):
        X, _ = self._stack_views(X, fitting=False)
        return super().transform(X)

    transform.__doc__ = BaseDeepCluster.transform.__doc__

    def predict(self, X):
        X, _ = self._stack_views(X, fitting=False)
        return super().predict(X)

    predict.__doc__ = BaseDeepCluster.predict.__doc__

    def _resolve_view_sizes(self, n_features):
        if self.view_sizes is None:
            return [n_features]
        sizes = [int(s) for s in self.view_sizes]
        if not sizes or any(s == 0 or s < -1 for s in sizes) or sizes.count(-1) > 1:
            raise ValueError(f"view_sizes must be positive ints with at most one -1, got {list(self.view_sizes)}.")
        if -1 in sizes:
            rest = n_features - sum(s for s in sizes if s != -1)
            if rest < 1:
                raise ValueError(
                    f"view_sizes={list(self.view_sizes)} needs more than {n_features - rest} features, "
                    f"but X has {n_features} feature(s)."
                )
            sizes[sizes.index(-1)] = rest
        if sum(sizes) != n_features:
            raise ValueError(
                f"view_sizes={list(self.view_sizes)} adds up to {sum(sizes)} features, but X has {n_features} feature(s)."
            )
        return sizes

    def _per_view(self, value, name, n_views, first, others):
        """The weights ``value``, one per modality; None: ``first`` for the first modality, ``others`` after it."""
        if value is None:
            return [first] + [others] * (n_views - 1)
        value = [float(v) for v in value]
        if len(value) != n_views:
            raise ValueError(f"{name} has {len(value)} entries, but there are {n_views} modalities.")
        if any(v < 0 for v in value):
            raise ValueError(f"{name} must be non-negative, got {value}.")
        return value

    def _image_shapes(self, sizes):
        shapes = self.image_shape
        if shapes is None:
            return [None] * len(sizes)
        if len(shapes) == 3 and all(isinstance(s, Integral) for s in shapes):
            shapes = [tuple(shapes)] * len(sizes)
        if len(shapes) != len(sizes):
            raise ValueError(f"image_shape has {len(shapes)} entries, but there are {len(sizes)} modalities.")
        out = []
        for m, (shape, size) in enumerate(zip(shapes, sizes)):
            if shape is None:
                out.append(None)
                continue
            shape = tuple(shape)
            if len(shape) != 3 or not all(isinstance(s, Integral) and s > 0 for s in shape):
                raise ValueError(f"image_shape of modality {m} must be (channels, height, width), got {shape!r}.")
            if math.prod(shape) != size:
                raise ValueError(f"image_shape {shape} of modality {m} has {math.prod(shape)} values, but the modality has {size} columns.")
            out.append(shape)
        return out

    def _view_weights(self):
        return self._recon_weights, self._selfexp_weights

    def _self_expression_weight(self):
        """lambda2; ``"auto"``: the code's :math:`10^{K/10 - 3}`."""
        if self.self_expression_weight == "auto":
            return 10 ** (self.n_clusters / 10 - 3)
        return self.self_expression_weight

    def _fit(self, X, log):
        sizes = self._list_sizes or self._resolve_view_sizes(X.shape[1])
        n_views = len(sizes)
        # None: the code's weights, 0.6 and 0.1 (reconstruction), 0.3 and 0.05 (self-expression), times 2 for our 1/2
        self._recon_weights = self._per_view(self.reconstruction_weights, "reconstruction_weights", n_views, 1.2, 0.2)
        selfexp = self._per_view(self.self_expression_weights, "self_expression_weights", n_views, 0.6, 0.1)
        if self.fusion != "affinity":
            selfexp = [1.0]  # one fused code
        self._selfexp_weights = selfexp
        n = X.shape[0] if self.n_landmarks is None else min(self.n_landmarks, X.shape[0])
        self._check_feasible(n)
        self.view_sizes_ = sizes
        self.coefficient_shared_ = True
        conv = {"channels": self.channels, "kernel_sizes": self.kernel_sizes, "strides": self.strides}
        shapes = self._image_shapes(sizes)

        def fresh():
            self.network_ = MultimodalAutoencoder(
                sizes, self.hidden_dims, self.n_components, shapes, self.fusion, self.fusion_function, conv
            ).to(X.device)
            self._pretrain(X, log)
            return self.network_, None

        self._pretrain_until_alive(X, log, fresh)
        self._fit_subspace(X, log)
        del self._recon_weights, self._selfexp_weights

    def _pretrain(self, X, log):
        """Adam on every modality's weighted mean squared reconstruction error, in mini-batches or (``batch_size=None``)
        full batch as in the code, for ``pretrain_epochs`` or until the error stops falling."""
        net = self.network_
        cuda = {"fused": True, "capturable": True} if X.device.type == "cuda" else {}
        optimizer = torch.optim.Adam(net.parameters(), lr=self.pretrain_lr, **cuda)
        weights = self._recon_weights

        def loss_fn(x):
            recon = net.reconstruct(net.codes(x))
            loss = sum(w * (v - v_hat).pow(2).mean() for w, v, v_hat in zip(weights, net.split(x), recon))
            return loss, {"reconstruction": loss}

        step = TrainStep(loss_fn, optimizer)
        losses = LossAccumulator()
        n = X.shape[0]
        full_batch = self.batch_size is None
        converged = self._plateau_stop()
        if converged is not None:
            converged.on_train_begin()
        net.train()
        with log.phase("pretrain", total=self.pretrain_epochs):
            for _ in range(self.pretrain_epochs):
                if full_batch:
                    losses.add(n, **step(X))
                else:
                    for index in minibatches(n, self.batch_size, X.device):
                        losses.add(len(index), **step(X[index]))
                epoch = losses.means()
                log.record("pretrain", **epoch)
                if converged is not None and converged.update(epoch["reconstruction"]):
                    break
