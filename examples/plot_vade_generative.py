"""
VaDE: a generative model of the digits, one mixture component per cluster
=========================================================================

:class:`~skdeepcluster.VaDE` is a variational autoencoder whose prior is a
Gaussian mixture, so it does more than cluster: ``predict_proba`` gives each
sample's cluster responsibilities, and ``sample`` draws new digits from any
component. Here we fit it on scikit-learn's digits (scaled to [0, 1], so the
decoder is Bernoulli), draw eight digits from every component, and plot the
two terms of the negative ELBO per epoch: the reconstruction
:math:`-E_{q(z|x)}\\log p(x|z)` and :math:`KL(q(z,c|x)\\,\\|\\,p(z,c))`.

40 ELBO epochs on a smaller network (the paper trains far longer on a
d-500-500-2000-10 network) keep this quick on a CPU.
"""

import matplotlib.pyplot as plt
from scipy.optimize import linear_sum_assignment
from sklearn.datasets import load_digits
from sklearn.metrics.cluster import contingency_matrix

from skdeepcluster import VaDE
from skdeepcluster.metrics import clustering_report

X, y = load_digits(return_X_y=True)
X = X / 16.0
model = VaDE(
    n_clusters=10, hidden_dims=(256, 256, 512), pretrain_epochs=40, epochs=40, random_state=0, device="cpu"
).fit(X)
print(clustering_report(y, model.labels_))
proba = model.predict_proba(X)
print(f"mean responsibility of the chosen cluster: {proba.max(axis=1).mean():.3f}")

# %%
# Digits drawn from each mixture component
# ----------------------------------------
# Components are shown in the order of the digits they were matched to;
# each row is eight draws :math:`z \sim N(\mu_c, \sigma_c^2)` decoded to pixel
# probabilities.
_, components = linear_sum_assignment(contingency_matrix(y, model.labels_), maximize=True)
fig, axes = plt.subplots(10, 8, figsize=(6, 7.5))
for row, component in enumerate(components):
    images, _ = model.sample(8, cluster=component)
    for ax, image in zip(axes[row], images):
        ax.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        ax.set(xticks=[], yticks=[])
    axes[row, 0].set_ylabel(f"c={component}", rotation=0, labelpad=18, fontsize=8)
fig.suptitle("VaDE samples, one row per mixture component")

# %%
# Training curves of each loss term
# ---------------------------------
history = model.history_
fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
axes[0].plot(history["pretrain"]["reconstruction"])
axes[0].set(title="pretraining: reconstruction", xlabel="epoch", yscale="log")
axes[1].plot(history["clustering"]["reconstruction"])
axes[1].set(title="ELBO: reconstruction", xlabel="epoch")
axes[2].plot(history["clustering"]["kl"])
axes[2].set(title="ELBO: KL(q(z,c|x) || p(z,c))", xlabel="epoch")
fig.tight_layout()
plt.show()
