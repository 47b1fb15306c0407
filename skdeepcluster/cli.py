"""Command line: ``skdeepcluster fit``, ``skdeepcluster demo`` and ``skdeepcluster methods``.

Bad input (a missing or unreadable file, a missing column, non-numeric data,
an unknown method or parameter, a bad option) is one line on stderr and exit
code 2; a fit that fails on good input (training diverged) is one line and
exit code 1. Never a traceback.
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


class FitError(Exception):
    """A fit that failed on valid input, reported as one line and exit code 1."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (no usage block) and exit code 2."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _read_csv(path, sep, label_column):
    """A CSV with a header row, read without pandas: ``(X, labels)``."""
    import numpy as np

    with open(path, newline="") as handle:
        header = [name.strip() for name in handle.readline().rstrip("\r\n").split(sep)]
    try:
        table = np.loadtxt(path, delimiter=sep, skiprows=1, dtype=str, ndmin=2)
    except ValueError as exc:
        raise UsageError(f"{path}: cannot read it ({str(exc).splitlines()[0]}).") from None
    if table.shape[1] != len(header):
        raise UsageError(f"{path}: the header has {len(header)} columns, the rows {table.shape[1]}.")
    labels = None
    if label_column is not None:
        if label_column not in header:
            raise UsageError(f"{path}: no column named {label_column!r}.")
        index = header.index(label_column)
        labels, table = table[:, index], np.delete(table, index, axis=1)
        del header[index]
    for j, name in enumerate(header):
        try:
            table[:, j].astype(np.float64)
        except ValueError:
            raise UsageError(f"{path}: column {name!r} is not numeric.") from None
    return table.astype(np.float64), labels


def _pop_column(X, label_column, path):
    """Split the column numbered ``label_column`` off an unnamed table: ``(X, labels)``."""
    import numpy as np

    try:
        index = int(label_column)
    except ValueError:
        raise UsageError(f"{path} has no column names; give --label-column a column number.") from None
    if X.ndim != 2 or not -X.shape[1] <= index < X.shape[1]:
        raise UsageError(f"{path}: no column {index} in a table of shape {X.shape}.")
    return np.delete(X, index, axis=1), X[:, index]


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
                    raise UsageError(f"{path}: reading Parquet needs pandas (pip install pandas pyarrow).")
                try:
                    frame = pd.read_parquet(path)
                except ImportError as exc:
                    raise UsageError(f"{path}: reading Parquet needs pyarrow or fastparquet (pip install pyarrow).") from None
            elif pd is not None:
                frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
            else:
                frame = None
                X, labels = _read_csv(path, "\t" if suffix == ".tsv" else ",", label_column)
            if frame is not None and frame.empty:
                raise UsageError(f"{path}: the table is empty (shape {frame.shape}).")
            if frame is not None:
                if label_column is not None:
                    if label_column not in frame.columns:
                        raise UsageError(f"{path}: no column named {label_column!r}.")
                    labels = frame.pop(label_column).to_numpy()
                bad = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
                if bad:
                    raise UsageError(f"{path}: column {bad[0]!r} is not numeric.")
                X = frame.to_numpy(dtype=np.float32)
        elif suffix == ".npy":
            X = np.load(path, allow_pickle=False)
            if label_column is not None:
                X, labels = _pop_column(X, label_column, path)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                names = [name for name in data.files if name != label_column]
                if not names:
                    raise UsageError(f"{path}: no data array in it.")
                X = data["X"] if "X" in names else data[names[0]]
                if label_column is not None:
                    if label_column not in data:
                        raise UsageError(f"{path}: no array named {label_column!r}.")
                    labels = data[label_column]
        else:
            raise UsageError(f"{path}: unknown format {suffix!r}; use .csv, .npy, .npz or .parquet.")
    except UsageError:
        raise
    except (ValueError, OSError, KeyError, EOFError) as exc:
        raise UsageError(f"{path}: cannot read it ({str(exc).splitlines()[0]}).") from None
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.number):
        raise UsageError(f"{path}: expected a 2-D numeric table, got shape {X.shape} of {X.dtype}.")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise UsageError(f"{path}: the table is empty (shape {X.shape}).")
    missing = np.argwhere(~np.isfinite(X))
    if len(missing):
        row, column = missing[0]
        raise UsageError(
            f"{path}: {len(missing)} missing or infinite values (the first in data row {row + 1}, "
            f"column {column + 1}); fill or drop them first."
        )
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
    for target in filter(None, (args.output, args.embedding)):
        if not Path(target).resolve().parent.is_dir():
            raise UsageError(f"cannot write {target}: no folder {Path(target).parent}.")
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
    from skdeepcluster.training import TrainingDivergedError

    try:
        model = cls(**params)
        start = time.perf_counter()
        predicted = model.fit_predict(X)
    except (ValueError, TypeError) as exc:
        raise UsageError(str(exc).splitlines()[0]) from None
    except TrainingDivergedError as exc:
        raise FitError(f"{str(exc).splitlines()[0]} Try --standardize, or --param divergence_retries=2.") from None
    seconds = time.perf_counter() - start
    out = Path(args.output)
    try:
        _write(out, predicted.astype(np.int64), header="label", fmt="%d")
        if args.embedding:
            _write(Path(args.embedding), model.transform(X), header=None, fmt="%.6g")
    except OSError as exc:
        raise UsageError(f"cannot write the output ({exc.strerror or exc}: {exc.filename or out}).") from None
    sys.stdout.write(f"{args.method}: {X.shape[0]} samples, {np.unique(predicted).size} clusters, "
                     f"{seconds:.1f} s on {model.device_}; labels written to {out}\n")
    if labels is not None:
        report = clustering_report(labels, predicted)
        sys.stdout.write(f"ACC {report['acc']:.4f}  NMI {report['nmi']:.4f}  ARI {report['ari']:.4f}\n")
    return 0


