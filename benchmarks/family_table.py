"""Write the family guide's benchmark table from the result CSVs.

    python benchmarks/family_table.py   # -> doc/guide/_benchmark_table.rst, _peer_table.rst

Each cell is the mean ± std over the seeds of the CSV (the count in brackets);
"not measured" where a CSV has no row. Nothing is typed by hand.
"""

import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from peers import COMPARE_HEADER, compare_cells, compare_rows  # noqa: E402
from run import PAPER  # noqa: E402

from skdeepcluster.cli import FAMILIES  # noqa: E402

ORDER = ["multistage", "iterative", "generative", "simultaneous"]
PAPER_NOTES = {"DeepCluster": "— (ImageNet only)", "SDCN": "— (not on MNIST)"}


def own_data_note(results, name, dataset):
    """``— (COIL20 0.949; ours 0.747)``: a method's paper figure on its own data set beside our mean there."""
    ours = pd.read_csv(results / f"{dataset}_cpu.csv").query("estimator == @name")["acc"].mean()
    return f"— ({dataset.upper()} {PAPER[(dataset, name)]:.3f}; ours {ours:.3f})"


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


def list_table(header, rows):
    """An RST list-table of string cells."""
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header, *rows]:
        lines += ["   * - " + row[0]] + [f"     - {v}" for v in row[1:]]
    return "\n".join(lines) + "\n"


def peer_table(results):
    """The side-by-side with ClustPy on MNIST: every shared method at our defaults, then VaDE at ClustPy's schedule."""
    peer = results / "mnist_gpu_clustpy.csv"
    rows = compare_rows(results / "mnist_gpu.csv", peer)
    rows += compare_rows(results / "mnist_gpu_VaDE_clustpy_schedule.csv", peer, "VaDE at ClustPy's schedule")
    return list_table(COMPARE_HEADER, [compare_cells(row) for row in rows])


def tables(results=HERE / "results"):
    """``{file name: text}`` of the two guide tables, from the CSVs under ``results``."""
    digits, mnist = pd.read_csv(results / "digits_cpu.csv"), pd.read_csv(results / "mnist_gpu.csv")
    header = ["Estimator", "Family", "digits ACC (seeds)", "digits NMI", "MNIST ACC (seeds)", "MNIST NMI",
              "paper MNIST ACC", "MNIST fit time (s)"]
    notes = {**PAPER_NOTES, "DSCNet": own_data_note(results, "DSCNet", "coil20")}
    rows = []
    for name in sorted(FAMILIES, key=lambda n: ORDER.index(FAMILIES[n][0])):
        paper = PAPER.get(("mnist", name))
        rows.append([name, FAMILIES[name][0], cell(digits, name, "acc"), cell(digits, name, "nmi"),
                     cell(mnist, name, "acc"), cell(mnist, name, "nmi"),
                     f"{paper:.3f}" if paper else notes.get(name, "—"), seconds(mnist, name)])
    return {"_benchmark_table.rst": list_table(header, rows), "_peer_table.rst": peer_table(results)}


def main():
    guide = HERE.parent / "doc" / "guide"
    for name, text in tables().items():
        (guide / name).write_text(text)
        print(f"wrote {guide / name}")


if __name__ == "__main__":
    main()
