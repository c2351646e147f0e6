"""Sphinx extension: the claims ledger, and the build-time environment the chapters run in.

* Before each chapter is read (and so executed by myst-nb), it sets ``DLTNOTES_DOCNAME`` to the chapter's
  docname and ``DLTNOTES_LEDGER_DIR`` to ``_build/.claims``; every ``dltnotes.claim(...)`` the chapter makes is
  then appended to ``_build/.claims/<docname>.jsonl`` (see :mod:`dltnotes.book`).
* The ``{claims-ledger}`` directive leaves a placeholder that is filled, once every chapter has been read, with
  counts per kind and chapter, then a table of
  all claims: the claim, its kind, the measured values, the tolerance and its source, the rival and how many
  standard errors it lies from the measurement (or the slack of a bound), and the outcome.
* A chapter whose source makes a check (``claim(``, ``check_…(``) but left no record (e.g. a deleted ``.claims`` folder beside a warm
  execution cache) is reported as a warning, so a stale ledger cannot pass a ``-W`` build.
* Execution is cached (``execute_notebooks: cache``). ``make test`` fills the cache from its nbval run of the
  chapters (``_ext/execution_cache.py``), so the strict build renders those outputs without executing any chapter
  again. The cache is emptied whenever the source of the ``dltnotes`` package changes, since it only knows a
  chapter's own code and would otherwise serve results computed with an older package.
* Progress bars are silenced during the build.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from docutils import nodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from execution_cache import reset_if_stale

from dltnotes.book import DOCNAME_VAR, ILLUSTRATION_SLACK, KINDS, LEDGER_DIR_VAR, read_ledger

logger = logging.getLogger(__name__)

_CHECK_CALL = re.compile(r"\b(claim|check_(exact|symbolic|close|slope|less))\(")


class ledger_placeholder(nodes.General, nodes.Element):
    """Replaced by the ledger table once all chapters have been executed."""


class ClaimsLedgerDirective(SphinxDirective):
    has_content = False

    def run(self):
        self.env.dltnotes_ledger_docs = getattr(self.env, "dltnotes_ledger_docs", set()) | {self.env.docname}
        return [ledger_placeholder()]


def _ledger_dir(app) -> Path:
    return Path(app.outdir).parent / ".claims"


def _on_config_inited(app, config):
    os.environ[LEDGER_DIR_VAR] = str(_ledger_dir(app))
    os.environ["DLTNOTES_QUIET"] = "1"
    if config.nb_execution_mode == "cache":
        _invalidate_cache_if_package_changed(app, config)


def _invalidate_cache_if_package_changed(app, config):
    cache = Path(config.nb_execution_cache_path or Path(app.outdir).parent / ".jupyter_cache")
    if reset_if_stale(Path(app.outdir).parent, cache):
        logger.info("dltnotes changed since the cached execution: emptying the execution cache")
        app.dltnotes_package_changed = True  # _on_get_outdated then re-reads (re-executes) every notebook


def _on_source_read(app, docname, source):
    os.environ[DOCNAME_VAR] = docname
    notebook = "kernelspec" in source[0][:2000]
    for attr, member in (("dltnotes_notebook_docs", notebook),
                         ("dltnotes_claiming_docs", notebook and bool(_CHECK_CALL.search(source[0])))):
        docs = getattr(app.env, attr, set())
        docs.discard(docname)
        if member:
            docs.add(docname)
        setattr(app.env, attr, docs)


def _on_purge(app, env, docname):
    for attr in ("dltnotes_ledger_docs", "dltnotes_claiming_docs", "dltnotes_notebook_docs"):
        getattr(env, attr, set()).discard(docname)


def _on_merge(app, env, docnames, other):
    for attr in ("dltnotes_ledger_docs", "dltnotes_claiming_docs", "dltnotes_notebook_docs"):
        setattr(env, attr, getattr(env, attr, set()) | getattr(other, attr, set()))


def _on_get_outdated(app, env, added, changed, removed):
    # the ledger depends on every chapter's execution: rebuild its page every time
    outdated = set(getattr(env, "dltnotes_ledger_docs", set()))
    if getattr(app, "dltnotes_package_changed", False):
        outdated |= getattr(env, "dltnotes_notebook_docs", set())
    return sorted(outdated - set(removed))


def _para(*children):
    para = nodes.paragraph()
    para.extend(children)
    return para


def _table(header, rows, widths):
    table = nodes.table(classes=["claims-ledger"])
    group = nodes.tgroup(cols=len(header))
    table += group
    for w in widths:
        group += nodes.colspec(colwidth=w)
    thead = nodes.thead()
    group += thead
    head_row = nodes.row()
    for text in header:
        head_row += nodes.entry("", _para(nodes.Text(text)))
    thead += head_row
    tbody = nodes.tbody()
    group += tbody
    for cells in rows:
        row = nodes.row()
        for cell in cells:
            row += nodes.entry("", _para(cell))
        tbody += row
    return table


def _strength(rec) -> str:
    """How strong the check is, in words: the rival's distance, the slack of a bound, or the kind alone."""
    if rec.kind in ("close", "slope"):
        return f"rival {rec.rival}"
    if rec.kind == "less" and rec.power is not None:
        return f"margin {rec.power:.1f} SE (rival: no difference)"
    if rec.kind == "less":
        if rec.slack is None:
            return "bound holds (slack not a ratio)"
        if rec.slack >= ILLUSTRATION_SLACK:
            return f"ILLUSTRATION: holds ×{rec.slack:.3g} over"
        return f"slack ×{rec.slack:.3g}"
    if rec.kind in ("exact", "symbolic"):
        return "two routes agree"
    if rec.kind == "planted":
        return "a planted mistake is caught"
    return "unstructured (claim)"


