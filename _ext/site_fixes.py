"""Sphinx extension: small fixes that keep the rendered pages free of console errors.

* sphinx-thebe adds its inline configuration script (``const THEBE_JS_URL = …``) once per read phase, so a page can
  carry it twice and the second copy throws "Identifier 'THEBE_JS_URL' has already been declared". Each page's
  scripts are de-duplicated here (same file and same inline body kept once).

* The single-page build behind ``make pdf`` (Sphinx's ``singlehtml`` builder) falls back on the ``html``
  translators only when no extension registered any ``singlehtml`` one; sphinx-exercise does, sphinx-proof does
  not, so theorems had no translator. Every ``html`` node translator is offered to ``singlehtml`` too.

The browser test (``tests/test_site.py``) checks every page for console errors, raw TeX and missing images.
"""

from __future__ import annotations


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        # the file name and the attributes (an inline script's body is one); the priority may differ
        # (an inline script has no file: None or "" depending on which phase added it)
        key = (getattr(js, "filename", js) or "", repr(sorted(getattr(js, "attributes", {}).items())))
        if key in seen:
            continue
        seen.add(key)
        unique.append(js)
    scripts[:] = unique


def _html_translators_for_singlehtml(app):
    if app.builder.name != "singlehtml":
        return
    handlers = app.registry.translation_handlers
    for node, visitors in handlers.get("html", {}).items():
        handlers.setdefault("singlehtml", {}).setdefault(node, visitors)


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("builder-inited", _html_translators_for_singlehtml)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
