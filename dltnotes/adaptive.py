"""Adaptive gradient methods on least squares, and the data set on which they generalise badly.

Wilson, Roelofs, Stern, Srebro and Recht (2017) built a binary classification problem, solved by least squares,
on which AdaGrad, RMSProp and Adam provably converge to a multiple of ``sign(Xᵀy)`` and misclassify every
negative test point, while gradient descent converges to the minimum-norm interpolant and classifies every test
point correctly. This module holds the pieces of that argument:

* :func:`wilson_data` — the data set (seeded, with the lemma's hypothesis ``n₊ > n₋ ≥ 1`` enforced), and
  :func:`wilson_design`, its design matrix for any labels;
* :func:`adaptive_least_squares` — full-batch GD, AdaGrad, RMSProp and Adam written as plain updates
  (the same conventions as ``torch.optim``), recording the iterates;
* :func:`ray_coefficients` — the scalar recursion that the lemma reduces those methods to, in plain Python;
* :func:`sign_direction`, :func:`min_norm_interpolant`, :func:`wilson_min_norm_closed_form` and
  :func:`classification_error`.

**Conventions.**

* The loss is the *sum* ``L(w) = ½‖Xw − y‖²`` (Wilson et al.'s), with gradient ``Xᵀ(Xw − y)``; every method
  starts at ``w = 0`` and uses the full batch.
* Tensors are float64; rows of ``x`` are examples, ``x (n, d)``, ``y (n,)`` with labels in ``{−1, +1}``.
* ``eps`` is added to the square root of the second-moment estimate, as in ``torch.optim``. With ``eps = 0``
  a coordinate whose gradients have all been zero gets no update (``0/0`` is read as ``0``).

Taught in :ref:`chap-adaptive`.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import NamedTuple

import numpy as np
import torch
from scipy import stats

from ._validate import check_int, check_real, check_tensor
from .runtime import device as default_device

__all__ = [
    "METHODS",
    "WilsonData",
    "wilson_design",
    "wilson_data",
    "AdaptivePath",
    "adaptive_least_squares",
    "ray_coefficients",
    "sign_direction",
    "min_norm_interpolant",
    "MinNormWeights",
    "wilson_min_norm_closed_form",
    "classification_error",
]

#: The methods :func:`adaptive_least_squares` knows, in the order the book lists them.
METHODS = ("gd", "adagrad", "rmsprop", "adam")

#: Private features per training example: one is used by a positive example, all five by a negative one.
BLOCK = 5


# ------------------------------------------------------------------------------------------------ the data set
class WilsonData(NamedTuple):
    """The data set of Wilson et al. (2017), with a fresh test sample.

    ``x (n, d)`` and ``y (n,)``: the training set, ``d = 3 + 5n``; ``x_test (n_test, d)`` and ``y_test (n_test,)``:
    fresh points; ``n_pos``, ``n_neg``: the class counts of the training set; ``p``: ``P(y = +1)``;
    ``p_hypothesis``: the probability that a sample of ``n`` labels satisfies ``n₊ > n₋ ≥ 1``, the event on
    which the training labels are conditioned.
    """

    x: torch.Tensor
    y: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_pos: int
    n_neg: int
    p: float
    p_hypothesis: float


def _hypothesis_probability(n: int, p: float) -> float:
    """``P(n₊ > n₋ ≥ 1)`` for ``n₋ ~ Binomial(n, 1 − p)``: ``1 ≤ n₋ ≤ ⌈n/2⌉ − 1``."""
    top = (n - 1) // 2  # n₋ < n/2
    return float(stats.binom.cdf(top, n, 1 - p) - stats.binom.pmf(0, n, 1 - p)) if top >= 1 else 0.0


def _design(y: np.ndarray) -> np.ndarray:
    n = len(y)
    x = np.zeros((n, 3 + BLOCK * n))
    x[:, 0], x[:, 1:3] = y, 1.0
    for i, label in enumerate(y):
        start = 3 + BLOCK * i
        x[i, start:start + (1 if label > 0 else BLOCK)] = 1.0
    return x


def wilson_design(y) -> torch.Tensor:
    """The design matrix of Wilson et al.'s construction for given labels ``y (n,)`` in ``{−1, +1}``.

    Row ``i`` is ``(y_i, 1, 1)`` followed by ``n`` blocks of five private columns, of which block ``i`` has its
    first entry (``y_i = +1``) or all five (``y_i = −1``) set to 1. Returns ``(n, 3 + 5n)`` with the dtype and
    device of ``y``. Unlike :func:`wilson_data` it imposes nothing on the class counts, so it also builds
    samples that violate the lemma's hypothesis. See :ref:`chap-adaptive`.
    """
    y = check_tensor("y", y, ndim=1, floating=True)
    if y.shape[0] == 0:
        raise ValueError("y is empty")
    if not bool(((y == 1) | (y == -1)).all()):
        raise ValueError("labels must be -1 or +1")
    return torch.as_tensor(_design(y.cpu().numpy()), dtype=y.dtype, device=y.device)


def wilson_data(n: int, p: float = 0.7, *, n_test: int = 0, seed: int = 0, dtype: torch.dtype = torch.float64,
                device=None) -> WilsonData:
    """Draw the data set on which adaptive methods generalise badly (Wilson et al., 2017).

    Labels are ``y_i = +1`` with probability ``p > 1/2`` and ``−1`` otherwise. Example ``i`` has features
    ``x_i1 = y_i``, ``x_i2 = x_i3 = 1`` and a block of five *private* columns ``3 + 5i, …, 3 + 5i + 4`` (0-based)
    of which it sets the first one (``y_i = +1``) or all five (``y_i = −1``) to 1; every other entry is 0.
    So ``d = 3 + 5n`` and four columns of each positive example's block are identically zero.

    The training labels are drawn again until ``n₊ > n₋ ≥ 1`` (the hypothesis of the lemma,
    ``X·sign(Xᵀy) = 4y``, needs ``n₊ > n₋``; gradient descent's perfect test accuracy needs ``n₋ ≥ 1``); the
    probability of that event is returned as ``p_hypothesis``. Test labels are i.i.d. with ``P(y = +1) = p``,
    unconditioned. A test point has ``(y, 1, 1)`` in the first three columns and its private features in columns
    that no training point uses; those columns are left out (every method in this module keeps the weight 0
    there), so a test point is stored as ``(y, 1, 1, 0, …, 0)``.

    Parameters
    ----------
    n : int
        Training examples, ``≥ 3``.
    p : float
        ``P(y = +1)``, in ``(1/2, 1)``.
    n_test : int
        Fresh test points (``≥ 0``).
    seed : int
        Seed of the numpy generator that draws the labels.

    Returns
    -------
    WilsonData
        See :class:`WilsonData`. See :ref:`chap-adaptive`.
    """
    n = check_int("n", n, min_value=3)
    p = check_real("p", p, min_value=0.5, max_value=1.0, min_inclusive=False, max_inclusive=False)
    n_test = check_int("n_test", n_test, min_value=0)
    seed = check_int("seed", seed, min_value=0, max_value=2**32 - 1)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    device = default_device() if device is None else torch.device(device)
    prob = _hypothesis_probability(n, p)
    if prob < 1e-3:
        raise ValueError(f"with n = {n} and p = {p} a sample has n₊ > n₋ ≥ 1 only with probability {prob:.2g}: "
                         "use more examples or a smaller p")
    rng = np.random.default_rng(seed)
    for _ in range(100_000):  # expected tries 1/prob ≤ 1000
        y = np.where(rng.random(n) < p, 1.0, -1.0)
        n_neg = int((y < 0).sum())
        if 1 <= n_neg < n - n_neg:
            break
    else:  # pragma: no cover - probability (1 − 1e-3)^100000
        raise RuntimeError("could not draw labels with n₊ > n₋ ≥ 1")
    x = _design(y)
    y_test = np.where(rng.random(n_test) < p, 1.0, -1.0)
    x_test = np.zeros((n_test, x.shape[1]))
    x_test[:, 0], x_test[:, 1:3] = y_test, 1.0
    as_t = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
    return WilsonData(as_t(x), as_t(y), as_t(x_test), as_t(y_test), n - n_neg, n_neg, p, prob)


# ------------------------------------------------------------------------------------------------- the methods
class AdaptivePath(NamedTuple):
    """Recorded iterates: ``steps (k,)`` (ints, increasing) and ``w (k, d)`` with ``w[i]`` the iterate after
    ``steps[i]`` updates (``steps[i] = 0`` is the start ``w = 0``)."""

    steps: np.ndarray
    w: torch.Tensor


def _check_xy(x, y) -> tuple[torch.Tensor, torch.Tensor]:
    x = check_tensor("x", x, ndim=2, floating=True)
    y = check_tensor("y", y, ndim=1, floating=True)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows but y has {y.shape[0]} entries")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"x must have at least one row and one column, got shape {tuple(x.shape)}")
    if y.dtype != x.dtype or y.device != x.device:
        raise TypeError(f"x and y must share dtype and device, got {x.dtype}/{x.device} and {y.dtype}/{y.device}")
    return x, y


def _check_method(method) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    return method


def _check_record(record_steps, steps: int) -> np.ndarray:
    if record_steps is None:
        return np.arange(steps + 1)
    rec = np.asarray(record_steps)
    if rec.ndim != 1 or rec.size == 0 or rec.dtype.kind not in "iu":
        raise ValueError("record_steps must be a non-empty 1-D sequence of integers")
    if (np.diff(rec) <= 0).any() or rec[0] < 0 or rec[-1] > steps:
        raise ValueError(f"record_steps must increase strictly within [0, steps = {steps}]")
    return rec.astype(int)


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``num / den`` with ``0/0`` read as 0 (a coordinate that has never had a gradient)."""
    return torch.where(den > 0, num / torch.where(den > 0, den, torch.ones_like(den)), torch.zeros_like(num))


def adaptive_least_squares(x, y, method: str, *, lr: float, steps: int, eps: float = 0.0,
                           betas: tuple[float, float] = (0.9, 0.999), alpha: float = 0.99,
                           record_steps=None) -> AdaptivePath:
    """Run a full-batch method on ``L(w) = ½‖Xw − y‖²`` from ``w = 0``; return the recorded iterates.

    With ``g_t = Xᵀ(Xw_{t−1} − y)`` at step ``t = 1, 2, …`` (all operations per coordinate):

    * ``"gd"``: ``w ← w − lr·g``;
    * ``"adagrad"``: ``G ← G + g²``, ``w ← w − lr·g/(√G + eps)`` (Duchi, Hazan and Singer, 2011);
    * ``"rmsprop"``: ``v ← αv + (1 − α)g²``, ``w ← w − lr·g/(√v + eps)`` (Tieleman and Hinton, 2012);
    * ``"adam"``: ``m ← β₁m + (1 − β₁)g``, ``v ← β₂v + (1 − β₂)g²``,
      ``w ← w − lr·m̂/(√v̂ + eps)`` with ``m̂ = m/(1 − β₁ᵗ)``, ``v̂ = v/(1 − β₂ᵗ)`` (Kingma and Ba, 2015).

    These are ``torch.optim``'s ``SGD``, ``Adagrad``, ``RMSprop`` and ``Adam`` with their default options
    (no momentum, weight decay or learning-rate decay). ``eps = 0`` is allowed, and is the setting of
    Wilson et al.'s lemma; a coordinate whose denominator is then 0 has had only zero gradients and is left
    unchanged.

    Parameters
    ----------
    x : torch.Tensor
        Design ``(n, d)``, floating, finite.
    y : torch.Tensor
        Targets ``(n,)``, same dtype and device as ``x``.
    method : str
        One of :data:`METHODS`.
    lr : float
        Step size, ``> 0``.
    steps : int
        Number of updates, ``≥ 0``.
    eps : float
        ``≥ 0``; ignored by ``"gd"``.
    betas, alpha : float
        Adam's ``(β₁, β₂)`` and RMSProp's ``α``, each in ``[0, 1)``.
    record_steps : sequence of int, optional
        Steps after which to record ``w`` (strictly increasing, in ``[0, steps]``); default every step.

    Returns
    -------
    AdaptivePath
        ``steps (k,)`` and ``w (k, d)``. See :ref:`chap-adaptive`.
    """
    x, y = _check_xy(x, y)
    method = _check_method(method)
    lr = check_real("lr", lr, min_value=0.0, min_inclusive=False)
    steps = check_int("steps", steps, min_value=0)
    eps = check_real("eps", eps, min_value=0.0)
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    beta1 = check_real("betas[0]", betas[0], min_value=0.0, max_value=1.0, max_inclusive=False)
    beta2 = check_real("betas[1]", betas[1], min_value=0.0, max_value=1.0, max_inclusive=False)
    alpha = check_real("alpha", alpha, min_value=0.0, max_value=1.0, max_inclusive=False)
    rec = _check_record(record_steps, steps)

    w = torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)
    m, v = torch.zeros_like(w), torch.zeros_like(w)  # first and second moments (v is AdaGrad's sum G)
    out, wanted = [], set(rec.tolist())
    if 0 in wanted:
        out.append(w.clone())
    for t in range(1, steps + 1):
        g = x.T @ (x @ w - y)
        if method == "gd":
            w = w - lr * g
        elif method == "adagrad":
            v = v + g * g
            w = w - lr * _ratio(g, v.sqrt() + eps)
        elif method == "rmsprop":
            v = alpha * v + (1 - alpha) * g * g
            w = w - lr * _ratio(g, v.sqrt() + eps)
        else:
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
            w = w - lr * _ratio(m_hat, v_hat.sqrt() + eps)
        if t in wanted:
            out.append(w.clone())
    return AdaptivePath(rec, torch.stack(out))


