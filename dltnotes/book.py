"""The bridge between a chapter's code and the rendered book: checked claims and glued numbers.

A chapter states a result it has just checked with one of the **typed checks**. Each prints the claim, records it
for the book's claims ledger and **raises** :class:`ClaimFailed` (an ``AssertionError``) when the check fails, so a
false claim stops the notebook (and with it the test suite and the book build). The kind of check is recorded, so
the ledger can show how strong each one is:

* :func:`check_exact` — an identity or closed form computed by two independent routes, within a round-off
  tolerance whose source is stated (``why``);
* :func:`check_symbolic` — an identity that sympy proves: the difference of the two sides simplifies to zero;
* :func:`check_close` — a statistical estimate against the theory's value within ``k`` standard errors, with a
  stated **rival** (the value a plausible wrong theory predicts) that the same check must reject;
* :func:`check_slope` — a rate: the slope of a log–log fit, judged like :func:`check_close`;
* :func:`check_less` — an inequality (a bound, an ordering) or a difference of two estimates by more than ``k``
  standard errors; the ledger shows the slack, so a bound that holds by a factor of 100 reads as an illustration;
* :func:`expect_failure` — a planted mistake (a wrong theory, a wrong exponent) is caught by the check inside.

:func:`claim` remains for what fits none of these (its kind in the ledger is "other")::

    check_slope("MC error decays like n^(-1/2)", sizes, rms, -0.5, rival=-1.0)

Recording is active only while the book is built: the build's Sphinx extension (``_ext/claims_ledger.py``)
sets ``DLTNOTES_LEDGER_DIR`` and ``DLTNOTES_DOCNAME`` before it executes each chapter, each claim is appended
to ``<ledger dir>/<docname>.jsonl``, and the ledger page reads them back with :func:`read_ledger`. Elsewhere
(Colab, pytest) the checks print and raise, and write nothing.

:func:`glue` hands a number to the prose (``{glue:text}`name:.3f```) through myst-nb, and degrades to a
no-op where myst-nb is not installed (a reader's Colab session).

Taught in :ref:`chap-checking-claims`.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from ._validate import check_array, check_bool, check_real

__all__ = ["Claim", "ClaimFailed", "KINDS", "claim", "check_exact", "check_symbolic", "check_close",
           "check_slope", "check_less", "expect_failure", "read_ledger", "glue"]

LEDGER_DIR_VAR = "DLTNOTES_LEDGER_DIR"
DOCNAME_VAR = "DLTNOTES_DOCNAME"

#: The kinds of check, in the order the ledger lists them.
KINDS = ("exact", "symbolic", "close", "slope", "less", "planted", "other")

#: A bound that holds with this much to spare (larger / smaller) is shown as an illustration in the ledger.
ILLUSTRATION_SLACK = 100.0

_started: set[Path] = set()  # ledger files this process has already truncated
_suspended = 0  # > 0 inside expect_failure(): the planted check prints but is not recorded


class Claim(NamedTuple):
    """One checked claim as the ledger stores it.

    ``statement``: the claim in words; ``passed``: its outcome; ``detail``: what was compared, with the measured
    values; ``chapter``: the Sphinx docname that made it (``None`` outside a book build); ``kind``: one of
    :data:`KINDS`; ``tolerance``: the tolerance and where it comes from; ``rival``: for statistical checks, the
    rival value and how many standard errors it lies from the measurement; ``power``: that number of standard
    errors (``None`` where there is no rival); ``slack``: for :func:`check_less`, ``larger / smaller`` (bounds)
    or the margin in standard errors (comparisons of estimates), else ``None``.
    """

    statement: str
    passed: bool
    detail: str
    chapter: str | None
    kind: str = "other"
    tolerance: str = ""
    rival: str = ""
    power: float | None = None
    slack: float | None = None


class ClaimFailed(AssertionError):
    """Raised by every check (and :func:`claim`) when the check behind a claim fails."""


def _ledger_file(chapter: str) -> Path | None:
    directory = os.environ.get(LEDGER_DIR_VAR, "").strip()
    if not directory:
        return None
    return Path(directory) / (chapter.replace("/", "__") + ".jsonl")


def _statement(statement) -> str:
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError(f"statement must be a non-empty string, got {statement!r}")
    return statement.strip()


def _record(statement: str, passed: bool, detail: str, **fields) -> None:
    """Print, record (during a book build) and raise :class:`ClaimFailed` when ``passed`` is false."""
    chapter = os.environ.get(DOCNAME_VAR, "").strip() or None
    record = Claim(statement, passed, detail, chapter, **fields)
    path = _ledger_file(chapter) if chapter and not _suspended else None
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        mode = "a" if path in _started else "w"  # a fresh execution replaces the chapter's old claims
        _started.add(path)
        with path.open(mode, encoding="utf-8") as fh:
            fh.write(json.dumps(record._asdict(), ensure_ascii=False) + "\n")
    mark = "✔" if passed else "✘"
    tag = f"[{record.kind}] " if record.kind != "other" else ""
    print(f"{mark} {tag}{statement}" + (f" — {detail}" if detail else ""))
    if not passed:
        raise ClaimFailed(f"claim failed: {statement}" + (f" ({detail})" if detail else ""))


def claim(statement: str, passed, detail: str = "") -> None:
    """Record a checked claim that fits none of the typed checks; raise :class:`ClaimFailed` if it is false.

    Prefer :func:`check_exact`, :func:`check_symbolic`, :func:`check_close`, :func:`check_slope` or
    :func:`check_less`: the ledger shows their strength. Returns ``None`` (a cell ending with a claim shows only
    the printed line); during a book build the :class:`Claim` record (kind ``"other"``) is appended to the
    chapter's ledger file.

    Parameters
    ----------
    statement : str
        The claim in words, e.g. ``"the attack's iterates stay in the box"``. Must not be empty.
    passed : bool
        The outcome of the check (a Python, numpy or one-element torch bool). Anything else raises
        ``TypeError``: ``claim(..., tensor_of_many_bools)`` is a bug, not a claim.
    detail : str
        What was compared and the measured values.
    """
    statement = _statement(statement)
    if not isinstance(detail, str):
        raise TypeError(f"detail must be a string, got {type(detail).__name__}")
    passed = check_bool("passed", passed)
    _record(statement, passed, detail, kind="other")


# --- scalar and array arguments ------------------------------------------------------------------------------

def _scalar(name: str, value) -> float:
    """A finite real number from a Python, numpy or one-element torch value; ``TypeError``/``ValueError`` else."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"{name} must be a single number, got a tensor of shape {tuple(value.shape)}")
        if value.dtype == torch.bool or value.is_complex():
            raise TypeError(f"{name} must be a real number, got a tensor of dtype {value.dtype}")
        value = value.item()
    elif isinstance(value, np.ndarray):
        if value.size != 1:
            raise ValueError(f"{name} must be a single number, got an array of shape {value.shape}")
        value = value.reshape(()).item()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} ({value!r})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _array(name: str, value) -> np.ndarray:
    """A finite float64 array from a number, a sequence, a numpy array or a tensor."""
    return check_array(name, value)


