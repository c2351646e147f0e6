"""Tests of dltnotes.concentration: closed forms against quadrature and simulation, bounds, and errors."""

import math

import numpy as np
import pytest
import torch

from dltnotes.concentration import (cube_bound, geodesic_distance_to_half_sphere, half_sphere_expansion,
                                    half_sphere_tail, levy_bound, sphere_uniform)


@pytest.mark.parametrize("d", [2, 3, 5, 20, 200, 2000])
def test_beta_and_quadrature_agree(d):
    eps = np.linspace(0, 1.6, 17)
    assert np.allclose(half_sphere_expansion(d, eps), half_sphere_expansion(d, eps, method="quad"), atol=1e-9)


def test_known_values():
    # circle: the expansion of a half circle by an arc ε has measure 1/2 + ε/π
    assert half_sphere_expansion(2, 0.3) == pytest.approx(0.5 + 0.3 / math.pi, abs=1e-12)
    # S^2 (Archimedes): x₁ is uniform on [−1, 1], so μ(x₁ ≤ sin ε) = (1 + sin ε)/2
    assert half_sphere_expansion(3, 0.7) == pytest.approx((1 + math.sin(0.7)) / 2, abs=1e-12)
    assert half_sphere_expansion(10, 0.0) == pytest.approx(0.5, abs=1e-15)
    assert half_sphere_expansion(10, 2.0) == 1.0
    assert isinstance(half_sphere_expansion(4, 0.1), float)


def test_levy_bound_holds_below_the_exact_expansion():
    eps = np.linspace(0, np.pi / 2, 200)
    for d in [2, 3, 10, 100, 1000]:
        assert np.all(half_sphere_expansion(d, eps) >= levy_bound(d, eps) - 1e-12)
    assert levy_bound(2, 0.0) == pytest.approx(1 - math.sqrt(math.pi / 8))


def test_monte_carlo_matches_closed_form():
    g = torch.Generator().manual_seed(0)
    x = sphere_uniform(20000, 30, generator=g)
    assert torch.allclose(x.norm(dim=1), torch.ones(20000, dtype=torch.float64))
    frac = (geodesic_distance_to_half_sphere(x) <= 0.2).double().mean().item()
    exact = half_sphere_expansion(30, 0.2)
    se = math.sqrt(exact * (1 - exact) / 20000)
    assert abs(frac - exact) <= 4 * se  # binomial standard error, k = 4


def test_geodesic_distance():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [math.sqrt(0.5), math.sqrt(0.5)]], dtype=torch.float64)
    assert torch.allclose(geodesic_distance_to_half_sphere(x),
                          torch.tensor([math.pi / 2, 0, 0, math.pi / 4], dtype=torch.float64))


def test_cube_bound():
    # p ≥ 2: independent of d; the half cube {x₁ ≤ ½} has expansion min(1, ½ + ε) for every ℓp, above the bound
    for p in (2, 3, math.inf):
        assert cube_bound(10, 0.4, p) == pytest.approx(cube_bound(10_000, 0.4, p))
    eps = np.linspace(0.05, 0.5, 10)
    assert np.all(np.minimum(1, 0.5 + eps) >= cube_bound(50, eps, math.inf))
    assert cube_bound(1, 0.5, 2) == pytest.approx(1 - math.exp(-2 * math.pi * 0.25) / math.pi)
    assert cube_bound(100, 0.01, 2) < 0  # vacuous for tiny ε


def test_errors():
    with pytest.raises(ValueError, match="eps"):
        half_sphere_expansion(3, -0.1)
    with pytest.raises(ValueError, match="eps"):
        levy_bound(3, [0.1, float("nan")])
    with pytest.raises(ValueError, match="d must be >= 2"):
        half_sphere_expansion(1, 0.1)
    with pytest.raises(TypeError, match="d must be an integer"):
        levy_bound(3.0, 0.1)
    with pytest.raises(ValueError, match="method"):
        half_sphere_expansion(3, 0.1, method="mc")
    with pytest.raises(ValueError, match="p must"):
        cube_bound(3, 0.1, 0)
    with pytest.raises(ValueError, match="> 0"):
        cube_bound(3, 0.0, 2)
    with pytest.raises(ValueError, match="n must be >= 1"):
        sphere_uniform(0, 3)
    with pytest.raises(TypeError, match="dtype"):
        sphere_uniform(3, 3, dtype=torch.int64)
    with pytest.raises(ValueError, match="unit vectors"):
        geodesic_distance_to_half_sphere(torch.ones(3, 3))
    with pytest.raises(ValueError, match="d >= 2"):
        geodesic_distance_to_half_sphere(torch.ones(3))


def test_tail_is_the_complement_and_accurate():
    eps = np.linspace(0, 2.0, 41)
    for d in (2, 3, 30, 500):
        assert np.allclose(half_sphere_tail(d, eps), 1 - half_sphere_expansion(d, eps), atol=1e-14)
    # far tail: relative accuracy where 1 − μ underflows to 0 in the subtraction; compare with quadrature
    from scipy import integrate
    k = 2000 - 2
    num = integrate.quad(lambda p: np.exp(k * np.log(np.cos(p))), 0.3, np.pi / 2, epsabs=0, epsrel=1e-12)[0]
    den = 2 * integrate.quad(lambda p: np.exp(k * np.log(np.cos(p))), 0, np.pi / 2, epsabs=0, epsrel=1e-12,
                             points=[0.0])[0]
    assert 1 - half_sphere_expansion(2000, 0.3) == 0.0
    assert half_sphere_tail(2000, 0.3) == pytest.approx(num / den, rel=1e-8)
    with pytest.raises(ValueError, match="eps"):
        half_sphere_tail(5, -1.0)
