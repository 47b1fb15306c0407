"""DSCDAN: deep spectral clustering using a dual autoencoder network (Yang et al., 2019)."""

from numbers import Integral, Real

import torch
from sklearn.utils._param_validation import Interval
from torch import nn

from ..base import AutoencoderClusterMixin, BaseDeepCluster
from ..nn import (
    ConvAutoencoder,
    GlobalDiscriminator,
    LocalDiscriminator,
    Orthonorm,
    build_autoencoder,
    cluster_prior_kl,
    gaussian_prior_kl,
    knn_affinity,
    mlp,
    spectral_loss,
)
from ..losses import squared_distances
from ..training import LossAccumulator, TrainStep, kmeans_centers


def _full_batches(n_samples, batch_size, device):
    """Shuffled index batches of exactly ``min(batch_size, n_samples)`` rows (the remainder is dropped).

    Equal shapes let a CUDA graph replay every step, and the orthonormalisation
    and the kNN affinity never see a tiny trailing batch.
    """
    size = min(batch_size, n_samples)
    order = torch.randperm(n_samples, device=device)
    for start in range(0, n_samples - size + 1, size):
        yield order[start : start + size]


def _squared_error(a, b):
    """Squared error summed over features and averaged over the batch (the code's ``sum(mean(.))``)."""
    return (a - b).pow(2).sum(1).mean()


