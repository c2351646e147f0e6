import warnings

import mpmath as mp
import numpy as np
import pytest
import sympy as sp
import torch
from scipy.integrate import solve_ivp

from dltnotes.linear_nets import (decoupled_init, discrete_mode_strengths, effective_init_strength,
                                  first_crossing, linear_net_gd, saxe_learning_time, saxe_mode_strength,
                                  tree_dataset, tree_modes)

EPS = np.finfo(np.float64).eps


def _orth(gen, n, k):
    q, r = torch.linalg.qr(torch.randn(n, k, generator=gen, dtype=torch.float64))
    return q * torch.sign(torch.diagonal(r))


def _reference(t, s, a0, tau):
    """The textbook form s/(1 + (s/a0 − 1) e^{−2st/τ}) at 60 digits, at the exact float64 inputs."""
    with mp.workdps(60):
        t, s, a0, tau = (mp.mpf(float(v)) for v in (t, s, a0, tau))
        return s / (1 + (s / a0 - 1) * mp.exp(-2 * s * t / tau))


# --- saxe_mode_strength -------------------------------------------------------------------------------------

def test_closed_form_solves_the_ode_symbolically():
    t, s, a0, tau = sp.symbols("t s a_0 tau", positive=True)
    e = sp.exp(-2 * s * t / tau)
    a = a0 / (e + a0 / s * (1 - e))                      # the stable form the code evaluates
    assert sp.simplify(tau * sp.diff(a, t) - 2 * a * (s - a)) == 0
    assert sp.simplify(a.subs(t, 0) - a0) == 0
    textbook = s * sp.exp(2 * s * t / tau) / (sp.exp(2 * s * t / tau) - 1 + s / a0)
    assert sp.simplify(a - textbook) == 0


def test_closed_form_agrees_with_high_precision_to_round_off():
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(3000):
        s = 10 ** rng.uniform(-3, 3)
        a0 = s * 10 ** rng.uniform(-300, 2)           # a0 ≪ s … a0 = 100 s
        tau = 10 ** rng.uniform(-2, 2)
        scale = tau / (2 * s) * max(np.log(s / a0), 1.0)   # the time scale of the transition
        t = scale * rng.choice([0.0, 1e-6, 0.3, 1.0, 1.5, 10.0, 1e6]) * rng.uniform(0.5, 1.5)
        a = saxe_mode_strength(t, s, a0, tau=tau)
        ref = _reference(t, s, a0, tau)
        # condition number of the problem: t·∂log a/∂t-type sensitivity to the rounding of 2st/τ
        cond = 1 + 2 * s * t / tau * abs(1 - a / s)
        rel = float(abs((mp.mpf(a) - ref) / ref))
        assert rel <= 8 * EPS * cond, (t, s, a0, tau, rel, cond)
        worst = max(worst, rel / (EPS * cond))
    assert worst > 0  # the comparison is not vacuous


def test_closed_form_agrees_with_a_fine_ode_integration():
    for s, a0, tau in [(5.0, 1e-3, 1.0), (1.0, 1e-8, 2.0), (2.0, 7.0, 0.5), (0.3, 0.29, 1.0)]:
        t_end = 3 * tau / (2 * s) * max(np.log(s / a0), 2.0)
        ts = np.linspace(0, t_end, 41)
        sol = solve_ivp(lambda t, a: 2 * a * (s - a) / tau, (0, t_end), [a0], method="DOP853",
                        rtol=1e-13, atol=1e-300, t_eval=ts)
        assert sol.success
        a = saxe_mode_strength(ts, s, a0, tau=tau)
        np.testing.assert_allclose(a, sol.y[0], rtol=1e-10)


def test_closed_form_limits_and_large_times_without_overflow():
    s = np.array([0.1, 1.0, 5.0, 1e3])
    for a0 in (1e-300, 1e-3, 0.5, 50.0, 1e6):
        assert np.all(saxe_mode_strength(0.0, s, a0) == a0)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with np.errstate(all="raise"):
                big = saxe_mode_strength(1e6, s, a0)
        np.testing.assert_allclose(big, s, rtol=2 * EPS)
    # monotone towards s from either side
    t = np.linspace(0, 5, 200)
    assert np.all(np.diff(saxe_mode_strength(t, 2.0, 0.01)) >= 0)
    assert np.all(np.diff(saxe_mode_strength(t, 2.0, 9.0)) <= 0)
    assert saxe_mode_strength(3.0, 2.0, 2.0) == 2.0          # a0 = s is a fixed point


