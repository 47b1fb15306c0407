"""Training that goes wrong (divergence, interrupts, device memory), determinism on a GPU, and scaling out.

Every estimator, every training phase: a NaN loss stops the fit at once with
an error naming the term, the epoch and the phase, and whatever stops a fit
leaves the estimator unfitted.
"""

import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.utils.validation import check_is_fitted

import skdeepcluster
from conftest import TEST_DEVICE, all_estimators, small, tiny, tiny_blobs
from skdeepcluster import DEC, DSCNet
from skdeepcluster.base import DeviceOutOfMemoryError, _is_learning_rate
from skdeepcluster.training import AutoencoderNet, TrainingDivergedError, TrainingLog, TrainStep

ESTIMATORS = all_estimators()
by_name = pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*non-empty clusters:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore:umap-learn is not installed:UserWarning"),
]


def assert_unfitted(model):
    """No attribute beyond the parameters (and no fitted one for check_is_fitted)."""
    extra = set(vars(model)) - set(model.get_params(deep=False))
    assert not extra, f"left behind: {sorted(extra)}"
    with pytest.raises(NotFittedError):
        check_is_fitted(model)


# -- divergence ------------------------------------------------------------------------------------
@by_name
def test_a_nan_loss_stops_every_phase_at_once(cls, fitted_tiny, monkeypatch):
    """Poison the first loss term of one phase at a time: the fit stops at its first epoch."""
    history = fitted_tiny(cls).history_
    record = TrainingLog.record
    for phase, terms in history.items():
        term = next(iter(terms))

        def poisoned(self, name, _phase=phase, _term=term, **values):
            if name == _phase:
                values[_term] = float("nan")
            return record(self, name, **values)

        monkeypatch.setattr(TrainingLog, "record", poisoned)
        model = tiny(cls, n_clusters=3, random_state=0)
        with pytest.raises(TrainingDivergedError, match=rf"^The {term} loss became nan at epoch 1 of the {phase} phase"):
            model.fit(tiny_blobs())
        assert_unfitted(model)


_LEARNING_RATES = ("lr", "learning_rate", "joint_lr")


@by_name
def test_a_huge_learning_rate_diverges_with_a_named_error(cls):
    """A real divergence (no patching): the clustering phase's learning rate, or pretraining's for the two-stage methods."""
    params = cls().get_params()
    rates = {name: 1e12 for name in _LEARNING_RATES if name in params} or {"pretrain_lr": 1e12}
    model = tiny(cls, n_clusters=3, random_state=0, **rates)
    with pytest.raises(TrainingDivergedError, match=r"The \w+ loss became (nan|inf|-inf) at epoch \d+ of the \w+ phase"):
        model.fit(tiny_blobs())
    assert_unfitted(model)


#: Every learning-rate parameter of the estimators, which a restart after a divergence lowers.
_ALL_LEARNING_RATES = {"lr", "learning_rate", "pretrain_lr", "joint_lr", "min_lr"}


def _lowered(model, restarts):
    """What ``restarts`` restarts change: every learning rate divided by ``10**restarts``, clipping where it was off."""
    params = model.get_params()
    lowered = {name: value / 10**restarts for name, value in params.items() if name in _ALL_LEARNING_RATES}
    return lowered | ({"max_grad_norm": 1.0} if params.get("max_grad_norm", 0) is None else {})


def test_the_learning_rate_rule_catches_every_learning_rate_and_nothing_else():
    found = {name for cls in ESTIMATORS for name in cls().get_params() if _is_learning_rate(name)}
    assert found == _ALL_LEARNING_RATES


