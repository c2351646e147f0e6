"""Unit tests for dltnotes.memorisation: H^∞, the exact permutation mean, the Arora et al. bound."""

import itertools
import math

import pytest
import torch

from dltnotes import kernels
from dltnotes.memorisation import (arora_complexity_bound, label_quadratic_form,
                                   permuted_quadratic_form_mean, relu_h_infinity,
                                   top_energy_fraction)


def _unit(n, d, seed=0):
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return x / x.norm(dim=1, keepdim=True)


def test_h_infinity_matches_monte_carlo_expectation_and_ntk():
    x = _unit(6, 3)
    h = relu_h_infinity(x)
    assert torch.allclose(torch.diagonal(h), torch.full((6,), 0.5, dtype=torch.float64))
    nt = kernels.relu_nngp_ntk(x, depth=1)
    assert torch.allclose(h, 3 * (nt.ntk - nt.nngp), atol=1e-14)
    w = torch.randn(400_000, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    act = (x @ w.T >= 0).double()
    mc = (x @ x.T) * (act @ act.T) / w.shape[0]
    assert torch.allclose(h, mc, atol=5e-3)           # SE ≈ 0.5/√4e5 ≈ 8e-4
    assert float(torch.linalg.eigvalsh(h).min()) > 0


def test_h_infinity_edge_cases_and_bad_input():
    x = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    assert relu_h_infinity(x)[0, 1].item() == 0.0     # antipodal: θ = π
    with pytest.raises(ValueError, match="zero row"):
        relu_h_infinity(torch.zeros(2, 3))
    with pytest.raises(TypeError):
        relu_h_infinity(torch.ones(2, 3, dtype=torch.int64))
    with pytest.raises(ValueError):
        relu_h_infinity(torch.ones(3))
    with pytest.raises(ValueError):
        relu_h_infinity(torch.tensor([[1.0, float("nan")]]))


@pytest.mark.parametrize("k", [None, 3])
def test_permutation_mean_equals_enumeration(k):
    g = torch.Generator().manual_seed(2)
    n = 5
    m = torch.randn(n, n, generator=g, dtype=torch.float64)     # need not be symmetric
    y = torch.randn(n, generator=g, dtype=torch.float64) if k is None else \
        torch.randn(n, k, generator=g, dtype=torch.float64)
    perms = list(itertools.permutations(range(n)))
    brute = sum(label_quadratic_form(y[list(p)], m) for p in perms) / len(perms)
    assert math.isclose(permuted_quadratic_form_mean(y, m), brute, rel_tol=1e-12)


def test_permutation_mean_special_cases():
    y = torch.tensor([1.0, 2.0, 4.0, 7.0])
    eye = torch.eye(4, dtype=torch.float64)
    assert math.isclose(permuted_quadratic_form_mean(y, eye), float((y**2).sum()), rel_tol=1e-14)
    ones = torch.ones(4, 4, dtype=torch.float64)
    assert math.isclose(permuted_quadratic_form_mean(y, ones), float(y.sum()) ** 2, rel_tol=1e-14)


def test_top_energy_fraction():
    h = relu_h_infinity(_unit(8, 4))
    lam, v = torch.linalg.eigh(h)
    v = v.flip(1)
    y = v[:, 0] * 3
    assert math.isclose(top_energy_fraction(y, v, 1), 1.0, rel_tol=1e-12)
    assert math.isclose(top_energy_fraction(torch.randn(8, 2, dtype=torch.float64), v, 8), 1.0,
                        rel_tol=1e-12)
    with pytest.raises(ValueError):
        top_energy_fraction(y, v, 9)
    with pytest.raises(ValueError, match="zero"):
        top_energy_fraction(torch.zeros(8), v, 2)
    with pytest.raises(ValueError, match="rows"):
        top_energy_fraction(torch.ones(7), v, 2)


def test_arora_bound_value_and_bad_input():
    h = relu_h_infinity(_unit(10, 5))
    y = torch.tensor([1.0, -1.0] * 5, dtype=torch.float64)
    cx, bound = arora_complexity_bound(y, h, delta=0.1)
    assert math.isclose(cx, float(y @ torch.linalg.solve(h, y)), rel_tol=1e-10)
    assert math.isclose(bound, math.sqrt(2 * cx / 10) + 3 * math.sqrt(math.log(60) / 20), rel_tol=1e-12)
    with pytest.raises(ValueError, match="one column"):
        arora_complexity_bound(torch.ones(10, 2), h)
    with pytest.raises(ValueError):
        arora_complexity_bound(y, h, delta=1.0)
    with pytest.raises(ValueError, match="positive definite"):
        arora_complexity_bound(torch.ones(2), torch.ones(2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="symmetric"):
        arora_complexity_bound(torch.ones(2), torch.tensor([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="square"):
        label_quadratic_form(torch.ones(2), torch.ones(2, 3))
    with pytest.raises(TypeError):
        label_quadratic_form(torch.tensor([True, False]), torch.eye(2))
