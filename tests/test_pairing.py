"""Each chapter is a MyST-markdown notebook with an output-free .ipynb twin (for the Colab button).

These tests fail when a pair drifts apart, when a twin carries outputs, when a chapter lacks the hidden install
cell that makes the Colab button work, or when a chapter is missing from the table of contents.
Fix drift with ``make sync`` (the .md file is the source).
"""

from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ROOT / "chapters"

INSTALL_CELL = """\
# Colab or a bare Jupyter: install the book's package if it is missing (hidden on the site)
import importlib.util, subprocess, sys
REPO = "your-org/dlt-notes"  # `make set-repo REPO=owner/name` sets it
if importlib.util.find_spec("dltnotes") is None:
    if REPO == "your-org" + "/dlt-notes":  # the placeholder: no repository to install from
        print("dltnotes is missing and this copy of the book names no repository yet:\\n"
              "run `pip install -e .` in a clone of the book (or `make set-repo`),\\n"
              "then restart the kernel.")
    else:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                        f"dltnotes @ git+https://github.com/{REPO}"], check=True)"""


def _is_notebook(md: Path) -> bool:
    return "kernelspec" in md.read_text(encoding="utf-8")[:2000]


NOTEBOOKS = sorted(md for md in CHAPTERS.rglob("*.md") if _is_notebook(md))
IDS = [str(md.relative_to(CHAPTERS)) for md in NOTEBOOKS]


def _cells(nb):
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", ()))) for c in nb.cells]


def test_there_are_notebook_chapters():
    assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("md", NOTEBOOKS, ids=IDS)
def test_twin_exists_and_is_in_sync(md):
    twin = md.with_suffix(".ipynb")
    assert twin.exists(), f"{twin.name} is missing: run `make sync`"
    assert _cells(jupytext.read(md)) == _cells(jupytext.read(twin)), f"{md.name} and {twin.name} differ: run `make sync`"


@pytest.mark.parametrize("md", NOTEBOOKS, ids=IDS)
def test_twin_has_no_outputs(md):
    nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"cell {i} of {md.stem}.ipynb has outputs"


@pytest.mark.parametrize("md", NOTEBOOKS, ids=IDS)
def test_pairing_metadata(md):
    fmt = jupytext.read(md).metadata.get("jupytext", {}).get("formats", "")
    assert set(fmt.split(",")) == {"ipynb", "md:myst"}, f"{md.name} must declare `formats: ipynb,md:myst`"


@pytest.mark.parametrize("md", NOTEBOOKS, ids=IDS)
def test_first_code_cell_installs_the_package_and_is_hidden(md):
    code = [c for c in jupytext.read(md).cells if c.cell_type == "code"]
    assert code and code[0].source.strip() == INSTALL_CELL, f"{md.name}: first code cell must be the install cell"
    assert "remove-cell" in code[0].metadata.get("tags", []), f"{md.name}: tag the install cell `remove-cell`"


@pytest.mark.parametrize("md", NOTEBOOKS, ids=IDS)
def test_one_parameters_cell(md):
    tagged = [c for c in jupytext.read(md).cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and "SCALE" in tagged[0].source, f"{md.name}: one `parameters` cell setting SCALE"


def test_no_orphan_twins():
    for nb in CHAPTERS.rglob("*.ipynb"):
        if ".ipynb_checkpoints" in nb.parts:
            continue
        md = nb.with_suffix(".md")
        assert md.exists(), f"{nb} has no .md source"
        assert _is_notebook(md), f"{nb} is the twin of a plain page (no kernelspec): delete it"


def _toc_files(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("file", "root"):
                yield value
            else:
                yield from _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            yield from _toc_files(item)


def test_every_chapter_is_in_the_toc():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    listed = {f.removesuffix(".md") for f in _toc_files(toc)}
    for md in CHAPTERS.rglob("*.md"):
        doc = str(md.relative_to(ROOT).with_suffix(""))
        assert doc in listed, f"{doc} is not in _toc.yml"


def test_install_cell_explains_itself_while_the_repository_is_a_placeholder(tmp_path):
    """Run the install cell in a bare Python without dltnotes: it prints what to do, it does not raise."""
    import subprocess
    import sys

    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    bare = subprocess.run([sys.executable, "-I", "-S", "-c", INSTALL_CELL], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=60)
    assert bare.returncode == 0, bare.stderr
    assert "make set-repo" in bare.stdout and "pip install -e ." in bare.stdout
    assert max(len(line) for line in INSTALL_CELL.splitlines()) <= 92
