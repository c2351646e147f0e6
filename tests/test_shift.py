"""Tests for dltnotes.shift: Gaussian moments and fits, importance weights, ESS, TV, domain classifiers."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from dltnotes import shift

F = [0.0, -1.0, 0.0, 1.0]  # Shimodaira's f(x) = −x + x³
SOURCE, TARGET = (0.5, 0.5), (0.0, 0.3)


def test_raw_moments_of_the_standard_normal_and_a_shifted_one():
    np.testing.assert_allclose(shift.gaussian_raw_moments(0.0, 1.0, 6), [1, 0, 1, 0, 3, 0, 15])
    mu, sd = 0.7, 1.3  # against quadrature
    quad = [integrate.quad(lambda x, k=k: x**k * stats.norm.pdf(x, mu, sd), -30, 30)[0] for k in range(7)]
    np.testing.assert_allclose(shift.gaussian_raw_moments(mu, sd, 6), quad, rtol=1e-10)
    assert shift.gaussian_raw_moments(2.0, 1.0, 0).tolist() == [1.0]


def test_population_fit_matches_a_huge_quadrature_least_squares():
    # Gauss–Hermite nodes integrate polynomials of degree < 2·60 exactly: weighted LS on them is the population
    nodes, w = np.polynomial.hermite_e.hermegauss(60)
    for mean, sd in (SOURCE, TARGET):
        x = torch.tensor(mean + sd * nodes)
        y = -x + x**3
        fit = shift.weighted_polyfit(x, y, torch.tensor(w / w.sum()), degree=1)
        np.testing.assert_allclose(fit.numpy(), shift.population_polyfit(F, 1, mean, sd), atol=1e-12)
    np.testing.assert_allclose(shift.population_polyfit(F, 1, *TARGET), [0.0, -1 + 3 * 0.09], atol=1e-15)
    # a well-specified model is recovered exactly under any input law
    np.testing.assert_allclose(shift.population_polyfit(F, 3, *SOURCE), F, atol=1e-12)


def test_polynomial_risk_against_quadrature_and_its_minimum():
    theta, noise = np.array([0.1, -0.5]), 0.3
    quad = integrate.quad(lambda x: ((-x + x**3) - theta[0] - theta[1] * x) ** 2 * stats.norm.pdf(x, *TARGET),
                          -10, 10)[0] + noise**2
    assert shift.polynomial_risk(theta, F, *TARGET, noise_sd=noise) == pytest.approx(quad, rel=1e-10)
    best = shift.population_polyfit(F, 1, *TARGET)
    r0 = shift.polynomial_risk(best, F, *TARGET)
    for delta in ([1e-3, 0], [0, 1e-3], [-1e-3, 1e-3]):
        assert shift.polynomial_risk(best + np.array(delta), F, *TARGET) > r0
    assert shift.polynomial_risk(F, F, 0.0, 1.0, noise_sd=0.5) == pytest.approx(0.25)


def test_weighted_polyfit_batches_and_weights():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 50, generator=g, dtype=torch.float64)
    y = 2 - x + 0.5 * x**2
    np.testing.assert_allclose(shift.weighted_polyfit(x, y, degree=2).numpy(), [[2, -1, 0.5]] * 3, atol=1e-10)
    # zero weights drop points: the fit equals the fit of the kept points
    w = (torch.arange(50) % 2).to(torch.float64).expand(3, 50)
    noisy = y + torch.randn(3, 50, generator=g, dtype=torch.float64)
    kept = shift.weighted_polyfit(x[:, 1::2], noisy[:, 1::2], degree=1)
    np.testing.assert_allclose(shift.weighted_polyfit(x, noisy, w, degree=1).numpy(), kept.numpy(), atol=1e-10)
    # against the normal equations
    w = torch.rand(50, generator=g, dtype=torch.float64)
    v = torch.stack([torch.ones(50, dtype=torch.float64), x[0]], 1)
    normal = torch.linalg.solve(v.T @ (w[:, None] * v), v.T @ (w * noisy[0]))
    np.testing.assert_allclose(shift.weighted_polyfit(x[0], noisy[0], w).numpy(), normal.numpy(), atol=1e-10)


def test_weighted_polyfit_rejects_bad_input():
    x = torch.zeros(5, dtype=torch.float64)
    with pytest.raises(ValueError, match="same shape"):
        shift.weighted_polyfit(x, torch.zeros(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="non-negative"):
        shift.weighted_polyfit(x, x, -torch.ones(5, dtype=torch.float64))
    with pytest.raises(ValueError, match="more than 5"):
        shift.weighted_polyfit(x, x, degree=5)
    with pytest.raises(TypeError):
        shift.weighted_polyfit(np.zeros(5), x)
    with pytest.raises(ValueError, match="NaN"):
        shift.weighted_polyfit(x, x + float("nan"))


def test_weight_second_moment_against_quadrature_and_infinity():
    for source, target in [(SOURCE, TARGET), ((0, 1), (1, 1.2)), ((0, 1), (0, 1))]:
        quad = integrate.quad(lambda x: np.exp(2 * stats.norm.logpdf(x, *target) - stats.norm.logpdf(x, *source)),
                              -40, 40, epsabs=1e-13, epsrel=1e-12, limit=200)[0]
        assert shift.gaussian_weight_second_moment(source, target) == pytest.approx(quad, rel=1e-9)
    assert shift.gaussian_weight_second_moment((0, 1), (0, math.sqrt(2))) == math.inf
    assert shift.gaussian_weight_second_moment((0, 1), (3, 2)) == math.inf
    with pytest.raises(ValueError, match="sd"):
        shift.gaussian_weight_second_moment((0, 0), (0, 1))
    with pytest.raises(TypeError, match="pair"):
        shift.gaussian_weight_second_moment(0.5, (0, 1))


def test_density_ratio_integrates_to_one_and_matches_scipy():
    x = torch.linspace(-3, 3, 13, dtype=torch.float64)
    w = shift.gaussian_density_ratio(x, SOURCE, TARGET)
    ref = stats.norm.pdf(x.numpy(), *TARGET) / stats.norm.pdf(x.numpy(), *SOURCE)
    np.testing.assert_allclose(w.numpy(), ref, rtol=1e-12)
    ew = integrate.quad(lambda t: shift.gaussian_density_ratio(torch.tensor([t], dtype=torch.float64), SOURCE,
                                                               TARGET).item() * stats.norm.pdf(t, *SOURCE),
                        -4, 4, points=[0.0], epsabs=1e-13, epsrel=1e-13, limit=200)[0]
    assert ew == pytest.approx(1.0, rel=1e-9)  # E_S w = 1


def test_kl_against_quadrature():
    p, q = TARGET, SOURCE
    quad = integrate.quad(lambda x: stats.norm.pdf(x, *p) * (stats.norm.logpdf(x, *p) - stats.norm.logpdf(x, *q)),
                          -10, 10)[0]
    assert shift.gaussian_kl(p, q) == pytest.approx(quad, rel=1e-9)
    assert shift.gaussian_kl(p, p) == 0.0
    # Rényi divergences grow with the order: KL ≤ log d₂
    assert shift.gaussian_kl(TARGET, SOURCE) < math.log(shift.gaussian_weight_second_moment(SOURCE, TARGET))


def test_effective_sample_size_edge_cases():
    ones = torch.ones(2, 7, dtype=torch.float64)
    np.testing.assert_allclose(shift.effective_sample_size(ones).numpy(), [7, 7])
    one_hot = torch.zeros(9, dtype=torch.float64)
    one_hot[3] = 5.0
    assert shift.effective_sample_size(one_hot).item() == 1.0
    w = torch.rand(100, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert shift.effective_sample_size(1e300 * w).item() == pytest.approx(shift.effective_sample_size(w).item())
    assert shift.effective_sample_size(w).item() == pytest.approx((w.sum() ** 2 / (w**2).sum()).item())
    with pytest.raises(ValueError, match="positive entry"):
        shift.effective_sample_size(torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="non-negative"):
        shift.effective_sample_size(-ones)
    with pytest.raises(ValueError, match="dimensions"):
        shift.effective_sample_size(torch.tensor(1.0, dtype=torch.float64))


def test_gaussian_tv_against_quadrature():
    for dist in (0.0, 0.3, 1.0, 4.0):
        quad = 0.5 * integrate.quad(lambda x: abs(stats.norm.pdf(x, dist) - stats.norm.pdf(x)), -15, 15,
                                    points=[dist / 2])[0]
        assert shift.gaussian_tv(dist) == pytest.approx(quad, abs=1e-10)
    with pytest.raises(ValueError):
        shift.gaussian_tv(-1.0)


def test_domain_classifier_recovers_the_log_density_ratio():
    g = torch.Generator().manual_seed(0)
    d, n = 3, 20000
    mu = torch.tensor([1.0, -0.5, 0.0], dtype=torch.float64)
    xs = torch.randn(n, d, generator=g, dtype=torch.float64)
    xt = torch.randn(n, d, generator=g, dtype=torch.float64) + mu
    clf = shift.domain_classifier(xs, xt)
    # log w = μᵀx − ‖μ‖²/2; the MLE is within a few 1/√n of it
    np.testing.assert_allclose(clf.weight.numpy(), mu.numpy(), atol=0.06)
    assert clf.bias == pytest.approx(-float(mu @ mu) / 2, abs=0.06)
    pts = torch.randn(5, d, generator=g, dtype=torch.float64)
    exact = torch.exp(pts @ mu - mu @ mu / 2)
    est = shift.classifier_density_ratio(clf, pts, n, n)
    np.testing.assert_allclose(est.numpy(), exact.numpy(), rtol=0.25)
    # the odds of the sample sizes are removed
    clf2 = shift.domain_classifier(xs[: n // 4], xt)
    est2 = shift.classifier_density_ratio(clf2, pts, n // 4, n)
    np.testing.assert_allclose(est2.numpy(), exact.numpy(), rtol=0.3)
    err = shift.domain_error(clf, torch.randn(n, d, generator=g, dtype=torch.float64),
                             torch.randn(n, d, generator=g, dtype=torch.float64) + mu)
    bayes = (1 - shift.gaussian_tv(float(mu.norm()))) / 2
    assert abs(err - bayes) < 4 * math.sqrt(bayes * (1 - bayes) / (2 * n)) + 0.005


def test_domain_classifier_on_separable_samples_stays_finite():
    xs = -1 - torch.rand(20, 2, dtype=torch.float64)
    xt = 1 + torch.rand(20, 2, dtype=torch.float64)
    clf = shift.domain_classifier(xs, xt, ridge=1e-3)
    assert torch.isfinite(clf.weight).all() and math.isfinite(clf.bias)
    assert shift.domain_error(clf, xs, xt) == 0.0


def test_domain_classifier_rejects_bad_input():
    a = torch.zeros(5, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="same width"):
        shift.domain_classifier(a, torch.zeros(5, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="dimensions"):
        shift.domain_classifier(a[0], a)
    with pytest.raises(ValueError, match="no points"):
        shift.domain_classifier(a[:0], a)
    clf = shift.domain_classifier(a, a + 1, ridge=1e-3)
    with pytest.raises(ValueError, match="features"):
        shift.domain_error(clf, torch.zeros(4, 3, dtype=torch.float64), a)
    with pytest.raises(TypeError, match="DomainClassifier"):
        shift.domain_error((clf.weight, clf.bias), a, a)
    with pytest.raises(ValueError, match="n_source"):
        shift.classifier_density_ratio(clf, a, 0, 5)
