"""Measuring optimisation: curvature, PL constants, max-margin directions and gradient-descent paths.

**Conventions.**

* Parameters are handled as one flat float vector ``w`` of length ``m``; :func:`functional_model` turns a torch
  model into ``(w0, apply)`` with ``apply(w, x)`` the model's outputs at parameters ``w``.
* The square loss of a model ``F`` on ``(x, y)`` is the *sum* ``L(w) = ½‖F(w) − y‖²`` (the convention of Liu,
  Zhu and Belkin), so that ``∇L = ∇Fᵀ r`` and ``½‖∇L‖² = ½ rᵀ K r`` with ``r = F(w) − y`` and ``K = ∇F ∇Fᵀ``.
* Linear models ``f(x) = x·w`` have no bias term. Their losses (:func:`linear_gd`) are *means* over the sample,
  and labels for ``"logistic"`` and ``"exponential"`` are in ``{−1, +1}``.
* For least squares, ``L(w) = (1/2n)‖Xw − y‖²`` and ridge adds ``(λ/2)‖w‖²``; gradient descent starts at ``0``.
* Two-layer ReLU networks (:func:`relu_net_gd`) are ``f(x) = Σ_j a_j relu(w_j·x)`` (optionally with biases), trained
  on the *mean* exponential loss ``L = (1/n) Σ_i exp(−y_i f(x_i))``; ``ρ² = ‖θ‖²`` sums the squares of all
  parameters.

Taught in :ref:`chap-pl` (curvature, PL), :ref:`chap-pl-guarantees` (the ball, SGD, narrow networks) and
:ref:`chap-implicit-bias` (margins, least-squares paths, the gradient flow in ``log t``, the smoothed margin of a
homogeneous network).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from scipy import integrate, optimize
from scipy.special import expit
from torch import nn
from torch.func import functional_call, grad

from ._validate import check_int, check_real, check_tensor

__all__ = [
    "functional_model",
    "hessian_spectral_norm",
    "GDTrace",
    "square_loss_gd_trace",
    "angle",
    "MaxMargin",
    "max_margin_direction",
    "linear_gd",
    "gd_least_squares",
    "ridge",
    "expected_parameter_risk",
    "sgd_least_squares_expected_loss",
    "sgd_least_squares_runs",
    "two_layer_gd_ensemble",
    "separable_flow_log_time",
    "MarginTrace",
    "relu_net_gd",
    "smoothed_margin",
]


# ----------------------------------------------------------------------------------------------- flat parameters
def functional_model(model: nn.Module) -> tuple[torch.Tensor, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
    """Flatten a model's parameters: return ``(w0, apply)`` with ``apply(w, x) = model(x)`` at parameters ``w``.

    ``w0`` is a detached copy ``(m,)`` of the current parameters (in their order in ``model.parameters()``);
    ``apply`` is differentiable in ``w`` (``torch.func`` transforms included) and does not modify the model.
    See :ref:`chap-pl`.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    named = list(model.named_parameters())
    if not named:
        raise ValueError("model has no parameters")
    names, shapes = [k for k, _ in named], [v.shape for _, v in named]
    sizes = [math.prod(s) for s in shapes]
    w0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).clone()

    def apply(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        chunks = torch.split(w, sizes)
        return functional_call(model, {k: c.reshape(s) for k, c, s in zip(names, chunks, shapes)}, (x,))

    return w0, apply


def hessian_spectral_norm(fn: Callable[[torch.Tensor], torch.Tensor], w: torch.Tensor, *, max_steps: int = 100,
                          tol: float = 1e-9, seed: int = 0) -> float:
    """The spectral norm ``max |λ(∇²fn(w))|`` of the Hessian of a scalar function, by Lanczos on Hessian-vector products.

    The Hessian is never formed. Lanczos (with full reorthogonalisation) builds a Krylov basis from a random
    start, one double-backward Hessian-vector product per step, and returns the largest absolute Ritz
    value. It stops when that value changes by less than ``tol`` (relative) from one step to the next, after
    ``max_steps`` steps, or when the Krylov space is exhausted (then the answer is exact up to round-off). The
    Ritz value never exceeds the true norm, and it converges fast unless many eigenvalues crowd the top.

    Parameters
    ----------
    fn : callable
        ``fn(w) -> scalar tensor``, twice differentiable by ``torch.func`` (see :func:`functional_model`).
    w : torch.Tensor
        The point ``(m,)``, floating and finite; use float64 for a precise answer.
    max_steps : int
        Most Lanczos steps (Hessian-vector products), at least 1.
    tol : float
        Relative change of the estimate at which to stop (0 < tol < 1).
    seed : int
        Seed of the start vector.

    Returns
    -------
    float
        The estimate of ``‖∇²fn(w)‖₂``. See :ref:`chap-pl`.
    """
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    check_tensor("w", w, ndim=1, floating=True)
    max_steps = check_int("max_steps", max_steps, min_value=1)
    tol = check_real("tol", tol, min_value=0.0, max_value=1.0, min_inclusive=False, max_inclusive=False)
    seed = check_int("seed", seed, min_value=0)
    w = w.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (g,) = torch.autograd.grad(fn(w), w, create_graph=True)

    def hvp(v: torch.Tensor) -> torch.Tensor:
        return torch.autograd.grad(g, w, grad_outputs=v, retain_graph=True)[0].detach()

    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(w.shape[0], generator=gen, dtype=w.dtype).to(w.device)
    basis = [q / q.norm()]
    alphas, betas, estimate = [], [], 0.0
    for j in range(min(max_steps, w.shape[0])):
        u = hvp(basis[j])
        alphas.append((u @ basis[j]).item())
        qs = torch.stack(basis)
        u = u - qs.T @ (qs @ u)                           # full reorthogonalisation (twice is enough)
        u = u - qs.T @ (qs @ u)
        t = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
        new = float(np.abs(np.linalg.eigvalsh(t)).max())
        done = j > 0 and abs(new - estimate) <= tol * new
        estimate = new
        beta = u.norm().item()
        if done or beta <= 1e-12 * max(abs(estimate), 1e-300):
            break
        betas.append(beta)
        basis.append(u / beta)
    return estimate


# ----------------------------------------------------------------------------------------------- GD with measurements
class GDTrace(NamedTuple):
    """What :func:`square_loss_gd_trace` measures along gradient descent (one entry per step ``t = 0 … steps``)."""

    loss: np.ndarray           #: ``L(w_t)``, shape ``(steps + 1,)``
    grad_sq: np.ndarray        #: ``‖∇L(w_t)‖²``, shape ``(steps + 1,)``
    pl_ratio: np.ndarray       #: ``‖∇L(w_t)‖² / (2 L(w_t))``: the best PL constant at ``w_t``
    hessian_steps: np.ndarray  #: the steps at which the Hessian was measured
    hessian_norm: np.ndarray   #: ``‖∇²L(w_t)‖`` at those steps
    w: torch.Tensor            #: the final parameters ``(m,)``
    distance: np.ndarray       #: ``‖w_t − w_0‖``, shape ``(steps + 1,)``


def square_loss_gd_trace(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, lr: float, steps: int,
                         hessian_every: int = 0, seed: int = 0) -> GDTrace:
    """Full-batch GD on ``L(w) = ½‖F(w) − y‖²`` (a sum), recording loss, gradient norm, PL ratio and curvature.

    Parameters
    ----------
    model : torch.nn.Module
        One output per sample; its parameters are read, not modified (see :func:`functional_model`).
    x : torch.Tensor
        Inputs ``(n, …)`` in the model's dtype.
    y : torch.Tensor
        Targets ``(n,)``.
    lr : float
        Step size ``η > 0``.
    steps : int
        Number of updates (≥ 1).
    hessian_every : int
        Measure ``‖∇²L(w_t)‖`` (by :func:`hessian_spectral_norm`) every this many steps and at the last one;
        ``0`` never does.
    seed : int
        Seed of the Lanczos start vectors of those measurements (the descent itself is deterministic).

    Returns
    -------
    GDTrace
        See :ref:`chap-pl` for the descent lemma these measurements check.
    """
    check_tensor("x", x, floating=True)
    check_tensor("y", y, ndim=1, floating=True)
    if x.ndim < 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x must be (n, …) and y (n,) with the same n, got {tuple(x.shape)} and {tuple(y.shape)}")
    lr = check_real("lr", lr, min_value=0.0, min_inclusive=False)
    steps = check_int("steps", steps, min_value=1)
    hessian_every = check_int("hessian_every", hessian_every, min_value=0)
    seed = check_int("seed", seed, min_value=0)
    w, apply = functional_model(model)

    def loss(v):
        return 0.5 * (apply(v, x).reshape(-1) - y).pow(2).sum()

    value_and_grad = torch.func.grad_and_value(loss)
    losses, grads, h_steps, h_norms, dist = [], [], [], [], []
    start = w.clone()
    for t in range(steps + 1):
        g, value = value_and_grad(w)
        dist.append((w - start).norm().item())
        losses.append(value.item())
        grads.append(g.pow(2).sum().item())
        if not math.isfinite(losses[-1]):
            raise RuntimeError(f"gradient descent diverged at step {t}; lower the learning rate")
        if hessian_every and (t % hessian_every == 0 or t == steps):
            h_steps.append(t)
            h_norms.append(hessian_spectral_norm(loss, w, seed=seed))
        if t < steps:
            w = (w - lr * g).detach()
    losses, grads = np.array(losses), np.array(grads)
    with np.errstate(divide="ignore", invalid="ignore"):
        pl = grads / (2 * losses)
    return GDTrace(losses, grads, pl, np.array(h_steps, dtype=int), np.array(h_norms), w, np.array(dist))


# ----------------------------------------------------------------------------------------------- directions
def _as_matrix(name: str, a, ndim: int) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if a.ndim != ndim or not np.issubdtype(a.dtype, np.number) or a.size == 0:
        raise ValueError(f"{name} must be a non-empty {ndim}-d numeric array, got shape {a.shape} ({a.dtype})")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite entries")
    return a


def angle(u, v) -> float:
    """The angle (radians, in ``[0, π]``) between two non-zero vectors, accurate for tiny angles.

    Computed as ``2·atan2(‖û − v̂‖, ‖û + v̂‖)`` with unit vectors ``û, v̂``, which keeps full relative precision
    where ``arccos`` of the cosine loses it. ``u`` and ``v`` are ``(d,)`` arrays or tensors. See
    :ref:`chap-implicit-bias`.
    """
    u, v = _as_matrix("u", u, 1), _as_matrix("v", v, 1)
    if u.shape != v.shape:
        raise ValueError(f"u and v must have the same length, got {u.shape} and {v.shape}")
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    if nu == 0 or nv == 0:
        raise ValueError("the angle needs two non-zero vectors")
    a, b = u / nu, v / nv
    return float(2 * math.atan2(np.linalg.norm(a - b), np.linalg.norm(a + b)))


class MaxMargin(NamedTuple):
    """A max-margin linear separator, scaled so that ``min_i y_i x_i·w = 1``."""

    w: np.ndarray        #: ``(d,)``; for ``norm=2`` the hard-margin SVM solution ``argmin ‖w‖₂ s.t. y_i x_i·w ≥ 1``
    support: np.ndarray  #: indices of the points with ``y_i x_i·w = 1`` (to 1e-9)
    margin: float        #: the geometric margin ``1 / ‖w‖`` in the chosen norm


def max_margin_direction(x, y, *, norm=2) -> MaxMargin:
    """The max-margin separator through the origin of a linearly separable sample.

    ``norm=2`` solves the hard-margin SVM ``min ‖w‖₂ s.t. y_i x_i·w ≥ 1`` as a least-distance problem by
    non-negative least squares (Lawson and Hanson's exact active-set method), then polishes it on its support
    vectors so that the constraints hold to round-off. ``norm="inf"`` maximises the margin measured with
    ``‖w‖_∞ ≤ 1`` by linear programming (HiGHS): the direction steepest descent in the ℓ∞ geometry (sign descent,
    which Adam resembles) is biased towards.

    Parameters
    ----------
    x : numpy.ndarray or torch.Tensor
        ``(n, d)`` inputs.
    y : numpy.ndarray or torch.Tensor
        ``(n,)`` labels in ``{−1, +1}``.
    norm : int or str
        ``2`` or ``"inf"``.

    Returns
    -------
    MaxMargin
        Raises ``ValueError`` if the sample is not linearly separable through the origin. See
        :ref:`chap-implicit-bias`; Soudry et al. (2018).
    """
    x, y = _as_matrix("x", x, 2), _as_matrix("y", y, 1)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"x (n, d) and y (n,) need the same n, got {x.shape} and {y.shape}")
    if not np.isin(y, (-1.0, 1.0)).all():
        raise ValueError("y must contain only -1 and +1")
    if norm not in (2, "inf"):
        raise ValueError(f"norm must be 2 or 'inf', got {norm!r}")
    z = y[:, None] * x
    n, d = z.shape
    if norm == 2:
        # least distance: min ‖w‖ s.t. z w ≥ 1  ⇔  NNLS  min_{u ≥ 0} ‖[zᵀ; 1ᵀ] u − e_{d+1}‖
        e = np.vstack([z.T, np.ones((1, n))])
        f = np.zeros(d + 1)
        f[-1] = 1.0
        u, _ = optimize.nnls(e, f, maxiter=50 * (n + d))
        r = e @ u - f
        if abs(r[-1]) < 1e-12 or np.linalg.norm(r) < 1e-12:
            raise ValueError("the sample is not linearly separable through the origin")
        w = -r[:d] / r[-1]
        support = np.flatnonzero(z @ w <= 1 + 1e-6)
        # polish: w = zₛᵀ α with zₛ w = 1 on the support (the KKT system), if the α it gives are ≥ 0
        zs = z[support]
        alpha = np.linalg.lstsq(zs @ zs.T, np.ones(len(support)), rcond=None)[0]
        w_polished = zs.T @ alpha
        if (alpha >= -1e-12).all() and (z @ w_polished >= 1 - 1e-9).all():
            w = w_polished
        w = w / (z @ w).min()
        size = np.linalg.norm(w)
    else:
        # max γ s.t. z w ≥ γ, −1 ≤ w ≤ 1; variables (w, γ), minimise −γ
        c = np.zeros(d + 1)
        c[-1] = -1.0
        res = optimize.linprog(c, A_ub=np.hstack([-z, np.ones((n, 1))]), b_ub=np.zeros(n),
                               bounds=[(-1, 1)] * d + [(None, None)], method="highs")
        if res.status != 0 or res.x[-1] <= 1e-12:
            raise ValueError("the sample is not linearly separable through the origin")
        w = res.x[:d] / res.x[-1]
        size = np.abs(w).max()
    margins = z @ w
    return MaxMargin(w, np.flatnonzero(margins <= 1 + 1e-9), float(1 / size))


