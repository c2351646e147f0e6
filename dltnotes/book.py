"""The bridge between a chapter's code and the rendered book: checked claims and glued numbers.

:func:`claim` is how a chapter states a result it has just checked. It prints the claim, records it for the
book's claims ledger, and **raises** :class:`ClaimFailed` when the check failed, so a false claim stops the
notebook (and with it the test suite and the book build)::

    claim("PL ⇒ linear rate", rate <= bound, f"max per-step contraction {rate:.4f} ≤ {bound:.4f}")

Recording is active only while the book is built: the build's Sphinx extension (``_ext/claims_ledger.py``)
sets ``DLTNOTES_LEDGER_DIR`` and ``DLTNOTES_DOCNAME`` before it executes each chapter, each claim is appended
to ``<ledger dir>/<docname>.jsonl``, and the ledger page reads them back with :func:`read_ledger`. Elsewhere
(Colab, pytest) :func:`claim` checks and prints, and writes nothing.

:func:`glue` hands a number to the prose (``{glue:text}`name:.3f```) through myst-nb, and degrades to a
no-op where myst-nb is not installed (a reader's Colab session).

Taught in :ref:`chap-checking-claims`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from ._validate import check_bool

__all__ = ["Claim", "ClaimFailed", "claim", "read_ledger", "glue"]

LEDGER_DIR_VAR = "DLTNOTES_LEDGER_DIR"
DOCNAME_VAR = "DLTNOTES_DOCNAME"

_started: set[Path] = set()  # ledger files this process has already truncated


class Claim(NamedTuple):
    """One checked claim: the ``statement``, whether it ``passed``, the ``detail`` (check and measured values)
    and the ``chapter`` (Sphinx docname) that made it, or ``None`` outside a book build."""

    statement: str
    passed: bool
    detail: str
    chapter: str | None


class ClaimFailed(AssertionError):
    """Raised by :func:`claim` when the check behind a claim fails."""


def _ledger_file(chapter: str) -> Path | None:
    directory = os.environ.get(LEDGER_DIR_VAR, "").strip()
    if not directory:
        return None
    return Path(directory) / (chapter.replace("/", "__") + ".jsonl")


def claim(statement: str, passed, detail: str = "") -> None:
    """Record a checked claim; raise :class:`ClaimFailed` if ``passed`` is false.

    Prints the claim and returns ``None`` (so a cell ending with a claim shows only the printed line). During a
    book build the :class:`Claim` record is appended to the chapter's ledger file.

    Parameters
    ----------
    statement : str
        The claim in words, e.g. ``"PL ⇒ linear rate"``. Must not be empty.
    passed : bool
        The outcome of the check (a Python, numpy or one-element torch bool). Anything else raises
        ``TypeError``: ``claim(..., tensor_of_many_bools)`` is a bug, not a claim.
    detail : str
        What was compared and the measured values, e.g. ``"max contraction 0.9871 ≤ bound 0.9902"``.
    """
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError(f"statement must be a non-empty string, got {statement!r}")
    if not isinstance(detail, str):
        raise TypeError(f"detail must be a string, got {type(detail).__name__}")
    passed = check_bool("passed", passed)
    chapter = os.environ.get(DOCNAME_VAR, "").strip() or None
    record = Claim(statement.strip(), passed, detail, chapter)
    path = _ledger_file(chapter) if chapter else None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = "a" if path in _started else "w"  # a fresh execution replaces the chapter's old claims
        _started.add(path)
        with path.open(mode, encoding="utf-8") as fh:
            fh.write(json.dumps(record._asdict(), ensure_ascii=False) + "\n")
    mark = "✔" if passed else "✘"
    print(f"{mark} {record.statement}" + (f" — {detail}" if detail else ""))
    if not passed:
        raise ClaimFailed(f"claim failed: {record.statement}" + (f" ({detail})" if detail else ""))


def read_ledger(directory) -> dict[str, list[Claim]]:
    """Read every ``*.jsonl`` ledger file under ``directory``; return ``{docname: [Claim, …]}`` in file order.

    A missing directory gives an empty dict. A malformed line raises ``ValueError`` naming the file.
    """
    directory = Path(directory)
    ledger: dict[str, list[Claim]] = {}
    if not directory.is_dir():
        return ledger
    for path in sorted(directory.glob("*.jsonl")):
        records = []
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(Claim(**json.loads(line)))
            except (json.JSONDecodeError, TypeError) as err:
                raise ValueError(f"{path}:{lineno}: not a claim record ({err})") from None
        if records:
            ledger[records[0].chapter or path.stem.replace("__", "/")] = records
    return ledger


def glue(name: str, value, *, display: bool = False) -> None:
    """Store ``value`` under ``name`` for the prose (myst-nb's ``glue``).

    Returns ``None``, so a cell that ends with ``glue(...)`` shows no stray output. numpy scalars and one-element
    tensors are stored as Python numbers. Where myst-nb is not installed (e.g. on Colab) nothing is stored.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"glue names must be identifiers (letters, digits, _), got {name!r}")
    try:
        from myst_nb import glue as _glue
    except ImportError:  # a reader's Colab session: the prose is not rendered there
        return None
    _glue(name, _plain(value), display=display)
    return None


def _plain(value):
    """numpy scalars and one-element tensors as Python numbers, so ``{glue:text}`x:.3f``` can format them."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    return value
