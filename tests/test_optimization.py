import numpy as np
import pytest
import torch

from dltnotes.data import linearly_separable
from dltnotes.optimization import (angle, expected_parameter_risk, functional_model, gd_least_squares,
                                   hessian_spectral_norm, linear_gd, max_margin_direction, ridge,
                                   sgd_least_squares_expected_loss, sgd_least_squares_runs, square_loss_gd_trace,
                                   two_layer_gd_ensemble)
from dltnotes.training import MLP


def test_functional_model_reproduces_the_model():
    model = MLP(3, 5, 1, b_std=0.3, seed=0).double()
    w0, apply = functional_model(model)
    x = torch.randn(4, 3, dtype=torch.float64)
    assert w0.shape == (sum(p.numel() for p in model.parameters()),)
    assert torch.allclose(apply(w0, x), model(x))
    with pytest.raises(TypeError):
        functional_model("not a model")
    with pytest.raises(ValueError, match="no parameters"):
        functional_model(torch.nn.ReLU())


def test_hessian_spectral_norm_of_a_quadratic_and_small_cases():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(30, 30, generator=gen, dtype=torch.float64)
    h = a + a.T
    f = lambda w: 0.5 * w @ h @ w  # noqa: E731
    exact = torch.linalg.eigvalsh(h).abs().max().item()
    assert abs(hessian_spectral_norm(f, torch.randn(30, dtype=torch.float64)) - exact) <= 1e-8 * exact
    assert hessian_spectral_norm(f, torch.zeros(30, dtype=torch.float64), max_steps=3) <= exact * (1 + 1e-12)
    h2 = torch.tensor([[1.0, 2.0], [2.0, -5.0]], dtype=torch.float64)
    exact2 = torch.linalg.eigvalsh(h2).abs().max().item()
    assert abs(hessian_spectral_norm(lambda w: 0.5 * w @ h2 @ w, torch.zeros(2, dtype=torch.float64)) - exact2) < 1e-12
    assert abs(hessian_spectral_norm(lambda w: (w**3).sum(), torch.tensor([2.0], dtype=torch.float64)) - 12) < 1e-12


def test_hessian_spectral_norm_rejects_bad_input():
    with pytest.raises(TypeError, match="callable"):
        hessian_spectral_norm(3, torch.zeros(4))
    with pytest.raises(ValueError, match="1 dimensions"):
        hessian_spectral_norm(lambda w: w.sum(), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="tol"):
        hessian_spectral_norm(lambda w: w.sum(), torch.zeros(4), tol=0.0)
    with pytest.raises(ValueError, match="max_steps"):
        hessian_spectral_norm(lambda w: w.sum(), torch.zeros(4), max_steps=0)


def test_square_loss_gd_trace_on_a_linear_model_contracts_as_theory_says():
    gen = torch.Generator().manual_seed(1)
    model = MLP(20, 1, 0, seed=0).double()          # F(w) = A w with A = x/√20
    x = torch.randn(5, 20, generator=gen, dtype=torch.float64)
    y = torch.randn(5, generator=gen, dtype=torch.float64)
    a = x / 20**0.5
    k = torch.linalg.eigvalsh(a @ a.T)
    tr = square_loss_gd_trace(model, x, y, lr=1 / k.max().item(), steps=30, hessian_every=10)
    assert np.allclose(tr.hessian_norm, k.max().item(), rtol=1e-8)     # ∇²L = AᵀA, norm λ_max(K)
    assert (tr.pl_ratio[:-1] >= k.min().item() * (1 - 1e-9)).all()      # ½‖∇L‖² = ½ rᵀKr ≥ λ_min L
    assert (tr.loss[1:] <= (1 - k.min().item() / k.max().item()) * tr.loss[:-1] * (1 + 1e-9)).all()
    assert list(tr.hessian_steps) == [0, 10, 20, 30]
    again = square_loss_gd_trace(model, x, y, lr=1 / k.max().item(), steps=30, hessian_every=10, seed=5)
    assert np.array_equal(again.loss, tr.loss)                          # the seed moves only Lanczos' start
    assert np.allclose(again.hessian_norm, tr.hessian_norm, rtol=1e-8)
    with pytest.raises(ValueError, match="seed"):
        square_loss_gd_trace(model, x, y, lr=0.1, steps=1, seed=-1)
    with pytest.raises(ValueError, match="same n"):
        square_loss_gd_trace(model, x, y[:3], lr=0.1, steps=1)
    with pytest.raises(ValueError, match="lr"):
        square_loss_gd_trace(model, x, y, lr=-1.0, steps=1)
    with pytest.raises(RuntimeError, match="diverged"):
        square_loss_gd_trace(model, x, y * 1e3, lr=1e6, steps=200)


