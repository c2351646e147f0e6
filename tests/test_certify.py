"""Tests of dltnotes.certify: soundness and exactness of interval bounds, certificates, the IBP loss, and errors."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dltnotes.attacks import pgd, predict
from dltnotes.certify import (certified_accuracy, ibp_loss, ibp_training, interval_bounds, sequential_mlp,
                              worst_case_logits)

TOL64 = 1e-12  # float64 round-off of products of O(1) matrices with O(10) terms


def _net(sizes, seed=0, flatten=False, dtype=torch.float64):
    torch.manual_seed(seed)
    layers = [nn.Flatten()] if flatten else []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(sizes) - 2 else [])
    return nn.Sequential(*layers).to(dtype)


def _box_points(x, eps, n, seed=0, lo=0.0, hi=1.0):
    """n points of the clipped box around each sample: uniform draws and random vertices, (n, B, …)."""
    g = torch.Generator().manual_seed(seed)
    lower, upper = (x - eps).clamp(lo, hi), (x + eps).clamp(lo, hi)
    u = torch.rand((n,) + x.shape, generator=g, dtype=x.dtype)
    u[: n // 2] = u[: n // 2].round()  # vertices
    return lower + u * (upper - lower)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sound_on_sampled_points(seed):
    model = _net([12, 16, 16, 5], seed=seed, flatten=True)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(6, 3, 4, generator=g, dtype=torch.float64)
    eps = 0.2
    lower, upper = interval_bounds(model, x, eps)
    assert lower.shape == upper.shape == (6, 5) and lower.dtype == torch.float64
    with torch.no_grad():
        z = torch.stack([model(p) for p in _box_points(x, eps, 400, seed)])
    assert bool((z >= lower - TOL64).all()) and bool((z <= upper + TOL64).all())
    assert bool((lower <= upper).all())


@pytest.mark.parametrize("seed", [0, 1])
def test_sound_against_pgd_on_every_output(seed):
    model = _net([10, 20, 20, 4], seed=seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(8, 10, generator=g, dtype=torch.float64)
    eps = 0.15
    lower, upper = interval_bounds(model, x, eps)
    dummy = torch.zeros(8, dtype=torch.int64)
    for j in range(4):
        up = pgd(model, x, dummy, eps, eps / 4, 40, loss_fn=lambda out, _y, j=j: out[:, j].sum())
        down = pgd(model, x, dummy, eps, eps / 4, 40, targeted=True,
                   loss_fn=lambda out, _y, j=j: out[:, j].sum())
        with torch.no_grad():
            assert bool((model(up)[:, j] <= upper[:, j] + TOL64).all())
            assert bool((model(down)[:, j] >= lower[:, j] - TOL64).all())


def test_exact_for_one_linear_layer_at_the_vertices():
    """The bounds of one affine layer equal the max/min over all 2^d vertices of the clipped box."""
    torch.manual_seed(3)
    lin = nn.Linear(6, 3).double()
    model = nn.Sequential(lin)
    x = torch.tensor([[0.05, 0.5, 0.97, 0.3, 0.0, 1.0], [0.5] * 6], dtype=torch.float64)  # some clipped
    eps = 0.1
    lower, upper = interval_bounds(model, x, eps)
    lo, hi = (x - eps).clamp(0, 1), (x + eps).clamp(0, 1)
    bits = torch.tensor(list(itertools.product([0.0, 1.0], repeat=6)), dtype=torch.float64)  # (64, 6)
    for b in range(2):
        vertices = lo[b] + bits * (hi[b] - lo[b])
        with torch.no_grad():
            z = lin(vertices)
        torch.testing.assert_close(upper[b], z.amax(0), rtol=0, atol=TOL64)
        torch.testing.assert_close(lower[b], z.amin(0), rtol=0, atol=TOL64)


def test_loose_for_a_composition_of_linear_layers():
    """Two linear layers compose to one: the collapsed layer's bounds are exact and strictly tighter."""
    torch.manual_seed(0)
    a, b = nn.Linear(8, 8).double(), nn.Linear(8, 3).double()
    both = nn.Linear(8, 3).double()
    with torch.no_grad():
        both.weight.copy_(b.weight @ a.weight)
        both.bias.copy_(b.weight @ a.bias + b.bias)
    x = torch.full((1, 8), 0.5, dtype=torch.float64)
    lo2, up2 = interval_bounds(nn.Sequential(a, b), x, 0.1)
    lo1, up1 = interval_bounds(nn.Sequential(both), x, 0.1)
    torch.testing.assert_close((up1 + lo1) / 2, (up2 + lo2) / 2, rtol=0, atol=TOL64)  # same centre
    assert bool(((up2 - lo2) > (up1 - lo1) + 1e-6).all())


