"""Kernels: the infinite-width NNGP/NTK of a ReLU network, the empirical NTK, kernel regression and kernel flow.

**Conventions.**

* :func:`relu_nngp_ntk` follows neural-tangents' ``stax`` with its default ``"ntk"`` parameterisation, which is
  also that of :class:`dltnotes.training.MLP`: ``depth`` hidden layers ``Dense(w_std, b_std)`` + ReLU, then a
  readout ``Dense(w_std, b_std)``, where Dense maps ``h ↦ w_std · W h / sqrt(fan_in) + b_std · b`` with
  ``W, b ~ N(0, 1)``. Inputs are not normalised: the first layer's covariance is
  ``Σ¹(x, x') = w_std² x·x' / d + b_std²``.
* Kernel matrices are float64 unless the inputs are another floating dtype; numpy inputs are accepted.
* The square loss of kernel gradient flow is the **sum** ``L = ½ Σ_i (f(x_i) − y_i)²`` and time is continuous:
  ``du/dt = −K u`` for the residual ``u = f − y`` on the training set, so ``u(t) = exp(−K t) u(0)``. Gradient
  descent with learning rate ``η`` for ``s`` steps on this sum loss is time ``t = η s``; on the **mean** loss
  ``½ mean_i (f − y)²`` used by :func:`dltnotes.training.train` (``loss="mse"``) it is ``t = η s / n``.

* Batched two-layer ReLU networks (:func:`two_layer_outputs`, :func:`two_layer_ntk`, :func:`two_layer_gd_step`)
  hold ``S`` networks of width ``m`` at once: first-layer weights ``a (S, m, d)``, readout ``b (S, m)``, and
  ``f(x) = Σ_i b_i relu(a_i·x) / sqrt(m)`` (NTK parametrisation, no biases), where ``x`` is the input the first
  layer sees (for :class:`dltnotes.training.MLP`, the data divided by ``sqrt(d)``).

Taught in :ref:`chap-kernels`, :ref:`chap-ntk` and :ref:`chap-ntk-regression`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ._validate import check_bool, check_int, check_real, check_tensor

__all__ = [
    "NNGPNTK",
    "KernelFit",
    "FlowPrediction",
    "relu_nngp_ntk",
    "relu_nngp_ntk_textbook",
    "empirical_ntk",
    "kernel_regression",
    "kernel_gradient_flow",
    "kernel_gradient_descent",
    "two_layer_outputs",
    "two_layer_ntk",
    "two_layer_gd_step",
    "arccos_angle",
    "polynomial_features",
    "polynomial_kernel",
]


class NNGPNTK(NamedTuple):
    """The two infinite-width kernels of a network, each ``(n1, n2)``."""

    nngp: torch.Tensor
    ntk: torch.Tensor


class KernelFit(NamedTuple):
    """A kernel ridge regression fit: coefficients ``alpha (n, …)``, fitted values on the training set, and the
    predictions ``(m, …)`` at the test points (``None`` when no test kernel was given)."""

    alpha: torch.Tensor
    fitted: torch.Tensor
    predictions: torch.Tensor | None


class FlowPrediction(NamedTuple):
    """Kernel gradient flow at times ``t (T,)``: the training residual ``u(t)`` of shape ``(T, n, …)`` and the
    change of the predictions at the test points ``f_test(t) − f_test(0)`` of shape ``(T, m, …)`` (or ``None``)."""

    residual: torch.Tensor
    test_shift: torch.Tensor | None


# ----------------------------------------------------------------------------------------------- input handling
def _as_matrix(name: str, x, dtype: torch.dtype | None = None) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"{name} must have a floating dtype, got numpy {x.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(x))
    check_tensor(name, x, ndim=2, floating=True)
    if dtype is not None:
        x = x.to(dtype)
    return x


def _pair(x1, x2) -> tuple[torch.Tensor, torch.Tensor | None]:
    x1 = _as_matrix("x1", x1)
    if x2 is None:
        return x1, None
    x2 = _as_matrix("x2", x2)
    if x2.shape[1] != x1.shape[1]:
        raise ValueError(f"x1 and x2 must have the same number of columns, got {x1.shape[1]} and {x2.shape[1]}")
    if x2.dtype != x1.dtype:
        raise TypeError(f"x1 and x2 must have the same dtype, got {x1.dtype} and {x2.dtype}")
    if x2.device != x1.device:
        raise ValueError(f"x1 and x2 must be on the same device, got {x1.device} and {x2.device}")
    return x1, x2


# ----------------------------------------------------------------------------------------------- numerics
def arccos_angle(z1: torch.Tensor, z2: torch.Tensor | None = None, *, refine: float = 0.25) -> torch.Tensor:
    """The angles ``θ_ij ∈ [0, π]`` between the rows of ``z1 (n1, p)`` and of ``z2 (n2, p)``, accurate to round-off.

    ``arccos`` of a rounded cosine loses accuracy where the cosine is close to ±1 (an error ε in the cosine
    becomes ε/θ in the angle). Here pairs with ``|cos θ| > 1 − refine`` are recomputed from the difference and sum
    of the unit vectors by Kahan's formula ``θ = 2 atan2(‖u − v‖, ‖u + v‖)``, which is accurate to a few ulps
    for every angle; identical rows give exactly ``0``, exactly antipodal rows exactly ``π``. A zero row has
    no direction; its angles are returned as ``π/2`` (whatever multiplies them by its zero norm then vanishes).

    Parameters
    ----------
    z1, z2 : torch.Tensor
        Floating, finite, ``(n1, p)`` and ``(n2, p)``; ``z2=None`` means ``z1`` (the diagonal is then exactly 0).
    refine : float
        In ``(0, 1]``; the width of the band of cosines near ±1 that is recomputed.

    Returns
    -------
    torch.Tensor
        ``(n1, n2)`` angles in the dtype of ``z1``.

    See :ref:`chap-ntk`.
    """
    z1, z2 = _pair(z1, z2)
    refine = check_real("refine", refine, min_value=0.0, max_value=1.0, min_inclusive=False)
    return _angles(z1, z2, refine)


def _unit_rows(z: torch.Tensor) -> torch.Tensor:
    norm = torch.linalg.vector_norm(z, dim=1, keepdim=True)
    return torch.where(norm > 0, z / torch.where(norm > 0, norm, 1.0), torch.zeros_like(z))


def _angles(z1: torch.Tensor, z2: torch.Tensor | None, refine: float, chunk: int = 4096,
            unit: bool = False) -> torch.Tensor:
    u1 = z1 if unit else _unit_rows(z1)
    u2 = u1 if z2 is None else (z2 if unit else _unit_rows(z2))
    cos = (u1 @ u2.T).clamp_(-1.0, 1.0)
    theta = torch.arccos(cos)
    zero1 = torch.linalg.vector_norm(u1, dim=1) == 0
    zero2 = torch.linalg.vector_norm(u2, dim=1) == 0
    near = cos.abs() > 1.0 - refine
    near &= ~zero1[:, None] & ~zero2[None, :]
    idx = near.nonzero()
    for start in range(0, idx.shape[0], chunk):               # Kahan's formula on the few nearly (anti)parallel pairs
        i, j = idx[start:start + chunk].unbind(1)
        a, b = u1[i], u2[j]
        theta[i, j] = 2.0 * torch.atan2(torch.linalg.vector_norm(a - b, dim=1), torch.linalg.vector_norm(a + b, dim=1))
    if z2 is None:
        theta.diagonal().zero_()
    theta[zero1, :] = math.pi / 2
    theta[:, zero2] = math.pi / 2
    return theta


def _angle_terms(u1: torch.Tensor, u2: torch.Tensor | None, refine: float = 0.25, chunk: int = 4096):
    """``θ, 1 − cos θ, sin θ, cos θ`` between unit (or zero) rows, accurate to round-off for every angle.

    The three trigonometric terms come from the rounded cosine and one ``atan2``; the few pairs with
    ``|cos θ| > 1 − refine`` (where ``1 − cos θ`` or ``1 + cos θ`` cancels) are redone by Kahan's formula (see
    :func:`arccos_angle`), and zero rows get ``θ = π/2``.
    """
    cos = u1 @ (u1 if u2 is None else u2).T
    cos.clamp_(-1.0, 1.0)
    gap = torch.sub(1.0, cos)                                     # accurate where cos is not close to 1
    sin_t = torch.add(cos, 1.0).mul_(gap).sqrt_()                 # accurate where |cos| is not close to 1
    theta = torch.atan2(sin_t, cos)
    near = sin_t < math.sqrt(refine * (2.0 - refine))             # ⇔ |cos θ| > 1 − refine; never for zero rows
    idx = near.nonzero()
    for start in range(0, idx.shape[0], chunk):
        i, j = idx[start:start + chunk].unbind(1)
        a, b = u1[i], (u1 if u2 is None else u2)[j]
        t = 2.0 * torch.atan2(torch.linalg.vector_norm(a - b, dim=1), torch.linalg.vector_norm(a + b, dim=1))
        if u2 is None:
            t = torch.where(i == j, 0.0, t)
        theta[i, j] = t
        gap[i, j] = 2.0 * torch.sin(0.5 * t) ** 2
        sin_t[i, j] = torch.sin(t)
        cos[i, j] = torch.cos(t)
    v1 = torch.linalg.vector_norm(u1, dim=1) > 0
    v2 = v1 if u2 is None else torch.linalg.vector_norm(u2, dim=1) > 0
    if not bool(v1.all() and v2.all()):
        dead = ~v1[:, None] | ~v2[None, :]
        theta[dead], gap[dead], sin_t[dead], cos[dead] = math.pi / 2, 1.0, 1.0, 0.0
    return theta, gap, sin_t, cos


def _sin_minus_theta_cos(theta: torch.Tensor, sin_t: torch.Tensor, cos_t: torch.Tensor,
                         fused: bool = False) -> torch.Tensor:
    """``sin θ − θ cos θ`` without the cancellation at small θ (series ``θ³/3 − θ⁵/30 + θ⁷/840 − θ⁹/45360``).

    Eager (``fused=False``): the series replaces the few entries with θ < 0.05, if there are any. Fused: the series
    is evaluated everywhere and selected, which has no data-dependent branch and costs nothing in one compiled loop.
    """
    out = torch.addcmul(sin_t, theta, cos_t, value=-1.0)
    if fused:
        t2 = theta * theta
        return torch.where(theta < 0.05, theta * t2 * (1 / 3 - t2 * (1 / 30 - t2 * (1 / 840 - t2 / 45360))), out)
    if float(theta.amin()) < 0.05:                                # next series term < 1e-20 θ³ there
        small = theta < 0.05
        t = theta[small]
        t2 = t * t
        out[small] = t * t2 * (1 / 3 - t2 * (1 / 30 - t2 * (1 / 840 - t2 / 45360)))
    return out


# ----------------------------------------------------------------------------------------------- NNGP and NTK
def relu_nngp_ntk_textbook(x1, x2=None, *, depth: int, w_std: float = 1.0, b_std: float = 0.0) -> NNGPNTK:
    r"""The NNGP/NTK recursion of :func:`relu_nngp_ntk`, written exactly as the theorem states it.

    For reading and for tests: each layer takes the angle as ``arccos`` of the rounded cosine, which loses
    accuracy for nearly parallel or antipodal inputs (an error ε in the cosine becomes about ε/θ in the angle),
    and deep or large-``w_std`` networks overflow. :func:`relu_nngp_ntk` computes the same recursion accurately.
    Arguments and result as for :func:`relu_nngp_ntk` (``x2=None`` means ``x1``); float inputs, any device.

    See :ref:`chap-ntk`.
    """
    x1, x2 = _pair(x1, x2)
    x2 = x1 if x2 is None else x2
    depth = check_int("depth", depth, min_value=0)
    w2 = check_real("w_std", w_std, min_value=0.0, min_inclusive=False) ** 2
    b2 = check_real("b_std", b_std, min_value=0.0) ** 2
    d = x1.shape[1]
    cross = w2 * x1 @ x2.T / d + b2                          # Σ¹(x, x')
    var1 = w2 * (x1 * x1).sum(1) / d + b2                    # Σ¹(x, x)
    var2 = w2 * (x2 * x2).sum(1) / d + b2                    # Σ¹(x', x')
    ntk = cross.clone()                                      # Θ¹ = Σ¹
    for _ in range(depth):
        scale = torch.sqrt(var1[:, None] * var2[None, :])
        theta = torch.arccos((cross / scale).clamp(-1.0, 1.0))
        cross = w2 / (2 * math.pi) * scale * (torch.sin(theta) + (math.pi - theta) * torch.cos(theta)) + b2
        ntk = cross + w2 * (math.pi - theta) / (2 * math.pi) * ntk
        var1, var2 = w2 * var1 / 2 + b2, w2 * var2 / 2 + b2  # the diagonal: θ = 0
    return NNGPNTK(cross, ntk)


def relu_nngp_ntk(x1, x2=None, *, depth: int, w_std: float = 1.0, b_std: float = 0.0,
                  compiled: bool = False) -> NNGPNTK:
    r"""The infinite-width NNGP and NTK of a fully connected ReLU network (neural-tangents ``stax`` conventions).

    The network has ``depth`` hidden layers ``Dense(w_std, b_std)`` + ReLU and a readout ``Dense(w_std, b_std)``
    (see the module docstring; it is :class:`dltnotes.training.MLP` with ``parameterization="ntk"``). The
    recursion, with :math:`\theta^\ell` the angle of :math:`\Sigma^\ell`, is

    .. math::

        \Sigma^1 &= w^2\, x\cdot x'/d + b^2, \qquad \Theta^1 = \Sigma^1,\\
        \Sigma^{\ell+1} &= \tfrac{w^2}{2\pi}\sqrt{\Sigma^\ell(x,x)\Sigma^\ell(x',x')}
            \big(\sin\theta^\ell + (\pi-\theta^\ell)\cos\theta^\ell\big) + b^2,\\
        \Theta^{\ell+1} &= \Sigma^{\ell+1} + \tfrac{w^2}{2\pi}(\pi-\theta^\ell)\,\Theta^\ell,

    and the result is :math:`(\Sigma^{L+1}, \Theta^{L+1})` with :math:`L` = ``depth``.
    :func:`relu_nngp_ntk_textbook` is this recursion line by line; the code below computes the same numbers
    in a form that stays accurate and finite (see **Numerics**).

    **Numerics.** The recursion is carried in terms of the log-variances ``log Σ(x, x)``, the angles and the
    ratio ``Θ / sqrt(Σ(x,x) Σ(x',x'))``, so deep or large-``w_std`` networks neither overflow nor underflow
    before the last step. Angles of the first layer come from :func:`arccos_angle` (accurate for identical,
    parallel, antipodal and nearly identical inputs). Each layer updates ``1 − cos θ`` without cancellation
    and takes the next angle as ``atan2(sin θ, cos θ)``, which is accurate for every angle because both
    arguments are; the last layer's angle is not needed and not computed.

    **What it optimises, and why each trick is safe** (the unit tests compare every path with
    :func:`relu_nngp_ntk_textbook` and with a 60-digit evaluation of the same recursion):

    * *Square tiles* of ``_TILE`` rows: the pairs of a tile are independent, so evaluating them block by
      block changes only the memory traffic (blocks stay in cache), never the arithmetic of a pair.
    * *Symmetry*: with ``x2=None`` only tiles on or above the diagonal are computed and the others are copied
      from them after all are written; the result is exactly symmetric, as the kernel is.
    * *Separable per-input factors* (``_LayerStats``): ``Σ(x, x)`` does not depend on the partner, so its
      logarithm, and the factors of each layer's update that depend on one input only, are computed once per row
      instead of once per pair. They are the same numbers, computed in fewer operations.
    * *Angles*: ``arccos`` of a rounded cosine loses accuracy when ``|cos θ|`` is near 1 (an error ε becomes
      about ε/θ); those few pairs are redone with Kahan's ``2 atan2(‖u − v‖, ‖u + v‖)``, which is exact to a few
      ulps, and ``sin θ − θ cos θ`` uses its Taylor series below θ = 0.05, where the next term is below 1e-20 θ³.
    * *Log scale*: carrying ``log Σ(x, x)`` and ratios instead of products of variances only avoids overflow
      and underflow in deep or large-``w_std`` networks; the final values are the same products.

    Parameters
    ----------
    x1, x2 : torch.Tensor or numpy.ndarray
        Inputs ``(n1, d)`` and ``(n2, d)``, floating and finite; ``x2=None`` means ``x1``. The computation runs
        in the inputs' dtype (use float64, the default working precision for kernels) and device.
    depth : int
        Number of hidden layers (``0`` gives the linear kernel ``Σ¹``).
    w_std, b_std : float
        Weight scale (> 0) and bias scale (≥ 0).
    compiled : bool
        Run the layer recursion of each tile as one loop compiled by ``torch.compile`` (the same arithmetic;
        results agree with the default path to round-off). It is about twice as fast for large kernels, but the
        first call in a process compiles for tens of seconds, so the chapters leave it off. It needs a C++
        compiler on a CPU (Triton on a GPU).

    Returns
    -------
    NNGPNTK
        ``(nngp, ntk)``, each ``(n1, n2)``.

    See :ref:`chap-ntk`; Jacot et al. (2018), Arora et al. (2019), Novak et al. (2020).
    """
    x1, x2 = _pair(x1, x2)
    depth = check_int("depth", depth, min_value=0)
    w_std = check_real("w_std", w_std, min_value=0.0, min_inclusive=False)
    b_std = check_real("b_std", b_std, min_value=0.0)
    compiled = check_bool("compiled", compiled)
    d = x1.shape[1]

    def augment(x):                                          # layer 1 is the Gram matrix of z = (w x / √d, b)
        z = x * (w_std / math.sqrt(d))
        return torch.cat([z, torch.full((x.shape[0], 1), b_std, dtype=x.dtype, device=x.device)], 1) if b_std else z

    z1 = augment(x1)
    z2 = z1 if x2 is None else augment(x2)
    ref = 0.5 * (_log_sq_norm(z1).mean() + _log_sq_norm(z2).mean())   # common scale for the quartic roots
    rows1 = _LayerStats(z1, depth, w_std, b_std, ref)
    rows2 = rows1 if x2 is None else _LayerStats(z2, depth, w_std, b_std, ref)
    n1, n2 = z1.shape[0], z2.shape[0]
    nngp = torch.empty(n1, n2, dtype=z1.dtype, device=z1.device)
    ntk = torch.empty_like(nngp)
    tile = _TILE
    for a in range(0, n1, tile):
        for b in range(a if x2 is None else 0, n2, tile):   # symmetric: the lower tiles are transposes
            ia, ib = slice(a, a + tile), slice(b, b + tile)
            _tile_kernels(rows1, rows2, ia, ib, depth, w_std, b_std, diagonal=(x2 is None and a == b),
                          out=(nngp[ia, ib], ntk[ia, ib]), compiled=compiled)
    if x2 is None:                                           # mirror once all tiles are written (cheaper in memory)
        for a in range(0, n1, tile):
            for b in range(a + tile, n1, tile):
                ia, ib = slice(a, a + tile), slice(b, b + tile)
                nngp[ib, ia], ntk[ib, ia] = nngp[ia, ib].T, ntk[ia, ib].T
    return NNGPNTK(nngp, ntk)


def _log_sq_norm(z: torch.Tensor) -> torch.Tensor:
    q = torch.linalg.vector_norm(z, dim=1) ** 2
    return torch.log(torch.where(q == 0, 1.0, q))


#: Side of the square tiles in which :func:`relu_nngp_ntk` evaluates the recursion (cache-sized blocks).
_TILE = 256


class _LayerStats:
    """Per-input quantities of the recursion: unit rows of layer 1 and, per layer, log-variances and the
    separable factors of the pair updates (so that no per-pair exponential is ever evaluated)."""

    def __init__(self, z: torch.Tensor, depth: int, w_std: float, b_std: float, ref: torch.Tensor):
        self.dead = torch.linalg.vector_norm(z, dim=1) == 0     # zero input and no bias: the network outputs 0
        self.any_dead = bool(self.dead.any())
        self.unit = _unit_rows(z)
        lq = _log_sq_norm(z)                                     # log Σ¹(x, x)
        log_half_w2 = math.log(w_std**2 / 2)
        log_b2 = 2 * math.log(b_std) if b_std > 0 else -math.inf
        self.p, self.r, self.bb, self.pg, self.ig = [], [], [], [], []
        for _ in range(depth):
            la = log_half_w2 + lq                                # log A, A = (w²/2) q: the ReLU halves the variance
            ln = torch.logaddexp(la, torch.full_like(la, log_b2)) if b_std > 0 else la   # log (A + B)
            self.p.append(torch.exp(0.5 * (la - ln)))            # sqrt(A / (A + B)) ≤ 1
            self.r.append(torch.exp(0.5 * (lq - ln)))            # sqrt(q / q_new)
            if b_std > 0:
                g = torch.exp(0.25 * (ln - ref))                 # (A + B)^{1/4} up to a common factor
                self.bb.append(torch.exp(0.5 * (log_b2 - ln)))   # b / sqrt(A + B) ≤ 1
                self.pg.append(self.p[-1] * g)
                self.ig.append(1.0 / g)
            lq = ln
        self.half_scale = torch.exp(0.5 * lq)                    # sqrt(Σ^{L+1}(x, x))
        self.lq = lq


def _tile_kernels(s1: _LayerStats, s2: _LayerStats, ia: slice, ib: slice, depth: int, w_std: float, b_std: float,
                  diagonal: bool, out: tuple[torch.Tensor, torch.Tensor], compiled: bool) -> None:
    """Write the NNGP and NTK of the rows ``ia`` of ``s1`` against the rows ``ib`` of ``s2`` into the two views
    ``out`` (``diagonal``: the two row sets are the same)."""
    u1, u2 = s1.unit[ia], s2.unit[ib]
    theta, gap, sin_t, cos_t = _angle_terms(u1, None if diagonal else u2)
    c_dot = w_std**2 / (2 * math.pi)
    if b_std > 0:
        layers = [tuple(v[layer][ia, None] for v in (s1.p, s1.bb, s1.pg, s1.ig, s1.r)) +
                  tuple(v[layer][None, ib] for v in (s2.p, s2.bb, s2.pg, s2.ig, s2.r)) for layer in range(depth)]
        factor = c_dot
    else:                                                        # no bias: q_new / q = w²/2 for every input
        layers = [None] * depth
        factor = c_dot * 2 / w_std**2
    if not compiled:
        cos_t, ratio = _recursion(theta, gap, sin_t, cos_t, layers, factor)
    else:
        try:
            cos_t, ratio = _compiled_recursion()(theta, gap, sin_t, cos_t, layers, factor, fused=True)
        except Exception as err:                                 # typically no C++ compiler (CPU) or Triton (GPU)
            raise RuntimeError("relu_nngp_ntk(compiled=True): torch.compile failed here (it needs a C++ compiler on "
                               "a CPU, Triton on a GPU); use compiled=False") from err
    if (s1.lq.abs().max() < 1400) and (s2.lq.abs().max() < 1400):
        scale = s1.half_scale[ia, None] * s2.half_scale[None, ib]
    else:                                                        # extreme scales: combine in log space
        scale = torch.exp(0.5 * (s1.lq[ia, None] + s2.lq[None, ib]))
    dead = s1.dead[ia, None] | s2.dead[None, ib] if s1.any_dead or s2.any_dead else None
    for value, target in zip((cos_t, ratio), out):
        if diagonal:                                             # exact symmetry
            value = value * scale
            torch.add(value, value.T, out=target).mul_(0.5)
        else:
            torch.mul(value, scale, out=target)
        if dead is not None:
            target.masked_fill_(dead, 0.0)


def _recursion(theta: torch.Tensor, gap: torch.Tensor, sin_t: torch.Tensor, cos_t: torch.Tensor, layers: list,
               factor: float, fused: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer loop on one tile: from the first layer's ``θ, 1 − cos θ, sin θ, cos θ`` to the last layer's
    ``cos θ`` and NTK ratio ``Θ / sqrt(q q')`` (both still to be multiplied by ``sqrt(q q')``).

    ``layers[l]`` is ``None`` without bias, else the tile's separable factors of layer ``l`` (a column and a row
    of each of ``p, bb, pg, ig, r``, see :class:`_LayerStats`). The inputs are not modified. Elementwise only;
    with ``fused=True`` it has no data-dependent branch, so that ``torch.compile`` makes it one loop.
    """
    ratio = cos_t                                                # Θ¹ / sqrt(q q') = cos θ¹
    for layer, terms in enumerate(layers):
        # gap = 1 − cos θ; after the layer it is α (1 − k1(θ)) [+ bias term], where the normalised degree-1
        # arc-cosine kernel k1(θ) = (sin θ + (π − θ) cos θ)/π has 1 − k1(θ) = (1 − cos θ) − (sin θ − θ cos θ)/π
        gap = torch.add(gap, _sin_minus_theta_cos(theta, sin_t, cos_t, fused), alpha=-1 / math.pi)
        if terms is not None:                                    # + sqrt((A+B)(A'+B)) − sqrt(AA') − B, normalised
            p1, bb1, pg1, ig1, r1, p2, bb2, pg2, ig2, r2 = terms
            alpha = p1 * p2                                      # sqrt(A A') / sqrt((A+B)(A'+B))
            beta = bb1 * bb2
            diff = pg1 * ig2 - ig1 * pg2
            gap = gap * alpha + beta * diff * diff / (1 + alpha + beta)
            ratio = ratio * (r1 * r2)                            # sqrt(q q') / sqrt(q_new q_new')
        gap = gap.clamp(0.0, 1.0)                                # cos θ_new ∈ [0, 1] after a ReLU
        cos_t = 1.0 - gap
        ratio = torch.addcmul(cos_t, ratio, torch.rsub(theta, math.pi), value=factor)   # Θ recursion, normalised
        if layer == len(layers) - 1:
            break                                                # the last angle is not needed
        sin_t = torch.sqrt((2.0 - gap) * gap)                    # sin²θ = (1 − cos θ)(1 + cos θ)
        theta = torch.atan2(sin_t, cos_t)                        # accurate for every θ, as both terms are
    return cos_t, ratio