def test_angle_is_accurate_and_validates():
    assert angle([1, 0], [0, 2]) == pytest.approx(np.pi / 2)
    assert angle([1, 0], [-3, 0]) == pytest.approx(np.pi)
    assert angle([1.0, 1e-12], [1.0, 0.0]) == pytest.approx(1e-12, rel=1e-6)
    assert angle(torch.tensor([1.0, 1.0]), np.array([2.0, 2.0])) == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValueError, match="non-zero"):
        angle([0, 0], [1, 0])
    with pytest.raises(ValueError, match="same length"):
        angle([1, 0], [1, 0, 0])
    with pytest.raises(ValueError, match="NaN"):
        angle([np.nan, 0], [1, 0])


def test_max_margin_direction_satisfies_kkt_and_beats_random_separators():
    data = linearly_separable(40, 3, margin=0.2, seed=3)
    x, y = data.x.numpy(), data.y.numpy()
    mm = max_margin_direction(x, y)
    z = y[:, None] * x
    margins = z @ mm.w
    assert margins.min() == pytest.approx(1.0, abs=1e-12) and (margins >= 1 - 1e-12).all()
    # KKT: w is a non-negative combination of the support vectors
    alpha = np.linalg.lstsq(z[mm.support].T, mm.w, rcond=None)[0]
    assert np.allclose(z[mm.support].T @ alpha, mm.w, atol=1e-10) and (alpha >= -1e-10).all()
    assert mm.margin == pytest.approx(1 / np.linalg.norm(mm.w))
    # no other separator has a larger geometric margin
    rng = np.random.default_rng(0)
    for _ in range(200):
        v = mm.w / np.linalg.norm(mm.w) + 0.05 * rng.standard_normal(3)
        assert (z @ v).min() / np.linalg.norm(v) <= mm.margin + 1e-12
    # the true separator's margin is at most the max margin
    assert (z @ data.w_star.numpy()).min() <= mm.margin + 1e-12


def test_max_margin_linf_and_errors():
    x = np.array([[1.0, 0.2], [0.3, 1.0], [-1.0, -0.5]])
    y = np.array([1.0, 1.0, -1.0])
    mm = max_margin_direction(x, y, norm="inf")
    assert (y * (x @ mm.w)).min() == pytest.approx(1.0)
    assert mm.margin == pytest.approx(1 / np.abs(mm.w).max())
    with pytest.raises(ValueError, match="not linearly separable"):
        max_margin_direction(np.array([[1.0], [1.0]]), np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="not linearly separable"):
        max_margin_direction(np.array([[1.0], [1.0]]), np.array([1.0, -1.0]), norm="inf")
    with pytest.raises(ValueError, match="-1 and \\+1"):
        max_margin_direction(x, np.array([1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="norm"):
        max_margin_direction(x, y, norm=1)
    with pytest.raises(ValueError, match="same n"):
        max_margin_direction(x, y[:2])


def test_linear_gd_records_and_matches_closed_form_least_squares():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 10)), rng.standard_normal(6)
    w = linear_gd(x, y, loss="square", lr=0.1, record_steps=[0, 5, 50])
    assert w.shape == (3, 10) and (w[0] == 0).all()
    for t, row in zip([5, 50], w[1:]):
        assert np.allclose(row, gd_least_squares(x, y, lr=0.1, steps=t), atol=1e-12)
    assert np.allclose(gd_least_squares(x, y, lr=0.5, steps=100_000), np.linalg.pinv(x) @ y, atol=1e-10)


