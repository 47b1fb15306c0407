"""Save fitted estimators in a format whose loading cannot run code.

``pickle`` and ``joblib`` files can run arbitrary code when they are loaded.
:func:`save` writes a fitted estimator as a tree of plain values instead:
``None``, ``bool``, ``int``, ``float``, ``str``, lists, dicts and torch
tensors (numpy arrays become tensors with their dtype noted, scipy sparse
matrices their component arrays). Every object in the tree is a tagged dict
that names its class and holds its attribute tree. The tree is written with
:func:`torch.save`; :func:`load` reads it with ``torch.load(weights_only=True)``,
torch's restricted unpickler that builds nothing but tensors and plain
values, and then rebuilds objects only of the allowed classes:

- the package's own estimators and networks (subclasses of
  :class:`~skdeepcluster.base.BaseDeepCluster` or ``torch.nn.Module`` defined
  in ``skdeepcluster``);
- ``torch.nn`` layers (``Linear``, ``Conv2d``, ``Sequential``, ...);
- the scikit-learn classes the estimators keep (:data:`SKLEARN_CLASSES`) and
  skorch's ``History``;
- numpy arrays, scalars, dtypes and ``RandomState``, scipy sparse matrices,
  ``torch.device``/``torch.dtype`` and ``nn.Parameter``, by their own tags.

An object is made with ``cls.__new__(cls)`` and given its attributes; no
``__reduce__``, ``__setstate__`` or ``__init__`` of a stored type runs, except
the ``__setstate__`` of the package's own estimators, which moves the
networks to the device (``device_``) when it is available and to the CPU
otherwise, as for pickle.

Two attributes that a fitted model does not need to predict are saved as
``None``, with a warning, when they hold something else than the classes
above: the ``pretrain_callbacks`` parameter (skorch callbacks) and sklearn's
metadata-routing requests. Anything else that cannot be stored makes
:func:`save` fail with an error naming the attribute.

The file holds a format version (:data:`FORMAT_VERSION`) and the library
version that wrote it; :func:`load` refuses files of a newer format version.
"""

import pickle
import sys
import warnings
from collections import OrderedDict

import numpy as np
import scipy.sparse as sp
import torch

__all__ = ["FORMAT_VERSION", "SKLEARN_CLASSES", "UnsafeModelError", "save", "load"]

#: Version of the file layout. A release that changes how a tree is written
#: raises it; a loader reads every version up to its own and refuses newer files.
FORMAT_VERSION = 1

_MAGIC = "skdeepcluster-model"
_KIND = "__kind__"


def _sklearn_classes():
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.decomposition import PCA, KernelPCA
    from sklearn.manifold import Isomap, SpectralEmbedding
    from sklearn.mixture import BayesianGaussianMixture, GaussianMixture
    from sklearn.neighbors import KNeighborsRegressor, NearestNeighbors
    from sklearn.preprocessing import KernelCenterer, StandardScaler

    classes = [
        KMeans, MiniBatchKMeans, PCA, KernelPCA, Isomap, SpectralEmbedding, GaussianMixture,
        BayesianGaussianMixture, KNeighborsRegressor, NearestNeighbors, KernelCenterer, StandardScaler,
    ]
    return {f"{cls.__module__.split('._')[0]}.{cls.__name__}": cls for cls in classes}


#: The scikit-learn classes a saved model may contain, by public name.
SKLEARN_CLASSES = _sklearn_classes()
_SKLEARN_NAMES = {cls: name for name, cls in SKLEARN_CLASSES.items()}

_OPTIONAL = {"pretrain_callbacks", "_metadata_request"}

_SPARSE_FORMATS = {"csr": ("data", "indices", "indptr"), "csc": ("data", "indices", "indptr"), "coo": ("data", "row", "col")}


class UnsafeModelError(ValueError):
    """A file that is not a safe skdeepcluster model, or asks for a class outside the allow-list."""


class _Unstorable(TypeError):
    def __init__(self, path, value):
        super().__init__(
            f"{path} holds a {type(value).__module__}.{type(value).__qualname__}, which the safe format cannot "
            "store; save the model with pickle or joblib (and load such files only from trusted sources)."
        )