def test_closed_form_return_types_and_broadcasting():
    assert isinstance(saxe_mode_strength(1.0, 2.0, 0.1), float)
    assert isinstance(saxe_mode_strength(np.float64(1.0), 2, 0.1), float)
    out = saxe_mode_strength([0.0, 1.0], 2.0, 0.1)
    assert isinstance(out, np.ndarray) and out.shape == (2,)
    out = saxe_mode_strength(np.linspace(0, 1, 5)[:, None], np.array([1.0, 2.0, 3.0]), 0.1, tau=[[2.0]])
    assert out.shape == (5, 3)
    t = torch.linspace(0, 2, 7, dtype=torch.float32)
    out = saxe_mode_strength(t, 2.0, 0.1)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (7,)
    np.testing.assert_allclose(out.double().numpy(), saxe_mode_strength(t.double().numpy(), 2.0, 0.1),
                               rtol=1e-6)
    out = saxe_mode_strength(1.0, torch.tensor([1, 2, 3]), 0.1)           # integer tensor → float64
    assert out.dtype == torch.float64
    out = saxe_mode_strength(torch.ones(3, dtype=torch.float32), torch.ones(3, dtype=torch.float64), 0.5)
    assert out.dtype == torch.float64


def test_closed_form_tensor_gradient_is_the_ode_right_hand_side():
    t = torch.linspace(0, 4, 50, dtype=torch.float64, requires_grad=True)
    s, a0, tau = 3.0, 1e-4, 1.5
    a = saxe_mode_strength(t, s, a0, tau=tau)
    (da,) = torch.autograd.grad(a.sum(), t)
    rhs = 2 * a.detach() * (s - a.detach()) / tau
    torch.testing.assert_close(da, rhs, rtol=1e-12, atol=1e-12 * s * s / tau)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(t=-1.0), ValueError, "t must be >= 0"),
    (dict(t=np.nan), ValueError, "t must be finite"),
    (dict(t=np.inf), ValueError, "t must be finite"),
    (dict(s=0.0), ValueError, "s must be > 0"),
    (dict(s=-2.0), ValueError, "s must be > 0"),
    (dict(a0=0.0), ValueError, "a0 must be > 0"),
    (dict(a0=[0.1, -0.1]), ValueError, "a0 must be > 0"),
    (dict(tau=0.0), ValueError, "tau must be > 0"),
    (dict(tau=np.inf), ValueError, "tau must be finite"),
    (dict(t="1"), TypeError, "t must be a real number"),
    (dict(s=True), TypeError, "s must be a real number"),
    (dict(a0=1j), TypeError, "a0 must hold real numbers"),
    (dict(t=[[0.0, 1.0], [1.0]]), TypeError, "t must be a real number"),
    (dict(t=np.zeros(3), s=np.ones(2)), ValueError, "do not broadcast"),
    (dict(t=torch.zeros(3), s=torch.ones(2)), ValueError, "do not broadcast"),
    (dict(t=torch.tensor([True])), TypeError, "t must be a real tensor"),
    (dict(t=torch.tensor([-1.0])), ValueError, "t must be >= 0"),
    (dict(s=torch.tensor([float("nan")])), ValueError, "s must be finite"),
])
def test_closed_form_rejects_bad_input(kwargs, error, match):
    args = dict(t=1.0, s=2.0, a0=0.1, tau=1.0) | kwargs
    with pytest.raises(error, match=match):
        saxe_mode_strength(args["t"], args["s"], args["a0"], tau=args["tau"])


def test_learning_time_hits_the_level():
    s = np.array([5.0, 3.0, 2.0, 1.0])
    for f in (0.1, 0.5, 0.9):
        t = saxe_learning_time(s, 1e-3, fraction=f, tau=2.0)
        np.testing.assert_allclose(saxe_mode_strength(t, s, 1e-3, tau=2.0), f * s, rtol=1e-13)
    half = saxe_learning_time(s, 1e-3)
    np.testing.assert_allclose(half, np.log(s / 1e-3 - 1) / (2 * s), rtol=1e-14)
    assert np.all(np.diff(half) > 0)                       # stronger modes first
    assert isinstance(saxe_learning_time(2.0, 0.1), float)
    assert isinstance(saxe_learning_time(torch.tensor(2.0), 0.1), torch.Tensor)
    with pytest.raises(ValueError, match="a0 must be < fraction"):
        saxe_learning_time(2.0, 1.5)
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\)"):
        saxe_learning_time(2.0, 0.1, fraction=1.0)
    with pytest.raises(ValueError, match="fraction must be > 0"):
        saxe_learning_time(2.0, 0.1, fraction=0.0)