def _counts_table(chapters, ledger, titles):
    header = ["Chapter"] + list(KINDS) + ["illustrations", "total"]
    rows, totals = [], [0] * (len(KINDS) + 2)
    for chapter in chapters:
        recs = ledger[chapter]
        counts = [sum(r.kind == kind for r in recs) for kind in KINDS]
        counts.append(sum(r.kind == "less" and r.power is None and (r.slack or 0) >= ILLUSTRATION_SLACK
                          for r in recs))
        counts.append(len(recs))
        totals = [a + b for a, b in zip(totals, counts)]
        rows.append([nodes.Text(titles(chapter))] + [nodes.Text(str(c)) for c in counts])
    rows.append([nodes.strong("all", "all")] + [nodes.strong(str(c), str(c)) for c in totals])
    return _table(header, rows, [30] + [7] * (len(KINDS) + 2))


def _on_doctree_resolved(app, doctree, docname):
    placeholders = list(doctree.findall(ledger_placeholder))
    if not placeholders:
        return
    env = app.env
    ledger = read_ledger(_ledger_dir(app))
    for chapter in sorted(getattr(env, "dltnotes_claiming_docs", set())):
        if chapter not in ledger:
            logger.warning(
                f"claims ledger: {chapter} makes checked claims but none were recorded; "
                "remove _build/.jupyter_cache and rebuild", location=docname
            )
    chapters = [d for d in env.found_docs if d in ledger]
    order = {d: i for i, d in enumerate(env.toctree_includes and _toc_order(env) or sorted(chapters))}
    chapters.sort(key=lambda d: order.get(d, len(order)))

    def title(chapter):
        return env.titles[chapter].astext() if chapter in env.titles else chapter

    blocks = []
    total = failed = 0
    for chapter in chapters:
        rows = []
        for rec in ledger[chapter]:
            total += 1
            failed += not rec.passed
            if not rec.passed:
                logger.warning(f"claims ledger: failed claim in {chapter}: {rec.statement}", location=docname)
            rows.append([nodes.Text(rec.statement), nodes.Text(rec.kind), nodes.literal(rec.detail, rec.detail),
                         nodes.Text(rec.tolerance), nodes.Text(_strength(rec)),
                         nodes.Text("✔" if rec.passed else "✘ FAILED")])
        ref = nodes.reference("", "", internal=True, refuri=app.builder.get_relative_uri(docname, chapter))
        ref += nodes.strong(title(chapter), title(chapter))
        blocks.append(_para(ref, nodes.Text(f" — {len(rows)} claim{'s' if len(rows) != 1 else ''}")))
        blocks.append(_table(["Claim", "Kind", "Measured", "Tolerance (source)", "Power / slack", "Outcome"],
                             rows, [26, 7, 30, 15, 16, 6]))
    summary = _para(nodes.Text(
        f"{total} claims checked in {len(chapters)} chapters; "
        + ("all passed." if failed == 0 else f"{failed} FAILED.")
    ))
    counts = _counts_table(chapters, ledger, title) if chapters else None
    head = [summary] + ([counts] if counts is not None else [])
    for node in placeholders:
        node.replace_self([h.deepcopy() for h in head] + [b.deepcopy() for b in blocks])


def _toc_order(env):
    """Docnames in reading order (depth-first through the toctree from the root)."""
    seen, out = set(), []

    def visit(doc):
        if doc in seen:
            return
        seen.add(doc)
        out.append(doc)
        for child in env.toctree_includes.get(doc, []):
            visit(child)

    visit(env.config.root_doc)
    return out


def setup(app):
    app.add_node(ledger_placeholder)
    app.add_directive("claims-ledger", ClaimsLedgerDirective)
    app.connect("config-inited", _on_config_inited)
    app.connect("source-read", _on_source_read)
    app.connect("env-purge-doc", _on_purge)
    app.connect("env-merge-info", _on_merge)
    app.connect("env-get-outdated", _on_get_outdated)
    app.connect("doctree-resolved", _on_doctree_resolved)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
