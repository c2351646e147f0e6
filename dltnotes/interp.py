"""Interpolation that generalises: random projections, random Fourier features, Gaussian and Laplace kernels,
and the weighted interpolating nearest-neighbour rule.

**Conventions.**

* Gaussian kernel ``k(x, y) = exp(−‖x − y‖² / (2 σ²))``, Laplace kernel ``k(x, y) = exp(−‖x − y‖ / σ)``,
  with ``σ = bandwidth``; both have ``k(x, x) = 1``. Kernel matrices are computed in the dtype of the inputs (use
  float64 for interpolation: Gaussian Gram matrices are ill-conditioned).
* Random Fourier features (Rahimi and Recht, 2007): ``z(x) = sqrt(2/D) cos(W x + b)`` with the ``D`` rows of
  ``W`` drawn from ``N(0, σ⁻² I)`` and ``b ~ U[0, 2π)``, so that ``E z(x)·z(y)`` is the Gaussian kernel of
  bandwidth ``σ``.
* Labels of the nearest-neighbour rules are in ``{0, 1}`` (or any reals: the rules average them); the rule
  returns the weighted average ``η̂(x)``, and the classifier is ``1{η̂(x) > 1/2}``.

Taught in :ref:`chap-interpolation`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._validate import check_int, check_real, check_tensor
from .kernels import _as_matrix as _matrix
from .kernels import _pair as _kernel_pair

__all__ = [
    "gaussian_kernel",
    "laplace_kernel",
    "random_fourier_features",
    "rff_variance",
    "jl_failure_bound",
    "weighted_nn",
]


def _pair(x1, x2) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated ``(n1, d)`` and ``(n2, d)`` float tensors (as :mod:`dltnotes.kernels` checks them); ``x2=None``
    means ``x1``."""
    x1, x2 = _kernel_pair(x1, x2)
    return x1, (x1 if x2 is None else x2)


