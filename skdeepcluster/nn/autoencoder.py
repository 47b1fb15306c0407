"""Autoencoders shared by the methods: fully connected and convolutional.

Every autoencoder here takes flat rows ``(batch, n_features)`` and returns flat
reconstructions, so the estimators and the training engine never reshape data;
the convolutional one reshapes to ``image_shape`` inside ``encode``/``decode``.
"""

import math

import torch
from torch import nn

__all__ = ["MLPAutoencoder", "ConvAutoencoder", "build_autoencoder", "glorot_init"]


def glorot_init(module):
    """Glorot-uniform weights and zero biases, as in the Keras code of DEC/IDEC."""
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module


def mlp(widths, activation=nn.ReLU, last_activation=False):
    """Stack of ``Linear`` layers with ``widths[i] -> widths[i + 1]``."""
    layers = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if last_activation or i < len(widths) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class MLPAutoencoder(nn.Module):
    """Fully connected autoencoder with widths ``n_features, *hidden_dims, n_components`` and its mirror.

    The embedding layer and the output layer are linear, every hidden layer
    uses ReLU: the d-500-500-2000-10 network of DEC, IDEC, DCN and N2D.

    Parameters
    ----------
    n_features : int
        Input width ``d``.
    hidden_dims : sequence of int
        Widths of the encoder's hidden layers; the decoder mirrors them.
    n_components : int
        Width of the embedding.
    """

    def __init__(self, n_features, hidden_dims=(500, 500, 2000), n_components=10):
        super().__init__()
        self.n_features = n_features
        self.n_components = n_components
        widths = [n_features, *hidden_dims, n_components]
        self.encoder = mlp(widths)
        self.decoder = mlp(widths[::-1])
        glorot_init(self)

    def encode(self, x):
        """``(batch, n_features) -> (batch, n_components)``."""
        return self.encoder(x)

    def decode(self, z):
        """``(batch, n_components) -> (batch, n_features)``."""
        return self.decoder(z)

    def forward(self, x):
        """Return the embedding and the reconstruction of ``x``."""
        z = self.encode(x)
        return z, self.decode(z)


