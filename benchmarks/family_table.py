"""Write the family guide's benchmark table from the result CSVs.

    python benchmarks/family_table.py   # -> doc/guide/_benchmark_table.rst

Each cell is the mean ± std over the seeds of the CSV (the count in brackets);
"not measured" where a CSV has no row. Nothing is typed by hand.
"""

import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from run import PAPER  # noqa: E402

from skdeepcluster.cli import FAMILIES  # noqa: E402

ORDER = ["multistage", "iterative", "generative", "simultaneous"]
PAPER_NOTES = {"DSCNet": "— (COIL20 0.949)", "DeepCluster": "— (ImageNet only)", "SDCN": "— (not on MNIST)"}


def cell(frame, name, metric):
    values = frame.loc[frame["estimator"] == name, metric]
    if values.empty:
        return "not measured"
    if len(values) == 1:
        return f"{values.iloc[0]:.3f} (1)"
    return f"{values.mean():.3f} ± {values.std(ddof=0):.3f} ({len(values)})"


def seconds(frame, name):
    values = frame.loc[frame["estimator"] == name, "fit_s"]
    return "not measured" if values.empty else f"{values.mean():.0f}"


def main():
    results = HERE / "results"
    digits, mnist = pd.read_csv(results / "digits_cpu.csv"), pd.read_csv(results / "mnist_gpu.csv")
    header = ["Estimator", "Family", "digits ACC (seeds)", "digits NMI", "MNIST ACC (seeds)", "MNIST NMI",
              "paper MNIST ACC", "MNIST fit time (s)"]
    lines = [".. list-table::", "   :header-rows: 1", ""]
    lines += ["   * - " + header[0]] + [f"     - {h}" for h in header[1:]]
    for name in sorted(FAMILIES, key=lambda n: ORDER.index(FAMILIES[n][0])):
        paper = PAPER.get(("mnist", name))
        row = [name, FAMILIES[name][0], cell(digits, name, "acc"), cell(digits, name, "nmi"),
               cell(mnist, name, "acc"), cell(mnist, name, "nmi"),
               f"{paper:.3f}" if paper else PAPER_NOTES.get(name, "—"), seconds(mnist, name)]
        lines += ["   * - " + row[0]] + [f"     - {v}" for v in row[1:]]
    out = HERE.parent / "doc" / "guide" / "_benchmark_table.rst"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
