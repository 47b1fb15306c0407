"""skdeepcluster: deep clustering methods in PyTorch with a scikit-learn API."""

from .cluster import AEKMeans, CaEGCN, DEC, IDEC, SDCN

__version__ = "0.1.0.dev0"

__all__ = ["AEKMeans", "CaEGCN", "DEC", "IDEC", "SDCN", "__version__"]
