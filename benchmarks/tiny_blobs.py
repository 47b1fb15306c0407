"""Estimators at their defaults on tiny data, seed by seed: do they find the three blobs?

The data of the test suite's ``test_defaults_cluster_tiny_data``: 50 samples
of three standardised 2-D blobs. For each seed, the ARI against the blobs and
the cluster sizes, which show a collapse without the labels::

    python benchmarks/tiny_blobs.py --estimators DSCDAN --seeds 6 --device cuda
    SKDEEPCLUSTER_TF32=0 python benchmarks/tiny_blobs.py --estimators DSCDAN --seeds 6 --device cuda
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler
from sklearn.utils import shuffle

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import skdeepcluster  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--estimators", nargs="+", required=True)
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    X, y = make_blobs(n_samples=50, random_state=1)
    X, y = shuffle(X, y, random_state=7)
    X = StandardScaler().fit_transform(X)
    for name in args.estimators:
        for seed in range(args.seeds):
            start = time.perf_counter()
            labels = getattr(skdeepcluster, name)(n_clusters=3, device=args.device, random_state=seed).fit_predict(X)
            sizes = np.bincount(labels, minlength=3)
            print(f"{name} seed={seed} ari={adjusted_rand_score(y, labels):.3f} sizes={sizes.tolist()} "
                  f"fit={time.perf_counter() - start:.1f}s", flush=True)


if __name__ == "__main__":
    main()
