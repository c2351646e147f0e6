"""Tests of dltnotes.bounds: spectral complexity on hand-built matrices, margins, the bound, bad input."""

import math

import pytest
import torch
from torch import nn

from dltnotes import bounds as b


def _net(*weights, act=nn.ReLU):
    layers = []
    for i, w in enumerate(weights):
        lin = nn.Linear(w.shape[1], w.shape[0], bias=False)
        with torch.no_grad():
            lin.weight.copy_(w)
        layers.append(lin)
        if i < len(weights) - 1:
            layers.append(act())
    return nn.Sequential(*layers)


def test_diagonal_layers_known_value():
    # ‖diag(3,1)‖₂ = 3, ‖·‖_{2,1} = 4; ‖diag(2,2)‖₂ = 2, ‖·‖_{2,1} = 4
    net = _net(torch.diag(torch.tensor([3.0, 1.0])), torch.diag(torch.tensor([2.0, 2.0])))
    expected = 3 * 2 * ((4 / 3) ** (2 / 3) + (4 / 2) ** (2 / 3)) ** 1.5
    assert b.spectral_complexity(net) == pytest.approx(expected, rel=1e-12)
    assert b.lipschitz_upper_bound(net) == pytest.approx(6.0, rel=1e-12)


def test_rank_one_layer_known_value():
    u, v = torch.tensor([3.0, 4.0]), torch.tensor([1.0, 0.0, 0.0])
    w = torch.outer(u, v)                      # ‖W‖₂ = 5, rows have norms 3 and 4: ‖W‖_{2,1} = 7
    net = _net(w)
    assert b.spectral_complexity(net) == pytest.approx(5 * (7 / 5), rel=1e-12)


def test_single_identity_layer_and_zero_layer():
    assert b.spectral_complexity(_net(torch.eye(4))) == pytest.approx(4.0, rel=1e-12)
    assert b.spectral_complexity(_net(torch.eye(3), torch.zeros(2, 3))) == 0.0


def test_rescaling_invariance_of_complexity_and_function():
    net = b.bias_free_mlp(5, 7, 2, 3, seed=1)
    x = torch.randn(11, 5, generator=torch.Generator().manual_seed(0))
    before, out = b.spectral_complexity(net), net(x)
    with torch.no_grad():
        net[0].weight.mul_(4.0)
        net[2].weight.div_(4.0)
    assert b.spectral_complexity(net) == pytest.approx(before, rel=1e-10)
    assert torch.allclose(net(x), out, rtol=1e-5, atol=1e-6)


def test_complexity_scales_with_product_under_global_scaling():
    net = b.bias_free_mlp(4, 6, 1, 3, seed=2)
    r = b.spectral_complexity(net)
    with torch.no_grad():
        net[0].weight.mul_(3.0)                # not compensated: R scales by 3
    assert b.spectral_complexity(net) == pytest.approx(3 * r, rel=1e-6)  # float32 weights


def test_margins_and_normalized_margins():
    net = _net(torch.eye(3), act=nn.Identity)
    x = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 5.0]])
    y = torch.tensor([0, 1])
    m = b.margins(net, x, y)
    assert torch.allclose(m, torch.tensor([2.0, -3.0]))
    scale = b.spectral_complexity(net) * math.sqrt(10 + 29) / 2
    assert torch.allclose(b.normalized_margins(net, x, y), m / scale)


def test_margin_bound_value():
    net = _net(torch.eye(3))
    x = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 5.0], [0.0, 0.0, 1.0]])
    y = torch.tensor([0, 2, 2])                # margins 2, 3, 1
    gamma, n = 1.5, 3
    expected = (1 / 3 + 8 / n + 72 * math.sqrt(10 + 29 + 1) * 3 * math.log(6) * math.log(n) / (gamma * n)
                + 3 * math.sqrt(math.log(20) / (2 * n)))
    assert b.margin_bound(net, x, y, gamma) == pytest.approx(expected, rel=1e-6)


def test_jacobian_matches_weights_for_linear_net():
    w1, w2 = torch.randn(4, 3), torch.randn(2, 4)
    net = _net(w1, w2, act=nn.Identity)
    jac = b.input_jacobians(net, torch.randn(5, 3))
    assert jac.shape == (5, 2, 3)
    assert torch.allclose(jac, (w2 @ w1).expand(5, 2, 3), atol=1e-5)


def test_bias_free_mlp_shape():
    net = b.bias_free_mlp(64, 16, 2, 10, seed=0)
    assert isinstance(net, nn.Sequential) and len(b.layer_weights(net)) == 3
    assert net(torch.zeros(2, 64)).shape == (2, 10)


def test_bad_input():
    with pytest.raises(ValueError, match="bias"):
        b.spectral_complexity(nn.Sequential(nn.Linear(3, 2)))
    with pytest.raises(TypeError, match="Conv"):
        b.spectral_complexity(nn.Sequential(nn.Conv1d(1, 1, 3, bias=False)))
    with pytest.raises(TypeError, match="Sequential"):
        b.spectral_complexity(nn.Linear(3, 2, bias=False))
    with pytest.raises(ValueError, match="no nn.Linear"):
        b.spectral_complexity(nn.Sequential(nn.ReLU()))
    with pytest.raises(ValueError, match="1-Lipschitz"):
        b.spectral_complexity(nn.Sequential(nn.Linear(2, 2, bias=False), nn.LeakyReLU(2.0)))
    net = _net(torch.eye(3))
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="labels"):
        b.margins(net, x, torch.tensor([0, 3]))
    with pytest.raises(TypeError):
        b.margins(net, x, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="same n"):
        b.margins(net, x, torch.tensor([0]))
    with pytest.raises(ValueError, match="gamma"):
        b.margin_bound(net, torch.eye(3), torch.tensor([0, 1, 2]), 0.0)
    with pytest.raises(ValueError, match="zero"):
        b.normalized_margins(net, x, torch.tensor([0, 1]))
