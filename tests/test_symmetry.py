import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from dltnotes.symmetry import (KINDS, Standardize, StandardizedMLP, Symmetry, Track, generator, hessian_identity,
                               loss_gradient_and_hvp, mlp_rescale_symmetries, noether, predicted_change, quantity,
                               roundoff_scale, track, transform, unit_norm, units)
from dltnotes.training import MLP

CPU = torch.device("cpu")
F64 = dict(dtype=torch.float64)


def _data(n=24, d=6, classes=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=gen, **F64), torch.randint(0, classes, (n,), generator=gen)


def _net(d=6, width=5, classes=3, seed=0, **kw):
    return StandardizedMLP(d, width, classes, seed=seed, device=CPU, **kw)


def _grads(net, x, y):
    params = dict(net.named_parameters())
    loss = F.cross_entropy(net(x), y)
    return params, dict(zip(params, torch.autograd.grad(loss, list(params.values()))))


# ------------------------------------------------------------------------------------------- small closed forms
def test_quantities_of_hand_made_tensors():
    params = {"a": torch.tensor([[1.0, 2.0], [3.0, 4.0]], **F64), "b": torch.tensor([[1.0, 0.0], [2.0, 2.0]], **F64),
              "c": torch.tensor([0.5, -1.5], **F64)}
    grads = {"a": torch.tensor([[2.0, -1.0], [0.0, 1.0]], **F64), "b": torch.tensor([[1.0, 1.0], [0.0, 1.0]], **F64),
             "c": torch.tensor([1.0, -1.0], **F64)}
    tr = Symmetry("translation", (("a", 0),))
    sc = Symmetry("scale", (("a", 1),))                          # columns of a
    re = Symmetry("rescale", (("a", 0), ("c", 0)), (("b", 1),))  # row j of a and c_j against column j of b
    whole = Symmetry("translation", (("c", None),))
    assert units(tr, params) == 2 and units(whole, params) == 1
    assert quantity(tr, params).tolist() == [3.0, 7.0]
    assert quantity(sc, params).tolist() == [10.0, 20.0]
    assert quantity(re, params).tolist() == [5.0 + 0.25 - 5.0, 25.0 + 2.25 - 4.0]
    assert quantity(whole, params).tolist() == [-1.0]
    assert noether(tr, params, grads).tolist() == [1.0, 1.0]
    assert noether(sc, params, grads).tolist() == [2.0, -2.0 + 4.0]
    assert noether(re, params, grads).tolist() == [0.0 + 0.5 - 1.0, 4.0 + 1.5 - 2.0]
    eta, lam = 0.1, 0.2
    q = quantity(re, params)
    s = torch.tensor([5.0 + 1.0 - 1.0, 1.0 + 1.0 - 2.0], **F64)  # Σ_up‖g‖² − Σ_down‖g‖² per unit
    assert torch.allclose(predicted_change(re, params, grads, lr=eta, weight_decay=lam),
                          -eta * lam * (2 - eta * lam) * q + eta**2 * s)
    assert torch.allclose(predicted_change(tr, params, grads, lr=eta, weight_decay=lam),
                          -eta * lam * quantity(tr, params))
    assert torch.equal(predicted_change(tr, params, grads, lr=eta), torch.zeros(2, **F64))
    assert torch.allclose(unit_norm(sc, params), torch.tensor([10.0, 20.0], **F64).sqrt())
    assert (roundoff_scale(re, params, grads, lr=eta) >= quantity(re, params).abs()).all()


def test_generator_and_hessian_identity_signs():
    params = {"a": torch.ones(2, 3, **F64), "b": 2 * torch.ones(4, 2, **F64)}
    grads = {"a": torch.full((2, 3), 0.5, **F64), "b": torch.full((4, 2), -1.0, **F64)}
    re = Symmetry("rescale", (("a", 0),), (("b", 1),))
    w = torch.tensor([1.0, -2.0], **F64)
    xi = generator(re, params, w)
    assert torch.equal(xi["a"], torch.tensor([[1.0] * 3, [-2.0] * 3], **F64))
    assert torch.equal(xi["b"], torch.tensor([[-2.0, 4.0]] * 4, **F64))
    rhs = hessian_identity(re, params, grads, w)
    assert torch.equal(rhs["a"], torch.tensor([[-0.5] * 3, [1.0] * 3], **F64))
    assert torch.equal(rhs["b"], torch.tensor([[-1.0, 2.0]] * 4, **F64))
    tr = Symmetry("translation", (("a", 0),))
    assert torch.equal(generator(tr, params)["a"], torch.ones(2, 3, **F64))
    assert torch.equal(hessian_identity(tr, params, grads)["a"], torch.zeros(2, 3, **F64))


