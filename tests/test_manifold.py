"""UMAP's layout optimisation in torch against umap-learn's (run here on CPU tensors: the code is the same on a GPU)."""

import numpy as np
import pytest
import scipy.sparse
import torch
from sklearn.datasets import load_digits
from sklearn.manifold import trustworthiness

from skdeepcluster.manifold import optimize_fitted_umap, optimize_umap_layout, umap_default_epochs, umap_edges

umap = pytest.importorskip("umap")


def test_edges_are_pruned_and_scheduled_as_umap_learn_does():
    from umap.umap_ import make_epochs_per_sample

    rng = np.random.RandomState(0)
    graph = scipy.sparse.random(50, 50, density=0.2, random_state=rng, format="csr")
    graph = graph.maximum(graph.T)
    head, tail, every = umap_edges(graph, 200)
    coo = graph.tocoo()
    keep = coo.data >= coo.data.max() / 200
    assert len(head) == keep.sum() > 0
    assert set(zip(head, tail)) == set(zip(coo.row[keep], coo.col[keep]))
    weights = np.asarray(graph[head, tail]).ravel()
    assert np.allclose(every, make_epochs_per_sample(weights, 200))
    assert umap_default_epochs(10000) == 500 and umap_default_epochs(10001) == 200


def test_attraction_and_schedule_match_umap_learn_on_disjoint_edges():
    # With no repulsion and no point on two edges, applying an epoch's updates at once
    # is the same as applying them one by one: the result must be umap-learn's to rounding.
    from umap.layouts import optimize_layout_euclidean

    rng = np.random.RandomState(0)
    start = rng.uniform(0, 10, (8, 3)).astype(np.float32)
    head, tail = np.array([0, 2, 4, 6]), np.array([1, 3, 5, 7])
    every = np.array([1.0, 1.5, 3.0, 7.0])
    a, b = 1.577, 0.895
    layout = start.copy()  # umap-learn moves heads and tails in one array, as in its fit
    reference = optimize_layout_euclidean(
        layout, layout, head, tail, 30, 8, every, a, b, np.zeros(3, np.int64), 0.0, 1.0, 5,
        parallel=False, move_other=True,
    )
    ours = optimize_umap_layout(torch.as_tensor(start), head, tail, every, 30, a, b, repulsion_strength=0.0)
    assert not np.allclose(reference, start)
    assert np.allclose(ours.numpy(), reference, atol=1e-4)


def test_no_epochs_leave_the_start_and_the_input_untouched():
    start = torch.rand(5, 2)
    kept = start.clone()
    out = optimize_umap_layout(start, [0, 1], [1, 0], [1.0, 1.0], 0, 1.0, 1.0)
    assert torch.equal(out, kept) and torch.equal(start, kept)


def test_layout_keeps_neighbourhoods_as_well_as_umap_learn():
    X = load_digits().data[:600] / 16.0
    reference = umap.UMAP(n_components=5, n_neighbors=15, min_dist=0.0, random_state=0)
    u_reference = reference.fit_transform(X)
    start = umap.UMAP(n_components=5, n_neighbors=15, min_dist=0.0, random_state=0, n_epochs=0)
    u_start = start.fit_transform(X)
    n_epochs = umap_default_epochs(len(X))
    head, tail, every = umap_edges(start.graph_, n_epochs)
    generator = torch.Generator().manual_seed(0)
    u = optimize_umap_layout(
        torch.as_tensor(u_start), head, tail, every, n_epochs, start._a, start._b, generator=generator
    ).numpy()
    again = optimize_fitted_umap(start, "cpu", torch.Generator().manual_seed(0)).numpy()
    assert np.array_equal(again, u)  # the same optimisation, its arguments read from the learner
    ours, theirs = trustworthiness(X, u, n_neighbors=10), trustworthiness(X, u_reference, n_neighbors=10)
    assert ours > trustworthiness(X, u_start, n_neighbors=10)
    assert ours == pytest.approx(theirs, abs=0.01)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_n2d_on_a_gpu_optimises_umaps_layout_there():
    from sklearn.datasets import make_blobs
    from sklearn.metrics import adjusted_rand_score

    from skdeepcluster import N2D

    X, y = make_blobs(5000, centers=4, n_features=8, cluster_std=1.0, random_state=0)
    model = N2D(n_clusters=4, hidden_dims=(32,), pretrain_epochs=5, manifold="umap", device="cuda",
                random_state=0).fit(X)
    assert model.manifold_learner_.n_epochs == 0  # umap-learn built the graph and the start only
    assert np.array_equal(model.manifold_learner_.embedding_, model.embedding_manifold_)
    assert adjusted_rand_score(y, model.labels_) > 0.95
