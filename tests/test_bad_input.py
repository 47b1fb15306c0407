"""Bad input, every estimator: a correct result or a ValueError/TypeError that names the problem.

``CASES`` is the table. Each case runs on every exported estimator it applies to
(``image_shape`` cases on those that have the parameter, and so on), so
``python -m pytest -q tests/test_bad_input.py`` reports the number of
(case, estimator) pairs tried as its count of tests; :data:`PAIRS` holds them.

A case either expects an error, ``(ValueError or TypeError, regex on the
message)``, or a correct result: the labels of the training samples and of
``predict`` are integers in ``[0, n_clusters)`` with one per row and
``transform`` is finite. Anything else fails the test: a torch ``RuntimeError``,
a ``TrainingDivergedError``, NaN in the embedding, a label out of range.
Fits use the TINY settings on at most 60 samples, so the whole table takes
seconds; cases that only need *a* fitted model share one per estimator.
"""

import re
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import scipy.sparse as sp

from conftest import all_estimators, tiny, tiny_blobs
from skdeepcluster.training import TrainingDivergedError

ESTIMATORS = all_estimators()

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*non-empty clusters:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore:Graph is not fully connected:UserWarning"),
    pytest.mark.filterwarnings("ignore:Array is not symmetric:UserWarning"),
    pytest.mark.filterwarnings("ignore:umap-learn is not installed:UserWarning"),
]


def _has(*names):
    return lambda cls: any(name in cls().get_params() for name in names)


def _always(cls):
    return True


@dataclass(frozen=True)
class Case:
    """One row of the table.

    ``run(cls, fitted, tmp_path)`` returns ``(model, X)``: ``model`` fitted on ``X``
    when ``trained`` (its ``labels_`` are checked too), or any fitted model and new
    rows ``X`` for ``predict``/``transform``. With ``error`` set, ``run`` must raise
    it with a message matching ``match``.
    """

    name: str
    run: Callable
    error: tuple = ()
    match: str = ""
    applies: Callable = _always
    trained: bool = True
    or_error: tuple = ()


CASES = []


def case(name, error=(), match="", applies=_always, trained=True, or_error=()):
    """Register a case; ``or_error``: ``(type, regex)`` of an error that may come instead of a result."""

    def register(run):
        CASES.append(Case(name, run, error, match, applies, trained, or_error))
        return run

    return register


def _X(n=60, d=5):
    return tiny_blobs()[:n, :d].copy()


def _fit(cls, X, **params):
    return tiny(cls, n_clusters=params.pop("n_clusters", 3), random_state=0, **params).fit(X), X


# -- values ----------------------------------------------------------------------------------------
@case("nan", ValueError, "NaN")
def _nan(cls, fitted, tmp_path):
    X = _X()
    X[3, 1] = np.nan
    return _fit(cls, X)


@case("inf", ValueError, "infinity")
def _inf(cls, fitted, tmp_path):
    X = _X()
    X[3, 1] = -np.inf
    return _fit(cls, X)


@case("huge-values", ValueError, "too large")
def _huge(cls, fitted, tmp_path):
    return _fit(cls, _X() * 1e30)


@case("beyond-float32", ValueError, "too large")
def _beyond_float32(cls, fitted, tmp_path):
    return _fit(cls, _X().astype(np.float64) * 1e300)


@case("complex", ValueError, "Complex")
def _complex(cls, fitted, tmp_path):
    return _fit(cls, _X() + 1j)


@case(
    "large-values",
    or_error=(TrainingDivergedError, r"loss became (nan|inf|-inf) at epoch \d+ of the \w+ phase|NaN or infinite"),
)
def _large(cls, fitted, tmp_path):
    """Unscaled but representable data: a result, or a divergence error that names the epoch and the term."""
    return _fit(cls, _X() * 1e8)


@case("nan-at-predict", ValueError, "NaN", trained=False)
def _nan_predict(cls, fitted, tmp_path):
    X = _X(10)
    X[0, 0] = np.nan
    fitted(cls).predict(X)


@case("huge-at-predict", ValueError, "too large", trained=False)
def _huge_predict(cls, fitted, tmp_path):
    fitted(cls).transform(_X(10) * 1e30)


# -- shapes ----------------------------------------------------------------------------------------
@case("empty", ValueError, "0 sample")
def _empty(cls, fitted, tmp_path):
    return _fit(cls, np.empty((0, 5), dtype=np.float32))