def _sq_dist(x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """Squared distances ``(n1, n2)``, clamped at 0 (‖a‖² + ‖b‖² − 2 a·b can round below 0)."""
    d2 = (x1 * x1).sum(1)[:, None] + (x2 * x2).sum(1)[None, :] - 2.0 * x1 @ x2.T
    return d2.clamp_min(0.0)


def gaussian_kernel(x1, x2=None, *, bandwidth: float) -> torch.Tensor:
    """The Gaussian kernel matrix ``exp(−‖x1_i − x2_j‖² / (2 σ²))`` of shape ``(n1, n2)``.

    ``x1 (n1, d)``, ``x2 (n2, d)`` (default ``x1``), floating tensors or arrays; ``bandwidth = σ > 0``.
    See :ref:`chap-interpolation`; Rahimi and Recht (2007).
    """
    x1, x2 = _pair(x1, x2)
    s = check_real("bandwidth", bandwidth, min_value=0.0, min_inclusive=False)
    return torch.exp(-_sq_dist(x1, x2) / (2.0 * s * s))


def laplace_kernel(x1, x2=None, *, bandwidth: float) -> torch.Tensor:
    """The Laplace kernel matrix ``exp(−‖x1_i − x2_j‖ / σ)`` of shape ``(n1, n2)``.

    ``x1 (n1, d)``, ``x2 (n2, d)`` (default ``x1``); ``bandwidth = σ > 0``. See :ref:`chap-interpolation`;
    Belkin, Ma and Mandal (2018).
    """
    x1, x2 = _pair(x1, x2)
    s = check_real("bandwidth", bandwidth, min_value=0.0, min_inclusive=False)
    return torch.exp(-_sq_dist(x1, x2).sqrt() / s)


def random_fourier_features(x, *, n_features: int, bandwidth: float,
                            generator: torch.Generator | None = None) -> torch.Tensor:
    """Random Fourier features ``z(x) = sqrt(2/D) cos(W x + b)`` of shape ``(n, D)``.

    ``x (n, d)`` floating; ``n_features = D ≥ 1``; ``bandwidth = σ > 0``: rows of ``W`` are ``N(0, σ⁻² I)``
    and ``b ~ U[0, 2π)``, drawn on the CPU from ``generator`` (so a seed fixes them on every device), then moved
    to ``x``'s device and dtype. ``z(x)·z(y)`` is an unbiased estimate of :func:`gaussian_kernel` with
    variance :func:`rff_variance`. See :ref:`chap-interpolation`; Rahimi and Recht (2007).
    """
    x = _matrix("x", x)
    D = check_int("n_features", n_features, min_value=1)
    s = check_real("bandwidth", bandwidth, min_value=0.0, min_inclusive=False)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    w = torch.randn(x.shape[1], D, generator=generator, dtype=torch.float64) / s
    b = 2.0 * math.pi * torch.rand(D, generator=generator, dtype=torch.float64)
    w, b = w.to(x.device, x.dtype), b.to(x.device, x.dtype)
    return math.sqrt(2.0 / D) * torch.cos(x @ w + b)


def rff_variance(k, n_features: int):
    """The exact variance ``(1 + k⁴/2 − k²) / D`` of the random-Fourier-feature estimate of a Gaussian kernel
    value ``k ∈ [0, 1]`` with ``D`` features (numbers or arrays; derived in :ref:`chap-interpolation`)."""
    D = check_int("n_features", n_features, min_value=1)
    arr = np.asarray(k, dtype=np.float64)
    if not np.isfinite(arr).all() or (arr < 0).any() or (arr > 1).any():
        raise ValueError(f"k must lie in [0, 1] (a Gaussian kernel value), got {k!r}")
    out = (1.0 + arr**4 / 2.0 - arr**2) / D
    return float(out) if out.ndim == 0 else out


def jl_failure_bound(m: int, eps):
    """The Johnson–Lindenstrauss tail bound ``2 exp(−m (ε² − ε³) / 4)``
    on ``P(|‖Pu‖²/‖u‖² − 1| > ε)`` for ``P = G / sqrt(m)``, ``G`` an ``m × d`` standard Gaussian matrix;
    ``m ≥ 1``, ``ε ∈ (0, 1)``.

    Numbers or arrays. See :ref:`chap-interpolation`; Dasgupta and Gupta (2003).
    """
    m = check_int("m", m, min_value=1)
    e = np.asarray(eps, dtype=np.float64)
    if not np.isfinite(e).all() or (e <= 0).any() or (e >= 1).any():
        raise ValueError(f"eps must lie in (0, 1), got {eps!r}")
    out = 2.0 * np.exp(-m * (e**2 - e**3) / 4.0)
    return float(out) if out.ndim == 0 else out


def weighted_nn(x_train, y_train, x_test, *, k: int, delta: float = 0.0,
                chunk: int = 4096) -> torch.Tensor:
    """The weighted nearest-neighbour average ``η̂(x) = Σ w_i y_(i) / Σ w_i`` over the ``k`` nearest training
    points, with weights ``w_i = ‖x − x_(i)‖^(−δ)`` (Belkin, Hsu and Mitra, 2018); shape ``(m,)``.

    ``δ = 0`` is the plain k-NN average (``k = 1``: the 1-NN rule); ``δ > 0`` gives singular weights, so the rule
    interpolates: at a training point it returns that point's label. A test point that coincides with training
    points returns the mean of their labels (the limit of the weights). Ties in distance are broken by index.

    ``x_train (n, d)``, ``y_train (n,)`` (floating or integer labels), ``x_test (m, d)``; ``1 ≤ k ≤ n``;
    ``delta ≥ 0``. See :ref:`chap-interpolation`.
    """
    x_train, x_test = _pair(x_train, x_test)
    if isinstance(y_train, np.ndarray):
        y_train = torch.from_numpy(np.ascontiguousarray(y_train))
    check_tensor("y_train", y_train, ndim=1)
    if y_train.dtype == torch.bool or y_train.is_complex():
        raise TypeError(f"y_train must hold real labels, got dtype {y_train.dtype}")
    n = x_train.shape[0]
    if y_train.shape[0] != n:
        raise ValueError(f"y_train must have {n} entries (one per training point), got {y_train.shape[0]}")
    k = check_int("k", k, min_value=1, max_value=n)
    delta = check_real("delta", delta, min_value=0.0)
    chunk = check_int("chunk", chunk, min_value=1)
    y = y_train.to(x_train.device, x_train.dtype)
    out = []
    for start in range(0, x_test.shape[0], chunk):
        xt = x_test[start:start + chunk]
        idx = torch.topk(_sq_dist(xt, x_train), k, dim=1, largest=False, sorted=True).indices
        d2k = ((xt[:, None, :] - x_train[idx]) ** 2).sum(-1)   # exact: 0 for a duplicate
        yk = y[idx]
        zero = d2k == 0.0
        if delta == 0.0:
            w = torch.ones_like(d2k)
        else:
            w = torch.where(zero, 1.0, d2k).pow(-delta / 2.0)
        hit = zero.any(1, keepdim=True)
        w = torch.where(hit, zero.to(w.dtype), w)     # a duplicate takes all the weight
        out.append((w * yk).sum(1) / w.sum(1))
    return torch.cat(out)