# ------------------------------------------------------------------------------------------- the model's symmetries
@pytest.mark.parametrize("name", list(StandardizedMLP.symmetries()))
def test_every_symmetry_of_the_model_leaves_the_loss_unchanged(name):
    x, y = _data()
    net = _net()
    sym = net.symmetries()[name]
    params = dict(net.named_parameters())
    k = units(sym, params)
    c = torch.linspace(-0.8, 0.9, k, **F64) if sym.kind == "translation" else torch.linspace(0.3, 3.0, k, **F64)
    before = F.cross_entropy(net(x), y)
    after = F.cross_entropy(functional_call(net, params | transform(sym, params, c), (x,)), y)
    assert abs(after.item() - before.item()) <= 1e-13


def test_gradient_orthogonality_and_a_non_symmetry():
    x, y = _data()
    net = _net()
    params, grads = _grads(net, x, y)
    for sym in net.symmetries().values():
        cos = noether(sym, params, grads) / (unit_norm(sym, generator(sym, params)) * unit_norm(sym, grads))
        assert cos.abs().max() < 1e-13
    rows = Symmetry("scale", (("w2", 0),))
    assert noether(rows, params, grads).abs().max() > 1e-3


def test_hvp_agrees_with_finite_differences_and_with_the_hessian_identity():
    x, y = _data()
    net = _net()
    params = dict(net.named_parameters())
    gen = torch.Generator().manual_seed(1)
    v = {k: torch.randn(p.shape, generator=gen, **F64) for k, p in params.items()}
    g, hv = loss_gradient_and_hvp(net, x, y, v)
    h = 1e-5

    def grad_at(shift):
        p = {k: params[k].detach() + shift * v[k] for k in params}
        p = {k: t.requires_grad_() for k, t in p.items()}
        loss = F.cross_entropy(functional_call(net, p, (x,)), y)
        return dict(zip(p, torch.autograd.grad(loss, list(p.values()))))

    gp, gm = grad_at(h), grad_at(-h)
    for k in params:
        fd = (gp[k] - gm[k]) / (2 * h)
        assert torch.allclose(hv[k], fd, atol=1e-7, rtol=1e-5), k
    for sym in net.symmetries().values():
        w = torch.randn(units(sym, params), generator=gen, **F64)
        g, hv = loss_gradient_and_hvp(net, x, y, generator(sym, params, w))
        rhs = hessian_identity(sym, params, g, w)
        for k in params:
            assert torch.allclose(hv[k], rhs.get(k, torch.zeros_like(hv[k])), atol=1e-13), (sym, k)


# ------------------------------------------------------------------------------------------- the per-step laws
def _reference_track(net, x, y, syms, lr, wd, steps):
    """The readable route: the public functions around a plain torch.optim.SGD loop."""
    opt = torch.optim.SGD(net.parameters(), lr=lr, weight_decay=wd)
    params = dict(net.named_parameters())
    q = {k: [quantity(s, params)] for k, s in syms.items()}
    pred = {k: [] for k in syms}
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        grads = {k: p.grad for k, p in params.items()}
        for k, s in syms.items():
            pred[k].append(predicted_change(s, params, grads, lr=lr, weight_decay=wd))
        opt.step()
        for k, s in syms.items():
            q[k].append(quantity(s, params))
    return ({k: torch.stack(v).numpy() for k, v in q.items()}, {k: torch.stack(v).numpy() for k, v in pred.items()})


@pytest.mark.parametrize("wd", [0.0, 0.3])
def test_track_fast_path_matches_the_readable_route_and_the_law_holds(wd):
    x, y = _data()
    syms = StandardizedMLP.symmetries()
    tr = track(_net(), x, y, symmetries=syms, lr=0.2, steps=15, weight_decay=wd)
    q_ref, pred_ref = _reference_track(_net(), x, y, syms, 0.2, wd, 15)
    assert isinstance(tr, Track) and tr.optimizer == "sgd" and tr.loss.shape == (15,)
    for k in syms:
        assert tr.quantity[k].shape == (16, units(syms[k], dict(_net().named_parameters())))
        assert np.allclose(tr.quantity[k], q_ref[k], rtol=0, atol=1e-14)
        assert np.allclose(tr.predicted[k], pred_ref[k], rtol=0, atol=1e-14)
        assert (np.abs(tr.change(k) - tr.predicted[k]) <= 1e-14 * tr.scale[k]).all()
        assert np.abs(tr.noether[k]).max() < 1e-14
    assert set(tr.sq_norms) == {"w1", "gain", "shift", "w2", "b2"}
    assert np.isclose(tr.sq_norms["w1"][0], tr.quantity["scale_w1"][0].sum())


