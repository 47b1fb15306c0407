"""Which DSCNet benchmark fits start their pretraining again because its output ReLUs died (no labels).

Runs each fit as ``run.py`` would, with the data set's setting, up to the end
of the pretraining only, and prints ``pretrain_restarts_``: a fit with 0
computes exactly what it did before restarts existed (commit 4e3f4e9), so its
benchmark row stands. Not a test. Example::

    python benchmarks/dscnet_restarts.py --dataset mnist-test --seeds 3 --device cuda
"""

import argparse

import numpy as np

import run
from skdeepcluster import DSCNet


class _Pretrained(Exception):
    pass


def _stop_after_pretraining(self, X, log):
    raise _Pretrained(self.pretrain_restarts_)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True, choices=sorted(run.SETTINGS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    X, y = run.load(args.dataset)
    DSCNet._fit_subspace = _stop_after_pretraining
    for seed in range(args.seeds):
        params = {"n_clusters": len(np.unique(y)), "random_state": seed, "device": args.device,
                  **run.settings(args.dataset, "DSCNet", {})}
        try:
            DSCNet(**params).fit(X)
        except _Pretrained as stop:
            print(f"{args.dataset} seed={seed} pretrain_restarts_={stop.args[0]}", flush=True)


if __name__ == "__main__":
    main()
