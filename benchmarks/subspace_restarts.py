"""Which DSCNet or DMSC benchmark fits start their pretraining again because its output ReLUs died (no labels).

Runs each fit as ``run.py`` would, with the data set's setting, up to the end
of the pretraining only, and prints ``pretrain_restarts_``: a fit with 0
computes exactly what it did before restarts existed (DSCNet: commit 4e3f4e9;
DMSC: session 21), so its benchmark row stands. Not a test. Example::

    python benchmarks/subspace_restarts.py --dataset mnist-test --seeds 3 --device cuda
    python benchmarks/subspace_restarts.py --estimator DMSC --dataset digits-2view --seeds 5 --device cpu
"""

import argparse

import numpy as np

import run
from skdeepcluster import DMSC, DSCNet


class _Pretrained(Exception):
    pass


def _stop_after_pretraining(self, X, log):
    raise _Pretrained(self.pretrain_restarts_)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--estimator", default="DSCNet", choices=["DSCNet", "DMSC"])
    parser.add_argument("--dataset", required=True, choices=sorted(run.SETTINGS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    X, y = run.load(args.dataset)
    estimator = {"DSCNet": DSCNet, "DMSC": DMSC}[args.estimator]
    estimator._fit_subspace = _stop_after_pretraining
    for seed in range(args.seeds):
        params = {"n_clusters": len(np.unique(y)), "random_state": seed, "device": args.device,
                  **run.settings(args.dataset, args.estimator, {})}
        try:
            estimator(**params).fit(X)
        except _Pretrained as stop:
            print(f"{args.estimator} {args.dataset} seed={seed} pretrain_restarts_={stop.args[0]}", flush=True)


if __name__ == "__main__":
    main()
