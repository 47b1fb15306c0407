"""Graph modules: the GCN layer and the cross-attention fusion of CaEGCN.

Both take node features as ``(n_nodes, width)`` tensors. The graph is passed
to :class:`GraphConvolution` as a callable ``propagate(H) = A_hat @ H``
(for example :class:`skdeepcluster.graph.SparsePropagation`), so the layer
never needs a dense adjacency.
"""

import inspect
import math

import torch
import torch.nn.functional as F
from torch import nn

try:
    from torch.nn.attention import SDPBackend, sdpa_kernel
except ImportError:  # torch < 2.3
    sdpa_kernel = None

__all__ = ["GraphConvolution", "CrossAttentionFusion", "head_width"]

#: Attention kernels on CUDA, first choice first. cuDNN's fused attention took 77 ms
#: against flash's 88 ms (forward and backward, 8 heads, 70,000 tokens, bfloat16, H100);
#: where it does not apply, PyTorch falls through to the next. Empty (PyTorch's own
#: choice) where torch cannot order the backends (before 2.6).
CUDA_ATTENTION_BACKENDS = (
    [SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
    if sdpa_kernel is not None and "set_priority" in inspect.signature(sdpa_kernel).parameters
    else []
)


class GraphConvolution(nn.Module):
    """Graph convolution of Kipf and Welling (2017), without bias as in SDCN.

    .. math:: H^{(l+1)} = \\phi\\big(\\hat A\\, H^{(l)} W^{(l)}\\big)

    with :math:`\\hat A` the normalised adjacency with self-loops (applied by
    ``propagate``), :math:`W^{(l)}` of shape ``(in_features, out_features)``
    and :math:`\\phi` ReLU, or the identity when ``activation=False``.

    Parameters
    ----------
    in_features, out_features : int
    activation : bool, default=True
        Apply ReLU.
    bias : bool, default=False
        Add a bias after propagation.
    """

    def __init__(self, in_features, out_features, activation=True, bias=False):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        """Glorot-uniform weight (as in the GCN and SDCN code), zero bias."""
        nn.init.xavier_uniform_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, H, propagate):
        """Convolve node features.

        Parameters
        ----------
        H : Tensor of shape (n_nodes_in, in_features)
        propagate : callable
            ``(n_nodes_in, out_features) -> (n_nodes_out, out_features)``, the product with :math:`\\hat A`.

        Returns
        -------
        Tensor of shape (n_nodes_out, out_features)
        """
        out = propagate(H @ self.weight)  # multiply by W first: the narrower product goes through A_hat
        if self.bias is not None:
            out = out + self.bias
        return torch.relu(out) if self.activation else out

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, activation={self.activation}"


def head_width(width, n_heads, cap=256, multiple=8):
    """Per-head width: ``ceil(min(width, cap) / n_heads)`` rounded up to a multiple of ``multiple``.

    Attention cost grows with the total width ``n_heads * head_width``; the cap
    keeps the widest layers affordable at tens of thousands of nodes, and a
    multiple of 8 lets the fused (flash / memory-efficient) kernels run.
    """
    return multiple * math.ceil(math.ceil(min(width, cap) / n_heads) / multiple)


