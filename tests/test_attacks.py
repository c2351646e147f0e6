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
    assert attack_success_rate(model, x_adv, y, target=target) == 1.0


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
    per = robust_accuracy(model, x, y, [0.0, 0.05, 0.2], attack="pgd", steps=10, per_sample=True)
    assert per.shape == (3, 40) and set(np.unique(per)) <= {0.0, 1.0}
    assert np.allclose(per.mean(1), acc)


def test_success_rates_count_the_same_population():
    """Targeted and untargeted rates count the correctly classified points; on one x_adv targeted ≤ untargeted."""
    x, y = _batch((60, 6), dtype=torch.float64)
    model = Linear(6).double()
    target = (y + 1) % 3
    x_adv = pgd(model, x, target, 0.3, 0.05, 10, targeted=True)
    pred, clean = predict(model, x_adv), predict(model, x)
    keep = clean.eq(y)
    assert 0 < int(keep.sum()) < 60  # the population differs from "all" and from "clean ≠ target"
    t_rate = attack_success_rate(model, x_adv, y, target=target, x=x)
    u_rate = attack_success_rate(model, x_adv, y, x=x)
    assert t_rate == pytest.approx(pred[keep].eq(target[keep]).double().mean().item())
    assert u_rate == pytest.approx(pred[keep].ne(y[keep]).double().mean().item())
    assert t_rate <= u_rate
    assert attack_success_rate(model, x_adv, y, target=target) == pytest.approx(pred.eq(target).double().mean()
                                                                                 .item())
    wrong = x[~keep][:1]
    assert math.isnan(attack_success_rate(model, wrong, y[~keep][:1], x=wrong))


# ----------------------------------------------------------------------------------------------- minimal perturbations
WIDE = (-10.0, 10.0)  # bounds that do not bind for inputs in [0, 1] and perturbations of size < 9


def _affine(d, c, seed):
    """A float64 affine classifier, its weights (C, d) and bias (C,)."""
    g = torch.Generator().manual_seed(seed)
    lin = nn.Linear(d, c).double()
    with torch.no_grad():
        lin.weight.copy_(torch.randn(c, d, generator=g, dtype=torch.float64))
        lin.bias.copy_(torch.randn(c, generator=g, dtype=torch.float64))
    return lin, lin.weight.detach(), lin.bias.detach()


def _facet_distances(W, b, x, y):
    """(B, C): distance from x to the hyperplane {Z_y = Z_j} of each rival j (inf for j = y)."""
    z = x @ W.T + b
    gap = z.gather(1, y[:, None]) - z
    norm = (W[y][:, None, :] - W[None]).norm(dim=2)
    return (gap / norm).masked_fill(nn.functional.one_hot(y, W.shape[0]).bool(), math.inf)


