"""Tests of dltnotes.concentration: closed forms against quadrature and simulation, bounds, and errors."""

import math

import numpy as np
import pytest
import torch

from dltnotes.concentration import (cap_angle, cube_bound, cube_diagonal_tail, cube_diagonal_tail_mc,
                                    geodesic_distance_to_half_sphere, half_sphere_expansion, half_sphere_tail,
                                    levy_bound, sphere_uniform)


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


def test_cap_bound_and_its_sharp_exponent():
    # the chapter's proposition: T_d(ε) ≤ ½ cos^(d−1) ε; with the exponent d it fails near π/2 (planted mistake)
    eps = np.linspace(0, np.pi / 2, 801)[1:-1]
    for d in (2, 3, 5, 20, 200):
        tail = half_sphere_tail(d, eps)
        assert np.all(tail <= 0.5 * np.cos(eps) ** (d - 1) * (1 + 1e-12))
        assert np.any(tail > 0.5 * np.cos(eps) ** d)
        # cos ε ≤ exp(−ε²/2) and ½ < √(π/8): the cap bound implies the quoted form of levy_bound
        assert np.all(0.5 * np.cos(eps) ** (d - 1) <= math.sqrt(math.pi / 8) * np.exp(-(d - 1) * eps**2 / 2))


def test_cap_angle_inverts_the_tail():
    for d in (2, 3, 30, 1000):
        for t in (1e-6, 0.1, 0.3):
            assert half_sphere_tail(d, cap_angle(d, t)) == pytest.approx(t, rel=1e-9)
        assert cap_angle(d, 0.5) == pytest.approx(0.0, abs=1e-12)
    assert cap_angle(3, 0.25) == pytest.approx(math.asin(0.5))  # d = 3: x₁ uniform on [−1, 1]
    with pytest.raises(ValueError, match="tail"):
        cap_angle(3, 0.6)
    with pytest.raises(ValueError, match="tail"):
        cap_angle(3, 0.0)


def test_cube_bound():
    # p ≥ 2: independent of d; the half cube {x₁ ≤ ½} has expansion min(1, ½ + ε) for every ℓp, above the bound
    for p in (2, 3, math.inf):
        assert cube_bound(10, 0.4, p) == pytest.approx(cube_bound(10_000, 0.4, p))
        assert cube_bound(10, 0.4, p, form="gaussian") == pytest.approx(cube_bound(10_000, 0.4, p, form="gaussian"))
    assert cube_bound(10, 0.4, 1) != pytest.approx(cube_bound(1000, 0.4, 1))  # p < 2 depends on d
    eps = np.linspace(0.01, 0.5, 50)
    for form in ("mills", "gaussian"):
        assert np.all(np.minimum(1, 0.5 + eps) >= cube_bound(50, eps, math.inf, form=form))
    # Mills' ratio: the Gaussian form is the sharper one
    assert np.all(cube_bound(7, eps, 2, form="gaussian") >= cube_bound(7, eps, 2))
    # exponent π (not 2π): r = √(2π) ε, bound 1 − exp(−r²/2)/(√(2π) r)
    assert cube_bound(1, 0.5, 2) == pytest.approx(1 - math.exp(-math.pi * 0.25) / math.pi)
    assert cube_bound(1, 0.5, 2, form="gaussian") == pytest.approx(0.5 * math.erfc(-math.sqrt(math.pi / 4)))
    assert cube_bound(100, 0.01, 2) < 0  # vacuous for tiny ε
    with pytest.raises(ValueError, match="form"):
        cube_bound(3, 0.1, 2, form="exact")


def test_cube_diagonal_tail_exact_values():
    assert cube_diagonal_tail(1, 0.2) == pytest.approx(0.3, rel=1e-12)             # P(U > 0.7)
    t = 0.3 * math.sqrt(2)
    assert cube_diagonal_tail(2, 0.3) == pytest.approx((1 - t) ** 2 / 2, rel=1e-12)  # triangular law
    assert cube_diagonal_tail(40, 0.0) == pytest.approx(0.5, rel=1e-12)
    assert cube_diagonal_tail(4, 1.0) == 0.0                                     # beyond the corner
    # large d: close to the central limit theorem's 1 − Φ(√12 ε) (≈ 4e-2 at ε = 0.5, where the Edgeworth
    # term vanishes), and far above the 2π form's tail at ε = 2 (the chapter's counterexample)
    assert cube_diagonal_tail(300, 0.5) == pytest.approx(0.5 * math.erfc(math.sqrt(6) * 0.5), rel=1e-3)
    assert cube_diagonal_tail(1000, 2.0) > 1.5 * math.exp(-8 * math.pi) / (4 * math.pi)


def test_cube_diagonal_tail_importance_sampling():
    g = torch.Generator().manual_seed(0)
    for d, eps in ((3, 0.4), (200, 1.5)):
        est, se = cube_diagonal_tail_mc(d, eps, 20_000, generator=g)
        assert se > 0
        assert abs(est - cube_diagonal_tail(d, eps)) <= 4 * se
    g1, g2 = (torch.Generator().manual_seed(1) for _ in range(2))
    assert cube_diagonal_tail_mc(50, 1.0, 100, generator=g1) == cube_diagonal_tail_mc(50, 1.0, 100, generator=g2)
    with pytest.raises(ValueError, match="eps"):
        cube_diagonal_tail_mc(5, 0.0, 100)
    with pytest.raises(ValueError, match="corner"):
        cube_diagonal_tail_mc(4, 0.999, 100)
    with pytest.raises(ValueError, match="n must be"):
        cube_diagonal_tail_mc(4, 0.5, 1)
    with pytest.raises(ValueError, match="d must be"):
        cube_diagonal_tail(0, 0.5)


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
    # near π/2 too: on the circle (d = 2) the tail is (π/2 − ε)/π exactly
    for delta in (1e-3, 1e-6):
        assert half_sphere_tail(2, np.pi / 2 - delta) == pytest.approx(delta / np.pi, rel=1e-8)
    with pytest.raises(ValueError, match="eps"):
        half_sphere_tail(5, -1.0)
