"""N2D's UMAP layout on one embedding: umap-learn's seeded layout against the GPU one.

Pretrains N2D's autoencoder (AEKMeans's, same defaults) with seed ``--seed``,
builds UMAP's graph and spectral start once, then clusters (Gaussian mixture,
as N2D) the layout of umap-learn (one host thread) and the GPU layout of
:func:`skdeepcluster.manifold.optimize_umap_layout` for several generator
seeds. It separates the layout's variance from the autoencoder's::

    python benchmarks/umap_layout.py --dataset mnist --seed 2 --layout-seeds 4 --device cuda
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from run import load  # noqa: E402

from skdeepcluster import AEKMeans  # noqa: E402
from skdeepcluster.graph import device_kneighbors  # noqa: E402
from skdeepcluster.manifold import optimize_fitted_umap, umap_default_epochs, umap_edges  # noqa: E402
from skdeepcluster.metrics import clustering_accuracy  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--seed", type=int, default=0, help="seed of the autoencoder, UMAP and the mixture")
    parser.add_argument("--layout-seeds", type=int, default=4, help="generator seeds of the GPU layout")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--mixture-inits", type=int, default=10,
                        help="also cluster each layout with this many Gaussian mixture restarts")
    parser.add_argument("--no-umap-learn", action="store_true", help="skip umap-learn's own (host) layout")
    args = parser.parse_args(argv)

    import umap
    from sklearn.mixture import GaussianMixture

    warnings.filterwarnings("ignore", category=UserWarning)
    X, y = load(args.dataset)
    k = len(np.unique(y))
    ae = AEKMeans(n_clusters=k, device=args.device, random_state=args.seed).fit(X)
    Z = torch.as_tensor(ae.transform(X), device=args.device)
    z = Z.cpu().numpy().astype(np.float64)
    distances, indices = device_kneighbors(Z, Z, 20, return_distance=True)
    settings = dict(n_components=k, n_neighbors=20, min_dist=0.0, random_state=args.seed,
                    precomputed_knn=(indices, distances, None))

    def accuracy(u):
        """ACC of N2D's mixture (one start) and of the best of ``--mixture-inits`` starts, with their
        mean log-likelihoods (what the restarts choose by)."""
        scores = []
        for n_init in (1, args.mixture_inits):
            mixture = GaussianMixture(k, covariance_type="full", reg_covar=1e-6, n_init=n_init,
                                      random_state=args.seed).fit(u)
            scores.append(f"{clustering_accuracy(y, mixture.predict(u)):.3f} (log-lik {mixture.score(u):.3f})")
        return f"{scores[0]}, {args.mixture_inits} mixture starts {scores[1]}"

    start_learner = umap.UMAP(n_epochs=0, **settings)
    start = start_learner.fit_transform(z)
    n_edges = len(umap_edges(start_learner.graph_, umap_default_epochs(len(z)))[0])
    print(f"autoencoder seed {args.seed}: k-means ACC {clustering_accuracy(y, ae.labels_):.3f}, "
          f"{n_edges} edges, spectral start ACC {accuracy(start)}")
    for seed in range(args.layout_seeds):
        generator = torch.Generator(device=args.device).manual_seed(seed)
        began = time.perf_counter()
        u = optimize_fitted_umap(start_learner, args.device, generator)
        if u.is_cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - began
        print(f"device layout, generator seed {seed}: ACC {accuracy(u.cpu().numpy())} in {seconds:.1f} s")
    if args.no_umap_learn:
        return
    began = time.perf_counter()
    u = umap.UMAP(**settings).fit_transform(z)
    print(f"umap-learn seeded layout: ACC {accuracy(u)} in {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
