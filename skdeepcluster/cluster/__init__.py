"""One private module per method (or close pair); the estimators are re-exported by the package."""

from ._aekmeans import AEKMeans
from ._dec import DEC, IDEC
from ._graph import SDCN, CaEGCN

__all__ = ["AEKMeans", "CaEGCN", "DEC", "IDEC", "SDCN"]
