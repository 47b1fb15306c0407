"""
DEC on handwritten digits: embedding, confusion matrix, training curves
=======================================================================

Fit :class:`skdeepcluster.DEC` on scikit-learn's 8x8 digits, then look at what
it learned: a 2-D map of the 10-D embedding coloured by cluster, the confusion
matrix against the true digits (clusters matched to classes with the Hungarian
algorithm), and every loss term per epoch from ``history_``.

A smaller autoencoder and 50 pretraining epochs keep this under a minute on a CPU;
the paper's d-500-500-2000-10 network is the default.
"""

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.metrics import confusion_matrix

from skdeepcluster import DEC
from skdeepcluster.metrics import clustering_report

X, y = load_digits(return_X_y=True)
X = X / 16.0
model = DEC(n_clusters=10, hidden_dims=(256, 256, 512), pretrain_epochs=50, random_state=0, device="cpu")
labels = model.fit_predict(X)
print(clustering_report(y, labels))

# %%
# The embedding, projected to 2-D, coloured by cluster
Z = model.transform(X)
Z2 = PCA(n_components=2, random_state=0).fit_transform(Z)
fig, ax = plt.subplots(figsize=(6, 5))
points = ax.scatter(Z2[:, 0], Z2[:, 1], c=labels, cmap="tab10", s=6)
centers2 = PCA(n_components=2, random_state=0).fit(Z).transform(model.cluster_centers_)
ax.scatter(centers2[:, 0], centers2[:, 1], c="black", marker="x", s=60, label="cluster centres")
ax.set(title="DEC embedding of digits (PCA of 10-D)", xlabel="PC 1", ylabel="PC 2")
ax.legend(loc="best")
fig.colorbar(points, ax=ax, label="cluster")

# %%
# Confusion matrix, clusters matched to digits
counts = confusion_matrix(y, labels)
rows, cols = linear_sum_assignment(counts, maximize=True)
matched = counts[:, cols[np.argsort(rows)]]
fig, ax = plt.subplots(figsize=(5.5, 5))
ax.imshow(matched, cmap="Blues")
for (i, j), v in np.ndenumerate(matched):
    ax.text(j, i, v, ha="center", va="center", fontsize=7, color="white" if v > matched.max() / 2 else "black")
ax.set(title="digit vs matched cluster", xlabel="cluster (matched)", ylabel="digit", xticks=range(10), yticks=range(10))

# %%
# Training curves of each loss term
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
axes[0].plot(model.history_["pretrain"]["reconstruction"])
axes[0].set(title="pretraining", xlabel="epoch", ylabel="reconstruction (MSE)", yscale="log")
clustering = model.history_["clustering"]
axes[1].plot(clustering["kl"], label="KL(P||Q)")
axes[1].plot(clustering["delta_label"], label="labels changed")
axes[1].set(title="clustering", xlabel="refresh of P", yscale="log")
axes[1].legend()
fig.tight_layout()
plt.show()
