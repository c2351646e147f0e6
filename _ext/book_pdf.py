"""Print the whole book as one PDF: ``make pdf`` (the single-page build, printed by headless Chromium).

``make pdf`` first builds ``_build/singlehtml`` (every chapter with its executed outputs, from the same execution
cache as ``make book``), then this script opens it offline in the OS Chromium, waits for MathJax, and prepares
the page for print before Chromium writes ``_build/pdf/dlt-notes.pdf``:

* a title page (title, author, the commit it was built from, the date);
* a table of contents by part, each entry a link to its chapter;
* each part and each chapter starting on a new page; chapter and section numbers as on the site;
* the site's navigation, buttons and permalinks removed; collapsed solutions and hidden cells opened;
* page numbers in the footer.

Usage: ``python _ext/book_pdf.py [--site _build/singlehtml] [--out _build/pdf/dlt-notes.pdf]``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PRINT_CSS = """
@page { size: A4; margin: 18mm 16mm 18mm 16mm; }
html, body { background: white !important; }
.bd-header, .bd-sidebar-primary, .bd-sidebar-secondary, .bd-footer, .bd-footer-article, .prev-next-area,
.header-article-items, .headerlink, .skip-link, .search-button-field, .theme-switch-button, .toggle-button,
.bd-header-announcement, .sidebar-toggle, .cell_input .copybtn, .bd-search, #pst-back-to-top,
.toctree-wrapper > p.caption, .toctree-wrapper > ul { display: none !important; }
.bd-main, .bd-content, .bd-article-container, .bd-article, .bd-page-width { max-width: none !important;
  width: 100% !important; padding: 0 !important; margin: 0 !important; }
body { font-size: 10.5pt; }
pre, .highlight pre { white-space: pre-wrap !important; word-break: break-word; font-size: 8.5pt; }
figure, img, .cell_output, table, .proof, .theorem, mjx-container[display="true"] { break-inside: avoid; }
h1, h2, h3 { break-after: avoid; }
.dlt-title { height: 225mm; display: flex; flex-direction: column; justify-content: center; text-align: center;
  break-after: page; }
