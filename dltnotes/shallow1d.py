"""Shallow ReLU networks on the line, seen in function space.

A width-``m`` network with one input, one output and *unregularised* biases is

    f(x) = Σ_i a_i relu(w_i x + b_i) + c,

stored as a :class:`ShallowNet` of four float64 numpy arrays. Savarese et al. (2019) showed that the least
``½ Σ (a_i² + w_i²)`` over all networks (any width) that represent ``f`` is the *representational cost*::

    R(f) = max( ∫|f″|, |f′(−∞) + f′(+∞)| ),

so that the minimum-norm interpolants of data ``(x_i, y_i)`` are the interpolants of least ``R``; the least
value is :func:`min_norm_cost_1d`. This module computes ``R*`` in closed form and by a linear programme over
piecewise-linear functions, builds a balanced network that attains it, and measures the quantities of the
chain ``½‖θ‖² ≥ Σ|a_i||w_i| ≥ R(f_θ) ≥ R*(f_θ(x))`` for any network.

Taught in :ref:`chap-shallow-function-space`.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

__all__ = ["ShallowNet", "FunctionCost", "secant_slopes", "min_norm_cost_1d", "min_norm_cost_lp",
           "min_norm_network", "evaluate", "path_norm", "weight_cost", "function_cost", "balance"]


class ShallowNet(NamedTuple):
    """``f(x) = Σ_i a_i relu(w_i x + b_i) + c``: ``a``, ``w``, ``b`` of shape ``(m,)``, ``c`` a float."""
    a: np.ndarray
    w: np.ndarray
    b: np.ndarray
    c: float


class FunctionCost(NamedTuple):
    """The two terms of Savarese et al.'s cost of a network's function and their maximum ``cost``."""
    tv: float         # ∫|f″| = total variation of f′ (sum of |slope jumps| at the distinct kinks)
    end_sum: float    # |f′(−∞) + f′(+∞)|
    cost: float       # R(f) = max(tv, end_sum)


# --- validation ------------------------------------------------------------------------------------------------

def _vector(name: str, value, *, min_len: int = 1) -> np.ndarray:
    """A finite 1-D float64 array from a sequence, numpy array or tensor; TypeError / ValueError otherwise."""
    if hasattr(value, "detach"):                                    # a torch tensor
        if value.is_complex() or value.dtype.is_floating_point is False and str(value.dtype) == "torch.bool":
            raise TypeError(f"{name} must hold real numbers, got dtype {value.dtype}")
        value = value.detach().cpu().numpy()
    if isinstance(value, (str, bytes)) or isinstance(value, numbers.Number):
        raise TypeError(f"{name} must be a 1-D sequence of real numbers, got {type(value).__name__}")
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype} (from {type(value).__name__})")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size < min_len:
        raise ValueError(f"{name} must have at least {min_len} entries, got {arr.size}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite entries")
    return arr


def _data(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = _vector("x", x, min_len=3), _vector("y", y, min_len=3)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.size} and {y.size}")
    if not (np.diff(x) > 0).all():
        raise ValueError("x must be strictly increasing")
    return x, y


def _net(net) -> ShallowNet:
    if not isinstance(net, ShallowNet):
        raise TypeError(f"net must be a ShallowNet, got {type(net).__name__}")
    a, w, b = _vector("a", net.a), _vector("w", net.w), _vector("b", net.b)
    if not a.shape == w.shape == b.shape:
        raise ValueError(f"a, w, b must have the same length, got {a.size}, {w.size}, {b.size}")
    if isinstance(net.c, bool) or not isinstance(net.c, numbers.Real) or not np.isfinite(net.c):
        raise (TypeError if not isinstance(net.c, numbers.Real) or isinstance(net.c, bool) else ValueError)(
            f"c must be a finite real number, got {net.c!r}")
    return ShallowNet(a, w, b, float(net.c))


# --- the cost of data ------------------------------------------------------------------------------------------

def secant_slopes(x, y) -> np.ndarray:
    """The slopes ``s_i = (y_{i+1} − y_i) / (x_{i+1} − x_i)`` of the linear spline through the data, ``(n−1,)``."""
    x, y = _data(x, y)
    return np.diff(y) / np.diff(x)


def _end_slopes(s: np.ndarray) -> tuple[float, float, float]:
    """Optimal end slopes (α, β) = (f′(−∞), f′(+∞)) and the cost R*, from the secant slopes ``s``."""
    v = float(np.abs(np.diff(s)).sum())
    sigma = float(s[0] + s[-1])
    if abs(sigma) <= v:                       # the end term is dominated: keep the end slopes of the spline
        return float(s[0]), float(s[-1]), v
    d = (abs(sigma) - v) / 2                  # move both end slopes towards 0 by d in total (half each)
    shift = np.sign(sigma) * d / 2
    return float(s[0] - shift), float(s[-1] - shift), (v + abs(sigma)) / 2


def min_norm_cost_1d(x, y) -> float:
    r"""The least representational cost ``R*`` of a function that interpolates ``(x_i, y_i)``.

    With secant slopes ``s_1..s_{n−1}`` (:func:`secant_slopes`), ``V = Σ|s_{i+1} − s_i|`` and
    ``σ = s_1 + s_{n−1}``,

    .. math:: R^*(\text{data}) = \max\big(V,\ (V + |\sigma|)/2\big),

    the minimum over interpolants ``f`` of ``R(f) = max(∫|f″|, |f′(−∞) + f′(+∞)|)`` (Savarese et al. 2019,
    unregularised biases, no skip connection), i.e. half the least squared Euclidean norm of the weights of a
    ReLU network of any width that fits the data exactly. Attained by the linear spline through the data with
    end slopes chosen as in :func:`min_norm_network`.

    Parameters
    ----------
    x, y : array-like (n,)
        Real, finite, ``n ≥ 3``, ``x`` strictly increasing (numpy arrays, sequences or tensors).

    Returns
    -------
    float

    See :ref:`chap-shallow-function-space`; :func:`min_norm_cost_lp` computes the same number by brute force.
    """
    return _end_slopes(secant_slopes(x, y))[2]


def min_norm_cost_lp(x, y, *, knots_per_gap: int = 8, margin: float = 1.0) -> float:
    """``R*`` by brute force: a linear programme over piecewise-linear interpolants with many free knots.

    The unknowns are the values of ``f`` on a grid that contains the data (``knots_per_gap`` extra knots in
    each gap, and as many on each side over a width ``margin`` times the data range) and the two end slopes;
    the programme minimises ``t`` subject to ``t ≥ Σ|slope jumps|``, ``t ≥ ±(f′(−∞) + f′(+∞))`` and
    ``f(x_i) = y_i``. It never uses the closed form; HiGHS solves it to about 1e-9. Slow for large ``n``: a
    reference for :func:`min_norm_cost_1d`. See :ref:`chap-shallow-function-space`.
    """
    from scipy.optimize import linprog

    x, y = _data(x, y)
    if isinstance(knots_per_gap, bool) or not isinstance(knots_per_gap, numbers.Integral) or knots_per_gap < 0:
        raise ValueError(f"knots_per_gap must be an integer >= 0, got {knots_per_gap!r}")
    if isinstance(margin, bool) or not isinstance(margin, numbers.Real) or not margin > 0:
        raise ValueError(f"margin must be a real number > 0, got {margin!r}")
    k = int(knots_per_gap) + 1
    span = (x[-1] - x[0]) * float(margin)
    inner = [np.linspace(x[i], x[i + 1], k + 1)[:-1] for i in range(x.size - 1)]
    grid = np.concatenate([np.linspace(x[0] - span, x[0], k + 1)[:-1], *inner,
                           np.linspace(x[-1], x[-1] + span, k + 1)])
    g = grid.size
    # variables: f(grid) (g), alpha, beta, u (g jumps), t
    nv = g + 2 + g + 1
    ia, ib, iu, it = g, g + 1, g + 2, 2 * g + 2
    h = np.diff(grid)
    # slope on each grid interval as a linear map of f: (g−1, nv)
    slope = np.zeros((g - 1, nv))
    slope[np.arange(g - 1), np.arange(g - 1)] = -1 / h
    slope[np.arange(g - 1), np.arange(1, g)] = 1 / h
    # jumps at every grid point: [s_0 − α, s_1 − s_0, …, β − s_{g−2}]
    jump = np.zeros((g, nv))
    jump[0] = slope[0]
    jump[0, ia] -= 1
    jump[1:-1] = slope[1:] - slope[:-1]
    jump[-1, ib] = 1
    jump[-1] -= slope[-1]
    rows, rhs = [], []
    for sign in (1.0, -1.0):                                 # ±jump_j − u_j ≤ 0
        block = sign * jump
        block[np.arange(g), iu + np.arange(g)] = -1.0
        rows.append(block)
        rhs.append(np.zeros(g))
    tv = np.zeros((1, nv))
    tv[0, iu:iu + g] = 1.0
    tv[0, it] = -1.0                                         # Σu − t ≤ 0
    ends = np.zeros((2, nv))
    ends[:, ia] = ends[:, ib] = [1.0, -1.0]
    ends[:, it] = -1.0                                       # ±(α + β) − t ≤ 0
    a_ub = np.vstack(rows + [tv, ends])
    b_ub = np.concatenate(rhs + [np.zeros(3)])
    a_eq = np.zeros((x.size, nv))
    a_eq[np.arange(x.size), np.searchsorted(grid, x)] = 1.0  # the data are grid points
    cost = np.zeros(nv)
    cost[it] = 1.0
    bounds = [(None, None)] * (g + 2) + [(0, None)] * (g + 1)
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=y, bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"the linear programme failed: {res.message}")
    return float(res.fun)


def min_norm_network(x, y) -> ShallowNet:
    """A balanced network of width ``n + 1`` (at most) that interpolates the data with ``½‖θ‖² = R*``.

    Its function is the linear spline through the data with the end slopes that minimise ``R``: one unit per
    kink at each data point, split between a right-facing (``w > 0``) and a left-facing (``w < 0``) copy so that
    ``f′(+∞)`` and ``f′(−∞)`` come out right, plus, when ``|s_1 + s_{n−1}| > V``, a pair of units that adds a
    linear function. Every unit is balanced (``|a_i| = |w_i|``). See :ref:`chap-shallow-function-space`.
    """
    x, y = _data(x, y)
    s = np.diff(y) / np.diff(x)
    alpha, beta, _ = _end_slopes(s)
    slopes = np.concatenate([[alpha], s, [beta]])
    jumps = np.diff(slopes)                                  # kink at x_i: slope after − slope before
    tv = np.abs(jumps).sum()
    # Split each jump c_i = r_i + l_i with r_i, l_i of the sign of c_i: Σ r_i = β (right-facing units carry
    # f′(+∞)), Σ l_i = β − α − β = −α. Possible when |α + β| ≤ TV, which the optimal end slopes guarantee
    # except for a linear part: take the largest admissible Σ r, and add the rest as u·x = u relu(x) − u relu(−x).
    pos, neg = jumps.clip(min=0).sum(), -jumps.clip(max=0).sum()
    target = float(np.clip(beta, -neg, pos))
    if target >= 0:
        r = jumps.clip(min=0) * (target / pos if pos > 0 else 0.0)
    else:
        r = jumps.clip(max=0) * (target / -neg if neg > 0 else 0.0)
    l_ = jumps - r
    u = beta - target                                        # the linear part still missing at +∞
    # a relu(w (x − t)) with w = ±sqrt(|jump|), a = sign(jump)·sqrt(|jump|): slope jump a|w| = jump.
    a, w, b = [], [], []
    for t, part, facing in [(xi, ri, 1.0) for xi, ri in zip(x, r)] + [(xi, li, -1.0) for xi, li in zip(x, l_)]:
        if part != 0.0:
            root = np.sqrt(abs(part))
            a.append(np.sign(part) * root)
            w.append(facing * root)
            b.append(-facing * root * t)
    if u != 0.0:                                             # u x = u relu(x) − u relu(−x)
        root = np.sqrt(abs(u))
        a += [np.sign(u) * root, -np.sign(u) * root]
        w += [root, -root]
        b += [0.0, 0.0]
    a, w, b = np.array(a), np.array(w), np.array(b)
    del tv
    # the output bias: match y_1
    c = float(y[0] - (a * np.maximum(w * x[0] + b, 0.0)).sum())
    return ShallowNet(a, w, b, c)


# --- the cost of a network -------------------------------------------------------------------------------------

def evaluate(net: ShallowNet, x) -> np.ndarray:
    """``f(x) = Σ a_i relu(w_i x + b_i) + c`` at the points ``x (k,)``; returns ``(k,)`` float64."""
    net = _net(net)
    x = _vector("x", x)
    return np.maximum(np.outer(x, net.w) + net.b, 0.0) @ net.a + net.c


def weight_cost(net: ShallowNet) -> float:
    """``½ Σ (a_i² + w_i²)``: the weight-decay penalty, biases excluded."""
    net = _net(net)
    return 0.5 * float((net.a**2 + net.w**2).sum())


def path_norm(net: ShallowNet) -> float:
    """``Σ |a_i| |w_i|``, the path norm: the penalty after balancing each unit (:func:`balance`)."""
    net = _net(net)
    return float((np.abs(net.a) * np.abs(net.w)).sum())


def function_cost(net: ShallowNet) -> FunctionCost:
    """Savarese et al.'s cost ``R(f) = max(∫|f″|, |f′(−∞) + f′(+∞)|)`` of the function a network computes.

    Read off the weights: a unit with ``w_i ≠ 0`` has a kink at ``−b_i / w_i`` where the slope jumps by
    ``a_i |w_i|``; units with the same kink add their jumps (so cancelling units cost nothing) and
    ``∫|f″|`` is the sum of the absolute jumps. ``f′(+∞) = Σ_{w_i > 0} a_i w_i`` and
    ``f′(−∞) = Σ_{w_i < 0} a_i w_i``. Units with ``w_i = 0`` are constants. Kinks are grouped when they agree
    exactly in floating point. See :ref:`chap-shallow-function-space`.
    """
    net = _net(net)
    a, w, b = net.a, net.w, net.b
    live = w != 0
    kinks = -b[live] / w[live]
    jumps = a[live] * np.abs(w[live])
    order = np.argsort(kinks, kind="stable")
    kinks, jumps = kinks[order], jumps[order]
    starts = np.flatnonzero(np.concatenate([[True], kinks[1:] != kinks[:-1]])) if kinks.size else np.array([], int)
    tv = float(np.abs(np.add.reduceat(jumps, starts)).sum()) if kinks.size else 0.0
    end_sum = abs(float((a * w)[w > 0].sum() + (a * w)[w < 0].sum()))
    return FunctionCost(tv, end_sum, max(tv, end_sum))


def balance(net: ShallowNet) -> ShallowNet:
    """The same function with every unit rescaled to ``|a_i| = |w_i|``: ``(a/γ, γw, γb)``, ``γ = sqrt(|a|/|w|)``.

    ``relu`` is positively homogeneous, so the rescaling leaves ``f`` unchanged and turns
    ``½(a_i² + w_i²)`` into ``|a_i||w_i|`` (AM–GM with equality). Units with ``a_i = 0`` are set to zero;
    units with ``w_i = 0`` (constants ``a_i relu(b_i)``) are moved into ``c``. See
    :ref:`chap-shallow-function-space` (the rescaling symmetry and its conserved quantity).
    """
    net = _net(net)
    a, w, b, c = net.a.copy(), net.w.copy(), net.b.copy(), net.c
    const = w == 0
    c += float((a[const] * np.maximum(b[const], 0.0)).sum())
    dead = const | (a == 0)
    a[dead], w[dead], b[dead] = 0.0, 0.0, 0.0
    live = ~dead
    gamma = np.sqrt(np.abs(a[live]) / np.abs(w[live]))
    a[live], w[live], b[live] = a[live] / gamma, w[live] * gamma, b[live] * gamma
    return ShallowNet(a, w, b, c)
