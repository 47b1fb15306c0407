"""Where a VaDE fit spends its time: pretraining, the Gaussian-mixture start and the ELBO epochs.

    python benchmarks/vade_phases.py --dataset mnist --epochs 20 --device cuda

Fits VaDE twice (the first warms up CUDA) with ``--epochs`` pretraining and
ELBO epochs, timing each phase, and prints the seconds per epoch of each;
``--profile`` adds a kernel profile of two epochs of each phase on 20,000
samples; ``--blas cublaslt`` times the steps with cuBLASLt as PyTorch's
preferred matrix library instead of its default. Multiply by the default epochs (200 and 300) for a default fit.
"""

import argparse
import sys
import time
from pathlib import Path

import torch
from sklearn.mixture import GaussianMixture

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from run import load  # noqa: E402

import skdeepcluster.cluster._generative as generative  # noqa: E402
from skdeepcluster import VaDE  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--blas", choices=["cublas", "cublaslt"], default=None)
    args = parser.parse_args(argv)
    if args.blas:
        torch.backends.cuda.preferred_blas_library(args.blas)
    X, y = load(args.dataset)
    cuda = args.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    seconds = {}

    def timed(name, fn):
        def wrapped(*a, **k):
            sync()
            start = time.perf_counter()
            out = fn(*a, **k)
            sync()
            seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - start
            return out

        return wrapped

    generative._GenerativeBase._pretrain = timed("pretraining", generative._GenerativeBase._pretrain)
    GaussianMixture.fit = timed("mixture start", GaussianMixture.fit)
    generative._GenerativeBase._train = timed("ELBO", generative._GenerativeBase._train)
    for _ in range(2):  # the first fit warms up
        seconds.clear()
        VaDE(n_clusters=len(set(y)), pretrain_epochs=args.epochs, epochs=args.epochs, device=args.device,
             random_state=0).fit(X)
    print(f"{args.dataset}, {args.epochs} epochs of each phase: " + ", ".join(f"{k} {v:.2f} s" for k, v in seconds.items()))
    print(f"per epoch: pretraining {seconds['pretraining'] / args.epochs:.3f} s, ELBO {seconds['ELBO'] / args.epochs:.3f} s")
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
        with profile(activities=activities) as prof:
            VaDE(n_clusters=len(set(y)), pretrain_epochs=2, epochs=2, device=args.device, random_state=0).fit(X[:20000])
        print(prof.key_averages().table(sort_by="cuda_time_total" if cuda else "cpu_time_total", row_limit=25))


if __name__ == "__main__":
    main()
