"""Tests of dltnotes.expressivity: exact constructions, exact breakpoints, the Rao–Blackwell estimate."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from dltnotes.expressivity import (activation_breakpoints, l1_distance_unit_interval, rao_blackwell_crossings,
                                   sawtooth_net, yarotsky_square)

ZERO, ONE = torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)


def tent_power(x, k):
    for _ in range(k):
        x = np.where(x <= 0.5, 2 * x, 2 - 2 * x)
    return x


def random_net(widths, d, gen, bias_std=0.3):
    layers, fan = [], d
    for w in widths:
        lin = nn.Linear(fan, w, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(w, fan, generator=gen, dtype=torch.float64) * math.sqrt(2 / fan))
            lin.bias.copy_(torch.randn(w, generator=gen, dtype=torch.float64) * bias_std)
        layers += [lin, nn.ReLU()]
        fan = w
    layers.append(nn.Linear(fan, 1, dtype=torch.float64))
    return nn.Sequential(*layers)


def grid_sign_changes(model, x0, u, t0, t1, n):
    """Reference: count sign changes of every hidden pre-activation between consecutive grid points."""
    t = torch.linspace(t0, t1, n, dtype=torch.float64)
    h = x0 + t[:, None] * u
    count = 0
    for layer in model:
        if isinstance(layer, nn.ReLU):
            count += int(((h[:-1] * h[1:]) < 0).sum())
        with torch.no_grad():
            h = layer(h)
    return count


@pytest.mark.parametrize("k", [1, 2, 5, 9])
def test_sawtooth_matches_tent_composition_and_has_2k_units(k):
    net = sawtooth_net(k)
    x = np.linspace(0, 1, 2**12 + 1)
    with torch.no_grad():
        y = net(torch.tensor(x)[:, None]).numpy()[:, 0]
    np.testing.assert_allclose(y, tent_power(x, k), atol=1e-12)
    relus = sum(isinstance(m, nn.ReLU) for m in net)
    units = sum(m.out_features for m in net if isinstance(m, nn.Linear)) - 1
    assert relus == k and units == 2 * k
    assert all(p.dtype == torch.float64 for p in net.parameters())


@pytest.mark.parametrize("k", range(1, 11))
def test_sawtooth_breakpoints_are_the_dyadic_points(k):
    bp = activation_breakpoints(sawtooth_net(k), ZERO, ONE)
    expected = torch.arange(1, 2**k, dtype=torch.float64) / 2**k
    assert torch.equal(bp, expected)                        # 2^k − 1 points, exactly


@pytest.mark.parametrize("m", [1, 3, 6])
def test_yarotsky_interpolates_the_square(m):
    net = yarotsky_square(m)
    grid = torch.arange(2**m + 1, dtype=torch.float64)[:, None] / 2**m
    mids = (torch.arange(2**m, dtype=torch.float64)[:, None] + 0.5) / 2**m
    with torch.no_grad():
        assert torch.equal(net(grid), grid**2)            # exact at the grid points (dyadic arithmetic)
        err = net(mids) - mids**2
    assert torch.allclose(err, torch.full_like(err, 2.0 ** (-2 * m - 2)), rtol=0, atol=1e-15)
    assert sum(isinstance(mod, nn.ReLU) for mod in net) == m


def test_breakpoints_agree_with_a_dense_grid_on_random_nets():
    gen = torch.Generator().manual_seed(1)
    for widths in ([7], [5, 5], [4, 6, 3]):
        net = random_net(widths, 3, gen)
        x0 = torch.randn(3, generator=gen, dtype=torch.float64)
        u = torch.randn(3, generator=gen, dtype=torch.float64)
        bp = activation_breakpoints(net, x0, u, -1.0, 1.0)
        assert torch.all(bp[1:] > bp[:-1]) and bool((bp > -1).all() and (bp < 1).all())
        assert len(bp) == grid_sign_changes(net, x0, u, -1.0, 1.0, 200_001)


def test_breakpoints_are_zeros_of_some_neuron():
    gen = torch.Generator().manual_seed(2)
    net = random_net([6, 6], 2, gen)
    x0, u = torch.zeros(2, dtype=torch.float64), torch.tensor([1.0, 0.5], dtype=torch.float64)
    bp = activation_breakpoints(net, x0, u, -2.0, 2.0)
    h = x0 + bp[:, None] * u
    smallest = torch.full((len(bp),), float("inf"), dtype=torch.float64)
    for layer in net:
        if isinstance(layer, nn.ReLU):
            smallest = torch.minimum(smallest, h.abs().min(1).values)
        with torch.no_grad():
            h = layer(h)
    assert float(smallest.max()) < 1e-12


def test_float32_model_is_accepted_and_empty_when_nothing_crosses():
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    with torch.no_grad():
        net[0].weight.zero_()
        net[0].bias.fill_(1.0)
    bp = activation_breakpoints(net, torch.zeros(2), torch.ones(2))
    assert bp.dtype == torch.float64 and bp.numel() == 0


def test_rao_blackwell_matches_monte_carlo_over_biases():
    """Resampling only the biases: the average count of each neuron in layer 1 is its RB value."""
    gen = torch.Generator().manual_seed(3)
    net = random_net([5], 2, gen)
    x0, u = torch.zeros(2, dtype=torch.float64), torch.tensor([0.6, 0.8], dtype=torch.float64)
    rb = rao_blackwell_crossings(net, x0, u, 0.3, -1.0, 1.0)
    a = (net[0].weight.detach() @ u).abs()               # layer 1: crossing iff |b| ≤ |w·u| on t ∈ [−1, 1]
    exact = torch.special.erf(a / (0.3 * math.sqrt(2)))
    assert torch.allclose(rb, exact, atol=1e-14)
    counts = []
    for _ in range(2000):
        with torch.no_grad():
            net[0].bias.copy_(torch.randn(5, generator=gen, dtype=torch.float64) * 0.3)
        counts.append(len(activation_breakpoints(net, x0, u, -1.0, 1.0)))
    mean, se = np.mean(counts), np.std(counts, ddof=1) / math.sqrt(len(counts))
    assert abs(mean - float(rb.sum())) < 4 * se


def test_rao_blackwell_shape_and_nonnegativity_on_a_deep_net():
    gen = torch.Generator().manual_seed(4)
    net = random_net([4, 3, 5], 3, gen)
    rb = rao_blackwell_crossings(net, torch.zeros(3, dtype=torch.float64),
                                 torch.ones(3, dtype=torch.float64), 0.5, -1.0, 1.0)
    assert rb.shape == (12,) and bool((rb >= 0).all())


def test_l1_distance_exact_cases():
    const = nn.Sequential(nn.Linear(1, 1, dtype=torch.float64))
    with torch.no_grad():
        const[0].weight.zero_()
        const[0].bias.fill_(0.5)
    for k in (1, 3, 6):
        assert abs(l1_distance_unit_interval(const, sawtooth_net(k)) - 0.25) < 1e-14
    assert l1_distance_unit_interval(sawtooth_net(4), sawtooth_net(4)) == 0.0
    # ∫₀¹ |x² interpolant − Δ¹| against a fine quadrature
    x = np.linspace(0, 1, 2_000_001)
    with torch.no_grad():
        d = (yarotsky_square(2)(torch.tensor(x)[:, None]) - sawtooth_net(1)(torch.tensor(x)[:, None])).numpy()
    assert abs(l1_distance_unit_interval(yarotsky_square(2), sawtooth_net(1)) - np.trapezoid(np.abs(d[:, 0]), x)) < 1e-9


@pytest.mark.parametrize("bad", [0, -1])
def test_constructions_reject_bad_depth(bad):
    with pytest.raises(ValueError):
        sawtooth_net(bad)
    with pytest.raises(ValueError):
        yarotsky_square(bad)


@pytest.mark.parametrize("bad", [2.0, "3", True])
def test_constructions_reject_non_integers(bad):
    with pytest.raises(TypeError):
        sawtooth_net(bad)
    with pytest.raises(TypeError):
        yarotsky_square(bad)


def test_breakpoints_reject_bad_input():
    net = sawtooth_net(2)
    with pytest.raises(TypeError, match="Tanh"):
        activation_breakpoints(nn.Sequential(nn.Linear(1, 2), nn.Tanh(), nn.Linear(2, 1)), ZERO, ONE)
    with pytest.raises(TypeError, match="Sequential"):
        activation_breakpoints(nn.Linear(1, 1), ZERO, ONE)
    with pytest.raises(ValueError, match="no nn.Linear"):
        activation_breakpoints(nn.Sequential(nn.ReLU()), ZERO, ONE)
    with pytest.raises(ValueError, match="shape"):
        activation_breakpoints(net, torch.zeros(2, dtype=torch.float64), ONE)
    with pytest.raises(ValueError, match="dimensions"):
        activation_breakpoints(net, torch.zeros(1, 1, dtype=torch.float64), ONE)
    with pytest.raises(TypeError):
        activation_breakpoints(net, torch.zeros(1, dtype=torch.int64), ONE)
    with pytest.raises(ValueError, match="NaN"):
        activation_breakpoints(net, ZERO, torch.tensor([float("nan")], dtype=torch.float64))
    with pytest.raises(ValueError, match="t0 < t1"):
        activation_breakpoints(net, ZERO, ONE, 1.0, 0.0)
    with pytest.raises(TypeError):
        activation_breakpoints(net, [0.0], ONE)


def test_rao_blackwell_rejects_bad_input():
    net = sawtooth_net(2)
    with pytest.raises(ValueError, match="bias_std"):
        rao_blackwell_crossings(net, ZERO, ONE, 0.0)
    with pytest.raises(ValueError, match="does not follow"):
        rao_blackwell_crossings(nn.Sequential(nn.ReLU(), nn.Linear(1, 1)), ZERO, ONE, 1.0)
    with pytest.raises(TypeError):
        rao_blackwell_crossings(nn.Sequential(nn.Linear(1, 1), nn.Sigmoid()), ZERO, ONE, 1.0)


def test_l1_distance_rejects_non_scalar_nets():
    with pytest.raises(ValueError, match="scalars"):
        l1_distance_unit_interval(nn.Sequential(nn.Linear(2, 1)), sawtooth_net(1))
    with pytest.raises(TypeError):
        l1_distance_unit_interval(sawtooth_net(1), lambda x: x)
