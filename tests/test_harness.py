"""The notebook harness can fail: nbval must report a false claim and a false assert in a chapter."""

import subprocess
import sys

import nbformat
import pytest


def _notebook(path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def nbval_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("harness")
    _notebook(tmp / "nb_true.ipynb", "from dltnotes import claim", "claim('two and two', 2 + 2 == 4, '2 + 2 = 4')")
    _notebook(tmp / "nb_false_claim.ipynb", "from dltnotes import claim", "claim('two and two', 2 + 2 == 5, '2 + 2 = 5')")
    _notebook(tmp / "nb_false_assert.ipynb", "x = 2 + 2", "assert x == 5, 'arithmetic is broken'")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
         "-p", "no:xdist", "-rf", "-q", str(tmp)],
        cwd=tmp, capture_output=True, text=True, timeout=300,
    )
    return proc


def test_nbval_fails_the_run(nbval_run):
    assert nbval_run.returncode == 1, nbval_run.stdout + nbval_run.stderr


def test_nbval_reports_exactly_the_two_false_cells(nbval_run):
    out = nbval_run.stdout
    assert "2 failed" in out, out
    assert "FAILED nb_false_claim.ipynb::Cell 1" in out, out
    assert "FAILED nb_false_assert.ipynb::Cell 1" in out, out
    assert "nb_true.ipynb::Cell" not in out.split("short test summary")[-1], out


def test_failure_message_names_the_claim(nbval_run):
    assert "ClaimFailed" in nbval_run.stdout and "two and two" in nbval_run.stdout
    assert "arithmetic is broken" in nbval_run.stdout
