"""pytest configuration shared by the unit tests and the nbval run of the chapters.

With ``DLTNOTES_BOOK_DIR`` set (``make test`` sets it to ``_build``), the nbval run of the chapters also serves
the book build: each chapter's kernel records its claims for the ledger, and the executed notebooks are stored
in the build's execution cache, so the strict build that follows executes no chapter again. See
``_ext/execution_cache.py``.
"""

import os
import sys
import time
from pathlib import Path

import pytest

# Progress bars off, here and in every kernel nbval starts. The kernels keep ipykernel's inline matplotlib
# backend (no MPLBACKEND): their figures are the book's figures (PNG outputs), and Agg would leave only
# "<Figure size …>" text. This process itself draws off-screen.
os.environ.setdefault("DLTNOTES_QUIET", "1")
if os.environ.get("MPLBACKEND", "").lower() == "agg":
    del os.environ["MPLBACKEND"]
import matplotlib  # noqa: E402

matplotlib.use("Agg")
# Ledger recording belongs to the book build: only a chapter's own kernel gets these (below), never a test.
os.environ.pop("DLTNOTES_LEDGER_DIR", None)
os.environ.pop("DLTNOTES_DOCNAME", None)

ROOT = Path(__file__).resolve().parent
BOOK_DIR = os.environ.get("DLTNOTES_BOOK_DIR", "").strip()


def _is_chapter_cell(item) -> bool:
    parent = getattr(item, "parent", None)
    return (type(item).__name__ == "IPyNbCell" and parent is not None
            and Path(str(parent.fspath)).parent == ROOT / "chapters")


if BOOK_DIR:
    BUILD = Path(BOOK_DIR).resolve()
    EXECUTED = BUILD / ".executed"

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_setup(item):
        """Start a chapter's kernel with the ledger variables the book build would give it, then drop them."""
        first = _is_chapter_cell(item) and item.parent.kernel is None
        if first:
            stem = Path(str(item.parent.fspath)).stem
            os.environ["DLTNOTES_DOCNAME"] = f"chapters/{stem}"
            os.environ["DLTNOTES_LEDGER_DIR"] = str(BUILD / ".claims")
            item.parent._dlt_started = time.perf_counter()
            item.parent._dlt_failed = False
        try:
            yield
        finally:
            if first:
                os.environ.pop("DLTNOTES_DOCNAME", None)
                os.environ.pop("DLTNOTES_LEDGER_DIR", None)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(item, call):
        outcome = yield
        if not _is_chapter_cell(item):
            return
        report = outcome.get_result()
        if report.failed:
            item.parent._dlt_failed = True
        if call.when == "call" and item.test_outputs is not None:
            item.cell["outputs"] = list(item.test_outputs)  # item.cell is the notebook's own cell

    def pytest_runtest_teardown(item, nextitem):
        """After a chapter's last cell: keep the executed notebook when every cell passed."""
        if not _is_chapter_cell(item) or (nextitem is not None and nextitem.parent is item.parent):
            return
        notebook = item.parent
        if getattr(notebook, "_dlt_failed", True):
            return
        import nbformat

        EXECUTED.mkdir(parents=True, exist_ok=True)
        stem = Path(str(notebook.fspath)).stem
        nbformat.write(notebook.nb, EXECUTED / f"{stem}.ipynb")
        (EXECUTED / f"{stem}.seconds").write_text(f"{time.perf_counter() - notebook._dlt_started:.2f}\n")

    def pytest_sessionfinish(session, exitstatus):
        """On the controller, once every worker is done: put the executed chapters into the build's cache."""
        if hasattr(session.config, "workerinput") or not EXECUTED.is_dir():
            return
        sys.path.insert(0, str(ROOT / "_ext"))
        from execution_cache import store_executed

        stored = store_executed(BUILD, EXECUTED)
        import shutil

        shutil.rmtree(EXECUTED, ignore_errors=True)
        session.config._dlt_stored = stored

    def pytest_terminal_summary(terminalreporter, config):
        stored = getattr(config, "_dlt_stored", None)
        if stored is not None:
            terminalreporter.write_line(f"book: {len(stored)} executed chapters stored in the build's cache "
                                        f"({BUILD / '.jupyter_cache'})")
