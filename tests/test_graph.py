"""SDCN and CaEGCN: the graph pieces against dense closed forms, adjacency routing, new samples."""

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
import torch
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skdeepcluster import CaEGCN, SDCN
from skdeepcluster.graph import (
    SparsePropagation,
    check_adjacency,
    device_kneighbors,
    extended_graph,
    knn_graph,
    link_new_samples,
    degrees,
    normalize_adjacency,
)
from skdeepcluster.nn import CrossAttentionFusion, GraphConvolution

TINY = dict(hidden_dims=(16,), n_components=3, pretrain_epochs=10, batch_size=32, max_iter=30, lr=0.01,
            device="cpu", random_state=0, n_jobs=1)


def _tiny_graph():
    A = np.array(
        [[0, 2, 0, 0, 1], [2, 0, 1, 0, 0], [0, 1, 0, 3, 0], [0, 0, 3, 0, 0], [1, 0, 0, 0, 0.5]], dtype=np.float64
    )
    return A


@pytest.mark.parametrize("normalization", ["symmetric", "row"])
def test_normalization_matches_dense(normalization):
    A = _tiny_graph()
    out = normalize_adjacency(sp.csr_matrix(A), normalization).toarray()
    A_tilde = A - np.diag(np.diag(A)) + np.eye(5)  # the given diagonal is replaced by the unit self-loop
    d = A_tilde.sum(1)
    expected = np.diag(d**-0.5) @ A_tilde @ np.diag(d**-0.5) if normalization == "symmetric" else A_tilde / d[:, None]
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    np.testing.assert_allclose(degrees(sp.csr_matrix(A)), d)