# ----------------------------------------------------------------------------------------------- linear models
def linear_gd(x, y, *, loss: str, lr: float, record_steps) -> np.ndarray:
    """Gradient descent from ``w = 0`` on a linear model's mean loss, in float64; the iterates at given steps.

    Parameters
    ----------
    x : numpy.ndarray or torch.Tensor
        ``(n, d)`` inputs.
    y : numpy.ndarray or torch.Tensor
        ``(n,)`` targets: labels in ``{−1, +1}`` for ``"logistic"`` (``log(1 + e^{−y x·w})``) and
        ``"exponential"`` (``e^{−y x·w}``); real numbers for ``"square"`` (``½(x·w − y)²``).
    loss : str
        ``"logistic"``, ``"exponential"`` or ``"square"``.
    lr : float
        Step size ``η > 0``.
    record_steps : sequence of int
        Increasing step counts ``t ≥ 0`` at which to record ``w_t``.

    Returns
    -------
    numpy.ndarray
        ``(len(record_steps), d)``: row ``k`` is ``w_t`` at ``t = record_steps[k]``. See :ref:`chap-implicit-bias`.
    """
    x, y = _as_matrix("x", x, 2), _as_matrix("y", y, 1)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"x (n, d) and y (n,) need the same n, got {x.shape} and {y.shape}")
    if loss not in ("logistic", "exponential", "square"):
        raise ValueError(f"loss must be 'logistic', 'exponential' or 'square', got {loss!r}")
    if loss != "square" and not np.isin(y, (-1.0, 1.0)).all():
        raise ValueError(f"the {loss} loss needs labels in {{-1, +1}}")
    lr = check_real("lr", lr, min_value=0.0, min_inclusive=False)
    steps = np.asarray(record_steps)
    if steps.ndim != 1 or steps.size == 0 or not np.issubdtype(steps.dtype, np.integer) or steps[0] < 0 \
            or (np.diff(steps) <= 0).any():
        raise ValueError(f"record_steps must be a non-empty increasing sequence of integers ≥ 0, got {record_steps!r}")
    n, d = x.shape
    z = y[:, None] * x if loss != "square" else x
    zt = z.T / n
    w = np.zeros(d)
    out = np.empty((steps.size, d))
    t, k = 0, 0
    while k < steps.size:
        while k < steps.size and steps[k] == t:
            out[k] = w
            k += 1
        if k == steps.size:
            break
        m = z @ w
        if loss == "logistic":
            w = w + lr * (zt @ expit(-m))
        elif loss == "exponential":
            w = w + lr * (zt @ np.exp(-m))
        else:
            w = w - lr * (zt @ (m - y))
        t += 1
    if not np.isfinite(out).all():
        raise RuntimeError("gradient descent diverged; lower the learning rate")
    return out


