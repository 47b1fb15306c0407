"""Where DSCNet's scalable mode loses accuracy: the landmarks or the samples coded on them.

A diagnosis, not a benchmark row: the accuracy of the self-expressed
landmarks (spectral clustering of C) and of the other samples (the
out-of-sample rule) is computed outside the fit, for the estimator's network
(``image_shape`` gives the DSC-Net paper's) and for the library's DCEC
autoencoder it had until session 18::

    python benchmarks/dscnet_landmarks.py --dataset mnist --seeds 1 --device cuda

The estimator runs at the dataset's documented setting (``SETTINGS`` of
``run.py``).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from run import load, settings  # noqa: E402

from skdeepcluster import DSCNet  # noqa: E402
from skdeepcluster.base import AutoencoderClusterMixin  # noqa: E402
from skdeepcluster.metrics import clustering_accuracy  # noqa: E402


class _DCECNet(DSCNet):
    """DSCNet with the library's default autoencoder (DCEC's for images), as before session 18."""

    _build_autoencoder = AutoencoderClusterMixin._build_autoencoder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args(argv)
    X, y = load(args.dataset)
    params = settings(args.dataset, "DSCNet", {})
    print("network, seed, ACC landmarks, ACC others, ACC all, code width, fit s")
    for name, cls in (("paper", DSCNet), ("DCEC", _DCECNet)):
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            start = time.perf_counter()
            model = cls(n_clusters=len(set(y)), device=args.device, random_state=seed, **params).fit(X)
            seconds = time.perf_counter() - start
            landmarks = getattr(model, "landmark_indices_", np.arange(len(X)))
            others = np.setdiff1d(np.arange(len(X)), landmarks)
            acc = [clustering_accuracy(y[i], model.labels_[i]) if len(i) else float("nan")
                   for i in (landmarks, others, np.arange(len(X)))]
            width = model.transform(X[:1]).shape[1]
            print(f"{name}, {seed}, {acc[0]:.4f}, {acc[1]:.4f}, {acc[2]:.4f}, {width}, {seconds:.1f}", flush=True)


if __name__ == "__main__":
    main()
