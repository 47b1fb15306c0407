"""VaDE's starting point: the Gaussian mixture on the pretrained codes, for several pretrainings.

VaDE's result is decided by its start (the mixture fitted to the codes of
the pretrained autoencoder), and the paper's pretraining was never
published. For each seed this pretrains the 784-500-500-2000-10
autoencoder in several ways, then reports the accuracy of VaDE's start
(``VaDE(epochs=0)``: the diagonal mixture, ten restarts, at the mean codes)
and of k-means on the same codes. ``--elbo-epochs N`` also runs N epochs of
VaDE's ELBO from each start (the other defaults unchanged)::

    python benchmarks/vade_start.py --dataset mnist --seeds 2 --device cuda --elbo-epochs 100

Pretrainings (``--variants``, the number is the batch size): ``bce`` is
VaDE's ``pretrain_loss="likelihood"`` (cross-entropy of the Bernoulli
likelihood), ``sq`` its ``pretrain_loss="squared"`` (squared error of the
decoder's raw output, then read as logits), ``mse`` the same loss through
AEKMeans (the shared pretraining of DEC, IDEC and AEKMeans). All use Adam,
lr 1e-3, 200 epochs. Labels only score the outcomes.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from run import load  # noqa: E402

from skdeepcluster import AEKMeans, VaDE  # noqa: E402
from skdeepcluster.metrics import clustering_accuracy  # noqa: E402

VARIANTS = ("bce100", "bce256", "sq100", "sq256", "mse256", "mse100")


def pretrained(variant, k, seed, device):
    """A fitted estimator whose ``autoencoder_`` is the variant's pretrained autoencoder."""
    loss = variant.rstrip("0123456789")
    batch = int(variant[len(loss):])
    if loss in ("bce", "sq"):
        pretrain_loss = "likelihood" if loss == "bce" else "squared"
        return VaDE(n_clusters=k, batch_size=batch, pretrain_loss=pretrain_loss, epochs=0, device=device,
                    random_state=seed)
    return AEKMeans(n_clusters=k, batch_size=batch, device=device, random_state=seed)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--elbo-epochs", type=int, default=0)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)

    from sklearn.cluster import KMeans

    X, y = load(args.dataset)
    k = len(np.unique(y))
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for variant in args.variants.split(","):
            began = time.perf_counter()
            model = pretrained(variant, k, seed, args.device).fit(X)
            seconds = time.perf_counter() - began
            start = VaDE(n_clusters=k, epochs=0, autoencoder=model.autoencoder_, device=args.device,
                         random_state=seed).fit(X)
            codes = start.transform(X)
            kmeans = KMeans(k, n_init=10, random_state=seed).fit_predict(codes)
            line = (f"seed {seed} {variant}: pretrained in {seconds:.1f} s, start (mixture) ACC "
                    f"{clustering_accuracy(y, start.labels_):.3f}, k-means ACC {clustering_accuracy(y, kmeans):.3f}")
            if args.elbo_epochs:
                began = time.perf_counter()
                vade = VaDE(n_clusters=k, epochs=args.elbo_epochs, autoencoder=model.autoencoder_,
                            device=args.device, random_state=seed).fit(X)
                line += (f", after {args.elbo_epochs} ELBO epochs ACC {clustering_accuracy(y, vade.labels_):.3f} "
                         f"({time.perf_counter() - began:.1f} s)")
            print(line, flush=True)


if __name__ == "__main__":
    main()
