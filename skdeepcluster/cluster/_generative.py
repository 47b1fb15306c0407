"""Generative deep clustering: VaDE (Jiang et al., 2017) and DHVC (Yu et al., 2024)."""

import math
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.mixture import GaussianMixture
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ..base import AutoencoderClusterMixin, BaseDeepCluster
from ..nn.autoencoder import ConvAutoencoder, MLPAutoencoder
from ..nn.vmf import VonMisesFisher, fit_vmf_mixture, kl_to_uniform, vmf_mixture_log_posterior
from ..training import LossAccumulator, TrainStep, minibatches

_LOG_2PI = math.log(2 * math.pi)


# -- networks -------------------------------------------------------------------------------
class _SphericalAutoencoder(nn.Module):
    """An autoencoder whose code is L2-normalised: the hyperspherical bottleneck of DHVC.

    A one-dimensional code ``t`` is mapped onto the circle as ``(cos t, sin t)``
    (and back with ``atan2``), so the sphere always has dimension ``d >= 2``.
    """

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        width = getattr(inner, "n_components", None)
        self.circle = width == 1
        self.n_components = 2 if self.circle else width
        if hasattr(inner, "n_features"):
            self.n_features = inner.n_features

    def to_sphere(self, code):
        if self.circle:
            return torch.cat([torch.cos(code), torch.sin(code)], dim=1)
        return F.normalize(code, dim=1)

    def encode(self, x):
        return self.to_sphere(self.inner.encode(x))

    def decode(self, z):
        if self.circle:
            z = torch.atan2(z[:, 1:], z[:, :1])
        return self.inner.decode(z)

    def forward(self, x):
        z = self.encode(x)
        return z, self.decode(z)


def _encoder_parts(autoencoder, x):
    """``(hidden, code)``: the encoder's last hidden layer and its code.

    Extra heads (VaDE's log-variance, DHVC's concentration and cluster heads)
    read the last hidden layer, as in the papers. For the library's MLP and
    convolutional autoencoders that is the input of the encoder's final
    ``Linear``; for any other module the heads read the code itself.
    """
    spherical = isinstance(autoencoder, _SphericalAutoencoder)
    inner = autoencoder.inner if spherical else autoencoder
    if isinstance(inner, (MLPAutoencoder, ConvAutoencoder)):
        if isinstance(inner, ConvAutoencoder):
            x = x.reshape(-1, *inner.image_shape)
        hidden = inner.encoder[:-1](x)
        code = inner.encoder[-1](hidden)
    else:
        hidden = code = inner.encode(x)
    return hidden, autoencoder.to_sphere(code) if spherical else code


def _spherical(module):
    """``module`` with its code normalised onto the unit sphere (unchanged if it already is)."""
    return module if isinstance(module, _SphericalAutoencoder) else _SphericalAutoencoder(module)


def _hidden_width(autoencoder, x):
    with torch.no_grad():
        return _encoder_parts(autoencoder, x[:1])[0].shape[1]


class _VaDENetwork(nn.Module):
    """Encoder heads (mean, log-variance), decoder, and the Gaussian mixture prior of VaDE."""

    def __init__(self, autoencoder, hidden_width, n_clusters, n_components):
        super().__init__()
        self.autoencoder = autoencoder
        self.log_var_head = nn.Linear(hidden_width, n_components)
        self.pi_logits = nn.Parameter(torch.zeros(n_clusters))
        self.means = nn.Parameter(torch.zeros(n_clusters, n_components))
        self.log_vars = nn.Parameter(torch.zeros(n_clusters, n_components))

    def encode(self, x):
        hidden, mean = _encoder_parts(self.autoencoder, x)
        return mean, self.log_var_head(hidden)

    def mixture_parameters(self):
        return [self.pi_logits, self.means, self.log_vars]

    def network_parameters(self):
        return [*self.autoencoder.parameters(), *self.log_var_head.parameters()]


class _DHVCNetwork(nn.Module):
    """Spherical encoder with concentration and cluster heads, decoder, and the vMF mixture."""

    def __init__(self, autoencoder, hidden_width, n_clusters, n_components, max_concentration):
        super().__init__()
        self.autoencoder = autoencoder
        self.concentration_head = nn.Linear(hidden_width, 1)
        self.cluster_head = nn.Linear(hidden_width, n_clusters)
        self.pi_logits = nn.Parameter(torch.zeros(n_clusters))
        self.directions = nn.Parameter(torch.randn(n_clusters, n_components))
        self.log_concentrations = nn.Parameter(torch.zeros(n_clusters))
        self.max_concentration = max_concentration

    def encode(self, x):
        """``(mu, kappa, cluster logits)`` of q(z|x) = vMF(mu, kappa) and q(c|x)."""
        hidden, code = _encoder_parts(self.autoencoder, x)
        kappa = (F.softplus(self.concentration_head(hidden).squeeze(1)) + 1).clamp_max(self.max_concentration)
        return F.normalize(code, dim=1), kappa, self.cluster_head(hidden)

    def mixture(self):
        """``(log pi, mean directions, kappas)`` of the vMF mixture."""
        kappas = self.log_concentrations.exp().clamp(1e-2, self.max_concentration)
        return F.log_softmax(self.pi_logits, 0), F.normalize(self.directions, dim=1), kappas

    def mixture_parameters(self):
        return [self.pi_logits, self.directions, self.log_concentrations]

    def network_parameters(self):
        return [*self.autoencoder.parameters(), *self.concentration_head.parameters(), *self.cluster_head.parameters()]


