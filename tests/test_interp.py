import math

import numpy as np
import pytest
import torch

from dltnotes.interp import (gaussian_kernel, jl_failure_bound, laplace_kernel, random_fourier_features,
                             rff_variance, weighted_nn)

F64 = dict(dtype=torch.float64)


def _x(n=6, d=3, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), **F64)


# ------------------------------------------------------------------------------------------------- kernels
def test_kernels_match_a_direct_loop():
    x, y = _x(5), _x(4, seed=1)
    g, lap = gaussian_kernel(x, y, bandwidth=1.5), laplace_kernel(x, y, bandwidth=0.7)
    for i in range(5):
        for j in range(4):
            r = torch.linalg.norm(x[i] - y[j]).item()
            assert g[i, j].item() == pytest.approx(math.exp(-r * r / (2 * 1.5**2)), rel=1e-12)
            assert lap[i, j].item() == pytest.approx(math.exp(-r / 0.7), rel=1e-12)


def test_kernels_have_unit_diagonal_and_are_psd():
    x = _x(30, 4)
    for kern in (gaussian_kernel, laplace_kernel):
        k = kern(x, bandwidth=2.0)
        assert torch.allclose(k.diagonal(), torch.ones(30, **F64))
        assert torch.allclose(k, k.T)
        assert torch.linalg.eigvalsh(k).min() > 0


def test_kernels_accept_numpy():
    x = np.random.default_rng(0).normal(size=(3, 2))
    assert gaussian_kernel(x, bandwidth=1.0).shape == (3, 3)


@pytest.mark.parametrize("kern", [gaussian_kernel, laplace_kernel])
def test_kernels_reject_bad_input(kern):
    with pytest.raises(ValueError, match="bandwidth"):
        kern(_x(), bandwidth=0.0)
    with pytest.raises(ValueError, match="columns"):
        kern(_x(d=3), _x(d=2), bandwidth=1.0)
    with pytest.raises(ValueError, match="dimensions"):
        kern(torch.zeros(3, **F64), bandwidth=1.0)
    with pytest.raises(TypeError, match="floating"):
        kern(torch.zeros(3, 2, dtype=torch.int64), bandwidth=1.0)
    with pytest.raises(ValueError, match="NaN"):
        kern(torch.full((2, 2), float("nan"), **F64), bandwidth=1.0)
    with pytest.raises(TypeError, match="dtype"):
        kern(_x(), _x().float(), bandwidth=1.0)


# ------------------------------------------------------------------------------------------------- random features
def test_rff_shape_scale_and_seed():
    x = _x(4, 5)
    z1 = random_fourier_features(x, n_features=7, bandwidth=1.0, generator=torch.Generator().manual_seed(3))
    z2 = random_fourier_features(x, n_features=7, bandwidth=1.0, generator=torch.Generator().manual_seed(3))
    assert z1.shape == (4, 7) and torch.equal(z1, z2)
    assert z1.abs().max() <= math.sqrt(2 / 7) + 1e-15


def test_rff_approximates_the_gaussian_kernel():
    x = _x(5, 3) * 0.5
    z = random_fourier_features(x, n_features=50_000, bandwidth=1.3, generator=torch.Generator().manual_seed(0))
    k = gaussian_kernel(x, bandwidth=1.3)
    sd = math.sqrt(rff_variance(0.0, 50_000) * 1.0)          # the largest variance over k ∈ [0, 1] is 1/D
    assert (z @ z.T - k).abs().max() < 5 * sd


def test_rff_variance_closed_form_and_validation():
    assert rff_variance(1.0, 1) == pytest.approx(0.5)
    assert rff_variance(0.0, 4) == pytest.approx(0.25)
    np.testing.assert_allclose(rff_variance(np.array([0.0, 1.0]), 2), [0.5, 0.25])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        rff_variance(1.5, 3)
    with pytest.raises(ValueError, match="n_features"):
        rff_variance(0.5, 0)
    with pytest.raises(TypeError):
        rff_variance(0.5, 2.0)


def test_rff_rejects_bad_input():
    with pytest.raises(ValueError, match="n_features"):
        random_fourier_features(_x(), n_features=0, bandwidth=1.0)
    with pytest.raises(ValueError, match="bandwidth"):
        random_fourier_features(_x(), n_features=3, bandwidth=-1.0)
    with pytest.raises(TypeError, match="generator"):
        random_fourier_features(_x(), n_features=3, bandwidth=1.0, generator=0)
    with pytest.raises(TypeError, match="torch.Tensor"):
        random_fourier_features([[1.0, 2.0]], n_features=3, bandwidth=1.0)


# ------------------------------------------------------------------------------------------------- JL bound
def test_jl_bound_dominates_the_exact_chi2_tail():
    from scipy import stats
    for m in (5, 50, 500):
        for eps in (0.1, 0.5, 0.9):
            tail = stats.chi2.sf(m * (1 + eps), m) + stats.chi2.cdf(m * (1 - eps), m)
            assert tail <= jl_failure_bound(m, eps)
    np.testing.assert_allclose(jl_failure_bound(4, np.array([0.5])), [2 * math.exp(-0.125)])
    with pytest.raises(ValueError, match="eps"):
        jl_failure_bound(10, 1.0)
    with pytest.raises(ValueError, match="m"):
        jl_failure_bound(0, 0.5)


# ------------------------------------------------------------------------------------------------- nearest neighbours
def test_weighted_nn_matches_a_readable_reference():
    gen = torch.Generator().manual_seed(1)
    xt, xs = torch.rand(40, 2, generator=gen, **F64), torch.rand(15, 2, generator=gen, **F64)
    y = (torch.rand(40, generator=gen) < 0.5).double()
    for k, delta in ((1, 0.0), (5, 0.0), (7, 1.0)):
        got = weighted_nn(xt, y, xs, k=k, delta=delta, chunk=4)
        for j in range(15):
            dist = torch.linalg.norm(xt - xs[j], dim=1)
            order = torch.argsort(dist)[:k]
            w = dist[order] ** (-delta)
            assert got[j].item() == pytest.approx((w * y[order]).sum().item() / w.sum().item(), rel=1e-12)


def test_weighted_nn_interpolates_and_handles_duplicates():
    gen = torch.Generator().manual_seed(2)
    xt = torch.rand(30, 3, generator=gen, **F64)
    y = torch.randint(0, 2, (30,), generator=gen)
    assert torch.equal(weighted_nn(xt, y, xt, k=10, delta=0.5), y.double())
    dup = torch.cat([xt, xt[:1]])                                  # a duplicated point with the other label
    ydup = torch.cat([y, 1 - y[:1]])
    assert weighted_nn(dup, ydup, xt[:1], k=5, delta=1.0).item() == pytest.approx(0.5)


def test_weighted_nn_rejects_bad_input():
    x, y = _x(5, 2), torch.zeros(5)
    with pytest.raises(ValueError, match="k must be <= 5"):
        weighted_nn(x, y, x, k=6)
    with pytest.raises(ValueError, match="k must be >= 1"):
        weighted_nn(x, y, x, k=0)
    with pytest.raises(ValueError, match="delta"):
        weighted_nn(x, y, x, k=2, delta=-1.0)
    with pytest.raises(ValueError, match="5 entries"):
        weighted_nn(x, torch.zeros(4), x, k=2)
    with pytest.raises(TypeError, match="bool"):
        weighted_nn(x, torch.zeros(5, dtype=torch.bool), x, k=2)
    with pytest.raises(ValueError, match="columns"):
        weighted_nn(x, y, _x(3, 3), k=2)
