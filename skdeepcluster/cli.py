"""Command line: ``skdeepcluster demo`` and ``skdeepcluster methods``."""

import argparse
import sys
import time

FAMILIES = {
    "AEKMeans": ("multistage", "any numeric rows"),
    "DEC": ("simultaneous", "any numeric rows; image_shape for images"),
    "IDEC": ("simultaneous", "any numeric rows; image_shape for images"),
    "VaDE": ("generative", "any numeric rows (Bernoulli decoder for [0, 1] data); image_shape for images"),
    "DHVC": ("generative", "any numeric rows (Bernoulli decoder for [0, 1] data); image_shape for images"),
}


def _demo(args):
    import numpy as np
    from sklearn.datasets import load_digits

    import skdeepcluster
    from skdeepcluster.metrics import clustering_report

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    cls = getattr(skdeepcluster, args.method)
    model = cls(n_clusters=10, pretrain_epochs=args.epochs, random_state=args.seed, verbose=1)
    sys.stdout.write(f"Clustering sklearn digits ({X.shape[0]} x {X.shape[1]}) with {args.method} ...\n")
    start = time.perf_counter()
    labels = model.fit_predict(X)
    seconds = time.perf_counter() - start
    report = clustering_report(y, labels)
    sys.stdout.write(
        f"{args.method} on digits: ACC {report['acc']:.3f}  NMI {report['nmi']:.3f}  ARI {report['ari']:.3f}  "
        f"({seconds:.1f} s on {model.device_})\n"
    )
    return 0


def _methods(args):
    width = max(map(len, FAMILIES))
    for name, (family, needs) in FAMILIES.items():
        sys.stdout.write(f"{name:<{width}}  {family:<13} {needs}\n")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="skdeepcluster", description="Deep clustering with a scikit-learn API.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="cluster sklearn's digits and print ACC/NMI/ARI")
    demo.add_argument("--method", default="DEC", choices=sorted(FAMILIES))
    demo.add_argument("--epochs", type=int, default=50, help="autoencoder pretraining epochs (default 50)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=_demo)
    methods = sub.add_parser("methods", help="list the estimators, their families and inputs")
    methods.set_defaults(run=_methods)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
