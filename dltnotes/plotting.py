"""One figure style for the whole book, and the two marks every figure uses: theory as a line,
measurement as points with error bars.

Taught in :ref:`chap-checking-claims`.
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

__all__ = ["COLORS", "use_book_style", "new_figure", "theory_line", "measured_points"]

#: Colour-blind-safe palette (Okabe–Ito), in the order the book uses it.
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")

_STYLE = {
    "figure.figsize": (6.0, 3.6),
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": mpl.cycler(color=COLORS),
    "figure.constrained_layout.use": True,
}


def use_book_style() -> None:
    """Apply the book's matplotlib style (size, fonts, colours, grid) to every later figure."""
    mpl.rcParams.update(_STYLE)


def new_figure(ncols: int = 1, nrows: int = 1, *, width: float | None = None, height: float | None = None):
    """``plt.subplots`` in the book's style; returns ``(fig, axes)`` with ``axes`` a single Axes when 1×1."""
    if not (isinstance(ncols, int) and isinstance(nrows, int)) or ncols < 1 or nrows < 1:
        raise ValueError(f"ncols and nrows must be positive integers, got {ncols!r}, {nrows!r}")
    use_book_style()
    w = width if width is not None else 3.4 * ncols + 0.8
    h = height if height is not None else 3.2 * nrows
    return plt.subplots(nrows, ncols, figsize=(w, h), squeeze=(ncols * nrows == 1))


def theory_line(ax, x, y, *, label: str = "theory", **kwargs):
    """Draw a theoretical curve as a solid line."""
    kwargs.setdefault("color", COLORS[7])
    kwargs.setdefault("lw", 1.5)
    return ax.plot(np.asarray(x), np.asarray(y), label=label, **kwargs)


def measured_points(ax, x, y, yerr=None, *, label: str = "measured", **kwargs):
    """Draw measurements as markers, with error bars (e.g. ±2 standard errors) when ``yerr`` is given."""
    kwargs.setdefault("fmt", "o")
    kwargs.setdefault("ms", 4)
    kwargs.setdefault("capsize", 2)
    return ax.errorbar(np.asarray(x), np.asarray(y), yerr=None if yerr is None else np.asarray(yerr),
                       label=label, **kwargs)
