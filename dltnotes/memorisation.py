"""Memorisation and the spectrum of ``H^∞``: which labels a wide two-layer ReLU network fits first.

**Conventions** (Arora, Du, Hu, Li & Wang 2019).

* Inputs are rows ``x_i`` of ``x (n, d)``; the theory takes them of unit norm, the functions here accept any
  non-zero rows and use ``H^∞_ij = x_iᵀx_j (π − θ_ij) / (2π)`` with ``θ_ij`` the angle between ``x_i`` and
  ``x_j``. For unit rows this is ``E_{w~N(0,I)}[x_iᵀx_j 1{wᵀx_i ≥ 0, wᵀx_j ≥ 0}]``, the Gram matrix of the
  gradient features of the first layer of ``f(x) = (1/√m) Σ_r a_r relu(w_rᵀx)`` at infinite width.
* Labels ``y`` are ``(n,)`` or ``(n, k)`` (e.g. one-hot); a quadratic form of ``(n, k)`` labels is the sum of
  the forms of its columns, ``tr(yᵀ M y)``.
* Everything runs in float64 (kernel matrices, quadratic forms, eigenvectors).

Taught in :ref:`chap-memorisation`.
"""

from __future__ import annotations

import math

import torch

from ._validate import check_int, check_real, check_tensor
from .kernels import arccos_angle

__all__ = [
    "relu_h_infinity",
    "label_quadratic_form",
    "permuted_quadratic_form_mean",
    "top_energy_fraction",
    "arora_complexity_bound",
]


def _labels(y, n: int | None = None) -> torch.Tensor:
    y = torch.as_tensor(y) if not isinstance(y, torch.Tensor) else y
    check_tensor("y", y, ndim=(1, 2))
    if y.dtype == torch.bool or y.is_complex():
        raise TypeError(f"y must be real numbers, got {y.dtype}")
    y = y.to(torch.float64)
    if not bool(torch.isfinite(y).all()):
        raise ValueError("y contains NaN or infinite entries")
    if y.shape[0] < 2:
        raise ValueError(f"y needs at least 2 rows, got shape {tuple(y.shape)}")
    if n is not None and y.shape[0] != n:
        raise ValueError(f"y must have {n} rows to match the matrix, got shape {tuple(y.shape)}")
    return y if y.ndim == 2 else y[:, None]


def _square(name: str, m, symmetric: bool = True) -> torch.Tensor:
    m = torch.as_tensor(m) if not isinstance(m, torch.Tensor) else m
    check_tensor(name, m, ndim=2, floating=True)
    if m.shape[0] != m.shape[1]:
        raise ValueError(f"{name} must be square, got shape {tuple(m.shape)}")
    m = m.to(torch.float64)
    if symmetric:
        asym = float((m - m.T).abs().max())
        if asym > 1e-10 * max(float(m.abs().max()), 1e-300):
            raise ValueError(f"{name} must be symmetric (max |M − Mᵀ| = {asym:.3g})")
    return m


def relu_h_infinity(x) -> torch.Tensor:
    r"""The Gram matrix ``H^∞`` of a wide two-layer ReLU network (Arora et al. 2019, eq. (3)).

    .. math:: H^\infty_{ij} = \frac{x_i^\top x_j\,(\pi - \theta_{ij})}{2\pi},\qquad
              \theta_{ij} = \angle(x_i, x_j),

    the arc-cosine kernel of degree 0 times the linear kernel. For unit-norm rows the diagonal is ``1/2``. Angles
    come from :func:`dltnotes.kernels.arccos_angle` (accurate for nearly parallel rows).

    Parameters
    ----------
    x : torch.Tensor
        ``(n, d)``, floating, finite, no zero row.

    Returns
    -------
    torch.Tensor
        ``(n, n)`` symmetric positive semi-definite, float64, on ``x``'s device.

    See :ref:`chap-memorisation`; Arora et al. (2019), Du et al. (2019).
    """
    check_tensor("x", x, ndim=2, floating=True)
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"x must be (n, d) with n, d ≥ 1, got shape {tuple(x.shape)}")
    x = x.to(torch.float64)
    if bool((torch.linalg.vector_norm(x, dim=1) == 0).any()):
        raise ValueError("x has a zero row: H^∞ needs a direction for every input")
    theta = arccos_angle(x)
    h = (x @ x.T) * (math.pi - theta) / (2 * math.pi)
    return 0.5 * (h + h.T)


def label_quadratic_form(y, m) -> float:
    """``tr(yᵀ M y)`` for labels ``y`` ``(n,)`` or ``(n, k)`` and a square ``M (n, n)`` (float64).

    See :ref:`chap-memorisation`.
    """
    m = _square("m", m, symmetric=False)
    y = _labels(y, m.shape[0]).to(m.device)
    return float((y * (m @ y)).sum())


