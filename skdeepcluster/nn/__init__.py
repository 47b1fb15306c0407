"""Torch modules only: no scikit-learn here."""

from .autoencoder import ConvAutoencoder, MLPAutoencoder, build_autoencoder, glorot_init, mlp
from .gcn import CrossAttentionFusion, GraphConvolution, head_width

__all__ = [
    "ConvAutoencoder",
    "CrossAttentionFusion",
    "GraphConvolution",
    "MLPAutoencoder",
    "build_autoencoder",
    "glorot_init",
    "head_width",
    "mlp",
]
