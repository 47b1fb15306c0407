"""The self-expressive layer of deep subspace clustering (DSC-Net, DMSC)."""

import torch
from torch import nn

__all__ = ["SelfExpressive"]


class SelfExpressive(nn.Module):
    """A learnable ``n x n`` coefficient matrix ``C``, by default with zero diagonal: ``Z -> C Z``.

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
        ``1e-4 * ones`` for Extended Yale B, ``1e-8 * ones`` for COIL20).
    zero_diagonal : bool, default=True
        Zero the diagonal. False keeps it trainable, as the released
        DSC-Net-L2 code does (only sensible with the l2 penalty, which makes
        ``C = I`` costly; with the l1 penalty ``C = I`` is a trivial solution).
    """

    def __init__(self, n_samples, init=1e-4, zero_diagonal=True):
        super().__init__()
        self.n_samples = int(n_samples)
        self.zero_diagonal = bool(zero_diagonal)
        self.weight = nn.Parameter(torch.full((self.n_samples, self.n_samples), float(init)))

    def coefficients(self):
        """``C`` (its diagonal zeroed unless ``zero_diagonal=False``), shape ``(n, n)``."""
        if not self.zero_diagonal:
            return self.weight
        return self.weight - torch.diag_embed(self.weight.diagonal())

    def penalty(self, p=2):
        """``||C||_1`` (``p=1``) or ``||C||_F^2`` (``p=2``) of :meth:`coefficients`."""
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
