"""Command line: ``skdeepcluster fit``, ``skdeepcluster demo`` and ``skdeepcluster methods``.

Bad input (a missing or unreadable file, a missing column, non-numeric data,
an unknown method or parameter) is one line on stderr and exit code 2.
"""

import argparse
import ast
import sys
import time
from pathlib import Path

FAMILIES = {
    "AEKMeans": ("multistage", "any numeric rows"),
    "DEC": ("simultaneous", "any numeric rows; image_shape for images"),
    "IDEC": ("simultaneous", "any numeric rows; image_shape for images"),
    "DCN": ("simultaneous", "any numeric rows; image_shape for images"),
    "N2D": ("multistage", "any numeric rows; UMAP via skdeepcluster[umap]"),
    "DeepCluster": ("iterative", "any numeric rows; image_shape for images"),
    "DSCNet": ("multistage", "any numeric rows; image_shape for images; transductive (n_landmarks to scale)"),
    "DMSC": ("multistage", "modalities as column blocks (view_sizes) or a list of arrays"),
    "DSCDAN": ("simultaneous", "any numeric rows; image_shape for images"),
    "SDCN": ("simultaneous", "numeric rows; a sample graph (adjacency=) or a kNN graph of X"),
    "CaEGCN": ("simultaneous", "numeric rows; a sample graph (adjacency=) or a kNN graph of X"),
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


class UsageError(Exception):
    """A problem with the command line's input, reported as one line and exit code 2."""


def _read_table(path, label_column):
    """Rows of ``path`` (CSV, NPY, NPZ or Parquet) as float32, and the named label column if any."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file.")
    suffix = path.suffix.lower()
    labels = None
    try:
        if suffix in (".csv", ".tsv", ".txt", ".parquet"):
            try:
                import pandas as pd
            except ImportError:
                pd = None
            if suffix == ".parquet":
                if pd is None:
                    raise UsageError("reading Parquet needs pandas (pip install pandas pyarrow).")
                frame = pd.read_parquet(path)
            elif pd is not None:
                frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
            else:
                frame = None
            if frame is not None:
                if label_column is not None:
                    if label_column not in frame.columns:
                        raise UsageError(f"{path}: no column named {label_column!r}.")
                    labels = frame.pop(label_column).to_numpy()
                bad = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
                if bad:
                    raise UsageError(f"{path}: column {bad[0]!r} is not numeric.")
                X = frame.to_numpy(dtype=np.float32)
            else:
                X = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32)
        elif suffix == ".npy":
            X = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                X = data["X"] if "X" in data else data[data.files[0]]
                if label_column is not None:
                    if label_column not in data:
                        raise UsageError(f"{path}: no array named {label_column!r}.")
                    labels = data[label_column]
        else:
            raise UsageError(f"{path}: unknown format {suffix!r}; use .csv, .npy, .npz or .parquet.")
    except UsageError:
        raise
    except (ValueError, OSError, KeyError) as exc:
        raise UsageError(f"{path}: cannot read it ({str(exc).splitlines()[0]}).") from None
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.number):
        raise UsageError(f"{path}: expected a 2-D numeric table, got shape {X.shape} of {X.dtype}.")
    return X.astype(np.float32), labels


def _parse_params(items):
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--param {item!r}: write NAME=VALUE.")
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value
    return params


def _fit(args):
    import numpy as np

    import skdeepcluster
    from skdeepcluster.metrics import clustering_report

    if args.method not in FAMILIES:
        raise UsageError(f"unknown method {args.method!r}; run 'skdeepcluster methods' for the list.")
    X, labels = _read_table(args.data, args.label_column)
    if args.standardize:
        from sklearn.preprocessing import StandardScaler

        X = StandardScaler().fit_transform(X).astype(np.float32)
    cls = getattr(skdeepcluster, args.method)
    params = {"n_clusters": args.n_clusters, "device": args.device, "random_state": args.random_state,
              "verbose": 0 if args.quiet else 1, **_parse_params(args.param)}
    unknown = sorted(set(params) - set(cls().get_params()))
    if unknown:
        raise UsageError(f"{args.method} has no parameter {unknown[0]!r}.")
    try:
        model = cls(**params)
        start = time.perf_counter()
        predicted = model.fit_predict(X)
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc).splitlines()[0]) from None
    seconds = time.perf_counter() - start
    out = Path(args.output)
    np.savetxt(out, predicted.astype(int), fmt="%d", header="label", comments="")
    if args.embedding:
        np.savetxt(args.embedding, model.transform(X), delimiter=",", fmt="%.6g")
    sys.stdout.write(f"{args.method}: {X.shape[0]} samples, {np.unique(predicted).size} clusters, "
                     f"{seconds:.1f} s on {model.device_}; labels written to {out}\n")
    if labels is not None:
        report = clustering_report(labels, predicted)
        sys.stdout.write(f"ACC {report['acc']:.4f}  NMI {report['nmi']:.4f}  ARI {report['ari']:.4f}\n")
    return 0


def _methods(args):
    width = max(map(len, FAMILIES))
    for name, (family, needs) in FAMILIES.items():
        sys.stdout.write(f"{name:<{width}}  {family:<13} {needs}\n")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="skdeepcluster", description="Deep clustering with a scikit-learn API.")
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="cluster the rows of a CSV, NPY, NPZ or Parquet file")
    fit.add_argument("data", help="input file (.csv with a header row, .npy, .npz, .parquet)")
    fit.add_argument("--method", default="DEC", help="estimator name (see 'skdeepcluster methods')")
    fit.add_argument("--n-clusters", type=int, required=True)
    fit.add_argument("-o", "--output", default="labels.csv", help="where to write the labels (default labels.csv)")
    fit.add_argument("--embedding", help="also write the learned embedding to this CSV file")
    fit.add_argument("--label-column", help="a column (or NPZ array) of true labels: printed ACC/NMI/ARI")
    fit.add_argument("--standardize", action="store_true", help="standardise every column first")
    fit.add_argument("--device", default="auto")
    fit.add_argument("--random-state", type=int, default=0)
    fit.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="any estimator parameter")
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    fit.set_defaults(run=_fit)
    demo = sub.add_parser("demo", help="cluster sklearn's digits and print ACC/NMI/ARI")
    demo.add_argument("--method", default="DEC", choices=sorted(FAMILIES))
    demo.add_argument("--epochs", type=int, default=50, help="autoencoder pretraining epochs (default 50)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=_demo)
    methods = sub.add_parser("methods", help="list the estimators, their families and inputs")
    methods.set_defaults(run=_methods)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except UsageError as exc:
        sys.stderr.write(f"skdeepcluster: error: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
