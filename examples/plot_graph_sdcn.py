"""
Graph clustering with SDCN: the kNN graph, the loss terms, the result
=====================================================================

:class:`~skdeepcluster.SDCN` (and :class:`~skdeepcluster.CaEGCN`) cluster the
nodes of a sample graph: a GCN branch that reads the graph is supervised by
the autoencoder's DEC-style soft assignments. Without ``adjacency=``, ``fit``
builds a k-nearest-neighbour graph of ``X``; here we build it ourselves with
:func:`skdeepcluster.graph.knn_graph`, look at how well it agrees with the
digits, and pass it in.

The training curves show the three terms of SDCN's loss,
:math:`L = L_{res} + \\alpha\\,KL(P\\|Q) + \\beta\\,KL(P\\|Z)`, one value per
epoch of the joint phase. A smaller network and 150 epochs (instead of the
paper's 200 on a d-500-500-2000-10 network) keep it quick on a CPU.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import ConfusionMatrixDisplay

from skdeepcluster import SDCN
from skdeepcluster.graph import knn_graph
from skdeepcluster.metrics import clustering_report, matched_confusion_matrix

X, y = load_digits(return_X_y=True)
X = X / 16.0
A = knn_graph(X, n_neighbors=5)
rows, cols = A.nonzero()
print(f"{A.shape[0]} nodes, {len(rows) // 2} edges; {np.mean(y[rows] == y[cols]):.1%} of them join the same digit")

model = SDCN(
    n_clusters=10, n_neighbors=5, hidden_dims=(256, 256, 512), pretrain_epochs=30, max_iter=150,
    random_state=0, device="cpu",
)
labels = model.fit_predict(X, adjacency=A)
print(clustering_report(y, labels))

# %%
# Training curves of each loss term
# ---------------------------------
# ``history_["clustering"]`` holds one value per epoch of every term:
# the reconstruction :math:`L_{res}`, :math:`KL(P\|Q)` of the autoencoder's
# Student-t assignment (``kl_q``) and :math:`KL(P\|Z)` of the GCN's
# distribution (``kl_z``).
terms = model.history_["clustering"]
fig, axes = plt.subplots(1, len(terms), figsize=(11, 3.2))
for ax, (name, values) in zip(axes, terms.items()):
    ax.plot(values)
    ax.set(title=name, xlabel="epoch", yscale="log")
fig.tight_layout()

# %%
# Confusion matrix, clusters matched to digits
# --------------------------------------------
fig, ax = plt.subplots(figsize=(5.5, 5))
ConfusionMatrixDisplay(matched_confusion_matrix(y, labels)).plot(ax=ax, cmap="Greens", colorbar=False)
ax.set(title="SDCN on digits", xlabel="cluster (matched to a digit)", ylabel="digit")
plt.show()
