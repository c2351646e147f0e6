"""Concentration of measure on the sphere and the cube: the geometry behind "adversarial examples are inevitable".

**Conventions.**

* ``S^{d−1}`` is the unit sphere of ``R^d`` (``d`` is the *ambient* dimension) with its uniform probability
  measure ``μ`` and the geodesic (great-circle) distance.
* The half-sphere is ``H = {x ∈ S^{d−1} : x₁ ≤ 0}``; its ε-expansion ``H(ε) = {x : dist(x, H) ≤ ε}`` is the cap
  ``{x₁ ≤ sin ε}`` for ``0 ≤ ε ≤ π/2`` (and the whole sphere beyond).
* The first coordinate of a uniform point has density proportional to ``(1 − t²)^{(d−3)/2}`` on ``[−1, 1]``;
  in the latitude ``φ = arcsin x₁`` the density is proportional to ``cos^{d−2} φ``.

Taught in :ref:`chap-inevitability`; the bounds are those quoted by Shafahi et al. (2019).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import integrate, special

from ._validate import check_int, check_real

__all__ = ["sphere_uniform", "geodesic_distance_to_half_sphere", "half_sphere_expansion", "half_sphere_tail",
           "levy_bound", "cube_bound"]


def _check_eps_array(eps) -> np.ndarray:
    arr = np.asarray(eps, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"eps must be finite and >= 0, got {eps!r}")
    return arr


def sphere_uniform(n: int, d: int, *, generator: torch.Generator | None = None,
                   dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``n`` independent uniform points on ``S^{d−1}``, shape ``(n, d)``: normalised standard Gaussian vectors.

    The Gaussian is rotation invariant, so its direction is uniform on the sphere.
    """
    n = check_int("n", n, min_value=1)
    d = check_int("d", d, min_value=2)
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    z = torch.randn(n, d, generator=generator, dtype=dtype)
    return z / z.norm(dim=1, keepdim=True)


def geodesic_distance_to_half_sphere(x: torch.Tensor) -> torch.Tensor:
    """Geodesic distance from each point of ``x (n, d)`` on the sphere to ``H = {x₁ ≤ 0}``: ``max(0, arcsin x₁)``.

    The nearest point of ``H`` to ``x`` with ``x₁ > 0`` lies on the equator ``{x₁ = 0}``, along the great circle
    through ``x`` and the pole ``e₁``, at angle ``arcsin x₁``.
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"x must be a (n, d) tensor with d >= 2, got {getattr(x, 'shape', type(x).__name__)}")
    norms = x.norm(dim=1)
    if not bool(torch.allclose(norms, torch.ones_like(norms), atol=1e-6)):
        raise ValueError("x must hold unit vectors (points of the sphere)")
    return torch.asin(x[:, 0].clamp(-1, 1)).clamp_min(0)


def half_sphere_expansion(d: int, eps, *, method: str = "beta"):
    """``μ(H(ε))``: the measure of the geodesic ε-expansion of a half-sphere of ``S^{d−1}``.

    Parameters
    ----------
    d : int
        Ambient dimension (≥ 2).
    eps : float or array-like
        Geodesic radii (≥ 0); values beyond π/2 give 1.
    method : str
        ``"beta"``: the closed form ``½ + ½ I_{sin²ε}(½, (d−1)/2)`` with ``I`` the regularised incomplete beta
        function; ``"quad"``: the one-dimensional integral ``∫_{−π/2}^{ε} cos^{d−2}φ dφ / ∫_{−π/2}^{π/2}
        cos^{d−2}φ dφ`` by adaptive quadrature. The two agree to quadrature accuracy.

    Returns
    -------
    float or numpy.ndarray
        Same shape as ``eps``.
    """
    d = check_int("d", d, min_value=2)
    arr = _check_eps_array(eps)
    e = np.minimum(arr, np.pi / 2)
    if method == "beta":
        out = 0.5 + 0.5 * special.betainc(0.5, (d - 1) / 2, np.sin(e) ** 2)
    elif method == "quad":
        k = d - 2
        total = integrate.quad(lambda p: np.cos(p) ** k, -np.pi / 2, np.pi / 2, epsabs=0, epsrel=1e-12,
                               points=[0.0])[0]
        flat = [0.5 + integrate.quad(lambda p: np.cos(p) ** k, 0.0, float(t), epsabs=0, epsrel=1e-12)[0] / total
                for t in e.reshape(-1)]
        out = np.array(flat).reshape(e.shape)
    else:
        raise ValueError(f"method must be 'beta' or 'quad', got {method!r}")
    return float(out) if np.ndim(eps) == 0 else out


def half_sphere_tail(d: int, eps):
    """``1 − μ(H(ε))``, the measure *outside* the ε-expansion of a half-sphere, without cancellation.

    Computed as ``½ · (1 − I_{sin²ε}(½, (d−1)/2))`` with the complementary incomplete beta function, so that tails
    far below float64's resolution of 1 (e.g. ``1e-40`` in high dimension) keep their relative accuracy.
    ``d`` is the ambient dimension (≥ 2); ``eps`` a float or array of radii (≥ 0); radii ≥ π/2 give 0.
    """
    d = check_int("d", d, min_value=2)
    arr = _check_eps_array(eps)
    e = np.minimum(arr, np.pi / 2)
    out = np.where(arr >= np.pi / 2, 0.0, 0.5 * special.betaincc(0.5, (d - 1) / 2, np.sin(e) ** 2))
    return float(out) if np.ndim(eps) == 0 else out


def levy_bound(d: int, eps):
    """Lévy's lemma in the form quoted by Shafahi et al. (2019): ``1 − sqrt(π/8) · exp(−(d − 1) ε² / 2)``.

    The claim is that every ``A ⊂ S^{d−1}`` with ``μ(A) ≥ ½`` has ``μ(A(ε)) ≥`` this bound (geodesic
    ε-expansion). Milman and Schechtman prove it with ``d − 2`` in place of ``d − 1``; :ref:`chap-inevitability`
    gives that proof and checks this stronger form against the exact half-sphere expansion.
    ``d`` is the ambient dimension (≥ 2); ``eps`` a float or array of radii (≥ 0).
    """
    d = check_int("d", d, min_value=2)
    arr = _check_eps_array(eps)
    out = 1 - math.sqrt(math.pi / 8) * np.exp(-(d - 1) * arr ** 2 / 2)
    return float(out) if np.ndim(eps) == 0 else out


def cube_bound(d: int, eps, p: float):
    """Shafahi et al.'s isoperimetric bound on the unit cube ``[0, 1]^d`` for ``vol(A) ≥ ½``.

    ``vol(A(ε, ℓ_p)) ≥ 1 − exp(−2π d^{1 − 2/p*} ε²) / (2π ε d^{1/2 − 1/p*})`` with ``p* = min(p, 2)``.
    For ``p ≥ 2`` (ℓ2 and ℓ∞ included) the bound does not depend on ``d``. ``eps`` must be > 0; ``p`` > 0,
    ``math.inf`` allowed. The bound can be negative (vacuous) for small ``ε``.
    """
    d = check_int("d", d, min_value=1)
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not p > 0:
        raise ValueError(f"p must be a positive number (math.inf allowed), got {p!r}")
    arr = _check_eps_array(eps)
    if np.any(arr == 0):
        raise ValueError("eps must be > 0 for the cube bound")
    ps = min(float(p), 2.0)
    out = 1 - np.exp(-2 * np.pi * d ** (1 - 2 / ps) * arr ** 2) / (2 * np.pi * arr * d ** (0.5 - 1 / ps))
    return float(out) if np.ndim(eps) == 0 else out
