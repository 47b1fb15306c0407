"""The command line, run as a user would: through subprocess.

Starting Python and importing torch costs seconds, so most cases run as a
batch: one subprocess calls ``skdeepcluster.cli.main`` once per command line,
capturing what each prints and the code it exits with (an uncaught exception
shows up as a traceback on its stderr, as it would for a user). A few cases
also run as real ``python -m skdeepcluster`` processes.
"""

import json
import os
import shlex
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest

# Run this checkout's package, whatever the working folder of the subprocess.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                                  os.environ.get("PYTHONPATH")]))}
FAST = ["--param", "hidden_dims=(16,)", "--param", "pretrain_epochs=3", "--param", "max_iter=10", "--device", "cpu"]

DRIVER = """
import contextlib, io, json, sys, traceback
HIDDEN = set(json.loads(sys.argv[2]))


class Hide:  # modules named in HIDDEN import as if they were not installed
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}")


import torch
import torch._dynamo  # it probes for optional packages once, at import: let it, before hiding any

sys.meta_path.insert(0, Hide())
torch.set_num_threads(1)
from skdeepcluster.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
        except BaseException:
            traceback.print_exc()
            code = "uncaught"
    results.append({"code": code, "out": out.getvalue(), "err": err.getvalue()})
print(json.dumps(results))
"""


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "skdeepcluster", *args], capture_output=True, text=True, cwd=cwd, env=ENV)