def permuted_quadratic_form_mean(y, m) -> float:
    r"""The exact mean of ``tr(y_πᵀ M y_π)`` over all ``n!`` permutations ``π`` of the rows of ``y``.

    For each column with mean ``ȳ`` and ``s² = Σ(y_i − ȳ)²/(n − 1)``,

    .. math:: \mathbb E_\pi[y_\pi^\top M y_\pi] = \bar y^2\,\mathbf 1^\top M\mathbf 1
              + s^2\big(\operatorname{tr}M - \mathbf 1^\top M\mathbf 1/n\big),

    and columns add up. Derived in :ref:`chap-memorisation` (``E y_{π(i)}y_{π(j)}`` takes one value on the
    diagonal and one off it). ``M`` need not be symmetric.

    Parameters
    ----------
    y : torch.Tensor
        ``(n,)`` or ``(n, k)`` real labels, ``n ≥ 2``.
    m : torch.Tensor
        ``(n, n)`` floating, finite.
    """
    m = _square("m", m, symmetric=False)
    y = _labels(y, m.shape[0]).to(m.device)
    n = y.shape[0]
    mean = y.mean(0)
    s2 = ((y - mean) ** 2).sum(0) / (n - 1)
    one_m_one = float(m.sum())
    tr = float(torch.diagonal(m).sum())
    return float((mean**2).sum()) * one_m_one + float(s2.sum()) * (tr - one_m_one / n)


def top_energy_fraction(y, eigvecs, top: int) -> float:
    """Fraction ``Σ_{i ≤ top} ‖v_iᵀ y‖² / ‖y‖²`` of the labels' energy on the first ``top`` columns of ``eigvecs``.

    ``eigvecs (n, r)`` has orthonormal columns ordered from the largest eigenvalue down (reverse the output of
    ``torch.linalg.eigh``); ``y (n,)`` or ``(n, k)`` non-zero; ``1 ≤ top ≤ r``. The numerator is the quadratic
    form of the projector ``V_top V_topᵀ``, so its permutation mean is :func:`permuted_quadratic_form_mean`.

    See :ref:`chap-memorisation`.
    """
    check_tensor("eigvecs", eigvecs, ndim=2, floating=True)
    y = _labels(y, eigvecs.shape[0]).to(eigvecs.device)
    top = check_int("top", top, min_value=1, max_value=eigvecs.shape[1])
    total = float((y**2).sum())
    if total == 0:
        raise ValueError("y is zero: its energy fraction is undefined")
    proj = eigvecs[:, :top].to(torch.float64).T @ y
    return float((proj**2).sum()) / total


def arora_complexity_bound(y, h_inf, *, delta: float = 0.05) -> tuple[float, float]:
    r"""The two leading terms of the generalisation bound of Arora et al. (2019, Thm 5.1) at infinite width.

    .. math:: \sqrt{2\,y^\top (H^\infty)^{-1} y / n} \;+\; 3\sqrt{\log(6/\delta)/(2n)}

    bounds, with probability ``≥ 1 − δ`` over the ``n`` samples, the population loss of a 1-Lipschitz loss with
    values in ``[0, 1]`` and ``ℓ(y, y) = 0`` (e.g. ``min(|u − y|, 1)``), hence the 0–1 error for labels
    ``±1``. The finite-width terms of the theorem, which vanish as the width grows, are left out: this is the
    bound of the infinite-width limit, not of a trained finite network.

    Parameters
    ----------
    y : torch.Tensor
        ``(n,)`` labels (``±1`` for a classification bound).
    h_inf : torch.Tensor
        ``(n, n)`` symmetric positive definite (e.g. :func:`relu_h_infinity` of distinct unit rows).
    delta : float
        Failure probability in ``(0, 1)``.

    Returns
    -------
    (complexity, bound)
        ``yᵀ(H^∞)⁻¹y`` and the bound above.

    See :ref:`chap-memorisation`; Arora et al. (2019), Corollary 5.2.
    """
    h = _square("h_inf", h_inf)
    y = _labels(y, h.shape[0]).to(h.device)
    if y.shape[1] != 1:
        raise ValueError(f"y must be one column of labels for this bound, got shape {tuple(y.shape)}")
    delta = check_real("delta", delta, min_value=0.0, max_value=1.0, min_inclusive=False, max_inclusive=False)
    try:
        chol = torch.linalg.cholesky(h)
    except RuntimeError:
        raise ValueError("h_inf is not positive definite (repeated inputs?)") from None
    z = torch.linalg.solve_triangular(chol, y, upper=False)
    n = h.shape[0]
    complexity = float((z**2).sum())
    bound = math.sqrt(2 * complexity / n) + 3 * math.sqrt(math.log(6 / delta) / (2 * n))
    return complexity, bound
