"""Deep linear networks: the exact learning dynamics of Saxe, McClelland and Ganguli.

**Conventions.** A two-layer linear network ``y = W2 W1 x`` with ``W1`` of shape ``(n_h, n_in)`` and ``W2`` of
shape ``(n_out, n_h)`` is trained on *whitened* inputs (``Σ11 = E x xᵀ = I``) with the square loss. Its population
loss is then ``½‖Σ31 − W2 W1‖²_F`` plus a constant, where ``Σ31 = E y xᵀ = U S Vᵀ`` (shape ``(n_out, n_in)``) is
the input–output correlation matrix with singular values ``s_α``. The strength of mode ``α`` is
``a_α = u_αᵀ W2 W1 v_α``. Gradient descent with step ``η`` is the simultaneous update

    W1 ← W1 + η W2ᵀ (Σ31 − W2 W1),     W2 ← W2 + η (Σ31 − W2 W1) W1ᵀ,

and its continuous-time limit, with time ``t = η k`` after ``k`` steps, is the gradient flow ``τ Ẇ = −∇L`` with
``τ = 1``. From balanced, decoupled initial weights (:func:`decoupled_init`) every mode obeys
``τ ȧ = 2 a (s − a)``, solved in closed form by :func:`saxe_mode_strength`, and one step of gradient descent maps
``a ↦ a (1 + η (s − a))²`` exactly (:func:`discrete_mode_strengths`).

Contents:

* :func:`saxe_mode_strength`, :func:`saxe_learning_time` — the sigmoidal closed form and its learning times;
* :func:`discrete_mode_strengths` — the exact scalar map of decoupled gradient descent;
* :func:`decoupled_init`, :func:`linear_net_gd` — the network itself, and its gradient descent with the mode
  matrix ``Uᵀ W2 W1 V`` recorded along the way;
* :func:`effective_init_strength` — the initial strength a random initialisation gives each mode;
* :func:`first_crossing` — when a recorded curve first reaches a level (learning times from a run);
* :func:`tree_dataset`, :func:`tree_modes` — the hierarchical data set of Saxe et al. (2019) and its exact
  singular modes.

Taught in :ref:`chap-deep-linear`. References: A. Saxe, J. McClelland, S. Ganguli, *Exact solutions to the
nonlinear dynamics of learning in deep linear neural networks*, ICLR 2014 (arXiv:1312.6120); *A mathematical
theory of semantic development in deep neural networks*, PNAS 116 (2019) (arXiv:1810.10531).
"""

from __future__ import annotations

import math
import numbers
from typing import NamedTuple

import numpy as np
import torch

from ._validate import check_int, check_real, check_tensor
from .runtime import progress

__all__ = ["saxe_mode_strength", "saxe_learning_time", "discrete_mode_strengths", "decoupled_init",
           "LinearNetRun", "linear_net_gd", "effective_init_strength", "first_crossing", "TreeData",
           "tree_dataset", "TreeModes", "tree_modes"]


# --- argument checks for the closed forms --------------------------------------------------------------------

