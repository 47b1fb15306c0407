"""Parameter and attribute descriptions that several estimators share, written once.

An estimator's docstring names shared entries on a line of their own, in
braces: ``{pretrain_lr}``, or several at once, ``{autoencoder, device,
random_state, verbose}``. :func:`fill_docstring` (run on every estimator by
``skdeepcluster.cluster`` at import) replaces such a line with the entries,
indented as the line is. ``default={default}``, in a shared entry or in an
estimator's own ``name : type, default={default}`` line, becomes the default
of that parameter in the estimator's signature, so the documented default
cannot drift from the code. An estimator whose parameter means something more or
different writes its own entry instead.
"""

import inspect
import re
import textwrap

__all__ = ["ENTRIES", "fill_docstring"]

#: Shared entries by name. The first line is ``name : type``; an entry whose
#: key differs from the name it documents is a variant (``batch_size_pretrain``).
ENTRIES = {
    # -- parameters -----------------------------------------------------------------
    "n_clusters": """
        n_clusters : int, default={default}
            Number of clusters :math:`K`.""",
    "hidden_dims": """
        hidden_dims : tuple of int, default={default}
            Widths of the encoder's hidden layers (the decoder mirrors them).
            Ignored when ``image_shape`` is given.""",
    "n_components": """
        n_components : int, default={default}
            Width of the embedding :math:`z = f(x)` (the encoder's output).""",
    "image_shape": """
        image_shape : tuple of int or None, default={default}
            ``(channels, height, width)`` of each row; when given, the
            convolutional autoencoder (:class:`~skdeepcluster.nn.ConvAutoencoder`)
            is used instead of the MLP.""",
    "pretrain_epochs": """
        pretrain_epochs : int, default={default}
            Epochs of end-to-end autoencoder pretraining (Adam, mean squared
            reconstruction error).""",
    "pretrain_lr": """
        pretrain_lr : float, default={default}
            Adam learning rate of the pretraining.""",
    "pretrain_tol": """
        pretrain_tol : float, default={default}
            The relative fall of the reconstruction error that counts as an
            improvement for ``pretrain_n_iter_no_change``.""",
    "batch_size": """
        batch_size : int, default={default}
            Mini-batch size of both phases.""",
    "batch_size_pretrain": """
        batch_size : int, default={default}
            Mini-batch size of the pretraining (the later phase is full batch).""",
    "autoencoder": """
        autoencoder : torch.nn.Module, fitted estimator or None, default={default}
            A pretrained autoencoder to start from: a fitted skdeepcluster
            estimator (for example ``AEKMeans(...).fit(X)``) or its
            ``autoencoder_``. It is copied, never modified, and pretraining
            is skipped.""",
    "pretrain_callbacks": """
        pretrain_callbacks : list of skorch callbacks or None, default={default}
            Extra skorch callbacks for the pretraining
            (``EarlyStopping(monitor="train_loss")``, ``LRScheduler``, ...);
            the pretraining holds out no validation data, so there is no
            ``valid_loss`` to monitor. With callbacks the pretraining runs
            eagerly, without CUDA graphs.""",
    "divergence_retries": """
        divergence_retries : int, default={default}
            Restarts after a divergence (a loss or the weights turning NaN or
            infinite). 0 raises :class:`~skdeepcluster.training.TrainingDivergedError`
            at once. With ``k > 0`` a diverged fit starts over from scratch,
            with the same seed and every learning rate (``lr``,
            ``learning_rate``, every ``*_lr``) divided by 10, up to ``k``
            times, each restart with a ``RuntimeWarning``; where
            ``max_grad_norm`` is None, restarts also clip gradients at 1.0.
            When the last try diverges too, the error says how many restarts
            were tried. The parameters themselves are never changed.""",
    "device": """
        device : str or torch.device, default={default}
            Where to train: ``"auto"`` picks CUDA, then Apple's MPS, then the
            CPU; ``"cpu"``, ``"cuda:1"`` or a ``torch.device`` name one.""",
    "random_state": """
        random_state : int, RandomState instance or None, default={default}
            Seeds everything the fit draws (weights, shuffling, clustering
            initialisations, sampling); with an int, two fits on the CPU give
            the same result. The caller's global random state is left alone.""",
    "verbose": """
        verbose : int, default={default}
            0 is silent, 1 shows a progress bar per training phase, 2 also
            logs every epoch's loss terms.""",
    # -- attributes -----------------------------------------------------------------
    "history_pretrain": """
        history_ : dict
            ``{"pretrain": {"reconstruction": [...]}}``, one value per epoch.""",
    "n_iter_pretrain": """
        n_iter_ : int
            Pretraining epochs run (0 when a given ``autoencoder`` skipped them).""",
    "pretrain_history_": """
        pretrain_history_ : skorch History or None
            skorch's own history of the pretraining; None when a given
            ``autoencoder`` skipped it.""",
    "pretrain_restarts_": """
        pretrain_restarts_ : int
            Pretrainings discarded because the decoder's output had died: it
            gave 0 for every sample on features holding over 1% of the data's
            sum of squares (dead ReLUs at a decoder output such as DSC-Net's;
            never with a linear output). Each restart draws fresh weights, at
            most 3; 0 when none was, or when a given ``autoencoder`` skipped
            pretraining.""",
    "n_features_in_": """
        n_features_in_ : int
            Number of features seen in fit.""",
    "feature_names_in_": """
        feature_names_in_ : ndarray of shape (`n_features_in_`,)
            Names of features seen in fit, when X has string column names.""",
    "learning_rate_scale_": """
        learning_rate_scale_ : float
            Factor on every learning rate of the fit that succeeded: 1.0, or
            0.1 after one restart (``divergence_retries``), 0.01 after two, and so on.""",
    "divergence_restarts_": """
        divergence_restarts_ : int
            Restarts after a divergence this fit needed (0 for most fits).""",
    "device_": """
        device_ : torch.device
            Device the model was trained on (``cpu`` after loading a pickle
            on a machine without its GPU).""",
}

