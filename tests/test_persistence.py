"""The safe model format of skdeepcluster.persistence: round trips, and files that must be refused."""

import copy
import os
import pickle
import subprocess
import sys
import textwrap
from functools import partial

import numpy as np
import pytest
import torch
from skorch.callbacks import EarlyStopping

import skdeepcluster
from conftest import TEST_DEVICE, all_estimators, tiny, tiny_blobs
from skdeepcluster import DEC, N2D, DSCNet, DHVC
from skdeepcluster.persistence import FORMAT_VERSION, UnsafeModelError, load, save

ESTIMATORS = all_estimators()

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*non-empty clusters:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:umap-learn is not installed:UserWarning"),
]


def assert_same_predictions(a, b, X, exact=True):
    """Equal labels; equal embeddings and probabilities, to float32 rounding where ``exact`` is False."""
    same = np.testing.assert_array_equal if exact else partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    same(a.transform(X), b.transform(X))
    if hasattr(a, "predict_proba"):
        same(a.predict_proba(X), b.predict_proba(X))


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_round_trip_is_bit_identical(cls, fitted_tiny, tmp_path):
    model = fitted_tiny(cls)
    save(model, tmp_path / "model.skdc")
    loaded = load(tmp_path / "model.skdc")
    assert type(loaded) is cls and sorted(vars(loaded)) == sorted(model.__getstate__())  # caches are not stored
    assert repr(loaded.get_params()) == repr(model.get_params())
    np.testing.assert_array_equal(loaded.labels_, model.labels_)
    assert_same_predictions(model, loaded, np.vstack([tiny_blobs(), tiny_blobs()[:7] + 0.5]))


def test_shared_networks_stay_shared_and_neighbour_trees_are_rebuilt(fitted_tiny, tmp_path):
    X = tiny_blobs()
    for model in (fitted_tiny(DSCNet), fitted_tiny(DHVC)):
        save(model, tmp_path / "m")
        loaded = load(tmp_path / "m")
        inner = loaded.network_.autoencoder if isinstance(loaded, DSCNet) else loaded._network.autoencoder
        assert inner is loaded.autoencoder_
    isomap = tiny(N2D, n_clusters=3, manifold="isomap", random_state=0).fit(X)  # KD-trees inside
    save(isomap, tmp_path / "m")
    loaded = load(tmp_path / "m")
    assert loaded.manifold_learner_.nbrs_._tree is not None
    assert_same_predictions(isomap, loaded, X + 0.1)


def test_unfitted_estimator_and_header(tmp_path):
    save(DSCNet(n_clusters=4, n_landmarks=100), tmp_path / "m")
    loaded = load(tmp_path / "m")
    assert loaded.get_params() == DSCNet(n_clusters=4, n_landmarks=100).get_params()
    assert not hasattr(loaded, "labels_")
    header = torch.load(tmp_path / "m", weights_only=True)
    assert header["format"] == "skdeepcluster-model" and header["format_version"] == FORMAT_VERSION
    assert header["library_version"] == skdeepcluster.__version__


def test_callbacks_are_dropped_with_a_warning(tmp_path):
    X = tiny_blobs()
    model = tiny(DSCNet, n_clusters=3, random_state=0, pretrain_callbacks=[EarlyStopping(monitor="train_loss")]).fit(X)
    with pytest.warns(UserWarning, match="pretrain_callbacks holds objects the safe format cannot store"):
        save(model, tmp_path / "m")
    loaded = load(tmp_path / "m")
    assert loaded.pretrain_callbacks is None
    assert_same_predictions(model, loaded, X)


def test_an_attribute_outside_the_allow_list_is_refused_at_save(fitted_tiny, tmp_path):
    model = copy.deepcopy(fitted_tiny(DSCNet))
    model.extra_ = {"scorer": lambda y: y}
    with pytest.raises(TypeError, match=r"extra_\['scorer'\] holds a builtins.function"):
        save(model, tmp_path / "m")


def test_a_model_fitted_on_a_gpu_loads_on_a_cpu(fitted_tiny, tmp_path, monkeypatch):
    """Without CUDA: device_ names a GPU that is not here, so the networks stay on the CPU."""
    model = copy.deepcopy(fitted_tiny(DSCNet))
    model.device_ = torch.device("cuda", 0)
    save(model, tmp_path / "m")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loaded = load(tmp_path / "m")
    assert loaded.device_ == torch.device("cpu")
    # fitted on TEST_DEVICE; a GPU and the CPU round differently
    assert_same_predictions(fitted_tiny(DSCNet), loaded, tiny_blobs(), exact=TEST_DEVICE == "cpu")


