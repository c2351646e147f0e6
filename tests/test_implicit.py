"""Tests of dltnotes.implicit: the implicit form of an MLP, well-posedness, the fixed point, implicit gradients
and equilibrium propagation, each against an independent route (explicit network, autograd, finite differences)."""

import pytest
import torch

from dltnotes.implicit import (ImplicitModel, ep_gradient, fixed_point, implicit_forward,
                               implicit_gradients, implicit_step, is_well_posed, mlp_forward,
                               mlp_to_implicit, perron_frobenius)

F64 = torch.float64


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _mlp(widths=(4, 5, 6, 3, 2), seed=0):
    g = _gen(seed)
    ws = [torch.randn(o, i, generator=g, dtype=F64) / i**0.5 for i, o in zip(widths[:-1], widths[1:])]
    bs = [torch.randn(o, generator=g, dtype=F64) for o in widths[1:]]
    return ws, bs


def _model(n=7, p=3, q=2, lam=0.8, symmetric=False, seed=0):
    g = _gen(seed)
    A = torch.randn(n, n, generator=g, dtype=F64)
    if symmetric:
        A = A + A.T
    A = lam * A / perron_frobenius(A)
    return ImplicitModel(A, torch.randn(n, p, generator=g, dtype=F64), 0.1 * torch.randn(n, generator=g, dtype=F64),
                         torch.randn(q, n, generator=g, dtype=F64), torch.randn(q, p, generator=g, dtype=F64),
                         torch.randn(q, generator=g, dtype=F64))


def _u(m=5, p=3, seed=1):
    return torch.randn(m, p, generator=_gen(seed), dtype=F64)


# --- the implicit form of an MLP -------------------------------------------------------------------------------

@pytest.mark.parametrize("phi", ["relu", "tanh", "identity"])
def test_mlp_implicit_form_is_exact_after_hidden_layers_steps(phi):
    ws, bs = _mlp()
    model = mlp_to_implicit(ws, bs)
    u = _u(p=4)
    sol = fixed_point(model, u, phi, tol=0.0, max_iter=3)            # 3 hidden layers
    y = sol.x @ model.C.T + u @ model.D.T + model.c
    torch.testing.assert_close(y, mlp_forward(ws, bs, u, phi), rtol=0, atol=1e-13)
    early = fixed_point(model, u, phi, tol=0.0, max_iter=2).x @ model.C.T + model.c
    assert (early - mlp_forward(ws, bs, u, phi)).abs().max() > 1e-3
    assert perron_frobenius(model.A) < 1e-3 and is_well_posed(model.A)
    # A is strictly lower triangular: A^(L−1) = 0
    assert torch.count_nonzero(torch.linalg.matrix_power(model.A, 3)) == 0


def test_mlp_block_layout():
    ws, bs = _mlp()
    model = mlp_to_implicit(ws, bs)
    assert model.A.shape == (14, 14) and model.B.shape == (14, 4) and model.C.shape == (2, 14)
    torch.testing.assert_close(model.A[5:11, :5], ws[1])
    torch.testing.assert_close(model.B[:5], ws[0])
    torch.testing.assert_close(model.C[:, 11:], ws[3])
    assert torch.count_nonzero(model.D) == 0
    assert torch.count_nonzero(torch.triu(model.A)) == 0


# --- well-posedness and the fixed point ----------------------------------------------------------------------

def test_perron_frobenius_of_known_matrices():
    assert perron_frobenius(torch.tensor([[0.0, 2.0], [0.5, 0.0]], dtype=F64)) == pytest.approx(1.0)
    assert perron_frobenius(torch.tensor([[0.6, 0.6], [-0.6, 0.6]], dtype=F64)) == pytest.approx(1.2)
    assert perron_frobenius(torch.diag(torch.tensor([-0.3, 0.2], dtype=F64))) == pytest.approx(0.3)
    assert not is_well_posed(torch.eye(3, dtype=F64))


@pytest.mark.parametrize("phi", ["relu", "tanh", "identity"])
def test_fixed_point_solves_the_equation_and_contracts(phi):
    model = _model(lam=0.8)
    u = _u()
    sol = fixed_point(model, u, phi, tol=1e-13)
    assert sol.converged and sol.residual <= 1e-13 and sol.iterations == len(sol.residuals)
    torch.testing.assert_close(implicit_step(model, sol.x, u, phi), sol.x, rtol=0, atol=1e-12)
    # entrywise bound |x_k − x*| ≤ |A|^k |x_0 − x*|
    x, absA = torch.zeros_like(sol.x), model.A.abs()
    bound = sol.x.abs().T
    for _ in range(10):
        x = implicit_step(model, x, u, phi)
        bound = absA @ bound
        assert ((x - sol.x).abs().T <= bound + 1e-12).all()


def test_identity_fixed_point_is_a_linear_solve():
    model = _model(lam=0.7)
    u = _u()
    x, y = implicit_forward(model, u, "identity", tol=1e-14)
    eye = torch.eye(7, dtype=F64)
    x_lin = torch.linalg.solve(eye - model.A, (u @ model.B.T + model.b).T).T
    torch.testing.assert_close(x, x_lin, rtol=0, atol=1e-12)
    torch.testing.assert_close(y, x_lin @ model.C.T + u @ model.D.T + model.c, rtol=0, atol=1e-11)