def _as_real_array(name: str, value) -> np.ndarray:
    """A float64 array from a Python/numpy number or array; ``TypeError`` for anything that is not real."""
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise TypeError(f"{name} must be a real number or an array of real numbers, got {type(value).__name__}")
    try:
        arr = np.asarray(value)
    except Exception as err:  # ragged sequences and the like
        raise TypeError(f"{name} must be a real number or an array of real numbers ({err})") from None
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def _as_real_tensor(name: str, value, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bool or value.is_complex():
            raise TypeError(f"{name} must be a real tensor, got dtype {value.dtype}")
        return value.to(dtype=dtype, device=device)
    return torch.as_tensor(_as_real_array(name, value), dtype=dtype, device=device)


def _check_range(name: str, value, *, positive: bool, xp) -> None:
    """Finite everywhere, and ``> 0`` (``positive``) or ``≥ 0``; ``xp`` is numpy or torch."""
    if not bool(xp.isfinite(value).all()):
        raise ValueError(f"{name} must be finite, got a NaN or infinite value")
    if positive and not bool((value > 0).all()):
        raise ValueError(f"{name} must be > 0, got minimum {float(value.min())}")
    if not positive and not bool((value >= 0).all()):
        raise ValueError(f"{name} must be >= 0, got minimum {float(value.min())}")


def _closed_form_args(t, s, a0, tau, extra=()):
    """Validate and broadcast; returns ``(xp, arrays, scalar_out)`` with ``xp`` numpy or torch."""
    named = {"t": t, "s": s, "a0": a0, "tau": tau, **dict(extra)}
    tensors = [v for v in named.values() if isinstance(v, torch.Tensor)]
    if tensors:
        for name, v in named.items():
            if isinstance(v, torch.Tensor) and (v.dtype == torch.bool or v.is_complex()):
                raise TypeError(f"{name} must be a real tensor, got dtype {v.dtype}")
        floating = [v.dtype for v in tensors if v.is_floating_point()]
        dtype = torch.promote_types(*floating) if len(floating) > 1 else (floating[0] if floating
                                                                            else torch.float64)
        devices = {v.device for v in tensors}
        if len(devices) > 1:
            raise ValueError(f"tensor arguments must be on one device, got {sorted(map(str, devices))}")
        device = devices.pop()
        arrs = {name: _as_real_tensor(name, v, dtype, device) for name, v in named.items()}
        xp = torch
    else:
        arrs = {name: _as_real_array(name, v) for name, v in named.items()}
        xp = np
    for name, v in arrs.items():
        _check_range(name, v, positive=(name != "t"), xp=xp)
    try:
        values = (torch.broadcast_tensors if xp is torch else np.broadcast_arrays)(*arrs.values())
    except (RuntimeError, ValueError) as err:
        shapes = ", ".join(f"{n} {tuple(v.shape)}" for n, v in arrs.items())
        raise ValueError(f"the arguments do not broadcast together ({shapes}): {err}") from None
    scalar = xp is np and all(np.ndim(v) == 0 for v in named.values())
    return xp, dict(zip(arrs, values)), scalar


def _out(value, scalar: bool):
    return float(value) if scalar else value


# --- the closed form ------------------------------------------------------------------------------------------

def saxe_mode_strength(t, s, a0, *, tau=1.0):
    """The strength ``a(t)`` of one mode of a two-layer linear network under gradient flow (Saxe's sigmoid).

    Solves ``τ ȧ = 2 a (s − a)``, ``a(0) = a0`` — the dynamics of a mode with singular value ``s`` from balanced,
    decoupled initial weights. The solution ``a(t) = s e^{2st/τ} / (e^{2st/τ} − 1 + s/a0)`` is evaluated as

        a(t) = a0 / (E + (a0/s)(1 − E)),   E = exp(−2 s t / τ),   1 − E = −expm1(−2 s t / τ),

    a sum of two non-negative terms in the denominator (for ``a0 < s`` and ``a0 > s`` alike), so there is no
    cancellation and no overflow: ``a(0) = a0`` exactly, ``a(t) → s`` for ``t → ∞`` (``t = 1e6`` is fine), and the
    relative error is a few units of round-off times the condition number ``1 + 2st/τ·|1 − a/s|`` of the
    problem itself.

    Parameters
    ----------
    t : number, array or tensor
        Times ``≥ 0`` (finite), in the same units as ``tau``.
    s : number, array or tensor
        Singular values ``> 0`` (the mode's target strength).
    a0 : number, array or tensor
        Initial strengths ``> 0`` (``a0 > s`` is allowed: the mode then decays to ``s``).
    tau : number, array or tensor, keyword-only
        Time constant ``> 0`` (``1/η`` when ``t`` counts gradient steps; ``1`` when ``t = η k``).

    Returns
    -------
    float, numpy array or tensor
        The arguments broadcast together. A tensor if any argument is a tensor (on its device, in its floating
        dtype, float64 for integer tensors; differentiable), else a numpy float64 array, or a float when every
        argument is a number.

    Raises ``TypeError`` for non-real arguments and ``ValueError`` for NaN/inf, out-of-range values or shapes
    that do not broadcast. See :ref:`chap-deep-linear`; Saxe, McClelland and Ganguli (ICLR 2014).
    """
    xp, v, scalar = _closed_form_args(t, s, a0, tau)
    t, s, a0, tau = v["t"], v["s"], v["a0"], v["tau"]
    x = 2 * s * t / tau
    ratio = a0 / s
    if not bool(xp.isfinite(ratio).all()):
        raise ValueError("a0 / s overflows: the arguments are outside the range of float arithmetic")
    with np.errstate(under="ignore"):  # exp(−x) → 0 for large t is the intended limit, not an error
        decay = xp.exp(-x)
        grown = -xp.expm1(-x)
        return _out(a0 / (decay + ratio * grown), scalar)


def saxe_learning_time(s, a0, *, fraction=0.5, tau=1.0):
    """The time at which the closed form :func:`saxe_mode_strength` reaches ``fraction · s``.

    ``t_f = τ/(2s) · log((s/a0 − 1) · f/(1 − f))``; for ``f = ½`` the half-time ``τ ln(s/a0 − 1)/(2s)``. Requires
    ``0 < a0 < f·s`` (a mode that starts above the level never reaches it from below). Arguments broadcast;
    the return type follows :func:`saxe_mode_strength` (``fraction`` and ``tau`` may be arrays too).
    See :ref:`chap-deep-linear`.
    """
    xp, v, scalar = _closed_form_args(0.0, s, a0, tau, extra={"fraction": fraction})
    s, a0, tau, f = v["s"], v["a0"], v["tau"], v["fraction"]
    if not bool((f < 1).all()):
        raise ValueError(f"fraction must be in (0, 1), got maximum {float(f.max())}")
    if not bool((a0 < f * s).all()):
        raise ValueError("a0 must be < fraction · s: the mode starts at or above the level")
    log = xp.log
    return _out(tau / (2 * s) * (log(s - a0) - log(a0) + log(f) - log(1 - f)), scalar)


# --- the exact map of gradient descent -----------------------------------------------------------------------

def discrete_mode_strengths(a0, s, lr, steps: int) -> np.ndarray:
    """Iterate the exact map of decoupled gradient descent, ``a_{k+1} = a_k (1 + η (s − a_k))²``.

    One step of gradient descent with step ``η = lr`` on a two-layer linear network from balanced, decoupled
    weights maps every mode strength this way (see :ref:`chap-deep-linear`); to first order in ``η`` it is the
    Euler step of ``ȧ = 2a(s − a)``.

    Parameters
    ----------
    a0 : number or array
        Initial strengths ``≥ 0``.
    s : number or array
        Singular values ``> 0``; broadcast with ``a0``.
    lr : number or array
        Step sizes ``> 0``; broadcast with ``a0`` and ``s``.
    steps : int
        Number of steps ``≥ 0``.

    Returns
    -------
    numpy array of shape ``(steps + 1, *broadcast shape)``
        ``a_0, a_1, …, a_steps`` in float64.
    """
    a0, s, lr = (_as_real_array(n, v) for n, v in (("a0", a0), ("s", s), ("lr", lr)))
    _check_range("a0", a0, positive=False, xp=np)
    _check_range("s", s, positive=True, xp=np)
    _check_range("lr", lr, positive=True, xp=np)
    steps = check_int("steps", steps, min_value=0)
    try:
        a, s, lr = (np.array(x) for x in np.broadcast_arrays(a0, s, lr))
    except ValueError as err:
        raise ValueError(f"a0, s and lr do not broadcast together: {err}") from None
    out = np.empty((steps + 1,) + a.shape)
    out[0] = a
    for k in range(steps):
        a = a * (1 + lr * (s - a)) ** 2
        out[k + 1] = a
    return out


# --- the network ----------------------------------------------------------------------------------------------

def _orthonormal_columns(name: str, q: torch.Tensor) -> None:
    gram = q.mT @ q
    eye = torch.eye(q.shape[-1], dtype=q.dtype, device=q.device)
    tol = 100 * q.shape[-2] * torch.finfo(q.dtype).eps
    if not bool(((gram - eye).abs() <= tol).all()):
        raise ValueError(f"{name} must have orthonormal columns (max |{name}ᵀ{name} − I| = "
                         f"{float((gram - eye).abs().max()):.2e} > {tol:.1e})")


def decoupled_init(U: torch.Tensor, V: torch.Tensor, a0, R: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Balanced, decoupled initial weights ``W1 = R diag(√a0) Vᵀ``, ``W2 = U diag(√a0) Rᵀ``.

    Then ``W2 W1 = U diag(a0) Vᵀ``: mode ``α`` starts with strength ``a0[α]`` and no mode talks to another.

    Parameters
    ----------
    U : tensor (n_out, r)
        Left singular vectors of ``Σ31`` (orthonormal columns).
    V : tensor (n_in, r)
        Right singular vectors of ``Σ31`` (orthonormal columns).
    a0 : number, sequence or tensor (r,)
        Initial strengths ``≥ 0``.
    R : tensor (n_h, r)
        Orthonormal columns: the hidden-layer directions of the modes (``n_h ≥ r``).

    Returns
    -------
    ``(W1, W2)`` of shapes ``(n_h, n_in)`` and ``(n_out, n_h)``, in ``U``'s dtype and device.
    See :ref:`chap-deep-linear`.
    """
    for name, q in (("U", U), ("V", V), ("R", R)):
        check_tensor(name, q, ndim=2, floating=True)
    r = U.shape[1]
    if V.shape[1] != r or R.shape[1] != r:
        raise ValueError(f"U, V and R must have the same number of columns, got {U.shape[1]}, {V.shape[1]}, "
                         f"{R.shape[1]}")
    for name, q in (("U", U), ("V", V), ("R", R)):
        if q.shape[0] < r:
            raise ValueError(f"{name} has {q.shape[0]} rows < {r} columns: its columns cannot be orthonormal")
        _orthonormal_columns(name, q)
    a0 = _as_real_tensor("a0", a0, U.dtype, U.device)
    _check_range("a0", a0, positive=False, xp=torch)
    a0 = torch.broadcast_to(a0, (r,)) if a0.ndim == 0 else a0
    if a0.shape != (r,):
        raise ValueError(f"a0 must be a number or have shape ({r},), got {tuple(a0.shape)}")
    root = a0.sqrt()
    V, R = V.to(U), R.to(U)
    return (R * root) @ V.T, (U * root) @ R.T


class LinearNetRun(NamedTuple):
    """A gradient-descent run of a two-layer linear network (:func:`linear_net_gd`).

    ``steps``: numpy int array ``(records,)`` of the recorded step numbers (``0`` and the last step included);
    ``loss``: tensor ``(..., records)`` of ``½‖Σ31 − W2 W1‖²_F`` at those steps; ``modes``: tensor
    ``(..., records, p, q)`` of ``Uᵀ W2 W1 V`` (``None`` without ``modes``); ``W1``, ``W2``: the final weights.
    """

    steps: np.ndarray
    loss: torch.Tensor
    modes: torch.Tensor | None
    W1: torch.Tensor
    W2: torch.Tensor


def linear_net_gd(W1: torch.Tensor, W2: torch.Tensor, sigma31: torch.Tensor, *, lr: float, steps: int,
                  modes: tuple[torch.Tensor, torch.Tensor] | None = None, record_every: int = 1,
                  desc: str | None = None) -> LinearNetRun:
    """Full-batch gradient descent on ``L = ½‖Σ31 − W2 W1‖²_F`` (whitened inputs), recording as it goes.

    The simultaneous update ``W1 ← W1 + η W2ᵀ E``, ``W2 ← W2 + η E W1ᵀ`` with ``E = Σ31 − W2 W1`` is exactly
    ``W ← W − η ∇L`` (the chapter checks it against autograd on data). Leading batch dimensions run several
    networks at once.

    Parameters
    ----------
    W1 : tensor (..., n_h, n_in)
        Initial first-layer weights (floating; not modified).
    W2 : tensor (..., n_out, n_h)
        Initial second-layer weights; batch dimensions broadcast with ``W1``'s.
    sigma31 : tensor (n_out, n_in) or (..., n_out, n_in)
        The input–output correlation ``E y xᵀ``.
    lr : float
        Step size ``η > 0``; time ``t = η k`` after ``k`` steps.
    steps : int
        Number of steps ``≥ 0``.
    modes : (U, V), optional
        ``U (n_out, p)`` and ``V (n_in, q)``: record ``Uᵀ W2 W1 V``. With the singular vectors of ``Σ31``
        (``p = q = r``) this is the mode matrix: its diagonal holds the mode strengths, its off-diagonal the
        coupling between modes. With identities it is the product ``W2 W1`` itself.
    record_every : int
        Record at steps ``0, record_every, 2·record_every, …`` and at the last step.
    desc : str, optional
        Label of the progress bar.

    Returns
    -------
    :class:`LinearNetRun`. See :ref:`chap-deep-linear`.
    """
    check_tensor("W1", W1, ndim=None, floating=True)
    check_tensor("W2", W2, ndim=None, floating=True)
    check_tensor("sigma31", sigma31, ndim=None, floating=True)
    for name, w in (("W1", W1), ("W2", W2), ("sigma31", sigma31)):
        if w.ndim < 2:
            raise ValueError(f"{name} must have at least 2 dimensions, got shape {tuple(w.shape)}")
    n_h, n_in = W1.shape[-2:]
    n_out = W2.shape[-2]
    if W2.shape[-1] != n_h:
        raise ValueError(f"W2 must have {n_h} columns (W1 has {n_h} rows), got shape {tuple(W2.shape)}")
    if sigma31.shape[-2:] != (n_out, n_in):
        raise ValueError(f"sigma31 must end in shape ({n_out}, {n_in}), got {tuple(sigma31.shape)}")
    lr = check_real("lr", lr, min_value=0.0, min_inclusive=False)
    steps = check_int("steps", steps, min_value=0)
    record_every = check_int("record_every", record_every, min_value=1)
    if modes is not None:
        if not (isinstance(modes, (tuple, list)) and len(modes) == 2):
            raise TypeError("modes must be a pair (U, V) of tensors")
        U, V = modes
        check_tensor("U", U, ndim=2, floating=True)
        check_tensor("V", V, ndim=2, floating=True)
        if U.shape[0] != n_out or V.shape[0] != n_in:
            raise ValueError(f"modes must be U ({n_out}, p) and V ({n_in}, q), got {tuple(U.shape)} and "
                             f"{tuple(V.shape)}")
        U, V = U.to(W1), V.to(W1)
    try:
        batch = torch.broadcast_shapes(W1.shape[:-2], W2.shape[:-2], sigma31.shape[:-2])
    except RuntimeError as err:
        raise ValueError(f"the batch dimensions of W1, W2 and sigma31 do not broadcast: {err}") from None
    record = sorted(set(range(0, steps + 1, record_every)) | {steps})
    losses, mats = [], []
    with torch.no_grad():
        S = sigma31.to(W1)
        w1, w2 = W1.detach().clone(), W2.detach().clone()
        w1, w2 = w1.expand(*batch, n_h, n_in).clone(), w2.expand(*batch, n_out, n_h).clone()
        nxt = 0
        for k in progress(range(steps + 1), desc=desc):
            P = w2 @ w1
            E = S - P
            if k == record[nxt]:
                losses.append(0.5 * (E ** 2).sum((-2, -1)))
                if modes is not None:
                    mats.append(U.T @ P @ V)
                nxt += 1
            if k == steps:
                break
            w1, w2 = w1 + lr * (w2.mT @ E), w2 + lr * (E @ w1.mT)
    return LinearNetRun(np.array(record), torch.stack(losses, -1),
                        torch.stack(mats, -3) if modes is not None else None, w1, w2)


def effective_init_strength(W1: torch.Tensor, W2: torch.Tensor, U: torch.Tensor, V: torch.Tensor, *,
                            competition: bool = True) -> torch.Tensor:
    """The initial strength a small random initialisation gives each mode: ``¼‖p_α‖²``, ``p_α = W1 v_α + W2ᵀ u_α``.

    While all weights are small the dynamics are linear, and the hidden-layer vectors ``W1 v_α`` and ``W2ᵀ u_α``
    of mode ``α`` grow along their sum ``p_α`` like ``e^{s_α t}`` (their difference decays), so the strength grows
    like ``¼‖p_α‖² e^{2 s_α t}``: the sigmoid of a decoupled mode with ``a0 = ¼‖p_α‖²``. With
    ``competition=True`` the component of ``p_α`` along the hidden directions ``p_1, …, p_{α−1}`` of the modes
    listed before it is removed (Gram–Schmidt, via a QR factorisation): those modes are learned first and
    suppress the overlapping component. List the modes by decreasing singular value.

    Parameters
    ----------
    W1 : tensor (..., n_h, n_in)
    W2 : tensor (..., n_out, n_h)
    U : tensor (n_out, r)
    V : tensor (n_in, r)
    competition : bool
        Remove the components along earlier modes (needs ``r ≤ n_h``).

    Returns
    -------
    tensor (..., r) of effective initial strengths. See :ref:`chap-deep-linear`.
    """
    check_tensor("W1", W1, floating=True)
    check_tensor("W2", W2, floating=True)
    check_tensor("U", U, ndim=2, floating=True)
    check_tensor("V", V, ndim=2, floating=True)
    if W1.ndim < 2 or W2.ndim < 2:
        raise ValueError("W1 and W2 must have at least 2 dimensions")
    if W2.shape[-1] != W1.shape[-2]:
        raise ValueError(f"W2 {tuple(W2.shape)} and W1 {tuple(W1.shape)} do not chain (n_h differs)")
    if U.shape[0] != W2.shape[-2] or V.shape[0] != W1.shape[-1] or U.shape[1] != V.shape[1]:
        raise ValueError(f"U must be ({W2.shape[-2]}, r) and V ({W1.shape[-1]}, r), got {tuple(U.shape)} and "
                         f"{tuple(V.shape)}")
    if not isinstance(competition, (bool, np.bool_)):
        raise TypeError(f"competition must be a bool, got {type(competition).__name__}")
    p = W1 @ V.to(W1) + W2.mT @ U.to(W1)  # (..., n_h, r)
    if not competition:
        return 0.25 * (p ** 2).sum(-2)
    if p.shape[-1] > p.shape[-2]:
        raise ValueError(f"competition needs r ≤ n_h, got r = {p.shape[-1]} > n_h = {p.shape[-2]}")
    r_diag = torch.linalg.qr(p, mode="r").R.diagonal(dim1=-2, dim2=-1)
    return 0.25 * r_diag ** 2


def first_crossing(times, values, level) -> np.ndarray:
    """The first time each recorded curve reaches ``level``, by linear interpolation between records.

    Parameters
    ----------
    times : array (T,)
        Strictly increasing record times.
    values : array or tensor (..., T)
        Curves along the last axis.
    level : number or array broadcastable to ``values.shape[:-1]``

    Returns
    -------
    numpy float64 array ``values.shape[:-1]``: ``times[0]`` where a curve starts at or above the level, the
    interpolated crossing time where it reaches it later, NaN where it never does. See :ref:`chap-deep-linear`.
    """
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    if isinstance(times, torch.Tensor):
        times = times.detach().cpu().numpy()
    times, values = _as_real_array("times", times), _as_real_array("values", values)
    level = _as_real_array("level", level.detach().cpu().numpy() if isinstance(level, torch.Tensor) else level)
    if times.ndim != 1 or times.size < 2:
        raise ValueError(f"times must be 1-D with at least 2 entries, got shape {times.shape}")
    if values.ndim < 1 or values.shape[-1] != times.size:
        raise ValueError(f"values must end in an axis of length {times.size}, got shape {values.shape}")
    for name, arr in (("times", times), ("values", values), ("level", level)):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} must be finite, got a NaN or infinite value")
    if not (np.diff(times) > 0).all():
        raise ValueError("times must be strictly increasing")
    try:
        level = np.broadcast_to(level, values.shape[:-1])
    except ValueError:
        raise ValueError(f"level {level.shape} does not broadcast to {values.shape[:-1]}") from None
    above = values >= level[..., None]
    hit = above.any(-1)
    k = above.argmax(-1)
    km = np.maximum(k - 1, 0)
    v1 = np.take_along_axis(values, km[..., None], -1)[..., 0]
    v2 = np.take_along_axis(values, k[..., None], -1)[..., 0]
    frac = np.where(k > 0, (level - v1) / np.where(v2 > v1, v2 - v1, 1.0), 0.0)
    out = times[km] + frac * (times[k] - times[km])
    return np.where(hit, out, np.nan)


# --- the hierarchical data set ---------------------------------------------------------------------------------

class TreeData(NamedTuple):
    """Items at the leaves of a binary tree, described by one feature per tree node (:func:`tree_dataset`).

    ``x``: ``(P, P)`` whitened one-hot inputs ``√P·I`` (row ``i`` is item ``i``), so that ``(1/P) Σ x xᵀ = I``;
    ``y``: ``(P, N)`` features, ``y[i, j] = 1`` when node ``j`` lies on the path from the root to leaf ``i``;
    ``node_depth``: ``(N,)`` the depth of each node (root ``0``); nodes are numbered breadth-first.
    """

    x: np.ndarray
    y: np.ndarray
    node_depth: np.ndarray


def tree_dataset(depth: int = 3) -> TreeData:
    """The hierarchical data set of Saxe, McClelland and Ganguli (PNAS 2019): ``P = 2^depth`` items, one feature
    per node of a complete binary tree (``N = 2^(depth+1) − 1`` features).

    Node ``j`` at depth ``d`` (breadth-first numbering, ``j = 2^d − 1 + m``) is a feature of the ``2^(depth−d)``
    items below it: leaves ``m·2^(depth−d), …, (m+1)·2^(depth−d) − 1``. Returns :class:`TreeData` (float64 numpy
    arrays). See :ref:`chap-deep-linear`.
    """
    depth = check_int("depth", depth, min_value=1, max_value=12)
    P, N = 2 ** depth, 2 ** (depth + 1) - 1
    y = np.zeros((P, N))
    node_depth = np.zeros(N, dtype=int)
    for d in range(depth + 1):
        width = 2 ** (depth - d)
        for m in range(2 ** d):
            j = 2 ** d - 1 + m
            node_depth[j] = d
            y[m * width:(m + 1) * width, j] = 1.0
    return TreeData(math.sqrt(P) * np.eye(P), y, node_depth)


class TreeModes(NamedTuple):
    """The exact singular modes of ``Σ31`` for :func:`tree_dataset` (:func:`tree_modes`).

    ``V``: ``(P, P)`` orthonormal Haar vectors (columns) on the items, coarse to fine; ``level``: ``(P,)`` the
    level of each column (``0`` the root mode, ``ℓ ≥ 1`` the ``2^(ℓ−1)`` splits of depth ``ℓ − 1``); ``s``:
    ``(P,)`` the singular values ``√((2^(depth−ℓ+1) − 1)/P)``; ``U``: ``(N, P)`` the matching left singular
    vectors ``Σ31 v / s``.
    """

    V: np.ndarray
    level: np.ndarray
    s: np.ndarray
    U: np.ndarray


def tree_modes(depth: int = 3) -> TreeModes:
    """The singular value decomposition of ``Σ31 = (1/P) Σ_i y_i x_iᵀ`` for :func:`tree_dataset`, in closed form.

    Level ``0`` is the constant vector on the items, with singular value ``√((2^(depth+1) − 1)/P)``; level
    ``ℓ ≥ 1`` has one Haar vector per node ``n`` at depth ``ℓ − 1`` (``+`` on the items below its left child,
    ``−`` below its right child) and singular value ``√((2^(depth−ℓ+1) − 1)/P)``. The chapter checks this
    against sympy and numpy. See :ref:`chap-deep-linear`; Saxe et al. (PNAS 2019).
    """
    depth = check_int("depth", depth, min_value=1, max_value=12)
    data = tree_dataset(depth)
    P = data.x.shape[0]
    cols, levels = [np.ones(P) / math.sqrt(P)], [0]
    for lev in range(1, depth + 1):
        width = 2 ** (depth - lev + 1)  # items below a node of depth lev − 1
        for m in range(2 ** (lev - 1)):
            v = np.zeros(P)
            v[m * width:m * width + width // 2] = 1.0
            v[m * width + width // 2:(m + 1) * width] = -1.0
            cols.append(v / math.sqrt(width))
            levels.append(lev)
    V = np.stack(cols, 1)
    level = np.array(levels)
    s = np.sqrt((2.0 ** (depth - level + 1) - 1) / P)
    sigma31 = data.y.T @ data.x / P
    return TreeModes(V, level, s, sigma31 @ V / s)
