"""The command line, run as a user would: through subprocess."""

import subprocess
import sys

import numpy as np
import pytest

FAST = ["--param", "hidden_dims=(16,)", "--param", "pretrain_epochs=3", "--param", "max_iter=10", "--device", "cpu", "--quiet"]


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "skdeepcluster", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 0.3, (20, 3)) for c in (0, 3)])
    path = tmp_path / "data.csv"
    lines = ["a,b,c,label"] + [f"{x[0]},{x[1]},{x[2]},{i // 20}" for i, x in enumerate(X)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_fit_writes_labels_and_prints_metrics(table, tmp_path):
    out = tmp_path / "labels.csv"
    result = run("fit", str(table), "--method", "DEC", "--n-clusters", "2", "--label-column", "label",
                 "-o", str(out), "--embedding", str(tmp_path / "z.csv"), *FAST)
    assert result.returncode == 0, result.stderr
    assert "ACC" in result.stdout and "Traceback" not in result.stderr
    labels = np.loadtxt(out, skiprows=1)
    assert labels.shape == (40,)
    assert np.loadtxt(tmp_path / "z.csv", delimiter=",").shape[0] == 40


def test_npy_input(tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).random((30, 4)))
    result = run("fit", str(tmp_path / "x.npy"), "--n-clusters", "2", "-o", str(tmp_path / "l.csv"), *FAST)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["fit", "missing.csv", "--n-clusters", "2"], "no such file"),
        (["fit", "{table}", "--n-clusters", "2", "--label-column", "nope"], "no column named 'nope'"),
        (["fit", "{text}", "--n-clusters", "2"], "is not numeric"),
        (["fit", "{table}", "--n-clusters", "2", "--method", "KMeansPlusPlus"], "unknown method"),
        (["fit", "{table}", "--n-clusters", "2", "--param", "wings=3"], "no parameter 'wings'"),
        (["fit", "{table}", "--n-clusters", "500"], "n_clusters=500"),
        (["fit", "{bad}", "--n-clusters", "2"], "unknown format"),
    ],
)
def test_errors_are_one_line_and_exit_2(args, message, table, tmp_path):
    text = tmp_path / "text.csv"
    text.write_text("a,b\nx,1\ny,2\n")
    bad = tmp_path / "data.xlsx"
    bad.write_text("")
    args = [a.format(table=table, text=text, bad=bad) for a in args]
    result = run(*args, "--device", "cpu", "--quiet", cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_methods_lists_every_estimator():
    import skdeepcluster

    result = run("methods")
    assert result.returncode == 0
    for name in skdeepcluster.__all__[:-1]:
        assert name in result.stdout
