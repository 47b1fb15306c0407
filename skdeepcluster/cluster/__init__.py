"""One private module per method (or close pair); the estimators are re-exported by the package."""

from ._aekmeans import AEKMeans
from ._dcn import DCN
from ._dec import DEC, IDEC
from ._deepcluster import DeepCluster
from ._dscdan import DSCDAN
from ._generative import DHVC, VaDE
from ._graph import SDCN, CaEGCN
from ._n2d import N2D
from ._subspace import DMSC, DSCNet

__all__ = ["AEKMeans", "CaEGCN", "DCN", "DEC", "DHVC", "DMSC", "DSCDAN", "DSCNet", "DeepCluster", "IDEC", "N2D", "SDCN", "VaDE"]

# Shared parameter and attribute descriptions: see skdeepcluster/_docstrings.py.
from .._docstrings import fill_docstring  # noqa: E402

for _name in __all__:
    fill_docstring(globals()[_name])