.dlt-title h1 { font-size: 30pt; margin-bottom: 8mm; border: none; }
.dlt-title p { font-size: 13pt; color: #444; margin: 2mm 0; }
.dlt-toc { break-after: page; }
.dlt-toc h1 { font-size: 20pt; }
.dlt-toc .part { font-weight: bold; margin: 5mm 0 1mm 0; font-size: 12pt; }
.dlt-toc a { display: block; margin: 1mm 0 1mm 6mm; color: #123; text-decoration: none; font-size: 11pt; }
.dlt-part { break-before: page; font-size: 24pt; text-align: center; padding-top: 90mm; break-after: page; }
.dlt-chapter-start { break-before: page; }
"""

PREPARE_JS = """(meta) => {
  // open what the site collapses: solutions, hidden cells, dropdowns
  document.querySelectorAll('details').forEach(d => d.open = true);
  document.querySelectorAll('.toggle-hidden, .admonition.dropdown').forEach(e => e.classList.remove('toggle-hidden'));
  document.querySelectorAll('.tag_hide-input .cell_input, .tag_hide-cell > *').forEach(e => e.style.display = '');
  const style = document.createElement('style'); style.textContent = meta.css; document.head.appendChild(style);
  const article = document.querySelector('article.bd-article') || document.querySelector('main') || document.body;
  // the chapters: each included document starts with <span id="document-chapters/NAME">
  const starts = Array.from(document.querySelectorAll('span[id^="document-"]'));
  const toc = document.createElement('section'); toc.className = 'dlt-toc';
  toc.innerHTML = '<h1>Contents</h1>';
  let lastPart = null;
  for (const span of starts) {
    const doc = span.id.slice('document-'.length);
    const section = span.nextElementSibling;
    const heading = section && section.querySelector('h1, h2');
    if (!heading) continue;
    const part = meta.parts[doc] || null;
    if (part && part !== lastPart) {
      const p = document.createElement('div'); p.className = 'dlt-part'; p.textContent = part;
      span.parentNode.insertBefore(p, span);
      const t = document.createElement('div'); t.className = 'part'; t.textContent = part; toc.appendChild(t);
      lastPart = part;
    } else if (!part) {
      section.classList.add('dlt-chapter-start');
    }
    if (part) section.classList.add(lastPart === part && toc.lastChild.className === 'part' ? 'x' : 'dlt-chapter-start');
    const a = document.createElement('a'); a.href = '#' + section.id;
    a.textContent = heading.textContent.replace('#', '').trim(); toc.appendChild(a);
  }
  const title = document.createElement('section'); title.className = 'dlt-title';
  title.innerHTML = '<h1>' + meta.title + '</h1><p>' + meta.author + '</p><p>' + meta.built + '</p>';
  article.insertBefore(toc, article.firstChild);
  article.insertBefore(title, article.firstChild);
  return starts.length;
}"""


def _toc_parts() -> dict[str, str]:
    """{docname: part caption} from ``_toc.yml`` (a small reader: captions and files, in order)."""
    parts, caption = {}, None
    for line in (ROOT / "_toc.yml").read_text(encoding="utf-8").splitlines():
        m = re.match(r"\s*-\s*caption:\s*(.+)", line)
        if m:
            caption = m.group(1).strip().strip('"')
            continue
        m = re.match(r"\s*-\s*file:\s*(\S+)", line)
        if m and caption:
            parts[m.group(1)] = caption
    return parts


def _config_value(key: str, default: str) -> str:
    m = re.search(rf"^{key}:\s*\"?([^\"\n]*)\"?", (ROOT / "_config.yml").read_text(encoding="utf-8"), flags=re.M)
    return m.group(1).strip() if m else default


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", default=str(ROOT / "_build" / "singlehtml"))
    parser.add_argument("--out", default=str(ROOT / "_build" / "pdf" / "dlt-notes.pdf"))
    args = parser.parse_args(argv)
    pages = sorted(Path(args.site).rglob("*.html"))
    source = next((p for p in pages if 'id="document-' in p.read_text(errors="ignore")), None)
    if source is None:
        sys.exit(f"no single-page build under {args.site}: run `make pdf` (it builds it first)")
    # The single page is written under the root document's folder (chapters/) but its links are relative to the
    # site root (_static/, _images/): put a copy at the root so that they resolve.
    page_file = Path(args.site) / "book-print.html"
    page_file.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    exe = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if exe is None:
        sys.exit("make pdf needs Chromium: install the OS package 'chromium' (Debian: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "an unversioned copy"
    meta = {"css": PRINT_CSS, "parts": _toc_parts(), "title": _config_value("title", "Deep Learning Theory"),
            "author": _config_value("author", ""),
            "built": f"Built from commit {commit} on {datetime.date.today():%d %B %Y}"}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context()
        context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:"))
                      else r.abort())
        page = context.new_page()
        page.set_default_timeout(600_000)       # one page holds the whole book: minutes on a loaded machine
        page.goto(page_file.as_uri(), wait_until="load")
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                               timeout=600_000)
        page.evaluate("() => MathJax.startup.promise")
        chapters = page.evaluate(PREPARE_JS, meta)
        page.emulate_media(media="print")
        page.pdf(path=str(out), format="A4", print_background=True, display_header_footer=True,
                 header_template="<span></span>",
                 footer_template='<div style="font-size:8pt;width:100%;text-align:center;color:#666">'
                                 '<span class="pageNumber"></span> / <span class="totalPages"></span></div>',
                 margin={"top": "16mm", "bottom": "18mm", "left": "14mm", "right": "14mm"})
        browser.close()
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {chapters} documents) — "
          + json.dumps({"site": str(page_file)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