# -- classes ---------------------------------------------------------------------------------------
def _class_name(cls):
    if cls in _SKLEARN_NAMES:
        return _SKLEARN_NAMES[cls]
    if cls.__name__ == "History" and cls.__module__ == "skorch.history":
        return "skorch.history.History"
    return f"{cls.__module__}:{cls.__qualname__}"


def _allowed(cls):
    from .base import BaseDeepCluster

    module = cls.__module__
    if cls in _SKLEARN_NAMES or _class_name(cls) == "skorch.history.History":
        return True
    if module == "skdeepcluster" or module.startswith("skdeepcluster."):
        return issubclass(cls, (torch.nn.Module, BaseDeepCluster))
    return module.startswith("torch.nn.modules.") and issubclass(cls, torch.nn.Module)


def _resolve(name):
    """The allowed class called ``name``, looked up in modules of skdeepcluster and torch.nn already imported.

    Nothing is imported: importing a module runs it (``skdeepcluster.__main__``
    would start the command line).
    """
    if name in SKLEARN_CLASSES:
        return SKLEARN_CLASSES[name]
    if name == "skorch.history.History":
        from skorch.history import History

        return History
    module, _, qualname = name.partition(":")
    refused = UnsafeModelError(f"The file asks for class {name!r}, which is not in the allow-list of safe classes.")
    if not (module.startswith("skdeepcluster.") or module.startswith("torch.nn.modules.")) or not qualname:
        raise refused
    obj = sys.modules.get(module)
    if obj is None:
        raise refused
    try:
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise UnsafeModelError(f"The file names class {name!r}, which this version of the library lacks.") from None
    if not isinstance(obj, type) or not _allowed(obj):
        raise refused
    return obj


# -- values to a tree ------------------------------------------------------------------------------
_PLAIN = (type(None), bool, int, float, str)


def _tag(kind, **fields):
    return {_KIND: kind, **fields}