# --- the exact discrete map and the network ------------------------------------------------------------------

def test_discrete_map_iterates_and_rejects_bad_input():
    out = discrete_mode_strengths([1e-3, 0.5], [2.0, 1.0], 0.01, 3)
    assert out.shape == (4, 2)
    a = np.array([1e-3, 0.5])
    for k in range(3):
        a = a * (1 + 0.01 * (np.array([2.0, 1.0]) - a)) ** 2
    np.testing.assert_array_equal(out[-1], a)
    assert discrete_mode_strengths(0.0, 1.0, 0.1, 5)[-1] == 0.0   # a = 0 is a fixed point (a saddle)
    np.testing.assert_allclose(discrete_mode_strengths(1e-3, 1.0, 0.5, 400)[-1], 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match="steps must be >= 0"):
        discrete_mode_strengths(0.1, 1.0, 0.1, -1)
    with pytest.raises(TypeError, match="steps must be an integer"):
        discrete_mode_strengths(0.1, 1.0, 0.1, 2.5)
    with pytest.raises(ValueError, match="lr must be > 0"):
        discrete_mode_strengths(0.1, 1.0, 0.0, 2)
    with pytest.raises(ValueError, match="a0 must be >= 0"):
        discrete_mode_strengths(-0.1, 1.0, 0.1, 2)
    with pytest.raises(ValueError, match="do not broadcast"):
        discrete_mode_strengths([0.1, 0.2], [1.0, 2.0, 3.0], 0.1, 2)


def test_decoupled_init_is_balanced_and_has_the_right_product():
    gen = torch.Generator().manual_seed(0)
    U, V, R = _orth(gen, 6, 3), _orth(gen, 5, 3), _orth(gen, 9, 3)
    a0 = torch.tensor([0.3, 0.02, 1e-4], dtype=torch.float64)
    W1, W2 = decoupled_init(U, V, a0, R)
    assert W1.shape == (9, 5) and W2.shape == (6, 9)
    torch.testing.assert_close(W2 @ W1, (U * a0) @ V.T, rtol=0, atol=1e-15)
    torch.testing.assert_close(W1 @ W1.T, W2.T @ W2, rtol=0, atol=1e-15)   # balanced
    W1s, _ = decoupled_init(U, V, 0.5, R)                                   # a scalar a0
    torch.testing.assert_close(W1s @ W1s.T, 0.5 * R @ R.T)
    with pytest.raises(ValueError, match="orthonormal"):
        decoupled_init(2 * U, V, a0, R)
    with pytest.raises(ValueError, match="same number of columns"):
        decoupled_init(U, V[:, :2], a0, R)
    with pytest.raises(ValueError, match="shape"):
        decoupled_init(U, V, torch.ones(2, dtype=torch.float64), R)
    with pytest.raises(ValueError, match="a0 must be >= 0"):
        decoupled_init(U, V, -a0, R)
    with pytest.raises(TypeError, match="torch.Tensor"):
        decoupled_init(U.numpy(), V, a0, R)


def test_linear_net_gd_step_is_autograd_gradient_descent_on_data():
    """One step on ½‖Σ31 − W2W1‖² equals a step of autograd GD on the mean square loss of whitened data."""
    data = tree_dataset(2)
    x, y = torch.as_tensor(data.x), torch.as_tensor(data.y)
    P = x.shape[0]
    sigma31 = y.T @ x / P
    gen = torch.Generator().manual_seed(3)
    W1 = 0.3 * torch.randn(5, P, generator=gen, dtype=torch.float64)
    W2 = 0.3 * torch.randn(y.shape[1], 5, generator=gen, dtype=torch.float64)
    run = linear_net_gd(W1, W2, sigma31, lr=0.05, steps=1)
    w1, w2 = W1.clone().requires_grad_(), W2.clone().requires_grad_()
    loss = 0.5 * ((y - x @ w1.T @ w2.T) ** 2).sum(1).mean()
    g1, g2 = torch.autograd.grad(loss, (w1, w2))
    torch.testing.assert_close(run.W1, W1 - 0.05 * g1, rtol=0, atol=1e-14)
    torch.testing.assert_close(run.W2, W2 - 0.05 * g2, rtol=0, atol=1e-14)
    # the recorded loss differs from the data loss by the constant ½(E‖y‖² − ‖Σ31‖²_F)
    const = 0.5 * ((y ** 2).sum(1).mean() - (sigma31 ** 2).sum())
    torch.testing.assert_close(run.loss[0] + const, loss.detach())


