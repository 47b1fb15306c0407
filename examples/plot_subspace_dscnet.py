"""
Subspace clustering: where k-means fails and DSC-Net does not
==============================================================

Points on a union of linear subspaces through the origin
(:func:`skdeepcluster.datasets.make_subspaces`) all share one centre, so
k-means cannot tell the subspaces apart. :class:`~skdeepcluster.DSCNet` learns
a self-expressive matrix :math:`C` that writes every sample's code as a
combination of the others, :math:`Z \\approx CZ`; the combinations stay
inside a sample's own subspace, and spectral clustering of :math:`|C| + |C|^\\top`
finds the subspaces.

:class:`~skdeepcluster.DMSC` does the same for several modalities of the same
samples (:func:`~skdeepcluster.datasets.make_multimodal`), with one :math:`C`
shared by all modalities. Both run in about a second here: the defaults suit
a few hundred to a few thousand samples.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from skdeepcluster import DMSC, DSCNet
from skdeepcluster.datasets import make_multimodal, make_subspaces
from skdeepcluster.metrics import clustering_accuracy

X, y = make_subspaces(n_samples=300, n_subspaces=3, n_features=30, subspace_dim=3, noise=0.05, random_state=0)
kmeans = KMeans(n_clusters=3, n_init=10, random_state=0).fit(X)
model = DSCNet(n_clusters=3, random_state=0, device="cpu").fit(X)
print(f"k-means ACC {clustering_accuracy(y, kmeans.labels_):.3f}, DSCNet ACC {clustering_accuracy(y, model.labels_):.3f}")

# %%
# k-means against DSC-Net, and the structure of the learned codes
# ----------------------------------------------------------------
# Left and middle: a PCA map of the data coloured by each method's clusters.
# Right: the shape interaction matrix of DSC-Net's codes,
# :math:`|U_r U_r^\top|` with :math:`U_r` the top :math:`r = dK` left singular
# vectors of the codes :math:`Z` (the same singular vectors DSC-Net's
# post-processing uses), with the samples sorted by their true subspace:
# codes of independent subspaces interact only within their own subspace, so
# the matrix is block diagonal.
X2d = PCA(n_components=2).fit_transform(X)
U = np.linalg.svd(model.transform(X).astype(np.float64), full_matrices=False)[0][:, : 3 * 3]
C = np.abs(U @ U.T)
order = np.argsort(y, kind="stable")
fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
for ax, (name, labels) in zip(axes, [("k-means", kmeans.labels_), ("DSCNet", model.labels_)]):
    ax.scatter(X2d[:, 0], X2d[:, 1], c=labels, cmap="tab10", s=8)
    ax.set(title=f"{name}: ACC {clustering_accuracy(y, labels):.2f}", xticks=[], yticks=[])
axes[2].imshow(C[np.ix_(order, order)], cmap="magma_r", vmax=np.percentile(C, 99))
axes[2].set(title="shape interaction of the codes, by subspace", xticks=[], yticks=[])
fig.tight_layout()

# %%
# Training curves of each loss term
# ---------------------------------
# The fine-tuning minimises the reconstruction error, the coefficient penalty
# :math:`\|C\|_F^2` and the self-expression error :math:`\|Z - CZ\|_F^2`
# (each divided by the number of samples), one full-batch step at a time.
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, values in model.history_["self_expression"].items():
    ax.plot(values, label=name)
ax.set(title="DSCNet fine-tuning", xlabel="step", yscale="log")
ax.legend()

# %%
# Two modalities with DMSC
# ------------------------
# The modalities are column blocks of one array (``view_sizes``), so DMSC
# works in a Pipeline like any estimator.
views, y2 = make_multimodal(n_samples=300, n_subspaces=3, view_sizes=(30, 20), noise=(0.05, 0.3), random_state=0)
X2 = np.hstack(views)
dmsc = DMSC(n_clusters=3, view_sizes=[30, 20], random_state=0, device="cpu").fit(X2)
single = DSCNet(n_clusters=3, random_state=0, device="cpu").fit(views[1])
print(f"DSCNet on the noisy modality alone: ACC {clustering_accuracy(y2, single.labels_):.3f}")
print(f"DMSC on both modalities:            ACC {clustering_accuracy(y2, dmsc.labels_):.3f}")
plt.show()