def test_linear_gd_logistic_grows_the_norm_and_validates():
    data = linearly_separable(20, 2, margin=0.3, seed=0)
    w = linear_gd(data.x, data.y, loss="logistic", lr=1.0, record_steps=[10, 100, 1000])
    norms = np.linalg.norm(w, axis=1)
    assert (np.diff(norms) > 0).all()
    with pytest.raises(ValueError, match="loss"):
        linear_gd(data.x, data.y, loss="hinge", lr=1.0, record_steps=[1])
    with pytest.raises(ValueError, match="labels"):
        linear_gd(data.x, data.y * 2, loss="logistic", lr=1.0, record_steps=[1])
    with pytest.raises(ValueError, match="record_steps"):
        linear_gd(data.x, data.y, loss="logistic", lr=1.0, record_steps=[5, 3])
    with pytest.raises(ValueError, match="lr"):
        linear_gd(data.x, data.y, loss="logistic", lr=0.0, record_steps=[1])


def test_ridge_and_risk_formulas():
    rng = np.random.default_rng(1)
    x, beta = rng.standard_normal((8, 12)), rng.standard_normal(12)
    y = x @ beta
    lam = 0.3
    direct = np.linalg.solve(x.T @ x / 8 + lam * np.eye(12), x.T @ y / 8)
    assert np.allclose(ridge(x, y, lam), direct, atol=1e-12)
    # the exact risk agrees with a Monte Carlo average over the noise (4 standard errors)
    sigma = 0.5
    draws = np.array([np.sum((ridge(x, x @ beta + sigma * rng.standard_normal(8), lam) - beta) ** 2)
                      for _ in range(4000)])
    exact = expected_parameter_risk(x, beta, sigma, lam=lam)
    assert abs(draws.mean() - exact) <= 4 * draws.std() / np.sqrt(len(draws))
    gd = np.array([np.sum((gd_least_squares(x, x @ beta + sigma * rng.standard_normal(8), lr=0.2, steps=7) - beta)
                          ** 2) for _ in range(4000)])
    exact_gd = expected_parameter_risk(x, beta, sigma, lr=0.2, steps=7)
    assert abs(gd.mean() - exact_gd) <= 4 * gd.std() / np.sqrt(len(gd))
    with pytest.raises(ValueError, match="either lam"):
        expected_parameter_risk(x, beta, sigma, lam=0.1, lr=0.1, steps=3)
    with pytest.raises(ValueError, match="length d"):
        expected_parameter_risk(x, beta[:3], sigma, lam=0.1)
    with pytest.raises(ValueError, match="lam"):
        ridge(x, y, 0.0)
    with pytest.raises(ValueError, match="same n"):
        gd_least_squares(x, y[:3], lr=0.1, steps=2)


def test_square_loss_gd_trace_records_the_distance_travelled():
    gen = torch.Generator().manual_seed(2)
    model = MLP(6, 1, 0, seed=0).double()
    x = torch.randn(3, 6, generator=gen, dtype=torch.float64)
    y = torch.randn(3, generator=gen, dtype=torch.float64)
    tr = square_loss_gd_trace(model, x, y, lr=0.1, steps=5)
    w0, _ = functional_model(model)
    assert tr.distance.shape == (6,) and tr.distance[0] == 0
    assert abs(tr.distance[-1] - (tr.w - w0).norm().item()) < 1e-12
    steps = 0.1 * np.sqrt(tr.grad_sq[:-1])                          # ‖w_(t+1) − w_t‖ = η‖∇L(w_t)‖
    assert (tr.distance[1:] <= np.cumsum(steps) + 1e-12).all()       # triangle inequality


def _sgd_problem(n=5, d=12, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)) / np.sqrt(d), rng.standard_normal(n)


