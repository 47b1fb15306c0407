"""The peer side of the benchmark: ClustPy on the same data, seeds and device.

ClustPy (PyPI ``clustpy``) is a benchmark-only dependency, never a runtime one.
Its defaults are used (pretraining 100 epochs, clustering 150 epochs, batch 256,
d-500-500-2000-10 autoencoder); the data are the same arrays our harness uses.
Rows are appended to the CSV as they finish, so a run cut short keeps what it did.

    python benchmarks/peers.py --dataset mnist --methods DEC IDEC --seeds 1 --device cuda
    python benchmarks/peers.py --compare benchmarks/results/mnist_gpu.csv benchmarks/results/mnist_gpu_clustpy.csv

ClustPy's ``labels_`` for DEC, IDEC and DCN come from a k-means run after
training; the column ``own_acc`` gives the accuracy of the method's own
assignment (``dec_labels_``/``dcn_labels_``/``vade_labels_``).
"""

import argparse
import csv
import gc
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from run import PeakRSS, describe_device, load, warm_up  # noqa: E402

from skdeepcluster.metrics import clustering_accuracy, clustering_report  # noqa: E402

# our estimator name -> (ClustPy class name, attribute with the method's own labels)
METHODS = {
    "AEKMeans": ("DCN", None),  # DCN with clustering_epochs=0: k-means on the pretrained embedding
    "DEC": ("DEC", "dec_labels_"),
    "IDEC": ("IDEC", "dec_labels_"),
    "DCN": ("DCN", "dcn_labels_"),
    "VaDE": ("VaDE", "vade_labels_"),
    "N2D": ("N2D", None),
}


def fit_peer(name, X, y, seed, device):
    import torch
    import clustpy.deep as cd

    cls_name, own = METHODS[name]
    params = {"n_clusters": len(np.unique(y)), "device": torch.device(device), "random_state": seed}
    if name == "AEKMeans":
        params["clustering_epochs"] = 0
    if name == "N2D":
        import umap

        params["manifold_class"] = umap.UMAP
    model = getattr(cd, cls_name)(**params)
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    with PeakRSS() as mem:
        start = time.perf_counter()
        model.fit(X)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    row = {"estimator": name, "seed": seed, **clustering_report(y, model.labels_), "fit_s": seconds,
           "host_peak_mb": mem.peak / 2**20,
           "gpu_peak_mb": torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else float("nan"),
           "own_acc": clustering_accuracy(y, getattr(model, own)) if own else float("nan")}
    return row


def run(args):
    X, y = load(args.dataset)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{args.dataset}_{'gpu' if args.device.startswith('cuda') else 'cpu'}_clustpy{args.tag}.csv"
    import clustpy

    warm_up(args.device)
    if "N2D" in args.methods:
        import umap  # compile umap-learn's numba functions outside the timed fit, as ClustPy's N2D calls it

        umap.UMAP(n_components=10, n_neighbors=20, min_dist=0.0, random_state=0).fit(
            np.random.default_rng(0).random((5000, 10)))
    meta = {"library": f"clustpy {clustpy.__version__}", "device": describe_device(args.device)}
    with open(path, "w", newline="") as f:
        writer = None
        for name in args.methods:
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                row = {**fit_peer(name, X, y, seed, args.device), **meta}
                if writer is None:
                    writer = csv.DictWriter(f, fieldnames=list(row))
                    writer.writeheader()
                writer.writerow(row)
                f.flush()
                print(f"clustpy {name:9s} seed={seed} acc={row['acc']:.4f} own_acc={row['own_acc']:.4f} "
                      f"fit={row['fit_s']:.1f}s gpu={row['gpu_peak_mb']:.0f}MB", flush=True)


def compare_rows(ours_path, peer_path, label=None):
    """Per method both libraries ran: ``(method, our ACC, ClustPy ACC, ClustPy own-label ACC,
    ACC difference, our fit s, ClustPy fit s, time ratio, seeds ours/ClustPy)``, means over seeds."""

    def read(path):
        with open(path) as f:
            rows = list(csv.DictReader(f))
        table = {}
        for r in rows:
            table.setdefault(r["estimator"], []).append(r)
        return table

    def mean(rows, key):
        return float(np.mean([float(r[key]) for r in rows]))

    ours, peer = read(ours_path), read(peer_path)
    result = []
    for name in peer:
        if name not in ours:
            continue
        a, b, own = mean(ours[name], "acc"), mean(peer[name], "acc"), mean(peer[name], "own_acc")
        ta, tb = mean(ours[name], "fit_s"), mean(peer[name], "fit_s")
        result.append((label or name, a, b, own, a - b, ta, tb, ta / tb, f"{len(ours[name])}/{len(peer[name])}"))
    return result


COMPARE_HEADER = ("method", "ours ACC", "ClustPy ACC (own labels)", "ACC diff", "ours fit s", "ClustPy fit s",
                  "time ratio (ours/ClustPy)", "seeds (ours/ClustPy)")


def compare_cells(row):
    """The table cells of one :func:`compare_rows` row, as strings."""
    name, a, b, own, diff, ta, tb, ratio, seeds = row
    own_text = f" ({own:.3f})" if np.isfinite(own) else ""
    return [name, f"{a:.3f}", f"{b:.3f}{own_text}", f"{diff:+.3f}", f"{ta:.1f}", f"{tb:.1f}", f"{ratio:.2f}", seeds]


def compare(ours_path, peer_path):
    """Markdown table: our ACC and fit time beside ClustPy's, with the time ratio and ACC difference."""
    lines = ["| " + " | ".join(COMPARE_HEADER) + " |", "|" + "---|" * len(COMPARE_HEADER)]
    lines += ["| " + " | ".join(compare_cells(row)) + " |" for row in compare_rows(ours_path, peer_path)]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds are first-seed .. first-seed + seeds - 1")
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--tag", default="", help="suffix of the CSV's name (for runs in parallel)")
    parser.add_argument("--compare", nargs=2, metavar=("OURS_CSV", "CLUSTPY_CSV"))
    args = parser.parse_args(argv)
    if args.compare:
        sys.stdout.write(compare(*args.compare))
    else:
        run(args)


if __name__ == "__main__":
    main()