def test_saving_a_gpu_model_leaves_its_networks_where_they_are(fitted_tiny, tmp_path, monkeypatch):
    """Storing copies the networks to the CPU; the estimator itself keeps them (a GPU model stays on the GPU)."""
    import skdeepcluster.base

    model = copy.deepcopy(fitted_tiny(DEC))
    before = dict(vars(model))
    monkeypatch.setattr(skdeepcluster.base, "_is_off_cpu", lambda value: True)  # every network counts as on a GPU
    save(model, tmp_path / "m")
    pickle.dumps(model)
    assert all(vars(model)[name] is value for name, value in before.items())


_CPU_ONLY = """
import sys
import numpy as np, torch
sys.path[:0] = {path!r}
from skdeepcluster.persistence import load
assert not torch.cuda.is_available()
model = load({file!r})
assert model.device_ == torch.device("cpu"), model.device_
X = np.load({data!r})
np.testing.assert_array_equal(model.predict(X), np.load({labels!r}))
np.testing.assert_allclose(model.transform(X), np.load({embedding!r}), rtol=1e-4, atol=1e-5)
print("ok")
"""


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("cls", [c for c in ESTIMATORS if c.__name__ in {"DEC", "DSCNet", "SDCN", "DHVC"}])
def test_a_model_fitted_on_a_gpu_loads_in_a_process_without_one(cls, tmp_path):
    X = tiny_blobs()
    model = tiny(cls, n_clusters=3, random_state=0, device="cuda").fit(X)
    save(model, tmp_path / "m")
    files = {"data": X, "labels": model.predict(X), "embedding": model.transform(X)}
    for name, array in files.items():
        np.save(tmp_path / f"{name}.npy", array)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = _CPU_ONLY.format(path=[root], file=str(tmp_path / "m"), **{k: str(tmp_path / f"{k}.npy") for k in files})
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


# -- files that must be refused --------------------------------------------------------------------
class _Payload:
    """Unpickling this writes ``marker``: what a malicious model file would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('code ran')",)


def test_a_pickle_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "marker"
    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump({"format": "skdeepcluster-model", "estimator": _Payload(marker)}, f)
    torch.save({"format": "skdeepcluster-model", "format_version": 1, "estimator": _Payload(marker)}, tmp_path / "evil.pt")
    for name in ("evil.pkl", "evil.pt"):
        with pytest.raises(UnsafeModelError, match="not a safe skdeepcluster model file"):
            load(tmp_path / name)
        assert not marker.exists()
    with open(tmp_path / "evil.pkl", "rb") as f:  # the payload is real: pickle runs it
        pickle.load(f)
    assert marker.read_text() == "code ran"


def _tampered(fitted_tiny, tmp_path, change):
    save(fitted_tiny(DSCNet), tmp_path / "m")
    content = torch.load(tmp_path / "m", weights_only=True)
    change(content)
    torch.save(content, tmp_path / "tampered")
    return tmp_path / "tampered"


@pytest.mark.parametrize(
    "name",
    ["subprocess:Popen", "builtins:eval", "os:system", "skdeepcluster.training:TrainingLog",
     "skdeepcluster.base:resolve_device", "torch.nn.modules.linear:math", "numpy:ndarray",
     "skdeepcluster.__main__:main", "skdeepcluster.cli:main"],
)
def test_a_class_outside_the_allow_list_is_refused(name, fitted_tiny, tmp_path):
    def rename(content):
        content["estimator"]["cls"] = name

    modules = set(sys.modules)
    with pytest.raises(UnsafeModelError, match=f"class {name!r}.*not in the allow-list"):
        load(_tampered(fitted_tiny, tmp_path, rename))
    assert "skdeepcluster.__main__" not in set(sys.modules) - modules  # nothing is imported, so nothing runs


def test_a_nested_class_outside_the_allow_list_is_refused(fitted_tiny, tmp_path):
    def nest(content):
        state = content["estimator"]["state"]
        state["values"][state["keys"].index("network_")]["cls"] = "collections:UserDict"

    with pytest.raises(UnsafeModelError, match="'collections:UserDict'.*not in the allow-list"):
        load(_tampered(fitted_tiny, tmp_path, nest))


def test_newer_format_versions_and_other_files_are_refused(fitted_tiny, tmp_path):
    def newer(content):
        content["format_version"] = FORMAT_VERSION + 1
        content["library_version"] = "99.0"

    with pytest.raises(UnsafeModelError, match=rf"skdeepcluster 99.0 in format version {FORMAT_VERSION + 1}, newer"):
        load(_tampered(fitted_tiny, tmp_path, newer))
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other")
    with pytest.raises(UnsafeModelError, match="not a skdeepcluster model file"):
        load(tmp_path / "other")
    (tmp_path / "garbage").write_bytes(b"\x00not a model")
    with pytest.raises(UnsafeModelError):
        load(tmp_path / "garbage")