def test_sgd_expected_loss_full_batch_limit_and_one_step_by_enumeration():
    x, y = _sgd_problem()
    n = x.shape[0]
    # b → ∞ is full-batch GD; a large batch is close, and the gap shrinks like 1/b
    gd = [0.5 / n * np.sum((x @ gd_least_squares(x, y, lr=0.7, steps=t) - y) ** 2) for t in range(6)]
    e1 = sgd_least_squares_expected_loss(x, y, lr=0.7, batch=10**6, steps=5)
    assert np.allclose(e1, gd, rtol=1e-5)
    # one step with b = 2, averaged over all n² ordered index pairs
    exact = sgd_least_squares_expected_loss(x, y, lr=0.7, batch=2, steps=1)[1]
    total = 0.0
    for i in range(n):
        for j in range(n):
            w = -0.7 / 2 * (x[i] * (-y[i]) + x[j] * (-y[j]))
            total += 0.5 / n * np.sum((x @ w - y) ** 2)
    assert abs(exact - total / n**2) < 1e-12 * total


def test_sgd_runs_agree_with_the_exact_expectation():
    x, y = _sgd_problem(seed=1)
    exact = sgd_least_squares_expected_loss(x, y, lr=0.5, batch=2, steps=20)
    runs = sgd_least_squares_runs(x, y, lr=0.5, batch=2, steps=20, runs=4000, seed=3)
    assert runs.shape == (4000, 21) and np.allclose(runs[:, 0], exact[0])
    se = runs.std(0, ddof=1) / np.sqrt(4000)
    assert (np.abs(runs.mean(0) - exact) <= 5 * se + 1e-14).all()
    again = sgd_least_squares_runs(x, y, lr=0.5, batch=2, steps=20, runs=4000, seed=3)
    assert np.array_equal(runs, again)


def test_sgd_least_squares_rejects_bad_input():
    x, y = _sgd_problem()
    with pytest.raises(ValueError, match="same n"):
        sgd_least_squares_expected_loss(x, y[:3], lr=0.1, batch=1, steps=1)
    with pytest.raises(ValueError, match="batch"):
        sgd_least_squares_expected_loss(x, y, lr=0.1, batch=0, steps=1)
    with pytest.raises(ValueError, match="lr"):
        sgd_least_squares_runs(x, y, lr=0.0, batch=1, steps=1, runs=2)
    with pytest.raises(ValueError, match="runs"):
        sgd_least_squares_runs(x, y, lr=0.1, batch=1, steps=1, runs=0)
    with pytest.raises(ValueError, match="NaN"):
        sgd_least_squares_runs(x * np.nan, y, lr=0.1, batch=1, steps=1, runs=2)
    with pytest.raises(RuntimeError, match="diverged"):
        sgd_least_squares_expected_loss(x * 100, y, lr=10.0, batch=1, steps=400)