def test_law_holds_for_sgd_and_fails_for_adam():
    x, y = _data(n=40)
    syms = StandardizedMLP.symmetries()
    sgd = track(_net(), x, y, symmetries=syms, lr=0.1, steps=12, batch_size=8,
                generator=torch.Generator().manual_seed(0))
    adam = track(_net(), x, y, symmetries=syms, lr=0.01, steps=12, optimizer="adam")
    for k in syms:
        assert (np.abs(sgd.change(k) - sgd.predicted[k]) <= 1e-14 * sgd.scale[k]).all()
    gap = max(np.abs(adam.change(k) - adam.predicted[k]).max() / adam.scale[k].max() for k in syms)
    assert gap > 1e-4


def test_homogeneous_mlp_layer_balance():
    x, y = _data()
    for b_std in (0.0, 0.5):
        mlp = MLP(6, 7, 2, 3, b_std=b_std, parameterization="standard", seed=0).double()
        syms = mlp_rescale_symmetries(mlp)
        assert list(syms) == ["layer_1", "layer_2"]
        assert len(syms["layer_1"].up) == (2 if b_std else 1)
        tr = track(mlp, x, y, symmetries=syms, lr=0.1, steps=10)
        for k in syms:
            assert (np.abs(tr.change(k) - tr.predicted[k]) <= 1e-14 * tr.scale[k]).all()
    with pytest.raises(ValueError, match="homogeneous"):
        mlp_rescale_symmetries(MLP(6, 7, 1, 3, activation="tanh"))
    with pytest.raises(TypeError, match="MLP"):
        mlp_rescale_symmetries(_net())


# ------------------------------------------------------------------------------------------- Standardize
def test_standardize_is_scale_and_shift_invariant_only_without_eps():
    h = torch.randn(10, 4, generator=torch.Generator().manual_seed(0), **F64)
    c = torch.tensor([0.5, 2.0, 3.0, 7.0], **F64)
    layer = Standardize()
    z = layer(h)
    assert torch.allclose(z.mean(0), torch.zeros(4, **F64), atol=1e-15)
    assert torch.allclose(z.pow(2).mean(0), torch.ones(4, **F64))
    assert torch.allclose(layer(c * h + 5.0), z, atol=1e-14)
    eps_layer = Standardize(eps=1e-2)
    assert not torch.allclose(eps_layer(c * h), eps_layer(h), atol=1e-6)


def test_standardize_rejects_bad_input():
    with pytest.raises(ValueError, match="eps"):
        Standardize(eps=-1.0)
    with pytest.raises(TypeError):
        Standardize(eps="0")
    with pytest.raises(ValueError, match="at least 2"):
        Standardize()(torch.ones(1, 3, **F64))
    with pytest.raises(ValueError, match="dimensions"):
        Standardize()(torch.ones(5, **F64))
    with pytest.raises(ValueError, match="constant"):
        Standardize()(torch.ones(5, 3, **F64))
    assert torch.isfinite(Standardize(eps=1e-5)(torch.ones(5, 3, **F64))).all()


# ------------------------------------------------------------------------------------------- bad input
def test_symmetry_validation():
    params = {"a": torch.zeros(3, 2, **F64), "b": torch.zeros(2, 3, **F64), "i": torch.zeros(3, dtype=torch.int64)}
    with pytest.raises(TypeError, match="Symmetry"):
        quantity(("scale", (("a", 0),)), params)
    with pytest.raises(ValueError, match="kind"):
        quantity(Symmetry("rotation", (("a", 0),)), params)
    with pytest.raises(ValueError, match="down"):
        quantity(Symmetry("rescale", (("a", 0),)), params)
    with pytest.raises(ValueError, match="only rescale"):
        quantity(Symmetry("scale", (("a", 0),), (("b", 1),)), params)
    with pytest.raises(ValueError, match="twice"):
        quantity(Symmetry("rescale", (("a", 0),), (("a", 1),)), params)
    with pytest.raises(ValueError, match="at least one"):
        quantity(Symmetry("scale", ()), params)
    with pytest.raises(TypeError, match="pairs"):
        quantity(Symmetry("scale", ("a",)), params)
    with pytest.raises(KeyError, match="zz"):
        quantity(Symmetry("scale", (("zz", 0),)), params)
    with pytest.raises(ValueError, match="out of range"):
        quantity(Symmetry("scale", (("a", 2),)), params)
    with pytest.raises(ValueError, match=">= 0"):
        quantity(Symmetry("scale", (("a", -1),)), params)
    with pytest.raises(ValueError, match="same number of units"):
        quantity(Symmetry("rescale", (("a", 0),), (("b", 0),)), params)
    with pytest.raises(TypeError, match="floating"):
        quantity(Symmetry("scale", (("i", 0),)), params)
    with pytest.raises(TypeError, match="mapping"):
        quantity(Symmetry("scale", (("a", 0),)), [params["a"]])
    assert set(KINDS) == {"translation", "scale", "rescale"}


