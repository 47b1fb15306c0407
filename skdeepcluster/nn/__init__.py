"""Torch modules only: no scikit-learn here."""

from .autoencoder import ConvAutoencoder, MLPAutoencoder, build_autoencoder, glorot_init, mlp

__all__ = ["ConvAutoencoder", "MLPAutoencoder", "build_autoencoder", "glorot_init", "mlp"]
