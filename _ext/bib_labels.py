"""Sphinx extension: bibliography labels that are unique across the whole book.

The book cites author–year in the text and lists each chapter's references under alpha labels (``[ADH+19]``).
pybtex makes alpha labels unique only within one list, so two works whose labels coincide (Arora, Du, Hu et al.
2019 twice) got the same label in different chapters, and the same label twice on the Bibliography page. This
style computes the alpha label of every entry of ``references.bib`` once and gives each member of a clash a
letter (``ADH+19a``, ``ADH+19b``, in key order), the same in every list.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from pybtex.plugin import register_plugin
from pybtex.style.formatting.alpha import Style as AlphaStyle
from pybtex.style.labels.alpha import LabelStyle as AlphaLabelStyle

_SUFFIX: dict[str, str] = {}


class UniqueAlphaLabels(AlphaLabelStyle):
    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            yield self.format_label(entry) + _SUFFIX.get(entry.key, "")


class Style(AlphaStyle):
    default_label_style = "dltnotes-unique"


def _compute_suffixes(bibfile: Path) -> None:
    from pybtex.database import parse_file

    labels = AlphaLabelStyle()
    groups = defaultdict(list)
    for key, entry in parse_file(str(bibfile)).entries.items():
        groups[labels.format_label(entry)].append(key)
    _SUFFIX.clear()
    for keys in groups.values():
        if len(keys) > 1:
            _SUFFIX.update({key: "abcdefghijklmnopqrstuvwxyz"[i] for i, key in enumerate(sorted(keys))})


def setup(app):
    register_plugin("pybtex.style.labels", "dltnotes-unique", UniqueAlphaLabels)
    register_plugin("pybtex.style.formatting", "dltnotes", Style)
    _compute_suffixes(Path(app.srcdir) / "references.bib")
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
