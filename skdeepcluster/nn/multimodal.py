"""A multimodal autoencoder: one encoder and one decoder per modality, with spatial fusion.

Rows are flat: the modalities are consecutive column blocks of ``x`` of widths
``view_sizes``. Used by DMSC (Abavisani and Patel, 2018).
"""

import torch
from torch import nn

from .autoencoder import FeatureMapAutoencoder, build_autoencoder, glorot_init, mlp

__all__ = ["MultimodalAutoencoder", "FUSIONS", "FUSION_FUNCTIONS"]

FUSIONS = ("early", "intermediate", "late", "affinity")
FUSION_FUNCTIONS = ("sum", "max", "concat")


def fuse(parts, how):
    """Element-wise sum, element-wise max, or concatenation of same-length rows."""
    if how == "concat":
        return torch.cat(parts, dim=1)
    stacked = torch.stack(parts)
    return stacked.sum(0) if how == "sum" else stacked.amax(0)


class MultimodalAutoencoder(nn.Module):
    """Per-modality autoencoders whose codes are fused (or kept apart) before a shared layer.

    - ``fusion="early"``: the modalities' inputs are fused (sum/max need equal
      widths; concat stacks them, as channels when all are images of one size)
      and one encoder maps the fused input to a code;
    - ``"intermediate"``: each modality has its own first (fully connected)
      layer of width ``hidden_dims[0]``; those features are fused and a shared
      stack ``hidden_dims[1:] -> n_components`` gives the code;
    - ``"late"``: each modality has its own full encoder; the codes are fused;
    - ``"affinity"``: each modality keeps its own code (no fusion).

    In every mode each modality has its own decoder. With spatial fusion the
    decoders read the (self-expressed) fused code, through a linear adapter
    when its width is not that of the modality's own code.

    Parameters
    ----------
    view_sizes : sequence of int
        Width of each modality's column block.
    hidden_dims : sequence of int
        Hidden widths of each modality's fully connected encoder (mirrored in the decoder).
    n_components : int
        Width of each modality's code.
    image_shapes : sequence of (tuple or None)
        ``(channels, height, width)`` of each modality, or None for plain rows;
        an image modality gets the convolutional autoencoder.
    fusion : {"early", "intermediate", "late", "affinity"}
    fusion_function : {"sum", "max", "concat"}
    conv : dict or None
        Keyword arguments of :class:`~skdeepcluster.nn.FeatureMapAutoencoder`
        for the image modalities (and the early fusion's joint encoder), whose
        codes are then feature maps; None: the library's convolutional
        autoencoder with an ``n_components``-wide code.
    """

    def __init__(
        self, view_sizes, hidden_dims, n_components, image_shapes, fusion="affinity", fusion_function="sum", conv=None
    ):
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}.")
        if fusion_function not in FUSION_FUNCTIONS:
            raise ValueError(f"fusion_function must be one of {FUSION_FUNCTIONS}, got {fusion_function!r}.")
        self.view_sizes = [int(s) for s in view_sizes]
        self.n_features = sum(self.view_sizes)
        self.fusion = fusion
        self.fusion_function = fusion_function
        hidden_dims = tuple(hidden_dims)
        n_views = len(self.view_sizes)
        shapes = list(image_shapes)
        def autoencoder(d, s):
            if s is not None and conv is not None:
                return FeatureMapAutoencoder(s, **conv)
            return build_autoencoder(d, hidden_dims, n_components, s)

        # Each modality's own autoencoder; its decoder is used in every mode.
        self.branches = nn.ModuleList(autoencoder(d, s) for d, s in zip(self.view_sizes, shapes))
        widths = [b.n_components for b in self.branches]
        same_width = len(set(self.view_sizes)) == 1
        if fusion == "early":
            if fusion_function != "concat" and not same_width:
                raise ValueError(
                    f"fusion='early' with fusion_function={fusion_function!r} needs modalities of one width, "
                    f"got view_sizes={self.view_sizes}; use fusion_function='concat' or another fusion."
                )
            width = self.n_features if fusion_function == "concat" else self.view_sizes[0]
            self.joint = autoencoder(width, self._fused_image_shape(shapes))
            self.code_width = self.joint.n_components
        elif fusion == "intermediate":
            if not hidden_dims:
                raise ValueError("fusion='intermediate' needs at least one hidden layer (hidden_dims is empty).")
            h = hidden_dims[0]
            self.stems = nn.ModuleList(nn.Sequential(nn.Linear(d, h), nn.ReLU()) for d in self.view_sizes)
            fused = h * n_views if fusion_function == "concat" else h
            self.trunk = mlp([fused, *hidden_dims[1:], n_components])
            glorot_init(self.stems)
            glorot_init(self.trunk)
            self.code_width = n_components
        elif fusion == "late":
            if fusion_function != "concat" and len(set(widths)) != 1:
                raise ValueError(
                    f"fusion='late' with fusion_function={fusion_function!r} needs codes of one width, got "
                    f"{widths}; use fusion_function='concat' or another fusion."
                )
            self.code_width = sum(widths) if fusion_function == "concat" else widths[0]
        else:
            self.code_width = sum(widths)
        self.n_components = self.code_width  # width of encode(), the estimators' transform
        spatial = fusion != "affinity"
        if spatial and any(self.code_width != w for w in widths):
            self.adapters = nn.ModuleList(nn.Linear(self.code_width, w) for w in widths)
            glorot_init(self.adapters)
        else:
            self.adapters = None

    def _fused_image_shape(self, shapes):
        if any(s is None for s in shapes) or len({tuple(s[1:]) for s in shapes}) != 1:
            return None
        if self.fusion_function == "concat":  # column blocks of (C_m, H, W) images = channel concatenation
            return (sum(s[0] for s in shapes), *shapes[0][1:])
        return tuple(shapes[0]) if len({tuple(s) for s in shapes}) == 1 else None

    def split(self, x):
        """The modalities of ``x``: a list of column blocks."""
        return list(torch.split(x, self.view_sizes, dim=1))

    def codes(self, x):
        """The codes that enter the self-expressive layer: one per modality (affinity) or one fused."""
        views = self.split(x)
        if self.fusion == "affinity":
            return [b.encode(v) for b, v in zip(self.branches, views)]
        if self.fusion == "early":
            return [self.joint.encode(fuse(views, self.fusion_function))]
        if self.fusion == "intermediate":
            return [self.trunk(fuse([s(v) for s, v in zip(self.stems, views)], self.fusion_function))]
        return [fuse([b.encode(v) for b, v in zip(self.branches, views)], self.fusion_function)]

    def reconstruct(self, codes):
        """Each modality's reconstruction from the given codes (as returned by :meth:`codes`)."""
        if self.fusion == "affinity":
            return [b.decode(z) for b, z in zip(self.branches, codes)]
        (z,) = codes
        if self.adapters is None:
            return [b.decode(z) for b in self.branches]
        return [b.decode(a(z)) for b, a in zip(self.branches, self.adapters)]

    def encode(self, x):
        """The codes side by side, ``(batch, code_width)``."""
        return torch.cat(self.codes(x), dim=1)

    def forward(self, x):
        """Return the code and the reconstruction of ``x`` (modalities side by side)."""
        codes = self.codes(x)
        return torch.cat(codes, dim=1), torch.cat(self.reconstruct(codes), dim=1)