def test_non_convergence_is_reported():
    model = _model(lam=3.0)._replace(A=3.0 * torch.eye(7, dtype=F64))
    sol = fixed_point(model, _u(), "identity", max_iter=5)
    assert not sol.converged and sol.iterations == 5
    with pytest.raises(RuntimeError, match="did not converge"):
        implicit_forward(model, _u(), "identity", max_iter=5)


# --- gradients -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("phi", ["tanh", "identity", "relu"])
def test_implicit_gradients_match_unrolled_autograd(phi):
    model = _model(lam=0.6)
    u = _u().requires_grad_()
    y = torch.randn(5, 2, generator=_gen(3), dtype=F64)
    leaves = [t.clone().requires_grad_() for t in model]
    x = torch.zeros(5, 7, dtype=F64)
    for _ in range(200):
        x = ACT[phi](x @ leaves[0].T + u @ leaves[1].T + leaves[2])
    yhat = x @ leaves[3].T + u @ leaves[4].T + leaves[5]
    (0.5 * (yhat - y).pow(2).sum()).backward()
    with torch.no_grad():
        xs, ys = implicit_forward(model, u.detach(), phi, tol=1e-15)
    grads = implicit_gradients(model, u.detach(), ys - y, phi, x=xs)
    for name, leaf in zip(model._fields, leaves):
        torch.testing.assert_close(getattr(grads, name), leaf.grad, rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(grads.u, u.grad, rtol=1e-9, atol=1e-11)


ACT = {"tanh": torch.tanh, "identity": lambda z: z, "relu": torch.relu}


# --- equilibrium propagation ---------------------------------------------------------------------------------

def test_ep_gradient_converges_at_first_and_second_order():
    model = _model(n=6, lam=0.5, symmetric=True)._replace(D=torch.zeros(2, 3, dtype=F64))
    u, y = _u(), torch.randn(5, 2, generator=_gen(4), dtype=F64)
    xs, ys = implicit_forward(model, u, "tanh", tol=1e-15)
    g = implicit_gradients(model, u, ys - y, "tanh", x=xs)
    truth = torch.cat([(0.5 * (g.A + g.A.T)).flatten(), g.B.flatten(), g.b])

    def err(beta, symmetric):
        est = ep_gradient(model, u, y, beta, symmetric=symmetric)
        return float((torch.cat([t.flatten() for t in est]) - truth).norm())

    one = [err(b, False) for b in (1e-2, 5e-3)]
    sym = [err(b, True) for b in (1e-2, 5e-3)]
    assert one[0] / one[1] == pytest.approx(2.0, rel=0.05)
    assert sym[0] / sym[1] == pytest.approx(4.0, rel=0.05)
    assert sym[1] < one[1] / 10


# --- bad input -----------------------------------------------------------------------------------------------

def test_bad_input_is_rejected():
    ws, bs = _mlp()
    with pytest.raises(ValueError, match="L ≥ 2"):
        mlp_to_implicit(ws[:1], bs[:1])
    with pytest.raises(ValueError, match="columns"):
        mlp_to_implicit([ws[0], ws[2]], [bs[0], bs[2]])
    with pytest.raises(TypeError, match="lists"):
        mlp_to_implicit(ws[0], bs[0])
    model = _model()
    with pytest.raises(TypeError, match="ImplicitModel"):
        fixed_point(tuple(model), _u())
    with pytest.raises(ValueError, match="square"):
        fixed_point(model._replace(A=torch.zeros(7, 6, dtype=F64)), _u())
    with pytest.raises(ValueError, match="phi"):
        fixed_point(model, _u(), "sigmoid")
    with pytest.raises(ValueError, match=r"shape \(m, p\)"):
        fixed_point(model, _u(p=4))
    with pytest.raises(TypeError, match="dtype"):
        fixed_point(model, _u().float())
    with pytest.raises(ValueError, match="NaN"):
        fixed_point(model, torch.full((2, 3), float("nan"), dtype=F64))
    with pytest.raises(ValueError, match="max_iter"):
        fixed_point(model, _u(), max_iter=0)
    with pytest.raises(ValueError, match="x0"):
        fixed_point(model, _u(), x0=torch.zeros(5, 6, dtype=F64))
    with pytest.raises(ValueError, match="dloss_dy"):
        implicit_gradients(model, _u(), torch.zeros(5, 3, dtype=F64))
    with pytest.raises(ValueError, match="square"):
        perron_frobenius(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="symmetric"):
        ep_gradient(model, _u(), torch.zeros(5, 2, dtype=F64), 0.1)
    sym = _model(lam=0.5, symmetric=True)
    with pytest.raises(ValueError, match="beta"):
        ep_gradient(sym, _u(), torch.zeros(5, 2, dtype=F64), 0.0)
    with pytest.raises(ValueError, match="ill-posed"):
        ep_gradient(sym, _u(), torch.zeros(5, 2, dtype=F64), 50.0)
    with pytest.raises(ValueError, match="λ_PF"):
        ep_gradient(_model(lam=1.5, symmetric=True), _u(), torch.zeros(5, 2, dtype=F64), 0.1)