def test_eps_zero_gives_the_output_and_dtypes_are_respected():
    model = _net([5, 7, 3], dtype=torch.float32)
    x = torch.rand(4, 5, dtype=torch.float64)
    lower, upper = interval_bounds(model, x, 0.0)
    assert lower.dtype == upper.dtype == torch.float64
    torch.testing.assert_close(lower, upper, rtol=0, atol=0)
    torch.testing.assert_close(lower, model.double()(x), rtol=0, atol=TOL64)
    lower32, _ = interval_bounds(model.float(), x.float(), 0.1)
    assert lower32.dtype == torch.float32


def test_bounds_clip_the_box_to_the_domain():
    model = nn.Sequential(nn.Linear(1, 1)).double()
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[0].bias.zero_()
    lower, upper = interval_bounds(model, torch.tensor([[0.95]], dtype=torch.float64), 0.1, bounds=(0.0, 1.0))
    assert lower.item() == pytest.approx(0.85, abs=1e-15) and upper.item() == pytest.approx(1.0, abs=1e-15)
    lower, upper = interval_bounds(model, torch.tensor([[0.95]], dtype=torch.float64), 0.1, bounds=(-2.0, 2.0))
    assert upper.item() == pytest.approx(1.05, abs=1e-15)


def test_certificate_by_hand():
    """z = x for two classes at x = (0.8, 0.2), label 0: lower₀ = 0.8 − ε > upper₁ = 0.2 + ε iff ε < 0.3."""
    model = nn.Sequential(nn.Linear(2, 2, bias=False)).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(2))
    x = torch.tensor([[0.8, 0.2], [0.8, 0.2]], dtype=torch.float64)
    y = torch.tensor([0, 1])
    assert certified_accuracy(model, x, y, 0.29) == 0.5  # the first certified, the second misclassified
    assert certified_accuracy(model, x, y, 0.31) == 0.0
    np.testing.assert_array_equal(certified_accuracy(model, x, y, 0.29, per_sample=True), [1.0, 0.0])
    z = worst_case_logits(model, x, y, 0.29)
    torch.testing.assert_close(z[0], torch.tensor([0.51, 0.49], dtype=torch.float64), rtol=0, atol=1e-15)


def test_certified_implies_robust_implies_correct():
    model = _net([10, 16, 3], seed=4)
    g = torch.Generator().manual_seed(4)
    x = torch.rand(200, 10, generator=g, dtype=torch.float64)
    with torch.no_grad():
        y = model(x).argmax(1)
    y[:20] = (y[:20] + 1) % 3  # some misclassified
    eps = 0.02
    cert = certified_accuracy(model, x, y, eps, per_sample=True).astype(bool)
    x_adv = pgd(model, x, y, eps, eps / 4, 20, random_start=True, restarts=3, keep_best=True,
                generator=torch.Generator().manual_seed(0))
    robust = predict(model, x_adv).eq(y).numpy()
    clean = predict(model, x).eq(y).numpy()
    assert 0 < cert.sum() < len(cert)
    assert not (cert & ~robust).any() and not (robust & ~clean).any()


def test_ibp_loss_bounds_the_loss_in_the_box():
    model = _net([6, 12, 4], seed=5)
    g = torch.Generator().manual_seed(5)
    x = torch.rand(10, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (10,), generator=g)
    clean = F.cross_entropy(model(x), y)
    torch.testing.assert_close(ibp_loss(model, x, y, 0.1, kappa=1.0), clean, rtol=0, atol=TOL64)
    torch.testing.assert_close(ibp_loss(model, x, y, 0.0, kappa=0.3), clean, rtol=0, atol=TOL64)
    robust = ibp_loss(model, x, y, 0.1, kappa=0.0)
    with torch.no_grad():
        worst = max(F.cross_entropy(model(p), y).item() for p in _box_points(x, 0.1, 200))
    assert robust.item() >= worst
    robust.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_ibp_training_certifies_more_than_standard_training():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.25] * 4, [0.75] * 4], dtype=torch.float32)
    y = torch.randint(0, 2, (400,), generator=g)
    x = (centres[y] + 0.05 * torch.randn(400, 4, generator=g)).clamp(0, 1)
    eps = 0.15
    plain = _net([4, 32, 32, 2], seed=0, dtype=torch.float32)
    ibp_training(plain, x, y, eps=0.0, kappa=1.0, steps=150, lr=1e-2, batch_size=100)
    model = _net([4, 32, 32, 2], seed=0, dtype=torch.float32)
    losses = ibp_training(model, x, y, eps=eps, steps=150, lr=1e-2, batch_size=100)
    assert losses.shape == (150,) and np.isfinite(losses).all()
    assert certified_accuracy(model, x, y, eps) > certified_accuracy(plain, x, y, eps) + 0.2
    again = _net([4, 32, 32, 2], seed=0, dtype=torch.float32)
    np.testing.assert_array_equal(ibp_training(again, x, y, eps=eps, steps=150, lr=1e-2, batch_size=100), losses)