def _conv_out(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


class ConvAutoencoder(nn.Module):
    """Convolutional autoencoder of DCEC (Guo et al., 2017) for image rows.

    Three stride-2 convolutions (kernels 5, 5, 3; channels 32, 64, 128 by
    default), a linear embedding layer, and the mirrored transposed
    convolutions. Rows are flat; ``image_shape=(C, H, W)`` says how to fold them.
    The 5x5 convolutions pad by 2 and the last 3x3 one pads nothing, as in
    DCEC (28 x 28 -> 14 -> 7 -> 3); on images too small for that (8 x 8
    digits: 8 -> 4 -> 2) the last one pads by 1 instead, so that any image
    size works.

    Parameters
    ----------
    image_shape : tuple of int
        ``(channels, height, width)`` of one row.
    n_components : int
        Width of the embedding.
    channels : sequence of int
        Output channels of the three convolutions.
    """

    kernels = (5, 5, 3)

    def __init__(self, image_shape, n_components=10, channels=(32, 64, 128)):
        super().__init__()
        if len(channels) != len(self.kernels):
            raise ValueError(f"channels must have {len(self.kernels)} entries, got {len(channels)}.")
        self.image_shape = tuple(int(s) for s in image_shape)
        self.n_features = math.prod(self.image_shape)
        self.n_components = n_components
        c_in, h, w = self.image_shape
        encoder, decoder, sizes, pads = [], [], [(h, w)], []
        widths = [c_in, *channels]
        for k, (a, b) in zip(self.kernels, zip(widths[:-1], widths[1:])):
            # 'same'-like padding for 5x5, 'valid' for the last 3x3 unless the image is too small for it
            pad = k // 2 if k > 3 or min(_conv_out(h, k, 2, 0), _conv_out(w, k, 2, 0)) < 1 else 0
            encoder += [nn.Conv2d(a, b, k, stride=2, padding=pad), nn.ReLU()]
            h, w = _conv_out(h, k, 2, pad), _conv_out(w, k, 2, pad)
            pads.append(pad)
            sizes.append((h, w))
        self._sizes = sizes
        self._code_shape = (channels[-1], h, w)
        self.encoder = nn.Sequential(*encoder, nn.Flatten(), nn.Linear(math.prod(self._code_shape), n_components))
        self.expand = nn.Linear(n_components, math.prod(self._code_shape))
        for k, pad, (a, b) in zip(self.kernels[::-1], pads[::-1], zip(widths[::-1][:-1], widths[::-1][1:])):
            decoder.append(nn.ConvTranspose2d(a, b, k, stride=2, padding=pad))
        self.decoder = nn.ModuleList(decoder)
        glorot_init(self)

    def encode(self, x):
        """``(batch, C*H*W) -> (batch, n_components)``."""
        return self.encoder(x.reshape(-1, *self.image_shape))

    def decode(self, z):
        """``(batch, n_components) -> (batch, C*H*W)``."""
        h = torch.relu(self.expand(z)).reshape(-1, *self._code_shape)
        targets = self._sizes[::-1][1:]
        for i, (layer, size) in enumerate(zip(self.decoder, targets)):
            h = layer(h, output_size=size)
            if i < len(self.decoder) - 1:
                h = torch.relu(h)
        return h.reshape(h.shape[0], -1)

    def forward(self, x):
        """Return the embedding and the reconstruction of ``x``."""
        z = self.encode(x)
        return z, self.decode(z)


class FeatureMapAutoencoder(nn.Module):
    """Convolutional autoencoder whose code is its last feature map, that of DSC-Net (Ji et al., 2017).

    Convolutions with 'same' padding and ReLU, stride 2 unless ``strides``
    says otherwise, mirrored by transposed convolutions with ReLU (the last
    one too), as in the authors' code. There is no linear layer: the code is
    the last feature map, flattened, so an :math:`H \\times W` image gives
    ``channels[-1] * ceil(H / 2^L) * ceil(W / 2^L)`` values for :math:`L`
    stride-2 layers. 'Same' padding here puts ``k // 2`` pixels on both sides;
    TensorFlow's, in the authors' code, puts the extra pixel of a stride-2
    layer on an even size at the bottom and right, so their weights would
    see the image shifted by one pixel (the benchmarks' diagnosis that loads
    them rebuilds their padding). The defaults are DSC-Net's COIL20 network, one 3x3 layer
    of 15 channels (3840 values for its 32 x 32 images); DMSC's code has
    ``channels=(10, 20, 30)``, ``kernel_sizes=(5, 3, 3)``, ``strides=(2, 1, 2)``.

    Parameters
    ----------
    image_shape : tuple of int
        ``(channels, height, width)`` of one row.
    channels : sequence of int
        Output channels of each convolution.
    kernel_sizes : sequence of int
        Kernel size of each convolution (odd).
    strides : sequence of int or None
        Stride of each convolution; None: 2 for all.
    """

    def __init__(self, image_shape, channels=(15,), kernel_sizes=(3,), strides=None):
        super().__init__()
        channels, kernel_sizes = tuple(int(c) for c in channels), tuple(int(k) for k in kernel_sizes)
        strides = (2,) * len(channels) if strides is None else tuple(int(t) for t in strides)
        if not channels or not len(channels) == len(kernel_sizes) == len(strides):
            raise ValueError(
                f"channels, kernel_sizes and strides need one entry per convolution, got {channels}, "
                f"{kernel_sizes} and {strides}."
            )
        if any(t < 1 for t in strides):
            raise ValueError(f"strides must be positive, got {strides}.")
        if any(k % 2 == 0 for k in kernel_sizes):
            raise ValueError(f"kernel_sizes must be odd ('same' padding), got {kernel_sizes}.")
        self.image_shape = tuple(int(s) for s in image_shape)
        self.n_features = math.prod(self.image_shape)
        widths, sizes = [self.image_shape[0], *channels], [self.image_shape[1:]]
        encoder = []
        layers = list(zip(kernel_sizes, strides, widths[:-1], widths[1:]))
        for k, t, a, b in layers:
            encoder += [nn.Conv2d(a, b, k, stride=t, padding=k // 2), nn.ReLU()]
            sizes.append(tuple(_conv_out(n, k, t, k // 2) for n in sizes[-1]))
        self.encoder = nn.Sequential(*encoder)
        self.decoder = nn.ModuleList(
            nn.ConvTranspose2d(b, a, k, stride=t, padding=k // 2) for k, t, a, b in reversed(layers)
        )
        self._sizes = sizes
        self._code_shape = (channels[-1], *sizes[-1])
        self.n_components = math.prod(self._code_shape)
        glorot_init(self)

    def encode(self, x):
        """``(batch, C*H*W) -> (batch, n_components)``: the last feature map, flattened."""
        return self.encoder(x.reshape(-1, *self.image_shape)).flatten(1)

    def decode(self, z):
        """``(batch, n_components) -> (batch, C*H*W)``."""
        h = z.reshape(-1, *self._code_shape)
        for layer, size in zip(self.decoder, self._sizes[-2::-1]):
            h = torch.relu(layer(h, output_size=size))
        return h.reshape(h.shape[0], -1)

    def forward(self, x):
        """Return the embedding and the reconstruction of ``x``."""
        z = self.encode(x)
        return z, self.decode(z)


def build_autoencoder(n_features, hidden_dims, n_components, image_shape=None):
    """The library's default autoencoder for rows of width ``n_features``.

    A :class:`ConvAutoencoder` when ``image_shape`` is given, else an
    :class:`MLPAutoencoder` with ``hidden_dims``.
    """
    if image_shape is not None:
        return ConvAutoencoder(image_shape, n_components)
    return MLPAutoencoder(n_features, hidden_dims, n_components)