# -- losses -------------------------------------------------------------------------------
def _reconstruction_nll(logits_or_mean, x, likelihood):
    """``-log p(x|z)`` summed over features, per sample (no constants).

    Bernoulli: binary cross-entropy on logits. Gaussian: the sum of squared
    errors, a Gaussian of variance 1/2 as in VaDE's code (``D * MSE``).
    """
    if likelihood == "bernoulli":
        return F.binary_cross_entropy_with_logits(logits_or_mean, x, reduction="none").sum(1)
    return (logits_or_mean - x).pow(2).sum(1)


def _gaussian_log_density(z, means, log_vars):
    """``log N(z | mu_c, diag sigma_c^2)`` for every row and component, shape (n, K)."""
    diff = z.unsqueeze(1) - means
    return -0.5 * (_LOG_2PI + log_vars + diff.pow(2) / log_vars.exp()).sum(-1)


def _vade_responsibilities(z, pi_logits, means, log_vars):
    """``log gamma_c = log p(c|z)`` under the Gaussian mixture, in the log domain."""
    return F.log_softmax(F.log_softmax(pi_logits, 0) + _gaussian_log_density(z, means, log_vars), dim=1)


def _vade_kl(mean, log_var, log_gamma, pi_logits, means, log_vars):
    """``KL(q(z, c|x) || p(z, c))`` per sample, with ``E_q(z|x)`` in closed form (VaDE eq. 17).

    .. math:: \\sum_c \\gamma_c \\Big[\\tfrac12\\sum_j \\big(\\log 2\\pi\\sigma_{cj}^2
              + \\frac{\\tilde\\sigma_j^2 + (\\tilde\\mu_j - \\mu_{cj})^2}{\\sigma_{cj}^2}\\big)
              + \\log\\frac{\\gamma_c}{\\pi_c}\\Big] - \\tfrac12\\sum_j (1 + \\log 2\\pi\\tilde\\sigma_j^2)
    """
    gamma = log_gamma.exp()
    var = log_var.exp().unsqueeze(1)
    cross = 0.5 * (_LOG_2PI + log_vars + (var + (mean.unsqueeze(1) - means).pow(2)) / log_vars.exp()).sum(-1)
    categorical = log_gamma - F.log_softmax(pi_logits, 0)
    entropy = 0.5 * (1 + _LOG_2PI + log_var).sum(1)
    return (gamma * (cross + categorical)).sum(1) - entropy


def _entropy(p, log_p, dim=-1):
    return -(p * log_p).sum(dim)


# -- shared estimator code ---------------------------------------------------------------------
_SHARED_DOC = """{n_clusters, hidden_dims}
    n_components : int, default=10
        Latent dimension :math:`J` (for DHVC, :math:`d`: codes lie on
        :math:`S^{d-1} \\subset R^d`; ``n_components=1`` puts them on the circle,
        ``d = 2``).
    {image_shape}
    likelihood : {"auto", "bernoulli", "gaussian"}, default="auto"
        Decoder likelihood :math:`p(x|z)`. ``"bernoulli"`` (sigmoid outputs,
        cross-entropy summed over features) needs data in [0, 1], as the papers'
        MNIST; ``"gaussian"`` is the sum of squared errors. ``"auto"`` takes
        Bernoulli when every value of ``X`` lies in [0, 1], else Gaussian."""

_SHARED_TAIL = """{autoencoder, pretrain_callbacks, divergence_retries, device, random_state, verbose}"""


