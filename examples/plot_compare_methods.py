"""
One autoencoder, five methods: what each does to the embedding
==============================================================

Every autoencoder-based estimator accepts a pretrained ``autoencoder``, so the
methods of different families can start from the same one: here
:class:`~skdeepcluster.AEKMeans` (multistage: k-means on the embedding),
:class:`~skdeepcluster.N2D` (multistage: a manifold learner, then a Gaussian
mixture), and the simultaneous :class:`~skdeepcluster.DEC`,
:class:`~skdeepcluster.IDEC` and :class:`~skdeepcluster.DCN`, which go on
training the encoder with a clustering loss. The comparison is then about the
clustering step alone.

Each panel is a 2-D PCA map of the method's embedding (its ``transform``),
coloured by the method's clusters, with its accuracy against the true digits.
AEKMeans and N2D leave the embedding as it was pretrained and differ only in
how they cut it; DEC, IDEC and DCN go on training the encoder, and their
clustering losses pull the samples towards the cluster centres.

The network and the numbers of epochs are small, to run in seconds on a CPU.
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

from skdeepcluster import DCN, DEC, IDEC, N2D, AEKMeans
from skdeepcluster.metrics import clustering_accuracy

X, y = load_digits(return_X_y=True)
X = X / 16.0
base = AEKMeans(n_clusters=10, hidden_dims=(256, 256, 512), pretrain_epochs=50, random_state=0, device="cpu")
base.fit(X)

models = {
    "AEKMeans": base,
    "N2D (spectral manifold)": N2D(n_clusters=10, manifold="spectral", autoencoder=base, random_state=0),
    "DEC": DEC(n_clusters=10, autoencoder=base, max_iter=1000, random_state=0),
    "IDEC": IDEC(n_clusters=10, autoencoder=base, max_iter=1000, random_state=0),
    "DCN": DCN(n_clusters=10, autoencoder=base, epochs=20, random_state=0),
}
for name, model in models.items():
    if model is not base:
        model.set_params(device="cpu").fit(X)
    print(f"{name:<24} ACC {clustering_accuracy(y, model.labels_):.3f}")

# %%
# The embeddings, coloured by cluster
# -----------------------------------
# N2D's ``transform`` is the autoencoder embedding it starts from, so its map
# is AEKMeans's, coloured by the Gaussian mixture it fits on the manifold.
fig, axes = plt.subplots(2, 3, figsize=(12, 8))
for ax, (name, model) in zip(axes.flat, models.items()):
    Z2 = PCA(n_components=2).fit_transform(model.transform(X))
    ax.scatter(Z2[:, 0], Z2[:, 1], c=model.labels_, cmap="tab10", s=4)
    ax.set(title=f"{name}: ACC {clustering_accuracy(y, model.labels_):.2f}", xticks=[], yticks=[])
true_ax = axes.flat[-1]
Z2 = PCA(n_components=2).fit_transform(base.transform(X))
true_ax.scatter(Z2[:, 0], Z2[:, 1], c=y, cmap="tab10", s=4)
true_ax.set(title="the shared embedding, true digits", xticks=[], yticks=[])
fig.tight_layout()
plt.show()