def _affine_batch(c, seed, B=12, d=6):
    model, W, b = _affine(d, c, seed)
    x = torch.rand(B, d, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
    with torch.no_grad():
        y = model(x).argmax(1)  # correctly classified by construction
    return model, W, b, x, y


@pytest.mark.parametrize("c", [2, 5])
def test_deepfool_reaches_the_nearest_hyperplane_in_one_step(c):
    from dltnotes.attacks import deepfool

    model, W, b, x, y = _affine_batch(c, seed=3)
    dist = _facet_distances(W, b, x, y).amin(1)  # exact minimal ℓ2 perturbation
    eta, push = 0.02, 1e-4 * (WIDE[1] - WIDE[0])
    x_adv = deepfool(model, x, y, overshoot=eta, bounds=WIDE)
    norms = (x_adv - x).norm(dim=1)
    assert torch.allclose(norms, (1 + eta) * (dist + push), rtol=1e-10, atol=0)
    assert bool(predict(model, x_adv).ne(y).all())
    # one linearisation step is enough: the linearisation of an affine model is exact
    assert torch.allclose(deepfool(model, x, y, steps=1, overshoot=eta, bounds=WIDE), x_adv, atol=1e-12)
    # the power of the check: a step to the second-nearest hyperplane would be longer
    second = _facet_distances(W, b, x, y).sort(1).values[:, 1]
    assert bool((second > dist * (1 + 1e-6)).all()) if c > 2 else True


def test_carlini_wagner_reaches_the_hyperplane_of_a_binary_affine_model():
    from dltnotes.attacks import carlini_wagner_l2

    model, W, b, x, y = _affine_batch(2, seed=4, d=8)
    dist = _facet_distances(W, b, x, y).amin(1)
    lr = 1e-3
    x_adv = carlini_wagner_l2(model, x, y, c=1e-2, lr=lr, steps=300, binary_search_steps=6, bounds=WIDE)
    norms = (x_adv - x).norm(dim=1)
    one_step = lr * (WIDE[1] - WIDE[0]) / 2 * math.sqrt(x.shape[1])  # one Adam step, in input space
    assert bool(predict(model, x_adv).ne(y).all())
    assert bool((norms >= dist * (1 - 1e-12)).all())  # nothing misclassified is nearer
    assert bool((norms <= dist + one_step).all())
    # κ: the margin must reach −κ, so the perturbation grows to (margin + κ)/‖w_y − w_j‖
    kappa = 0.5
    x_k = carlini_wagner_l2(model, x, y, c=1e-2, lr=lr, steps=300, binary_search_steps=6, kappa=kappa,
                            bounds=WIDE)
    w_gap = (W[0] - W[1]).norm()
    with torch.no_grad():
        z = model(x_k)
    assert bool((z.gather(1, y[:, None])[:, 0] - z.gather(1, (1 - y)[:, None])[:, 0] < -kappa).all())
    assert bool(((x_k - x).norm(dim=1) <= dist + kappa / w_gap + one_step).all())


def test_carlini_wagner_multiclass_ends_on_a_facet_not_always_the_nearest():
    from dltnotes.attacks import carlini_wagner_l2

    model, W, b, x, y = _affine_batch(5, seed=3, B=30)
    facets = _facet_distances(W, b, x, y)
    lr = 1e-3
    x_adv = carlini_wagner_l2(model, x, y, c=1e-2, lr=lr, steps=300, binary_search_steps=6, bounds=WIDE)
    norms = (x_adv - x).norm(dim=1)
    one_step = lr * (WIDE[1] - WIDE[0]) / 2 * math.sqrt(x.shape[1])
    reached = predict(model, x_adv)
    assert bool(reached.ne(y).all())
    assert bool((norms >= facets.amin(1) * (1 - 1e-12)).all())
    # a local minimum of the penalised problem: the foot of the facet of the class it reached
    assert bool((norms <= facets.gather(1, reached[:, None])[:, 0] + one_step).all())


def test_carlini_wagner_targeted_and_failures_return_x():
    from dltnotes.attacks import carlini_wagner_l2

    model, W, b, x, y = _affine_batch(4, seed=5)
    target = (y + 1) % 4
    x_t = carlini_wagner_l2(model, x, target, c=1e-2, lr=1e-2, steps=200, binary_search_steps=6,
                            targeted=True, bounds=WIDE)
    assert bool(predict(model, x_t).eq(target).all())
    # one round of one step only scores the starting point, which is classified y: every sample fails
    x_f = carlini_wagner_l2(model, x, y, steps=1, binary_search_steps=1, bounds=WIDE)
    assert torch.equal(x_f, x)


@pytest.mark.parametrize("shape", [(6, 8), (4, 2, 2, 2)])
def test_minimal_attacks_respect_bounds_and_leave_the_model_alone(shape):
    from dltnotes.attacks import carlini_wagner_l2, deepfool

    x, y = _batch(shape)
    x[0].zero_()                                   # inputs on the boundary of the box
    x[1].fill_(1.0)
    model = MLP(int(np.prod(shape[1:])), 16, 1, d_out=3, seed=0)
    model.train()
    before = [p.detach().clone() for p in model.parameters()]
    flat = nn.Sequential(nn.Flatten(), model)
    with torch.no_grad():
        outs = [deepfool(flat, x, y, steps=20), carlini_wagner_l2(flat, x, y, steps=30, lr=0.05,
                                                                  binary_search_steps=3)]
    for x_adv in outs:
        assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
        assert bool((x_adv >= 0).all()) and bool((x_adv <= 1).all())
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(a, p.detach()) for a, p in zip(before, model.parameters()))