@pytest.mark.parametrize("model, error", [
    (nn.Linear(3, 2), TypeError),  # not a Sequential
    (nn.Sequential(nn.Linear(3, 2), nn.Tanh()), TypeError),
    (nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)), TypeError),
    (nn.Sequential(), ValueError),
    ("model", TypeError),
])
def test_bad_models(model, error):
    with pytest.raises(error):
        interval_bounds(model, torch.rand(2, 3), 0.1)


def test_bad_inputs():
    model = _net([3, 4, 2], dtype=torch.float32)
    x, y = torch.rand(2, 3), torch.tensor([0, 1])
    with pytest.raises(ValueError, match="eps"):
        interval_bounds(model, x, -0.1)
    with pytest.raises(TypeError, match="eps"):
        interval_bounds(model, x, "0.1")
    with pytest.raises(ValueError, match="within bounds"):
        interval_bounds(model, x + 2.0, 0.1)
    with pytest.raises(ValueError, match="lo < hi"):
        interval_bounds(model, x, 0.1, bounds=(1.0, 0.0))
    with pytest.raises(TypeError, match="bounds"):
        interval_bounds(model, x, 0.1, bounds=0.5)
    with pytest.raises(TypeError, match="floating"):
        interval_bounds(model, torch.ones(2, 3, dtype=torch.int64), 0.1)
    with pytest.raises(ValueError, match="NaN"):
        interval_bounds(model, torch.full((2, 3), float("nan")), 0.1)
    with pytest.raises(ValueError, match="batch"):
        interval_bounds(model, torch.rand(3), 0.1)
    with pytest.raises(TypeError, match="int64"):
        certified_accuracy(model, x, y.float(), 0.1)
    with pytest.raises(ValueError, match="one label"):
        certified_accuracy(model, x, y[:1], 0.1)
    with pytest.raises(ValueError, match="labels must lie"):
        certified_accuracy(model, x, torch.tensor([0, 5]), 0.1)
    with pytest.raises(TypeError, match="per_sample"):
        certified_accuracy(model, x, y, 0.1, per_sample=1)
    with pytest.raises(ValueError, match="kappa"):
        ibp_loss(model, x, y, 0.1, kappa=1.5)
    with pytest.raises(ValueError, match="warmup"):
        ibp_training(model, x, y, eps=0.1, warmup=0.6, ramp=0.6)
    with pytest.raises(ValueError, match="batch_size"):
        ibp_training(model, x, y, eps=0.1, batch_size=3)
    with pytest.raises(ValueError, match="steps"):
        ibp_training(model, x, y, eps=0.1, steps=0)


def test_sequential_mlp():
    model = sequential_mlp([5, 300, 300, 2], w_std=2.0, seed=1, dtype=torch.float64)
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    w = model[2].weight
    assert w.dtype == torch.float64 and w.shape == (300, 300)
    assert abs(w.std().item() - 2.0 / 300 ** 0.5) < 4 * (2.0 / 300 ** 0.5) / (2 * 300 ** 2) ** 0.5
    assert float(model[2].bias.detach().abs().max()) == 0.0
    assert all(isinstance(m, nn.Linear) for m in sequential_mlp([3, 4, 4, 1], relu=False))
    again = sequential_mlp([5, 300, 300, 2], w_std=2.0, seed=1, dtype=torch.float64)
    assert torch.equal(again[0].weight, model[0].weight)
    assert not torch.equal(sequential_mlp([5, 300, 300, 2], seed=2)[0].weight.double(), model[0].weight)
    with pytest.raises(ValueError, match="at least"):
        sequential_mlp([3])
    with pytest.raises(ValueError, match="sizes"):
        sequential_mlp([3, 0, 2])
    with pytest.raises(TypeError, match="sizes"):
        sequential_mlp(3)
    with pytest.raises(ValueError, match="w_std"):
        sequential_mlp([3, 2], w_std=0.0)
    with pytest.raises(TypeError, match="dtype"):
        sequential_mlp([3, 2], dtype=torch.int64)