def _k(k) -> float:
    return check_real("k", k, min_value=0.0, min_inclusive=False)


def _detail(detail) -> str:
    if not isinstance(detail, str):
        raise TypeError(f"detail must be a string, got {type(detail).__name__}")
    return detail.strip()


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _g(x: float) -> str:
    return f"{x:.4g}"


# --- the typed checks ----------------------------------------------------------------------------------------

def check_exact(statement: str, actual, expected, *, rtol, atol=0.0, why: str, detail: str = "") -> None:
    """An identity or closed form, computed by two independent routes, agrees to a round-off tolerance.

    Passes when ``|actual − expected| ≤ atol + rtol·|expected|`` for every entry (numpy's ``isclose`` rule).
    ``actual`` and ``expected`` must come from *different* computations (a closed form against a solver, a
    simulation's exact expectation against its sum, sympy against floating point); the same formula twice proves
    nothing.

    Parameters
    ----------
    statement : str
        The identity in words.
    actual, expected : number, array or tensor
        Finite values of equal shape (or numbers).
    rtol, atol : float
        Relative and absolute tolerance, ``≥ 0`` and not both zero.
    why : str
        Where the tolerance comes from: float64 round-off times a condition number, a quadrature error, a
        truncation of a series. Shown in the ledger.
    detail : str
        Optional context for the ledger.
    """
    statement = _statement(statement)
    a, e = _array("actual", actual), _array("expected", expected)
    if a.shape != e.shape:
        raise ValueError(f"actual and expected must have the same shape, got {a.shape} and {e.shape}")
    rtol = check_real("rtol", rtol, min_value=0.0)
    atol = check_real("atol", atol, min_value=0.0)
    if rtol == 0.0 and atol == 0.0:
        raise ValueError("rtol and atol are both 0: give the round-off tolerance the two routes can meet")
    if not isinstance(why, str) or not why.strip():
        raise ValueError("why must say where the tolerance comes from (conditioning, round-off, quadrature, …)")
    abs_err = np.abs(a - e)
    passed = bool((abs_err <= atol + rtol * np.abs(e)).all())
    worst = float(abs_err.max())
    largest = float(np.abs(e).max())
    rel = f"{worst / largest:.2e}" if largest > 0 else "n/a"  # relative to the largest |expected|
    values = (f"{_g(float(a.reshape(-1)[0]))} vs {_g(float(e.reshape(-1)[0]))}" if a.size == 1
              else f"{a.size} entries")
    tol = _join(f"rtol {rtol:.1e}" if rtol else "", f"atol {atol:.1e}" if atol else "")
    _record(statement, passed, _join(f"{values}: max |Δ| = {worst:.2e} ({rel} of max |expected|)", _detail(detail)),
            kind="exact", tolerance=f"{tol} ({why.strip()})")


