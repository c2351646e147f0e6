"""make test executes each chapter once: the nbval run's outputs are stored where the book build finds them."""

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))

import execution_cache  # noqa: E402


def _executed_twin(tmp_path, stem="checking-claims", marker="executed by the test run"):
    nb = nbformat.read(ROOT / "chapters" / f"{stem}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=marker + "\n")]
    executed = tmp_path / "executed"
    executed.mkdir()
    nbformat.write(nb, executed / f"{stem}.ipynb")
    (executed / f"{stem}.seconds").write_text("1.5\n")
    return executed


def test_stored_outputs_are_what_the_build_reads(tmp_path):
    from jupyter_cache import get_cache
    from myst_nb.core.read import read_myst_markdown_notebook

    build = tmp_path / "_build"
    assert execution_cache.store_executed(build, _executed_twin(tmp_path)) == ["checking-claims"]
    md = ROOT / "chapters" / "checking-claims.md"
    source = read_myst_markdown_notebook(md.read_text(encoding="utf-8"), add_source_map=True, path=md)
    cache = get_cache(str(build / ".jupyter_cache"))
    record = cache.match_cache_notebook(source)  # the key myst-nb computes for the .md
    assert record.data["execution_seconds"] == 1.5
    _, merged = cache.merge_match_into_notebook(source)
    outputs = [o for c in merged.cells if c.cell_type == "code" for o in c.outputs]
    assert outputs and all(o.text == "executed by the test run\n" for o in outputs)
    assert merged.metadata["language_info"]["pygments_lexer"] == "ipython3"
    assert execution_cache.cache_is_current(build, build / ".jupyter_cache")


def test_a_twin_that_drifted_from_its_chapter_is_not_stored(tmp_path):
    executed = _executed_twin(tmp_path)
    nb = nbformat.read(executed / "checking-claims.ipynb", as_version=4)
    next(c for c in nb.cells if c.cell_type == "code").source += "\n# drift"
    nbformat.write(nb, executed / "checking-claims.ipynb")
    assert execution_cache.store_executed(tmp_path / "_build", executed) == []


def test_a_stale_cache_is_emptied(tmp_path):
    build = tmp_path / "_build"
    cache = build / ".jupyter_cache"
    cache.mkdir(parents=True)
    (cache / "old").write_text("x")
    (build / execution_cache.STAMP_NAME).write_text("not the current hash\n")
    assert execution_cache.reset_if_stale(build, cache) is True
    assert not cache.exists() and execution_cache.cache_is_current(build, cache)
    assert execution_cache.reset_if_stale(build, cache) is False