def _svd(x):
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    keep = s > s.max() * max(x.shape) * np.finfo(float).eps
    return u[:, keep], s[keep], vt[keep]


def gd_least_squares(x, y, *, lr: float, steps: int) -> np.ndarray:
    """The ``steps``-th gradient-descent iterate from ``0`` on ``(1/2n)‖Xw − y‖²``, in closed form.

    With ``X = U S Vᵀ`` and ``s_i = S_ii²/n``, ``w_t = Σ_i (1 − (1 − η s_i)^t) (u_i·y / S_ii) v_i``: a spectral
    filter that tends to the minimum-norm least-squares solution ``X⁺y`` when ``0 < η s_i < 2``.
    ``x`` is ``(n, d)``, ``y`` is ``(n,)``; returns ``(d,)``. See :ref:`chap-implicit-bias`.
    """
    x, y = _as_matrix("x", x, 2), _as_matrix("y", y, 1)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"x (n, d) and y (n,) need the same n, got {x.shape} and {y.shape}")
    lr = check_real("lr", lr, min_value=0.0, min_inclusive=False)
    steps = check_int("steps", steps, min_value=0)
    u, s, vt = _svd(x)
    gain = 1 - (1 - lr * s**2 / x.shape[0]) ** steps
    return vt.T @ (gain * (u.T @ y) / s)


