"""skdeepcluster: deep clustering methods in PyTorch with a scikit-learn API."""

from . import persistence
from .cluster import AEKMeans, CaEGCN, DCN, DEC, DHVC, DMSC, DSCDAN, DSCNet, DeepCluster, IDEC, N2D, SDCN, VaDE

__version__ = "0.1.0.dev0"

__all__ = ["AEKMeans", "CaEGCN", "DCN", "DEC", "DHVC", "DMSC", "DSCDAN", "DSCNet", "DeepCluster", "IDEC", "N2D", "SDCN", "VaDE", "__version__"]
