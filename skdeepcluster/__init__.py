"""skdeepcluster: deep clustering methods in PyTorch with a scikit-learn API."""

from .cluster import AEKMeans, DEC, DHVC, IDEC, VaDE

__version__ = "0.1.0.dev0"

__all__ = ["AEKMeans", "DEC", "DHVC", "IDEC", "VaDE", "__version__"]
