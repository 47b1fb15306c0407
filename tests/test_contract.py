"""The estimator contract of base.py: input, device, seeding, persistence, history.

Bad input of every kind, for every estimator, is the table of test_bad_input.py.
"""

import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from conftest import all_estimators, small
from skdeepcluster import AEKMeans, DEC, DMSC, IDEC
from skdeepcluster.base import resolve_device

ESTIMATORS = all_estimators()


def test_lists_float64_and_pandas_are_accepted(blobs):
    pd = pytest.importorskip("pandas")
    X, _ = blobs
    model = small(AEKMeans, n_clusters=3, pretrain_epochs=2)
    for data in (X.tolist(), X.astype(np.float64), pd.DataFrame(X, columns=list("abcde"))):
        labels = model.fit_predict(data)
        assert labels.shape == (90,) and labels.dtype.kind == "i"
    assert list(model.feature_names_in_) == list("abcde")
    out = model.set_output(transform="pandas").transform(pd.DataFrame(X, columns=list("abcde")))
    assert list(out.columns) == ["aekmeans0", "aekmeans1", "aekmeans2"]


def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}
    with pytest.raises(ValueError, match="not a device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            resolve_device("cuda:1")


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_same_seed_same_result_and_global_state_untouched(cls, blobs):
    X, _ = blobs
    torch.manual_seed(123)
    np.random.seed(7)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    a = small(cls, n_clusters=3, random_state=4).fit(X)
    b = small(cls, n_clusters=3, random_state=4).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    assert torch.equal(torch.get_rng_state(), torch_state)
    after = np.random.get_state()
    assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1]) and after[2] == numpy_state[2]
    small(cls, n_clusters=3).fit(X)  # random_state=None must not draw from numpy's global state either
    assert np.array_equal(np.random.get_state()[1], numpy_state[1])


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_pickle_and_joblib_round_trip(cls, blobs, tmp_path):
    X, _ = blobs
    model = small(cls, n_clusters=3, random_state=0).fit(X)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict(X), model.predict(X))
    np.testing.assert_array_equal(clone.transform(X), model.transform(X))
    joblib.dump(model, tmp_path / "m.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "m.joblib").transform(X), model.transform(X))
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(X)
        np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-5)
        np.testing.assert_array_equal(proba.argmax(1), model.predict(X))
        np.testing.assert_array_equal(clone.predict_proba(X), proba)


def test_predict_proba_only_where_the_method_has_a_distribution():
    with_proba = {cls.__name__ for cls in ESTIMATORS if hasattr(small(cls), "_proba")}
    assert with_proba == {"DEC", "IDEC", "VaDE", "DHVC", "SDCN", "CaEGCN", "N2D"}
    assert not hasattr(small(AEKMeans), "predict_proba")


def test_history_has_every_loss_term_per_epoch(blobs):
    X, _ = blobs
    model = small(IDEC, n_clusters=3, pretrain_epochs=7, random_state=0).fit(X)
    assert len(model.history_["pretrain"]["reconstruction"]) == 7
    clustering = model.history_["clustering"]
    assert set(clustering) == {"kl", "reconstruction", "delta_label"}
    assert len({len(v) for v in clustering.values()}) == 1
    assert model.pretrain_history_[-1, "epoch"] == 7
    assert model.n_iter_ > 0