def ridge(x, y, lam: float) -> np.ndarray:
    """The ridge solution ``argmin (1/2n)‖Xw − y‖² + (λ/2)‖w‖²`` (``λ > 0``); ``x (n, d)``, ``y (n,)`` → ``(d,)``.

    Equal to ``Σ_i s_i/(s_i + λ) (u_i·y / S_ii) v_i`` with ``s_i = S_ii²/n``. See :ref:`chap-implicit-bias`.
    """
    x, y = _as_matrix("x", x, 2), _as_matrix("y", y, 1)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"x (n, d) and y (n,) need the same n, got {x.shape} and {y.shape}")
    lam = check_real("lam", lam, min_value=0.0, min_inclusive=False)
    u, s, vt = _svd(x)
    si = s**2 / x.shape[0]
    return vt.T @ (si / (si + lam) * (u.T @ y) / s)


def expected_parameter_risk(x, beta, noise_std: float, *, lam: float | None = None, lr: float | None = None,
                            steps: int | None = None) -> float:
    """``E‖ŵ − β‖²`` over the noise of ``y = Xβ + σε``, for ridge (``lam``) or gradient descent (``lr``, ``steps``).

    Both estimators are spectral filters ``ŵ = Σ_i g_i (u_i·y / S_ii) v_i`` of the data (see :func:`ridge` and
    :func:`gd_least_squares`), so the risk is exact: ``Σ_i (1 − g_i)² (v_i·β)² + ‖P_⊥β‖² + σ² Σ_i g_i²/S_ii²``,
    where ``P_⊥`` projects on the null space of ``X``. ``x (n, d)``, ``beta (d,)``. See :ref:`chap-implicit-bias`.
    """
    x, beta = _as_matrix("x", x, 2), _as_matrix("beta", beta, 1)
    if beta.shape[0] != x.shape[1]:
        raise ValueError(f"beta must have length d = {x.shape[1]}, got {beta.shape[0]}")
    noise_std = check_real("noise_std", noise_std, min_value=0.0)
    u, s, vt = _svd(x)
    si = s**2 / x.shape[0]
    if lam is not None and lr is None and steps is None:
        gain = si / (si + check_real("lam", lam, min_value=0.0, min_inclusive=False))
    elif lam is None and lr is not None and steps is not None:
        lr = check_real("lr", lr, min_value=0.0, min_inclusive=False)
        gain = 1 - (1 - lr * si) ** check_int("steps", steps, min_value=0)
    else:
        raise ValueError("give either lam (ridge) or both lr and steps (gradient descent)")
    coef = vt @ beta
    null = beta @ beta - coef @ coef
    return float(((1 - gain) ** 2 * coef**2).sum() + max(null, 0.0) + noise_std**2 * (gain**2 / s**2).sum())