@by_name
def test_a_divergence_restarts_with_lower_learning_rates_when_asked(cls, fitted_tiny, monkeypatch):
    """The first loss of the first try turns NaN: one restart, as if fitted with the lowered rates from the start."""
    assert (fitted_tiny(cls).learning_rate_scale_, fitted_tiny(cls).divergence_restarts_) == (1.0, 0)
    record, calls = TrainingLog.record, []

    def nan_at_first_call(self, phase, **terms):
        calls.append(phase)
        if len(calls) == 1:
            terms = dict.fromkeys(terms, float("nan"))
        return record(self, phase, **terms)

    monkeypatch.setattr(TrainingLog, "record", nan_at_first_call)
    X = tiny_blobs()
    model = tiny(cls, n_clusters=3, random_state=0, divergence_retries=2)
    params = model.get_params()
    message = rf"^{cls.__name__} diverged \(The \w+ loss became nan at epoch 1 of the \w+ phase; .*\); restart 1 of 2, "
    with pytest.warns(RuntimeWarning, match=message + r"from scratch with the same seed, .* divided by 10 \(") as caught:
        model.fit(X)
    restarts = [w for w in caught if "restart" in str(w.message)]
    assert len(restarts) == 1
    lowered = _lowered(model, 1)
    assert all(f"{name}={value:g}" in str(restarts[0].message) for name, value in lowered.items())
    assert ("gradient clipping" in str(restarts[0].message)) == ("max_grad_norm" in lowered)
    assert (model.divergence_restarts_, model.learning_rate_scale_) == (1, 0.1)
    assert model.get_params() == params  # the lowered rates were only lent to the fit
    monkeypatch.undo()
    direct = tiny(cls, n_clusters=3, random_state=0, **lowered).fit(X)
    assert model.history_ == direct.history_  # every rate the fit reads was lowered, and nothing else changed
    np.testing.assert_array_equal(model.labels_, direct.labels_)


def test_a_real_divergence_recovers_and_exhausted_restarts_leave_the_estimator_unfitted():
    """No patching: pretraining at lr 1e3 overflows, lower rates recover; at 1e12, two restarts are not enough.

    On a CPU the first restart (lr 1e2) already recovers; on a GPU, where steps
    run in TF32, it can take another.
    """
    X = tiny_blobs()
    model = tiny(DEC, n_clusters=3, random_state=0, pretrain_lr=1e3, divergence_retries=3)
    with pytest.warns(RuntimeWarning, match=r"lr=0\.001, pretrain_lr=100\)\.$"):
        model.fit(X)
    expected = [1] if TEST_DEVICE == "cpu" else [1, 2, 3]
    assert model.divergence_restarts_ in expected and model.pretrain_lr == 1e3
    assert model.learning_rate_scale_ == pytest.approx(10.0**-model.divergence_restarts_)
    model.set_params(pretrain_lr=1e12, divergence_retries=2)
    with pytest.warns(RuntimeWarning, match="restart") as caught, pytest.raises(
        TrainingDivergedError, match=r"^DEC diverged in each of its 3 tries \(2 restarts with lower learning rates\); "
        r"the last: The reconstruction loss became (nan|inf) at epoch 1 of the pretrain phase"
    ) as info:
        model.fit(X)
    assert len([w for w in caught if "restart" in str(w.message)]) == 2
    assert isinstance(info.value.__cause__, TrainingDivergedError)
    assert_unfitted(model)  # the first fit is forgotten too
    assert model.pretrain_lr == 1e12


def test_only_a_divergence_is_retried(monkeypatch):
    calls = []

    def interrupted(self, X, log):
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(DEC, "_fit", interrupted)
    model = tiny(DEC, n_clusters=3, random_state=0, divergence_retries=3)
    with pytest.raises(KeyboardInterrupt):
        model.fit(tiny_blobs())
    assert len(calls) == 1
    assert_unfitted(model)