def test_linear_net_gd_decoupled_follows_the_exact_map():
    gen = torch.Generator().manual_seed(1)
    s = torch.tensor([3.0, 1.5, 0.5], dtype=torch.float64)
    U, V, R = _orth(gen, 5, 3), _orth(gen, 4, 3), _orth(gen, 7, 3)
    W1, W2 = decoupled_init(U, V, 1e-2, R)
    run = linear_net_gd(W1, W2, (U * s) @ V.T, lr=0.01, steps=500, modes=(U, V), record_every=7)
    assert run.steps[0] == 0 and run.steps[-1] == 500 and np.all(np.diff(run.steps) > 0)
    assert run.modes.shape == (len(run.steps), 3, 3) and run.loss.shape == (len(run.steps),)
    exact = discrete_mode_strengths(1e-2, s.numpy(), 0.01, 500)[run.steps]
    M = run.modes.numpy()
    np.testing.assert_allclose(np.diagonal(M, axis1=1, axis2=2), exact, rtol=1e-12)
    off = M - np.einsum("kii->ki", M)[:, :, None] * np.eye(3)
    assert np.abs(off).max() <= 1e-13
    assert np.all(np.diff(run.loss.numpy()) <= 1e-15)                     # GD with a small step descends


def test_linear_net_gd_batches_and_rejects_bad_input():
    gen = torch.Generator().manual_seed(2)
    W1 = 0.01 * torch.randn(4, 6, 3, generator=gen, dtype=torch.float64)
    W2 = 0.01 * torch.randn(4, 2, 6, generator=gen, dtype=torch.float64)
    S = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    run = linear_net_gd(W1, W2, S, lr=0.05, steps=10, record_every=5)
    assert run.loss.shape == (4, 3) and run.W1.shape == (4, 6, 3) and run.modes is None
    single = linear_net_gd(W1[2], W2[2], S, lr=0.05, steps=10, record_every=5)
    torch.testing.assert_close(run.W2[2], single.W2)
    assert torch.equal(W1, W1.clone())                                    # inputs not modified
    with pytest.raises(ValueError, match="W2 must have 6 columns"):
        linear_net_gd(W1, W2[..., :5], S, lr=0.1, steps=1)
    with pytest.raises(ValueError, match="sigma31 must end in shape"):
        linear_net_gd(W1, W2, S.T, lr=0.1, steps=1)
    with pytest.raises(ValueError, match="lr must be > 0"):
        linear_net_gd(W1, W2, S, lr=0.0, steps=1)
    with pytest.raises(ValueError, match="record_every must be >= 1"):
        linear_net_gd(W1, W2, S, lr=0.1, steps=1, record_every=0)
    with pytest.raises(TypeError, match="pair"):
        linear_net_gd(W1, W2, S, lr=0.1, steps=1, modes=torch.eye(2))
    with pytest.raises(ValueError, match="modes must be U"):
        linear_net_gd(W1, W2, S, lr=0.1, steps=1, modes=(torch.eye(3, dtype=torch.float64),) * 2)
    eye = (torch.eye(2, dtype=torch.float64), torch.eye(3, dtype=torch.float64))
    prod = linear_net_gd(W1, W2, S, lr=0.05, steps=10, record_every=5, modes=eye)   # records W2 W1
    torch.testing.assert_close(prod.modes[:, -1], run.W2 @ run.W1)
    assert prod.modes.shape == (4, 3, 2, 3)
    with pytest.raises(ValueError, match="do not broadcast"):
        linear_net_gd(W1, W2[:3], S, lr=0.1, steps=1)
    with pytest.raises(TypeError, match="floating"):
        linear_net_gd(W1.long(), W2, S, lr=0.1, steps=1)
    with pytest.raises(ValueError, match="NaN"):
        linear_net_gd(W1 * np.nan, W2, S, lr=0.1, steps=1)


