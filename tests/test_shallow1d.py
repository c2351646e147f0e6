import numpy as np
import pytest
import torch

from dltnotes.shallow1d import (FunctionCost, ShallowNet, balance, evaluate, function_cost, min_norm_cost_1d,
                                min_norm_cost_lp, min_norm_network, path_norm, secant_slopes, weight_cost)

ZIGZAG = (np.array([-1, -0.6, -0.2, 0.1, 0.5, 1.0]), np.array([0, 0.5, -0.1, 0.4, -0.3, 0.1]))


@pytest.mark.parametrize("x, y, expected", [
    ([0, 1, 2], [0, 1, 0], 2.0),            # one kink of size 2, end term 0
    ([0, 1, 2], [0, 1, 2], 1.0),            # collinear, slope 1: V = 0, the end term (0 + 2)/2 = 1 (f = relu(x))
    ([0, 1, 2], [3, 3, 3], 0.0),            # a constant costs nothing (the output bias is free)
    ([0, 1, 2, 3], [0, 1, 4, 9], 5.0),      # convex: V = 4, σ = 6, (4 + 6)/2 = 5
    ([0, 1, 3, 4], [5, 1, 1, 6], 9.0),      # V = 9 dominates |σ| = 1
    ([-1, 0, 1], [1, 0, 1], 2.0),           # |x|: V = 2, σ = 0
])
def test_known_cases(x, y, expected):
    assert min_norm_cost_1d(x, y) == pytest.approx(expected, abs=1e-14)
    assert min_norm_cost_lp(x, y) == pytest.approx(expected, abs=1e-8)


def test_zigzag_value_and_scaling():
    x, y = ZIGZAG
    s = secant_slopes(x, y)
    assert np.allclose(s, [1.25, -1.5, 5 / 3, -1.75, 0.8])
    v = np.abs(np.diff(s)).sum()
    assert min_norm_cost_1d(x, y) == pytest.approx(v, rel=1e-15)
    # R* is 1-homogeneous in y, invariant under adding a constant, and flips nothing under y → −y
    assert min_norm_cost_1d(x, 3 * y + 2) == pytest.approx(3 * v, rel=1e-14)
    assert min_norm_cost_1d(x, -y) == pytest.approx(v, rel=1e-14)
    # adding a line changes σ but not V
    assert min_norm_cost_1d(x, y + 10 * x) == pytest.approx((v + abs(s[0] + s[-1] + 20)) / 2, rel=1e-14)


def test_closed_form_matches_linear_programme_on_random_data():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(3, 9))
        x = np.sort(rng.normal(size=n))
        y = rng.normal(size=n) + rng.normal() * 3 * x
        assert min_norm_cost_1d(x, y) == pytest.approx(min_norm_cost_lp(x, y), rel=1e-8, abs=1e-9)


def test_min_norm_network_interpolates_balanced_and_attains_rstar():
    rng = np.random.default_rng(1)
    cases = [ZIGZAG, ([0, 1, 2, 3], [0, 1, 4, 9]), ([0, 1, 2], [0, 1, 2])]
    cases += [(np.sort(rng.normal(size=6)), rng.normal(size=6)) for _ in range(10)]
    for x, y in cases:
        net = min_norm_network(x, y)
        r = min_norm_cost_1d(x, y)
        assert np.allclose(evaluate(net, x), y, atol=1e-12)
        assert np.allclose(np.abs(net.a), np.abs(net.w), rtol=1e-14)
        assert weight_cost(net) == pytest.approx(r, rel=1e-12, abs=1e-14)
        assert path_norm(net) == pytest.approx(r, rel=1e-12, abs=1e-14)
        assert function_cost(net).cost == pytest.approx(r, rel=1e-12, abs=1e-14)


def test_function_cost_of_simple_networks():
    relu = ShallowNet(np.array([2.0]), np.array([0.5]), np.array([0.0]), 0.0)   # f = relu(x): cost 1
    assert function_cost(relu) == FunctionCost(1.0, 1.0, 1.0)
    line = ShallowNet(np.array([1.0, -1.0]), np.array([1.0, -1.0]), np.zeros(2), 0.0)  # f = x: TV 0, ends 2
    assert function_cost(line) == FunctionCost(0.0, 2.0, 2.0)
    # two units with the same kink that cancel: the function is 0, its cost is 0, the path norm is not
    cancel = ShallowNet(np.array([1.0, -1.0]), np.array([1.0, 1.0]), np.array([0.5, 0.5]), 0.0)
    assert function_cost(cancel).cost == 0.0 and path_norm(cancel) == 2.0
    hat = ShallowNet(np.array([1.0, -2.0, 1.0]), np.ones(3), np.array([1.0, 0.0, -1.0]), 0.0)
    assert function_cost(hat) == FunctionCost(4.0, 0.0, 4.0)


