"""One private module per method (or close pair); the estimators are re-exported by the package."""

from ._aekmeans import AEKMeans
from ._dec import DEC, IDEC
from ._generative import DHVC, VaDE

__all__ = ["AEKMeans", "DEC", "DHVC", "IDEC", "VaDE"]