def test_knn_graph_is_the_symmetrised_euclidean_knn():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4)).astype(np.float32)
    A = knn_graph(X, n_neighbors=3, n_jobs=1).toarray()
    D = ((X[:, None] - X[None]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    directed = np.zeros_like(A)
    directed[np.repeat(np.arange(30), 3), np.argsort(D, 1)[:, :3].ravel()] = 1
    np.testing.assert_array_equal(A, np.maximum(directed, directed.T))
    assert np.all(np.diag(A) == 0)


def test_cosine_kernel_accepts_sparse_text():
    X = sp.random(40, 50, density=0.2, random_state=0, format="csr")
    A = knn_graph(X, n_neighbors=2, kernel="cosine", n_jobs=1)
    assert A.shape == (40, 40) and (A != A.T).nnz == 0 and A.diagonal().sum() == 0
    assert (np.asarray(A.sum(1)).ravel() >= 2).all()


@pytest.mark.parametrize("kernel", ["heat", "cosine"])
def test_device_search_finds_scikit_learns_neighbours(kernel):
    rng = np.random.default_rng(0)
    X_fit = rng.normal(size=(300, 12)).astype(np.float32)
    X_fit[7] = X_fit[3]  # a duplicate: self need not come first
    X_new = rng.normal(size=(50, 12)).astype(np.float32)
    binary = kernel == "cosine"
    prep = (lambda a: (a > 0).astype(np.float64)) if binary else (lambda a: a)
    index = NearestNeighbors(n_neighbors=5, metric="cosine" if binary else "euclidean", algorithm="brute")
    expected = index.fit(prep(X_fit)).kneighbors(prep(X_new), return_distance=False)
    got = device_kneighbors(torch.as_tensor(X_new), torch.as_tensor(X_fit), 5, kernel, block_size=16)
    if binary:  # binary features tie often: compare the neighbours' distances, not who they are
        unit = lambda a: a / np.linalg.norm(a, axis=-1, keepdims=True)
        distances = lambda idx: np.sort(1 - (unit(prep(X_new))[:, None] * unit(prep(X_fit))[idx]).sum(-1), 1)
        np.testing.assert_allclose(distances(got), distances(expected), atol=1e-9)
    else:  # the same neighbours, nearest first (the duplicate pair 3, 7 ties in either order)
        np.testing.assert_array_equal(np.sort(got, 1), np.sort(expected, 1))
        assert (np.diff(((X_new[:, None] - X_fit[got]) ** 2).sum(-1), axis=1) >= 0).all()
    # as the graph's search: self left out, k others kept, the duplicate pair joined
    own = device_kneighbors(torch.as_tensor(X_fit), torch.as_tensor(X_fit), 4, kernel, exclude_self=True, block_size=64)
    assert own.shape == (300, 4) and not (own == np.arange(300)[:, None]).any()
    if kernel == "heat":
        assert own[3, 0] == 7 and own[7, 0] == 3


@pytest.mark.parametrize("exclude_self", [False, True])
def test_device_search_gives_scikit_learns_distances(exclude_self):
    X = np.random.default_rng(1).normal(size=(200, 6)).astype(np.float32)
    index = NearestNeighbors(n_neighbors=4).fit(X)
    expected, _ = index.kneighbors(None if exclude_self else X)
    distances, neighbors = device_kneighbors(torch.as_tensor(X), torch.as_tensor(X), 4, exclude_self=exclude_self,
                                             block_size=64, return_distance=True)
    np.testing.assert_allclose(distances, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(distances, np.linalg.norm(X[:, None] - X[neighbors], axis=-1), rtol=1e-5, atol=1e-6)
    assert (distances[:, 0] == 0).all() != exclude_self  # self at distance exactly 0 (UMAP relies on it), or left out


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_graph_of_data_on_a_gpu_is_the_host_graph():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 20)).astype(np.float32)
    host = knn_graph(X, n_neighbors=5, n_jobs=1)
    gpu = knn_graph(torch.as_tensor(X, device="cuda"), n_neighbors=5)
    assert (host != gpu).nnz == 0
    model = SDCN(n_clusters=3, **{**TINY, "device": "cuda"}).fit(X)
    assert (model.adjacency_ != SDCN(n_clusters=3, **TINY).fit(X).adjacency_).nnz == 0
    assert model.predict(X[:20]).shape == (20,)


def test_gcn_layer_and_its_gradient_match_dense_closed_form():
    torch.manual_seed(0)
    A_hat = normalize_adjacency(sp.csr_matrix(_tiny_graph()), "row")  # not symmetric: the stored transpose matters
    dense = torch.as_tensor(A_hat.toarray())
    layer = GraphConvolution(4, 3)
    H = torch.randn(5, 4, requires_grad=True)
    out = layer(H, SparsePropagation(A_hat))
    expected = torch.relu(dense @ H @ layer.weight)
    torch.testing.assert_close(out, expected)
    (g_sparse,) = torch.autograd.grad(out.pow(2).sum(), H)
    (g_dense,) = torch.autograd.grad(expected.pow(2).sum(), H)
    torch.testing.assert_close(g_sparse, g_dense)
    assert GraphConvolution(4, 3, activation=False)(H, SparsePropagation(A_hat)).min() < 0


@pytest.mark.parametrize("n_context", [None, 4])
def test_attention_fusion_matches_naive_dense(n_context):
    torch.manual_seed(0)
    fusion = CrossAttentionFusion(6, n_heads=2, head_dim=3, gamma=0.3)
    Z, H = torch.randn(7, 6), torch.randn(7, 6)
    Y = 0.3 * Z + 0.7 * H
    C = Y if n_context is None else Y[:n_context]
    heads = []
    for m in range(2):
        cols = slice(3 * m, 3 * m + 3)
        q = Y @ fusion.query.weight.T[:, cols]
        k = C @ fusion.key.weight.T[:, cols]
        v = C @ fusion.value.weight.T[:, cols]
        heads.append(torch.softmax(q @ k.T / np.sqrt(3), dim=1) @ v)
    expected = Y + torch.cat(heads, 1) @ fusion.out.weight.T + fusion.out.bias
    torch.testing.assert_close(fusion(Z, H, n_context), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_attention_fusion_on_a_gpu_in_bfloat16_matches_float32_and_trains():
    torch.manual_seed(0)
    fusion = CrossAttentionFusion(40, n_heads=8, head_dim=8, attention_dtype=torch.bfloat16).cuda()
    Z, H = torch.randn(3000, 40, device="cuda"), torch.randn(3000, 40, device="cuda")
    out = fusion(Z, H)
    fusion.attention_dtype = None
    torch.testing.assert_close(out, fusion(Z, H), rtol=0.02, atol=0.02)
    fusion.attention_dtype = torch.bfloat16
    fusion(Z, H).pow(2).mean().backward()
    assert all(torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0 for p in fusion.parameters())


@pytest.mark.parametrize(
    "adjacency, error, message",
    [
        (sp.csr_matrix((20, 21)), ValueError, "must be square"),
        (sp.csr_matrix((10, 10)), ValueError, r"shape \(10, 10\), but X has 20 samples"),
        (sp.csr_matrix(-np.eye(20)), ValueError, "negative"),
        (sp.csr_matrix(np.diag([np.nan] + [1.0] * 19)), ValueError, "NaN"),
        ("graph", TypeError, "scipy sparse"),
    ],
    ids=["rectangular", "wrong-size", "negative", "nan", "not-a-matrix"],
)
@pytest.mark.parametrize("cls", [SDCN, CaEGCN])
def test_bad_adjacency_is_named(cls, adjacency, error, message):
    X = np.random.default_rng(0).normal(size=(20, 3))
    model = cls(n_clusters=2, **TINY)
    with pytest.raises(error, match=message):
        model.fit(X, adjacency=adjacency)
    assert not hasattr(model, "labels_")
    with pytest.raises(ValueError, match="square"):
        check_adjacency(sp.csr_matrix((10, 20)), 20)


def _sbm(n_per_block=30, blocks=3, p_in=0.3, p_out=0.005, seed=0):
    """A stochastic block model graph whose node features barely carry the blocks."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(blocks), n_per_block)
    same = y[:, None] == y[None]
    upper = np.triu(rng.random((len(y), len(y))) < np.where(same, p_in, p_out), 1)
    A = sp.csr_matrix((upper | upper.T).astype(np.float32))
    X = rng.normal(size=(len(y), 5)) + 1.5 * np.eye(blocks, 5)[y]  # k-means ARI about 0.26
    return X.astype(np.float32), y, A


@pytest.mark.parametrize("cls", [SDCN, CaEGCN])
def test_given_graph_beats_knn_on_weak_features(cls):
    X, y, A = _sbm()
    params = dict(TINY, max_iter=60, tol=0)
    knn = adjusted_rand_score(y, cls(n_clusters=3, **params).fit(X).labels_)
    given = adjusted_rand_score(y, cls(n_clusters=3, **params).fit(X, adjacency=A).labels_)
    assert given > 0.5 and given > knn + 0.25, (given, knn)


def test_adjacency_is_routed_through_pipeline_and_grid_search():
    X, y, A = _sbm()
    expected = normalize_adjacency(A).toarray()
    with sklearn.config_context(enable_metadata_routing=True):
        model = SDCN(n_clusters=3, **TINY).set_fit_request(adjacency=True)
        pipe = make_pipeline(StandardScaler(), model).fit(X, adjacency=A)
        np.testing.assert_allclose(pipe[-1].adjacency_.toarray(), expected)

        index = np.arange(len(X))

        def score(estimator, X_, y_=None):
            return adjusted_rand_score(y, estimator.labels_)

        search = GridSearchCV(model, {"lr": [0.01, 0.02]}, cv=[(index, index)], scoring=score).fit(X, adjacency=A)
        np.testing.assert_allclose(search.best_estimator_.adjacency_.toarray(), expected)
        assert len(search.cv_results_["params"]) == 2
        # row-splitting cross-validation cuts the square matrix: the error says so
        with pytest.raises(ValueError, match="square.*cv="):
            GridSearchCV(model, {"lr": [0.01]}, cv=2, scoring=score, error_score="raise").fit(X, adjacency=A)


@pytest.mark.parametrize("cls", [SDCN, CaEGCN])
def test_new_samples_are_linked_to_training_neighbours(cls):
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [6, 0], [0, 6]], dtype=np.float32)
    y = np.repeat(np.arange(3), 30)
    X = centers[y] + rng.normal(size=(90, 2)).astype(np.float32)
    model = cls(n_clusters=3, **dict(TINY, max_iter=100, tol=0)).fit(X)
    X_new = centers[y] + rng.normal(size=(90, 2)).astype(np.float32)
    labels = model.predict(X_new)
    # a new sample follows its training neighbours ...
    nearest = NearestNeighbors(n_neighbors=1).fit(X).kneighbors(X_new, return_distance=False)[:, 0]
    assert (labels == model.labels_[nearest]).mean() > 0.9
    # ... and does not depend on the other new samples
    np.testing.assert_array_equal(np.concatenate([model.predict(X_new[:7]), model.predict(X_new[7:])]), labels)
    proba = model.predict_proba(X_new)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-5)
    np.testing.assert_array_equal(proba.argmax(1), labels)
    # training nodes are unchanged by the extension
    X_t = torch.as_tensor(X)
    with torch.no_grad():
        X_all, propagate = model._extended(torch.as_tensor(X_new))
        extended = model._logits(X_all, propagate, n_context=len(X))[: len(X)]
        alone = model._logits(X_t, SparsePropagation(model.adjacency_))
    torch.testing.assert_close(extended, alone, rtol=1e-4, atol=1e-4)
    # transform is the autoencoder embedding
    with torch.no_grad():
        np.testing.assert_allclose(model.transform(X_new), model.autoencoder_.encode(torch.as_tensor(X_new)).numpy())


def test_extended_graph_rows():
    A_hat = normalize_adjacency(sp.csr_matrix(_tiny_graph()))
    d = degrees(sp.csr_matrix(_tiny_graph()))
    rows = link_new_samples(np.array([[0, 3], [1, 1]]), d).toarray()
    np.testing.assert_allclose(rows[0, [0, 3, 5]], [1 / np.sqrt(3 * d[0]), 1 / np.sqrt(3 * d[3]), 1 / 3])
    np.testing.assert_allclose(rows[1, [1, 6]], [2 / np.sqrt(3 * d[1]), 1 / 3])
    full = extended_graph(A_hat, sp.csr_matrix(rows))
    assert full.shape == (7, 7)
    np.testing.assert_allclose(full[:5, :5].toarray(), A_hat.toarray())
    assert full[:5, 5:].nnz == 0


def test_history_terms():
    X, _, A = _sbm()
    model = CaEGCN(n_clusters=3, **TINY).fit(X, adjacency=A)
    assert set(model.history_["clustering"]) == {"reconstruction", "kl_q", "kl_z", "content", "relation"}
    assert len(model.history_["clustering"]["relation"]) == model.n_iter_ == 30
    assert set(SDCN(n_clusters=3, **TINY).fit(X).history_["clustering"]) == {"reconstruction", "kl_q", "kl_z"}