class CrossAttentionFusion(nn.Module):
    """Cross-attention fusion of a graph layer and a content layer (CaEGCN, Huo et al., 2023).

    The two representations of the same nodes are mixed and the result attends
    over all (context) nodes with multi-head scaled dot-product attention:

    .. math::

        Y &= \\gamma Z_l + (1 - \\gamma) H_l \\\\
        \\mathrm{head}_m &= \\mathrm{softmax}\\Big(\\frac{(Y W_m^q)(Y_c W_m^k)^\\top}{\\sqrt{d_h}}\\Big)\\, Y_c W_m^v \\\\
        R &= Y + [\\mathrm{head}_1, \\dots, \\mathrm{head}_M]\\, W^o + b^o

    with :math:`Z_l` the graph (GAE) layer, :math:`H_l` the content (CAE) layer,
    :math:`Y_c` the rows of :math:`Y` used as keys and values (all of them by
    default). The attention runs through
    :func:`torch.nn.functional.scaled_dot_product_attention`, whose fused
    kernels never hold the ``n x n`` score matrix.

    Parameters
    ----------
    width : int
        Width of :math:`Z_l`, :math:`H_l` and :math:`R`.
    n_heads : int, default=8
        :math:`M`.
    head_dim : int or None, default=None
        :math:`d_h`; ``None`` uses :func:`head_width`.
    gamma : float, default=0.5
        :math:`\\gamma`.
    residual : bool, default=True
        Add :math:`Y` to the attention output. Attention over all nodes is
        nearly uniform at initialisation and would map every node to the same
        vector; the residual keeps each node's own features.
    attention_dtype : torch.dtype or None, default=None
        Compute the attention itself in this dtype (``torch.bfloat16`` on a
        GPU enables the flash kernel); projections stay in the input dtype.
    """

    def __init__(self, width, n_heads=8, head_dim=None, gamma=0.5, residual=True, attention_dtype=None):
        super().__init__()
        self.residual = residual
        self.width = width
        self.n_heads = n_heads
        self.head_dim = head_dim or head_width(width, n_heads)
        self.gamma = gamma
        self.attention_dtype = attention_dtype
        inner = n_heads * self.head_dim
        # One matrix per role holds the M per-head projections side by side.
        self.query = nn.Linear(width, inner, bias=False)
        self.key = nn.Linear(width, inner, bias=False)
        self.value = nn.Linear(width, inner, bias=False)
        self.out = nn.Linear(inner, width)
        self.reset_parameters()

    def reset_parameters(self):
        for layer in (self.query, self.key, self.value, self.out):
            nn.init.xavier_uniform_(layer.weight)
        nn.init.zeros_(self.out.bias)

    def _heads(self, T):
        # (n, M * d_h) -> (1, M, n, d_h): one "batch", M heads, the nodes as tokens
        return T.view(T.shape[0], self.n_heads, self.head_dim).transpose(0, 1).unsqueeze(0)

    @staticmethod
    def _attend(q, k, v):
        if not q.is_cuda or not CUDA_ATTENTION_BACKENDS:
            return F.scaled_dot_product_attention(q, k, v)
        with sdpa_kernel(CUDA_ATTENTION_BACKENDS, set_priority=True):
            return F.scaled_dot_product_attention(q, k, v)

    def forward(self, Z, H, n_context=None):
        """Fuse and attend.

        Parameters
        ----------
        Z : Tensor of shape (n_nodes, width)
            Graph-branch layer :math:`Z_l`.
        H : Tensor of shape (n_nodes, width)
            Content-branch layer :math:`H_l`.
        n_context : int or None
            Only the first ``n_context`` nodes serve as keys and values (all
            nodes query); ``None`` means all. Used to place new samples
            against the training nodes without changing the training nodes.

        Returns
        -------
        R : Tensor of shape (n_nodes, width)
        """
        Y = self.gamma * Z + (1 - self.gamma) * H
        context = Y if n_context is None else Y[:n_context]
        q, k, v = self._heads(self.query(Y)), self._heads(self.key(context)), self._heads(self.value(context))
        dtype = self.attention_dtype
        if dtype is not None and dtype != q.dtype:
            attended = self._attend(q.to(dtype), k.to(dtype), v.to(dtype)).to(Y.dtype)
        else:
            attended = self._attend(q, k, v)
        attended = attended.squeeze(0).transpose(0, 1).reshape(Y.shape[0], -1)
        out = self.out(attended)
        return Y + out if self.residual else out

    def extra_repr(self):
        return f"width={self.width}, n_heads={self.n_heads}, head_dim={self.head_dim}, gamma={self.gamma}"
