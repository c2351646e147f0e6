"""Concentration of measure on the sphere and the cube: the geometry behind "adversarial examples are inevitable".

**Conventions.**

* ``S^{d−1}`` is the unit sphere of ``R^d`` (``d`` is the *ambient* dimension) with its uniform probability
  measure ``μ`` and the geodesic (great-circle) distance.
* The half-sphere is ``H = {x ∈ S^{d−1} : x₁ ≤ 0}``; its ε-expansion ``H(ε) = {x : dist(x, H) ≤ ε}`` is the cap
  ``{x₁ ≤ sin ε}`` for ``0 ≤ ε ≤ π/2`` (and the whole sphere beyond).
* The first coordinate of a uniform point has density proportional to ``(1 − t²)^{(d−3)/2}`` on ``[−1, 1]``;
  in the latitude ``φ = arcsin x₁`` the density is proportional to ``cos^{d−2} φ``.

* On the cube ``[0, 1]^d`` (uniform measure ``vol``), ``A(ε, ℓ_p)`` is the ε-expansion of ``A`` in the ℓ_p
  distance.

Taught in :ref:`chap-inevitability`; the bounds are those quoted by Shafahi et al. (2019), with the cube bound's
exponent corrected (see :func:`cube_bound`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import integrate, special

from ._validate import check_int, check_real

__all__ = ["sphere_uniform", "geodesic_distance_to_half_sphere", "half_sphere_expansion", "half_sphere_tail",
           "cap_angle", "levy_bound", "cube_bound", "cube_diagonal_tail", "cube_diagonal_tail_mc"]


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

    Computed as ``½ · (1 − I_{sin²ε}(½, (d−1)/2)) = ½ · I_{cos²ε}((d−1)/2, ½)``, so that tails far below float64's
    resolution of 1 (e.g. ``1e-40`` in high dimension, or radii close to π/2) keep their relative accuracy.
    ``d`` is the ambient dimension (≥ 2); ``eps`` a float or array of radii (≥ 0); radii ≥ π/2 give 0.
    """
    d = check_int("d", d, min_value=2)
    arr = _check_eps_array(eps)
    e = np.minimum(arr, np.pi / 2)
    out = np.where(arr >= np.pi / 2, 0.0, 0.5 * special.betainc((d - 1) / 2, 0.5, np.cos(e) ** 2))
    return float(out) if np.ndim(eps) == 0 else out


def cap_angle(d: int, tail: float) -> float:
    """The latitude ``α ∈ [0, π/2)`` whose cap ``{x₁ > sin α}`` of ``S^{d−1}`` has measure ``tail`` (``0 < tail ≤ ½``).

    The inverse of :func:`half_sphere_tail`: ``half_sphere_tail(d, cap_angle(d, t)) = t``. By Lévy's isoperimetric
    inequality a set of measure ``1 − t`` expands at least as much as the cap ``{x₁ ≤ sin α}``, so at most
    ``half_sphere_tail(d, α + ε)`` of the sphere lies farther than ``ε`` from it.
    """
    d = check_int("d", d, min_value=2)
    tail = check_real("tail", tail, min_value=0.0, max_value=0.5, min_inclusive=False)
    # sin²α and cos²α, each from its own inversion (I_x(a, b) = 1 − I_{1−x}(b, a)), so that α is accurate near 0
    # and near π/2 alike
    sin2 = special.betainccinv(0.5, (d - 1) / 2, 2 * tail)
    cos2 = special.betaincinv((d - 1) / 2, 0.5, 2 * tail)
    return float(np.arctan2(np.sqrt(sin2), np.sqrt(cos2)))


def levy_bound(d: int, eps):
    """Lévy's lemma in the form quoted by Shafahi et al. (2019): ``1 − sqrt(π/8) · exp(−(d − 1) ε² / 2)``.

    Every ``A ⊂ S^{d−1}`` with ``μ(A) ≥ ½`` has ``μ(A(ε)) ≥`` this bound (geodesic ε-expansion), for every
    ``d ≥ 2``: :ref:`chap-inevitability` proves the sharper ``1 − μ(H(ε)) ≤ ½ cos^{d−1} ε ≤ ½ exp(−(d − 1) ε² / 2)``
    for the half-sphere, and Lévy's inequality extends it to every such ``A``.
    ``d`` is the ambient dimension (≥ 2); ``eps`` a float or array of radii (≥ 0).
    """
    d = check_int("d", d, min_value=2)
    arr = _check_eps_array(eps)
    out = 1 - math.sqrt(math.pi / 8) * np.exp(-(d - 1) * arr ** 2 / 2)
    return float(out) if np.ndim(eps) == 0 else out