_OWN_DEFAULT = re.compile(r"^(?P<head>[ \t]*(?P<name>\w+) : .*default=)\{default\}", re.MULTILINE)
_LINE = re.compile(r"^(?P<indent>[ \t]*)\{(?P<names>[a-z_]+(?:, *[a-z_]+)*)\}[ \t]*$", re.MULTILINE)


def _default_text(value):
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, float):  # short, unless that loses digits (1 / 255**2)
        return f"{value:g}" if float(f"{value:g}") == value else repr(value)
    return repr(value)


def _entry(key, defaults):
    text = textwrap.dedent(ENTRIES[key]).strip("\n")
    name = text.split(" : ", 1)[0]
    if "{default}" in text:
        if name not in defaults:
            raise ValueError(f"shared docstring entry {key!r}: the signature has no parameter {name!r}.")
        text = text.replace("{default}", _default_text(defaults[name]))
    return text


def fill_docstring(cls):
    """Replace the ``{name, ...}`` lines of ``cls.__doc__`` by the shared entries; return ``cls``.

    Raises ``ValueError`` for a name that is not in :data:`ENTRIES`, so that a
    typo fails at import rather than showing in the documentation.
    """
    if not cls.__doc__:
        return cls
    defaults = {
        name: p.default
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }

    def expand(match):
        names = [n.strip() for n in match["names"].split(",")]
        unknown = [n for n in names if n not in ENTRIES]
        if unknown:
            raise ValueError(f"{cls.__name__} docstring: no shared entry {unknown[0]!r}.")
        text = "\n".join(_entry(n, defaults) for n in names)
        return textwrap.indent(text, match["indent"])

    def own_default(match):
        if match["name"] not in defaults:
            raise ValueError(f"{cls.__name__} docstring: the signature has no parameter {match['name']!r}.")
        return match["head"] + _default_text(defaults[match["name"]])

    cls.__doc__ = _OWN_DEFAULT.sub(own_default, _LINE.sub(expand, cls.__doc__))
    return cls