def test_functions_reject_bad_arguments():
    params = {"a": torch.ones(3, 2, **F64)}
    sym = Symmetry("scale", (("a", 0),))
    with pytest.raises(KeyError, match="grads"):
        noether(sym, params, {})
    with pytest.raises(ValueError, match="shape"):
        noether(sym, params, {"a": torch.ones(2, 3, **F64)})
    with pytest.raises(ValueError, match="lr"):
        predicted_change(sym, params, params, lr=0.0)
    with pytest.raises(ValueError, match="weight_decay"):
        predicted_change(sym, params, params, lr=0.1, weight_decay=-1)
    with pytest.raises(ValueError, match="c > 0"):
        transform(sym, params, -1.0)
    with pytest.raises(ValueError, match="one entry per unit"):
        transform(sym, params, torch.ones(2, **F64))
    with pytest.raises(ValueError, match="one entry per unit"):
        generator(sym, params, torch.ones(4, **F64))
    with pytest.raises(ValueError, match="NaN"):
        generator(sym, params, torch.tensor([1.0, float("nan"), 1.0], **F64))
    with pytest.raises(TypeError):
        transform(sym, params, "2")


def test_model_and_hvp_reject_bad_input():
    with pytest.raises(ValueError, match="d_out"):
        StandardizedMLP(4, 3, 1)
    with pytest.raises(TypeError, match="dtype"):
        StandardizedMLP(4, 3, 2, dtype=torch.int64)
    net = _net()
    with pytest.raises(ValueError, match="features"):
        net(torch.ones(4, 5, **F64))
    x, y = _data()
    with pytest.raises(KeyError, match="nope"):
        loss_gradient_and_hvp(net, x, y, {"nope": torch.zeros(1, **F64)})
    with pytest.raises(ValueError, match="shape"):
        loss_gradient_and_hvp(net, x, y, {"w1": torch.zeros(1, **F64)})
    with pytest.raises(TypeError, match="Module"):
        loss_gradient_and_hvp("net", x, y, {})


def test_track_rejects_bad_input():
    x, y = _data()
    syms = StandardizedMLP.symmetries()
    ok = dict(symmetries=syms, lr=0.1, steps=2)
    with pytest.raises(TypeError, match="Module"):
        track("net", x, y, **ok)
    with pytest.raises(ValueError, match="non-empty"):
        track(_net(), x, y, symmetries={}, lr=0.1, steps=2)
    with pytest.raises(ValueError, match="steps"):
        track(_net(), x, y, symmetries=syms, lr=0.1, steps=0)
    with pytest.raises(ValueError, match="lr"):
        track(_net(), x, y, symmetries=syms, lr=-0.1, steps=2)
    with pytest.raises(ValueError, match="optimizer"):
        track(_net(), x, y, optimizer="lbfgs", **ok)
    with pytest.raises(ValueError, match="batch_size"):
        track(_net(), x, y, batch_size=1, **ok)
    with pytest.raises(ValueError, match="batch_size"):
        track(_net(), x, y, batch_size=len(y) + 1, **ok)
    with pytest.raises(ValueError, match="same number of rows"):
        track(_net(), x, y[:-1], **ok)
    with pytest.raises(ValueError, match="NaN"):
        track(_net(), x * float("nan"), y, **ok)
    with pytest.raises(TypeError, match="Generator"):
        track(_net(), x, y, generator=0, batch_size=4, **ok)
    with pytest.raises(KeyError):
        track(_net(), x, y, symmetries={"bad": Symmetry("scale", (("nope", 0),))}, lr=0.1, steps=2)