def cube_bound(d: int, eps, p: float, *, form: str = "mills"):
    """A lower bound on ``vol(A(ε, ℓ_p))`` for every ``A ⊂ [0, 1]^d`` with ``vol(A) ≥ ½``.

    With ``p* = min(p, 2)`` and ``r = sqrt(2π) · ε · d^{1/2 − 1/p*}``:

    * ``form="gaussian"``: ``Φ(r)``, from Gaussian isoperimetry pushed to the cube by the coordinate-wise map
      ``z ↦ Φ(z)`` (Lipschitz with constant ``1/sqrt(2π)``); ``Φ`` is the standard normal distribution function;
    * ``form="mills"``: ``1 − exp(−π d^{1 − 2/p*} ε²) / (2π ε d^{1/2 − 1/p*})``, from Mills' ratio
      ``1 − Φ(r) ≤ φ(r)/r``; it can be negative (vacuous) for small ``ε``.

    For ``p ≥ 2`` (ℓ2 and ℓ∞ included) neither form depends on ``d``. The lecture quotes the Mills form with
    ``2π`` where the derivation gives ``π`` in the exponent; that version is false for ``p = 2`` (the diagonal
    half-cube violates it, see :func:`cube_diagonal_tail` and :ref:`chap-inevitability`).
    ``d`` ≥ 1; ``eps`` > 0 (float or array); ``p`` > 0, ``math.inf`` allowed.
    """
    d = check_int("d", d, min_value=1)
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not p > 0:
        raise ValueError(f"p must be a positive number (math.inf allowed), got {p!r}")
    if form not in ("mills", "gaussian"):
        raise ValueError(f"form must be 'mills' or 'gaussian', got {form!r}")
    arr = _check_eps_array(eps)
    if np.any(arr == 0):
        raise ValueError("eps must be > 0 for the cube bound")
    ps = min(float(p), 2.0)
    r = math.sqrt(2 * math.pi) * arr * d ** (0.5 - 1 / ps)
    if form == "gaussian":
        out = special.ndtr(r)
    else:
        out = 1 - np.exp(-r**2 / 2) / (math.sqrt(2 * math.pi) * r)
    return float(out) if np.ndim(eps) == 0 else out


def _check_diagonal_args(d, eps):
    d = check_int("d", d, min_value=1, max_value=20_000)
    eps = check_real("eps", eps, min_value=0.0)
    return d, eps


def cube_diagonal_tail(d: int, eps: float) -> float:
    """``vol{x ∈ [0, 1]^d : (Σ x_i − d/2)/sqrt(d) > ε}``, exactly: the Irwin–Hall law of a sum of uniforms.

    ``(Σ x_i − d/2)_+ / sqrt(d)`` is the ℓ2 distance from ``x`` to the half-space ``{Σ x_i ≤ d/2}``, so this is the
    volume farther than ``ε`` from it; for the *diagonal half-cube* ``A = {x ∈ [0, 1]^d : Σ x_i ≤ d/2}``
    (``vol(A) = ½``), whose distance is at least that to the half-space, it is a lower bound on
    ``1 − vol(A(ε, ℓ2))``. Computed as ``P(S < d/2 − t)`` with ``t = ε sqrt(d)`` by the alternating Irwin–Hall sum
    ``Σ_{k ≤ x} (−1)^k C(d, k) (x − k)^d / d!`` in ``d + 50`` decimal digits (mpmath), enough for its cancellation
    (the terms reach ``e^d`` times the result). ``d`` in ``[1, 20000]``, ``eps ≥ 0``.
    """
    import mpmath as mp

    d, eps = _check_diagonal_args(d, eps)
    with mp.workdps(d + 50):
        x = mp.mpf(d) / 2 - mp.mpf(eps) * mp.sqrt(d)
        if x <= 0:
            return 0.0
        terms = ((-1) ** k * mp.binomial(d, k) * (x - k) ** d for k in range(int(mp.floor(x)) + 1))
        return float(mp.fsum(terms) / mp.factorial(d))


def cube_diagonal_tail_mc(d: int, eps: float, n: int, *, generator: torch.Generator | None = None):
    """Importance-sampling estimate of :func:`cube_diagonal_tail` and its standard error: ``(estimate, se)``.

    Each coordinate is drawn from the exponentially tilted density ``θ e^{θu} / (e^θ − 1)`` on ``[0, 1]``, with
    ``θ`` chosen so that the tilted mean of ``Σ x_i`` is the threshold ``d/2 + ε sqrt(d)``; each draw is weighted
    by the likelihood ratio ``((e^θ − 1)/θ)^d e^{−θ Σ x_i}``. The estimate is unbiased, and its relative error
    stays a few per cent for tails of ``1e-12`` where plain Monte Carlo would see no event (Owen 2013, ch. 9).
    ``n`` ≥ 2 draws; ``eps > 0``.
    """
    from scipy import optimize

    d, eps = _check_diagonal_args(d, eps)
    if eps == 0:
        raise ValueError("eps must be > 0 for the tilted estimate")
    n = check_int("n", n, min_value=2)
    level = d / 2 + eps * math.sqrt(d)
    target = level / d                                            # tilted mean of one coordinate
    if target >= 1 - 1 / 500:                                     # θ ≥ 500 would overflow e^θ
        raise ValueError(f"eps = {eps} is too close to the corner (ε·sqrt(d) ≥ 0.498·d): the tail is below 1e-200")
    theta = optimize.brentq(lambda th: 1 / -math.expm1(-th) - 1 / th - target, 1e-6, 500.0)
    v = torch.rand(n, d, generator=generator, dtype=torch.float64)
    s = (torch.log1p(v * math.expm1(theta)) / theta).sum(1)      # inverse CDF of the tilted law
    log_w = d * math.log(math.expm1(theta) / theta) - theta * s
    w = torch.where(s > level, torch.exp(log_w), torch.zeros_like(s))
    return float(w.mean()), float(w.std() / math.sqrt(n))