@case("one-sample", ValueError, "1 sample")
def _one_sample(cls, fitted, tmp_path):
    return _fit(cls, _X(1), n_clusters=1)


@case("two-samples")
def _two_samples(cls, fitted, tmp_path):
    return _fit(cls, _X()[[0, 30]], n_clusters=2)


@case("one-feature")
def _one_feature(cls, fitted, tmp_path):
    return _fit(cls, _X(d=1))


@case("one-dimensional", ValueError, "2D array")
def _one_dimensional(cls, fitted, tmp_path):
    return _fit(cls, _X()[:, 0])


@case("constant-column")
def _constant_column(cls, fitted, tmp_path):
    X = _X()
    X[:, 2] = 7.0
    return _fit(cls, X)


@case("identical-rows")
def _identical_rows(cls, fitted, tmp_path):
    return _fit(cls, np.ones((20, 5), dtype=np.float32))


@case("one-cluster")
def _one_cluster(cls, fitted, tmp_path):
    return _fit(cls, _X(), n_clusters=1)


@case("more-clusters-than-samples", ValueError, "n_clusters=8 is larger than the number of samples")
def _more_clusters(cls, fitted, tmp_path):
    return _fit(cls, _X(5), n_clusters=8)


@case("wrong-feature-count-at-transform", ValueError, "X has 4 features, but .* 5 features", trained=False)
def _wrong_width_transform(cls, fitted, tmp_path):
    fitted(cls).transform(_X(d=4))


@case("wrong-feature-count-at-predict", ValueError, "X has 4 features, but .* 5 features", trained=False)
def _wrong_width_predict(cls, fitted, tmp_path):
    fitted(cls).predict(_X(d=4))


# -- types -----------------------------------------------------------------------------------------
@case("integer-X")
def _integer(cls, fitted, tmp_path):
    return _fit(cls, np.round(_X() * 3).astype(np.int64))


@case("boolean-X")
def _boolean(cls, fitted, tmp_path):
    return _fit(cls, _X() > 0)


@case("sparse-X", TypeError, "[Ss]parse")
def _sparse(cls, fitted, tmp_path):
    return _fit(cls, sp.csr_matrix(_X()))


@case("sparse-at-predict", TypeError, "[Ss]parse", trained=False)
def _sparse_predict(cls, fitted, tmp_path):
    fitted(cls).predict(sp.csr_matrix(_X(10)))


@case("string-columns", ValueError, "could not convert string to float")
def _strings(cls, fitted, tmp_path):
    X = _X().astype(object)
    X[:, 1] = "a"
    return _fit(cls, X)


@case("object-at-predict", ValueError, "could not convert string to float", trained=False)
def _strings_predict(cls, fitted, tmp_path):
    fitted(cls).predict(np.array([["x"] * 5] * 4, dtype=object))


# -- memory layout ---------------------------------------------------------------------------------
@case("non-contiguous")
def _non_contiguous(cls, fitted, tmp_path):
    wide = np.repeat(_X(), 2, axis=1)[:, ::2]  # a strided view
    assert not wide.flags.c_contiguous
    return _fit(cls, wide)


@case("fortran-order-at-predict", trained=False)
def _fortran_predict(cls, fitted, tmp_path):
    model, X = fitted(cls), np.asfortranarray(_X(20))
    np.testing.assert_array_equal(model.transform(X), model.transform(np.ascontiguousarray(X)))
    return model, X


def _memmap(tmp_path, X):
    path = tmp_path / "X.dat"
    np.memmap(path, dtype=X.dtype, mode="w+", shape=X.shape)[:] = X
    return np.memmap(path, dtype=X.dtype, mode="r", shape=X.shape)


@case("read-only-memmap")
def _read_only(cls, fitted, tmp_path):
    X = _memmap(tmp_path, _X())
    assert not X.flags.writeable
    return _fit(cls, X)


@case("read-only-memmap-at-predict", trained=False)
def _read_only_predict(cls, fitted, tmp_path):
    model, X = fitted(cls), _memmap(tmp_path, _X(20))
    np.testing.assert_array_equal(model.predict(X), model.predict(np.array(X)))
    return model, X


