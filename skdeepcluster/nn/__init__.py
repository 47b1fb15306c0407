"""Torch modules only: no scikit-learn here."""

from .autoencoder import ConvAutoencoder, FeatureMapAutoencoder, MLPAutoencoder, build_autoencoder, glorot_init, mlp
from .self_expressive import SelfExpressive
from .mutual_info import (
    GlobalDiscriminator,
    LocalDiscriminator,
    cluster_prior_kl,
    gaussian_prior_kl,
    jsd_mutual_information,
    shuffle_batch,
)
from .spectral import Orthonorm, knn_affinity, orthonormal_factor, orthonormalize, spectral_loss
from .gcn import CrossAttentionFusion, GraphConvolution, head_width

__all__ = [
    "ConvAutoencoder",
    "CrossAttentionFusion",
    "FeatureMapAutoencoder",
    "GlobalDiscriminator",
    "GraphConvolution",
    "LocalDiscriminator",
    "MLPAutoencoder",
    "Orthonorm",
    "SelfExpressive",
    "build_autoencoder",
    "cluster_prior_kl",
    "gaussian_prior_kl",
    "glorot_init",
    "head_width",
    "jsd_mutual_information",
    "knn_affinity",
    "mlp",
    "orthonormal_factor",
    "orthonormalize",
    "shuffle_batch",
    "spectral_loss",
]
