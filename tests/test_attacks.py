"""Tests of dltnotes.attacks: the projection invariants, the textbook iteration, and the errors."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from dltnotes.attacks import adversarial_training, attack_success_rate, fgsm, pgd, predict, robust_accuracy
from dltnotes.training import MLP

TOL32 = 1e-6  # float32 round-off of (x + δ) − x for entries in [0, 1]


class Linear(nn.Module):
    """A linear classifier on inputs of any shape (B, …)."""

    def __init__(self, d, c=3, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.lin = nn.Linear(d, c)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(c, d, generator=g))
            self.lin.bias.zero_()

    def forward(self, x):
        """Logits (B, c)."""
        return self.lin(x.reshape(x.shape[0], -1))


SHAPES = [(7, 5), (4, 2, 3), (3, 1, 4, 4), (2, 2, 2, 2, 2)]


def _batch(shape, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g, dtype=dtype)
    y = torch.randint(0, 3, (shape[0],), generator=g)
    return x, y


def _norms(d):
    flat = d.reshape(d.shape[0], -1)
    return flat.abs().amax(1), flat.norm(dim=1)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("random_start", [False, True])
@pytest.mark.parametrize("targeted", [False, True])
def test_pgd_projection_invariants(shape, norm, random_start, targeted):
    x, y = _batch(shape)
    model = Linear(int(np.prod(shape[1:])))
    eps = 0.3
    x_adv = pgd(model, x, y, eps, 0.2, 5, norm=norm, random_start=random_start, targeted=targeted,
                generator=torch.Generator().manual_seed(1))
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    linf, l2 = _norms(x_adv - x)
    bound = linf if norm == "linf" else l2
    assert bool((bound <= eps + TOL32).all())
    assert bool((x_adv >= 0).all()) and bool((x_adv <= 1).all())
    assert not x_adv.requires_grad


@pytest.mark.parametrize("shape", SHAPES)
def test_fgsm_invariants_and_formula(shape):
    x, y = _batch(shape, dtype=torch.float64)
    model = Linear(int(np.prod(shape[1:]))).double()
    eps = 0.1
    x_adv = fgsm(model, x, y, eps, bounds=(-1.0, 2.0))  # wide bounds: no clipping
    xr = x.clone().requires_grad_(True)
    nn.functional.cross_entropy(model(xr), y).backward()
    expected = x + eps * xr.grad.sign()
    assert torch.allclose(x_adv, expected, atol=1e-12)
    # with [0, 1] bounds the result is the same step clipped
    assert torch.allclose(fgsm(model, x, y, eps), expected.clamp(0, 1), atol=1e-12)
    assert (x_adv - x).abs().max() <= eps + 1e-12


def test_pgd_matches_textbook_iteration_and_fgsm():
    x, y = _batch((6, 8), dtype=torch.float64)
    model = MLP(8, 16, 1, d_out=3, seed=0).double()
    eps, alpha, steps = 0.2, 0.05, 4
    ref = x.clone()
    for _ in range(steps):
        r = ref.clone().requires_grad_(True)
        g, = torch.autograd.grad(nn.functional.cross_entropy(model(r), y), r)
        ref = torch.min(torch.max(ref + alpha * g.sign(), x - eps), x + eps).clamp(0, 1)
    assert torch.allclose(pgd(model, x, y, eps, alpha, steps), ref, atol=1e-12)
    # one PGD step of size eps from x is FGSM
    assert torch.allclose(pgd(model, x, y, eps, eps, 1), fgsm(model, x, y, eps), atol=1e-12)


def test_pgd_l2_matches_textbook_iteration():
    x, y = _batch((5, 2, 3), dtype=torch.float64)
    model = Linear(6).double()
    eps, alpha, steps = 0.5, 0.2, 6
    ref = x.clone()
    for _ in range(steps):
        r = ref.clone().requires_grad_(True)
        g, = torch.autograd.grad(nn.functional.cross_entropy(model(r), y), r)
        gn = g.reshape(5, -1).norm(dim=1).reshape(5, 1, 1)
        ref = ref + alpha * g / gn
        d = ref - x
        dn = d.reshape(5, -1).norm(dim=1).reshape(5, 1, 1)
        ref = (x + d * torch.clamp(eps / dn, max=1.0)).clamp(0, 1)
    assert torch.allclose(pgd(model, x, y, eps, alpha, steps, norm="l2"), ref, atol=1e-12)


def test_targeted_and_untargeted_move_the_loss_the_right_way():
    x, y = _batch((32, 10), dtype=torch.float64)
    model = Linear(10).double()
    ce = nn.functional.cross_entropy
    with torch.no_grad():
        clean = ce(model(x), y).item()
        up = ce(model(pgd(model, x, y, 0.1, 0.02, 10)), y).item()
        down = ce(model(pgd(model, x, y, 0.1, 0.02, 10, targeted=True)), y).item()
    assert up > clean > down


def test_attack_is_strong_on_a_linear_model():
    # for a linear model and huge eps with no bounds, PGD drives every input to the target class
    x, y = _batch((20, 4), dtype=torch.float64)
    model = Linear(4).double()
    target = (y + 1) % 3
    x_adv = pgd(model, x, target, 50.0, 5.0, 30, targeted=True, bounds=(-100.0, 100.0))
    assert attack_success_rate(model, x_adv, target, targeted=True) == 1.0


def test_leaves_model_state_alone_and_works_under_no_grad():
    x, y = _batch((8, 8))
    model = MLP(8, 16, 2, d_out=3, seed=0)
    model.eval()
    before = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        x_adv = pgd(model, x, y, 0.1, 0.03, 3)
        x_f = fgsm(model, x, y, 0.1)
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(a, b.detach()) for a, b in zip(before, model.parameters()))
    assert (x_adv - x).abs().max() > 0 and (x_f - x).abs().max() > 0
    model.train()
    # an existing .grad is left as it was
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    pgd(model, x, y, 0.1, 0.03, 2)
    assert model.training
    assert all(torch.equal(p.grad, torch.ones_like(p)) for p in model.parameters())


def test_random_start_is_seeded_and_in_ball():
    x, y = _batch((10, 6))
    model = Linear(6)
    a = pgd(model, x, y, 0.2, 0.05, 1, random_start=True, generator=torch.Generator().manual_seed(3))
    b = pgd(model, x, y, 0.2, 0.05, 1, random_start=True, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_eps_zero_returns_x():
    x, y = _batch((5, 4))
    model = Linear(4)
    assert torch.equal(fgsm(model, x, y, 0.0), x)
    assert torch.equal(pgd(model, x, y, 0.0, 0.1, 3, norm="l2"), x)


def test_custom_loss_and_labels():
    x, y = _batch((6, 4), dtype=torch.float64)
    model = Linear(4, c=1).double()
    targets = torch.randn(6, 1, dtype=torch.float64)

    def mse(out, t):
        return ((out - t) ** 2).mean()

    x_adv = pgd(model, x, targets, 0.1, 0.05, 3, loss_fn=mse)
    with torch.no_grad():
        assert mse(model(x_adv), targets) > mse(model(x), targets)


def test_robust_accuracy_and_success_rate():
    x, y = _batch((40, 6), dtype=torch.float64)
    model = Linear(6).double()
    acc = robust_accuracy(model, x, y, [0.0, 0.05, 0.2], attack="pgd", steps=10)
    clean = predict(model, x).eq(y).double().mean().item()
    assert acc.shape == (3,) and acc[0] == pytest.approx(clean)
    assert acc[2] <= acc[1] <= acc[0]
    acc_f = robust_accuracy(model, x, y, [0.2], attack="fgsm")
    assert 0.0 <= acc_f[0] <= 1.0
    x_adv = pgd(model, x, y, 0.2, 0.05, 10)
    rate = attack_success_rate(model, x_adv, y)
    assert rate == pytest.approx(1 - acc[2])
    rate_c = attack_success_rate(model, x_adv, y, x=x)
    keep = predict(model, x).eq(y)
    assert rate_c == pytest.approx(predict(model, x_adv)[keep].ne(y[keep]).double().mean().item())


def test_adversarial_training_runs_and_improves_robustness():
    g = torch.Generator().manual_seed(0)
    n = 200
    y = torch.randint(0, 2, (n,), generator=g)
    pattern = torch.tensor([1.0, -1.0, 1.0, -1.0])  # two well-separated classes: 0.5 ± 0.3·pattern
    x = (0.5 + 0.3 * (2 * y[:, None].float() - 1) * pattern + 0.1 * torch.randn(n, 4, generator=g)).clamp(0, 1)
    model = MLP(4, 32, 1, d_out=2, b_std=0.1, seed=0)
    hist = adversarial_training(model, x, y, eps=0.1, alpha=0.05, attack_steps=3, lr=0.5, steps=50,
                                batch_size=50, record_every=50)
    assert hist.step[-1] == 50 and math.isfinite(hist.loss[-1])
    assert robust_accuracy(model, x, y, [0.1])[0] > 0.9


def _err(exc, match, fn, *a, **k):
    with pytest.raises(exc, match=match):
        fn(*a, **k)


def test_errors():
    x, y = _batch((4, 3))
    model = Linear(3)
    _err(ValueError, "eps", pgd, model, x, y, -0.1, 0.1, 1)
    _err(ValueError, "eps", fgsm, model, x, y, -0.1)
    _err(ValueError, "alpha", pgd, model, x, y, 0.1, 0.0, 1)
    _err(ValueError, "steps", pgd, model, x, y, 0.1, 0.1, 0)
    _err(TypeError, "steps", pgd, model, x, y, 0.1, 0.1, 1.5)
    _err(ValueError, "norm", pgd, model, x, y, 0.1, 0.1, 1, norm="l1")
    _err(ValueError, "bounds", pgd, model, x + 1.5, y, 0.1, 0.1, 1)
    _err(ValueError, "bounds", fgsm, model, x - 0.5, y, 0.1)
    _err(ValueError, "lo < hi", fgsm, model, x, y, 0.1, bounds=(1.0, 0.0))
    _err(TypeError, "bounds", fgsm, model, x, y, 0.1, bounds=(0.0, 1.0, 2.0))
    _err(ValueError, "one label per input", pgd, model, x, y[:3], 0.1, 0.1, 1)
    _err(ValueError, "one label per input", fgsm, model, x, y[:, None], 0.1)
    _err(TypeError, "int64", fgsm, model, x, y.float(), 0.1)
    _err(TypeError, "floating", fgsm, model, (x * 0).long(), y, 0.1)
    _err(ValueError, "NaN", fgsm, model, x.masked_fill(x > 0.5, float("nan")), y, 0.1)
    _err(TypeError, "generator", pgd, model, x, y, 0.1, 0.1, 1, random_start=True, generator=3)
    _err(TypeError, "targeted", fgsm, model, x, y, 0.1, targeted="yes")

    def const_model(inp):
        return torch.zeros(inp.shape[0], 3)

    _err(ValueError, "does not depend on x", fgsm, const_model, x, y, 0.1)

    def const_loss(out, t):
        return torch.tensor(1.0, requires_grad=True)  # ignores the outputs

    _err(ValueError, "does not depend on x", fgsm, model, x, y, 0.1, loss_fn=const_loss)
    _err(ValueError, "attack", robust_accuracy, model, x, y, [0.1], attack="cw")
    _err(ValueError, "eps_list", robust_accuracy, model, x, y, [])
    _err(ValueError, "one label", attack_success_rate, model, x, y[:2])
    _err(ValueError, "loss", adversarial_training, MLP(3, 4, 1, d_out=3), x, y, eps=0.1, alpha=0.1,
         attack_steps=1, loss="mse")


def test_rounding_tolerance_on_bounds():
    x, y = _batch((4, 3))
    model = Linear(3)
    x = x.clone()
    x[0, 0] = 1.0 + 1e-7  # float round-off of a rescaled image
    out = fgsm(model, x, y, 0.1)
    assert out.max() <= 1.0


def test_quantized_input_masks_gradients_and_bpda_restores_them():
    from dltnotes.attacks import QuantizedInput

    x, y = _batch((16, 6), dtype=torch.float64)
    model = Linear(6).double()
    q = QuantizedInput(model, 4)
    assert torch.allclose(q.quantize(x) * 4, torch.round(q.quantize(x) * 4))
    assert torch.allclose(q(x).exp().sum(1), torch.ones(16, dtype=torch.float64))
    assert torch.equal(pgd(q, x, y, 0.2, 0.05, 5), x)  # zero gradient: PGD does not move
    bpda = QuantizedInput(model, 4, straight_through=True)
    assert torch.equal(bpda(x), q(x))  # same forward pass
    assert (pgd(bpda, x, y, 0.2, 0.05, 5) - x).abs().max() > 0
    gen = torch.Generator().manual_seed(0)
    d = QuantizedInput(model, 4, dither=True, generator=gen)
    mean_q = torch.stack([d.quantize(x) for _ in range(4000)]).mean(0)
    # unbiased dither: each entry takes two values ¼ apart, so its SD is ≤ 1/8 and the mean's SE ≤ (1/8)/√R
    assert (mean_q - x).abs().max() <= 4 * (1 / 8) / math.sqrt(4000)
    eot = QuantizedInput(model, 4, dither=True, straight_through=True, draws=8, generator=gen)
    assert eot(x).shape == (16, 3)


def test_quantized_input_errors():
    from dltnotes.attacks import QuantizedInput

    model = Linear(3)
    with pytest.raises(ValueError, match="levels"):
        QuantizedInput(model, 0)
    with pytest.raises(ValueError, match="dither"):
        QuantizedInput(model, 4, draws=3)
    with pytest.raises(TypeError, match="Module"):
        QuantizedInput(lambda t: t, 4)
    with pytest.raises(TypeError, match="generator"):
        QuantizedInput(model, 4, generator=1)