class _Encoder:
    def __init__(self):
        self.memo = {}  # id -> reference number, so that shared objects stay shared
        self.keep = []  # keeps the encoded objects alive, so that ids are not reused

    def ref(self, value):
        """``(number, first)``: the reference number of ``value`` and whether this is its first appearance."""
        key = id(value)
        if key in self.memo:
            return self.memo[key], False
        self.memo[key] = len(self.memo)
        self.keep.append(value)
        return self.memo[key], True

    def encode(self, value, path):
        t = type(value)
        if t in _PLAIN:
            return value
        if t is list:
            return [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if t is tuple:
            return _tag("tuple", items=[self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)])
        if t in (dict, OrderedDict):
            return _tag(
                "dict" if t is dict else "odict",
                keys=[self.encode(k, f"{path} key") for k in value],
                values=[self.encode(v, f"{path}[{k!r}]") for k, v in value.items()],
            )
        if t in (set, frozenset):
            items = [self.encode(v, f"{path} item") for v in value]
            return _tag(t.__name__, items=items)
        if t is complex:
            return _tag("complex", real=value.real, imag=value.imag)
        if t is bytes:
            return _tag("bytes", data=torch.frombuffer(bytearray(value), dtype=torch.uint8))
        if isinstance(value, torch.Tensor):
            return self.tensor(value, path)
        if t is torch.device:
            return _tag("device", value=str(value))
        if t is torch.dtype:
            return _tag("torch_dtype", value=str(value).removeprefix("torch."))
        if t is torch.Size:
            return _tag("size", items=list(value))
        if t is np.ndarray:
            return self.array(value, path)
        if isinstance(value, np.generic):
            return _tag("numpy_scalar", dtype=value.dtype.str, value=self.array(np.asarray(value), path))
        if t is np.dtype or isinstance(value, np.dtype):
            return _tag("numpy_dtype", value=value.str)
        if t is np.random.RandomState:
            return _tag("random_state", state=self.encode(value.get_state(legacy=True), path))
        if sp.issparse(value):
            return self.sparse(value, path)
        if hasattr(value, "__dict__") and _allowed(t):
            return self.object(value, path)
        raise _Unstorable(path, value)

    def tensor(self, value, path):
        number, first = self.ref(value)
        if not first:
            return _tag("ref", id=number)
        if value.is_sparse or value.layout != torch.strided:
            raise _Unstorable(path, value)
        data = value.detach().cpu()
        if isinstance(value, torch.nn.Parameter):
            return _tag("parameter", id=number, data=data, requires_grad=value.requires_grad)
        if type(value) is not torch.Tensor:
            raise _Unstorable(path, value)
        return _tag("tensor", id=number, data=data, requires_grad=value.requires_grad)

    def array(self, value, path):
        number, first = self.ref(value)
        if not first:
            return _tag("ref", id=number)
        dtype = value.dtype
        if dtype.kind in "biufc":
            data = np.ascontiguousarray(value, dtype=dtype.newbyteorder("="))
            if dtype.kind == "u" and dtype.itemsize > 1:  # torch has few unsigned types: store the bits
                data = data.view(f"i{dtype.itemsize}")
            if not data.flags.writeable:
                data = data.copy()
            return _tag("ndarray", id=number, dtype=dtype.str, data=torch.from_numpy(data))
        if dtype.kind in "OUS":
            items = [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value.ravel().tolist())]
            return _tag("ndarray_items", id=number, dtype=dtype.str, shape=list(value.shape), items=items)
        raise _Unstorable(path, value)

    def sparse(self, value, path):
        fmt = value.format if value.format in _SPARSE_FORMATS else "csr"
        converted = value.asformat(fmt)
        name = type(value).__name__
        if getattr(sp, name, None) is not type(value):
            raise _Unstorable(path, value)
        parts = {part: self.array(np.asarray(getattr(converted, part)), f"{path}.{part}") for part in _SPARSE_FORMATS[fmt]}
        return _tag("sparse", cls=name, format=fmt, original=value.format, shape=list(value.shape), **parts)

    def object(self, value, path):
        number, first = self.ref(value)
        if not first:
            return _tag("ref", id=number)
        state = dict(vars(value))
        rebuild = None
        if state.get("_tree") is not None and state.get("_fit_method") in ("kd_tree", "ball_tree"):
            state["_tree"], rebuild = None, "neighbors_tree"  # derived from _fit_X: built again on load
        node = _tag("object", id=number, cls=_class_name(type(value)), rebuild=rebuild)
        if isinstance(value, list):  # skorch's History is a list with attributes
            node["items"] = [self.encode(v, f"{path}[{i}]") for i, v in enumerate(value)]
        node["state"] = self.attributes(state, path)
        return node

    def attributes(self, state, path, optional=()):
        keys, values = [], []
        for key, value in state.items():
            try:
                encoded = self.encode(value, f"{path}.{key}" if path else key)
            except _Unstorable:
                if key not in optional:
                    raise
                warnings.warn(
                    f"{key} holds objects the safe format cannot store; it is saved as None "
                    "(the model predicts the same; set it again before refitting).",
                    UserWarning,
                    stacklevel=4,
                )
                encoded = None
            keys.append(key)
            values.append(encoded)
        return {_KIND: "dict", "keys": keys, "values": values}