_COMPILED = None


def _compiled_recursion():
    """:func:`_recursion` compiled once per process by ``torch.compile`` (shapes marked dynamic: one compilation
    serves every tile size; a new depth or bias setting compiles again)."""
    global _COMPILED
    if _COMPILED is None:
        _COMPILED = torch.compile(_recursion, dynamic=True)
    return _COMPILED


# ----------------------------------------------------------------------------------------------- empirical NTK
#: Default memory for one chunk of per-sample Jacobians (bytes).
_CHUNK_BYTES = 256 * 2**20
#: Jacobians of all of ``x2`` are kept (instead of recomputed for each chunk of ``x1``) below this many bytes.
_CACHE_BYTES = 2 * 2**30
_STATEFUL_IN_TRAINING = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._NormBase, nn.AlphaDropout)


def empirical_ntk(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor | None = None, *, method: str = "auto",
                  chunk_size: int | None = None) -> torch.Tensor:
    r"""The finite-width NTK :math:`\Theta(x, x') = \sum_\theta \partial_\theta f(x)\, \partial_\theta f(x')`.

    Computed with ``torch.func`` at the model's current parameters, as in the PyTorch NTK tutorial: either by
    contracting per-sample Jacobians (``"jacobian"``: ``vmap(jacrev)`` on chunks of inputs, then a sum over
    parameter tensors of ``J1 J2ᵀ``), or by NTK-vector products (``"ntk-vp"``: for each basis vector ``e`` of the
    outputs at ``x1``, a vector–Jacobian product ``J1ᵀ e`` followed by a Jacobian–vector product ``J2 (J1ᵀ e)``;
    it never stores a Jacobian). ``"structured"`` applies to networks whose trainable parameters all sit in
    ``nn.Linear`` or :class:`dltnotes.training.Dense` layers, each applied once to ``(n, fan_in)`` inputs: one
    backward pass gives every sample's output gradient ``δ`` at each layer, and the layer contributes
    ``(δ·δ')(h·h')`` (times its scale), so the cost is that of a few ``n1 × n2`` matrix products per layer.
    ``"auto"`` picks ``"structured"`` when it applies, else ``"jacobian"`` unless the Jacobian of a single sample
    exceeds 256 MiB, then ``"ntk-vp"``. All parameters with ``requires_grad`` count; buffers are held fixed.

    Parameters
    ----------
    model : torch.nn.Module
        Maps inputs ``(n, …)`` to ``(n,)`` or ``(n, k)``. Models containing dropout or batch norm must be in
        eval mode (``model.eval()``); in training mode their output depends on the batch or on random masks
        and the NTK is not defined, so a ``ValueError`` is raised.
    x1, x2 : torch.Tensor
        Inputs ``(n1, …)`` and ``(n2, …)`` (``x2=None`` means ``x1``), floating and finite.
    method : str
        ``"auto"`` (default), ``"jacobian"``, ``"ntk-vp"`` or ``"structured"``.
    chunk_size : int, optional
        Number of samples (``"jacobian"``) or basis vectors (``"ntk-vp"``) processed at once; bounds the memory
        by ``chunk_size × #parameters`` floats. ``None`` chooses chunks of about 256 MiB of Jacobian. The Jacobians of ``x2`` are kept between
        chunks of ``x1`` when all of them fit in 2 GiB, and recomputed otherwise.

    Returns
    -------
    torch.Tensor
        ``(n1, n2)`` for models with one output per sample (``(n,)`` or ``(n, 1)``); ``(n1, n2, k, k)`` for ``k``
        outputs, entry ``[i, j, a, b] = Σ_θ ∂f_a(x1_i)/∂θ · ∂f_b(x2_j)/∂θ``. In the parameters' dtype.

    See :ref:`chap-ntk`; Jacot et al. (2018).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    for mod in model.modules():
        if isinstance(mod, _STATEFUL_IN_TRAINING) and mod.training:
            raise ValueError(f"model contains {type(mod).__name__} in training mode: its output depends on the batch "
                             "or on random masks, so the NTK is undefined; call model.eval() first")
    if method not in ("jacobian", "ntk-vp", "structured", "auto"):
        raise ValueError(f"method must be 'jacobian', 'ntk-vp', 'structured' or 'auto', got {method!r}")
    check_tensor("x1", x1, floating=True)
    if x1.ndim < 2:
        raise ValueError(f"x1 must be (n, …) with at least 2 dimensions, got shape {tuple(x1.shape)}")
    if x2 is not None:
        check_tensor("x2", x2, floating=True)
        if x2.shape[1:] != x1.shape[1:]:
            raise ValueError(f"x1 and x2 must have the same sample shape, got {tuple(x1.shape)} and {tuple(x2.shape)}")
    if chunk_size is not None:
        chunk_size = check_int("chunk_size", chunk_size, min_value=1)
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    if not params:
        raise ValueError("model has no parameters that require gradients")
    buffers = {k: v.detach() for k, v in model.named_buffers()}
    n_params = sum(p.numel() for p in params.values())
    dtype = next(iter(params.values())).dtype
    x1 = x1.to(dtype)
    x2 = x1 if x2 is None else x2.to(dtype)
    with torch.no_grad():
        out = model(x1[:1])
    if out.ndim not in (1, 2) or out.shape[0] != 1:
        raise ValueError(f"model must map (n, …) to (n,) or (n, k), got output {tuple(out.shape)} for one sample")
    k = 1 if out.ndim == 1 else out.shape[1]
    scalar = k == 1
    itemsize = torch.finfo(dtype).bits // 8
    if chunk_size is None:
        chunk_size = max(1, int(_CHUNK_BYTES // (itemsize * n_params * k)))
    if method == "auto":
        if _dense_layers(model, params) is not None:
            method = "structured"
        else:
            method = "jacobian" if n_params * k * itemsize <= _CHUNK_BYTES else "ntk-vp"
    if method == "structured":
        return _structured_ntk(model, params, x1, x2, k, scalar)

    from torch.func import functional_call, jacrev, jvp, vjp, vmap

    def f_batch(p, x):                                       # (n, …) -> (n, k)
        y = functional_call(model, (p, buffers), (x,))
        return y.reshape(x.shape[0], k)

    if method == "jacobian":
        def f_single(p, x):
            return f_batch(p, x.unsqueeze(0))[0]             # (k,)

        jac_fn = vmap(jacrev(f_single), (None, 0))

        def jac(x):                                          # list over parameter tensors of (c, k, P_t)
            return [j.reshape(x.shape[0], k, -1) for j in jac_fn(params, x).values()]

        result = torch.empty(x1.shape[0], x2.shape[0], k, k, dtype=dtype, device=x1.device)
        same = x2 is x1
        per_sample = n_params * k * itemsize
        starts1 = range(0, x1.shape[0], chunk_size)
        starts2 = range(0, x2.shape[0], chunk_size)
        # keep every Jacobian chunk of x2 when they fit in the cache budget; otherwise recompute them per row chunk
        cache2 = {b: jac(x2[b:b + chunk_size]) for b in starts2} if x2.shape[0] * per_sample <= _CACHE_BYTES else None
        for a in starts1:
            ja = cache2[a] if (same and cache2 is not None) else jac(x1[a:a + chunk_size])
            for b in starts2:
                if same and b < a:
                    continue                                 # filled by symmetry
                jb = ja if (same and b == a) else (cache2[b] if cache2 is not None else jac(x2[b:b + chunk_size]))
                block = sum(torch.einsum("naf,mbf->nmab", u, v) for u, v in zip(ja, jb))
                result[a:a + chunk_size, b:b + chunk_size] = block
                if same and b != a:
                    result[b:b + chunk_size, a:a + chunk_size] = block.permute(1, 0, 3, 2)
    else:
        def f1(p):
            return f_batch(p, x1).reshape(-1)                # (n1 k,)

        def f2(p):
            return f_batch(p, x2).reshape(-1)                # (n2 k,)

        _, vjp_fn = vjp(f1, params)

        def column(e):                                       # J2 J1ᵀ e
            (cot,) = vjp_fn(e)
            return jvp(f2, (params,), (cot,))[1]

        eye = torch.eye(x1.shape[0] * k, dtype=dtype, device=x1.device)
        cols = [vmap(column)(eye[s:s + chunk_size]) for s in range(0, eye.shape[0], chunk_size)]
        rows = torch.cat(cols, 0)                            # (n1 k, n2 k): rows = (J1 J2ᵀ) indexed by x1 outputs
        result = rows.reshape(x1.shape[0], k, x2.shape[0], k).permute(0, 2, 1, 3)
    return result[:, :, 0, 0].contiguous() if scalar else result.contiguous()


def _dense_layers(model: nn.Module, params: dict) -> list | None:
    """The fully connected layers holding every trainable parameter, or ``None`` if some parameter is elsewhere."""
    from .training import Dense
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, Dense))]
    held = {id(p) for m in layers for p in m.parameters(recurse=False)}
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not layers or any(id(p) not in held for p in trainable):
        return None
    return layers


def _structured_ntk(model: nn.Module, params: dict, x1: torch.Tensor, x2: torch.Tensor, k: int, scalar: bool):
    """Layer-wise NTK of a network made of fully connected layers: for a layer ``out = c·W h + β·b`` the
    per-sample gradients are ``c δ hᵀ`` and ``β δ`` with ``δ = ∂f/∂out``, so its contribution to the NTK is
    ``c² (δ·δ')(h·h') + β² (δ·δ')`` and no Jacobian is ever formed. Samples must be processed independently."""
    from .training import Dense
    layers = _dense_layers(model, params)
    if layers is None:
        raise ValueError("method='structured' needs every trainable parameter to belong to an nn.Linear or "
                         "dltnotes.training.Dense layer; use 'jacobian' or 'ntk-vp'")

    def factors(x):
        seen: dict[int, list] = {i: [] for i in range(len(layers))}
        hooks = [m.register_forward_hook(lambda mod, inp, out, i=i: seen[i].append((inp[0], out)))
                 for i, m in enumerate(layers)]
        try:
            with torch.enable_grad():
                f = model(x).reshape(x.shape[0], k)
        finally:
            for h in hooks:
                h.remove()
        if any(len(v) != 1 or v[0][0].ndim != 2 for v in seen.values()):
            raise ValueError("method='structured' needs each layer applied once to inputs of shape (n, fan_in)")
        outs = [seen[i][0][1] for i in range(len(layers))]
        deltas = [torch.autograd.grad(f[:, a].sum(), outs, retain_graph=True, allow_unused=True) for a in range(k)]
        result = []
        for i, m in enumerate(layers):
            h = seen[i][0][0].detach()
            if isinstance(m, Dense) and m.parameterization == "ntk":
                c, beta = m.w_std / math.sqrt(m.fan_in), m.b_std
            else:
                c, beta = 1.0, 1.0
            d = [torch.zeros_like(outs[i]) if deltas[a][i] is None else deltas[a][i].detach() for a in range(k)]
            w_on = m.weight.requires_grad
            b_on = m.bias is not None and m.bias.requires_grad
            result.append((torch.stack(d, 1), h, c if w_on else 0.0, beta if b_on else 0.0))   # δ: (n, k, out)
        return result

    f1 = factors(x1)
    f2 = f1 if x2 is x1 else factors(x2)
    ntk = torch.zeros(x1.shape[0], x2.shape[0], k, k, dtype=x1.dtype, device=x1.device)
    for (d1, h1, c, beta), (d2, h2, _, _) in zip(f1, f2):
        dd = torch.einsum("nao,mbo->nmab", d1, d2)
        ntk += dd * (c * c * (h1 @ h2.T)[:, :, None, None] + beta * beta)
    return ntk[:, :, 0, 0].contiguous() if scalar else ntk


# ----------------------------------------------------------------------------------------------- polynomial kernel
def polynomial_kernel(x1, x2=None, *, degree: int, c: float = 1.0) -> torch.Tensor:
    """The polynomial kernel ``K(x, x') = (c + x·x')^degree``, shape ``(n1, n2)``, in ``O(n1 n2 d)`` operations.

    Parameters
    ----------
    x1, x2 : torch.Tensor or numpy.ndarray
        ``(n1, d)`` and ``(n2, d)``, floating and finite; ``x2=None`` means ``x1``.
    degree : int
        ``k ≥ 1``.
    c : float
        Offset ``c ≥ 0``.

    Returns
    -------
    torch.Tensor
        ``(n1, n2)`` in the inputs' dtype.

    See :ref:`chap-kernels`.
    """
    x1, x2 = _pair(x1, x2)
    degree = check_int("degree", degree, min_value=1)
    c = check_real("c", c, min_value=0.0)
    return (c + x1 @ (x1 if x2 is None else x2).T) ** degree


def polynomial_features(x, *, degree: int, c: float = 1.0) -> torch.Tensor:
    r"""The explicit feature map of :func:`polynomial_kernel`: ``φ(x)·φ(x') = (c + x·x')^degree`` exactly.

    With the augmented vector :math:`\tilde x = (\sqrt c, x)` the multinomial theorem gives
    :math:`(\tilde x\cdot\tilde x')^k = \sum_{|j|=k} \tfrac{k!}{j!}\,\tilde x^j\,\tilde x'^j`, so
    :math:`\varphi_j(x) = \sqrt{k!/j!}\,\tilde x^j` over the multi-indices :math:`j` of size ``k`` on
    ``d + 1`` coordinates: ``D = C(d + k, k)`` features, which grows like ``d^k / k!``.

    Parameters
    ----------
    x : torch.Tensor or numpy.ndarray
        ``(n, d)``, floating and finite.
    degree : int
        ``k ≥ 1``; ``C(d + k, k)`` must not exceed ``10⁷`` (the map is for small demonstrations).
    c : float
        Offset ``c ≥ 0``.

    Returns
    -------
    torch.Tensor
        ``(n, C(d + k, k))``.

    See :ref:`chap-kernels`.
    """
    x = _as_matrix("x", x)
    degree = check_int("degree", degree, min_value=1)
    c = check_real("c", c, min_value=0.0)
    n, d = x.shape
    n_features = math.comb(d + degree, degree)
    if n_features > 10**7:
        raise ValueError(f"degree {degree} on {d} inputs needs C(d+k, k) = {n_features:.3g} features (> 1e7); "
                         "use polynomial_kernel instead")
    xt = torch.cat([torch.full((n, 1), math.sqrt(c), dtype=x.dtype, device=x.device), x], 1)
    idx = torch.combinations(torch.arange(d + 1, device=x.device), degree, with_replacement=True)  # (D, k)
    counts = torch.zeros(idx.shape[0], d + 1, dtype=torch.float64)
    counts.scatter_add_(1, idx.cpu(), torch.ones(idx.shape, dtype=torch.float64))
    log_coef = math.lgamma(degree + 1) - torch.lgamma(counts + 1).sum(1)      # log k!/j!
    coef = torch.exp(0.5 * log_coef).to(x.dtype).to(x.device)
    return coef * xt[:, idx].prod(-1)


# ----------------------------------------------------------------------------------------------- regression, flow
def _sym_kernel(k_train) -> torch.Tensor:
    k = _as_matrix("k_train", k_train)
    if k.shape[0] != k.shape[1]:
        raise ValueError(f"k_train must be square (n, n), got {tuple(k.shape)}")
    scale = k.abs().max().clamp_min(torch.finfo(k.dtype).tiny)
    asym = (k - k.T).abs().max() / scale
    if asym > 1e3 * torch.finfo(k.dtype).eps:
        raise ValueError(f"k_train must be symmetric, got a relative asymmetry of {asym.item():.2e}")
    return 0.5 * (k + k.T)


def _targets(name: str, y, n: int, like: torch.Tensor) -> torch.Tensor:
    if isinstance(y, np.ndarray):
        y = torch.from_numpy(np.ascontiguousarray(y))
    check_tensor(name, y, ndim=(1, 2), floating=True)
    if y.shape[0] != n:
        raise ValueError(f"{name} must have {n} rows (one per training point), got shape {tuple(y.shape)}")
    return y.to(dtype=like.dtype, device=like.device)


def _test_kernel(k_test_train, n: int, like: torch.Tensor) -> torch.Tensor | None:
    if k_test_train is None:
        return None
    kt = _as_matrix("k_test_train", k_test_train, like.dtype).to(like.device)
    if kt.shape[1] != n:
        raise ValueError(f"k_test_train must be (m, {n}), got {tuple(kt.shape)}")
    return kt


def kernel_regression(k_train, y, k_test_train=None, ridge: float = 0.0) -> KernelFit:
    r"""Kernel ridge regression :math:`\alpha = (K + \lambda I)^{-1} y`, predictions :math:`K_{*}\alpha`.

    Solved through the eigendecomposition of the symmetric ``k_train``. With ``ridge=0`` the inverse is the
    pseudo-inverse (eigenvalues below ``n · eps · λ_max`` are dropped), i.e. the minimum-RKHS-norm interpolant,
    which is also the limit ``t → ∞`` of :func:`kernel_gradient_flow` started from zero; this keeps
    near-singular kernels from amplifying round-off.

    Parameters
    ----------
    k_train : torch.Tensor or numpy.ndarray
        Symmetric positive semi-definite ``(n, n)`` Gram matrix of the training points.
    y : torch.Tensor or numpy.ndarray
        Targets ``(n,)`` or ``(n, k)``.
    k_test_train : torch.Tensor or numpy.ndarray, optional
        ``(m, n)`` kernel between test and training points.
    ridge : float
        ``λ ≥ 0`` (unnormalised: added to the diagonal of ``K``).

    Returns
    -------
    KernelFit
        ``alpha`` shaped like ``y``, ``fitted = K α``, ``predictions = K_* α`` or ``None``.

    See :ref:`chap-kernels`.
    """
    k = _sym_kernel(k_train)
    n = k.shape[0]
    y = _targets("y", y, n, k)
    kt = _test_kernel(k_test_train, n, k)
    ridge = check_real("ridge", ridge, min_value=0.0)
    evals, evecs = torch.linalg.eigh(k)
    evals = evals.clamp_min(0.0)
    shifted = evals + ridge
    cutoff = n * torch.finfo(k.dtype).eps * max(evals.max().item(), ridge)
    inv = torch.where(shifted > cutoff, 1.0 / torch.where(shifted > cutoff, shifted, 1.0), 0.0)
    coef = evecs.T @ y
    coef = coef * (inv if y.ndim == 1 else inv[:, None])
    alpha = evecs @ coef
    return KernelFit(alpha, k @ alpha, None if kt is None else kt @ alpha)


def kernel_gradient_flow(k_train, residual0, t, *, k_test_train=None) -> FlowPrediction:
    r"""Residual :math:`u(t) = e^{-K t} u(0)` of kernel gradient flow on the square loss, and the test predictions.

    Convention (module docstring): loss ``½ Σ_i (f(x_i) − y_i)²``, continuous time, ``du/dt = −K u``. For a
    network trained by GD with learning rate ``η`` on the **mean** loss (``loss="mse"`` in
    :func:`dltnotes.training.train`), step ``s`` is time ``t = η s / n``. A test point moves by
    :math:`f_*(t) - f_*(0) = -K_{*} K^{-1}(I - e^{-Kt})\,u(0)`, computed as
    :math:`-K_* V \operatorname{diag}\big((1-e^{-\lambda t})/\lambda\big) V^\top u(0)` with ``expm1``, which
    stays finite (→ ``t``) for zero or tiny eigenvalues, so near-singular kernels are safe.

    Parameters
    ----------
    k_train : torch.Tensor or numpy.ndarray
        Symmetric PSD ``(n, n)`` kernel on the training points (negative round-off eigenvalues are set to 0).
    residual0 : torch.Tensor or numpy.ndarray
        ``u(0) = f_0(x) − y``, shape ``(n,)`` or ``(n, k)``.
    t : float or sequence of float or torch.Tensor
        Non-negative times, scalar or ``(T,)``.
    k_test_train : torch.Tensor or numpy.ndarray, optional
        ``(m, n)`` kernel between test and training points.

    Returns
    -------
    FlowPrediction
        ``residual (T, n, …)`` and ``test_shift (T, m, …)`` (``T = 1`` for a scalar ``t``).

    See :ref:`chap-ntk`.
    """
    k = _sym_kernel(k_train)
    n = k.shape[0]
    u0 = _targets("residual0", residual0, n, k)
    kt = _test_kernel(k_test_train, n, k)
    if isinstance(t, torch.Tensor):
        t = t.detach().to("cpu", torch.float64).reshape(-1).tolist()
    ts = [check_real("t", t)] if not isinstance(t, (list, tuple, np.ndarray)) else \
        [check_real("t", float(s)) if not isinstance(s, bool) else check_real("t", s) for s in np.ravel(t)]
    if not ts or min(ts) < 0:
        raise ValueError(f"t must be one or more non-negative times, got {t!r}")
    times = torch.tensor(ts, dtype=k.dtype, device=k.device)
    evals, evecs = torch.linalg.eigh(k)
    evals = evals.clamp_min(0.0)
    coef = evecs.T @ u0                                        # (n, …)
    lt = times[:, None] * evals[None, :]                       # (T, n)
    decay = torch.exp(-lt)
    extra = (slice(None), slice(None)) + (None,) * (u0.ndim - 1)
    residual = torch.einsum("ij,tj...->ti...", evecs, decay[extra] * coef)
    shift = None
    if kt is not None:
        # (1 − e^{−λt})/λ = −expm1(−λt)/λ, equal to t at λ = 0
        safe = torch.where(evals > 0, evals, 1.0)[None, :]
        gain = torch.where(evals[None, :] > 0, -torch.expm1(-lt) / safe, times[:, None].expand_as(lt))
        shift = -torch.einsum("mj,tj...->tm...", kt @ evecs, gain[extra] * coef)
    return FlowPrediction(residual, shift)


def kernel_gradient_descent(k_train, residual0, steps, lr: float, *, k_test_train=None) -> FlowPrediction:
    r"""Gradient descent on the linear model with kernel ``K``: residual :math:`(I-\eta K)^s u(0)` and test shift.

    The discrete-time twin of :func:`kernel_gradient_flow`, with the same convention (sum loss
    ``½ Σ_i (f(x_i) − y_i)²``, step ``η``): ``u_{s+1} = (I − ηK) u_s``. For the **mean** loss of
    :func:`dltnotes.training.train`, pass ``lr = η / n``. A test point moves by
    :math:`f_*(s) - f_*(0) = -\eta K_*\sum_{r<s}u_r = -K_* K^{-1}\big(I-(I-\eta K)^s\big)u(0)`, computed in the
    eigenbasis of ``K`` with the gain :math:`(1-(1-\eta\lambda)^s)/\lambda`, which equals ``η s`` at ``λ = 0``
    (so near-singular kernels are safe). As ``η → 0`` with ``η s = t`` fixed it tends to the flow at time ``t``.

    Parameters
    ----------
    k_train : torch.Tensor or numpy.ndarray
        Symmetric PSD ``(n, n)`` kernel on the training points (negative round-off eigenvalues are set to 0).
    residual0 : torch.Tensor or numpy.ndarray
        ``u(0) = f_0(x) − y``, shape ``(n,)`` or ``(n, k)``.
    steps : int or sequence of int
        Numbers of steps ``s ≥ 0``, scalar or ``(T,)``.
    lr : float
        The step ``η > 0`` on the sum loss. Stable when ``η λ_max(K) < 2``; larger steps are allowed (the
        residual then grows, as it would for the model).
    k_test_train : torch.Tensor or numpy.ndarray, optional
        ``(m, n)`` kernel between test and training points.

    Returns
    -------
    FlowPrediction
        ``residual (T, n, …)`` and ``test_shift (T, m, …)`` (``T = 1`` for a scalar ``steps``).

    See :ref:`chap-ntk-regression`. Reference: Lee et al. (2019), *Wide neural networks of any depth evolve as
    linear models under gradient descent*, eqs. (10)–(11), here in discrete time.
    """
    k = _sym_kernel(k_train)
    n = k.shape[0]
    u0 = _targets("residual0", residual0, n, k)
    kt = _test_kernel(k_test_train, n, k)
    lr = check_real("lr", lr, min_value=0.0, min_inclusive=False)
    raw = steps.detach().cpu().reshape(-1).tolist() if isinstance(steps, torch.Tensor) else steps
    many = isinstance(raw, (list, tuple, np.ndarray))
    ss = [check_int("steps", s, min_value=0) for s in (list(np.ravel(raw)) if many else [raw])]
    if not ss:
        raise ValueError("steps must be one or more non-negative integers, got an empty sequence")
    evals, evecs = torch.linalg.eigh(k)
    evals = evals.clamp_min(0.0)
    count = torch.tensor(ss, dtype=k.dtype, device=k.device)[:, None]       # (T, 1)
    factor = (1 - lr * evals)[None, :] ** count                              # (T, n): (1 − ηλ)^s
    coef = evecs.T @ u0
    extra = (slice(None), slice(None)) + (None,) * (u0.ndim - 1)
    residual = torch.einsum("ij,tj...->ti...", evecs, factor[extra] * coef)
    shift = None
    if kt is not None:
        safe = torch.where(evals > 0, evals, 1.0)[None, :]
        gain = torch.where(evals[None, :] > 0, (1 - factor) / safe, lr * count.expand_as(factor))
        shift = -torch.einsum("mj,tj...->tm...", kt @ evecs, gain[extra] * coef)
    return FlowPrediction(residual, shift)



# ----------------------------------------------------------------------------------------------- two-layer nets
def _check_two_layer(a, b, x) -> None:
    check_tensor("a", a, ndim=3, floating=True)
    check_tensor("b", b, ndim=2, floating=True)
    check_tensor("x", x, ndim=2, floating=True)
    if b.shape != a.shape[:2] or x.shape[1] != a.shape[2]:
        raise ValueError(f"need a (S, m, d), b (S, m) and x (n, d), got {tuple(a.shape)}, {tuple(b.shape)} "
                         f"and {tuple(x.shape)}")


def two_layer_outputs(a: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Outputs ``f(x_j) = Σ_i b_i relu(a_i·x_j) / sqrt(m)`` of ``S`` networks at ``n`` points: ``(S, n)``.

    ``a (S, m, d)``, ``b (S, m)``, ``x (n, d)`` (see the module's conventions). See :ref:`chap-ntk`.
    """
    _check_two_layer(a, b, x)
    return (torch.relu(a @ x.T).mT @ b[..., None])[..., 0] / math.sqrt(a.shape[1])


def two_layer_ntk(a: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The empirical NTK ``∇_θ f(x_j)·∇_θ f(x_k)`` of ``S`` two-layer networks, by its closed form: ``(S, n, n)``.

    The first layer contributes ``(x_j·x_k) Σ_i b_i² 1[a_i·x_j > 0] 1[a_i·x_k > 0] / m``, the readout
    ``Σ_i relu(a_i·x_j) relu(a_i·x_k) / m``. It equals :func:`empirical_ntk` of the same network (tested).
    See :ref:`chap-ntk`.
    """
    _check_two_layer(a, b, x)
    z = a @ x.T                                             # (S, m, n) pre-activations
    on = (z > 0).to(z.dtype)
    k_a = (x @ x.T) * ((b[..., None] ** 2 * on).mT @ on)
    return (k_a + torch.relu(z).mT @ torch.relu(z)) / a.shape[1]


def two_layer_gd_step(a: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                      lr: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One gradient-descent step of ``S`` networks on the mean loss ``½ mean_j (f(x_j) − y_j)²``.

    ``x (n, d)``, targets ``y (n,)`` (shared) or ``(S, n)``; returns the new ``(a, b)``. The gradients are written
    out (``∇_b f = relu(a·x)/sqrt(m)``, ``∇_{a_i} f = b_i 1[a_i·x > 0] x / sqrt(m)``); a unit test compares them
    with autograd. See :ref:`chap-ntk`.
    """
    _check_two_layer(a, b, x)
    check_tensor("y", y, floating=True)
    if y.shape[-1] != x.shape[0] or y.ndim not in (1, 2):
        raise ValueError(f"y must be (n,) or (S, n) with n = {x.shape[0]}, got {tuple(y.shape)}")
    lr = check_real("lr", lr, min_value=0.0, min_inclusive=False)
    m, n = a.shape[1], x.shape[0]
    z = a @ x.T
    e = (two_layer_outputs(a, b, x) - y) / n                 # ∂L/∂f(x_j), (S, n)
    grad_b = (torch.relu(z) @ e[..., None])[..., 0] / math.sqrt(m)
    grad_a = ((z > 0) * e[:, None, :]) @ x * b[..., None] / math.sqrt(m)
    return a - lr * grad_a, b - lr * grad_b
