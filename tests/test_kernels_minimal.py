import pytest
import torch

from dltnotes.kernels import empirical_ntk
from dltnotes.training import MLP


def _jacobian_loop(model, x):
    rows = []
    for xi in x:
        model.zero_grad()
        model(xi.unsqueeze(0)).sum().backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    return torch.stack(rows)


def test_empirical_ntk_matches_per_sample_autograd():
    model = MLP(3, 16, 2, b_std=0.5, activation="tanh", seed=0).double().eval()
    x1 = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x2 = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    j1, j2 = _jacobian_loop(model, x1), _jacobian_loop(model, x2)
    k = empirical_ntk(model, x1)
    assert k.shape == (5, 5)
    assert torch.allclose(k, j1 @ j1.T, atol=1e-12)
    assert torch.allclose(k, k.T, atol=1e-14)
    assert torch.allclose(empirical_ntk(model, x1, x2, chunk_size=2), j1 @ j2.T, atol=1e-12)


def test_empirical_ntk_rejects_bad_input():
    model = MLP(3, 8, 1, seed=0)
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match="eval mode"):
        empirical_ntk(model, x)
    model.eval()
    with pytest.raises(TypeError, match="nn.Module"):
        empirical_ntk(lambda z: z, x)
    with pytest.raises(ValueError, match="method"):
        empirical_ntk(model, x, method="vjp")
    with pytest.raises(TypeError, match="floating"):
        empirical_ntk(model, torch.ones(4, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="NaN"):
        empirical_ntk(model, torch.full((2, 3), float("nan")))
    with pytest.raises(ValueError, match="sample shape"):
        empirical_ntk(model, x, torch.randn(2, 4))
    with pytest.raises(ValueError, match="one output"):
        empirical_ntk(MLP(3, 8, 1, d_out=2, seed=0).eval(), x)
    with pytest.raises(ValueError, match="chunk_size"):
        empirical_ntk(model, x, chunk_size=0)