# -- parameters ------------------------------------------------------------------------------------
@case("image-shape-mismatch", ValueError, r"image_shape.*\b5 (features|columns)", applies=_has("image_shape"))
def _image_shape(cls, fitted, tmp_path):
    return _fit(cls, _X(), image_shape=(1, 3, 3))


@case("image-shape-malformed", ValueError, "image_shape", applies=_has("image_shape"))
def _image_shape_malformed(cls, fitted, tmp_path):
    return _fit(cls, _X(), image_shape=(5, 1))


@case("view-sizes-mismatch", ValueError, "view_sizes=.*5 feature", applies=_has("view_sizes"))
def _view_sizes(cls, fitted, tmp_path):
    return _fit(cls, _X(), view_sizes=[2, 2])


@case("view-sizes-malformed", ValueError, "view_sizes must be positive", applies=_has("view_sizes"))
def _view_sizes_malformed(cls, fitted, tmp_path):
    return _fit(cls, _X(), view_sizes=[-1, -1, 5])


@case("adjacency-wrong-shape", ValueError, "adjacency has shape", applies=_has("kernel"))
def _adjacency(cls, fitted, tmp_path):
    model = tiny(cls, n_clusters=3)
    return model.fit(_X(), adjacency=sp.eye(50, format="csr")), None


def _invalid(name, value):
    def run(cls, fitted, tmp_path):
        return _fit(cls, _X(), **{name: value})

    return run


for _name, _value in [
    ("pretrain_epochs", -1),
    ("epochs", -1),
    ("max_iter", -1),
    ("head_iter", -1),
    ("batch_size", 0),
    ("spectral_batch_size", 0),
    ("n_clusters", 0),
    ("n_init", 0),
    ("hidden_dims", "32"),
]:
    # validated by the estimator itself, before any training (not by a scikit-learn object inside it)
    case(f"{_name}={_value!r}", ValueError, f"'{_name}' parameter of <cls> ", applies=_has(_name))(
        _invalid(_name, _value)
    )


@case("string-for-int-parameter", (ValueError, TypeError), "n_clusters")
def _string_param(cls, fitted, tmp_path):
    return _fit(cls, _X(), n_clusters="3")


@case("unknown-device", ValueError, "device='tpu'")
def _device(cls, fitted, tmp_path):
    return _fit(cls, _X(), device="tpu")


@case("malformed-device", ValueError, "device='cuda:x'")
def _device_malformed(cls, fitted, tmp_path):
    return _fit(cls, _X(), device="cuda:x")


PAIRS = [(c, cls) for c in CASES for cls in ESTIMATORS if c.applies(cls)]


def _check_result(model, X, trained, caught):
    n_clusters = model.n_clusters
    if trained:
        labels = np.asarray(model.labels_)
        assert labels.shape == (len(X),) and labels.dtype.kind in "iu"
        assert labels.min() >= 0 and labels.max() < n_clusters
        found = np.unique(labels).size
        if found < n_clusters:  # a degenerate clustering is never silent
            message = f"found {found} non-empty clusters of the {n_clusters}"
            assert any(message in str(w.message) for w in caught), [str(w.message) for w in caught]
    labels = model.predict(X)
    assert labels.shape == (len(X),) and labels.dtype.kind in "iu"
    assert labels.min() >= 0 and labels.max() < n_clusters
    Z = model.transform(X)
    assert Z.shape[0] == len(X) and np.isfinite(Z).all()


@pytest.mark.parametrize("case, cls", PAIRS, ids=[f"{c.name}-{cls.__name__}" for c, cls in PAIRS])
def test_bad_input(case, cls, fitted_tiny, tmp_path):
    if case.error:
        with pytest.raises(case.error, match=case.match.replace("<cls>", cls.__name__)):
            case.run(cls, fitted_tiny, tmp_path)
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            model, X = case.run(cls, fitted_tiny, tmp_path)
        except case.or_error[:1] as exc:
            assert re.search(case.or_error[1], str(exc)), str(exc)
            return
        _check_result(model, X, case.trained, caught)


def test_every_case_runs_on_some_estimator_and_every_estimator_on_most_cases():
    assert all(any(c is case for c, _ in PAIRS) for case in CASES)
    per_estimator = {cls: sum(1 for _, k in PAIRS if k is cls) for cls in ESTIMATORS}
    assert min(per_estimator.values()) >= len(CASES) - 8, per_estimator