def run_batch(command_lines, cwd, without=()):
    """Run every command line in one subprocess: a list of ``{"code", "out", "err"}``.

    ``without``: modules to hide, as if they were not installed.
    """
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(command_lines), json.dumps(list(without))],
        capture_output=True, text=True, cwd=cwd, env=ENV,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def files(tmp_path):
    """Two well-separated blobs with their labels, in every format the command line reads, and bad files."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 0.3, (20, 3)) for c in (0, 3)])
    y = np.repeat([0, 1], 20)
    rows = [f"{a},{b},{c},{label}" for (a, b, c), label in zip(X, y)]
    (tmp_path / "data.csv").write_text("a,b,c,label\n" + "\n".join(rows) + "\n")
    (tmp_path / "data.tsv").write_text("a\tb\tc\tlabel\n" + "\n".join(r.replace(",", "\t") for r in rows) + "\n")
    np.save(tmp_path / "data.npy", np.column_stack([X, y]))
    np.savez(tmp_path / "data.npz", y=y, X=X)
    (tmp_path / "text.csv").write_text("a,b\nx,1\ny,2\n")
    (tmp_path / "holes.csv").write_text("a,b\n1,2\n3,\n4,5\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header_only.csv").write_text("a,b\n")
    (tmp_path / "broken.npy").write_text("not a NumPy file")
    (tmp_path / "data.xlsx").write_text("")
    (tmp_path / "broken.parquet").write_text("not a Parquet file")
    np.save(tmp_path / "vector.npy", np.arange(5.0))
    return tmp_path


def test_fit_csv_standardized_with_embedding_progress_and_metrics(files):
    result = run("fit", "data.csv", "--method", "DEC", "--n-clusters", "2", "--label-column", "label",
                 "--standardize", "-o", "labels.csv", "--embedding", "z.csv", *FAST, cwd=files)
    assert result.returncode == 0, result.stderr
    assert "ACC 1.0000" in result.stdout and "labels written to labels.csv" in result.stdout
    assert "pretrain" in result.stderr and "Traceback" not in result.stderr  # the progress bar
    with open(files / "labels.csv") as handle:
        assert handle.readline().strip() == "label"
    assert np.loadtxt(files / "labels.csv", skiprows=1).shape == (40,)
    assert np.loadtxt(files / "z.csv", delimiter=",").shape == (40, 10)


def test_other_formats_methods_and_demo(files):
    try:
        import pandas as pd
        import pyarrow  # noqa: F401

        data = np.load(files / "data.npy")
        pd.DataFrame(data, columns=["a", "b", "c", "label"]).to_parquet(files / "data.parquet")
        parquet = True
    except ImportError:  # Parquet is optional: pandas with pyarrow or fastparquet
        parquet = False
    quiet = [*FAST, "--quiet"]
    lines = [
        ["fit", "data.npy", "--n-clusters", "2", "--label-column", "3", "-o", "l.NPY", "--embedding", "z.npy", *quiet],
        ["fit", "data.npz", "--n-clusters", "2", "--label-column", "y", "-o", "l.csv", *quiet],
        ["fit", "data.tsv", "--n-clusters", "2", "--label-column", "label", "--method", "DCN", "--param", "epochs=2",
         "--param", "hidden_dims=(16,)", "--param", "pretrain_epochs=3", "--quiet"],
        ["methods"],
        ["demo", "--method", "AEKMeans", "--epochs", "2"],
    ]
    if parquet:
        lines.append(["fit", "data.parquet", "--n-clusters", "2", "--label-column", "label", *quiet])
    results = run_batch(lines, files)
    for argv, result in zip(lines, results):
        assert result["code"] == 0, (argv, result["err"])
    for result in results[:3] + results[5:]:
        assert "ACC 1.0000" in result["out"], result
    assert np.load(files / "l.NPY").shape == (40,) and np.load(files / "z.npy").shape == (40, 10)
    assert not (files / "l.NPY.npy").exists()  # the name given, whatever its case
    import skdeepcluster

    listing = results[3]["out"]
    for name in skdeepcluster.__all__[:-1]:
        assert name in listing
    for family in ("multistage", "iterative", "generative", "simultaneous"):
        assert family in listing
    assert "AEKMeans on digits: ACC" in results[4]["out"]


# One case a line: "FILE ARGS => part of the message" runs "skdeepcluster fit FILE ARGS --n-clusters 2"
# (unless ARGS set --n-clusters); a line starting with "::" gives the whole command line instead.
ERRORS = [tuple(part.strip() for part in line.split("=>")) for line in """
missing.csv => missing.csv: no such file
data.csv --label-column nope => no column named 'nope'
data.npz --label-column nope => no array named 'nope'
data.npy --label-column label => give --label-column a column number
data.npy --label-column 9 => no column 9
text.csv => column 'a' is not numeric
holes.csv => 1 missing or infinite values (the first in data row 2, column 2)
empty.csv => empty.csv: cannot read it
header_only.csv => the table is empty
broken.npy => broken.npy: cannot read it
vector.npy => expected a 2-D numeric table
data.xlsx => unknown format '.xlsx'
broken.parquet => broken.parquet:
data.csv --method KMeansPlusPlus => unknown method 'KMeansPlusPlus'
data.csv --param wings=3 => DEC has no parameter 'wings'
data.csv --param wings => write NAME=VALUE
data.csv --param pretrain_epochs=-1 => pretrain_epochs
data.csv --n-clusters 500 => n_clusters=500
data.csv -o no/such/folder/l.csv => no folder no/such/folder
data.csv --n-clusters two => invalid int value: 'two'
:: fit data.csv --quiet => required: --n-clusters
:: demo --method KMeansPlusPlus => invalid choice: 'KMeansPlusPlus'
:: cluster data.csv => invalid choice: 'cluster'
""".strip().splitlines()]


def command_line(case):
    if case.startswith("::"):
        return shlex.split(case[2:])
    args = shlex.split(case)
    return ["fit", *args, *([] if "--n-clusters" in args else ["--n-clusters", "2"]), "--quiet"]


def test_every_error_is_one_line_and_exit_2(files):
    results = run_batch([command_line(case) for case, _ in ERRORS], files)
    for (case, message), result in zip(ERRORS, results):
        argv = command_line(case)
        assert result["code"] == 2, (argv, result)
        lines = result["err"].strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("skdeepcluster: error: "), (argv, result["err"])
        assert message in lines[0], (argv, lines[0])


def test_without_pandas_csv_still_works_and_parquet_is_a_one_line_error(files):
    lines = [
        ["fit", "data.csv", "--n-clusters", "2", "--label-column", "label", *FAST, "--quiet"],
        ["fit", "data.csv", "--n-clusters", "2", "--label-column", "nope", "--quiet"],
        ["fit", "text.csv", "--n-clusters", "2", "--quiet"],
        ["fit", "broken.parquet", "--n-clusters", "2", "--quiet"],
    ]
    ok, missing, text, parquet = run_batch(lines, files, without=["pandas"])
    assert ok["code"] == 0 and "ACC 1.0000" in ok["out"], ok
    for result, message in [(missing, "no column named 'nope'"), (text, "column 'a' is not numeric"),
                            (parquet, "reading Parquet needs pandas")]:
        assert result["code"] == 2 and len(result["err"].strip().splitlines()) == 1, result
        assert message in result["err"], result


def test_errors_from_a_real_process(files):
    for case, message in [ERRORS[0], ERRORS[11], ERRORS[-1]]:
        result = run(*command_line(case), cwd=files)
        assert result.returncode == 2 and message in result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_console_script_is_declared():
    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts.get("skdeepcluster") == "skdeepcluster.cli:main"