def ray_coefficients(method: str, c: float, *, lr: float, steps: int, betas: tuple[float, float] = (0.9, 0.999),
                     alpha: float = 0.99) -> np.ndarray:
    """The scale ``λ_t`` of ``w_t = λ_t·sign(Xᵀy)`` predicted by Wilson et al.'s lemma, from a scalar recursion.

    If ``X·sign(Xᵀy) = c·y`` with ``c > 0``, the gradient at ``λ·sign(Xᵀy)`` is ``(cλ − 1)·Xᵀy``, and each of
    AdaGrad, RMSProp and Adam (``eps = 0``) divides coordinate ``j`` by the root of a weighted sum of
    ``(cλ_k − 1)²(Xᵀy)_j²``: the factor ``|(Xᵀy)_j|`` cancels, and the step is ``sign(Xᵀy)`` times the same
    number for every coordinate. That number is the method's step on the scalar "gradients" ``u_k = cλ_k − 1``,
    computed here in plain Python floats, independently of :func:`adaptive_least_squares`. (For ``"gd"`` the
    iterates do not stay on the ray, so ``"gd"`` is rejected.)

    Parameters
    ----------
    method : str
        ``"adagrad"``, ``"rmsprop"`` or ``"adam"``.
    c : float
        The constant of the lemma, ``> 0``.
    lr, steps, betas, alpha
        As in :func:`adaptive_least_squares`.

    Returns
    -------
    numpy.ndarray
        ``(steps + 1,)``: ``λ_0 = 0, λ_1, …, λ_steps``. See :ref:`chap-adaptive`.
    """
    method = _check_method(method)
    if method == "gd":
        raise ValueError("gradient descent does not stay on the ray sign(Xᵀy): use adaptive_least_squares")
    c = check_real("c", c, min_value=0.0, min_inclusive=False)
    lr = check_real("lr", lr, min_value=0.0, min_inclusive=False)
    steps = check_int("steps", steps, min_value=0)
    beta1 = check_real("betas[0]", betas[0], min_value=0.0, max_value=1.0, max_inclusive=False)
    beta2 = check_real("betas[1]", betas[1], min_value=0.0, max_value=1.0, max_inclusive=False)
    alpha = check_real("alpha", alpha, min_value=0.0, max_value=1.0, max_inclusive=False)
    lam, m, v = 0.0, 0.0, 0.0
    out = [lam]
    for t in range(1, steps + 1):
        u = c * lam - 1.0
        if method == "adagrad":
            v += u * u
            num, den = u, math.sqrt(v)
        elif method == "rmsprop":
            v = alpha * v + (1 - alpha) * u * u
            num, den = u, math.sqrt(v)
        else:
            m = beta1 * m + (1 - beta1) * u
            v = beta2 * v + (1 - beta2) * u * u
            num, den = m / (1 - beta1**t), math.sqrt(v / (1 - beta2**t))
        lam -= lr * (num / den if den > 0 else 0.0)
        out.append(lam)
    return np.array(out)


