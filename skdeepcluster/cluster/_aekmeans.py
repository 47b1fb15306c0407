"""AEKMeans: pretrain an autoencoder, then k-means on its embedding."""

from ..base import AutoencoderClusterMixin, BaseDeepCluster
from ..losses import squared_distances
from ..training import kmeans_centers


class AEKMeans(AutoencoderClusterMixin, BaseDeepCluster):
    """Autoencoder followed by k-means: the multistage baseline of deep clustering.

    The autoencoder is trained to minimise the reconstruction error
    :math:`L_r = \\frac{1}{n} \\sum_i \\|x_i - g(f(x_i))\\|^2`; k-means then
    clusters the embeddings :math:`z_i = f(x_i)`. It is the first stage of DEC,
    IDEC and DCN, and the baseline they are measured against.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters.
    hidden_dims : tuple of int, default=(500, 500, 2000)
        Widths of the encoder's hidden layers (the decoder mirrors them).
        Ignored when ``image_shape`` is given.
    n_components : int, default=10
        Width of the embedding.
    image_shape : tuple of int or None, default=None
        ``(channels, height, width)`` of each row; when given, the
        convolutional autoencoder of DCEC is used instead of the MLP.
    pretrain_epochs : int, default=200
        Epochs of autoencoder training (Adam).
    pretrain_lr : float, default=1e-3
        Adam learning rate of the autoencoder.
    batch_size : int, default=256
        Mini-batch size.
    n_init : int, default=20
        k-means restarts.
    autoencoder : torch.nn.Module, fitted estimator or None, default=None
        A pretrained autoencoder to reuse (copied, not trained again).
    pretrain_callbacks : list of skorch callbacks or None, default=None
        Extra skorch callbacks for the pretraining (EarlyStopping, LRScheduler, ...).
    device : str or torch.device, default="auto"
        ``"auto"`` picks CUDA, then MPS, then the CPU.
    random_state : int, RandomState or None, default=None
        Seed of weight initialisation, shuffling and k-means.
    verbose : int, default=0
        1 shows a progress bar, 2 also logs every epoch's loss.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster label of each training sample.
    cluster_centers_ : ndarray of shape (n_clusters, n_components)
        k-means centres in the embedding.
    autoencoder_ : torch.nn.Module
        The trained autoencoder.
    history_ : dict
        ``{"pretrain": {"reconstruction": [...]}}``, one value per epoch.
    pretrain_history_ : skorch History or None
        skorch's own history of the pretraining.
    n_iter_ : int
        Pretraining epochs run.
    n_features_in_ : int
        Number of features seen in fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen in fit, when X has string column names.
    device_ : torch.device
        Device the model was trained on.

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
        "n_init": [int],
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