def test_deepfool_leaves_misclassified_inputs_alone():
    from dltnotes.attacks import deepfool

    model, W, b, x, y = _affine_batch(3, seed=6)
    wrong = (y + 1) % 3
    assert torch.equal(deepfool(model, x, wrong, bounds=WIDE), x)


def test_minimal_attack_errors():
    from dltnotes.attacks import carlini_wagner_l2, deepfool

    model, W, b, x, y = _affine_batch(3, seed=7, B=4)
    for attack in (carlini_wagner_l2, deepfool):
        with pytest.raises(TypeError, match="int64"):
            attack(model, x, y.double(), bounds=WIDE)
        with pytest.raises(ValueError, match="one label per input"):
            attack(model, x, y[:2], bounds=WIDE)
        with pytest.raises(ValueError, match="labels must lie"):
            attack(model, x, y + 3, bounds=WIDE)
        with pytest.raises(ValueError, match="within bounds"):
            attack(model, x + 2.0, y)
        with pytest.raises(ValueError, match="lo < hi"):
            attack(model, x, y, bounds=(1.0, 0.0))
        with pytest.raises(ValueError, match="logits"):
            attack(lambda t: t[:, 0], x, y, bounds=WIDE)
        with pytest.raises(ValueError, match="logits"):
            attack(lambda t: t[:, :1], x, y, bounds=WIDE)
        with pytest.raises(TypeError, match="model"):
            attack(3, x, y, bounds=WIDE)
        with pytest.raises(ValueError, match="steps"):
            attack(model, x, y, steps=0, bounds=WIDE)
    with pytest.raises(ValueError, match="overshoot"):
        deepfool(model, x, y, overshoot=-0.1, bounds=WIDE)
    for bad in (dict(c=0.0), dict(lr=-1.0), dict(binary_search_steps=0), dict(kappa=-1.0)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            carlini_wagner_l2(model, x, y, bounds=WIDE, **bad)
    with pytest.raises(TypeError, match="targeted"):
        carlini_wagner_l2(model, x, y, targeted=1, bounds=WIDE)
    with pytest.raises(TypeError, match="steps"):
        deepfool(model, x, y, steps=2.5, bounds=WIDE)


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
    _err(ValueError, "differ", attack_success_rate, model, x, y, target=y)
    _err(ValueError, "one label per input", attack_success_rate, model, x, y, target=y[:2])
    _err(ValueError, "eot_draws", pgd, model, x, y, 0.1, 0.1, 1, eot_draws=0)
    _err(ValueError, "eot_draws", fgsm, model, x, y, 0.1, eot_draws=0)
    _err(ValueError, "restarts", pgd, model, x, y, 0.1, 0.1, 1, restarts=0)
    _err(ValueError, "random_start", pgd, model, x, y, 0.1, 0.1, 1, restarts=2)
    _err(TypeError, "keep_best", pgd, model, x, y, 0.1, 0.1, 1, keep_best=1)
    _err(ValueError, "default loss", pgd, model, x, y, 0.1, 0.1, 1, keep_best=True,
         loss_fn=nn.functional.cross_entropy)
    _err(TypeError, "per_sample", robust_accuracy, model, x, y, [0.1], per_sample="yes")
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
    assert torch.equal(q(x), model(q.quantize(x)))
    assert torch.equal(pgd(q, x, y, 0.2, 0.05, 5), x)  # zero gradient: PGD does not move
    assert torch.equal(fgsm(q, x, y, 0.2), x)           # nor does FGSM: sign(0) = 0
    bpda = QuantizedInput(model, 4, straight_through=True)
    assert torch.equal(bpda(x), q(x))  # same forward pass
    assert (pgd(bpda, x, y, 0.2, 0.05, 5) - x).abs().max() > 0
    gen = torch.Generator().manual_seed(0)
    d = QuantizedInput(model, 4, dither=True, generator=gen)
    mean_q = torch.stack([d.quantize(x) for _ in range(4000)]).mean(0)
    # unbiased dither: each entry takes two values ¼ apart, so its SD is ≤ 1/8 and the mean's SE ≤ (1/8)/√R
    assert (mean_q - x).abs().max() <= 4 * (1 / 8) / math.sqrt(4000)


def _eot_reference(model, x, y, draws):
    """The EOT gradient written out: the average over draws of the per-draw gradients of the loss."""
    grads, losses = [], []
    for _ in range(draws):
        xr = x.clone().requires_grad_(True)
        loss = nn.functional.cross_entropy(model(xr), y)
        grads.append(torch.autograd.grad(loss, xr)[0])
        losses.append(loss.item())
    return torch.stack(grads).mean(0), sum(losses) / draws


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_eot_step_follows_the_average_of_per_draw_gradients(norm):
    """pgd(eot_draws=K) on a randomised model steps along (1/K) Σ_k ∇ℓ_k, the gradient of the average loss."""
    from dltnotes.attacks import QuantizedInput

    g = torch.Generator().manual_seed(0)
    x = 0.2 + 0.6 * torch.rand(12, 6, generator=g, dtype=torch.float64)  # away from the bounds: no clipping
    y = torch.randint(0, 3, (12,), generator=g)
    model = MLP(6, 16, 1, d_out=3, seed=0).double()
    K, alpha = 8, 0.01
    gen = torch.Generator()
    q = QuantizedInput(model, 2, dither=True, straight_through=True, generator=gen)
    gen.manual_seed(5)
    step = (pgd(q, x, y, 0.05, alpha, 1, norm=norm, eot_draws=K) - x) / alpha
    gen.manual_seed(5)  # the same K dithers, in the same order
    avg_grad, avg_loss = _eot_reference(q, x, y, K)
    expected = avg_grad.sign() if norm == "linf" else avg_grad / avg_grad.norm(dim=1, keepdim=True)
    assert torch.allclose(step, expected, atol=1e-9)
    # the old construction (cross-entropy of the log-probabilities averaged over the draws) is another objective
    gen.manual_seed(5)
    xr = x.clone().requires_grad_(True)
    mixed = torch.stack([torch.log_softmax(q(xr), 1) for _ in range(K)]).mean(0)
    mixed_loss = nn.functional.cross_entropy(mixed, y)
    assert abs(mixed_loss.item() - avg_loss) > 1e-3
    mixed_grad = torch.autograd.grad(mixed_loss, xr)[0]
    wrong = mixed_grad.sign() if norm == "linf" else mixed_grad / mixed_grad.norm(dim=1, keepdim=True)
    assert not torch.allclose(step, wrong, atol=1e-3)
    # with one draw the step is the ordinary gradient step
    gen.manual_seed(5)
    one = (pgd(q, x, y, 0.05, alpha, 1, norm=norm) - x) / alpha
    gen.manual_seed(5)
    g1, _ = _eot_reference(q, x, y, 1)
    assert torch.allclose(one, g1.sign() if norm == "linf" else g1 / g1.norm(dim=1, keepdim=True), atol=1e-9)


def _better(a, b, y, model, targeted=False):
    """Per sample: is candidate a at least as good as candidate b for the attack (success, then loss)?"""
    with torch.no_grad():
        oa, ob = model(a), model(b)
    la = nn.functional.cross_entropy(oa, y, reduction="none")
    lb = nn.functional.cross_entropy(ob, y, reduction="none")
    if targeted:
        ha, hb, la, lb = oa.argmax(1).eq(y), ob.argmax(1).eq(y), -la, -lb
    else:
        ha, hb = oa.argmax(1).ne(y), ob.argmax(1).ne(y)
    return (ha & ~hb) | ((ha == hb) & (la >= lb - 1e-12))


@pytest.mark.parametrize("targeted", [False, True])
def test_keep_best_returns_the_best_iterate(targeted):
    x, y = _batch((30, 8), dtype=torch.float64)
    model = MLP(8, 16, 1, d_out=3, seed=1).double()
    if targeted:
        y = (y + 1) % 3
    eps, alpha, steps = 0.3, 0.2, 6  # large steps: the loss is not monotone along the run
    iterates = [x] + [pgd(model, x, y, eps, alpha, t, targeted=targeted) for t in range(1, steps + 1)]
    best = pgd(model, x, y, eps, alpha, steps, keep_best=True, targeted=targeted)
    assert all(bool(_better(best, it, y, model, targeted).all()) for it in iterates)
    # it is one of the iterates, sample by sample
    is_iterate = torch.stack([(best == it).all(1) for it in iterates]).any(0)
    assert bool(is_iterate.all())
    assert not torch.equal(best, iterates[-1])  # the test has power: the last iterate is not always the best


def test_restarts_keep_the_best_run_and_add_successes():
    x, y = _batch((40, 8), dtype=torch.float64)
    model = MLP(8, 16, 1, d_out=3, seed=2).double()
    eps, alpha, steps, R = 0.15, 0.05, 3, 4
    gen = torch.Generator().manual_seed(7)
    runs = [pgd(model, x, y, eps, alpha, steps, random_start=True, generator=gen) for _ in range(R)]
    gen.manual_seed(7)  # the same random starts, run after run
    best = pgd(model, x, y, eps, alpha, steps, random_start=True, restarts=R, generator=gen)
    assert all(bool(_better(best, r, y, model).all()) for r in runs)
    wrong = [predict(model, r).ne(y) for r in runs]
    assert torch.equal(predict(model, best).ne(y), torch.stack(wrong).any(0))  # a success if any run succeeds
    linf, _ = _norms(best - x)
    assert bool((linf <= eps + 1e-12).all()) and bool((best >= 0).all() and (best <= 1).all())
    acc = robust_accuracy(model, x, y, [eps], random_start=True, restarts=R, keep_best=True, steps=steps,
                          generator=torch.Generator().manual_seed(7))[0]
    assert acc <= min(predict(model, r).eq(y).double().mean().item() for r in runs)


class _ModeRecorder(nn.Module):
    """An MLP with BatchNorm that records the mode of every forward pass."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2))
        self.modes = []

    def forward(self, x):
        """Logits (B, 2)."""
        self.modes.append(self.training)
        return self.net(x)


def test_adversarial_training_attacks_in_eval_mode():
    from dltnotes.attacks import _attack_in_eval_mode

    g = torch.Generator().manual_seed(0)
    x = torch.rand(32, 4, generator=g)
    y = torch.randint(0, 2, (32,), generator=g)
    model = _ModeRecorder()
    bn = model.net[1]
    args = dict(eps=0.1, alpha=0.05, steps=3, norm="linf", random_start=True, targeted=False, lo=0.0, hi=1.0,
                loss_fn=None, generator=torch.Generator().manual_seed(1))
    for mode in (True, False):
        model.train(mode)
        stats = (bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone())
        _attack_in_eval_mode(model, x, y, **args)
        assert model.training == mode  # the mode is restored
        assert all(torch.equal(a, b) for a, b in zip(stats, (bn.running_mean, bn.running_var,
                                                             bn.num_batches_tracked)))
    # the test has power: attacking in train mode changes the running statistics
    model.train()
    before = bn.running_mean.clone()
    pgd(model, x, y, 0.1, 0.05, 3)
    assert not torch.equal(before, bn.running_mean)
    # in training: every attack pass in eval mode, every update pass in train mode
    model = _ModeRecorder()
    steps, attack_steps = 3, 4
    adversarial_training(model, x, y, eps=0.1, alpha=0.05, attack_steps=attack_steps, lr=0.1, steps=steps,
                         batch_size=32, record_every=steps)
    assert int(model.net[1].num_batches_tracked) == steps  # only the updates touched the statistics
    assert sum(model.modes) == steps
    assert len(model.modes) - steps == steps * attack_steps + 2  # the attack's passes + the two evaluations


def test_quantized_input_errors():
    from dltnotes.attacks import QuantizedInput

    model = Linear(3)
    with pytest.raises(ValueError, match="levels"):
        QuantizedInput(model, 0)
    with pytest.raises(TypeError, match="Module"):
        QuantizedInput(lambda t: t, 4)
    with pytest.raises(TypeError, match="generator"):
        QuantizedInput(model, 4, generator=1)


# ----------------------------------------------------------------------------------------------- square attack
@pytest.mark.parametrize("shape, image_shape", [((6, 8, 8), None), ((5, 3, 6, 7), None), ((4, 64), (8, 8)),
                                                ((4, 48), (3, 4, 4))])
def test_square_attack_stays_in_ball_and_bounds(shape, image_shape):
    from dltnotes.attacks import square_attack

    x, y = _batch(shape)
    x[0] = 0.0  # a sample on the lower bound and one on the upper: clipping must act
    x[1] = 1.0
    model = Linear(int(np.prod(shape[1:])))
    eps = 0.2
    x_adv = square_attack(model, x, y, eps, 50, image_shape=image_shape,
                          generator=torch.Generator().manual_seed(0))
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and not x_adv.requires_grad
    assert float((x_adv - x).abs().max()) <= eps + TOL32
    assert bool((x_adv >= 0).all()) and bool((x_adv <= 1).all())
    # every entry is at a (clipped) vertex of the ball: x ± ε, clipped to [0, 1]
    up, down = (x + eps).clamp(0, 1), (x - eps).clamp(0, 1)
    assert bool(((x_adv - up).abs().le(TOL32) | (x_adv - down).abs().le(TOL32)).all())


def test_square_attack_is_seeded_and_works_under_no_grad():
    from dltnotes.attacks import square_attack

    x, y = _batch((8, 6, 6))
    model = Linear(36)
    runs = [square_attack(model, x, y, 0.1, 30, generator=torch.Generator().manual_seed(s)) for s in (3, 3, 4)]
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])
    with torch.no_grad():
        again = square_attack(model, x, y, 0.1, 30, generator=torch.Generator().manual_seed(3))
    assert torch.equal(again, runs[0])
    assert all(p.grad is None for p in model.parameters())


def test_square_attack_finds_the_adversarial_vertex_of_a_linear_model():
    """Binary linear logits: the margin z₁ − z₀ = ⟨v, x'⟩ + b is maximised over the box at x + ε·sign(v); the
    bias puts the clean margin at −½ε‖v‖₁, so that vertex (and only a few others) is misclassified."""
    from dltnotes.attacks import square_attack

    g = torch.Generator().manual_seed(0)
    n, side, eps = 6, 4, 0.1
    x = 0.3 + 0.4 * torch.rand(n, side, side, generator=g, dtype=torch.float64)  # no clipping
    v = torch.randn(side * side, generator=g, dtype=torch.float64)
    flat = x.reshape(n, -1)

    def model(t):
        m = t.reshape(t.shape[0], -1) @ v - flat @ v - 0.5 * eps * v.abs().sum()  # clean margin −½ε‖v‖₁
        return torch.stack([torch.zeros_like(m), m], 1)

    y = torch.zeros(n, dtype=torch.int64)
    assert bool(predict(model, x).eq(y).all())
    x_adv = square_attack(model, x, y, eps, 2000, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(x_adv, x + eps * v.sign().reshape(side, side), atol=1e-12, rtol=0)
    assert bool(predict(model, x_adv).ne(y).all())


def test_square_attack_errors():
    from dltnotes.attacks import square_attack

    x, y = _batch((4, 8, 8))
    model = Linear(64)
    with pytest.raises(ValueError, match="queries"):
        square_attack(model, x, y, 0.1, -1)
    with pytest.raises(TypeError, match="queries"):
        square_attack(model, x, y, 0.1, 2.5)
    with pytest.raises(ValueError, match="p_init"):
        square_attack(model, x, y, 0.1, 5, p_init=0.0)
    with pytest.raises(ValueError, match="p_init"):
        square_attack(model, x, y, 0.1, 5, p_init=1.5)
    with pytest.raises(ValueError, match="eps"):
        square_attack(model, x, y, -0.1, 5)
    with pytest.raises(ValueError, match="image_shape"):
        square_attack(model, x.reshape(4, 64), y, 0.1, 5)          # flat samples need an image shape
    with pytest.raises(ValueError, match="image_shape"):
        square_attack(model, x.reshape(4, 64), y, 0.1, 5, image_shape=(8, 7))
    with pytest.raises(TypeError, match="generator"):
        square_attack(model, x, y, 0.1, 5, generator=0)
    with pytest.raises(ValueError, match="bounds"):
        square_attack(model, x + 2.0, y, 0.1, 5)
    with pytest.raises(TypeError, match="int64"):
        square_attack(model, x, y.double(), 0.1, 5)
    with pytest.raises(TypeError, match="model"):
        square_attack(3, x, y, 0.1, 5)