def test_function_cost_matches_numerical_second_derivative():
    rng = np.random.default_rng(2)
    net = ShallowNet(rng.normal(size=7), rng.normal(size=7), rng.normal(size=7), 0.3)
    grid = np.linspace(-60, 60, 20_001)               # kinks are > 2 cells apart
    slopes = np.diff(evaluate(net, grid)) / np.diff(grid)
    cost = function_cost(net)
    assert cost.tv == pytest.approx(np.abs(np.diff(slopes)).sum(), rel=1e-8)
    assert cost.end_sum == pytest.approx(abs(slopes[0] + slopes[-1]), rel=1e-8)


def test_chain_and_balance_on_random_networks():
    rng = np.random.default_rng(3)
    x = np.linspace(-1, 1, 7)
    for _ in range(20):
        m = int(rng.integers(1, 30))
        net = ShallowNet(rng.normal(size=m) * 2, rng.normal(size=m), rng.normal(size=m), float(rng.normal()))
        chain = [weight_cost(net), path_norm(net), function_cost(net).cost, min_norm_cost_1d(x, evaluate(net, x))]
        assert all(u >= v - 1e-12 * abs(u) for u, v in zip(chain, chain[1:]))
        bal = balance(net)
        assert np.allclose(evaluate(bal, np.linspace(-3, 3, 101)), evaluate(net, np.linspace(-3, 3, 101)))
        assert weight_cost(bal) == pytest.approx(path_norm(net), rel=1e-13)
    # a constant unit (w = 0) moves into the bias; a dead unit (a = 0) disappears
    net = ShallowNet(np.array([2.0, 0.0]), np.array([0.0, 3.0]), np.array([1.5, 1.0]), 1.0)
    bal = balance(net)
    assert bal.c == 4.0 and weight_cost(bal) == 0.0


def test_inputs_as_lists_and_tensors():
    x, y = ZIGZAG
    r = min_norm_cost_1d(x, y)
    assert min_norm_cost_1d(list(x), list(y)) == r
    assert min_norm_cost_1d(torch.tensor(x), torch.tensor(y, dtype=torch.float32)) == pytest.approx(r, rel=1e-6)
    assert min_norm_cost_1d(np.arange(4), np.array([0, 1, 0, 1])) == 4.0   # integers are fine


def test_bad_input():
    with pytest.raises(ValueError, match="strictly increasing"):
        min_norm_cost_1d([0, 2, 1], [0, 1, 2])
    with pytest.raises(ValueError, match="strictly increasing"):
        min_norm_cost_1d([0, 1, 1], [0, 1, 2])
    with pytest.raises(ValueError, match="at least 3"):
        min_norm_cost_1d([0, 1], [0, 1])
    with pytest.raises(ValueError, match="NaN or infinite"):
        min_norm_cost_1d([0, 1, 2], [0, np.nan, 1])
    with pytest.raises(ValueError, match="NaN or infinite"):
        min_norm_cost_1d([0, 1, np.inf], [0, 1, 1])
    with pytest.raises(ValueError, match="same length"):
        min_norm_cost_1d([0, 1, 2], [0, 1, 2, 3])
    with pytest.raises(ValueError, match="1-D"):
        min_norm_cost_1d(np.zeros((3, 1)), np.zeros(3))
    with pytest.raises(TypeError, match="real numbers"):
        min_norm_cost_1d(["a", "b", "c"], [0, 1, 2])
    with pytest.raises(TypeError, match="real numbers"):
        min_norm_cost_1d([0, 1, 2], [1j, 0, 1])
    with pytest.raises(TypeError, match="real numbers"):
        min_norm_cost_1d([0, 1, 2], [True, False, True])
    with pytest.raises(TypeError, match="1-D sequence"):
        min_norm_cost_1d(3.0, [0, 1, 2])
    with pytest.raises(TypeError, match="ShallowNet"):
        path_norm((np.ones(2), np.ones(2), np.ones(2), 0.0))
    with pytest.raises(ValueError, match="same length"):
        weight_cost(ShallowNet(np.ones(2), np.ones(3), np.ones(2), 0.0))
    with pytest.raises(TypeError, match="finite real"):
        function_cost(ShallowNet(np.ones(2), np.ones(2), np.ones(2), "0"))
    with pytest.raises(ValueError, match="finite real"):
        function_cost(ShallowNet(np.ones(2), np.ones(2), np.ones(2), float("nan")))
    with pytest.raises(ValueError, match="knots_per_gap"):
        min_norm_cost_lp([0, 1, 2], [0, 1, 0], knots_per_gap=-1)