# --------------------------------------------------------------------------------------- the two interpolants
def sign_direction(x, y) -> torch.Tensor:
    """``sign(Xᵀy)`` ``(d,)``, entries in ``{−1, 0, +1}``: the direction of the adaptive methods' iterates.

    See :ref:`chap-adaptive`.
    """
    x, y = _check_xy(x, y)
    return torch.sign(x.T @ y)


def min_norm_interpolant(x, y) -> torch.Tensor:
    """The minimum-norm solution of ``Xw = y``: ``Xᵀ(XXᵀ)⁻¹y`` ``(d,)``, via a Cholesky solve.

    Requires ``n ≤ d`` and linearly independent rows (``XXᵀ`` positive definite), else ``ValueError``.
    Gradient descent from 0 converges to it (:ref:`chap-implicit-bias`, :ref:`chap-adaptive`).
    """
    x, y = _check_xy(x, y)
    n, d = x.shape
    if n > d:
        raise ValueError(f"an interpolant needs n ≤ d, got n = {n} rows and d = {d} columns")
    chol, info = torch.linalg.cholesky_ex(x @ x.T)
    if int(info) != 0:
        raise ValueError("the rows of x are linearly dependent (XXᵀ is singular): no unique min-norm interpolant")
    return x.T @ torch.cholesky_solve(y[:, None], chol)[:, 0]


