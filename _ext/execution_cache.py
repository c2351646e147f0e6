"""Execute each chapter once per ``make test``: the nbval run's outputs become the book build's.

``make test`` runs every chapter as a test under nbval, two notebooks at a time, and then builds the book
strictly. Executing every chapter a second time, one after the other, inside the build would double the time of
the slowest step. Instead, with ``DLTNOTES_BOOK_DIR`` set (``make test`` sets it to ``_build``), the pytest plugin
in ``conftest.py``

1. starts each chapter's kernel with the variables the build would set (``DLTNOTES_DOCNAME``,
   ``DLTNOTES_LEDGER_DIR``), so the chapter's checks are recorded for the claims ledger as they run;
2. collects the outputs nbval receives for every cell and, when every cell of a chapter passed, writes the
   executed notebook to ``_build/.executed/``;
3. at the end of the session stores those notebooks in the build's jupyter-cache (:func:`store_executed`), under
   the key myst-nb computes for the ``.md`` source (its code cells and their metadata), and stamps the cache with
   the hash of the ``dltnotes`` source it was computed with.

The build (``execute_notebooks: cache``) then renders the stored outputs and executes only chapters it does not
find (for example when a chapter's tests were deselected). ``_ext/claims_ledger.py`` empties the cache when the
``dltnotes`` source changed since the stamp, so no page shows results of an older package.
"""

from __future__ import annotations

import hashlib
import platform
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAMP_NAME = ".dltnotes-package.sha256"


def package_hash() -> str:
    """sha256 of the ``dltnotes`` sources (file names and contents)."""
    import dltnotes

    digest = hashlib.sha256()
    for path in sorted(Path(dltnotes.__file__).parent.rglob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def cache_is_current(build_dir: Path, cache_dir: Path) -> bool:
    """True when the stamp in ``build_dir`` matches the current ``dltnotes`` source."""
    stamp = Path(build_dir) / STAMP_NAME
    return stamp.exists() and stamp.read_text().strip() == package_hash()


def reset_if_stale(build_dir: Path, cache_dir: Path) -> bool:
    """Empty ``cache_dir`` unless it was made with the current ``dltnotes``; stamp it. True if it was emptied."""
    build_dir, cache_dir = Path(build_dir), Path(cache_dir)
    if cache_is_current(build_dir, cache_dir):
        return False
    if cache_dir.exists():
        shutil.rmtree(cache_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    (build_dir / STAMP_NAME).write_text(package_hash() + "\n")
    return True


def store_executed(build_dir: Path, executed_dir: Path) -> list[str]:
    """Store every ``<executed_dir>/<chapter>.ipynb`` (with its ``.seconds``) in the build's jupyter-cache.

    Each executed twin's outputs are put on the notebook myst-nb reads from ``chapters/<chapter>.md``; a chapter
    whose code cells do not match its twin cell for cell is skipped (the build then executes it). Returns the
    chapters stored.
    """
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from myst_nb.core.read import read_myst_markdown_notebook

    build_dir, executed_dir = Path(build_dir), Path(executed_dir)
    cache_dir = build_dir / ".jupyter_cache"
    reset_if_stale(build_dir, cache_dir)
    cache = get_cache(str(cache_dir))
    stored = []
    for executed in sorted(executed_dir.glob("*.ipynb")):
        md = ROOT / "chapters" / f"{executed.stem}.md"
        if not md.exists():
            continue
        nb = read_myst_markdown_notebook(md.read_text(encoding="utf-8"), add_source_map=True, path=md)
        run = nbformat.read(executed, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        ran = [c for c in run.cells if c.cell_type == "code"]
        if [c.source for c in code] != [c.source for c in ran]:
            continue
        for cell, done in zip(code, ran):
            cell.outputs = done.get("outputs", [])
            cell.execution_count = done.get("execution_count")
        # what a kernel reports on execution (myst-nb picks the code lexer from it)
        nb.metadata["language_info"] = {
            "name": "python", "version": platform.python_version(), "mimetype": "text/x-python",
            "file_extension": ".py", "pygments_lexer": "ipython3", "nbconvert_exporter": "python",
            "codemirror_mode": {"name": "ipython", "version": 3}}
        seconds_file = executed.with_suffix(".seconds")
        seconds = float(seconds_file.read_text()) if seconds_file.exists() else None
        cache.cache_notebook_bundle(CacheBundleIn(nb, str(md), data={"execution_seconds": seconds}),
                                    check_validity=False, overwrite=True)
        stored.append(executed.stem)
    return stored