# ----------------------------------------------------------------------------------------------- SGD on least squares
def _least_squares_data(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = _as_matrix("x", x, 2), _as_matrix("y", y, 1)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"x (n, d) and y (n,) need the same n, got {x.shape} and {y.shape}")
    return x, y


def sgd_least_squares_expected_loss(x, y, *, lr: float, batch: int, steps: int) -> np.ndarray:
    """The exact expected loss ``E L(w_t)``, ``t = 0 … steps``, of minibatch SGD on least squares from ``w_0 = 0``.

    The loss is ``L(w) = (1/2n)‖Xw − y‖²``. A step draws ``b`` indices independently and uniformly from
    ``{1, …, n}`` (with replacement) and moves ``w ← w − (η/b) Σ_j x_{i_j} (x_{i_j}·w − y_{i_j})``. The residual
    ``r = Xw − y`` then obeys ``r ← (I − (η/b) G S) r`` with ``G = XXᵀ`` and ``S`` the diagonal matrix of the
    index counts, whose moments ``E S = (b/n) I`` and ``E[S P S] = (b(b−1)/n²) P + (b/n) diag(P)`` give the exact
    recursion for ``P_t = E[r_t r_tᵀ]``::

        P_{t+1} = P_t − (η/n)(G P_t + P_t G) + η² G ((1 − 1/b) P_t / n² + diag(P_t) / (b n)) G,

    and ``E L(w_t) = tr P_t / (2n)``. No sampling is involved; :func:`sgd_least_squares_runs` estimates the same
    numbers by simulation.

    Parameters
    ----------
    x : numpy.ndarray
        Inputs ``(n, d)``, finite.
    y : numpy.ndarray
        Targets ``(n,)``.
    lr : float
        Step size ``η > 0``.
    batch : int
        Batch size ``b ≥ 1`` (it may exceed ``n``: indices are drawn with replacement).
    steps : int
        Number of SGD steps (≥ 0).

    Returns
    -------
    numpy.ndarray
        ``(steps + 1,)`` float64: ``E L(w_t)``. See :ref:`chap-pl-guarantees`; the exponential rate is the
        subject of Bassily, Belkin & Ma (2018).
    """
    x, y = _least_squares_data(x, y)
    lr = check_real("lr", lr, min_value=0.0, min_inclusive=False)
    batch = check_int("batch", batch, min_value=1)
    steps = check_int("steps", steps, min_value=0)
    n = x.shape[0]
    g = x @ x.T
    p = np.outer(y, y)                                  # r_0 = −y, deterministic
    out = np.empty(steps + 1)
    for t in range(steps + 1):
        out[t] = np.trace(p) / (2 * n)
        if not math.isfinite(out[t]):
            raise RuntimeError(f"the expected loss diverged at step {t}; lower the learning rate")
        if t < steps:
            with np.errstate(over="ignore", invalid="ignore"):      # divergence is reported above
                gp = g @ p
                inner = (1 - 1 / batch) * p / n**2 + np.diag(np.diag(p)) / (batch * n)
                p = p - lr / n * (gp + gp.T) + lr**2 * g @ inner @ g
                p = (p + p.T) / 2                       # keep it symmetric against round-off
    return out


def sgd_least_squares_runs(x, y, *, lr: float, batch: int, steps: int, runs: int, seed: int = 0) -> np.ndarray:
    """The losses ``L(w_t)`` of ``runs`` independent minibatch-SGD runs on least squares, simulated in weight space.

    Same problem, sampling (``b`` indices with replacement per step) and start ``w_0 = 0`` as
    :func:`sgd_least_squares_expected_loss`, but each run is simulated step by step on the weights ``w ∈ R^d``,
    in float64 on the CPU, with a ``torch.Generator`` seeded by ``seed``.

    Parameters
    ----------
    x : numpy.ndarray
        Inputs ``(n, d)``.
    y : numpy.ndarray
        Targets ``(n,)``.
    lr : float
        Step size ``η > 0``.
    batch : int
        Batch size ``b ≥ 1``.
    steps : int
        Number of SGD steps (≥ 0).
    runs : int
        Number of independent runs (≥ 1).
    seed : int
        Seed of the index draws.

    Returns
    -------
    numpy.ndarray
        ``(runs, steps + 1)`` float64: ``L(w_t) = (1/2n)‖X w_t − y‖²`` of each run. See :ref:`chap-pl-guarantees`.
    """
    x, y = _least_squares_data(x, y)
    lr = check_real("lr", lr, min_value=0.0, min_inclusive=False)
    batch = check_int("batch", batch, min_value=1)
    steps = check_int("steps", steps, min_value=0)
    runs = check_int("runs", runs, min_value=1)
    seed = check_int("seed", seed, min_value=0)
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    n = x.shape[0]
    w = torch.zeros(runs, x.shape[1], dtype=torch.float64)
    out = torch.empty(runs, steps + 1, dtype=torch.float64)
    for t in range(steps + 1):
        out[:, t] = (w @ xt.T - yt).pow(2).sum(1) / (2 * n)
        if t < steps:
            idx = torch.randint(n, (runs, batch), generator=gen)
            xb = xt[idx]                                            # (runs, b, d)
            res = (xb @ w[:, :, None])[..., 0] - yt[idx]            # (runs, b)
            w = w - lr / batch * (xb * res[..., None]).sum(1)
    out = out.numpy()
    if not np.isfinite(out).all():
        raise RuntimeError("SGD diverged; lower the learning rate")
    return out


