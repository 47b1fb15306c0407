"""
DEC on handwritten digits: embedding, confusion matrix, training curves
=======================================================================

Fit :class:`skdeepcluster.DEC` on scikit-learn's 8x8 digits, then look at what
it learned: a 2-D map of the 10-D embedding coloured by cluster, the confusion
matrix against the true digits (clusters matched to digits with the Hungarian
algorithm), and every loss term per epoch from ``history_``.

A smaller autoencoder, 50 pretraining epochs and at most 2,000 clustering
steps keep this to seconds on a CPU; the defaults are the paper's
d-500-500-2000-10 network, 200 epochs and up to 20,000 steps.
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.metrics import ConfusionMatrixDisplay

from skdeepcluster import DEC
from skdeepcluster.metrics import clustering_report, matched_confusion_matrix

X, y = load_digits(return_X_y=True)
X = X / 16.0  # pixels in [0, 1]
model = DEC(
    n_clusters=10, hidden_dims=(256, 256, 512), pretrain_epochs=50, max_iter=2000, random_state=0, device="cpu"
)
labels = model.fit_predict(X)
print(clustering_report(y, labels))

# %%
# The embedding, projected to 2-D, coloured by cluster
# ----------------------------------------------------
# ``transform`` gives the 10-D embedding :math:`z = f(x)`; a PCA draws it in
# the plane, with DEC's cluster centres :math:`\mu_j` projected the same way.
pca = PCA(n_components=2).fit(model.transform(X))
Z2 = pca.transform(model.transform(X))
centers2 = pca.transform(model.cluster_centers_)
fig, ax = plt.subplots(figsize=(6.5, 5))
points = ax.scatter(Z2[:, 0], Z2[:, 1], c=labels, cmap="tab10", s=6)
ax.scatter(centers2[:, 0], centers2[:, 1], c="black", marker="x", s=80, label="cluster centres")
ax.set(title="DEC embedding of the digits (PCA of 10-D)", xlabel="PC 1", ylabel="PC 2")
ax.legend(loc="best")
fig.colorbar(points, ax=ax, label="cluster")

# %%
# Confusion matrix, clusters matched to digits
# --------------------------------------------
# Column ``j`` is the cluster matched to digit ``j``; the diagonal holds the
# correctly clustered samples, and its share is the clustering accuracy.
counts = matched_confusion_matrix(y, labels)
fig, ax = plt.subplots(figsize=(5.5, 5))
ConfusionMatrixDisplay(counts).plot(ax=ax, cmap="Blues", colorbar=False)
ax.set(title="digit vs matched cluster", xlabel="cluster (matched to a digit)", ylabel="digit")

# %%
# Training curves of each loss term
# ---------------------------------
# Pretraining minimises the reconstruction error; the clustering phase
# minimises :math:`KL(P\|Q)` and stops when fewer than ``tol`` of the labels
# change between two refreshes of the target :math:`P`.
history = model.history_
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
axes[0].plot(history["pretrain"]["reconstruction"])
axes[0].set(title="pretraining", xlabel="epoch", ylabel="reconstruction (MSE)", yscale="log")
axes[1].plot(history["clustering"]["kl"], label="KL(P||Q)")
axes[1].plot(history["clustering"]["delta_label"], label="share of labels changed")
axes[1].set(title="clustering", xlabel="refresh of P", yscale="log")
axes[1].legend()
fig.tight_layout()
plt.show()