def _write(path, array, header, fmt):
    """``array`` to ``path``: NumPy's format for ``.npy``, else CSV (with ``header`` when given)."""
    import numpy as np

    if path.suffix.lower() == ".npy":
        with open(path, "wb") as f:  # a file object: np.save would add ".npy" to "labels.NPY"
            np.save(f, array)
    else:
        np.savetxt(path, array, fmt=fmt, delimiter=",", header=header or "", comments="")


def _methods(args):
    width = max(map(len, FAMILIES))
    for name, (family, needs) in FAMILIES.items():
        sys.stdout.write(f"{name:<{width}}  {family:<13} {needs}\n")
    return 0


def main(argv=None):
    parser = _Parser(prog="skdeepcluster", description="Deep clustering with a scikit-learn API.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    fit = sub.add_parser("fit", help="cluster the rows of a CSV, NPY, NPZ or Parquet file")
    fit.add_argument("data", help="input file (.csv with a header row, .npy, .npz, .parquet)")
    fit.add_argument("--method", default="DEC", help="estimator name (see 'skdeepcluster methods')")
    fit.add_argument("--n-clusters", type=int, required=True)
    fit.add_argument("-o", "--output", default="labels.csv",
                     help="where to write the labels: CSV with a 'label' header, or .npy (default labels.csv)")
    fit.add_argument("--embedding", help="also write the learned embedding (transform) to this CSV or .npy file")
    fit.add_argument("--label-column",
                     help="a column of true labels (an NPZ array name, an NPY column number): not clustered, "
                          "scored with ACC/NMI/ARI")
    fit.add_argument("--standardize", action="store_true", help="standardise every column (zero mean, unit variance) first")
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
    try:
        args = parser.parse_args(argv)
        return args.run(args)
    except UsageError as exc:
        sys.stderr.write(f"skdeepcluster: error: {exc}\n")
        return 2
    except FitError as exc:
        sys.stderr.write(f"skdeepcluster: error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("skdeepcluster: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