# ----------------------------------------------------------------------------------------------- many small networks
def two_layer_gd_ensemble(x: torch.Tensor, y: torch.Tensor, *, width: int, runs: int, lr: float, steps: int,
                          record_every: int = 1, seed: int = 0) -> np.ndarray:
    """Full-batch GD on ``runs`` independently initialised two-layer tanh networks at once; their loss curves.

    The network is ``f(x) = m^{-1/2} Σ_{i=1}^m v_i tanh(w_i·x)`` (no biases, NTK parameterisation) with
    ``w_i ~ N(0, I_d)`` and ``v_i ~ N(0, 1)`` drawn from a ``torch.Generator`` seeded by ``seed``; the loss is the
    sum ``L = ½ Σ_j (f(x_j) − y_j)²``. The gradients are written out by hand (the runs are a batch dimension),
    so that many small networks train in the time of one.

    Parameters
    ----------
    x : torch.Tensor
        Inputs ``(n, d)``, floating (float64 recommended).
    y : torch.Tensor
        Targets ``(n,)``, same dtype and device.
    width : int
        Number of hidden units ``m ≥ 1`` (``m (d + 1)`` weights per network).
    runs : int
        Number of networks (≥ 1).
    lr : float
        Step size ``η > 0``.
    steps : int
        Number of GD steps (≥ 1).
    record_every : int
        Record the losses every this many steps (and at the last one).
    seed : int
        Seed of the initialisations.

    Returns
    -------
    numpy.ndarray
        ``(runs, k)`` float64: the loss of each network at steps ``0, record_every, …`` and ``steps``; ``NaN``
        after a run diverges. See :ref:`chap-pl-guarantees`.
    """
    check_tensor("x", x, ndim=2, floating=True)
    check_tensor("y", y, ndim=1, floating=True)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x (n, d) and y (n,) need the same n, got {tuple(x.shape)} and {tuple(y.shape)}")
    width = check_int("width", width, min_value=1)
    runs = check_int("runs", runs, min_value=1)
    lr = check_real("lr", lr, min_value=0.0, min_inclusive=False)
    steps = check_int("steps", steps, min_value=1)
    record_every = check_int("record_every", record_every, min_value=1)
    seed = check_int("seed", seed, min_value=0)
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(runs, width, x.shape[1], generator=gen, dtype=x.dtype).to(x.device)
    v = torch.randn(runs, width, generator=gen, dtype=x.dtype).to(x.device)
    scale = width**-0.5
    record = []
    for t in range(steps + 1):
        h = torch.tanh(w @ x.T)                                     # (runs, m, n)
        r = scale * (v[:, None, :] @ h)[:, 0, :] - y                # (runs, n) residuals
        if t % record_every == 0 or t == steps:
            record.append(0.5 * r.pow(2).sum(1))
        if t < steps:
            grad_v = scale * (h @ r[:, :, None])[..., 0]            # ∂L/∂v_i = m^{-1/2} Σ_j tanh(w_i·x_j) r_j
            dz = scale * (1 - h**2) * v[:, :, None] * r[:, None, :]
            w = w - lr * (dz @ x)                                   # ∂L/∂w_i = Σ_j m^{-1/2} v_i tanh' r_j x_j
            v = v - lr * grad_v
    return torch.stack(record, dim=1).cpu().numpy()


# ----------------------------------------------------------------------------------------------- long-time flow
def _tail_force(excess: np.ndarray, m: np.ndarray, loss: str) -> np.ndarray:
    """``e^s · (−ℓ'(m))`` from ``excess = s − m`` (computed without cancellation) and the margins ``m``."""
    if loss == "exponential":
        return np.exp(excess)
    return np.exp(excess - np.logaddexp(0.0, -m))                # e^s σ(−m) = e^{s − m} / (1 + e^{−m})


