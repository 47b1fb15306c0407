"""DeepCluster (Caron, Bojanowski, Joulin and Douze, ECCV 2018), adapted to vectors and small images."""

from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils._param_validation import Interval

from ..base import AutoencoderClusterMixin, BaseDeepCluster
from ..losses import squared_distances
from ..training import LossAccumulator, TrainStep, kmeans_centers

__all__ = [
    "DeepCluster",
    "split_empty_clusters",
    "kmeans_with_splits",
    "uniform_label_sampler",
    "pca_whitening",
    "random_resized_crop",
]

#: relative perturbation of a split centroid (faiss's ``EPS = 1/1024``)
_SPLIT_EPS = 1.0 / 1024


def split_empty_clusters(centers, counts, rng):
    """DeepCluster's empty-cluster guard, in place; returns how many clusters were split.

    For each empty cluster ``i`` a cluster ``j`` to split is found by visiting
    the clusters cyclically from the first and accepting each with probability
    ``(counts[j] - 1) / (n - k)``, so large clusters are split most often and
    singletons never. Centroid ``i`` becomes a copy of centroid
    ``j``; the two are pushed apart by a small symmetric multiplicative
    perturbation (even coordinates ``x (1 + eps)`` for ``i`` and ``x (1 - eps)``
    for ``j``, odd coordinates the other way round), and ``j``'s count is
    split evenly between them. This is the rule of the paper (Sec. 3.3,
    "Empty clusters") as its k-means (faiss) implements it.

    Parameters
    ----------
    centers : tensor of shape (k, d)
        Centroids, updated in place.
    counts : ndarray of int of shape (k,)
        Cluster sizes, updated in place.
    rng : numpy.random.Generator
        Source of the draws.
    """
    k = len(counts)
    n = int(counts.sum())
    if n <= k and not np.any(counts > 1):
        return 0
    d = centers.shape[1]
    sign = torch.where(torch.arange(d, device=centers.device) % 2 == 0, 1.0, -1.0).to(centers.dtype)
    n_split = 0
    for i in range(k):
        if counts[i] != 0:
            continue
        j = 0
        while True:
            if rng.random() < (counts[j] - 1.0) / max(n - k, 1):
                break
            j = (j + 1) % k
        centers[i] = centers[j] * (1 + _SPLIT_EPS * sign)
        centers[j] = centers[j] * (1 - _SPLIT_EPS * sign)
        counts[i] = counts[j] // 2
        counts[j] -= counts[i]
        n_split += 1
    return n_split


@torch.no_grad()
def kmeans_with_splits(Z, n_clusters, rng, n_iter=20):
    """Lloyd's k-means on the device with DeepCluster's empty-cluster guard.

    Initial centroids are ``n_clusters`` distinct random rows of ``Z`` (as in
    faiss); after every centroid update :func:`split_empty_clusters` refills
    empty clusters. Returns ``(centers, labels, n_split)``; ``labels`` are the
    nearest centroids after the last update.
    """
    n = Z.shape[0]
    index = torch.as_tensor(rng.choice(n, n_clusters, replace=False), device=Z.device)
    centers = Z[index].clone()
    n_split = 0
    for _ in range(n_iter):
        labels = squared_distances(Z, centers).argmin(1)
        counts = torch.bincount(labels, minlength=n_clusters)
        sums = torch.zeros_like(centers).index_add_(0, labels, Z)
        filled = counts > 0
        centers = torch.where(filled[:, None], sums / counts.clamp_min(1)[:, None].to(Z.dtype), centers)
        counts = counts.cpu().numpy()
        if (counts == 0).any():
            n_split += split_empty_clusters(centers, counts, rng)
    labels = squared_distances(Z, centers).argmin(1)
    return centers, labels, n_split


