"""
The benchmark table as a chart: every method on digits and MNIST
================================================================

``benchmarks/run.py`` writes one CSV row per fit (estimator, seed, ACC, NMI,
ARI, time, memory) under ``benchmarks/results/``. This example reads the
digits runs (2 CPU cores) and the MNIST runs (one H100 GPU) and draws the mean
accuracy and NMI of each estimator, with the standard deviation over seeds as
error bars and the paper's MNIST accuracy, where the paper reports one, as a
black tick. Methods without an MNIST run have no MNIST bar.

The numbers are each estimator's defaults, with the one documented setting
per data set of ``benchmarks/run.py`` (on MNIST, DSCDAN and DeepCluster see
the 28 x 28 images through ``image_shape``); nothing is tuned on the labels.
"""

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

results = Path("../benchmarks/results") if Path("../benchmarks/results").is_dir() else Path("benchmarks/results")
digits = pd.read_csv(results / "digits_cpu.csv")
mnist = pd.read_csv(results / "mnist_gpu.csv")
PAPER_MNIST_ACC = {"AEKMeans": 0.818, "DEC": 0.843, "IDEC": 0.881, "DCN": 0.830, "N2D": 0.979, "VaDE": 0.945, "DSCDAN": 0.978}

order = digits.groupby("estimator")["acc"].mean().sort_values(ascending=False).index
summary = {name: frame.groupby("estimator")[["acc", "nmi"]].agg(["mean", "std"]) for name, frame in
           [("digits (CPU)", digits), ("MNIST (GPU)", mnist)]}
print(summary["digits (CPU)"].round(3))

# %%
# Accuracy and NMI per estimator
# ------------------------------
fig, axes = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
x = np.arange(len(order))
for ax, metric in zip(axes, ["acc", "nmi"]):
    for offset, (name, table) in zip((-0.2, 0.2), summary.items()):
        table = table.reindex(order)
        ax.bar(x + offset, table[(metric, "mean")], width=0.4, yerr=table[(metric, "std")].fillna(0),
               capsize=2, label=name)
    ax.set(ylabel=metric.upper(), ylim=(0.4, 1.12))  # room above 1 for the legend
    ax.grid(axis="y", alpha=0.3)
paper = [PAPER_MNIST_ACC.get(name, np.nan) for name in order]
axes[0].scatter(x + 0.2, paper, marker="_", s=300, color="black", zorder=3, label="paper, MNIST")
axes[0].legend(loc="upper right", ncols=3)
axes[0].set_title("Deep clustering estimators with their default parameters")
axes[1].set_xticks(x, order, rotation=30)
fig.tight_layout()
plt.show()

# %%
# Accuracy against fit time on MNIST
# ----------------------------------
# Each point is one estimator's mean over its seeds on one H100 (fit time
# includes pretraining); the horizontal bars span the fit times of its seeds.
stats = mnist.groupby("estimator").agg(acc=("acc", "mean"), t=("fit_s", "mean"), t_min=("fit_s", "min"),
                                       t_max=("fit_s", "max"))
fig, ax = plt.subplots(figsize=(8, 5))
ax.errorbar(stats["t"], stats["acc"], xerr=[stats["t"] - stats["t_min"], stats["t_max"] - stats["t"]],
            fmt="o", capsize=3)
for name, row in stats.iterrows():
    ax.annotate(name, (row["t"], row["acc"]), textcoords="offset points", xytext=(5, 4))
ax.set(xscale="log", xlabel="fit time on one H100 (s, log scale)", ylabel="ACC on MNIST-full",
       title="Accuracy against fit time, default parameters")
ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()