def check_symbolic(statement: str, lhs, rhs=0, *, detail: str = "") -> None:
    """sympy proves an identity: ``simplify(lhs − rhs)`` is exactly zero.

    ``lhs`` and ``rhs`` are sympy expressions or matrices (or numbers). The check is symbolic, so there is no
    tolerance: a wrong identity leaves a non-zero remainder, which is printed. Write the derivation step by
    step in the chapter so that ``lhs`` is what the steps produce and ``rhs`` is what the statement says.
    """
    import sympy as sp

    statement = _statement(statement)
    lhs, rhs = sp.sympify(lhs), sp.sympify(rhs)
    if isinstance(lhs, sp.MatrixBase) and not isinstance(rhs, sp.MatrixBase) and rhs == 0:
        rhs = sp.zeros(*lhs.shape)                            # the default rhs = 0 for a matrix identity
    try:
        diff = sp.simplify(lhs - rhs)
    except (sp.SympifyError, TypeError) as err:
        raise TypeError(f"lhs and rhs must be sympy expressions or matrices of equal shape ({err})") from None
    zero = diff.is_zero_matrix if isinstance(diff, sp.MatrixBase) else diff == 0
    passed = bool(zero)
    remainder = "0" if passed else str(diff)
    if len(remainder) > 200:
        remainder = remainder[:200] + "…"
    _record(statement, passed, _join(f"simplify(lhs − rhs) = {remainder}", _detail(detail)),
            kind="symbolic", tolerance="exact (sympy)")


def _judge(kind: str, statement: str, measured: float, expected: float, se: float, rival: float, k: float,
           what: str, detail: str) -> None:
    if rival == expected:
        raise ValueError(f"rival equals expected ({expected}): name the value a wrong theory would predict")
    power = abs(measured - rival) / se
    z = abs(measured - expected) / se
    if power <= k:
        verdict = (f" The measurement is {z:.1f} SE from the theory's {expected:.4g} and agrees with the rival: "
                   "the theory may be wrong." if z > k else "")
        raise ValueError(
            f"{statement!r}: the check has no power: the rival {rival:.4g} lies {power:.2f} SE from the "
            f"measurement {measured:.4g} (SE {se:.3g}), within the tolerance of {k:g} SE, so the same check "
            f"would accept it. Reduce the standard error (more samples, seeds or sizes) or restate the claim."
            + verdict)
    passed = z <= k
    _record(statement, passed,
            _join(f"{what} {_g(measured)} ± {se:.2g} vs theory {_g(expected)}: {z:.2f} SE", detail),
            kind=kind, tolerance=f"{k:g}·SE = {k * se:.2g}", rival=f"{_g(rival)}: {power:.1f} SE away",
            power=power)


def check_close(statement: str, measured, expected, *, se, rival, k: float = 4.0, detail: str = "") -> None:
    """A statistical estimate agrees with the theory's value within ``k`` standard errors, and rejects a rival.

    Passes when ``|measured − expected| ≤ k·se``. ``rival`` is the value a plausible wrong theory predicts (the
    competing formula, the baseline's number, zero effect). If ``|measured − rival| ≤ k·se`` the same check would
    also accept the rival: the call then raises ``ValueError`` (the check has no power) before any verdict.

    A ``k``-SE tolerance bounds how often a *true* claim fails (at most ``1/k²`` by Chebyshev, about ``6e-5`` for
    ``k = 4`` under a normal approximation); the rival is what makes the check able to catch a *false* one.

    Parameters
    ----------
    measured, expected, rival : number
        Finite scalars (Python, numpy or one-element torch); ``rival ≠ expected``.
    se : number
        The standard error of ``measured`` (finite, ``> 0``).
    k : float
        The tolerance in standard errors (``> 0``; default 4).
    """
    statement = _statement(statement)
    measured, expected = _scalar("measured", measured), _scalar("expected", expected)
    rival, se = _scalar("rival", rival), _scalar("se", se)
    if se <= 0:
        raise ValueError(f"se must be > 0, got {se}")
    _judge("close", statement, measured, expected, se, rival, _k(k), "measured", _detail(detail))