def test_weights_that_turn_nan_after_the_last_recorded_loss_are_caught(monkeypatch):
    model = tiny(DSCNet, n_clusters=3, random_state=0)
    fit = DSCNet._fit

    def nan_weights(self, X, log):
        fit(self, X, log)
        with torch.no_grad():
            next(self.network_.parameters()).fill_(float("nan"))

    monkeypatch.setattr(DSCNet, "_fit", nan_weights)
    with pytest.raises(TrainingDivergedError, match="_ holds NaN or infinite values at the end of training"):
        model.fit(tiny_blobs())
    assert_unfitted(model)


def test_a_failed_refit_leaves_no_half_fitted_estimator():
    X = tiny_blobs()
    model = tiny(DSCNet, n_clusters=3, random_state=0, n_landmarks=30).fit(X)
    assert hasattr(model, "landmark_indices_")
    model.set_params(n_landmarks=None).fit(X)  # a successful refit keeps nothing of the first fit
    assert not hasattr(model, "landmark_indices_")
    with pytest.raises(TrainingDivergedError):
        model.set_params(lr=1e12).fit(X)
    assert_unfitted(model)


# -- interrupts ------------------------------------------------------------------------------------
def _interrupt_at_second_call(function):
    calls = []

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return function(self, *args, **kwargs)

    return interrupted


@by_name
def test_keyboard_interrupt_propagates_and_leaves_the_estimator_unfitted(cls, monkeypatch):
    """Ctrl-C in any phase: the interrupt propagates and nothing is fitted."""
    X = tiny_blobs()
    if "pretrain_callbacks" in cls().get_params():  # in skorch's pretraining, which would swallow it
        with monkeypatch.context() as patch:
            patch.setattr(AutoencoderNet, "train_step", _interrupt_at_second_call(AutoencoderNet.train_step))
            model = tiny(cls, n_clusters=3, random_state=0)
            with pytest.raises(KeyboardInterrupt):
                model.fit(X)
            assert_unfitted(model)
    if cls.__name__ in {"AEKMeans", "N2D"}:  # skorch's pretraining is their only training
        return
    monkeypatch.setattr(TrainStep, "__call__", _interrupt_at_second_call(TrainStep.__call__))
    model = tiny(cls, n_clusters=3, random_state=0)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X)
    assert_unfitted(model)


class _StopAtEpoch(Callback):
    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 2:
            raise KeyboardInterrupt  # skorch's way for a callback to end training, as EarlyStopping does


def test_a_callback_that_stops_pretraining_is_not_an_interrupt():
    model = tiny(DEC, n_clusters=3, random_state=0, pretrain_epochs=5, pretrain_callbacks=[_StopAtEpoch()])
    model.fit(tiny_blobs())
    assert len(model.history_["pretrain"]["reconstruction"]) == 2 and "clustering" in model.history_