# -- a tree back to values -------------------------------------------------------------------------
class _Decoder:
    def __init__(self):
        self.memo = {}

    def decode(self, node):
        if isinstance(node, _PLAIN):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        if isinstance(node, torch.Tensor):
            return node
        if not isinstance(node, dict) or _KIND not in node:
            raise UnsafeModelError(f"Unexpected value of type {type(node).__name__} in the model file.")
        kind = node[_KIND]
        method = getattr(self, f"_{kind}", None)
        if method is None:
            raise UnsafeModelError(f"Unknown value kind {kind!r} in the model file.")
        return method(node)

    def remember(self, node, value):
        self.memo[node["id"]] = value
        return value

    def _ref(self, node):
        try:
            return self.memo[node["id"]]
        except KeyError:
            raise UnsafeModelError("The model file refers to an object it does not define.") from None

    def _tuple(self, node):
        return tuple(self.decode(v) for v in node["items"])

    def _dict(self, node, cls=dict):
        return cls((self.decode(k), self.decode(v)) for k, v in zip(node["keys"], node["values"]))

    def _odict(self, node):
        return self._dict(node, OrderedDict)

    def _set(self, node):
        return {self.decode(v) for v in node["items"]}

    def _frozenset(self, node):
        return frozenset(self.decode(v) for v in node["items"])

    def _complex(self, node):
        return complex(node["real"], node["imag"])

    def _bytes(self, node):
        return bytes(node["data"].numpy().tobytes())

    def _device(self, node):
        return torch.device(node["value"])

    def _torch_dtype(self, node):
        dtypes = {name: value for name, value in vars(torch).items() if isinstance(value, torch.dtype)}
        if node["value"] not in dtypes:
            raise UnsafeModelError(f"Unknown torch dtype {node['value']!r} in the model file.")
        return dtypes[node["value"]]

    def _size(self, node):
        return torch.Size(node["items"])

    def _tensor(self, node):
        return self.remember(node, node["data"].requires_grad_(node["requires_grad"]))

    def _parameter(self, node):
        return self.remember(node, torch.nn.Parameter(node["data"], requires_grad=node["requires_grad"]))

    def _ndarray(self, node):
        dtype = _numpy_dtype(node["dtype"])
        data = node["data"].numpy()
        if dtype.kind == "u" and dtype.itemsize > 1:
            data = data.view(dtype.newbyteorder("="))
        return self.remember(node, data.astype(dtype, copy=False))

    def _ndarray_items(self, node):
        dtype = _numpy_dtype(node["dtype"])
        items = [self.decode(v) for v in node["items"]]
        array = np.empty(len(items), dtype=dtype)
        for i, item in enumerate(items):
            array[i] = item
        return self.remember(node, array.reshape(node["shape"]))

    def _numpy_scalar(self, node):
        return self.decode(node["value"])[()].astype(_numpy_dtype(node["dtype"]))

    def _numpy_dtype(self, node):
        return _numpy_dtype(node["value"])

    def _random_state(self, node):
        rng = np.random.RandomState()
        rng.set_state(self.decode(node["state"]))
        return rng

    def _sparse(self, node):
        cls = getattr(sp, node["cls"], None)
        if not (isinstance(cls, type) and issubclass(cls, (sp.spmatrix, getattr(sp, "sparray", sp.spmatrix)))):
            raise UnsafeModelError(f"Unknown scipy sparse class {node['cls']!r} in the model file.")
        fmt = node["format"]
        if fmt not in _SPARSE_FORMATS:
            raise UnsafeModelError(f"Unknown sparse format {fmt!r} in the model file.")
        data, first, second = (self.decode(node[part]) for part in _SPARSE_FORMATS[fmt])
        shape = tuple(node["shape"])
        matrix = cls((data, (first, second)) if fmt == "coo" else (data, first, second), shape=shape)
        return matrix.asformat(node["original"]) if node["original"] != fmt else matrix

    def _object(self, node):
        from .base import BaseDeepCluster

        cls = _resolve(node["cls"])
        obj = self.remember(node, cls.__new__(cls))
        if "items" in node:
            if not issubclass(cls, list):
                raise UnsafeModelError(f"Class {node['cls']!r} does not hold items.")
            list.extend(obj, self.decode(node["items"]))
        state = self.decode(node["state"])
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise UnsafeModelError(f"The attributes of a {node['cls']} in the model file are not a dict of names.")
        if issubclass(cls, BaseDeepCluster):
            obj.__setstate__(state)  # the package's own: moves the networks to device_, or to the CPU
        else:
            vars(obj).update(state)
        if node.get("rebuild") == "neighbors_tree":
            _rebuild_neighbors_tree(obj)
        return obj


def _numpy_dtype(text):
    if not isinstance(text, str):
        raise UnsafeModelError("A numpy dtype in the model file is not a string.")
    dtype = np.dtype(text)
    if dtype.kind not in "biufcOUS":
        raise UnsafeModelError(f"numpy dtype {text!r} is not allowed in a model file.")
    return dtype


