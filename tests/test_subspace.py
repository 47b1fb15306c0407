"""DSC-Net and DMSC: subspace recovery, post-processing of C, fusion modes, memory guard, out-of-sample."""

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.utils.estimator_checks import parametrize_with_checks

import skdeepcluster.base as base
import skdeepcluster.cluster._subspace as subspace
from skdeepcluster import DMSC, DSCNet
from skdeepcluster.cluster._subspace import subspace_affinity, threshold_coefficients
from skdeepcluster.datasets import make_multimodal, make_subspaces
from skdeepcluster.metrics import clustering_accuracy
from skdeepcluster.nn import SelfExpressive

# A linear autoencoder keeps a union of linear subspaces a union of linear subspaces.
LINEAR = dict(hidden_dims=(), n_components=12, pretrain_epochs=60, batch_size=32, max_iter=60, lr=1e-3,
              self_expression_weight=20.0, thresh_ratio=0.5, subspace_dim=3, device="cpu", random_state=0)
TINY = dict(hidden_dims=(16,), n_components=4, pretrain_epochs=2, batch_size=32, max_iter=3, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def subspaces():
    return make_subspaces(n_samples=300, n_subspaces=3, n_features=30, subspace_dim=3, noise=0.01, random_state=0)


def test_self_expressive_layer_has_zero_diagonal_and_penalties():
    layer = SelfExpressive(4, init=0.5)
    C = layer.coefficients().detach()
    torch.testing.assert_close(C, 0.5 * (torch.ones(4, 4) - torch.eye(4)))
    z = torch.arange(8.0).reshape(4, 2)
    torch.testing.assert_close(layer(z).detach(), C @ z)
    assert layer.penalty(1).item() == pytest.approx(12 * 0.5)
    assert layer.penalty(2).item() == pytest.approx(12 * 0.25)


def test_threshold_keeps_the_largest_entries_up_to_the_ratio():
    C = np.array([[0.0, 1.0, 4.0], [3.0, 0.0, -1.0], [-2.0, 1.0, 0.0], [1.0, 2.0, 0.0]])
    # column 0: |3|,|-2|,|1| (mass 6); 0.4 * 6 = 2.4 is exceeded by 3 alone; 0.5 * 6 = 3 needs 3 and -2.
    np.testing.assert_array_equal(threshold_coefficients(C, 0.4)[:, 0], [0, 3, 0, 0])
    np.testing.assert_array_equal(threshold_coefficients(C, 0.5)[:, 0], [0, 3, -2, 0])
    # column 1: 2, 1, 1 (mass 4); 0.5 * 4 = 2 is reached, not exceeded, by 2: one of the 1s is kept too.
    assert np.count_nonzero(threshold_coefficients(C, 0.5)[:, 1]) == 2
    np.testing.assert_array_equal(threshold_coefficients(C, 0.5)[:, 2], [4, 0, 0, 0])
    np.testing.assert_array_equal(threshold_coefficients(C, 1.0), C)


def _two_blocks():
    """Blocks {0,1,2} (J - I, singular values 2, 1, 1) and {3,4} (3(J - I), singular values 3, 3)."""
    C = np.zeros((5, 5))
    C[:3, :3] = 1 - np.eye(3)
    C[3:, 3:] = 3 * (1 - np.eye(2))
    return C


def test_affinity_of_a_hand_checked_block_matrix():
    # With K=2, d=1 the top r=3 singular vectors of _two_blocks() are the whole second block and
    # (1,1,1)/sqrt(3): rows 0-2 of U all become (0, 0, 1) after normalising, rows 3 and 4 are orthonormal.
    C = _two_blocks()
    expected = np.zeros((5, 5))
    expected[:3, :3] = 1
    expected[3:, 3:] = np.eye(2)
    np.testing.assert_allclose(subspace_affinity(C, 2, 1, 2.0), expected, atol=1e-10)
    # An asymmetric C is symmetrised first.
    upper = np.triu(C) * 2
    np.testing.assert_allclose(subspace_affinity(upper, 2, 1, 2.0), expected, atol=1e-10)


def test_affinity_with_the_coil20_codes_unit_diagonal():
    # _two_blocks() with its diagonal set to 1: block {0,1,2} becomes J (singular value 3), block {3,4}
    # [[1, 3], [3, 1]] (4 along (1, 1), 2 along (1, -1)), so rows 3 and 4 of U are (sqrt 2, +-1) / sqrt 3,
    # whose inner product is 1/3: the affinity 3-4 becomes (1/3)^2 where the zero diagonal gave 0.
    C = _two_blocks()
    expected = np.zeros((5, 5))
    expected[:3, :3] = 1
    expected[3:, 3:] = [[1, 1 / 9], [1 / 9, 1]]
    np.testing.assert_allclose(subspace_affinity(C, 2, 1, 2.0, unit_diagonal=True), expected, atol=1e-10)
    # Whatever the learned diagonal, it is replaced.
    np.testing.assert_allclose(
        subspace_affinity(C + 5 * np.eye(5), 2, 1, 2.0, unit_diagonal=True), expected, atol=1e-10
    )


def test_union_of_subspaces_is_recovered_where_kmeans_fails(subspaces):
    X, y = subspaces
    kmeans = KMeans(3, n_init=10, random_state=0).fit_predict(X)
    assert clustering_accuracy(y, kmeans) < 0.7
    model = DSCNet(n_clusters=3, **LINEAR).fit(X)
    assert clustering_accuracy(y, model.labels_) >= 0.95
    assert model.transform(X).shape == (300, 12)
    assert set(model.history_["self_expression"]) == {"reconstruction", "coefficients", "self_expression"}


def test_dscnet_pretrains_until_the_reconstruction_error_stops_falling(subspaces):
    X, _ = subspaces
    common = dict(TINY, pretrain_epochs=300, pretrain_tol=0.5)
    stopped = DSCNet(n_clusters=3, pretrain_n_iter_no_change=3, **common).fit(X)
    epochs = len(stopped.history_["pretrain"]["reconstruction"])
    assert 3 < epochs < 300
    fixed = DSCNet(n_clusters=3, pretrain_n_iter_no_change=None, **dict(common, pretrain_epochs=20)).fit(X)
    assert len(fixed.history_["pretrain"]["reconstruction"]) == 20


def test_free_diagonal_is_the_released_l2_codes_layer(subspaces):
    layer = SelfExpressive(3, init=0.5, zero_diagonal=False)
    torch.testing.assert_close(layer.coefficients().detach(), torch.full((3, 3), 0.5))
    assert layer.penalty(2).item() == pytest.approx(9 * 0.25)
    X, y = subspaces
    model = DSCNet(n_clusters=3, **{**LINEAR, "zero_diagonal": False}).fit(X)
    assert clustering_accuracy(y, model.labels_) >= 0.9
    with pytest.raises(ValueError, match="regularization='l1' needs zero_diagonal=True"):
        DSCNet(n_clusters=3, **{**TINY, "regularization": "l1", "zero_diagonal": False}).fit(X)


@pytest.mark.parametrize("n_clusters, rho", [(2, 0.4), (10, 0.4), (11, 0.3), (20, 0.3), (38, 0.1), (100, 0.1)])
def test_auto_thresh_ratio_is_the_codes_integer_division_rule(n_clusters, rho):
    # max(0.4 - (K - 1) / 10 * 0.1, 0.1) in the authors' Python 2 code, where (K - 1) / 10 floors
    assert DMSC(n_clusters=n_clusters)._thresh_ratio() == pytest.approx(rho)
    assert DSCNet(n_clusters=n_clusters, thresh_ratio=0.04)._thresh_ratio() == 0.04


def test_dmsc_default_loss_is_the_codes_on_pixels_in_0_255(monkeypatch):
    """The code's 0.6/0.1 and 0.3/0.05 on sums, lambda2 = 10^(K/10-3), lambda1 = 1 on 0-255: the same objective."""
    assert DMSC(n_clusters=10)._self_expression_weight() == pytest.approx(0.01)
    assert DMSC(n_clusters=38)._self_expression_weight() == pytest.approx(10**0.8)
    assert DMSC(n_clusters=10, self_expression_weight=3.0)._self_expression_weight() == 3.0
    views, _ = make_multimodal(n_samples=40, n_subspaces=2, view_sizes=(6, 4), random_state=0)
    views = [np.abs(v) for v in views]
    seen = {}
    original = subspace._SelfExpressiveClustering._fine_tune

    def fine_tune(self, X, log):  # the loss of the first fine-tuning step, from the code's formula
        net, n = self.network_, X.shape[0]
        codes = net.codes(X)
        C = torch.full((n, n), 1e-4).fill_diagonal_(0)  # coefficient_init, zero diagonal
        cz = [C @ z for z in codes]
        recon = net.reconstruct(cz)
        x = net.split(X)
        code = (0.6 * (x[0] - recon[0]).pow(2).sum() + 0.1 * (x[1] - recon[1]).pow(2).sum()) * 255**2
        self_expression = 0.3 * (codes[0] - cz[0]).pow(2).sum() + 0.05 * (codes[1] - cz[1]).pow(2).sum()
        code += C.pow(2).sum() + 0.01 * self_expression * 255**2
        seen["code"] = code.item() / 255**2
        return original(self, X, log)

    monkeypatch.setattr(subspace._SelfExpressiveClustering, "_fine_tune", fine_tune)
    model = DMSC(n_clusters=10, **{**TINY, "max_iter": 1}).fit(views)  # 10 clusters: lambda2 = 0.01
    terms = {k: v[0] * 40 for k, v in model.history_["self_expression"].items()}  # logged divided by n
    ours = terms["reconstruction"] + terms["coefficients"] / 255**2 + 0.01 * terms["self_expression"]
    assert ours == pytest.approx(seen["code"], rel=1e-5)


def test_codes_that_died_in_fine_tuning_warn_instead_of_crashing(subspaces):
    # Seen on MNIST's edge maps: every ReLU code was zero after fine-tuning, and the ridge inverse of the
    # out-of-sample rule was singular.
    X, _ = subspaces
    model = DSCNet(n_clusters=3, **TINY).fit(X)
    model.network_.encode = lambda x: torch.zeros(len(x), 4)
    with pytest.warns(RuntimeWarning, match="every training code is zero after fine-tuning"):
        model._fit_coding(torch.as_tensor(X[:50], dtype=torch.float32), torch.as_tensor(model.labels_[:50]))
    assert model.predict(X[:5]).shape == (5,)


def test_l1_regularization_runs(subspaces):
    X, y = subspaces
    model = DSCNet(n_clusters=3, **{**LINEAR, "regularization": "l1", "coefficient_weight": 0.1}).fit(X)
    assert clustering_accuracy(y, model.labels_) >= 0.9


def test_predict_codes_new_samples_over_the_training_codes(subspaces):
    X, y = subspaces
    model = DSCNet(n_clusters=3, **LINEAR).fit(X[:200])
    # new points of the same subspaces get the label of their subspace's training cluster
    new = model.predict(X[200:])
    assert clustering_accuracy(y[200:], new) >= 0.9
    assert clustering_accuracy(y[:200], model.predict(X[:200])) >= 0.9
    # the same names as in fit: each subspace's majority label agrees between labels_ and predict
    for k in range(3):
        assert np.bincount(new[y[200:] == k]).argmax() == np.bincount(model.labels_[y[:200] == k]).argmax()


def test_scalable_mode_self_expresses_landmarks_only(subspaces, monkeypatch):
    X, y = subspaces
    sizes = []
    original = SelfExpressive.__init__

    def spy(self, n_samples, init=1e-4, zero_diagonal=True):
        sizes.append(n_samples)
        original(self, n_samples, init, zero_diagonal)

    monkeypatch.setattr(SelfExpressive, "__init__", spy)
    model = DSCNet(n_clusters=3, n_landmarks=180, **LINEAR).fit(X)
    assert sizes == [180] and model.landmark_indices_.shape == (180,)
    assert model.labels_.shape == (300,)
    assert clustering_accuracy(y, model.labels_) >= 0.95


def test_memory_estimate_raises_before_allocating(subspaces, monkeypatch):
    X, _ = subspaces

    def forbidden(*args, **kwargs):
        raise AssertionError("allocated")

    monkeypatch.setattr(subspace, "SelfExpressive", type("Forbidden", (), {"__init__": forbidden,
                                                                              "memory_bytes": SelfExpressive.memory_bytes}))
    monkeypatch.setattr(subspace.AutoencoderClusterMixin, "_pretrained_autoencoder", forbidden)
    with pytest.raises(ValueError, match=r"300 x 300 .*max_memory_gb=0.001.*n_landmarks=\d+"):
        DSCNet(n_clusters=3, max_memory_gb=1e-3, device="cpu").fit(X)
    with pytest.raises(ValueError, match=r"max_memory_gb"):
        DMSC(n_clusters=3, max_memory_gb=1e-3, device="cpu").fit(X)
    # MNIST-full in one piece: 4.9e9 coefficients, about 110 GiB on the device.
    with pytest.raises(ValueError, match=r"70000 x 70000 .*109\.5 GiB on the device"):
        DSCNet()._check_feasible(70000)
    DSCNet()._check_feasible(10000)  # a 10,000-sample subset fits the default limit


@pytest.mark.parametrize(
    "fusion, how",
    [(f, h) for f in ("early", "intermediate", "late") for h in ("sum", "max", "concat")] + [("affinity", "sum")],
)
def test_every_fusion_mode_runs(fusion, how, monkeypatch):
    views, y = make_multimodal(n_samples=60, n_subspaces=3, view_sizes=(12, 12), random_state=0)
    layers, calls = [], []
    original_forward = SelfExpressive.forward

    def forward(self, z):
        if self not in layers:
            layers.append(self)
        calls.append(z.shape)
        return original_forward(self, z)

    monkeypatch.setattr(SelfExpressive, "forward", forward)
    model = DMSC(n_clusters=3, fusion=fusion, fusion_function=how, **TINY).fit(views)
    assert model.labels_.shape == (60,) and model.view_sizes_ == [12, 12]
    assert len(layers) == 1  # one C in every mode
    n_codes = 2 if fusion == "affinity" else 1
    assert len(calls) == n_codes * TINY["max_iter"]  # affinity: both modalities go through the same C
    width = {"concat": 8}.get(how, 4) if fusion == "late" else (8 if fusion == "affinity" else 4)
    assert model.transform(views).shape == (60, width)
    assert model.predict(np.hstack(views)).shape == (60,)


def test_dmsc_affinity_fusion_recovers_multimodal_subspaces():
    views, y = make_multimodal(n_samples=240, n_subspaces=3, view_sizes=(30, 20), noise=(0.01, 0.01), random_state=1)
    params = {**LINEAR, "n_components": 8}
    model = DMSC(n_clusters=3, fusion="affinity", reconstruction_weights=[0.6, 0.1], **params).fit(views)
    assert clustering_accuracy(y, model.labels_) >= 0.95
    stacked = DMSC(n_clusters=3, view_sizes=[30, -1], **params).fit(np.hstack(views))
    assert stacked.view_sizes_ == [30, 20]


def test_dmsc_input_errors():
    views, _ = make_multimodal(n_samples=30, n_subspaces=3, view_sizes=(6, 4), random_state=0)
    X = np.hstack(views)
    with pytest.raises(ValueError, match=r"view_sizes=\[6, 5\] adds up to 11 features, but X has 10"):
        DMSC(n_clusters=3, view_sizes=[6, 5], **TINY).fit(X)
    with pytest.raises(ValueError, match="different numbers of rows"):
        DMSC(n_clusters=3, **TINY).fit([views[0], views[1][:20]])
    with pytest.raises(ValueError, match=r"view_sizes=\[4, 6\] does not match .* \[6, 4\]"):
        DMSC(n_clusters=3, view_sizes=[4, 6], **TINY).fit(views)
    with pytest.raises(ValueError, match="needs modalities of one width"):
        DMSC(n_clusters=3, fusion="early", fusion_function="sum", **TINY).fit(views)
    with pytest.raises(ValueError, match="reconstruction_weights has 3 entries"):
        DMSC(n_clusters=3, reconstruction_weights=[1, 1, 1], **TINY).fit(views)
    with pytest.raises(ValueError, match=r"image_shape \(1, 2, 2\) of modality 0 has 4 values"):
        DMSC(n_clusters=3, image_shape=[(1, 2, 2), None], **TINY).fit(views)
    model = DMSC(n_clusters=3, **TINY).fit(views)
    with pytest.raises(ValueError, match=r"widths \[4, 6\], but the model was fitted on \[6, 4\]"):
        model.predict([views[1], views[0]])


@pytest.mark.parametrize("fusion, how", [("affinity", "sum"), ("early", "concat"), ("early", "sum"),
                                         ("late", "sum"), ("late", "concat"), ("intermediate", "max")])
def test_dmsc_image_modalities_self_express_the_papers_feature_maps(fusion, how):
    rng = np.random.default_rng(0)
    X = rng.random((24, 2 * 144), dtype=np.float32)
    model = DMSC(n_clusters=2, view_sizes=[144, 144], image_shape=(1, 12, 12), fusion=fusion, fusion_function=how,
                 **{**TINY, "n_components": 3}).fit(X)
    branches = model.network_.branches
    assert all(type(b).__name__ == "FeatureMapAutoencoder" for b in branches)
    map_width = 30 * 3 * 3  # the authors' code: strides 2, 1, 2 take 12 x 12 to 3 x 3, 30 channels
    assert [b.n_components for b in branches] == [map_width, map_width]
    code = {"affinity": 2 * map_width, "early": map_width, "late": map_width * (2 if how == "concat" else 1),
            "intermediate": 3}[fusion]
    assert model.transform(X).shape == (24, code) and model.labels_.shape == (24,)
    # a fused code of another width reaches each decoder through an adapter to that modality's code
    assert (model.network_.adapters is not None) == (code != map_width and fusion != "affinity")


@parametrize_with_checks([DMSC(view_sizes=[1, -1], **{**TINY, "max_iter": 20, "pretrain_epochs": 10})])
def test_dmsc_with_view_sizes_passes_sklearn_checks(estimator, check):
    check(estimator)


def test_dscnet_on_images_self_expresses_the_papers_feature_map():
    rng = np.random.default_rng(0)
    X = rng.random((30, 64), dtype=np.float32)
    model = DSCNet(n_clusters=2, image_shape=(1, 8, 8), pretrain_epochs=2, max_iter=3, device="cpu", random_state=0).fit(X)
    assert type(model.autoencoder_).__name__ == "FeatureMapAutoencoder"
    assert model.transform(X).shape == (30, 15 * 4 * 4)  # one 3x3 stride-2 layer of 15 channels
    wide = DSCNet(n_clusters=2, image_shape=(1, 8, 8), channels=(4, 6), kernel_sizes=(3, 3), pretrain_epochs=2,
                  max_iter=3, device="cpu", random_state=0).fit(X)
    assert wide.transform(X).shape == (30, 6 * 2 * 2) and wide.predict(X[:5]).shape == (5,)


def test_a_pretraining_whose_output_relus_died_starts_again(monkeypatch):
    """DSC-Net's decoder ends in a ReLU; a dead quarter of the pixels (ORL, seed 0) gets fresh weights."""
    X = np.random.default_rng(0).random((30, 64), dtype=np.float32) + 0.5
    built = []

    def build(self, n_features, n_components, image_shape):
        ae = subspace.FeatureMapAutoencoder(image_shape, (3,), (3,))
        if len(built) < 2:  # the first two draws: an output bias no Adam step makes up, every pixel dead
            with torch.no_grad():
                ae.decoder[-1].bias.fill_(-100.0)
        built.append(ae)
        return ae

    monkeypatch.setattr(DSCNet, "_build_autoencoder", build)
    model = DSCNet(n_clusters=2, image_shape=(1, 8, 8), pretrain_epochs=2, max_iter=3, device="cpu", random_state=0)
    model.fit(X)
    assert len(built) == 3 and model.pretrain_restarts_ == 2
    assert len(model.history_["pretrain"]["reconstruction"]) == 2  # the kept pretraining only
    assert model.autoencoder_ is not built[0] and model.autoencoder_.decoder[-1].bias > -50

    built.clear()
    monkeypatch.setattr(base, "_DEAD_OUTPUT_RESTARTS", 1)
    with pytest.warns(RuntimeWarning, match="after 2 pretrainings from fresh weights"):
        model.fit(X)
    assert model.pretrain_restarts_ == 1


def test_dmsc_pretraining_starts_again_when_a_modality_s_output_relus_died(monkeypatch):
    """DMSC's own pretraining loop gets the same restart: one dead modality is enough."""
    X = np.random.default_rng(0).random((30, 128), dtype=np.float32) + 0.5
    built = []

    class FirstDead(subspace.MultimodalAutoencoder):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            with torch.no_grad():  # alive for sure, but the second modality dead on the first draw
                for m, branch in enumerate(self.branches):
                    branch.decoder[-1].bias.fill_(-100.0 if m == 1 and not built else 100.0)
            built.append(self)

    monkeypatch.setattr(subspace, "MultimodalAutoencoder", FirstDead)
    model = DMSC(n_clusters=2, view_sizes=[64, 64], image_shape=(1, 8, 8), channels=(3,), kernel_sizes=(3,),
                 strides=(2,), pretrain_epochs=2, max_iter=3, device="cpu", random_state=0).fit(X)
    assert len(built) == 2 and model.pretrain_restarts_ == 1 and model.network_ is built[1]
    assert len(model.history_["pretrain"]["reconstruction"]) == 2  # the kept pretraining only


def test_dmsc_pretrains_on_the_full_batch_until_the_error_stops_falling_when_asked(monkeypatch):
    """``batch_size=None`` takes the whole data set as the authors' code does; the plateau rule ends it early."""
    views, _ = make_multimodal(n_samples=90, n_subspaces=3, view_sizes=(12, 8), noise=(0.01, 0.01), random_state=0)
    X = np.hstack(views)
    batches = []
    drawn = subspace.minibatches
    monkeypatch.setattr(subspace, "minibatches", lambda *args: batches.append(args) or drawn(*args))
    common = dict(view_sizes=[12, 8], hidden_dims=(), n_components=6, max_iter=2, device="cpu", random_state=0)
    stopped = DMSC(n_clusters=3, batch_size=None, pretrain_epochs=300, pretrain_n_iter_no_change=3, pretrain_tol=0.5,
                   **common).fit(X)
    assert not batches  # full batch: no mini-batch index was drawn
    assert 3 < len(stopped.history_["pretrain"]["reconstruction"]) < 300
    fixed = DMSC(n_clusters=3, batch_size=None, pretrain_epochs=20, **common).fit(X)
    assert len(fixed.history_["pretrain"]["reconstruction"]) == 20
    DMSC(n_clusters=3, pretrain_epochs=1, **common).fit(X)
    assert batches == [(90, 256, torch.device("cpu"))]  # the default: mini-batches of 256, no stop