def test_decoder_is_untouched_by_dec_and_trained_by_idec(blobs):
    X, _ = blobs
    ae = small(AEKMeans, n_clusters=3, random_state=0).fit(X)
    dec = small(DEC, n_clusters=3, autoencoder=ae, random_state=0).fit(X)
    idec = small(IDEC, n_clusters=3, autoencoder=ae.autoencoder_, random_state=0).fit(X)
    before = [p.detach().clone() for p in ae.autoencoder_.decoder.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(before, dec.autoencoder_.decoder.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(before, idec.autoencoder_.decoder.parameters()))
    # reuse skips pretraining and leaves the given autoencoder as it was
    assert "pretrain" not in dec.history_
    assert all(torch.equal(a, b) for a, b in zip(before, ae.autoencoder_.decoder.parameters()))


def test_dec_layerwise_pretraining_runs_before_the_end_to_end_one(blobs):
    X, _ = blobs
    model = small(DEC, n_clusters=3, layerwise_epochs=3, pretrain_epochs=2, random_state=0).fit(X)
    phases = [p for p in model.history_ if p.startswith("pretrain")]
    assert phases == ["pretrain_layer1", "pretrain_layer2", "pretrain_layer3", "pretrain"]  # 2 hidden layers
    assert all(len(model.history_[p]["reconstruction"]) == 3 for p in phases[:-1])
    # a given autoencoder is reused as it is, without any pretraining
    reused = small(DEC, n_clusters=3, layerwise_epochs=3, autoencoder=model.autoencoder_).fit(X)
    assert not any(p.startswith("pretrain") for p in reused.history_)


def test_reuse_errors(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="fit it first"):
        small(DEC, n_clusters=3, autoencoder=AEKMeans()).fit(X)
    fitted = small(DMSC, n_clusters=3, pretrain_epochs=1, max_iter=2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="a fitted DMSC, which has no autoencoder_ to reuse"):
        small(DEC, n_clusters=3, autoencoder=fitted).fit(X)
    other = small(AEKMeans, n_clusters=3, pretrain_epochs=1).fit(X[:, :4])
    with pytest.raises(ValueError, match="expects 4 features"):
        small(DEC, n_clusters=3, autoencoder=other).fit(X)


def test_image_rows_use_the_convolutional_autoencoder():
    rng = np.random.default_rng(0)
    X = rng.random((40, 1 * 12 * 10), dtype=np.float32)
    model = small(DEC, n_clusters=2, image_shape=(1, 12, 10), pretrain_epochs=2, max_iter=4).fit(X)
    assert type(model.autoencoder_).__name__ == "ConvAutoencoder"
    assert model.transform(X).shape == (40, 3)
    with pytest.raises(ValueError, match="image_shape"):
        small(DEC, image_shape=(1, 10, 10)).fit(X)


def test_verbose_shows_progress_without_print(blobs, capsys):
    X, _ = blobs
    small(IDEC, n_clusters=3, pretrain_epochs=2, max_iter=30, verbose=2, random_state=0).fit(X)
    captured = capsys.readouterr()
    assert "pretrain" in captured.err and "epoch 1" in captured.err and captured.out == ""


def test_pipeline_and_pretrain_callbacks(blobs):
    from skorch.callbacks import EarlyStopping

    X, _ = blobs
    pipe = make_pipeline(StandardScaler(), small(AEKMeans, n_clusters=3, random_state=0, pretrain_epochs=50,
                                                 pretrain_callbacks=[EarlyStopping(monitor="train_loss", patience=1, threshold=10.0)]))
    labels = pipe.fit_predict(X)
    assert labels.shape == (90,)
    assert len(pipe[-1].history_["pretrain"]["reconstruction"]) < 50


def test_a_callback_reading_the_validation_loss_gets_a_clear_error(blobs):
    from skorch.callbacks import EarlyStopping

    with pytest.raises(ValueError, match="pretrain_callbacks: a callback reads 'valid_loss'.*monitor 'train_loss'"):
        small(AEKMeans, n_clusters=3, pretrain_epochs=3, pretrain_callbacks=[EarlyStopping()]).fit(blobs[0])


def test_an_unknown_fit_parameter_is_named(blobs):
    with pytest.raises(TypeError, match=r"DEC.fit got unexpected fit parameters \['sample_weight'\]"):
        small(DEC, n_clusters=3).fit(blobs[0], sample_weight=np.ones(90))


def test_fewer_clusters_warns():
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0]], dtype=np.float32), 15, axis=0)  # two distinct points
    with pytest.warns(RuntimeWarning, match="found 2 non-empty clusters of the 3"):
        small(AEKMeans, n_clusters=3, pretrain_epochs=1, random_state=0).fit(X)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_every_inference_method_says_not_fitted_before_fit(cls):
    from sklearn.exceptions import NotFittedError

    X = np.random.default_rng(0).random((5, 4))
    calls = {"predict": (X,), "transform": (X,), "predict_proba": (X,), "score": (X,), "score_samples": (X,),
             "mixture_proba": (X,), "sample": (3,), "get_feature_names_out": ()}
    model = cls(n_clusters=2)
    found = [name for name in calls if hasattr(model, name)]  # available_if hides what the method lacks
    assert {"transform", "get_feature_names_out"} <= set(found)
    for name in found:
        with pytest.raises(NotFittedError):
            getattr(model, name)(*calls[name])
