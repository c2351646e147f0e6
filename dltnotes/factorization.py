"""Implicit bias of factorised models: what gradient descent on a factorisation converges to, and the convex
programmes that say so.

Three models share one idea: gradient descent on a *factorised* parameterisation of a linear model picks one
interpolant among many, and a convex programme names it.

* **Diagonal linear network** (non-negative): ``x = u ⊙ u`` with loss ``L(u) = ½‖A(u ⊙ u) − y‖²``, ``A`` of shape
  ``(m, d)``, started at ``u₀ = α·1`` (so ``x₀ = α²·1``). :func:`diagonal_net_gd` trains it by autograd and keeps
  the two accumulators of the exact invariant; :func:`entropy_projection` is where gradient flow goes (the
  Bregman projection of ``x₀`` onto ``{Ax = y}`` under the entropy); :func:`min_l1_nonneg` is its ``α → 0``
  limit and :func:`dual_slack_exponent` the rate of that limit.
* **Matrix sensing**: ``X = UUᵀ`` with ``U`` of shape ``(n, n)``, measurements ``𝒜(X)_i = ⟨A_i, X⟩`` with
  symmetric ``A_i`` (:func:`symmetric_sensing`, :func:`sense`), loss ``(1/2m)‖𝒜(UUᵀ) − y‖²`` from ``U₀ = αI``
  (:func:`matrix_sensing_gd`); :func:`min_trace_psd` solves the convex programme that Gunasekar et al. conjecture
  is the ``α → 0`` limit.
* **Deep matrix completion**: ``W = W_L ⋯ W_1`` with loss ``½‖mask ⊙ (W − target)‖²``; :func:`completion_flow`
  integrates its gradient flow, for the example of Razin and Cohen in which no norm explains the limit.

Conventions: all solvers work in float64 numpy and accept numpy arrays or torch tensors; the gradient-descent
routines run in torch float64 on :func:`dltnotes.runtime.device` (or the ``device`` given).

Taught in :ref:`chap-factorized`. References: Gunasekar et al. (NeurIPS 2017), Woodworth et al. (COLT 2020),
Arora et al. (NeurIPS 2019), Razin and Cohen (NeurIPS 2020).
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
import torch
from scipy import optimize
from scipy.integrate import solve_ivp

from ._validate import check_array, check_int, check_real

__all__ = [
    "min_l1_nonneg",
    "min_trace_psd",
    "entropy_projection",
    "dual_slack_exponent",
    "DiagonalRun",
    "diagonal_net_gd",
    "symmetric_sensing",
    "sense",
    "SensingRun",
    "matrix_sensing_gd",
    "CompletionFlow",
    "completion_flow",
]


# ------------------------------------------------------------------------------------------------- validation
_float_array = check_array  # a finite, non-empty float64 array (see dltnotes._validate)


def _real_array(name: str, value, ndim: int) -> np.ndarray:
    """:func:`_float_array` with exactly ``ndim`` dimensions."""
    arr = _float_array(name, value)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension{'s' * (ndim != 1)}, got shape {arr.shape}")
    return arr


def _system(A, y) -> tuple[np.ndarray, np.ndarray]:
    """Validate a linear system ``A x = y``: ``A`` of shape ``(m, d)``, ``y`` of shape ``(m,)``."""
    A = _real_array("A", A, 2)
    y = _real_array("y", y, 1)
    if y.shape[0] != A.shape[0]:
        raise ValueError(f"y must have one entry per row of A ({A.shape[0]}), got {y.shape[0]}")
    return A, y


def _positive(name: str, value, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A positive float or array of positive floats (broadcast to ``shape`` when given)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a positive number or array, got a bool")
    arr = _float_array(name, value)
    if (arr <= 0).any():
        raise ValueError(f"{name} must be positive and finite, got {arr if arr.size < 6 else 'an array'}")
    if shape is not None:
        try:
            arr = np.broadcast_to(arr, shape).copy()
        except ValueError:
            raise ValueError(f"{name} must be a number or have shape {shape}, got shape {arr.shape}") from None
    return arr


# ------------------------------------------------------------------------------------------------ the LP
def min_l1_nonneg(A, y, *, dual: bool = False):
    """The non-negative ``x`` of least sum with ``A x = y``: the linear programme ``min 1ᵀx, Ax = y, x ≥ 0``.

    For ``x ≥ 0`` the sum is the ℓ1 norm, so this is the minimum-ℓ1 non-negative interpolant: the ``α → 0`` limit
    of gradient flow on the diagonal network ``x = u ⊙ u`` (see :ref:`chap-factorized`). Solved by HiGHS through
    ``scipy.optimize.linprog`` with feasibility tolerances ``1e-10``.

    Parameters, result and errors::

        A : array ``(m, d)``
        y : array ``(m,)``
        dual : bool
            Also return the dual solution ``ν`` ``(m,)``: ``Aᵀν ≤ 1`` entrywise and ``yᵀν = 1ᵀx`` (strong duality),
            so ``ν`` certifies that no non-negative interpolant has a smaller sum.

        Returns

        x : ndarray ``(d,)`` float64 (and ``ν`` when ``dual``).

        Raises ``ValueError`` when no ``x ≥ 0`` satisfies ``Ax = y`` (the programme is infeasible), and
        ``RuntimeError`` if HiGHS fails for another reason. Reference: Donoho and Tanner (PNAS 2005) on when the
        solution is the sparsest non-negative interpolant.
    """
    A, y = _system(A, y)
    res = optimize.linprog(np.ones(A.shape[1]), A_eq=A, b_eq=y, bounds=(0, None), method="highs",
                           options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10})
    if res.status == 2:
        raise ValueError("the programme is infeasible: no x ≥ 0 satisfies A x = y")
    if res.status != 0:
        raise RuntimeError(f"HiGHS did not solve the programme: {res.message}")
    x = np.maximum(res.x, 0.0)
    return (x, np.asarray(res.eqlin.marginals, dtype=np.float64)) if dual else x


# ------------------------------------------------------------------------------------------------ the SDP
def _sensing_system(A, y) -> tuple[np.ndarray, np.ndarray]:
    A = _real_array("A", A, 3)
    m, n, n2 = A.shape
    if n != n2:
        raise ValueError(f"A must have shape (m, n, n) (square measurement matrices), got {A.shape}")
    y = _real_array("y", y, 1)
    if y.shape[0] != m:
        raise ValueError(f"y must have one entry per measurement matrix ({m}), got {y.shape[0]}")
    asym = np.abs(A - A.transpose(0, 2, 1)).reshape(m, -1).max(1)
    scale = np.abs(A).reshape(m, -1).max(1)
    bad = np.flatnonzero(asym > 1e-12 * np.maximum(scale, 1e-300))
    if bad.size:
        raise ValueError(f"the measurement matrices must be symmetric: A[{bad[0]}] differs from its transpose "
                         f"by {asym[bad[0]]:.2e}")
    return A, y


def min_trace_psd(A, y, *, tol: float = 1e-10, max_iter: int = 20_000, dual: bool = False):
    """The positive semidefinite ``X`` of least trace with ``⟨A_i, X⟩ = y_i`` for every ``i``.

    For ``X ⪰ 0`` the trace is the nuclear norm, so this is the minimum-nuclear-norm PSD interpolant, the
    conjectured ``α → 0`` limit of gradient descent on ``X = UUᵀ`` from ``U₀ = αI`` (Gunasekar et al., 2017; see
    :ref:`chap-factorized`).

    **Algorithm** (ADMM, Boyd et al. 2011, §5): split ``min tr X + [𝒜(X) = y] + [Z ⪰ 0]`` subject to ``X = Z``.
    Each iteration projects onto the affine set (one solve with the Gram matrix ``⟨A_i, A_j⟩``, factored once),
    relaxes (factor 1.6), projects onto the PSD cone (one eigendecomposition) and updates the scaled multiplier;
    the penalty ``ρ`` is rebalanced so that primal and dual residuals stay within a factor 10. The multiplier
    ``Λ ⪯ 0`` is minus the dual slack: ``I + Λ`` lies in the range of ``𝒜*`` at the optimum, and its
    coordinates ``ν`` there are the dual solution. It stops when, at once, ``‖𝒜(Z) − y‖ ≤ tol·‖y‖``, the
    duality gap ``|tr Z − yᵀν| ≤ tol·max(1, tr Z)`` and the slack ``S = I − 𝒜*(ν)`` has
    ``λ_min(S) ≥ −tol·max(1, ‖S‖)``: a *certificate* (weak duality gives ``tr X ≥ yᵀν/(1 + ε)`` for every
    feasible ``X`` when ``S ⪰ −εI``), checked on the returned matrix, not a promise of the iteration.

    Parameters, result and errors::

        A : array ``(m, n, n)``
            Symmetric measurement matrices (``‖A_i − A_iᵀ‖_max ≤ 1e-12 ‖A_i‖_max``). Linear dependence is allowed
            when the measurements ``y`` are consistent.
        y : array ``(m,)``
        tol : float
            Relative tolerance of the certificate, in ``(0, 1e-6]``. The default meets "feasible to 1e-8 relative,
            optimal to 1e-6 relative" with a margin.
        max_iter : int
        dual : bool
            Also return ``ν`` ``(m,)``, with ``I − Σ ν_i A_i ⪰ 0`` and ``yᵀν = tr X`` to the tolerance.

        Returns

        X : ndarray ``(n, n)`` float64, symmetric positive semidefinite (the PSD iterate of ADMM), and ``ν`` when
        ``dual``.

        Raises ``ValueError`` for malformed input, for inconsistent measurements (no symmetric ``X`` at all) and for
        an infeasible programme with a Farkas certificate (``ν̂`` with ``Σ ν̂_i A_i ⪯ 0`` and ``yᵀν̂ > 0``);
        ``RuntimeError`` if the certificate is not reached in ``max_iter`` iterations (e.g. a weakly infeasible
        programme, where every residual can be made small only by letting the trace grow without bound).
    """
    A, y = _sensing_system(A, y)
    tol = check_real("tol", tol, min_value=0.0, max_value=1e-6, min_inclusive=False)
    max_iter = check_int("max_iter", max_iter, min_value=1)
    m, n, _ = A.shape
    M = A.reshape(m, n * n)
    eye = np.eye(n)
    ny = float(np.linalg.norm(y))
    if ny == 0.0:  # X = 0 is feasible and has the least possible trace
        return (np.zeros((n, n)), np.zeros(m)) if dual else np.zeros((n, n))
    w, V = np.linalg.eigh(M @ M.T)
    keep = w > w.max() * 1e-12
    if not keep.any():
        raise ValueError("every measurement matrix is zero, but y is not")
    gram_pinv = (V[:, keep] / w[keep]) @ V[:, keep].T
    y_fit = M @ (M.T @ (gram_pinv @ y))
    if np.linalg.norm(y_fit - y) > 1e-9 * ny:
        raise ValueError("the measurements are inconsistent: no symmetric X has ⟨A_i, X⟩ = y_i for every i "
                         f"(least-squares residual {np.linalg.norm(y_fit - y) / ny:.2e} relative)")

    def onto_affine(mat: np.ndarray) -> np.ndarray:
        v = mat.reshape(-1)
        return (v - M.T @ (gram_pinv @ (M @ v - y))).reshape(n, n)

    def dual_of(lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nu = gram_pinv @ (M @ (eye + lam).reshape(-1))
        slack = eye - (M.T @ nu).reshape(n, n)
        return nu, (slack + slack.T) / 2

    def certified(Z: np.ndarray, lam: np.ndarray):
        nu, slack = dual_of(lam)
        feas = np.linalg.norm(M @ Z.reshape(-1) - y) / ny
        gap = abs(np.trace(Z) - y @ nu) / max(1.0, abs(np.trace(Z)))
        s_eigs = np.linalg.eigvalsh(slack)
        ok = feas <= tol and gap <= tol and s_eigs[0] >= -tol * max(1.0, np.abs(s_eigs).max())
        return ok, nu, feas, gap

    rho, relax = 1.0, 1.6
    Z = np.zeros((n, n))
    lam = np.zeros((n, n))
    feas = gap = float("nan")
    for it in range(1, max_iter + 1):
        X = onto_affine(Z - (lam + eye) / rho)
        X_hat = relax * X + (1 - relax) * Z
        W = X_hat + lam / rho
        ev, Q = np.linalg.eigh((W + W.T) / 2)
        Z_new = (Q * np.maximum(ev, 0.0)) @ Q.T
        lam = lam + rho * (X_hat - Z_new)
        r_primal, r_dual = np.linalg.norm(X - Z_new), rho * np.linalg.norm(Z_new - Z)
        Z = (Z_new + Z_new.T) / 2
        if it % 10:
            continue
        ok, nu, feas, gap = certified(Z, lam)
        if ok:
            return (Z, nu) if dual else Z
        if it % 500 == 0 and it >= 1000 and _farkas(M, y, X - Z, n):
            break                                      # a stalled residual that proves infeasibility
        if r_primal > 10 * r_dual and rho < 1e6:  # residual balancing (Boyd et al., §3.4.1)
            rho = rho * 2                              # lam is unscaled, so it needs no rescaling
        elif r_dual > 10 * r_primal and rho > 1e-6:
            rho = rho / 2
    cert = _farkas(M, y, X - Z, n)
    if cert:
        raise ValueError("the programme is infeasible: no positive semidefinite X satisfies ⟨A_i, X⟩ = y_i "
                         f"(Farkas certificate: yᵀν̂ = {cert[0]:.3g} > 0 with Σ ν̂_i A_i ⪯ 0, "
                         f"λ_max = {cert[1]:.1e})")
    raise RuntimeError(f"ADMM did not reach the certificate in {max_iter} iterations (relative residual "
                       f"{feas:.1e}, duality gap {gap:.1e}); the programme may be weakly infeasible or "
                       "ill-posed (the trace would have to grow without bound)")


def _farkas(M: np.ndarray, y: np.ndarray, delta: np.ndarray, n: int):
    """``(yᵀν̂, λ_max(𝒜*ν̂))`` if the ADMM displacement ``X − Z`` yields a Farkas certificate, else ``None``.

    When the affine set and the PSD cone do not meet, ``X − Z`` tends to the shortest vector between them,
    ``δ = 𝒜*(ν̂) ⪯ 0`` with ``yᵀν̂ = ‖δ‖² > 0``: for every feasible ``X ⪰ 0`` we would get
    ``0 < yᵀν̂ = ⟨𝒜*(ν̂), X⟩ ≤ 0``, a contradiction.
    """
    nu, *_ = np.linalg.lstsq(M.T, delta.reshape(-1), rcond=None)
    F = (M.T @ nu).reshape(n, n)
    F = (F + F.T) / 2
    top = float(np.linalg.eigvalsh(F)[-1])
    size = float(np.abs(F).max())
    value = float(y @ nu)
    if size > 0 and value > 1e-8 * np.linalg.norm(y) * np.linalg.norm(nu) and top <= 1e-9 * size:
        return value, top
    return None


# ------------------------------------------------------------------------------- the entropic (mirror) limit
def entropy_projection(A, y, x0, *, nu0=None, dual: bool = False, max_iter: int = 500):
    """The Bregman projection of ``x0 > 0`` onto ``{x : Ax = y}`` under the entropy: where gradient flow goes.

    Returns ``argmin_x Σ_j x_j log(x_j / x0_j) − x_j + x0_j`` subject to ``Ax = y``. Gradient flow on the diagonal
    network ``x = u ⊙ u`` from ``u₀ = √x0`` keeps ``log(x(t)/x0)`` in the range of ``Aᵀ``, which is this
    programme's optimality condition; so if the flow converges, it converges here (Woodworth et al., 2020; see
    :ref:`chap-factorized`). With ``x0 = α²·1`` the objective is ``log(1/α²)·1ᵀx`` plus the entropy, so the
    solution tends to :func:`min_l1_nonneg`'s as ``α → 0``.

    **Algorithm.** The solution is ``x = x0 ⊙ exp(Aᵀν)`` with ``ν`` the minimiser of the smooth convex dual
    ``φ(ν) = Σ_j x0_j exp(a_jᵀν) − yᵀν``; damped Newton (backtracking on ``φ``) from ``nu0`` (default ``0``);
    once the decrease that backtracking would ask for is below the round-off of ``φ``, full Newton steps are
    taken while they reduce the residual ``‖Ax − y‖``, and the iteration stops when they no longer do.

    Parameters, result and errors::

        A : array ``(m, d)`` of full row rank; ``y`` : array ``(m,)``; ``x0`` : positive number or array ``(d,)``.
        nu0 : array ``(m,)``, optional
            A warm start (the previous ``ν`` when sweeping ``x0``).
        dual : bool
            Also return ``ν``.

        Returns ``x`` ``(d,)`` float64, all entries positive (and ``ν`` when ``dual``).

        Raises ``ValueError`` if ``A`` lacks full row rank or if ``y`` is not ``Ax`` for any ``x > 0`` (then the dual
        is unbounded and the iteration diverges), ``RuntimeError`` if Newton stalls far from feasibility.
    """
    A, y = _system(A, y)
    m, d = A.shape
    log_x0 = np.log(_positive("x0", x0, (d,)))
    max_iter = check_int("max_iter", max_iter, min_value=1)
    if np.linalg.matrix_rank(A) < m:
        raise ValueError(f"A must have full row rank ({m}), got rank {np.linalg.matrix_rank(A)}")
    nu = np.zeros(m) if nu0 is None else _real_array("nu0", nu0, 1).copy()
    if nu.shape != (m,):
        raise ValueError(f"nu0 must have shape ({m},), got {nu.shape}")

    def phi(v: np.ndarray) -> float:
        with np.errstate(over="ignore"):
            return float(np.exp(log_x0 + A.T @ v).sum() - y @ v)

    value = phi(nu)
    scale = float(np.linalg.norm(y)) + float(np.abs(A).max())
    for _ in range(max_iter):
        x = np.exp(log_x0 + A.T @ nu)
        grad = A @ x - y
        hess = (A * x) @ A.T
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        decrement = float(grad @ step)
        if not decrement > 1e-30:
            break
        if decrement <= 1e-10 * max(1.0, abs(value)):
            # local phase: the decrease Armijo asks for is below the round-off of φ, so judge the full
            # Newton step by the residual instead, and stop when it no longer falls
            trial_nu = nu - step
            if np.linalg.norm(A @ np.exp(log_x0 + A.T @ trial_nu) - y) < np.linalg.norm(grad):
                nu, value = trial_nu, phi(trial_nu)
                continue
            break
        t = 1.0
        while t > 1e-14:
            trial = phi(nu - t * step)
            if trial <= value - 0.25 * t * decrement:
                break
            t /= 2
        else:
            break  # no decrease left: round-off reached
        nu, value = nu - t * step, trial
        if np.abs(nu).max() > 1e4 * (1 + np.log1p(np.abs(log_x0).max())):
            raise ValueError("y is not A x for any x > 0: the dual diverges (the entropy projection needs a "
                             "strictly positive interpolant)")
    x = np.exp(log_x0 + A.T @ nu)
    resid = float(np.linalg.norm(A @ x - y))
    if not resid <= 1e-8 * scale:
        raise RuntimeError(f"Newton stalled with residual ‖Ax − y‖ = {resid:.2e}: y may lie on the boundary of "
                           "the cone A·R₊ᵈ (no strictly positive interpolant)")
    return (x, nu) if dual else x


def dual_slack_exponent(A, support) -> float:
    """The exponent ``c`` in ``off-support mass ≈ α^(2c)`` of the entropy projection of ``α²·1`` as ``α → 0``.

    Let ``S`` be the support of the (unique) minimum-sum non-negative interpolant. Writing the entropy projection's
    dual as ``ν = log(1/α²)·μ``, the off-support entries are ``x_j = α^(2(1 − a_jᵀμ))``; as ``α → 0``, ``μ`` tends
    to the solution of the minimax programme ``min_μ max_{j ∉ S} a_jᵀμ`` subject to ``a_jᵀμ = 1`` for ``j ∈ S``
    (an LP solved here by HiGHS). Its value ``t*`` gives ``c = 1 − t*``, the smallest dual slack that the entropy
    can reach (see :ref:`chap-factorized`; a sketch, not a theorem with constants).

    Parameters, result and errors::

        A : array ``(m, d)``; support : sequence of distinct column indices (``1 ≤ |S| < d``).

        Raises ``ValueError`` if the minimax programme is unbounded: then ``0`` is outside the cone of the
        off-support columns projected orthogonally to the support's span, so the non-negative interpolant is
        unique and there is no rate to speak of.
    """
    A = _real_array("A", A, 2)
    m, d = A.shape
    S = np.asarray(support)
    if S.ndim != 1 or S.size == 0 or S.dtype.kind not in "iu":
        raise ValueError("support must be a non-empty 1-D sequence of integer column indices")
    if len(np.unique(S)) != S.size or S.min() < 0 or S.max() >= d or S.size >= d:
        raise ValueError(f"support must hold distinct indices in [0, {d}) and leave some column out")
    off = np.setdiff1d(np.arange(d), S)
    cost = np.zeros(m + 1)
    cost[-1] = 1.0                                          # minimise t over (μ, t)
    res = optimize.linprog(cost, A_ub=np.hstack([A[:, off].T, -np.ones((off.size, 1))]), b_ub=np.zeros(off.size),
                           A_eq=np.hstack([A[:, S].T, np.zeros((S.size, 1))]), b_eq=np.ones(S.size),
                           bounds=(None, None), method="highs")
    if res.status == 3:
        raise ValueError("the minimax programme is unbounded: the non-negative interpolant supported on S is "
                         "the only one, so there is no rate")
    if res.status != 0:
        raise ValueError(f"the minimax programme could not be solved ({res.message}); is S a feasible support?")
    return float(1.0 - res.x[-1])


# ----------------------------------------------------------------------------------- the diagonal network
class DiagonalRun(NamedTuple):
    """The outcome of :func:`diagonal_net_gd` (leading batch axis ``B`` only when ``alpha`` was an array).

    ``x``: ``(B, d)`` final ``u ⊙ u``; ``x0_eff``: ``(B, d)`` the effective initialisation
    ``α² exp(2 Σ_k [log|1 − 2ηg_k| + 2ηg_k])``; ``nu``: ``(B, m)`` the accumulated ``−4η Σ_k r_k``, so that
    ``x = x0_eff ⊙ exp(Aᵀν)`` exactly; ``steps``: ``(R,)`` the recorded steps; ``xs``: ``(R, B, d)`` the
    iterates there; ``loss``: ``(R, B)``.
    """

    x: np.ndarray
    x0_eff: np.ndarray
    nu: np.ndarray
    steps: np.ndarray
    xs: np.ndarray
    loss: np.ndarray


def diagonal_net_gd(A, y, *, alpha, lr: float, steps: int, record_steps=(), device=None) -> DiagonalRun:
    """Gradient descent on the diagonal network ``x = u ⊙ u``, ``L(u) = ½‖A(u ⊙ u) − y‖²``, from ``u₀ = α·1``.

    The gradient is ``∂L/∂u = 2u ⊙ g`` with ``g = Aᵀr``, ``r = Ax − y`` (the unit tests compare it with
    autograd), so a step multiplies: ``u_{k+1} = u_k ⊙ (1 − 2ηg_k)`` and ``x_{k+1} = x_k ⊙ (1 − 2ηg_k)²``. Along
    the way the run accumulates the two parts of ``2 log|1 − 2ηg_k|``: the first-order part, through
    ``ν = −4η Σ_k r_k`` (so that it is ``Aᵀν``, in the range of ``Aᵀ``), and the remainder ``2 Σ_k h(2ηg_k)``
    with ``h(z) = log|1 − z| + z ≤ 0``, which shrinks the initialisation to ``x0_eff``. Hence
    ``x_K = x0_eff ⊙ exp(Aᵀν)``: the iterate is exactly the entropy projection of ``x0_eff`` onto
    ``{x : Ax = Ax_K}`` (:func:`entropy_projection`), and ``x0_eff → α²·1`` as ``η → 0`` at a fixed time ``ηK``
    (gradient flow). See :ref:`chap-factorized`.

    Parameters, result and errors::

        A : array ``(m, d)``; y : array ``(m,)``
        alpha : positive float, or 1-D array ``(B,)`` for ``B`` independent runs in one batch.
        lr : float
            Step size ``η > 0``; stability needs roughly ``η < 1/(2 λ_max(A diag(x) Aᵀ))`` along the path.
        steps : int
            Number of steps ``K ≥ 0``.
        record_steps : iterable of int
            Steps (in ``[0, K]``) at which to keep ``x`` and the loss; ``K`` is always recorded.
        device : torch device, optional (default :func:`dltnotes.runtime.device`).

        Returns a :class:`DiagonalRun` (numpy float64 arrays).
    """
    from .runtime import device as default_device

    A_np, y_np = _system(A, y)
    batched = isinstance(alpha, (np.ndarray, torch.Tensor, list, tuple))
    alphas = _positive("alpha", alpha)
    if alphas.ndim > 1:
        raise ValueError(f"alpha must be a number or a 1-D array, got shape {alphas.shape}")
    alphas = alphas.reshape(-1)
    lr = check_real("lr", lr, min_value=0.0, min_inclusive=False)
    steps = check_int("steps", steps, min_value=0)
    record = sorted({check_int("record step", s, min_value=0, max_value=steps) for s in record_steps} | {steps})
    dev = torch.device(device) if device is not None else default_device()
    At = torch.as_tensor(A_np, device=dev)
    yt = torch.as_tensor(y_np, device=dev)
    B, d = alphas.size, A_np.shape[1]
    a = torch.as_tensor(alphas, device=dev)[:, None]
    u = a.expand(B, d).clone()
    log_eff = (2 * torch.log(a)).expand(B, d).clone()
    nu = torch.zeros(B, A_np.shape[0], dtype=torch.float64, device=dev)
    xs, losses = [], []
    for k in range(steps + 1):
        r = (u * u) @ At.T - yt                                   # (B, m) residuals
        if k in record:
            xs.append((u * u).cpu().numpy())
            losses.append(0.5 * (r * r).sum(1).cpu().numpy())
        if k == steps:
            break
        z = 2 * lr * (r @ At)                                     # 2ηg, g = Aᵀr
        log_eff += 2 * (torch.log(torch.abs(1 - z)) + z)          # 2h(2ηg)
        nu -= 4 * lr * r
        u = u * (1 - z)                                           # u − η ∂L/∂u
    out = DiagonalRun((u * u).cpu().numpy(), torch.exp(log_eff).cpu().numpy(), nu.cpu().numpy(),
                      np.asarray(record), np.stack(xs), np.stack(losses))
    if not batched:
        out = DiagonalRun(out.x[0], out.x0_eff[0], out.nu[0], out.steps, out.xs[:, 0], out.loss[:, 0])
    return out


# ------------------------------------------------------------------------------------------ matrix sensing
def symmetric_sensing(m: int, n: int, *, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """``m`` symmetric Gaussian measurement matrices ``A_i = (G_i + G_iᵀ)/2``, ``G_i`` with i.i.d. N(0, 1) entries.

    Returns a float64 tensor ``(m, n, n)``. With this scaling ``E⟨A_i, X⟩² = ‖X‖_F²`` for every symmetric ``X``,
    so ``(1/m)𝒜*𝒜`` is the identity on symmetric matrices in expectation. The draw is made on the CPU with
    ``generator`` (so a seed gives the same matrices on every device) and then moved to ``device``.
    See :ref:`chap-factorized`.
    """
    from .runtime import device as default_device

    m = check_int("m", m, min_value=1)
    n = check_int("n", n, min_value=1)
    G = torch.randn(m, n, n, generator=generator, dtype=torch.float64)
    return ((G + G.transpose(1, 2)) / 2).to(torch.device(device) if device is not None else default_device())


def sense(A: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """The measurements ``𝒜(X)_i = ⟨A_i, X⟩``.

    ``A`` ``(m, n, n)`` and ``X`` ``(n, n)`` or ``(B, n, n)`` (torch tensors) give ``(m,)`` or ``(B, m)``.
    See :ref:`chap-factorized`.
    """
    if not isinstance(A, torch.Tensor) or not isinstance(X, torch.Tensor):
        raise TypeError("A and X must be torch tensors")
    if A.ndim != 3 or A.shape[1] != A.shape[2]:
        raise ValueError(f"A must have shape (m, n, n), got {tuple(A.shape)}")
    if X.ndim not in (2, 3) or tuple(X.shape[-2:]) != tuple(A.shape[1:]):
        raise ValueError(f"X must have shape ({A.shape[1]}, {A.shape[1]}) or (B, {A.shape[1]}, {A.shape[1]}), "
                         f"got {tuple(X.shape)}")
    return X.reshape(*X.shape[:-2], -1) @ A.reshape(A.shape[0], -1).T


class SensingRun(NamedTuple):
    """The outcome of :func:`matrix_sensing_gd` for ``B`` initial scales.

    ``X``: ``(B, n, n)`` final ``UUᵀ``; ``steps``: ``(R,)`` recorded steps; ``eigs``: ``(R, B, n)`` eigenvalues of
    ``UUᵀ`` there (descending); ``residual``: ``(R, B)`` relative residual ``‖𝒜(UUᵀ) − y‖ / ‖y‖``.
    """

    X: np.ndarray
    steps: np.ndarray
    eigs: np.ndarray
    residual: np.ndarray


def matrix_sensing_gd(A, y, *, alpha, lr: float, steps: int, record_every: int = 0) -> SensingRun:
    """Gradient descent on ``L(U) = (1/2m)‖𝒜(UUᵀ) − y‖²`` with full ``U`` ``(n, n)`` from ``U₀ = αI``.

    The gradient is ``∇L(U) = (2/m) 𝒜*(r) U`` with ``r = 𝒜(UUᵀ) − y`` and ``𝒜*(r) = Σ_i r_i A_i`` (symmetric
    ``A_i``); the ``B`` values of ``alpha`` run as one batch on ``A``'s device. Gunasekar et al. (2017) conjecture
    that as ``α → 0`` (and ``η → 0``) the limit is :func:`min_trace_psd`'s solution. See :ref:`chap-factorized`.

    Parameters, result and errors::

        A : float64 tensor ``(m, n, n)`` of symmetric matrices; y : tensor ``(m,)`` (same device).
        alpha : positive float or 1-D sequence ``(B,)``.
        lr : float ``> 0``; steps : int ``≥ 0``.
        record_every : int
            Record eigenvalues and residual every so many steps (``0``: only the first and last step).
    """
    if not isinstance(A, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError("A and y must be torch tensors (see symmetric_sensing)")
    if A.ndim != 3 or A.shape[1] != A.shape[2]:
        raise ValueError(f"A must have shape (m, n, n), got {tuple(A.shape)}")
    if y.shape != (A.shape[0],):
        raise ValueError(f"y must have shape ({A.shape[0]},), got {tuple(y.shape)}")
    if A.dtype != torch.float64 or y.dtype != torch.float64:
        raise TypeError(f"A and y must be float64, got {A.dtype} and {y.dtype}")
    if not (torch.isfinite(A).all() and torch.isfinite(y).all()):
        raise ValueError("A and y must be finite")
    if not torch.allclose(A, A.transpose(1, 2), rtol=0, atol=1e-12 * float(A.abs().max())):
        raise ValueError("the measurement matrices must be symmetric")
    alphas = _positive("alpha", alpha).reshape(-1)
    lr = check_real("lr", lr, min_value=0.0, min_inclusive=False)
    steps = check_int("steps", steps, min_value=0)
    record_every = check_int("record_every", record_every, min_value=0)
    m, n, _ = A.shape
    flat = A.reshape(m, -1)
    U = torch.as_tensor(alphas, device=A.device)[:, None, None] * torch.eye(n, dtype=torch.float64, device=A.device)
    ny = torch.linalg.norm(y)
    rec_steps, eigs, resid = [], [], []
    for k in range(steps + 1):
        X = U @ U.transpose(1, 2)
        r = X.reshape(len(alphas), -1) @ flat.T - y                  # (B, m)
        if k == 0 or k == steps or (record_every and k % record_every == 0):
            rec_steps.append(k)
            eigs.append(torch.linalg.eigvalsh(X).flip(-1).cpu().numpy())
            resid.append((torch.linalg.norm(r, dim=1) / ny).cpu().numpy())
        if k == steps:
            break
        U = U - lr * (2 / m) * (r @ flat).reshape(-1, n, n) @ U
    X = U @ U.transpose(1, 2)
    return SensingRun(X.cpu().numpy(), np.asarray(rec_steps), np.stack(eigs), np.stack(resid))


# ------------------------------------------------------------------------------ deep matrix completion (flow)
class CompletionFlow(NamedTuple):
    """The outcome of :func:`completion_flow` at the ``T`` requested times.

    ``times``: ``(T,)``; ``W``: ``(T, n, n)`` the product ``W_L ⋯ W_1``; ``factors``: ``(T, L, n, n)``;
    ``logdet_change``: ``(T,)`` the integral ``−L ∫ tr(Σ^(1−2/L) Uᵀ G V) dt`` (``W = UΣVᵀ``, ``G`` the loss
    gradient at ``W``), which equals ``log|det W(t)| − log|det W(0)|`` along a *balanced* flow of depth
    ``L ≥ 2`` (NaN at ``L = 1``, where the rate is singular wherever ``det W = 0``).
    """

    times: np.ndarray
    W: np.ndarray
    factors: np.ndarray
    logdet_change: np.ndarray


def completion_flow(target, mask, factors, times, *, rtol: float = 1e-10, atol: float = 1e-13) -> CompletionFlow:
    """Gradient flow of a depth-``L`` matrix factorisation on the completion loss ``½‖mask ⊙ (W − target)‖²``.

    ``W = W_L ⋯ W_1`` with square factors; ``Ẇ_j = −(W_L ⋯ W_{j+1})ᵀ G (W_{j−1} ⋯ W_1)ᵀ``,
    ``G = mask ⊙ (W − target)``. Integrated by LSODA (stiff/non-stiff switching: the flow slows down as the
    product grows, which explicit solvers handle poorly). Alongside, it integrates the rate
    ``d/dt log|det W| = −L tr(Σ^(1−2/L) UᵀGV)`` that holds for balanced factors (``W_{j+1}ᵀW_{j+1} = W_jW_jᵀ``,
    preserved by the flow; Arora et al. 2018, 2019): the rate is finite, so ``det W`` cannot reach zero in finite
    time, which is the lemma behind Razin and Cohen (2020). See :ref:`chap-factorized`.

    Parameters, result and errors::

        target, mask : arrays ``(n, n)``; ``mask`` of zeros and ones (observed entries).
        factors : array ``(L, n, n)``, the initial factors ``W_1, …, W_L`` in that order.
        times : increasing array ``(T,)`` of times ``> 0`` at which to report.
        rtol, atol : the solver's tolerances.
    """
    target = _real_array("target", target, 2)
    mask = _real_array("mask", mask, 2)
    n = target.shape[0]
    if target.shape != (n, n) or mask.shape != (n, n):
        raise ValueError(f"target and mask must be square and of equal shape, got {target.shape}, {mask.shape}")
    if not np.isin(mask, (0.0, 1.0)).all():
        raise ValueError("mask must hold zeros and ones")
    factors = _real_array("factors", factors, 3)
    if factors.shape[1:] != (n, n):
        raise ValueError(f"factors must have shape (L, {n}, {n}), got {factors.shape}")
    times = _real_array("times", times, 1)
    if (times <= 0).any() or (np.diff(times) <= 0).any():
        raise ValueError("times must be positive and strictly increasing")
    rtol = check_real("rtol", rtol, min_value=0.0, min_inclusive=False)
    atol = check_real("atol", atol, min_value=0.0, min_inclusive=False)
    L = factors.shape[0]
    eye = np.eye(n)

    def rhs(_t, z):
        Ws = z[:-1].reshape(L, n, n)
        prefix = [eye]
        for W in Ws:
            prefix.append(W @ prefix[-1])                        # prefix[j] = W_j ⋯ W_1
        P = prefix[-1]
        G = mask * (P - target)
        grads = np.empty_like(Ws)
        suffix = eye                                             # W_L ⋯ W_{j+1}
        for j in range(L - 1, -1, -1):
            grads[j] = suffix.T @ G @ prefix[j].T
            suffix = suffix @ Ws[j]
        rate = 0.0
        if L >= 2:                          # at L = 1 the rate −tr(W⁻¹G) is singular where det W = 0
            U, s, Vt = np.linalg.svd(P)
            rate = -L * float(np.sum(s ** (1 - 2 / L) * np.einsum("ij,ik,kj->j", U, G, Vt.T)))
        return np.concatenate([-grads.ravel(), [rate]])

    z0 = np.concatenate([factors.ravel(), [0.0]])
    sol = solve_ivp(rhs, (0.0, float(times[-1])), z0, method="LSODA", t_eval=times, rtol=rtol, atol=atol)
    if sol.status != 0:
        raise RuntimeError(f"the flow could not be integrated: {sol.message}")
    fac = sol.y[:-1].T.reshape(len(times), L, n, n)
    prods = np.empty((len(times), n, n))
    for i in range(len(times)):
        P = eye
        for W in fac[i]:
            P = W @ P
        prods[i] = P
    return CompletionFlow(sol.t, prods, fac, sol.y[-1] if L >= 2 else np.full(len(times), np.nan))