# -- device memory ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cls_name, params, advice",
    [
        ("AEKMeans", {}, r"the training data \(60 x 5 float32\) alone take about 1\.2 KiB; lower batch_size"),
        ("DEC", {}, r"lower batch_size"),
        ("DSCNet", {}, r"the 60 x 60 self-expressive layer .* set n_landmarks \(the scalable mode\)"),
        ("DMSC", {"n_landmarks": 30}, r"the 30 x 30 self-expressive layer .* lower n_landmarks"),
        ("SDCN", {}, r"full-batch joint phase on 60 samples .* lower hidden_dims"),
        ("DSCDAN", {}, r"60 x 60 affinity of a spectral batch .* lower spectral_batch_size"),
    ],
)
def test_out_of_device_memory_names_the_need_and_the_parameter(cls_name, params, advice, monkeypatch):
    def out_of_memory(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(TrainStep, "__call__", out_of_memory)
    monkeypatch.setattr(AutoencoderNet, "train_step", out_of_memory)
    cls = next(c for c in ESTIMATORS if c.__name__ == cls_name)
    model = tiny(cls, n_clusters=3, random_state=0, **params)
    where = "cpu" if TEST_DEVICE == "cpu" else r"cuda:\d+ \(\S+ GiB free of \S+ GiB\)"
    with pytest.raises(DeviceOutOfMemoryError, match=rf"^{cls_name} ran out of memory on {where}: .*{advice}") as info:
        model.fit(tiny_blobs())
    # the CPU is the way out of a GPU's memory, not of the CPU's own
    assert str(info.value).endswith(", or fit with device='cpu'.") == (TEST_DEVICE != "cpu")
    assert isinstance(info.value, MemoryError) and isinstance(info.value, torch.OutOfMemoryError)
    assert isinstance(info.value.__cause__, torch.OutOfMemoryError)
    assert_unfitted(model)


# -- determinism on a GPU --------------------------------------------------------------------------
_GPU_SCRIPT = """
import sys, warnings
import numpy as np, torch
sys.path[:0] = {path!r}
warnings.simplefilter("ignore")
torch.use_deterministic_algorithms(True)
from conftest import all_estimators, small, tiny_blobs
X = tiny_blobs()
for cls in all_estimators():
    runs = [small(cls, n_clusters=3, random_state=4, device="cuda").fit(X) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].labels_, runs[1].labels_, err_msg=cls.__name__)
    np.testing.assert_allclose(runs[0].transform(X), runs[1].transform(X), rtol=1e-5, atol=1e-6, err_msg=cls.__name__)
print("ok")
"""


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_same_seed_same_result_on_a_gpu_with_deterministic_algorithms():
    """In a fresh process: cuBLAS reads CUBLAS_WORKSPACE_CONFIG when it starts."""
    path = [os.path.dirname(__file__), os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
    env = {**os.environ, "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
    script = textwrap.dedent(_GPU_SCRIPT.format(path=path))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_repeated_fits_on_a_gpu_leave_no_memory_behind():
    """A search fits many models in one process: what a fit leaves allocated must not grow with the fits."""
    import gc

    X = np.random.default_rng(0).random((300, 20), dtype=np.float32)
    left = []
    for _ in range(3):
        for cls in all_estimators():
            small(cls, n_clusters=3, random_state=0, device="cuda").fit(X)
        gc.collect()
        torch.cuda.synchronize()
        left.append(torch.cuda.memory_allocated())
    assert max(left) - left[0] < 2**20, f"bytes left allocated after each round of fits: {left}"


# -- scaling out -----------------------------------------------------------------------------------
@by_name
def test_estimators_pickle_cheaply_to_workers(cls):
    """What a search sends to each worker: parameters only, no data, tensors or networks."""
    for model in (cls(), small(cls)):
        params = model.get_params()
        assert not any(isinstance(v, (np.ndarray, torch.Tensor, torch.nn.Module)) for v in params.values())
        assert len(pickle.dumps(model)) < 1000


def test_grid_search_on_a_dask_cluster_equals_the_sequential_search():
    distributed = pytest.importorskip("distributed")
    import joblib

    from sklearn.datasets import make_blobs

    from skdeepcluster import AEKMeans
    from skdeepcluster.metrics import get_scorer

    X, y = make_blobs(n_samples=60, centers=3, n_features=5, random_state=0, cluster_std=0.6)
    search = GridSearchCV(
        tiny(AEKMeans, n_clusters=3, random_state=0, pretrain_epochs=5),
        {"n_components": [2, 3]},
        cv=2,
        scoring=get_scorer("adjusted_rand"),
        n_jobs=-1,
    )
    sequential = GridSearchCV(**{**search.get_params(deep=False), "n_jobs": None}).fit(X, y)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        with joblib.parallel_backend("dask"):
            search.fit(X, y)
        workers = client.run(lambda: __import__("skdeepcluster").__file__)
    assert len(workers) == 2 and set(workers.values()) == {skdeepcluster.__file__}  # this checkout's code
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"], sequential.cv_results_["mean_test_score"])
    assert search.best_params_ == sequential.best_params_
    np.testing.assert_array_equal(search.predict(X), sequential.predict(X))
