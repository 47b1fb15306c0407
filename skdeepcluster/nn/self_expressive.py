"""The self-expressive layer of deep subspace clustering (DSC-Net, DMSC)."""

import torch
from torch import nn

__all__ = ["SelfExpressive"]


class SelfExpressive(nn.Module):
    """A learnable ``n x n`` coefficient matrix ``C`` with zero diagonal: ``Z -> C Z``.

    Rows of ``Z`` are samples, so ``C[i, j]`` is the weight of sample ``j`` in
    the reconstruction of sample ``i`` (the transpose of the papers'
    ``Z = Z Theta`` column convention, and the axis of the authors' code). The
    diagonal is zeroed in the forward pass (``C - diag(C)``), so no sample can
    express itself and the trivial solution ``C = I`` is excluded for both
    the l1 and the l2 penalty.

    Parameters
    ----------
    n_samples : int
        Number of samples ``n``; the layer only applies to that many rows, in order.
    init : float, default=1e-4
        Initial value of every coefficient (the DSC-Net/DMSC code uses
        ``1e-4 * ones`` for Extended Yale B).
    """

    def __init__(self, n_samples, init=1e-4):
        super().__init__()
        self.n_samples = int(n_samples)
        self.weight = nn.Parameter(torch.full((self.n_samples, self.n_samples), float(init)))

    def coefficients(self):
        """``C`` with its diagonal zeroed, shape ``(n, n)``."""
        return self.weight - torch.diag_embed(self.weight.diagonal())

    def penalty(self, p=2):
        """``||C||_1`` (``p=1``) or ``||C||_F^2`` (``p=2``) of the zero-diagonal ``C``."""
        C = self.coefficients()
        return C.abs().sum() if p == 1 else C.pow(2).sum()

    def forward(self, z):
        """``(n, d) -> (n, d)``: every row rewritten as a combination of the others."""
        return self.coefficients() @ z

    @staticmethod
    def memory_bytes(n_samples, dtype_bytes=4, copies=6):
        """Bytes that training an ``n x n`` layer holds on its device.

        ``copies``: the weight, its zero-diagonal view, their gradients and
        Adam's two moment estimates.
        """
        return int(copies) * int(dtype_bytes) * int(n_samples) ** 2
