"""AEKMeans: pretrain an autoencoder, then k-means on its embedding."""

from numbers import Integral

from sklearn.utils._param_validation import Interval

from ..base import AutoencoderClusterMixin, BaseDeepCluster
from ..losses import squared_distances
from ..training import kmeans_centers


class AEKMeans(AutoencoderClusterMixin, BaseDeepCluster):
    """Autoencoder followed by k-means: the multistage baseline of deep clustering.

    The autoencoder (encoder :math:`f`, decoder :math:`g`) is trained to
    minimise the reconstruction error, then k-means clusters the embeddings
    :math:`z_i = f(x_i)`:

    .. math:: L_r = \\frac{1}{n} \\sum_i \\|x_i - g(f(x_i))\\|^2, \\qquad
              \\min_{\\mu_1, \\dots, \\mu_K} \\sum_i \\min_j \\|z_i - \\mu_j\\|^2.

    It is the first stage of DEC, IDEC and DCN, and the baseline they are
    measured against.

    Parameters
    ----------
    {n_clusters, hidden_dims, n_components, image_shape, pretrain_epochs, pretrain_lr}
    batch_size : int, default=256
        Mini-batch size.
    n_init : int, default=20
        k-means restarts.
    {autoencoder, pretrain_callbacks, divergence_retries, device, random_state, verbose}

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster label of each training sample.
    cluster_centers_ : ndarray of shape (n_clusters, n_components)
        k-means centres in the embedding.
    autoencoder_ : torch.nn.Module
        The trained autoencoder.
    {history_pretrain, pretrain_history_, pretrain_restarts_, n_iter_pretrain, n_features_in_, feature_names_in_, device_}
    {learning_rate_scale_, divergence_restarts_}

    See Also
    --------
    DEC : refines these clusters with a self-training KL loss.

    References
    ----------
    .. [1] G. E. Hinton and R. R. Salakhutdinov, "Reducing the dimensionality of
       data with neural networks", Science 313 (5786), 2006.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skdeepcluster import AEKMeans
    >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    >>> model = AEKMeans(n_clusters=3, hidden_dims=(16,), n_components=2,
    ...                  pretrain_epochs=5, device="cpu", random_state=0)
    >>> model.fit_predict(X).shape
    (60,)
    """

    _parameter_constraints = {
        **BaseDeepCluster._parameter_constraints,
        **AutoencoderClusterMixin._autoencoder_constraints,
        "n_init": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        hidden_dims=(500, 500, 2000),
        n_components=10,
        image_shape=None,
        pretrain_epochs=200,
        pretrain_lr=1e-3,
        batch_size=256,
        n_init=20,
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
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_lr = pretrain_lr
        self.batch_size = batch_size
        self.n_init = n_init
        self.autoencoder = autoencoder
        self.pretrain_callbacks = pretrain_callbacks
        self.divergence_retries = divergence_retries
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, X, log):
        self.autoencoder_ = self._pretrained_autoencoder(X, log).eval()
        Z = self._batched(self.autoencoder_.encode, X)
        centers, labels = kmeans_centers(Z, self.n_clusters, self._seed, self.n_init)
        self._centers = centers
        self.cluster_centers_ = centers.cpu().numpy()
        self.labels_ = labels.cpu().numpy()
        self.n_iter_ = self.pretrain_epochs if self.autoencoder is None else 0

    def _embed(self, X):
        return self.autoencoder_.encode(X)

    def _assign(self, X):
        return squared_distances(self.autoencoder_.encode(X), self._centers).argmin(1)