def separable_flow_log_time(x, y, w_hat, *, loss: str, lr: float, t0: float, w0, log_t,
                            rtol: float = 1e-11) -> np.ndarray:
    """The gradient flow that gradient descent discretises, integrated in ``s = log t`` to astronomically large t.

    Gradient descent ``w_{t+1} = w_t − η∇L(w_t)`` on a linear model's mean logistic or exponential loss is the
    Euler scheme, with unit steps in ``t``, of the flow ``dw/dt = −η∇L(w)``. With ``t = e^s`` and
    ``u = w − ŵ s`` the same flow reads ``du/ds = (η/n) Σ_i e^s(−ℓ'(z_i·w)) z_i − ŵ``: the same path, in new
    coordinates. When ``ŵ`` is the hard-margin SVM solution, ``e^s e^{−z_i·w} = e^{s(1 − z_i·ŵ)} e^{−z_i·u}``
    stays bounded (``z_i·ŵ ≥ 1``), so the equation can be integrated in float64 to ``s`` in the thousands
    (``t = e^{1000}``), which no iteration can reach. Any ``ŵ`` gives the same path; the SVM's keeps ``u``
    bounded. The stiff solver Radau (scipy) is used with relative tolerance ``rtol``.

    Parameters
    ----------
    x : numpy.ndarray or torch.Tensor
        ``(n, d)`` inputs.
    y : numpy.ndarray or torch.Tensor
        ``(n,)`` labels in ``{−1, +1}``.
    w_hat : numpy.ndarray or torch.Tensor
        ``(d,)`` the direction subtracted, normally the SVM solution of :func:`max_margin_direction`.
    loss : str
        ``"logistic"`` or ``"exponential"`` (the mean loss, as in :func:`linear_gd`).
    lr : float
        The step ``η > 0`` of the gradient descent the flow stands for (time ``t`` counts steps).
    t0 : float
        Start time ``t₀ > 0``.
    w0 : numpy.ndarray or torch.Tensor
        ``(d,)`` the weights at ``t₀``.
    log_t : sequence of float
        Increasing values of ``s = log t``, all ``≥ log t₀``.
    rtol : float
        Relative tolerance of the solver (the absolute one is ``rtol/10``).

    Returns
    -------
    numpy.ndarray
        ``(len(log_t), d)``: ``w(t)`` at ``t = e^s`` for each ``s`` in ``log_t``. See :ref:`chap-implicit-bias`;
        Soudry et al. (2018).
    """
    x, y = _as_matrix("x", x, 2), _as_matrix("y", y, 1)
    n, d = x.shape
    if y.shape[0] != n:
        raise ValueError(f"x (n, d) and y (n,) need the same n, got {x.shape} and {y.shape}")
    if not np.isin(y, (-1.0, 1.0)).all():
        raise ValueError("y must contain only -1 and +1")
    if loss not in ("logistic", "exponential"):
        raise ValueError(f"loss must be 'logistic' or 'exponential', got {loss!r}")
    w_hat, w0 = _as_matrix("w_hat", w_hat, 1), _as_matrix("w0", w0, 1)
    if w_hat.shape != (d,) or w0.shape != (d,):
        raise ValueError(f"w_hat and w0 must have length d = {d}, got {w_hat.shape} and {w0.shape}")
    lr = check_real("lr", lr, min_value=0.0, min_inclusive=False)
    t0 = check_real("t0", t0, min_value=0.0, min_inclusive=False)
    rtol = check_real("rtol", rtol, min_value=1e-14, max_value=1e-3)
    s_eval = _as_matrix("log_t", log_t, 1)
    s0 = math.log(t0)
    if (np.diff(s_eval) <= 0).any() or s_eval[0] < s0:
        raise ValueError(f"log_t must be increasing and ≥ log t0 = {s0:.6g}, got {s_eval!r}")
    z = y[:, None] * x

    gap = 1.0 - z @ w_hat             # s − m_i = s·gap_i − z_i·u: no cancellation between two large terms

    def force(s, u):
        zu = z @ u
        m = s * (1.0 - gap) + zu
        return _tail_force(s * gap - zu, m, loss), m

    def rhs(s, u):
        return lr / n * (z.T @ force(s, u)[0]) - w_hat

    def jac(s, u):                                                 # −(η/n) Σ_i e^s ℓ''(m_i) z_i z_iᵀ
        f, m = force(s, u)
        curv = f * (expit(m) if loss == "logistic" else 1.0)
        return -lr / n * (z.T * curv) @ z

    u0 = w0 - s0 * w_hat
    if s_eval[-1] == s0:
        return np.tile(w0, (s_eval.size, 1))
    sol = integrate.solve_ivp(rhs, (s0, s_eval[-1]), u0, method="Radau", t_eval=s_eval, rtol=rtol,
                              atol=rtol / 10, jac=jac)
    if sol.status != 0:
        raise RuntimeError(f"the flow solver failed: {sol.message}")
    return sol.y.T + s_eval[:, None] * w_hat


# ----------------------------------------------------------------------------------------------- margins of networks
class MarginTrace(NamedTuple):
    """Gradient descent on a two-layer ReLU network: one entry per step ``k = 0 … steps`` (before the update)."""

    loss: np.ndarray          #: ``(steps+1,)`` the mean exponential loss ``L = (1/n) Σ_i e^{−q_i}``
    norm_sq: np.ndarray       #: ``(steps+1,)`` ``ρ² = ‖θ‖²``, all parameters
    min_margin: np.ndarray    #: ``(steps+1,)`` ``min_i q_i`` with ``q_i = y_i f(x_i)``
    nu: np.ndarray            #: ``(steps+1,)`` ``ν = (1/n) Σ_i e^{−q_i} q_i``
    grad_norm_sq: np.ndarray  #: ``(steps+1,)`` ``‖∇L(θ)‖²``
    params: dict              #: the final parameters, ``"w" (m, d)`` and ``"a" (m,)`` (and ``"b" (m,)``, ``"c" ()``)