def test_effective_init_strength_is_gram_schmidt_of_the_hidden_vectors():
    gen = torch.Generator().manual_seed(4)
    U, V = _orth(gen, 5, 3), _orth(gen, 4, 3)
    W1 = torch.randn(2, 8, 4, generator=gen, dtype=torch.float64)
    W2 = torch.randn(2, 5, 8, generator=gen, dtype=torch.float64)
    naive = effective_init_strength(W1, W2, U, V, competition=False)
    comp = effective_init_strength(W1, W2, U, V)
    assert naive.shape == comp.shape == (2, 3)
    for b in range(2):
        p = (W1[b] @ V + W2[b].T @ U).numpy()
        np.testing.assert_allclose(naive[b].numpy(), 0.25 * (p ** 2).sum(0), rtol=1e-14)
        q = []                                                           # classical Gram–Schmidt
        for j in range(3):
            v = p[:, j] - sum((e @ p[:, j]) * e for e in q)
            q.append(v / np.linalg.norm(v))
            assert abs(comp[b, j].item() - 0.25 * v @ v) <= 1e-12 * naive[b, j].item()
    assert torch.equal(comp[:, 0], comp[:, 0]) and torch.allclose(comp[:, 0], naive[:, 0], rtol=1e-14)
    assert bool((comp <= naive * (1 + 1e-14)).all())
    with pytest.raises(ValueError, match="r ≤ n_h"):
        effective_init_strength(W1[..., :2, :], W2[..., :2], U, V)
    with pytest.raises(ValueError, match="do not chain"):
        effective_init_strength(W1, W2[..., :7], U, V)
    with pytest.raises(ValueError, match="U must be"):
        effective_init_strength(W1, W2, V, V)
    with pytest.raises(TypeError, match="competition must be a bool"):
        effective_init_strength(W1, W2, U, V, competition="yes")


def test_first_crossing_interpolates_and_handles_edges():
    t = np.linspace(0, 1, 11)
    vals = np.stack([t, 2 * t, 0.1 + 0 * t, 1 - t])
    out = first_crossing(t, vals, 0.45)
    np.testing.assert_allclose(out[:2], [0.45, 0.225], rtol=1e-14)
    assert np.isnan(out[2]) and out[3] == 0.0
    out = first_crossing(t, torch.as_tensor(vals), torch.tensor([0.5, 1.0, 0.1, 2.0], dtype=torch.float64))
    np.testing.assert_allclose(out[:3], [0.5, 0.5, 0.0], rtol=1e-14)
    assert np.isnan(out[3])
    with pytest.raises(ValueError, match="strictly increasing"):
        first_crossing(t[::-1], vals, 0.5)
    with pytest.raises(ValueError, match="must end in an axis"):
        first_crossing(t, vals[:, :5], 0.5)
    with pytest.raises(ValueError, match="does not broadcast"):
        first_crossing(t, vals, np.ones(3))
    with pytest.raises(ValueError, match="finite"):
        first_crossing(t, vals * np.nan, 0.5)


# --- the tree data set ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_tree_modes_are_the_svd_of_the_tree_data(depth):
    data, modes = tree_dataset(depth), tree_modes(depth)
    P, N = 2 ** depth, 2 ** (depth + 1) - 1
    assert data.x.shape == (P, P) and data.y.shape == (P, N) and data.node_depth.shape == (N,)
    np.testing.assert_allclose(data.x.T @ data.x / P, np.eye(P), atol=1e-15)   # whitened
    assert (data.y.sum(0) == 2.0 ** (depth - data.node_depth)).all()          # a node covers its leaves
    assert (data.y.sum(1) == depth + 1).all()                                  # an item has depth + 1 nodes
    sigma31 = data.y.T @ data.x / P
    np.testing.assert_allclose(modes.V.T @ modes.V, np.eye(P), atol=1e-14)
    np.testing.assert_allclose(modes.U.T @ modes.U, np.eye(P), atol=1e-14)
    np.testing.assert_allclose(sigma31, (modes.U * modes.s) @ modes.V.T, atol=1e-14)
    np.testing.assert_allclose(np.sort(np.linalg.svd(sigma31, compute_uv=False)), np.sort(modes.s), rtol=1e-13)
    assert (np.diff(modes.level) >= 0).all() and (np.diff(modes.s) <= 0).all()
    assert (np.bincount(modes.level) == [1] + [2 ** (lev - 1) for lev in range(1, depth + 1)]).all()


def test_tree_rejects_bad_depth():
    with pytest.raises(ValueError, match="depth must be >= 1"):
        tree_dataset(0)
    with pytest.raises(TypeError, match="depth must be an integer"):
        tree_modes(2.0)
