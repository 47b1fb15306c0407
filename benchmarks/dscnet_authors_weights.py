"""DSC-Net's fine-tuning and post-processing, started from the autoencoders the authors released.

A diagnosis, not a benchmark row. On DSC-Net's own data sets (COIL20, ORL; see ``run.py``) and
with the settings of the authors' code, DSCNet with its own pretraining falls short of the paper.
Two stages could be at fault: the pretraining (the authors restore a checkpoint they stopped when
the reconstructions "looked good"), or the fine-tuning with the self-expressive layer and the
post-processing of C. This script runs the second stage from the authors' own pretrained weights
(``pretrain-model-COIL20/`` and ``pretrain-model-ORL/`` of
github.com/panji1990/Deep-subspace-clustering-networks), so the two can be told apart. Labels
are only scored, never used in the fit.

The checkpoints are TensorFlow's. Convert one to a NumPy archive once (needs tensorflow, a
benchmark-only tool, in an environment of its own)::

    python benchmarks/dscnet_authors_weights.py --convert PREFIX OUT.npz

where PREFIX is, for example, ``pretrain-model-ORL/model-335-32x32-orl.ckpt``. Then::

    python benchmarks/dscnet_authors_weights.py --dataset coil20 --weights coil20.npz --seeds 5 --device cpu
    python benchmarks/dscnet_authors_weights.py --dataset orl --weights orl.npz --seeds 5 --device cpu

``--param zero_diagonal=False --param coefficient_init=1e-8`` (and, for COIL20, whose code drops the
1/2 of the reconstruction term, ``--param coefficient_weight=0.5 --param self_expression_weight=75``)
runs what the released code runs.

The network is rebuilt with TensorFlow's 'SAME' padding (for a stride-2 layer on an even size the
extra pixel goes to the bottom and right, where ``FeatureMapAutoencoder`` pads both sides), so
the released weights compute what they computed in the authors' code; the script prints their
reconstruction error as a check of the conversion.
"""

import argparse
import csv
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from run import SETTINGS, load  # noqa: E402

from skdeepcluster import DSCNet  # noqa: E402
from skdeepcluster.metrics import clustering_report  # noqa: E402

NETWORK_KEYS = ("image_shape", "channels", "kernel_sizes")


def convert(prefix, out):
    """Write the variables of a TensorFlow checkpoint to ``out`` (an .npz archive)."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(prefix)
    np.savez(out, **{name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()})


def _same(size, kernel, stride):
    """TensorFlow's 'SAME' padding of one axis: (output size, padding before, padding after)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


class ReleasedAutoencoder(torch.nn.Module):
    """DSC-Net's convolutional autoencoder with the authors' weights and TensorFlow's padding.

    ``weights`` holds ``enc_w{i}`` and ``dec_w{i}`` in TensorFlow's filter layout and the biases
    under TensorFlow's default names ``Variable``, ``Variable_1``, ... in creation order (the
    encoder's, then the decoder's), as in the authors' checkpoints.
    """

    def __init__(self, image_shape, weights):
        super().__init__()
        n_layers = sum(1 for k in weights if k.startswith("enc_w"))
        biases = [weights["Variable" + (f"_{i}" if i else "")] for i in range(2 * n_layers)]

        def param(a):  # TF (kh, kw, in, out) -> torch (out, in, kh, kw); for transposed convs, the same swap
            return torch.nn.Parameter(torch.as_tensor(np.ascontiguousarray(np.transpose(a, (3, 2, 0, 1)))).float())

        self.enc_w = torch.nn.ParameterList(param(weights[f"enc_w{i}"]) for i in range(n_layers))
        self.dec_w = torch.nn.ParameterList(param(weights[f"dec_w{i}"]) for i in range(n_layers))
        self.enc_b = torch.nn.ParameterList(torch.nn.Parameter(torch.as_tensor(b).float()) for b in biases[:n_layers])
        self.dec_b = torch.nn.ParameterList(torch.nn.Parameter(torch.as_tensor(b).float()) for b in biases[n_layers:])
        self.image_shape = tuple(image_shape)
        self.n_features = math.prod(self.image_shape)
        sizes = [self.image_shape[1:]]
        for w in self.enc_w:
            sizes.append(tuple(_same(n, w.shape[-1], 2)[0] for n in sizes[-1]))
        self._sizes = sizes
        self._code_shape = (self.enc_w[-1].shape[0], *sizes[-1])
        self.n_components = math.prod(self._code_shape)

    def encode(self, x):
        h = x.reshape(-1, *self.image_shape)
        for w, b, size in zip(self.enc_w, self.enc_b, self._sizes):
            k = w.shape[-1]
            (_, top, bottom), (_, left, right) = (_same(n, k, 2) for n in size)
            h = torch.relu(F.conv2d(F.pad(h, (left, right, top, bottom)), w, b, stride=2))
        return h.flatten(1)

    def decode(self, z):
        h = z.reshape(-1, *self._code_shape)
        for w, b, size in zip(self.dec_w, self.dec_b, self._sizes[-2::-1]):
            k = w.shape[-1]
            (_, top, _), (_, left, _) = (_same(n, k, 2) for n in size)
            full = F.conv_transpose2d(h, w, stride=2)  # the gradient of the padded convolution, uncropped
            h = torch.relu(full[:, :, top : top + size[0], left : left + size[1]] + b[:, None, None])
        return h.flatten(1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--convert", nargs=2, metavar=("PREFIX", "OUT"))
    parser.add_argument("--dataset", choices=["coil20", "orl"])
    parser.add_argument("--weights")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--param", action="append", default=[], help="NAME=VALUE over the data set's setting")
    parser.add_argument("--out", help="CSV of the rows")
    args = parser.parse_args(argv)
    if args.convert:
        return convert(*args.convert)
    X, y = load(args.dataset)
    setting = SETTINGS[args.dataset]["DSCNet"]
    network = ReleasedAutoencoder(setting["image_shape"], dict(np.load(args.weights)))
    with torch.no_grad():
        x = torch.as_tensor(X)
        error = (network.decode(network.encode(x)) - x).pow(2).mean().item()
    print(f"released autoencoder: code {network.n_components} wide, reconstruction MSE {error:.4g} "
          f"(data variance {X.var():.4g})")
    params = {k: v for k, v in setting.items() if k not in NETWORK_KEYS}
    for item in args.param:
        key, value = item.split("=", 1)
        params[key] = eval(value, {})  # benchmark-only convenience: numbers and tuples
    rows = []
    for seed in range(args.seeds):
        start = time.perf_counter()
        model = DSCNet(n_clusters=len(np.unique(y)), autoencoder=network, device=args.device, random_state=seed,
                       **params).fit(X)
        row = {"dataset": args.dataset, "start": "released", "seed": seed, **clustering_report(y, model.labels_),
               "fit_s": time.perf_counter() - start}
        rows.append(row)
        print(f"seed={seed} acc={row['acc']:.4f} nmi={row['nmi']:.4f} ari={row['ari']:.4f} fit={row['fit_s']:.1f}s",
              flush=True)
    acc = np.array([r["acc"] for r in rows])
    print(f"{args.dataset}, released autoencoder, {args.seeds} seeds: ACC {acc.mean():.3f} ± {acc.std():.3f}")
    if args.out:
        with open(args.out, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
