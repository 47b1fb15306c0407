"""The documentation's promises: complete estimator docstrings, a complete API reference."""

import importlib
import inspect
import re
from pathlib import Path

import pytest
from numpydoc.docscrape import ClassDoc

import skdeepcluster
from skdeepcluster._docstrings import ENTRIES, fill_docstring

ROOT = Path(__file__).resolve().parents[1]
ESTIMATORS = [getattr(skdeepcluster, name) for name in skdeepcluster.__all__ if name != "__version__"]
PUBLIC_MODULES = [
    "skdeepcluster",
    "skdeepcluster.base",
    "skdeepcluster.datasets",
    "skdeepcluster.graph",
    "skdeepcluster.losses",
    "skdeepcluster.metrics",
    "skdeepcluster.nn",
    "skdeepcluster.nn.multimodal",
    "skdeepcluster.nn.vmf",
    "skdeepcluster.persistence",
    "skdeepcluster.training",
]


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_estimator_docstring_is_complete(cls):
    doc = ClassDoc(cls)
    for section in ("Parameters", "Attributes", "References", "Examples"):
        assert doc[section], f"{cls.__name__} has no {section} section"
    assert ".. math::" in cls.__doc__, f"{cls.__name__} does not give its loss as an equation"
    assert not re.search(r"^\s*\{[a-z_, ]+\}\s*$", cls.__doc__, re.MULTILINE), "a shared entry was not filled"
    signature = inspect.signature(cls).parameters
    documented = {p.name: p for p in doc["Parameters"]}
    assert set(documented) == set(signature), f"{cls.__name__}: documented and actual parameters differ"
    for name, param in documented.items():
        match = re.search(r"default=(.*)$", param.type)
        assert match, f"{cls.__name__}.{name}: no default in the docstring"
        assert eval(match.group(1)) == signature[name].default, f"{cls.__name__}.{name}: the documented default is wrong"


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_every_fitted_attribute_is_documented(cls, fitted_tiny):
    documented = {name.strip() for item in ClassDoc(cls)["Attributes"] for name in item.name.split(",")}
    fitted = {name for name in vars(fitted_tiny(cls)) if name.endswith("_") and not name.startswith("_")}
    assert not fitted - documented, f"{cls.__name__} does not document {sorted(fitted - documented)}"


def test_shared_entries_fill_defaults_and_reject_typos():
    class Example:
        """Example.

        Parameters
        ----------
        {n_clusters, verbose}
        alpha : float, default={default}
            Own entry.
        """

        def __init__(self, n_clusters=4, alpha=0.5, verbose=1):
            pass

    text = fill_docstring(Example).__doc__
    assert "    n_clusters : int, default=4\n" in text and "verbose : int, default=1" in text
    assert "alpha : float, default=0.5" in text

    class Typo:
        """{n_clusterz}"""

    with pytest.raises(ValueError, match="n_clusterz"):
        fill_docstring(Typo)
    assert all(" : " in entry for entry in ENTRIES.values())


def test_api_reference_lists_every_public_class_and_function():
    api = (ROOT / "doc" / "api.rst").read_text()
    listed = set()
    module = None
    for line in api.splitlines():
        if line.startswith(".. currentmodule::"):
            module = line.split("::")[1].strip()
        elif re.fullmatch(r"   [A-Za-z0-9_.]+", line) and module:
            listed.add(f"{module}.{line.strip()}")
    missing = []
    for name in PUBLIC_MODULES:
        mod = importlib.import_module(name)
        for attr in mod.__all__:
            obj = getattr(mod, attr)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            home = f"{obj.__module__}.{obj.__qualname__}"
            if f"{name}.{attr}" not in listed and not any(home == _resolve(entry) for entry in listed):
                missing.append(f"{name}.{attr}")
    assert not missing, f"not in doc/api.rst: {missing}"


def _resolve(dotted):
    module, _, attr = dotted.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        try:
            parent, _, sub = module.rpartition(".")
            obj = getattr(getattr(importlib.import_module(parent), sub), attr)
        except (ImportError, AttributeError):
            return None
    return f"{obj.__module__}.{obj.__qualname__}"


def test_readme_quick_start_runs(monkeypatch, capsys):
    """The README's quick start, as written, with CaEGCN's network and epochs made tiny."""
    readme = (ROOT / "README.rst").read_text()
    section = readme[readme.index("Quick start\n") :]
    lines = section[section.index(".. code-block:: python") :].splitlines()[1:]
    body = []
    for line in lines:
        if line.strip() and not line.startswith("    "):
            break
        body.append(line[4:])
    code = "\n".join(body)
    assert "CaEGCN(n_clusters=10).fit_predict(X" in code and "GridSearchCV(" in code
    tiny = {"hidden_dims": (16,), "n_components": 4, "pretrain_epochs": 2, "max_iter": 3, "n_init": 1, "device": "cpu"}
    monkeypatch.setattr(skdeepcluster.CaEGCN.__init__, "__kwdefaults__", {**skdeepcluster.CaEGCN.__init__.__kwdefaults__, **tiny})
    exec(compile(code.replace("max_iter=200", "max_iter=3"), "README.rst", "exec"), {})
    out = capsys.readouterr().out
    assert "'acc'" in out and "caegcn__n_neighbors" in out


def _benchmark_module(name):
    """Import a script of ``benchmarks/`` (they import each other by file name)."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_guide_tables_are_those_of_the_result_csvs():
    pytest.importorskip("pandas")
    family_table = _benchmark_module("family_table")
    for name, text in family_table.tables().items():
        committed = (ROOT / "doc" / "guide" / name).read_text()
        assert committed == text, f"doc/guide/{name} is stale: run python benchmarks/family_table.py"


def _means(csv_name):
    import csv

    with open(ROOT / "benchmarks" / "results" / csv_name, newline="") as f:
        rows = list(csv.DictReader(f))
    means = {}
    for name in {row["estimator"] for row in rows}:
        mine = [row for row in rows if row["estimator"] == name]
        means[name] = tuple(sum(float(row[k]) for row in mine) / len(mine) for k in ("acc", "fit_s"))
    return means


def test_readme_benchmark_figures_are_those_of_the_result_csvs():
    # "N2D 0.976 in 37 s": ours from mnist_gpu.csv, then ClustPy's from mnist_gpu_clustpy.csv
    text = " ".join((ROOT / "README.rst").read_text().split("\nBenchmarks\n")[1].split())
    ours, peer = text.split("ClustPy 0.0.3", 1)
    figures = re.compile(r"(\w+) (0\.\d{3}) in (\d+(?:\.\d)?) s")
    for part, csv_name in ((ours, "mnist_gpu.csv"), (peer.split(" slower")[0], "mnist_gpu_clustpy.csv")):
        means, found = _means(csv_name), figures.findall(part)
        assert len(found) >= 6
        wrong = [
            f"{name} {acc} in {seconds} s where {csv_name} gives {means[name][0]:.3f} in {means[name][1]:.{digits}f} s"
            for name, acc, seconds in found
            for digits in [len(seconds.partition(".")[2])]
            if (acc, seconds) != (f"{means[name][0]:.3f}", f"{means[name][1]:.{digits}f}")
        ]
        assert not wrong, "README.rst's benchmark figures are stale: " + "; ".join(wrong)