class DSCDAN(AutoencoderClusterMixin, BaseDeepCluster):
    """Deep Spectral Clustering using a Dual Autoencoder Network (Yang et al., CVPR 2019).

    An encoder :math:`f` maps a sample to its latent code :math:`z = f(x)`. A
    noisy copy :math:`\\hat z = z \\odot (1 + \\sigma \\varepsilon)`,
    :math:`\\varepsilon \\sim N(0, I)` (multiplicative Gaussian noise, the
    "noisy transformer" of the paper) is decoded by the same decoder :math:`g`
    as the clean code; this *dual* decoding makes the codes robust to noise:

    .. math:: L_r = \\|x - g(z)\\|^2 + \\delta \\, \\|g(z) - g(\\hat z)\\|^2 .

    The mutual information between the inputs and the codes is maximised with
    Deep InfoMax's Jensen-Shannon estimator (negatives: codes of other rows of
    the batch), globally with a discriminator :math:`T(x, z)` and, for the
    convolutional encoder, locally with 1x1 convolutions over an intermediate
    feature map :math:`C_{ij}(x)` concatenated with :math:`z`; the codes are
    matched to the prior :math:`N(0, I)`:

    .. math:: L_{MI} = -\\alpha \\hat I_{JSD}(x; z)
              - \\beta \\frac{1}{HW}\\sum_{ij} \\hat I_{JSD}(C_{ij}(x); z)
              + \\gamma \\, KL(q(z) \\| N(0, I)) .

    The spectral network :math:`h` maps codes to soft cluster assignments
    :math:`\\tilde Y = q(y \\mid x) = \\mathrm{softmax}(h(z)) \\in R^{m \\times K}`
    for a mini-batch of :math:`m` samples, and an orthonormalisation layer
    makes the batch outputs orthogonal, :math:`Y = \\tilde Y \\sqrt{m} (L^{-1})^T` with
    :math:`L L^T = \\tilde Y^T \\tilde Y`, so :math:`Y^T Y / m = I`. With the
    sparse affinity :math:`W` of the batch's codes (``n_neighbors`` nearest
    neighbours, :math:`W_{ij} = \\exp(-\\|z_i - z_j\\|^2 / 2\\sigma^2)`,
    :math:`\\sigma` the median distance to the ``scale_neighbor``-th neighbour)
    the spectral loss is

    .. math:: L_{sp} = \\frac{1}{m} \\sum_{i,j} W_{ij} \\|y_i - y_j\\|^2 .

    A KL term unifies the codes and the spectral network: the codes of a
    cluster should gather around that cluster's mean :math:`\\mu_c` (a unit
    Gaussian :math:`p(z \\mid c) = N(\\mu_c, I)` under a uniform
    :math:`p(c) = 1/K`), with the cluster given by the spectral network's
    :math:`q(c \\mid x) = \\tilde y_c`,

    .. math:: L_{KL} = \\frac{1}{m} \\sum_i \\Big( \\sum_c q_{ic} \\tfrac12 \\|z_i - \\mu_c\\|^2
              + \\sum_c q_{ic} \\log (K q_{ic}) \\Big)

    (see :func:`~skdeepcluster.nn.cluster_prior_kl`), with the means
    :math:`\\mu_c` learned along with the networks.

    Training has two phases: the dual autoencoder is pretrained with
    :math:`L_r + L_{MI}` for ``pretrain_epochs`` epochs, then everything is
    optimised jointly with :math:`L = L_r + L_{MI} + \\lambda L_{sp} + \\eta L_{KL}`
    for ``max_iter`` mini-batch steps. Finally the orthonormalisation factor is
    recomputed on all training samples and k-means on :math:`Y` gives the
    clusters.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters :math:`K`, also the width of the spectral embedding.
    {hidden_dims, n_components}
    image_shape : tuple of int or None, default=None
        ``(channels, height, width)`` of each row; when given, the
        convolutional autoencoder is used and the local MI term is added.
    noise_std : float, default=0.1
        Standard deviation :math:`\\sigma` of the multiplicative noise on :math:`z`.
    relative_weight : float, default=1.0
        The paper's :math:`\\delta`, weight of the relative (clean versus noisy)
        reconstruction term.
    global_mi_weight : float, default=0.01
        :math:`\\alpha`, weight of the global mutual information.
    local_mi_weight : float, default=0.01
        :math:`\\beta`, weight of the local mutual information (convolutional encoder only).
    prior_weight : float, default=0.01
        :math:`\\gamma`, weight of the prior matching towards :math:`N(0, I)`.
    spectral_weight : float, default=1.0
        :math:`\\lambda`, weight of the spectral loss in the joint phase.
    kl_weight : float, default=0.3
        :math:`\\eta`, weight of the KL term that ties the codes to the spectral
        network's clusters in the joint phase (the official code's 1.5 against
        its reconstruction weight 5); 0 turns it off.
    n_neighbors : int, default=2
        Nearest neighbours (self excluded) kept in each batch's affinity: the
        official code's ``n_nbrs=3``, which counts the sample itself and then
        removes its weight (``W - I``).
    scale_neighbor : int, default=1
        The Gaussian scale is the batch median of the distance to this
        neighbour (self excluded): the nearest other sample, SpectralNet's
        ``scale_nbr=2`` counted the same way.
    affinity_gradient : bool, default=False
        Let the spectral loss reach the encoder through the affinity, as the
        official code does (its :math:`W` is a function of the codes): the
        kept weights :math:`W_{ij}` are differentiated, which pushes apart
        neighbouring codes whose outputs differ. ``False`` (the default)
        treats :math:`W` as a constant, as SpectralNet does with its fixed
        inputs: with the gradient, the joint phase on MNIST reached the
        degenerate optimum (uniform softmax outputs, spectral loss 0; one
        seed of three put every sample in one cluster).
    spectral_hidden_dims : tuple of int, default=(1024, 1024, 512)
        Hidden ReLU layers of the spectral network :math:`h`.
    pretrain_epochs : int, default=50
        Epochs of dual autoencoder pretraining (Adam).
    {pretrain_lr}
    batch_size : int, default=256
        Mini-batch size of the pretraining.
    spectral_batch_size : int, default=1024
        Mini-batch size :math:`m` of the joint phase (affinity and orthonormalisation).
    max_iter : int, default=300
        Mini-batch steps of the joint phase. Kept small so that the defaults
        cluster small data in seconds on a CPU; on MNIST-sized data use a few
        thousand (the official code runs at most 5000 steps of 1024 samples).
    joint_lr : float, default=1e-3
        Adam learning rate of the joint phase. Larger rates (1e-2) can saturate
        the spectral network's outputs so that the batch Gram matrix turns singular and the
        spectral loss collapses to zero with all samples in one cluster (the
        failure SpectralNet's maintainers answer with "lower the learning rate").
    n_init : int, default=10
        k-means restarts on the spectral embedding.
    autoencoder : torch.nn.Module, fitted estimator or None, default=None
        An autoencoder to start from (copied; it is still trained with the
        dual and MI losses), for example ``AEKMeans(...).fit(X).autoencoder_``.
    {divergence_retries, device, random_state, verbose}

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster of each training sample (nearest k-means centre of its :math:`Y`).
    cluster_centers_ : ndarray of shape (n_clusters, n_clusters)
        k-means centres in the spectral embedding.
    autoencoder_ : torch.nn.Module
        The dual autoencoder (one decoder used for both codes).
    spectral_net_ : torch.nn.Module
        The spectral network :math:`h` with its softmax output :math:`q(c \\mid x)`.
    cluster_means_ : ndarray of shape (n_clusters, n_components)
        The means :math:`\\mu_c` of the KL term's cluster Gaussians in the code space.
    orthonorm_ : skdeepcluster.nn.Orthonorm
        The orthonormalisation layer; its ``factor`` buffer is the one fitted
        on all training samples, used by ``transform`` and ``predict``.
    discriminators_ : torch.nn.ModuleDict
        The MI discriminators (``"global"``, and ``"local"`` for images).
    history_ : dict
        Per-epoch loss terms of the ``"pretrain"`` and ``"clustering"`` phases:
        ``reconstruction``, ``relative``, ``global_mi``, ``local_mi`` (images),
        ``prior`` and, in the clustering phase, ``spectral`` and ``kl``.
    n_iter_ : int
        Steps of the joint phase.
    {n_features_in_, feature_names_in_, device_}
    {learning_rate_scale_, divergence_restarts_}

    See Also
    --------
    DEC : self-training on a pretrained autoencoder instead of a spectral head.
    AEKMeans : autoencoder then k-means.

    Notes
    -----
    The paper's equations could not be checked; the method follows the issue
    and the official TensorFlow code, with these choices:

    - Noise: multiplicative Gaussian noise with a fixed ``noise_std``, as the
      issue describes. The official code uses the VAE reparameterisation
      (additive noise with a learned per-sample variance) instead.
    - Reconstruction: the clean term compares :math:`g(z)` with :math:`x` and
      the relative term :math:`g(z)` with :math:`g(\\hat z)` (the pairing of the
      authors' first code release), squared errors summed over features.
    - MI: the global discriminator scores ``(x, z)`` (for images, the last
      convolutional feature map with :math:`z`), as in Deep InfoMax; the code
      pairs :math:`z` with itself and never trains the discriminator. Here the
      discriminators are trained with the same loss and optimiser as the
      encoder (both maximise the JSD bound). Negatives are the codes of the
      batch shifted by one row (the batch order is random, so this is a random
      derangement that never pairs a sample with itself).
    - Prior: the KL divergence between the Gaussian that matches the batch's
      mean and covariance of :math:`z` and :math:`N(0, I)`, a deterministic
      stand-in for DIM's adversarial prior matching (the code instead uses a
      KL towards a learned Gaussian mixture weighted by the softmax head).
      Weights :math:`\\alpha = \\beta = \\gamma = 0.01`: the official code weights
      its MI term 0.01 in pretraining (0.001 jointly) and Su Jianlin's InfoMax code uses
      :math:`\\gamma = 0.01`. DIM's own weights (0.5, 1, 0.1) let the MI and
      prior terms, which are O(1) whatever the data, dominate the reconstruction
      of low-dimensional data and degrade the codes (on 2-D blobs the k-means
      ARI of the codes fell from 0.94 to 0.88 and the clustering to 0.56).
    - Spectral head: the official code's softmax output (SpectralNet has a
      tanh) and SpectralNet's orthonormalisation, with the factor computed
      from the same batch and differentiated through (the official code's
      choice) rather than SpectralNet's alternation of orthogonalisation and
      gradient steps. The affinity keeps the code's two nearest other
      samples per row (its ``n_nbrs=3`` counts the sample itself; earlier
      development versions kept five) and is a constant of the codes
      with a per-batch median scale (the code hard-codes
      :math:`\\sigma = 2.62`, a length in its own code space, and
      differentiates :math:`W`; see ``affinity_gradient`` for why that is
      not the default).
    - KL term: the official code's KL of :math:`q(c \\mid x) q(z \\mid x)` to
      unit Gaussians around learned means (initialised at zero, as there)
      under a uniform prior on the clusters. Its Gaussian part keeps only the
      term that involves the clusters, :math:`\\tfrac12 \\|z - \\mu_c\\|^2`: with
      multiplicative noise the variance terms would diverge at :math:`z = 0`.
      The code weights the Gaussian part 1.5 and the categorical part 1
      against a reconstruction weight 5; here both parts share
      :math:`\\eta = 0.3`. With multiplicative noise nothing fixes the codes'
      overall scale (the code's learned VAE variance does), and the term is
      lowered mostly by shrinking every code towards the means' common start
      at zero (digits, seed 0: code rms 1.06 after pretraining, 0.24 after
      the joint phase, the softmax nearly uniform). Measuring the codes in
      units of their batch root mean square stopped the shrinking but
      lowered MNIST from 0.797 to 0.716 (3 seeds, both with TF32 steps), so
      the term stays as in the code.
    - Precision: training steps on CUDA keep full float32 matrix products,
      where the library's other methods (VaDE aside) use TF32. The
      orthonormalisation multiplies the softmax outputs by the inverse of
      the Cholesky factor of their Gram matrix. Where the outputs are close
      to uniform, this amplifies their small differences, and TF32's 10-bit
      mantissa makes those differences rounding noise: on an H100 with TF32
      the defaults of the time (five neighbours) put 48 of 50 samples of
      three blobs in one cluster on each of six seeds, in float32 on none
      of them.
    - Final labels: k-means on :math:`Y` (as the issue and SpectralNet; the
      final code takes the argmax of a softmax head). The orthonormalisation
      factor used for inference is refitted on all training samples at the end,
      so that :math:`Y^T Y / n = I` holds on the training set.

    References
    ----------
    .. [1] X. Yang, C. Deng, F. Zheng, J. Yan and W. Liu, "Deep spectral
       clustering using dual autoencoder network", CVPR 2019.
    .. [2] U. Shaham, K. Stanton, H. Li, B. Nadler, R. Basri and Y. Kluger,
       "SpectralNet: spectral clustering using deep neural networks", ICLR 2018.
    .. [3] R. D. Hjelm et al., "Learning deep representations by mutual
       information estimation and maximization", ICLR 2019.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skdeepcluster import DSCDAN
    >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    >>> model = DSCDAN(n_clusters=3, hidden_dims=(16,), n_components=2, spectral_hidden_dims=(16,),
    ...                pretrain_epochs=5, max_iter=20, device="cpu", random_state=0)
    >>> model.fit_predict(X).shape
    (60,)
    >>> model.transform(X).shape
    (60, 3)
    """

    _parameter_constraints = {
        **BaseDeepCluster._parameter_constraints,
        **{k: v for k, v in AutoencoderClusterMixin._autoencoder_constraints.items() if k != "pretrain_callbacks"},
        "noise_std": [Interval(Real, 0, None, closed="left")],
        "relative_weight": [Interval(Real, 0, None, closed="left")],
        "global_mi_weight": [Interval(Real, 0, None, closed="left")],
        "local_mi_weight": [Interval(Real, 0, None, closed="left")],
        "prior_weight": [Interval(Real, 0, None, closed="left")],
        "spectral_weight": [Interval(Real, 0, None, closed="left")],
        "kl_weight": [Interval(Real, 0, None, closed="left")],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "scale_neighbor": [Interval(Integral, 1, None, closed="left")],
        "affinity_gradient": ["boolean"],
        "spectral_hidden_dims": [tuple, list],
        "spectral_batch_size": [Interval(Integral, 2, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "joint_lr": [Interval(Real, 0, None, closed="neither")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
    }
    _tf32_steps = False  # see "Precision" in the Notes

    def __init__(
        self,
        n_clusters=8,
        *,
        hidden_dims=(500, 500, 2000),
        n_components=10,
        image_shape=None,
        noise_std=0.1,
        relative_weight=1.0,
        global_mi_weight=0.01,
        local_mi_weight=0.01,
        prior_weight=0.01,
        spectral_weight=1.0,
        kl_weight=0.3,
        n_neighbors=2,
        scale_neighbor=1,
        affinity_gradient=False,
        spectral_hidden_dims=(1024, 1024, 512),
        pretrain_epochs=50,
        pretrain_lr=1e-3,
        batch_size=256,
        spectral_batch_size=1024,
        max_iter=300,
        joint_lr=1e-3,
        n_init=10,
        autoencoder=None,
        divergence_retries=0,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_clusters = n_clusters
        self.hidden_dims = hidden_dims
        self.n_components = n_components
        self.image_shape = image_shape
        self.noise_std = noise_std
        self.relative_weight = relative_weight
        self.global_mi_weight = global_mi_weight
        self.local_mi_weight = local_mi_weight
        self.prior_weight = prior_weight
        self.spectral_weight = spectral_weight
        self.kl_weight = kl_weight
        self.n_neighbors = n_neighbors
        self.scale_neighbor = scale_neighbor
        self.affinity_gradient = affinity_gradient
        self.spectral_hidden_dims = spectral_hidden_dims
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_lr = pretrain_lr
        self.batch_size = batch_size
        self.spectral_batch_size = spectral_batch_size
        self.max_iter = max_iter
        self.joint_lr = joint_lr
        self.n_init = n_init
        self.autoencoder = autoencoder
        self.divergence_retries = divergence_retries
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # -- networks ---------------------------------------------------------------
    def _build(self, X):
        image_shape = self._check_image_shape(X.shape[1])
        if self.autoencoder is not None:
            # Copied and checked by the mixin; DSCDAN still trains it with its own losses.
            self.autoencoder_ = self._pretrained_autoencoder(X, None)
        else:
            self.autoencoder_ = build_autoencoder(
                X.shape[1], tuple(self.hidden_dims), self.n_components, image_shape
            ).to(X.device)
        with torch.no_grad():
            z, local_map, features = self._features(X[: min(2, len(X))])
        n_code = z.shape[1]
        discriminators = {"global": GlobalDiscriminator(features.flatten(1).shape[1], n_code)}
        if local_map is not None:
            discriminators["local"] = LocalDiscriminator(local_map.shape[1], n_code)
        self.discriminators_ = nn.ModuleDict(discriminators).to(X.device)
        self.spectral_net_ = nn.Sequential(
            mlp([n_code, *self.spectral_hidden_dims, self.n_clusters]), nn.Softmax(dim=1)
        ).to(X.device)
        self.orthonorm_ = Orthonorm(self.n_clusters).to(X.device)
        # the cluster means of the KL term, learned in the joint phase
        self._cluster_means = nn.Parameter(torch.zeros(self.n_clusters, n_code, device=X.device))

    def _features(self, x):
        """``(z, local feature map or None, global features)`` of a batch.

        For the convolutional autoencoder the local map is the output of the
        second convolution block and the global features are the last
        convolutional map; for any other encoder the global features are ``x``.
        """
        ae = self.autoencoder_
        if not isinstance(ae, ConvAutoencoder):
            return ae.encode(x), None, x
        h, maps, features = x.reshape(-1, *ae.image_shape), [], None
        for layer in ae.encoder:
            if isinstance(layer, nn.Flatten):
                features = h
            h = layer(h)
            if isinstance(layer, nn.ReLU):
                maps.append(h)
        return h, maps[min(1, len(maps) - 1)], features

    def _optimizer(self, modules, lr, device, extra_params=()):
        params = [p for m in modules for p in m.parameters()] + list(extra_params)
        extra = {"capturable": True, "fused": True} if device.type == "cuda" else {}
        return torch.optim.Adam(params, lr=lr, **extra)

    # -- losses -------------------------------------------------------------------
    def _autoencoder_terms(self, x):
        """Dual reconstruction, MI and prior terms of a batch: ``(loss, terms, z)``."""
        z, local_map, features = self._features(x)
        z_noisy = z * (1 + self.noise_std * torch.randn_like(z))
        x_clean = self.autoencoder_.decode(z)
        x_noisy = self.autoencoder_.decode(z_noisy)
        terms = {
            "reconstruction": _squared_error(x_clean, x),
            "relative": _squared_error(x_clean, x_noisy),
            "global_mi": self.discriminators_["global"].mutual_information(features, z),
            "prior": gaussian_prior_kl(z),
        }
        loss = (
            terms["reconstruction"]
            + self.relative_weight * terms["relative"]
            - self.global_mi_weight * terms["global_mi"]
            + self.prior_weight * terms["prior"]
        )
        if local_map is not None:
            terms["local_mi"] = self.discriminators_["local"].mutual_information(local_map, z)
            loss = loss - self.local_mi_weight * terms["local_mi"]
        return loss, terms, z

    # -- fit ------------------------------------------------------------------------
    def _memory_estimate(self, n_samples, n_features):
        b = min(self.spectral_batch_size, n_samples)
        need = 4 * (n_samples * n_features + 4 * b * b)  # the data, and a batch's affinity with its gradients
        return need, f"the training data and the {b} x {b} affinity of a spectral batch", "lower spectral_batch_size"

    def _fit(self, X, log):
        self._build(X)
        n, device = X.shape[0], X.device
        networks = [self.autoencoder_, self.discriminators_]

        def pretrain_loss(index):
            loss, terms, _ = self._autoencoder_terms(X[index])
            return loss, terms

        if self.pretrain_epochs:
            step = TrainStep(pretrain_loss, self._optimizer(networks, self.pretrain_lr, device))
            losses = LossAccumulator()
            with log.phase("pretrain", total=self.pretrain_epochs):
                for _ in range(self.pretrain_epochs):
                    for index in _full_batches(n, self.batch_size, device):
                        losses.add(len(index), **step(index))
                    log.record("pretrain", **losses.means())

        def joint_loss(index):
            loss, terms, z = self._autoencoder_terms(X[index])
            q = self.spectral_net_(z)
            y = self.orthonorm_(q)
            W = knn_affinity(z, self.n_neighbors, self.scale_neighbor, differentiable=self.affinity_gradient)
            terms["spectral"] = spectral_loss(y, W)
            terms["kl"] = cluster_prior_kl(z, q, self._cluster_means)
            return loss + self.spectral_weight * terms["spectral"] + self.kl_weight * terms["kl"], terms

        modules = [*networks, self.spectral_net_]
        optimizer = self._optimizer(modules, self.joint_lr, device, extra_params=[self._cluster_means])
        step = TrainStep(joint_loss, optimizer)
        losses = LossAccumulator()
        steps_per_epoch = max(n // min(self.spectral_batch_size, n), 1)
        self.n_iter_ = 0
        with log.phase("clustering", total=-(-self.max_iter // steps_per_epoch)):
            while self.n_iter_ < self.max_iter:
                for index in _full_batches(n, self.spectral_batch_size, device):
                    losses.add(len(index), **step(index))
                    self.n_iter_ += 1
                    if self.n_iter_ >= self.max_iter:
                        break
                log.record("clustering", **losses.means())

        for module in (*modules, self.orthonorm_):
            module.eval()
        # Refit the factor on every training sample, so that Y^T Y / n = I on the
        # training set and inference does not depend on the last batch.
        y_tilde = self._batched(self._spectral_input, X)
        self.orthonorm_.fit_factor(y_tilde)
        centers, _ = kmeans_centers(self.orthonorm_(y_tilde), self.n_clusters, self._seed, self.n_init)
        self._centers = centers
        self.cluster_centers_ = centers.cpu().numpy()
        self.cluster_means_ = self._cluster_means.detach().cpu().numpy()
        self.labels_ = self._batched(self._assign, X).cpu().numpy()

    # -- inference ------------------------------------------------------------------
    def _spectral_input(self, X):
        return self.spectral_net_(self.autoencoder_.encode(X))

    def _embed(self, X):
        return self.orthonorm_(self._spectral_input(X))

    def _assign(self, X):
        return squared_distances(self._embed(X), self._centers).argmin(1)

    @property
    def _n_features_out(self):
        return self.n_clusters