class _GenerativeBase(AutoencoderClusterMixin, BaseDeepCluster):
    """Pretraining, the epoch loop with step decay, and the inference plumbing of VaDE and DHVC."""

    _parameter_constraints = {
        **BaseDeepCluster._parameter_constraints,
        **AutoencoderClusterMixin._autoencoder_constraints,
        "likelihood": [StrOptions({"auto", "bernoulli", "gaussian"})],
        "epochs": [Interval(Integral, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "lr_decay": [Interval(Real, 0, 1, closed="right")],
        "lr_decay_epochs": [Interval(Integral, 1, None, closed="left")],
        "min_lr": [Interval(Real, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither"), None],
    }

    _adam_eps = 1e-8

    def _resolve_likelihood(self, X):
        if self.likelihood != "auto":
            if self.likelihood == "bernoulli" and bool(((X < 0) | (X > 1)).any()):
                raise ValueError("likelihood='bernoulli' needs every value of X in [0, 1]; rescale X or use 'gaussian'.")
            return self.likelihood
        return "bernoulli" if bool(((X >= 0) & (X <= 1)).all()) else "gaussian"

    def _pretrain(self, X, log, wrap=None):
        return self._pretrained_autoencoder(X, log, criterion=self._pretrain_criterion(), wrap=wrap)

    def _pretrain_criterion(self):
        """The likelihood's loss: cross-entropy on logits (Bernoulli), squared error (Gaussian)."""
        return torch.nn.BCEWithLogitsLoss if self.likelihood_ == "bernoulli" else None

    def _decode_mean(self, z):
        out = self.autoencoder_.decode(z)
        return torch.sigmoid(out) if self.likelihood_ == "bernoulli" else out

    def _optimizer(self, network, lr, device):
        groups = [{"params": network.network_parameters()}, {"params": network.mixture_parameters()}]
        extra = {"fused": True, "capturable": True} if device.type == "cuda" else {}
        return torch.optim.Adam(groups, lr=lr, eps=self._adam_eps, **extra)

    def _train(self, X, network, loss_fn, log, phase="clustering"):
        """``epochs`` epochs of Adam on ``loss_fn(index)``, lr times ``lr_decay`` every ``lr_decay_epochs``.

        On CUDA each step is a replayed CUDA graph; the learning rate is a
        constant inside a captured graph, so the step is captured again after
        each decay (``epochs / lr_decay_epochs`` captures of a few ms each).
        """
        optimizer = self._optimizer(network, self.learning_rate, X.device)
        losses = LossAccumulator()
        lr, step = self.learning_rate, None
        network.train()
        with log.phase(phase, total=self.epochs):
            for epoch in range(self.epochs):
                if epoch and epoch % self.lr_decay_epochs == 0:
                    new_lr = max(lr * self.lr_decay, self.min_lr)
                    if new_lr != lr:
                        lr, step = new_lr, None
                        for group in optimizer.param_groups:
                            group["lr"] = lr
                if step is None:
                    step = TrainStep(loss_fn, optimizer, max_grad_norm=self.max_grad_norm)
                for index in minibatches(X.shape[0], self.batch_size, X.device):
                    losses.add(len(index), **step(index))
                log.record(phase, **losses.means(), lr=lr)
        network.eval()
        return self.epochs

    def _embed(self, X):
        return self._network.encode(X)[0]

    def _assign(self, X):
        return self._log_proba(X).argmax(1)

    def _proba(self, X):
        return self._log_proba(X).exp()


# -- VaDE --------------------------------------------------------------------------------------
class VaDE(_GenerativeBase):
    __doc__ = """Variational Deep Embedding (Jiang, Zheng, Tan, Tang and Zhou, IJCAI 2017).

    A variational autoencoder whose prior is a Gaussian mixture: a cluster
    :math:`c \\sim Cat(\\pi)`, a code :math:`z \\sim N(\\mu_c, diag\\,\\sigma_c^2)`
    and :math:`x \\sim p(x|z)` from the decoder. The encoder gives
    :math:`q(z|x) = N(\\tilde\\mu, diag\\,\\tilde\\sigma^2)` and
    :math:`q(c|x) = \\gamma_c = p(c|z)`, the mixture's responsibility of the
    sampled code. The evidence lower bound (eq. 17), maximised over the
    networks and the mixture :math:`(\\pi, \\mu_c, \\sigma_c^2)`, is

    .. math:: L(x) = E_{q(z|x)} \\log p(x|z)
              - \\sum_c \\gamma_c \\tfrac12 \\sum_j \\Big(\\log 2\\pi\\sigma_{cj}^2
                + \\frac{\\tilde\\sigma_j^2 + (\\tilde\\mu_j - \\mu_{cj})^2}{\\sigma_{cj}^2}\\Big)
              + \\sum_c \\gamma_c \\log\\frac{\\pi_c}{\\gamma_c}
              + \\tfrac12 \\sum_j (1 + \\log 2\\pi\\tilde\\sigma_j^2),

    with one sample :math:`z = \\tilde\\mu + \\tilde\\sigma \\odot \\epsilon` for the
    reconstruction and :math:`\\gamma`. Training: the autoencoder is pretrained,
    a diagonal Gaussian mixture fitted to its codes initialises
    :math:`(\\mu_c, \\sigma_c^2)` (:math:`\\pi` starts uniform), then the
    negative ELBO is minimised with Adam (lr 0.002, eps 1e-4, batch 100) for
    the networks and the mixture, the learning rate multiplied by 0.9 every 10
    epochs down to 0.0002 (the authors' MNIST settings).

    ``predict`` is :math:`\\arg\\max_c \\gamma_c` and ``predict_proba`` is
    :math:`\\gamma` at the mean code :math:`\\tilde\\mu`, ``transform`` gives
    :math:`\\tilde\\mu`, and :meth:`sample` draws new data from the model.

    Parameters
    ----------
    """ + _SHARED_DOC + """
    pretrain_epochs : int, default=200
        Epochs of autoencoder pretraining (Adam, loss ``pretrain_loss``).
    pretrain_loss : {"likelihood", "squared"}, default="likelihood"
        Loss of the pretraining. ``"likelihood"``: the decoder likelihood's
        (cross-entropy on the logits for Bernoulli, squared error for
        Gaussian). ``"squared"``: the mean squared error of the decoder's raw
        output, the pretraining of DEC's autoencoder; for Bernoulli the ELBO
        phase then reads that output as the logits.
    {pretrain_lr, batch_size}
    epochs : int, default=300
        Epochs of ELBO training (see Notes).
    learning_rate : float, default=0.002
        Adam learning rate of the ELBO phase (networks and mixture).
    lr_decay : float, default=0.9
        Factor applied to the learning rate every ``lr_decay_epochs``.
    lr_decay_epochs : int, default=10
        Epochs between two decays.
    min_lr : float, default=0.0002
        Floor of the decayed learning rate.
    n_init : int, default=10
        Restarts of the Gaussian mixture fitted to the pretrained codes (the
        one with the highest likelihood is kept).
    reg_covar : float, default=1e-6
        Added to the mixture's initial variances (``GaussianMixture.reg_covar``).
    max_grad_norm : float or None, default=None
        Clip the gradient norm of each step (off, as in the paper).
    """ + _SHARED_TAIL + """

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        :math:`\\arg\\max_c \\gamma_c` of the training samples. Components are
        numbered by decreasing size of their training cluster, so the labels
        run 0, 1, ... even when training leaves a component empty.
    weights_ : ndarray of shape (n_clusters,)
        Mixture weights :math:`\\pi`.
    means_ : ndarray of shape (n_clusters, n_components)
        Component means :math:`\\mu_c` in the latent space.
    covariances_ : ndarray of shape (n_clusters, n_components)
        Diagonal component variances :math:`\\sigma_c^2`.
    likelihood_ : str
        The decoder likelihood used (``"bernoulli"`` or ``"gaussian"``).
    autoencoder_ : torch.nn.Module
        The autoencoder (encoder mean head and decoder, trained).
    history_ : dict
        ``history_["pretrain"]["reconstruction"]`` and ``history_["clustering"]``
        with ``reconstruction`` (:math:`-E\\log p(x|z)`), ``kl``
        (:math:`KL(q(z,c|x) \\| p(z,c))`) and ``lr``, one value per epoch.
    {pretrain_history_, pretrain_restarts_}
    n_iter_ : int
        ELBO epochs run.
    {n_features_in_, feature_names_in_, device_}
    {learning_rate_scale_, divergence_restarts_}

    See Also
    --------
    DHVC : a hyperspherical relative with a von Mises-Fisher mixture.
    sklearn.mixture.GaussianMixture : the same mixture on raw features.

    Notes
    -----
    Where the paper is silent this follows the authors' released code (Keras,
    ``VaDE.py``, MNIST settings): the reconstruction term summed over
    features (``784 * BCE``); :math:`\\gamma` of the sampled code inside the
    loss, with gradients through it; Adam for the networks and the mixture,
    lr 0.002 and eps 1e-4, times 0.9 every 10 epochs down to 0.0002; batch
    100; :math:`\\mu_c, \\sigma_c^2` from a diagonal Gaussian mixture
    fitted to the pretrained mean codes, and :math:`\\pi` uniform; the
    log-variance head is not pretrained. Deviations:

    - **Pretraining.** The paper's MNIST result starts from the authors'
      pretrained weights (``pretrain_weights/ae_mnist``, a 784-500-500-2000-10
      autoencoder with a sigmoid output), whose training was never published
      (issues 2 and 5 of their repository, where others who pretrained their
      own report VaDE at 57% to 85% on MNIST). Here it is end-to-end (Adam,
      lr 1e-3, 200 epochs, batch ``batch_size``) with the likelihood's loss.
      The start decides the result: on MNIST-test (three seeds, two budgets)
      the Gaussian mixture on the pretrained codes scored 0.46 to 0.64 and the
      ELBO phase added 0.03 to 0.13, while starting the log-variance head
      small or random (below) and :math:`\\pi` from the mixture or uniform
      changed the final accuracy by at most 0.016, in no consistent
      direction. The gap to the paper's 0.945 is a gap in the pretrained
      autoencoder. On MNIST-full the diagonal mixture starts at 0.68 and
      0.75 (seeds 0 and 1) where k-means on the same codes reaches 0.82 and
      0.85. ``pretrain_loss="squared"`` (DEC's pretraining) ended at
      0.826 ± 0.029 against 0.753 ± 0.045 for the default, both with TF32
      steps (``benchmarks/vade_start.py``, ``mnist_gpu_extra.md``); the
      default stays the likelihood's loss, the reading of the paper that
      labels did not choose.
    - **Precision.** Training steps keep full float32 on CUDA, where the
      library's other methods multiply on TF32 tensor cores: with TF32 the
      MNIST fits ended lower on each of three seeds (0.722, 0.817, 0.721
      against 0.772, 0.834, 0.932), in 192 s instead of 242 s. DHVC, measured
      both ways, was not hurt by TF32 and takes the library's default.
    - **Log-variance head.** Zero weights and a bias of
      :math:`\\log(\\min_c \\sigma_{cj}^2 / 10)` in dimension :math:`j`; the
      code leaves Keras' random ``Dense`` (Glorot-uniform weights, zero
      bias), whose output scales with the hidden activations and overflows
      ``exp`` in the first step on unscaled data (scikit-learn's estimator
      checks). On MNIST the two starts end at the same accuracy (above).
    - **Parameterisation.** :math:`\\pi` as ``softmax`` logits and
      :math:`\\sigma_c^2` as log-variances; the code keeps raw, unconstrained
      :math:`\\pi` and :math:`\\sigma^2`, so its :math:`\\pi` leaves the
      simplex. :math:`\\gamma` is the exact posterior :math:`p(c|z)`, through
      ``log_softmax``; the code adds 1e-10 after ``exp`` and counts
      :math:`\\log\\pi_c` once per latent dimension, so that its
      :math:`\\gamma_c \\propto \\pi_c^J N(z|\\mu_c, \\sigma_c^2)`.
    - **Mixture fit.** ``GaussianMixture`` with ``n_init=10`` restarts and
      ``reg_covar=1e-6``; the code ran scikit-learn's old ``mixture.GMM`` once
      (its ``min_covar`` 1e-3).
    - **Epochs.** 300 instead of the 3000 of the code's last version (500 in
      its first), to fit a 5-minute budget on one GPU for MNIST. The learning
      rate reaches its floor after 220 epochs, and accuracy rises by less than
      half a point over the last 100 of the 300 (MNIST-test).
    - **Prediction** uses :math:`\\gamma` at the mean code; the code's
      ``gamma_output`` samples a code, so its labels are random.

    References
    ----------
    .. [1] Z. Jiang, Y. Zheng, H. Tan, B. Tang and H. Zhou, "Variational deep
       embedding: an unsupervised and generative approach to clustering",
       IJCAI 2017.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skdeepcluster import VaDE
    >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    >>> model = VaDE(n_clusters=3, hidden_dims=(16,), n_components=2,
    ...              pretrain_epochs=5, epochs=5, device="cpu", random_state=0)
    >>> model.fit_predict(X).shape
    (60,)
    >>> model.predict_proba(X).shape
    (60, 3)
    >>> X_new, y_new = model.sample(4)
    >>> X_new.shape
    (4, 2)
    """

    _parameter_constraints = {
        **_GenerativeBase._parameter_constraints,
        "pretrain_loss": [StrOptions({"likelihood", "squared"})],
        "reg_covar": [Interval(Real, 0, None, closed="left")],
    }
    _adam_eps = 1e-4
    # Full float32 steps: on MNIST, VaDE's ELBO trained with TF32 products ended lower on each of
    # three seeds (0.722, 0.817, 0.721 against 0.772, 0.834, 0.932; benchmarks/results/mnist_gpu_extra.md).
    _tf32_steps = False

    def __init__(
        self,
        n_clusters=8,
        *,
        hidden_dims=(500, 500, 2000),
        n_components=10,
        image_shape=None,
        likelihood="auto",
        pretrain_epochs=200,
        pretrain_loss="likelihood",
        pretrain_lr=1e-3,
        batch_size=100,
        epochs=300,
        learning_rate=0.002,
        lr_decay=0.9,
        lr_decay_epochs=10,
        min_lr=0.0002,
        n_init=10,
        reg_covar=1e-6,
        max_grad_norm=None,
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
        self.likelihood = likelihood
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_loss = pretrain_loss
        self.pretrain_lr = pretrain_lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.lr_decay = lr_decay
        self.lr_decay_epochs = lr_decay_epochs
        self.min_lr = min_lr
        self.n_init = n_init
        self.reg_covar = reg_covar
        self.max_grad_norm = max_grad_norm
        self.autoencoder = autoencoder
        self.pretrain_callbacks = pretrain_callbacks
        self.divergence_retries = divergence_retries
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _pretrain_criterion(self):
        if self.pretrain_loss == "likelihood":
            return super()._pretrain_criterion()
        return torch.nn.MSELoss

    def _fit(self, X, log):
        self.likelihood_ = self._resolve_likelihood(X)
        self.autoencoder_ = self._pretrain(X, log)
        Z = self._batched(self.autoencoder_.encode, X)
        gmm = GaussianMixture(
            self.n_clusters, covariance_type="diag", n_init=self.n_init, reg_covar=self.reg_covar,
            random_state=self._seed,
        ).fit(Z.detach().cpu().double().numpy())
        J = Z.shape[1]
        network = _VaDENetwork(self.autoencoder_, _hidden_width(self.autoencoder_, X), self.n_clusters, J).to(X.device)
        with torch.no_grad():
            as_tensor = lambda a: torch.as_tensor(a, dtype=X.dtype, device=X.device)  # noqa: E731
            # pi stays uniform (zero logits), as in the code
            network.means.copy_(as_tensor(gmm.means_))
            network.log_vars.copy_(as_tensor(np.log(gmm.covariances_)))
            network.log_var_head.weight.zero_()
            network.log_var_head.bias.copy_(as_tensor(np.log(gmm.covariances_.min(0) / 10)))
        self._network = network

        def loss_fn(index):
            x = X[index]
            mean, log_var = network.encode(x)
            z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
            reconstruction = _reconstruction_nll(network.autoencoder.decode(z), x, self.likelihood_).mean()
            log_gamma = _vade_responsibilities(z, network.pi_logits, network.means, network.log_vars)
            kl = _vade_kl(mean, log_var, log_gamma, network.pi_logits, network.means, network.log_vars).mean()
            return reconstruction + kl, {"reconstruction": reconstruction, "kl": kl}

        self.n_iter_ = self._train(X, network, loss_fn, log)
        self._number_components_by_size(X)
        self.weights_ = torch.softmax(network.pi_logits.detach(), 0).cpu().numpy()
        self.means_ = network.means.detach().cpu().numpy()
        self.covariances_ = network.log_vars.detach().exp().cpu().numpy()
        self.labels_ = self._batched(self._assign, X).cpu().numpy()

    @torch.no_grad()
    def _number_components_by_size(self, X):
        """Renumber the mixture components by decreasing size of their training cluster.

        The labels then run 0, 1, ... over the used components, whichever
        components training left empty.
        """
        counts = torch.bincount(self._batched(self._assign, X), minlength=self.n_clusters)
        order = torch.argsort(counts, descending=True, stable=True)
        for parameter in self._network.mixture_parameters():
            parameter.copy_(parameter[order])

    def _log_proba(self, X):
        net = self._network
        return _vade_responsibilities(net.encode(X)[0], net.pi_logits, net.means, net.log_vars)

    def sample(self, n_samples=1, cluster=None):
        """Generate data from the fitted model, like ``GaussianMixture.sample``.

        Draw :math:`c \\sim Cat(\\pi)` (or take ``cluster``),
        :math:`z \\sim N(\\mu_c, diag\\,\\sigma_c^2)`, and return the decoder's mean
        of :math:`p(x|z)` (pixel probabilities for the Bernoulli likelihood).
        Randomness comes from ``random_state``, as in scikit-learn's mixtures.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate.
        cluster : int or None, default=None
            Generate every sample from this component; None draws components
            from the mixture weights.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features), float32
            Generated data.
        y : ndarray of shape (n_samples,)
            Component of each sample.
        """
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive int, got {n_samples!r}.")
        if cluster is not None and not (isinstance(cluster, Integral) and 0 <= cluster < self.n_clusters):
            raise ValueError(f"cluster must be None or an int in [0, {self.n_clusters - 1}], got {cluster!r}.")
        rng = check_random_state(self.random_state)
        if cluster is None:
            counts = rng.multinomial(n_samples, self.weights_ / self.weights_.sum())
        else:
            counts = np.zeros(self.n_clusters, dtype=int)
            counts[cluster] = n_samples
        y = np.repeat(np.arange(self.n_clusters), counts)
        z = self.means_[y] + np.sqrt(self.covariances_[y]) * rng.standard_normal((n_samples, self.means_.shape[1]))
        z = torch.as_tensor(z.astype(np.float32), device=self.device_)
        X = self._batched(self._decode_mean, z).cpu().numpy()
        return X, y


# -- DHVC --------------------------------------------------------------------------------------
class DHVC(_GenerativeBase):
    __doc__ = """Deep Hyperspherical Variational Clustering (Yu, Wu, Chen and Liu, 2024).

    A hyperspherical variational autoencoder (Davidson et al., 2018) whose
    codes lie on the unit sphere :math:`S^{d-1}`, with a mixture of von
    Mises-Fisher distributions (vMFMM) as the model of the codes, trained by
    matching two cluster posteriors and by maximising an extended mutual
    information between codes and assignments. The four parts:

    1. **Hyperspherical VAE.** :math:`q(z|x) = vMF(\\mu(x), \\kappa(x))`, sampled
       with Wood's rejection scheme and a Householder reflection
       (:class:`skdeepcluster.nn.vmf.VonMisesFisher`), decoded by :math:`p(x|z)`.
    2. **vMF mixture** :math:`p(z) = \\sum_c \\pi_c\\, vMF(z|m_c, k_c)`, whose
       posterior is :math:`p(c|z) \\propto \\pi_c C_d(k_c) \\exp(k_c m_c^T z)`.
    3. **KL of the two posteriors** instead of the mixture-prior ELBO: a
       cluster head gives :math:`q(c|x)`, trained to agree with :math:`p(c|z)`.
    4. **Extended mutual information** :math:`I = w_m H(\\bar q) - H(q(c|x))`
       with :math:`\\bar q = E_x q(c|x)`; :math:`w_m \\ge 1` favours balanced
       clusters, the conditional entropy favours confident ones.

    Per mini-batch of :math:`B` samples with one :math:`z_i \\sim q(z|x_i)`:

    .. math:: L = \\frac1B\\sum_i \\Big[-\\log p(x_i|z_i)
              + \\alpha\\, KL\\big(q(c|x_i) \\,\\|\\, p(c|z_i)\\big)
              + \\beta\\, KL\\big(vMF(\\mu_i, \\kappa_i) \\,\\|\\, U(S^{d-1})\\big)\\Big]
              - \\lambda \\Big[w_m H(\\bar q) - \\frac1B \\sum_i H(q(c|x_i))\\Big]

    with :math:`\\alpha` = ``cluster_weight``, :math:`\\beta` = ``prior_weight``,
    :math:`\\lambda` = ``mi_weight`` and :math:`w_m` = ``balance_weight``.

    ``predict``/``predict_proba`` give the network's :math:`q(c|x)`
    (deterministic: no sampling), ``transform`` the mean direction
    :math:`\\mu(x)` on the sphere, and :meth:`mixture_proba` the vMFMM's
    :math:`p(c|\\mu(x))`.

    Parameters
    ----------
    """ + _SHARED_DOC + """
    pretrain_epochs : int, default=200
        Epochs of autoencoder pretraining through the normalised bottleneck
        :math:`z = \\mu(x)` (no sampling).
    {pretrain_lr}
    batch_size : int, default=256
        Mini-batch size of both phases; :math:`\\bar q` is estimated per batch,
        so it should hold a few dozen samples per cluster.
    epochs : int, default=200
        Epochs of joint training.
    learning_rate : float, default=1e-3
        Adam learning rate of the joint phase (networks and mixture).
    lr_decay : float, default=0.9
        Factor applied to the learning rate every ``lr_decay_epochs``.
    lr_decay_epochs : int, default=10
        Epochs between two decays.
    min_lr : float, default=1e-4
        Floor of the decayed learning rate.
    cluster_weight : float, default=1.0
        :math:`\\alpha`, weight of :math:`KL(q(c|x) \\| p(c|z))`.
    prior_weight : float, default=1.0
        :math:`\\beta`, weight of the KL of :math:`q(z|x)` to the uniform prior.
    mi_weight : float, default=1.0
        :math:`\\lambda`, weight of the extended mutual information.
    balance_weight : float, default=1.0
        :math:`w_m`, weight of the marginal entropy inside the mutual information.
    head_iter : int, default=500
        Mini-batch steps (Adam, lr 0.01) that fit the cluster head to
        :math:`p(c|\\mu(x))` before the joint phase, with the encoder frozen.
    n_init : int, default=10
        Restarts of the spherical k-means that initialises the mixture.
    max_concentration : float, default=1e4
        Upper bound on every concentration, :math:`\\kappa(x)` and :math:`k_c`.
    rejection_rounds : int, default=32
        Proposals per vMF draw in Wood's scheme (a fixed number, so that a step
        can be captured as a CUDA graph).
    max_grad_norm : float or None, default=None
        Clip the gradient norm of each step.
    """ + _SHARED_TAIL + """

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        :math:`\\arg\\max_c q(c|x)` of the training samples.
    weights_ : ndarray of shape (n_clusters,)
        vMFMM weights :math:`\\pi_c`.
    mean_directions_ : ndarray of shape (n_clusters, n_components)
        vMFMM mean directions :math:`m_c` (unit rows).
    concentrations_ : ndarray of shape (n_clusters,)
        vMFMM concentrations :math:`k_c`.
    likelihood_ : str
        The decoder likelihood used.
    autoencoder_ : torch.nn.Module
        The autoencoder, with its code normalised onto the sphere.
    history_ : dict
        ``pretrain``, ``head`` (``cross_entropy``) and ``clustering`` phases;
        the latter has ``reconstruction``, ``cluster_kl``, ``prior_kl``,
        ``marginal_entropy``, ``conditional_entropy`` and ``lr`` per epoch.
    {pretrain_history_, pretrain_restarts_}
    n_iter_ : int
        Joint epochs run.
    {n_features_in_, feature_names_in_, device_}
    {learning_rate_scale_, divergence_restarts_}

    See Also
    --------
    VaDE : the Gaussian-mixture VAE that DHVC departs from.
    skdeepcluster.nn.vmf.VonMisesFisher : the distribution and its sampler.

    Notes
    -----
    Only the abstract of the paper was available; its equations, network and
    settings are not. Every choice below is therefore ours, made to follow the
    abstract and the hyperspherical-VAE literature:

    - **Direction of the KL**: :math:`KL(q(c|x) \\| p(c|z))`. With the mean-field
      :math:`q(z,c|x) = q(z|x) q(c|x)`, the mixture-prior ELBO splits exactly as
      :math:`-ELBO = E_q[-\\log p(x|z)] + E_{q(z|x)} KL(q(c|x) \\| p(c|z))
      + KL(q(z|x) \\| p(z))`; the middle term is "the KL of the two posteriors".
      Gradients reach both sides (head, encoder through :math:`z`, and mixture).
    - **The last term** :math:`KL(q(z|x) \\| p(z))` against the mixture has no
      closed form; it is replaced by the closed-form KL to the uniform
      distribution on the sphere (the S-VAE prior) with weight :math:`\\beta`.
    - **Extended mutual information**: IMSAT-style
      :math:`H(\\bar q) - H(q(c|x))` on mini-batch estimates, extended by the
      weight :math:`w_m` on the marginal entropy; defaults
      :math:`\\lambda = w_m = 1`.
    - **Networks**: the d-500-500-2000-d encoder of VaDE with the code
      normalised to the sphere (:math:`d = 10`); :math:`\\kappa(x) =
      softplus(\\cdot) + 1` from a linear head, and :math:`q(c|x)` a linear
      softmax head, both on the last hidden layer; the mirrored decoder.
    - **Sampling gradient**: Wood's scheme with the reparameterisation term of
      Davidson et al. only, no correction term (as their code).
    - **Initialisation**: pretraining through the normalised bottleneck,
      spherical k-means (k-means++ by cosine, ``n_init`` restarts) on
      :math:`\\mu(X)`, 20 soft-EM steps of the vMFMM (Banerjee et al., 2005,
      with a Newton step for :math:`k_c`); the concentration head starts at
      :math:`\\kappa(x) = 10\\, \\mathrm{median}(k_c)` (zero weights) so that
      first samples keep the pretrained structure; the cluster head is fitted
      to :math:`p(c|\\mu(x))` for ``head_iter`` steps.
    - **Optimisation**: Adam (lr 1e-3, batch 256) for everything, times 0.9
      every 10 epochs down to 1e-4, 200 epochs; :math:`\\pi` as softmax logits,
      :math:`m_c` normalised in the forward pass, :math:`k_c = e^{\\cdot}`
      clipped to [0.01, ``max_concentration``].
    - **Prediction** uses :math:`q(c|x)`, the network posterior the paper
      trains for assignments.
    - **Precision**: training steps on CUDA take the library's TF32 products
      (:func:`~skdeepcluster.training.step_precision`). Unlike VaDE, DHVC was
      not hurt by them: on MNIST, three seeds ended at 0.945, 0.946, 0.948 in
      145 s with TF32 and at 0.836, 0.950, 0.946 in 166 s in full float32.

    References
    ----------
    .. [1] N. Yu, H. Wu, F. Chen and X. Liu, "Deep hyperspherical variational
       clustering network", Journal of Chongqing Normal University (Natural
       Science) 41(3), 100-112, 2024. doi:10.11721/cqnuj20240305.
    .. [2] T. R. Davidson, L. Falorsi, N. De Cao, T. Kipf and J. M. Tomczak,
       "Hyperspherical variational auto-encoders", UAI 2018.
    .. [3] A. Banerjee, I. S. Dhillon, J. Ghosh and S. Sra, "Clustering on the
       unit hypersphere using von Mises-Fisher distributions", JMLR 6, 2005.
    .. [4] W. Hu, T. Miyato, S. Tokui, E. Matsumoto and M. Sugiyama, "Learning
       discrete representations via information maximizing self-augmented
       training", ICML 2017.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skdeepcluster import DHVC
    >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    >>> model = DHVC(n_clusters=3, hidden_dims=(16,), n_components=3,
    ...              pretrain_epochs=5, epochs=5, device="cpu", random_state=0)
    >>> model.fit_predict(X).shape
    (60,)
    >>> model.transform(X).shape
    (60, 3)
    """

    _parameter_constraints = {
        **_GenerativeBase._parameter_constraints,
        "cluster_weight": [Interval(Real, 0, None, closed="left")],
        "prior_weight": [Interval(Real, 0, None, closed="left")],
        "mi_weight": [Interval(Real, 0, None, closed="left")],
        "balance_weight": [Interval(Real, 0, None, closed="left")],
        "head_iter": [Interval(Integral, 0, None, closed="left")],
        "max_concentration": [Interval(Real, 1, None, closed="neither")],
        "rejection_rounds": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        hidden_dims=(500, 500, 2000),
        n_components=10,
        image_shape=None,
        likelihood="auto",
        pretrain_epochs=200,
        pretrain_lr=1e-3,
        batch_size=256,
        epochs=200,
        learning_rate=1e-3,
        lr_decay=0.9,
        lr_decay_epochs=10,
        min_lr=1e-4,
        cluster_weight=1.0,
        prior_weight=1.0,
        mi_weight=1.0,
        balance_weight=1.0,
        head_iter=500,
        n_init=10,
        max_concentration=1e4,
        rejection_rounds=32,
        max_grad_norm=None,
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
        self.likelihood = likelihood
        self.pretrain_epochs = pretrain_epochs
        self.pretrain_lr = pretrain_lr
        self.batch_size = batch_size
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.lr_decay = lr_decay
        self.lr_decay_epochs = lr_decay_epochs
        self.min_lr = min_lr
        self.cluster_weight = cluster_weight
        self.prior_weight = prior_weight
        self.mi_weight = mi_weight
        self.balance_weight = balance_weight
        self.head_iter = head_iter
        self.n_init = n_init
        self.max_concentration = max_concentration
        self.rejection_rounds = rejection_rounds
        self.max_grad_norm = max_grad_norm
        self.autoencoder = autoencoder
        self.pretrain_callbacks = pretrain_callbacks
        self.divergence_retries = divergence_retries
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, X, log):
        self.likelihood_ = self._resolve_likelihood(X)
        self.autoencoder_ = self._pretrain(X, log, wrap=_spherical)
        Z = self._batched(self.autoencoder_.encode, X)
        d = Z.shape[1]
        log_w, directions, kappas = fit_vmf_mixture(Z, self.n_clusters, self.n_init, 20, self.max_concentration)
        network = _DHVCNetwork(
            self.autoencoder_, _hidden_width(self.autoencoder_, X), self.n_clusters, d, self.max_concentration
        ).to(X.device)
        with torch.no_grad():
            network.pi_logits.copy_(log_w)
            network.directions.copy_(directions)
            network.log_concentrations.copy_(kappas.log())
            # kappa = softplus(bias) + 1 > 1; degenerate data (one point) can give a median below 1
            start = max(min(10 * float(kappas.median()), self.max_concentration / 2) - 1, 1e-3)
            network.concentration_head.weight.zero_()
            network.concentration_head.bias.fill_(start + math.log(-math.expm1(-start)))  # softplus^-1
        self._network = network
        self._fit_cluster_head(X, network, log)
        self.n_iter_ = self._train(X, network, self._joint_loss(X, network), log)
        log_w, directions, kappas = network.mixture()
        self.weights_ = log_w.detach().exp().cpu().numpy()
        self.mean_directions_ = directions.detach().cpu().numpy()
        self.concentrations_ = kappas.detach().cpu().numpy()
        self.labels_ = self._batched(self._assign, X).cpu().numpy()

    def _fit_cluster_head(self, X, network, log):
        """Cross-entropy of q(c|x) to the initial mixture posterior p(c|mu(x)), encoder frozen."""
        if self.head_iter == 0:
            return
        extra = {"fused": True, "capturable": True} if X.device.type == "cuda" else {}
        optimizer = torch.optim.Adam(network.cluster_head.parameters(), lr=0.01, **extra)

        def loss_fn(index):
            with torch.no_grad():
                hidden, code = _encoder_parts(network.autoencoder, X[index])
                target, _ = vmf_mixture_log_posterior(F.normalize(code, dim=1), *network.mixture())
            ce = -(target.exp() * F.log_softmax(network.cluster_head(hidden), 1)).sum(1).mean()
            return ce, {"cross_entropy": ce}

        step, losses = TrainStep(loss_fn, optimizer), LossAccumulator()
        n_batches = -(-X.shape[0] // self.batch_size)
        iteration = 0
        with log.phase("head", total=-(-self.head_iter // n_batches)):
            while iteration < self.head_iter:
                for index in minibatches(X.shape[0], self.batch_size, X.device):
                    losses.add(len(index), **step(index))
                    iteration += 1
                    if iteration == self.head_iter:
                        break
                log.record("head", **losses.means())

    def _joint_loss(self, X, network):
        d = network.directions.shape[1]

        def loss_fn(index):
            x = X[index]
            mu, kappa, logits = network.encode(x)
            z = VonMisesFisher(mu, kappa, rejection_rounds=self.rejection_rounds).rsample()
            reconstruction = _reconstruction_nll(network.autoencoder.decode(z), x, self.likelihood_).mean()
            prior_kl = kl_to_uniform(kappa, d).mean()
            log_q = F.log_softmax(logits, 1)
            q = log_q.exp()
            log_p, _ = vmf_mixture_log_posterior(z, *network.mixture())
            cluster_kl = (q * (log_q - log_p)).sum(1).mean()
            q_bar = q.mean(0)
            marginal = _entropy(q_bar, torch.log(q_bar.clamp_min(1e-12)))
            conditional = _entropy(q, log_q).mean()
            loss = (
                reconstruction
                + self.cluster_weight * cluster_kl
                + self.prior_weight * prior_kl
                - self.mi_weight * (self.balance_weight * marginal - conditional)
            )
            return loss, {
                "reconstruction": reconstruction,
                "cluster_kl": cluster_kl,
                "prior_kl": prior_kl,
                "marginal_entropy": marginal,
                "conditional_entropy": conditional,
            }

        return loss_fn

    def _log_proba(self, X):
        return F.log_softmax(self._network.encode(X)[2], 1)

    def mixture_proba(self, X):
        """Posterior :math:`p(c|\\mu(x))` of the fitted vMF mixture at each sample's mean direction.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            New data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_clusters)
            Rows sum to one.
        """
        check_is_fitted(self)
        net = self._network
        return self._infer(lambda x: vmf_mixture_log_posterior(net.encode(x)[0], *net.mixture())[0].exp(), X)
