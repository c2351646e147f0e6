"""Small statistics for checking claims: Monte Carlo means with standard errors, and log–log slopes.

These feed the book's typed checks (:func:`dltnotes.book.check_close`, :func:`~dltnotes.book.check_slope`,
:func:`~dltnotes.book.check_less`). These are the two tolerances the book uses most. A Monte Carlo estimate is compared with theory within a few
standard errors (:func:`mean_se`); a power law ``y ≈ C x^a`` is checked by fitting ``log y`` on ``log x`` and
comparing the slope with ``a`` within a few of the fit's standard errors (:func:`loglog_slope`).

Taught in :ref:`chap-checking-claims`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch

__all__ = ["Estimate", "Slope", "mean_se", "loglog_slope", "proportion_se", "difference_se",
           "samples_for_power"]


class Estimate(NamedTuple):
    """A Monte Carlo mean, its standard error ``std / sqrt(n)`` (``ddof=1``) and the number of samples."""

    mean: float
    se: float
    n: int


class Slope(NamedTuple):
    """An ordinary least-squares line ``log y = intercept + slope · log x`` and the slope's standard error."""

    slope: float
    intercept: float
    se: float


def _as_vector(name: str, values, *, min_len: int) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size < min_len:
        raise ValueError(f"{name} needs at least {min_len} values, got {arr.size}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def mean_se(samples) -> Estimate:
    """Mean and standard error of independent samples (a 1-D array or tensor of at least 2 finite values)."""
    arr = _as_vector("samples", samples, min_len=2)
    return Estimate(float(arr.mean()), float(arr.std(ddof=1) / math.sqrt(arr.size)), int(arr.size))


def loglog_slope(x, y) -> Slope:
    """Fit ``log y = b + a log x`` by least squares; return ``a``, ``b`` and the standard error of ``a``.

    ``x`` and ``y``: 1-D, same length ≥ 3, strictly positive. The standard error is the usual
    ``sqrt(s² / Σ (log x_i − mean)²)`` with ``s²`` the residual variance on ``len(x) − 2`` degrees of freedom;
    it measures how well the points sit on a line, so an exactly straight line has ``se = 0``.
    """
    lx = _as_vector("x", x, min_len=3)
    ly = _as_vector("y", y, min_len=3)
    if lx.size != ly.size:
        raise ValueError(f"x and y must have the same length, got {lx.size} and {ly.size}")
    if (lx <= 0).any() or (ly <= 0).any():
        raise ValueError("x and y must be strictly positive for a log-log fit")
    lx, ly = np.log(lx), np.log(ly)
    sxx = float(((lx - lx.mean()) ** 2).sum())
    if sxx == 0.0:
        raise ValueError("x must take at least two distinct values")
    slope = float(((lx - lx.mean()) * (ly - ly.mean())).sum() / sxx)
    intercept = float(ly.mean() - slope * lx.mean())
    resid = ly - (intercept + slope * lx)
    s2 = float((resid**2).sum() / (lx.size - 2))
    return Slope(slope, intercept, math.sqrt(s2 / sxx))


def proportion_se(p, n) -> float:
    """Binomial standard error ``sqrt(p (1 − p) / n)`` of a proportion ``p`` (e.g. an accuracy) over ``n`` trials.

    ``p`` in ``[0, 1]``, ``n`` a positive integer. At ``p ∈ {0, 1}`` the plug-in SE is 0 and a check against it
    has no tolerance; use ``p = 1/(2n)`` (or compare with a bound) there. Assumes independent trials: accuracies
    of one model on distinct test points are, two models on the *same* points are not (use :func:`mean_se` on
    the paired per-point differences instead).
    """
    from ._validate import check_int, check_real

    p = check_real("p", p, min_value=0.0, max_value=1.0)
    n = check_int("n", n, min_value=1)
    return math.sqrt(p * (1.0 - p) / n)


def difference_se(*ses) -> float:
    """Standard error of a sum or difference of *independent* estimates: ``sqrt(Σ se_i²)``.

    Each ``se_i`` finite and ``≥ 0``, at least one. For estimates on the same samples (paired), the SE of the
    difference is smaller or larger depending on the correlation: compute it from the paired differences.
    """
    from ._validate import check_real

    if not ses:
        raise ValueError("difference_se needs at least one standard error")
    return math.sqrt(sum(check_real(f"se[{i}]", s, min_value=0.0) ** 2 for i, s in enumerate(ses)))


def samples_for_power(sd, expected, rival, *, k=4.0) -> int:
    """The number of samples a ``k``-SE check of a mean needs to tell ``expected`` from ``rival``.

    Returns the smallest integer ``n`` with ``|expected − rival| ≥ 2k · sd / √n``, i.e.
    ``ceil((2k · sd / |expected − rival|)²)``. At that ``n`` the windows of ``k`` standard errors around the two
    values do not overlap: whichever theory is right, the check accepts it and rejects the other except with
    probability at most ``1/k²`` (Chebyshev; under a normal approximation about ``2(1 − Φ(k))`` for the true
    value and ``1 − Φ(k)`` for the rival). Derived in :ref:`chap-checking-claims`.

    Parameters
    ----------
    sd : float
        Standard deviation of one sample (for a proportion ``q``: ``sqrt(q (1 − q))``); finite, ``> 0``.
    expected, rival : float
        The theory's value and the value a plausible wrong theory predicts; finite and different.
    k : float
        The tolerance in standard errors (``> 0``; default 4, the typed checks' default).
    """
    from ._validate import check_real

    sd = check_real("sd", sd, min_value=0.0, min_inclusive=False)
    expected, rival = check_real("expected", expected), check_real("rival", rival)
    k = check_real("k", k, min_value=0.0, min_inclusive=False)
    if expected == rival:
        raise ValueError(f"rival equals expected ({expected}): no sample size tells a value from itself")
    n = (2.0 * k * sd / abs(expected - rival)) ** 2
    return max(1, math.ceil(n * (1.0 - 1e-12)))  # an exact integer stays itself despite round-off
