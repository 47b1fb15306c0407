"""One private module per method (or close pair); the estimators are re-exported by the package."""

from ._aekmeans import AEKMeans
from ._dec import DEC, IDEC

__all__ = ["AEKMeans", "DEC", "IDEC"]