def uniform_label_sampler(labels, n_clusters, n_samples=None):
    """Indices that visit every non-empty pseudo-class equally often (DeepCluster's sampler).

    Each of the ``m`` non-empty classes contributes ``n_samples // m + 1``
    indices, drawn without replacement when the class is larger than that and
    with replacement otherwise; the result is shuffled and cut to
    ``n_samples`` (default ``len(labels)``). Uses torch's current generator.
    """
    n_samples = len(labels) if n_samples is None else n_samples
    counts = torch.bincount(labels, minlength=n_clusters).cpu()
    nonempty = torch.nonzero(counts).flatten().tolist()
    per_label = n_samples // len(nonempty) + 1
    order = torch.argsort(labels, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    chosen = []
    for c in nonempty:
        members = order[int(starts[c]) : int(starts[c] + counts[c])]
        if len(members) > per_label:
            pick = torch.randperm(len(members), device=labels.device)[:per_label]
        else:
            pick = torch.randint(len(members), (per_label,), device=labels.device)
        chosen.append(members[pick])
    chosen = torch.cat(chosen)
    return chosen[torch.randperm(len(chosen), device=labels.device)][:n_samples]


@torch.no_grad()
def pca_whitening(F_, n_components, eps=1e-5):
    """Mean and projection ``W`` so that ``(F - mean) @ W`` is PCA-whitened in ``n_components`` dims.

    ``eps`` (relative to the largest eigenvalue) keeps near-zero directions from exploding.
    """
    F_ = F_.double()
    mean = F_.mean(0)
    centered = F_ - mean
    cov = centered.T @ centered / max(len(F_) - 1, 1)
    values, vectors = torch.linalg.eigh(cov)
    values, vectors = values.flip(0)[:n_components], vectors.flip(1)[:, :n_components]
    values = values.clamp_min(0) + eps * values.max().clamp_min(1e-12)
    return mean.float(), (vectors / values.sqrt()).float()


def random_resized_crop(x, image_shape, min_area=0.08, flip=True):
    """DeepCluster's training augmentation of a batch of flat image rows, on the batch's device.

    Each image is replaced by a crop covering a uniform fraction in
    ``[min_area, 1]`` of its area, with an aspect ratio log-uniform in
    ``[3/4, 4/3]`` (each side capped at the full side) and a uniform position,
    resized back to full size by bilinear sampling, and mirrored
    left-right with probability 1/2 when ``flip`` (edge pixels repeat where
    a sample falls outside): torchvision's
    ``RandomResizedCrop`` and ``RandomHorizontalFlip`` as the paper's code uses
    them. Draws from torch's current generator.
    """
    b, device = x.shape[0], x.device
    area = torch.empty(b, device=device).uniform_(min_area, 1.0)
    ratio = torch.empty(b, device=device).uniform_(np.log(3 / 4), np.log(4 / 3)).exp()
    w, h = (area * ratio).sqrt().clamp(max=1.0), (area / ratio).sqrt().clamp(max=1.0)
    theta = torch.zeros(b, 2, 3, device=device)
    mirror = torch.where(torch.rand(b, device=device) < 0.5, -1.0, 1.0) if flip else 1.0
    theta[:, 0, 0], theta[:, 1, 1] = w * mirror, h
    theta[:, 0, 2] = (2 * torch.rand(b, device=device) - 1) * (1 - w)
    theta[:, 1, 2] = (2 * torch.rand(b, device=device) - 1) * (1 - h)
    images = x.view(b, *image_shape)
    grid = F.affine_grid(theta, images.shape, align_corners=False)
    return F.grid_sample(images, grid, padding_mode="border", align_corners=False).view(b, -1)


class DeepCluster(AutoencoderClusterMixin, BaseDeepCluster):
    """DeepCluster (Caron, Bojanowski, Joulin and Douze, ECCV 2018), adapted to vectors and small images.

    An iterative method: features and clusters are learned in turns. Every
    epoch,

    1. the features :math:`f_\\theta(x_i)` of all samples are PCA-whitened to
       ``pca_components`` dimensions and L2-normalised;
    2. k-means with ``n_pseudo_classes`` clusters gives pseudo-labels
       :math:`y_i` (one-hot), minimising

       .. math:: \\min_{C} \\frac{1}{N}\\sum_i \\min_{y_i} \\|\\tilde f(x_i) - C y_i\\|^2;

       an empty cluster is refilled by splitting a random non-empty one
       (see :func:`split_empty_clusters`);
    3. a freshly initialised linear head :math:`g_W` is put on the features and
       network and head are trained for one pass on the cross-entropy

       .. math:: \\min_{\\theta, W} \\frac{1}{N}\\sum_i \\ell\\big(g_W(f_\\theta(x_i)), y_i\\big),

       drawing samples uniformly over the pseudo-classes
       (see :func:`uniform_label_sampler`) so that large clusters do not take over.

    After the last epoch, k-means with ``n_clusters`` (``n_init`` restarts) on
    the whitened features gives ``labels_``.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters of the final partition.
    hidden_dims : tuple of int, default=(500, 500, 2000)
        Widths of the MLP backbone's hidden layers. Ignored when ``image_shape`` is given.
    n_components : int, default=10
        Width of the backbone's features.
    image_shape : tuple of int or None, default=None
        ``(channels, height, width)`` of each row; when given, the backbone is
        the library's small convolutional encoder (three strided convolutions
        and a linear layer) instead of the MLP.
    n_pseudo_classes : int or None, default=None
        k of the k-means that makes the training pseudo-labels; ``None`` uses
        ``n_clusters``. The paper over-clusters (10000 on ImageNet); a few
        times ``n_clusters`` can help on larger data.
    epochs : int, default=100
        Clustering/training rounds (one pass over the data each).
    lr : float, default=0.05
        SGD learning rate of backbone and head (the paper's code).
    momentum : float, default=0.9
        SGD momentum of the backbone (the head has none, as in the paper's code).
    weight_decay : float, default=1e-5
        SGD weight decay.
    pca_components : int, default=256
        Dimensions kept by the PCA whitening (clipped to the feature width).
    kmeans_iter : int, default=20
        Lloyd iterations of each epoch's k-means (faiss's default in the paper's code).
    pretrain_epochs : int, default=200
        Epochs of autoencoder pretraining of the backbone (0 starts from random
        weights as the paper does).
    {pretrain_lr}
    batch_size : int, default=256
        Mini-batch size of both phases (the paper's 256).
    n_init : int, default=10
        k-means restarts of the final partition.
    augment : bool, default=True
        Train on the paper's augmentation, random resized crops and horizontal
        flips (see :func:`random_resized_crop`), of each batch. Applies only
        when ``image_shape`` is given; plain rows are never augmented.
    crop_min_area : float, default=0.08
        Smallest fraction of an image's area that a random crop keeps (the
        paper's ImageNet crops, torchvision's default).
    flip : bool, default=True
        Mirror crops left-right with probability 1/2, as the paper does on
        ImageNet. Images whose classes are not mirror-symmetric, such as
        digits, call for ``flip=False``.
    autoencoder : torch.nn.Module, fitted estimator or None, default=None
        A pretrained autoencoder whose encoder is the starting backbone (copied).
    {pretrain_callbacks, divergence_retries, device, random_state, verbose}

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Final k-means partition of the training samples.
    cluster_centers_ : ndarray of shape (n_clusters, n_whitened)
        Final centres in the whitened, L2-normalised feature space.
    autoencoder_ : torch.nn.Module
        The autoencoder whose encoder is the trained backbone (the decoder is
        left as pretrained and is not used after pretraining).
    head_ : torch.nn.Linear
        The classification head of the last epoch.
    pseudo_labels_ : ndarray of shape (n_samples,)
        Pseudo-labels of the last epoch.
    history_ : dict
        ``history_["clustering"]`` with ``cross_entropy``, ``nmi_previous`` (NMI
        between two consecutive epochs' pseudo-labels, the paper's stability
        measure) and ``empty_splits`` per epoch.
    {pretrain_history_, pretrain_restarts_}
    n_iter_ : int
        Epochs run.
    {n_features_in_, feature_names_in_, device_}
    {learning_rate_scale_, divergence_restarts_}

    See Also
    --------
    AEKMeans : the pretrained backbone with one k-means.
    DEC : self-training with soft assignments instead of hard pseudo-labels.

    Notes
    -----
    The paper trains AlexNet/VGG on ImageNet with data augmentation. This
    adaptation for tabular rows and small images deviates as follows, and why:

    - The backbone is the library's autoencoder encoder (MLP, or the small CNN
      for ``image_shape``) and is pretrained as an autoencoder by default:
      without augmentation, DeepCluster from random weights on small data
      mostly re-learns its own random partition. ``pretrain_epochs=0`` gives
      the paper's random start.
    - The paper's augmentation (random resized crops and flips) is used only
      for images (``image_shape``); plain rows get none, and no input gets the
      Sobel filter. Without augmentation the alternation has no information
      beyond its own partition: the network fits whatever the epoch's
      single-start k-means returns (consecutive partitions agree only to NMI
      ~0.8 on MNIST), and the partition drifts away from the pretrained one,
      so on MNIST as plain rows DeepCluster ends below :class:`AEKMeans` on
      the same autoencoder. A lower learning rate, keeping the reconstruction
      loss, or restarting each epoch's k-means did not stop the drift, and
      over-clustering (``n_pseudo_classes`` = 10 x ``n_clusters``, the
      paper's ratio on ImageNet) in the 10-d embedding made it worse. On
      MNIST-test (30-epoch autoencoder, k-means ACC 0.71, 30 epochs, 3 seeds)
      the final ACC was 0.54 without augmentation and 0.64 with the paper's
      crops and flips fed to the MLP backbone. On MNIST-full with the
      convolutional backbone and the crops and flips
      (``image_shape=(1, 28, 28)``, 3 seeds) it reached 0.767, against 0.538
      on plain rows, and 0.824 with the crops alone (``flip=False``: a
      mirrored digit is not a digit), still below k-means on the
      convolutional autoencoder it starts from (0.914, 1 seed).
    - k-means clusters the embedding (the layer under the head, as in the
      paper), which is ``n_components``-d, so the PCA whitening keeps all its
      dimensions instead of reducing 4096 to 256.
    - The head sits directly on the features (no extra ReLU or dropout) and is
      re-initialised in place (:math:`\\mathcal N(0, 0.01^2)` weights, zero
      bias) rather than rebuilt, which keeps the captured CUDA-graph step valid.
    - Pseudo-classes are not renumbered to drop empty ones: an empty class is
      never a target, so the cross-entropy is the same.
    - k-means runs in torch on the training device (same Lloyd iterations,
      random initial rows and empty-cluster split as faiss); the final
      partition uses k-means++ with restarts (:func:`~skdeepcluster.training.kmeans_centers`:
      on the GPU when the data are there, else scikit-learn's) so that
      ``labels_`` does not depend on one random start.
    - ``predict`` embeds new samples, applies the stored whitening and
      normalisation and returns the nearest final centre.

    References
    ----------
    .. [1] M. Caron, P. Bojanowski, A. Joulin and M. Douze, "Deep Clustering for
       Unsupervised Learning of Visual Features", ECCV 2018.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skdeepcluster import DeepCluster
    >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    >>> model = DeepCluster(n_clusters=3, hidden_dims=(16,), n_components=2,
    ...                     pretrain_epochs=5, epochs=3, device="cpu", random_state=0)
    >>> model.fit_predict(X).shape
    (60,)
    """

    _parameter_constraints = {
        **BaseDeepCluster._parameter_constraints,
        **AutoencoderClusterMixin._autoencoder_constraints,
        "n_pseudo_classes": [Interval(Integral, 1, None, closed="left"), None],
        "epochs": [Interval(Integral, 0, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "pca_components": [Interval(Integral, 1, None, closed="left")],
        "kmeans_iter": [Interval(Integral, 1, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "augment": ["boolean"],
        "crop_min_area": [Interval(Real, 0, 1, closed="right")],
        "flip": ["boolean"],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        hidden_dims=(500, 500, 2000),
        n_components=10,
        image_shape=None,
        n_pseudo_classes=None,
        epochs=100,
        lr=0.05,
        momentum=0.9,
        weight_decay=1e-5,
        pca_components=256,
        kmeans_iter=20,
        pretrain_epochs=200,
        pretrain_lr=1e-3,
        batch_size=256,
        n_init=10,
        augment=True,
        crop_min_area=0.08,
        flip=True,
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
        self.n_pseudo_classes = n_pseudo_classes
        self.epochs = epochs
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.pca_components = pca_components
        self.kmeans_iter = kmeans_iter
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_lr = pretrain_lr
        self.batch_size = batch_size
        self.n_init = n_init
        self.augment = augment
        self.crop_min_area = crop_min_area
        self.flip = flip
        self.autoencoder = autoencoder
        self.pretrain_callbacks = pretrain_callbacks
        self.divergence_retries = divergence_retries
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _check_n_clusters(self, n_samples):
        super()._check_n_clusters(n_samples)
        if self.n_pseudo_classes is not None and self.n_pseudo_classes > n_samples:
            raise ValueError(
                f"n_pseudo_classes={self.n_pseudo_classes} is larger than the number of samples ({n_samples})."
            )

    def _fit(self, X, log):
        from sklearn.metrics import normalized_mutual_info_score

        self.autoencoder_ = ae = self._pretrained_autoencoder(X, log)
        n = X.shape[0]
        k = self.n_pseudo_classes or self.n_clusters
        rng = np.random.default_rng(self._seed)
        width = self._n_embedding()
        self.head_ = head = torch.nn.Linear(width, k).to(X.device)
        fused = {"fused": True} if X.device.type == "cuda" else {}
        optimizer = torch.optim.SGD(
            [
                {"params": list(ae.parameters()), "momentum": self.momentum},
                # the paper's code re-creates a momentum-free optimiser for each new head
                {"params": list(head.parameters()), "momentum": 0.0},
            ],
            lr=self.lr,
            weight_decay=self.weight_decay,
            **fused,
        )
        pseudo = torch.zeros(n, dtype=torch.long, device=X.device)  # read by the captured step

        image_shape = self._check_image_shape(X.shape[1]) if self.augment else None

        def loss_fn(index):
            x = X[index]
            if image_shape is not None:
                x = random_resized_crop(x, image_shape, self.crop_min_area, self.flip)
            loss = F.cross_entropy(head(ae.encode(x)), pseudo[index])
            return loss, {"cross_entropy": loss}

        step = TrainStep(loss_fn, optimizer)
        losses = LossAccumulator()
        previous = None
        epoch = 0
        with log.phase("clustering", total=self.epochs):
            for epoch in range(1, self.epochs + 1):
                ae.eval()
                features, _, _ = self._whitened_features(X, log)
                _, labels, n_split = kmeans_with_splits(features, k, rng, self.kmeans_iter)
                pseudo.copy_(labels)
                current = labels.cpu().numpy()
                nmi = normalized_mutual_info_score(previous, current) if previous is not None else 0.0
                previous = current
                with torch.no_grad():
                    head.weight.normal_(0, 0.01)
                    head.bias.zero_()
                ae.train()
                order = uniform_label_sampler(pseudo, k, n)
                for start in range(0, n, self.batch_size):
                    index = order[start : start + self.batch_size]
                    losses.add(len(index), **step(index))
                log.record("clustering", **losses.means(), nmi_previous=nmi, empty_splits=n_split)
        ae.eval()
        self.n_iter_ = epoch
        self.pseudo_labels_ = pseudo.cpu().numpy()
        features, self._mean, self._projection = self._whitened_features(X, log)
        self._centers, labels = kmeans_centers(features, self.n_clusters, self._seed, self.n_init)
        self.labels_ = labels.cpu().numpy()
        self.cluster_centers_ = self._centers.cpu().numpy()

    @torch.no_grad()
    def _whitened_features(self, X, log=None):
        """Backbone features of ``X``, PCA-whitened and L2-normalised, with the whitening used."""
        features = self._batched(self.autoencoder_.encode, X)
        if log is not None:
            log.check_finite("clustering", "backbone features", features)
        mean, projection = pca_whitening(features, min(self.pca_components, features.shape[1], len(X)))
        return F.normalize((features - mean) @ projection, dim=1), mean, projection

    def _embed(self, X):
        return self.autoencoder_.encode(X)

    def _assign(self, X):
        features = F.normalize((self.autoencoder_.encode(X) - self._mean) @ self._projection, dim=1)
        return squared_distances(features, self._centers).argmin(1)