def relu_net_gd(x, y, *, width: int, lr: float, steps: int, init_scale: float = 0.5, seed: int = 0,
                bias: bool = False) -> MarginTrace:
    """Gradient descent on ``f(x) = Σ_j a_j relu(w_j·x)`` with the mean exponential loss, in float64.

    Without biases the network is positively homogeneous of degree 2 in ``θ = (W, a)``: ``f(cθ; x) =
    c² f(θ; x)`` for ``c > 0``, the setting of Lyu and Li (2020). With ``bias=True`` it becomes
    ``Σ_j a_j relu(w_j·x + b_j) + c``, which is not homogeneous (the planted counter-example). Initial weights:
    ``w_j ~ N(0, s² I)``, ``a_j ~ N(0, s²/m)`` with ``s = init_scale``, biases zero. The gradient is written out
    (ReLU′(0) = 0).

    Parameters
    ----------
    x : numpy.ndarray or torch.Tensor
        ``(n, d)`` inputs.
    y : numpy.ndarray or torch.Tensor
        ``(n,)`` labels in ``{−1, +1}``.
    width : int
        Number of hidden units ``m ≥ 1``.
    lr : float
        Constant step ``η > 0``.
    steps : int
        Number of steps ``≥ 1``.
    init_scale : float
        ``s > 0`` above.
    seed : int
        Seed of the initialisation (numpy ``default_rng``).
    bias : bool
        Add hidden and output biases.

    Returns
    -------
    MarginTrace
        Per-step loss, ``ρ²``, minimum margin, ``ν`` and ``‖∇L‖²``, and the final parameters. Raises
        ``RuntimeError`` if the loss overflows (a step too large). See :ref:`chap-implicit-bias`; Lyu and Li
        (2020).
    """
    x, y = _as_matrix("x", x, 2), _as_matrix("y", y, 1)
    n, d = x.shape
    if y.shape[0] != n:
        raise ValueError(f"x (n, d) and y (n,) need the same n, got {x.shape} and {y.shape}")
    if not np.isin(y, (-1.0, 1.0)).all():
        raise ValueError("y must contain only -1 and +1")
    m = check_int("width", width, min_value=1)
    lr = check_real("lr", lr, min_value=0.0, min_inclusive=False)
    steps = check_int("steps", steps, min_value=1)
    init_scale = check_real("init_scale", init_scale, min_value=0.0, min_inclusive=False)
    seed = check_int("seed", seed, min_value=0, max_value=2**32 - 1)
    if not isinstance(bias, (bool, np.bool_)):
        raise TypeError(f"bias must be a bool, got {type(bias).__name__}")
    rng = np.random.default_rng(seed)
    w = init_scale * rng.standard_normal((m, d))
    a = init_scale / math.sqrt(m) * rng.standard_normal(m)
    b, c = np.zeros(m), 0.0
    rec = np.empty((5, steps + 1))
    for k in range(steps + 1):
        h = x @ w.T + b if bias else x @ w.T                       # (n, m) pre-activations
        r = np.maximum(h, 0.0)
        q = y * (r @ a + c)                                        # margins y_i f(x_i)
        e = np.exp(-q)
        gf = -y * e / n                                            # ∂L/∂f(x_i)
        ga = r.T @ gf
        gh = np.outer(gf, a) * (h > 0)
        gw = gh.T @ x
        gb, gc = (gh.sum(0), gf.sum()) if bias else (0.0, 0.0)
        norm_sq = (w**2).sum() + (a**2).sum() + ((b**2).sum() + c**2 if bias else 0.0)
        gsq = (gw**2).sum() + (ga**2).sum() + ((gb**2).sum() + gc**2 if bias else 0.0)
        rec[:, k] = e.mean(), norm_sq, q.min(), (e * q).mean(), gsq
        if not np.isfinite(rec[:, k]).all():
            raise RuntimeError(f"the loss overflowed at step {k}; lower the learning rate")
        if k < steps:
            w, a = w - lr * gw, a - lr * ga
            if bias:
                b, c = b - lr * gb, c - lr * gc
    params = {"w": w, "a": a} | ({"b": b, "c": np.float64(c)} if bias else {})
    return MarginTrace(*rec, params)


def smoothed_margin(loss, n: int, norm_sq, *, degree: float = 2.0) -> np.ndarray:
    """Lyu and Li's smoothed margin ``γ̃ = −log(n L) / ρ^L`` for the mean exponential loss ``L``.

    With ``ℒ = nL = Σ_i e^{−q_i}`` the *sum* of the losses, ``e^{−q_min} ≤ ℒ ≤ n e^{−q_min}``, so
    ``γ̃ ≤ q_min/ρ^L ≤ γ̃ + log n / ρ^L``: a smooth lower bound on the normalised margin. It is positive once
    ``nL < 1`` (every point classified correctly) and, for a ``degree``-homogeneous network, non-decreasing along
    gradient flow from then on.

    Parameters
    ----------
    loss : array_like
        Mean exponential losses ``L > 0`` (any shape).
    n : int
        Sample size.
    norm_sq : array_like
        ``ρ² = ‖θ‖²``, broadcastable with ``loss``.
    degree : float
        The homogeneity degree ``L > 0`` of the network.

    Returns
    -------
    numpy.ndarray
        ``γ̃``, the broadcast shape of ``loss`` and ``norm_sq``. See :ref:`chap-implicit-bias`; Lyu and Li (2020).
    """
    loss, norm_sq = np.asarray(loss, dtype=float), np.asarray(norm_sq, dtype=float)
    n = check_int("n", n, min_value=1)
    degree = check_real("degree", degree, min_value=0.0, min_inclusive=False)
    if not (np.isfinite(loss).all() and (loss > 0).all()):
        raise ValueError("loss must be positive and finite")
    if not (np.isfinite(norm_sq).all() and (norm_sq > 0).all()):
        raise ValueError("norm_sq must be positive and finite")
    return -np.log(n * loss) / norm_sq ** (degree / 2)
