"""Torch modules only: no scikit-learn here."""

from .autoencoder import ConvAutoencoder, MLPAutoencoder, build_autoencoder, glorot_init, mlp
from .mutual_info import (
    GlobalDiscriminator,
    LocalDiscriminator,
    gaussian_prior_kl,
    jsd_mutual_information,
    shuffle_batch,
)
from .spectral import Orthonorm, knn_affinity, orthonormal_factor, orthonormalize, spectral_loss

__all__ = [
    "ConvAutoencoder",
    "MLPAutoencoder",
    "build_autoencoder",
    "glorot_init",
    "mlp",
    "GlobalDiscriminator",
    "LocalDiscriminator",
    "gaussian_prior_kl",
    "jsd_mutual_information",
    "shuffle_batch",
    "Orthonorm",
    "knn_affinity",
    "orthonormal_factor",
    "orthonormalize",
    "spectral_loss",
]
