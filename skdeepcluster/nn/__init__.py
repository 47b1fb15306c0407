"""Torch modules only: no scikit-learn here."""

from .autoencoder import ConvAutoencoder, MLPAutoencoder, build_autoencoder, glorot_init, mlp
from .self_expressive import SelfExpressive

__all__ = ["ConvAutoencoder", "MLPAutoencoder", "SelfExpressive", "build_autoencoder", "glorot_init", "mlp"]