def check_slope(statement: str, x, y, expected, *, rival, k: float = 4.0, detail: str = ""):
    """A rate: the least-squares slope of ``log y`` on ``log x`` is ``expected`` within ``k`` of its SEs.

    Judged like :func:`check_close` with the fit's standard error (see :func:`dltnotes.stats.loglog_slope`),
    ``rival`` being the nearest competing exponent. The standard error measures the scatter of the points about
    the line; a systematic curvature (a finite-size bias) is not in it, so use sizes where the asymptotics hold.
    ``x`` and ``y`` are 1-D, of equal length ≥ 3, positive and finite.

    Returns the :class:`~dltnotes.stats.Slope` of the fit.
    """
    from .stats import loglog_slope

    statement = _statement(statement)
    fit = loglog_slope(x, y)
    expected, rival = _scalar("expected", expected), _scalar("rival", rival)
    if not fit.se > 1e-10:  # round-off of logs: the points lie on a line
        raise ValueError("the points lie exactly on a line (slope SE = 0): check the exponent with check_exact")
    _judge("slope", statement, fit.slope, expected, fit.se, rival, _k(k), f"slope ({len(np.asarray(x))} pts)",
           _detail(detail))
    return fit


def check_less(statement: str, smaller, larger, *, se=0.0, k: float = 4.0, detail: str = "") -> None:
    """An inequality: a bound or an ordering (``se = 0``), or a difference of two estimates (``se > 0``).

    With ``se = 0`` it passes when ``smaller ≤ larger``, and the ledger shows the slack ``larger / smaller``
    (for positive values; else the difference): a bound that holds with a factor of 100 to spare is marked as
    an illustration, not as evidence. With ``se > 0`` (the standard error of ``larger − smaller``) it passes
    when ``larger − smaller > k·se``, and the ledger shows the margin in standard errors.
    """
    statement = _statement(statement)
    smaller, larger = _scalar("smaller", smaller), _scalar("larger", larger)
    se = _scalar("se", se)
    if se < 0:
        raise ValueError(f"se must be ≥ 0, got {se}")
    k = _k(k)
    detail = _detail(detail)
    if se == 0:
        passed = smaller <= larger
        slack = larger / smaller if smaller > 0 else None
        how = f"slack ×{slack:.3g}" if slack is not None else f"margin {_g(larger - smaller)}"
        _record(statement, passed, _join(f"{_g(smaller)} ≤ {_g(larger)} ({how})", detail),
                kind="less", tolerance="none (an inequality)", slack=slack)
    else:
        margin = (larger - smaller) / se
        _record(statement, margin > k,
                _join(f"{_g(larger)} − {_g(smaller)} = {_g(larger - smaller)} = {margin:.2f} SE", detail),
                kind="less", tolerance=f"difference > {k:g}·SE = {k * se:.2g}", rival="no difference: "
                f"{margin:.1f} SE away", power=margin, slack=margin)


class expect_failure:
    """A planted mistake must be caught: the check inside the block has to raise :class:`ClaimFailed`.

    Shows that a check has power in practice: run it against a deliberately wrong theory and record that it
    failed. Inside the block the planted check prints as usual but is not written to the ledger; on leaving the
    block one record of kind ``"planted"`` is written: passed when the planted check raised ``ClaimFailed``,
    failed (and ``ClaimFailed`` raised) when it did not. Any other exception (e.g. the ``ValueError`` of a check
    without power) propagates unchanged::

        with expect_failure("a wrong rate is rejected"):
            check_slope("error decays like n^(-1)", sizes, rms, -1.0, rival=-0.5)
    """

    def __init__(self, statement: str, detail: str = ""):
        self.statement = _statement(statement)
        self.detail = _detail(detail)

    def __enter__(self):
        global _suspended
        _suspended += 1
        return self

    def __exit__(self, exc_type, exc, tb):
        global _suspended
        _suspended -= 1
        if exc_type is not None and not issubclass(exc_type, ClaimFailed):
            return False
        caught = exc_type is not None
        what = f"the planted check failed as it must ({exc})" if caught else "the planted check PASSED"
        _record(self.statement, caught, _join(what, self.detail), kind="planted",
                tolerance="the check inside must raise ClaimFailed")
        return True  # the planted ClaimFailed is consumed; a missing one was raised by _record


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
