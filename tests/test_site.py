"""The rendered site as a reader meets it: every page of ``_build/html`` opened in headless Chromium, offline.

Runs after the strict build (``make test`` calls it last; the first pytest run leaves it out). Each page is loaded
from ``file://`` with every other request refused (no network), and must show:

* its mathematics typeset: MathJax finished, no raw TeX delimiters (``\\(``, ``\\[``, ``$$``) left in the visible
  text outside code, and no MathJax error boxes (an undefined macro, a TeX syntax error);
* every image loaded (natural width > 0), and no figure output left as text ("<Figure size …>");
* no console error and no uncaught exception;
* no request that needed the network;
* on a chapter page (a notebook), the launch (Colab) button and the download buttons, with the downloads present.

The search page must return results for "kernel", and a few pages are also served over HTTP from 127.0.0.1.

Needs Chromium (the Debian package ``chromium``) and the ``playwright`` Python package (``requirements.txt``).
Without a browser the test is skipped with that message, except under ``CI``, where it must run.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")

# Text of the page that a reader sees, without code (which may legitimately contain "\(" or "$$").
_VISIBLE_TEXT = """() => {
  const root = (document.querySelector('main') || document.body).cloneNode(true);
  root.querySelectorAll('pre, code, script, style, mjx-container, .highlight').forEach(e => e.remove());
  return root.innerText;
}"""
_BROKEN_IMAGES = """() => Array.from(document.images)
  .filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.getAttribute('src'))"""


def _need(condition: bool, message: str):
    if condition:
        return
    if IN_CI:
        pytest.fail(message + " (required under CI)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser():
    exe = next((shutil.which(n) for n in CHROMIUM_NAMES if shutil.which(n)), None)
    _need(exe is not None, "no Chromium: install the OS package 'chromium' (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "the 'playwright' Python package is missing: pip install -r requirements.txt")
    _need((SITE / "index.html").exists(), f"no built site at {SITE}: run the strict build first (make test)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _pages() -> list[Path]:
    if not SITE.exists():
        return []
    skip = {"genindex.html", "py-modindex.html", "search.html"}
    return sorted(p for p in SITE.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts
                  and p.name not in skip
                  and 'http-equiv="refresh"' not in p.read_text(errors="ignore")[:2000].lower())


def _notebook_pages() -> set[str]:
    names = {md.stem for md in (ROOT / "chapters").glob("*.md")
             if "kernelspec" in md.read_text(encoding="utf-8")[:2000]}
    return {f"chapters/{n}.html" for n in names}


def _open(browser, url: str, wait_math: bool = True):
    """Load ``url`` offline; return (page, problems so far)."""
    context = browser.new_context()
    problems: list[str] = []

    def route(r):
        u = r.request.url
        if u.startswith(("file://", "data:", "blob:", "http://127.0.0.1")):
            return r.continue_()
        problems.append(f"needs the network: {u}")
        return r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: problems.append(f"console error: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"uncaught exception: {e}"))
    page.goto(url, wait_until="load")
    if wait_math and page.evaluate("() => !!document.querySelector('.math, mjx-container')"):
        try:
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                                   timeout=30_000)
            page.evaluate("() => MathJax.startup.promise")
        except Exception as err:  # noqa: BLE001 - reported as the page's problem
            problems.append(f"MathJax did not start: {type(err).__name__}")
    return page, problems


def _page_problems(browser, path: Path) -> list[str]:
    rel = path.relative_to(SITE).as_posix()
    page, problems = _open(browser, path.as_uri())
    text = page.evaluate(_VISIBLE_TEXT)
    for delim in ("\\(", "\\)", "\\[", "\\]", "$$"):
        if delim in text:
            i = text.index(delim)
            problems.append(f"raw TeX {delim!r} in the text: …{text[max(0, i - 40):i + 40]!r}…")
    outputs = page.evaluate("() => document.body.innerText")      # cell outputs included
    for placeholder in ("<Figure size", "<matplotlib."):   # a figure output that was never drawn as an image
        if placeholder in outputs:
            i = outputs.index(placeholder)
            problems.append(f"a figure shown as text: …{outputs[i:i + 60]!r}…")
    errors = page.evaluate("() => Array.from(document.querySelectorAll('mjx-merror'))"
                           ".map(e => e.getAttribute('data-mjx-error') || e.textContent)")
    problems += [f"MathJax error: {e}" for e in errors]
    problems += [f"image not loaded: {src}" for src in page.evaluate(_BROKEN_IMAGES)]
    if rel in _notebook_pages():
        colab = page.query_selector("a[href*='colab.research.google.com']")
        if colab is None:
            problems.append("no launch (Colab) button")
        downloads = page.eval_on_selector_all(".dropdown-download-buttons a[href]",
                                              "els => els.map(e => e.getAttribute('href'))")
        if not any(h.endswith(".ipynb") for h in downloads):
            problems.append(f"no .ipynb download button (downloads: {downloads})")
        for href in downloads:
            if not (path.parent / href).resolve().exists():
                problems.append(f"download link to a missing file: {href}")
    page.context.close()
    return [f"{rel}: {p}" for p in problems]


@pytest.mark.parametrize("path", _pages(), ids=lambda p: p.relative_to(SITE).as_posix())
def test_page_renders_offline(browser, path):
    problems = _page_problems(browser, path)
    assert not problems, "\n".join(problems)


def test_every_chapter_was_built(browser):
    built = {p.relative_to(SITE).as_posix() for p in _pages()}
    missing = sorted(_notebook_pages() - built)
    assert not missing, f"chapters without a page: {missing}"


def test_search_finds_kernel(browser):
    page, problems = _open(browser, (SITE / "search.html").as_uri() + "?q=kernel", wait_math=False)
    page.wait_for_selector("#search-results li", timeout=30_000)
    hits = page.eval_on_selector_all("#search-results li", "els => els.length")
    page.context.close()
    assert hits > 0 and not problems, f"search for 'kernel': {hits} results; {problems}"


def test_pages_over_http(browser):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SITE))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        problems = []
        for rel in ("index.html", "chapters/ntk.html"):  # index.html redirects to the first chapter
            if not (SITE / rel).exists():
                continue
            page, found = _open(browser, f"http://127.0.0.1:{server.server_port}/{rel}", wait_math=False)
            page.wait_for_load_state("load")
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                                   timeout=30_000)
            page.evaluate("() => MathJax.startup.promise")
            typeset = page.eval_on_selector_all("mjx-container", "els => els.length")
            page.context.close()
            problems += [f"{rel} over HTTP: {p}" for p in found]
            if typeset == 0:
                problems.append(f"{rel} over HTTP: no typeset formula")
        assert not problems, "\n".join(problems)
    finally:
        server.shutdown()
