"""DeepCluster's pseudo-labels epoch by epoch: how far each epoch's k-means is from the classes.

A diagnosis, not a benchmark row: the accuracy of every epoch's pseudo-labels
is computed outside the fit (the labels never reach it), with the
``nmi_previous`` stability measure the estimator records itself::

    python benchmarks/deepcluster_trace.py --dataset mnist --seeds 1 --device cuda

The estimator runs at the dataset's documented setting (``SETTINGS`` of
``run.py``) plus any ``--param NAME=VALUE``.
"""

import argparse
import ast
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from run import load, settings  # noqa: E402

import skdeepcluster.cluster._deepcluster as deepcluster_module  # noqa: E402
from skdeepcluster import DeepCluster  # noqa: E402
from skdeepcluster.metrics import clustering_accuracy  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--param", action="append", default=[], help="NAME=VALUE passed to the estimator")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    X, y = load(args.dataset)
    overrides = {k: ast.literal_eval(v) for k, v in (item.split("=", 1) for item in args.param)}
    params = settings(args.dataset, "DeepCluster", overrides)

    trace = []
    kmeans = deepcluster_module.kmeans_with_splits

    def traced(*a, **k):
        out = kmeans(*a, **k)
        trace.append(clustering_accuracy(y, out[1].cpu().numpy()))
        return out

    deepcluster_module.kmeans_with_splits = traced
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        trace.clear()
        model = DeepCluster(n_clusters=len(set(y)), device=args.device, random_state=seed, **params)
        start = time.perf_counter()
        model.fit(X)
        seconds = time.perf_counter() - start
        stability = model.history_["clustering"]["nmi_previous"][1:]
        print(f"seed {seed} {params}: final ACC {clustering_accuracy(y, model.labels_):.3f} in {seconds:.1f} s")
        print("  pseudo-label ACC per epoch:", " ".join(f"{a:.3f}" for a in trace))
        print("  NMI with the previous epoch:", " ".join(f"{v:.2f}" for v in stability))


if __name__ == "__main__":
    main()