def _rebuild_neighbors_tree(neighbors):
    from sklearn.neighbors import BallTree, KDTree

    tree = {"kd_tree": KDTree, "ball_tree": BallTree}[neighbors._fit_method]
    metric = neighbors.effective_metric_
    if not (isinstance(metric, str) and metric in tree.valid_metrics and metric != "pyfunc"):
        raise UnsafeModelError(f"A neighbour search in the model file has metric {metric!r}, which is not allowed.")
    neighbors._tree = tree(
        neighbors._fit_X, neighbors.leaf_size, metric=neighbors.effective_metric_, **neighbors.effective_metric_params_
    )


# -- the files -------------------------------------------------------------------------------------
def save(estimator, path):
    """Write a fitted (or unfitted) skdeepcluster estimator to ``path`` in the safe format.

    Parameters
    ----------
    estimator : BaseDeepCluster
        The estimator; its networks may live on any device (they are stored on the CPU).
    path : str or path-like or file-like
        Where to write; :func:`torch.save` accepts a path or a binary file object.

    Raises
    ------
    TypeError
        An attribute holds an object of a class outside the allow-list; the
        message names the attribute. Use pickle or joblib for such a model.
    """
    from . import __version__
    from .base import BaseDeepCluster

    if not isinstance(estimator, BaseDeepCluster):
        raise TypeError(f"save stores skdeepcluster estimators, got {type(estimator).__name__}.")
    encoder = _Encoder()
    number, _ = encoder.ref(estimator)
    state = estimator.__getstate__()  # the estimator's own: networks on the CPU, caches dropped
    tree = {
        _KIND: "object",
        "id": number,
        "cls": _class_name(type(estimator)),
        "rebuild": None,
        "state": encoder.attributes(state, "", optional=_OPTIONAL),
    }
    torch.save(
        {
            "format": _MAGIC,
            "format_version": FORMAT_VERSION,
            "library_version": __version__,
            "torch_version": str(torch.__version__),
            "estimator": tree,
        },
        path,
    )


def load(path):
    """Read an estimator written by :func:`save`, without running code from the file.

    The networks go to the device the model was fitted on (``device_``) when
    it is available here, and to the CPU otherwise.

    Parameters
    ----------
    path : str or path-like or file-like
        The file.

    Returns
    -------
    estimator : BaseDeepCluster
        The estimator, fitted if it was when saved.

    Raises
    ------
    ValueError
        The file is not a safe skdeepcluster model (for example a pickle file
        that would run code), names a class outside the allow-list, or was
        written in a newer format version than this library reads.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn.datasets import make_blobs
    >>> from skdeepcluster import AEKMeans
    >>> from skdeepcluster.persistence import load, save
    >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    >>> model = AEKMeans(n_clusters=3, hidden_dims=(16,), n_components=2,
    ...                  pretrain_epochs=5, device="cpu", random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.skdc")
    >>> save(model, path)
    >>> bool((load(path).predict(X) == model.predict(X)).all())
    True
    """
    from .base import BaseDeepCluster

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Detected pickle protocol")  # a plain pickle: refused below
            content = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # torch's restricted unpickler met something else than data
        raise UnsafeModelError(
            f"{path} is not a safe skdeepcluster model file: it holds Python objects that only pickle could "
            "build, and building them could run code. Load it with pickle or joblib only if you trust its source."
        ) from exc
    except (RuntimeError, ValueError, EOFError) as exc:
        raise UnsafeModelError(f"{path} cannot be read as a skdeepcluster model file ({exc}).") from exc
    if not isinstance(content, dict) or content.get("format") != _MAGIC:
        raise UnsafeModelError(f"{path} is not a skdeepcluster model file (written by skdeepcluster.persistence.save).")
    version = content.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise UnsafeModelError(
            f"{path} was written by skdeepcluster {content.get('library_version')} in format version {version}, "
            f"newer than this version reads (up to {FORMAT_VERSION}); upgrade skdeepcluster to load it."
        )
    try:
        estimator = _Decoder().decode(content.get("estimator"))
    except UnsafeModelError:
        raise
    except Exception as exc:  # a damaged or hand-made tree: refused, whatever broke
        raise UnsafeModelError(f"{path} holds a damaged model ({type(exc).__name__}: {exc}).") from exc
    if not isinstance(estimator, BaseDeepCluster):
        raise UnsafeModelError(f"{path} does not hold a skdeepcluster estimator.")
    return estimator