class MinNormWeights(NamedTuple):
    """Exact weights of the minimum-norm interpolant of :func:`wilson_data` (fractions).

    ``w1``: on the label feature; ``w2``: on each of the two constant features; ``a_pos``: on the private feature
    of a positive example; ``a_neg``: on each of the five private features of a negative example.
    """

    w1: Fraction
    w2: Fraction
    a_pos: Fraction
    a_neg: Fraction


def wilson_min_norm_closed_form(n_pos: int, n_neg: int) -> MinNormWeights:
    """The minimum-norm interpolant of the Wilson et al. data set in closed form, as exact fractions.

    With ``D = 8n₋n₊ + 3n₋ + 15n₊ + 5``: ``w₁ = (8n₋n₊ + n₋ + 5n₊)/D``, ``w₂ = w₃ = (5n₊ − n₋)/D``, private
    weights ``(4n₋ + 5)/D`` (positive examples) and ``−(4n₊ + 1)/D`` (negative ones). Derived in
    :ref:`chap-adaptive` by solving ``XXᵀα = y`` with ``α`` constant on each class.
    """
    n_pos = check_int("n_pos", n_pos, min_value=0)
    n_neg = check_int("n_neg", n_neg, min_value=0)
    if n_pos + n_neg == 0:
        raise ValueError("the training set is empty (n_pos = n_neg = 0)")
    den = 8 * n_neg * n_pos + 3 * n_neg + 15 * n_pos + 5
    return MinNormWeights(Fraction(8 * n_neg * n_pos + n_neg + 5 * n_pos, den), Fraction(5 * n_pos - n_neg, den),
                          Fraction(4 * n_neg + 5, den), Fraction(-(4 * n_pos + 1), den))


def classification_error(w, x, y) -> float:
    """Fraction of rows with ``sign(x·w) ≠ y`` (a score of exactly 0 counts as an error).

    ``w (d,)``, ``x (n, d)``, ``y (n,)`` in ``{−1, +1}``. See :ref:`chap-adaptive`.
    """
    x, y = _check_xy(x, y)
    w = check_tensor("w", w, ndim=1, floating=True)
    if w.shape[0] != x.shape[1]:
        raise ValueError(f"w has {w.shape[0]} entries but x has {x.shape[1]} columns")
    return float((torch.sign(x @ w.to(x)) != y).double().mean())