def test_two_layer_gd_ensemble_matches_autograd_on_one_network():
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(6, generator=gen, dtype=torch.float64)
    curves = two_layer_gd_ensemble(x, y, width=5, runs=3, lr=0.05, steps=10, record_every=5, seed=7)
    assert curves.shape == (3, 3)
    init = torch.Generator().manual_seed(7)
    w = torch.randn(3, 5, 3, generator=init, dtype=torch.float64)[1].requires_grad_(True)
    v = torch.randn(3, 5, generator=init, dtype=torch.float64)[1].requires_grad_(True)
    for t in range(11):
        loss = 0.5 * ((torch.tanh(x @ w.T) @ v / 5**0.5 - y) ** 2).sum()
        if t % 5 == 0:
            assert abs(loss.item() - curves[1, t // 5]) < 1e-12 * loss.item()
        gw, gv = torch.autograd.grad(loss, (w, v))
        with torch.no_grad():
            w -= 0.05 * gw
            v -= 0.05 * gv


def test_two_layer_gd_ensemble_rejects_bad_input():
    x, y = torch.zeros(4, 2, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)
    with pytest.raises(ValueError, match="same n"):
        two_layer_gd_ensemble(x, y[:3], width=2, runs=1, lr=0.1, steps=1)
    with pytest.raises(ValueError, match="width"):
        two_layer_gd_ensemble(x, y, width=0, runs=1, lr=0.1, steps=1)
    with pytest.raises(ValueError, match="steps"):
        two_layer_gd_ensemble(x, y, width=2, runs=1, lr=0.1, steps=0)


# ----------------------------------------------------------------------------------------------- long-time flow
from dltnotes.optimization import relu_net_gd, separable_flow_log_time, smoothed_margin  # noqa: E402


def test_flow_in_log_time_matches_the_closed_form_for_one_point():
    # one point z, ‖z‖ = 1, exponential loss: dw/dt = η e^{−w·z} z  ⇒  w·z = log(e^{a0} + η (t − t0))
    z = np.array([[0.6, 0.8]])
    eta, t0, a0 = 0.5, 3.0, 0.2
    s = np.log([3.0, 10.0, 1e6, 1e30])
    for w_hat in (z[0], np.zeros(2), 2 * z[0]):                     # any ŵ gives the same path
        w = separable_flow_log_time(z, np.ones(1), w_hat, loss="exponential", lr=eta, t0=t0,
                                    w0=a0 * z[0], log_t=s)
        exact = np.log(np.exp(a0) + eta * (np.exp(s) - t0))
        assert np.allclose(w @ z[0], exact, rtol=1e-8, atol=0)
        assert np.allclose(w - np.outer(w @ z[0], z[0]), 0, atol=1e-9)   # stays on the line of z


def test_flow_in_log_time_tracks_gradient_descent_with_a_small_step():
    data = linearly_separable(10, 2, margin=0.3, seed=3)
    x, y = data.x.numpy(), data.y.numpy()
    svm = max_margin_direction(x, y)
    lr = 0.05 / np.linalg.eigvalsh(x.T @ x / 10).max()              # small step: GD ≈ flow
    w_gd = linear_gd(x, y, loss="logistic", lr=lr, record_steps=[100, 2000])
    w_fl = separable_flow_log_time(x, y, svm.w, loss="logistic", lr=lr, t0=100, w0=w_gd[0],
                                   log_t=[np.log(2000)])
    assert np.linalg.norm(w_fl[0] - w_gd[1]) < 1e-3 * np.linalg.norm(w_gd[1] - w_gd[0])


def test_flow_in_log_time_reaches_the_offset_of_the_theorem():
    z = np.array([[1.0, 0.2], [0.1, 1.0], [2.0, 2.0]])               # two support vectors
    svm = max_margin_direction(z, np.ones(3))
    zs = z[svm.support]
    alpha = np.linalg.solve(zs @ zs.T, np.ones(2))
    eta = 0.3
    w_tilde = np.linalg.solve(zs, np.log(eta / 3 / alpha))
    w = separable_flow_log_time(z, np.ones(3), svm.w, loss="logistic", lr=eta, t0=1.0,
                                w0=np.zeros(2), log_t=[500.0])
    assert np.allclose(w[0] - 500 * svm.w, w_tilde, atol=1e-8)


def test_flow_in_log_time_rejects_bad_input():
    z, y = np.eye(2), np.ones(2)
    kw = dict(loss="logistic", lr=0.1, t0=1.0, w0=np.zeros(2), log_t=[0.0, 1.0])
    with pytest.raises(ValueError, match="loss"):
        separable_flow_log_time(z, y, np.ones(2), **(kw | {"loss": "square"}))
    with pytest.raises(ValueError, match="increasing"):
        separable_flow_log_time(z, y, np.ones(2), **(kw | {"log_t": [1.0, 0.5]}))
    with pytest.raises(ValueError, match="log t0"):
        separable_flow_log_time(z, y, np.ones(2), **(kw | {"t0": 10.0}))
    with pytest.raises(ValueError, match="length d"):
        separable_flow_log_time(z, y, np.ones(3), **kw)
    with pytest.raises(ValueError, match="-1 and \\+1"):
        separable_flow_log_time(z, np.array([1.0, 0.5]), np.ones(2), **kw)
    with pytest.raises(ValueError, match="lr"):
        separable_flow_log_time(z, y, np.ones(2), **(kw | {"lr": 0.0}))


# ----------------------------------------------------------------------------------------------- network margins
def _xor(n=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2))
    return x, np.sign(x[:, 0] * x[:, 1])


def test_relu_net_gd_gradient_matches_autograd_and_is_homogeneous():
    x, y = _xor()
    tr = relu_net_gd(x, y, width=7, lr=0.1, steps=1, seed=4)
    rng = np.random.default_rng(4)                                  # the same initial draw
    w0 = torch.tensor(0.5 * rng.standard_normal((7, 2)), requires_grad=True)
    a0 = torch.tensor(0.5 / np.sqrt(7) * rng.standard_normal(7), requires_grad=True)
    loss = torch.exp(-torch.tensor(y) * (torch.relu(torch.tensor(x) @ w0.T) @ a0)).mean()
    loss.backward()
    assert np.isclose(tr.loss[0], loss.item(), rtol=1e-13)
    assert np.isclose(tr.grad_norm_sq[0], ((w0.grad**2).sum() + (a0.grad**2).sum()).item(), rtol=1e-12)
    assert np.allclose(tr.params["w"], (w0 - 0.1 * w0.grad).detach().numpy(), atol=1e-14)
    assert np.allclose(tr.params["a"], (a0 - 0.1 * a0.grad).detach().numpy(), atol=1e-14)
    tb = relu_net_gd(x, y, width=7, lr=0.1, steps=1, seed=4, bias=True)   # zero biases at start
    assert tb.loss[0] == tr.loss[0] and set(tb.params) == {"w", "a", "b", "c"}
    # homogeneity: GD on a 2-homogeneous net has ρ²_{k+1} − ρ²_k = 4ην_k + η²‖g_k‖² exactly
    tr = relu_net_gd(x, y, width=9, lr=0.05, steps=50, seed=1)
    assert np.allclose(np.diff(tr.norm_sq), 4 * 0.05 * tr.nu[:-1] + 0.05**2 * tr.grad_norm_sq[:-1],
                       rtol=0, atol=1e-12 * tr.norm_sq.max())
    tb = relu_net_gd(x, y, width=9, lr=0.05, steps=50, seed=1, bias=True)
    assert not np.allclose(np.diff(tb.norm_sq), 4 * 0.05 * tb.nu[:-1] + 0.05**2 * tb.grad_norm_sq[:-1],
                           rtol=0, atol=1e-12 * tb.norm_sq.max())


def test_relu_net_gd_rejects_bad_input_and_overflow():
    x, y = _xor()
    with pytest.raises(ValueError, match="width"):
        relu_net_gd(x, y, width=0, lr=0.1, steps=1)
    with pytest.raises(TypeError, match="bias"):
        relu_net_gd(x, y, width=3, lr=0.1, steps=1, bias=1)
    with pytest.raises(ValueError, match="-1 and \\+1"):
        relu_net_gd(x, np.zeros(12), width=3, lr=0.1, steps=1)
    with pytest.raises(ValueError, match="same n"):
        relu_net_gd(x, y[:5], width=3, lr=0.1, steps=1)
    with pytest.raises(RuntimeError, match="overflow"):
        with np.errstate(all="ignore"):
            relu_net_gd(x, y, width=3, lr=1e6, steps=20, init_scale=3.0)


def test_smoothed_margin_sandwiches_the_normalised_margin():
    q = np.array([0.5, 1.0, 3.0])
    loss, rho2 = np.exp(-q).mean(), 2.0
    g = smoothed_margin(loss, 3, rho2)
    assert g <= q.min() / rho2 <= g + np.log(3) / rho2
    assert np.isclose(smoothed_margin(np.exp(-1.0) / 3, 3, 4.0, degree=3), 1 / 8)
    with pytest.raises(ValueError, match="positive"):
        smoothed_margin(0.0, 3, 1.0)
    with pytest.raises(ValueError, match="norm_sq"):
        smoothed_margin(0.1, 3, -1.0)
    with pytest.raises(TypeError):
        smoothed_margin(0.1, 2.5, 1.0)
