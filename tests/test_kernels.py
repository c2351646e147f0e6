import math

import numpy as np
import pytest
import torch
from torch import nn

from dltnotes.kernels import (arccos_angle, empirical_ntk, kernel_gradient_descent, kernel_gradient_flow,
                              kernel_regression,
                              relu_nngp_ntk, relu_nngp_ntk_textbook)
from dltnotes.stats import mean_se
from dltnotes.training import MLP


@pytest.mark.parametrize("depth,w,b", [(0, 1.0, 0.0), (1, 1.0, 0.0), (3, 1.5, 0.3), (5, 2.0, 1.0)])
def test_recursion_matches_textbook_formula_off_diagonal(depth, w, b):
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(30, 6, generator=gen, dtype=torch.float64), torch.randn(20, 6, generator=gen, dtype=torch.float64)
    k = relu_nngp_ntk(x, y, depth=depth, w_std=w, b_std=b)
    nngp, ntk = relu_nngp_ntk_textbook(x, y, depth=depth, w_std=w, b_std=b)
    assert k.nngp.shape == k.ntk.shape == (30, 20) and k.nngp.dtype == torch.float64
    assert torch.allclose(k.nngp, nngp, rtol=1e-12, atol=0) and torch.allclose(k.ntk, ntk, rtol=1e-12, atol=0)


def test_one_hidden_layer_closed_form_and_diagonal():
    # depth 1, w=1, b=0, unit-norm inputs scaled by sqrt(d): Σ¹ = cos θ, NNGP = k1/2, NTK = k1/2 + cos θ (π−θ)/(2π)
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64) * math.sqrt(2)
    k = relu_nngp_ntk(x, depth=1)
    assert torch.allclose(k.nngp.diagonal(), torch.full((3,), 0.5, dtype=torch.float64), rtol=0, atol=1e-15)
    assert torch.allclose(k.ntk.diagonal(), torch.full((3,), 1.0, dtype=torch.float64), rtol=0, atol=1e-15)
    assert abs(k.nngp[0, 1].item() - 1 / (2 * math.pi)) < 1e-15        # θ = π/2: sin θ/π /2
    assert abs(k.ntk[0, 1].item() - 1 / (2 * math.pi)) < 1e-15         # cos θ = 0 kills the second term
    assert k.nngp[0, 2].item() == 0.0 and abs(k.ntk[0, 2].item()) < 1e-15   # antipodal: k1(π) = 0, cos π·0


def test_numerics_identical_parallel_antipodal_nearly_identical_and_zero():
    gen = torch.Generator().manual_seed(1)
    v = torch.randn(5, generator=gen, dtype=torch.float64)
    e = torch.randn(5, generator=gen, dtype=torch.float64)
    z = torch.stack([v, 3 * v, -v, v + 1e-9 * e, torch.zeros(5, dtype=torch.float64)])
    theta = arccos_angle(z)
    assert theta[0, 0] == 0                                          # the diagonal is exact
    # parallel and antipodal rows: within a few ulps of 0 and π (the unit vectors themselves are rounded)
    assert theta[0, 1] <= 1e-15 and abs(theta[0, 2] - math.pi) <= 1e-15
    # nearly identical: θ ≈ ‖v̂ − ŵ‖ computed in high precision
    import mpmath
    mpmath.mp.dps = 50
    a = [mpmath.mpf(float(t)) for t in v]
    b = [mpmath.mpf(float(t)) for t in z[3]]
    na, nb = mpmath.sqrt(sum(t * t for t in a)), mpmath.sqrt(sum(t * t for t in b))
    diff = mpmath.sqrt(sum((s / na - t / nb) ** 2 for s, t in zip(a, b)))
    exact = 2 * mpmath.asin(diff / 2)
    assert abs(theta[0, 3].item() - float(exact)) <= 1e-6 * float(exact)   # naive arccos would be off by ~100 %
    for depth in (1, 4, 30):
        k = relu_nngp_ntk(z, depth=depth, w_std=1.4, b_std=0.1)
        assert torch.isfinite(k.nngp).all() and torch.isfinite(k.ntk).all()
        assert torch.equal(k.nngp, k.nngp.T)
        # nearly identical inputs: kernel entries equal to within relative 1e-8 (they differ by O(1e-9))
        assert abs(k.ntk[0, 3] / k.ntk[0, 0] - 1) < 1e-8
    k0 = relu_nngp_ntk(z, depth=2)                                   # no bias: the zero input gives zero kernel
    assert (k0.nngp[4] == 0).all() and (k0.ntk[:, 4] == 0).all()


def test_deep_networks_do_not_overflow_before_the_result():
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    k = relu_nngp_ntk(x, depth=300, w_std=2.5)      # (w²/2)^300 ≈ 1e139 — finite, but naive products overflow
    q = 2.5**2 * (x * x).sum(1) / 3 * (2.5**2 / 2) ** 300
    assert torch.allclose(k.nngp.diagonal(), q, rtol=1e-10)
    assert torch.isfinite(k.ntk).all()
    # NTK diagonal for b=0: Θ^L(x,x) = L'·q with L' = (depth+1) when w²/2 factors are pulled out: Θ = (depth+1)Σ
    assert torch.allclose(k.ntk.diagonal(), (300 + 1) * q, rtol=1e-10)


def test_numpy_float32_and_mc_agreement():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3))
    k = relu_nngp_ntk(x, depth=1, w_std=1.2, b_std=0.5)
    assert k.nngp.dtype == torch.float64
    k32 = relu_nngp_ntk(torch.from_numpy(x).float(), depth=1, w_std=1.2, b_std=0.5)
    assert k32.nngp.dtype == torch.float32 and torch.allclose(k32.nngp.double(), k.nngp, rtol=1e-5)
    # Monte Carlo over random first-layer weights: NNGP(x, x') = E[w²·relu(u) relu(u')] + b²
    gen = torch.Generator().manual_seed(4)
    xt = torch.from_numpy(x)
    m = 400_000
    W = torch.randn(m, 3, generator=gen, dtype=torch.float64)
    bb = torch.randn(m, generator=gen, dtype=torch.float64)
    h = torch.relu(1.2 * xt @ W.T / math.sqrt(3) + 0.5 * bb)           # (4, m)
    samples = 1.2**2 * h[0] * h[1] + 0.25
    est = mean_se(samples)
    assert abs(est.mean - k.nngp[0, 1].item()) <= 4 * est.se


def test_errors():
    x = torch.randn(3, 2, dtype=torch.float64)
    with pytest.raises(TypeError, match="floating"):
        relu_nngp_ntk(torch.ones(3, 2, dtype=torch.int64), depth=1)
    with pytest.raises(ValueError, match="2 dimensions"):
        relu_nngp_ntk(torch.ones(3), depth=1)
    with pytest.raises(ValueError, match="same number of columns"):
        relu_nngp_ntk(x, torch.randn(2, 3, dtype=torch.float64), depth=1)
    with pytest.raises(ValueError, match="NaN"):
        relu_nngp_ntk(torch.tensor([[float("nan"), 1.0]]), depth=1)
    with pytest.raises(ValueError, match="depth"):
        relu_nngp_ntk(x, depth=-1)
    with pytest.raises(TypeError, match="depth"):
        relu_nngp_ntk(x, depth=1.5)
    with pytest.raises(ValueError, match="w_std"):
        relu_nngp_ntk(x, depth=1, w_std=0.0)
    with pytest.raises(ValueError, match="b_std"):
        relu_nngp_ntk(x, depth=1, b_std=-1.0)
    with pytest.raises(TypeError, match="numpy"):
        relu_nngp_ntk(np.ones((2, 2), dtype=np.int64), depth=1)
    with pytest.raises(TypeError, match="compiled"):
        relu_nngp_ntk(x, depth=1, compiled="yes")


def test_compiled_path_matches_the_default_path():
    # one torch.compile of the tile recursion; inputs exercise edge tiles (300 = 256 + 44), the small-angle series
    # (nearly identical rows), antipodal and zero rows, and the bias terms
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(300, 5, generator=gen, dtype=torch.float64)
    x[1] = x[0] + 1e-9 * torch.randn(5, generator=gen, dtype=torch.float64)
    x[2], x[3] = -x[0], 0.0
    y = torch.randn(40, 5, generator=gen, dtype=torch.float64)
    for x2 in (None, y):
        ref = relu_nngp_ntk(x, x2, depth=3, w_std=1.4, b_std=0.3)
        fast = relu_nngp_ntk(x, x2, depth=3, w_std=1.4, b_std=0.3, compiled=True)
        for a, b in zip(fast, ref):
            assert torch.allclose(a, b, rtol=1e-13, atol=1e-15 * float(b.abs().max()))
    sym = relu_nngp_ntk(x, depth=3, w_std=1.4, b_std=0.3, compiled=True)
    assert torch.equal(sym.ntk, sym.ntk.T) and abs(sym.ntk[0, 1] / sym.ntk[0, 0] - 1) < 1e-8


def _per_sample_ntk(model, x1, x2):
    def grads(x):
        rows = []
        for i in range(x.shape[0]):
            model.zero_grad()
            out = model(x[i:i + 1]).reshape(-1)
            gs = [torch.autograd.grad(out[a], list(model.parameters()), retain_graph=True) for a in range(out.numel())]
            rows.append(torch.stack([torch.cat([g.reshape(-1) for g in gg]) for gg in gs]))
        return torch.stack(rows)                                      # (n, k, P)
    g1, g2 = grads(x1), grads(x2)
    return torch.einsum("nap,mbp->nmab", g1, g2)


@pytest.mark.parametrize("method", ["jacobian", "ntk-vp", "structured", "auto"])
def test_empirical_ntk_matches_per_sample_autograd(method):
    gen = torch.Generator().manual_seed(5)
    model = MLP(4, 16, 2, b_std=0.3, seed=0).double()
    x1 = torch.randn(7, 4, generator=gen, dtype=torch.float64)
    x2 = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    ref = _per_sample_ntk(model, x1, x2)[:, :, 0, 0]
    assert torch.allclose(empirical_ntk(model, x1, x2, method=method, chunk_size=3), ref, rtol=1e-12, atol=1e-12)
    sym = empirical_ntk(model, x1, method=method, chunk_size=2)
    assert sym.shape == (7, 7) and torch.allclose(sym, _per_sample_ntk(model, x1, x1)[:, :, 0, 0], atol=1e-12)


def test_empirical_ntk_vector_outputs_and_methods_agree():
    gen = torch.Generator().manual_seed(6)
    model = MLP(3, 8, 1, d_out=2, seed=1).double()
    x1 = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    x2 = torch.randn(3, 3, generator=gen, dtype=torch.float64)
    a = empirical_ntk(model, x1, x2, method="jacobian")
    b = empirical_ntk(model, x1, x2, method="ntk-vp", chunk_size=3)
    c = empirical_ntk(model, x1, x2, method="structured")
    assert a.shape == (4, 3, 2, 2) and torch.allclose(a, b, atol=1e-12) and torch.allclose(a, c, atol=1e-12)
    std = MLP(3, 8, 2, b_std=0.5, parameterization="standard", seed=2).double()       # standard parameterisation
    assert torch.allclose(empirical_ntk(std, x1, method="structured"), empirical_ntk(std, x1), atol=1e-12)
    seq = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 1)).double()
    seq[0].bias.requires_grad_(False)                                                    # frozen parameters skipped
    assert torch.allclose(empirical_ntk(seq, x1, x2, method="structured"), empirical_ntk(seq, x1, x2), atol=1e-12)
    assert torch.allclose(a, _per_sample_ntk(model, x1, x2), atol=1e-12)


def test_empirical_ntk_converges_to_analytic_kernel_at_large_width():
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    exact = relu_nngp_ntk(x, depth=1, b_std=0.2).ntk
    errs = []
    for width in (64, 4096):
        model = MLP(3, width, 1, b_std=0.2, seed=width).double()
        errs.append(((empirical_ntk(model, x) - exact).norm() / exact.norm()).item())
    assert errs[1] < 0.1 and errs[1] < errs[0]


def test_empirical_ntk_refuses_training_mode_dropout_and_bad_input():
    model = nn.Sequential(nn.Linear(3, 5), nn.Dropout(0.5), nn.Linear(5, 1)).double()
    x = torch.randn(4, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="training mode"):
        empirical_ntk(model, x)
    assert empirical_ntk(model.eval(), x).shape == (4, 4)
    bn = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5), nn.Linear(5, 1)).double()
    with pytest.raises(ValueError, match="BatchNorm1d"):
        empirical_ntk(bn, x)
    with pytest.raises(ValueError, match="method"):
        empirical_ntk(model, x, method="fast")
    conv = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 1)).double()
    with pytest.raises(ValueError, match="structured"):
        empirical_ntk(conv, x, method="structured")
    assert empirical_ntk(conv, x, method="auto").shape == (4, 4)                       # falls back to jacobian
    with pytest.raises(TypeError, match="Module"):
        empirical_ntk(lambda t: t, x)
    with pytest.raises(ValueError, match="sample shape"):
        empirical_ntk(model, x, torch.randn(2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="chunk_size"):
        empirical_ntk(model, x, chunk_size=0)
    with pytest.raises(TypeError, match="floating"):
        empirical_ntk(model, torch.ones(2, 3, dtype=torch.int64))


def test_kernel_regression_and_flow():
    gen = torch.Generator().manual_seed(8)
    x = torch.randn(12, 3, generator=gen, dtype=torch.float64)
    xt = torch.randn(5, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(12, generator=gen, dtype=torch.float64)
    K = relu_nngp_ntk(x, depth=1).ntk
    Kt = relu_nngp_ntk(xt, x, depth=1).ntk
    fit = kernel_regression(K, y, Kt)
    assert torch.allclose(fit.fitted, y, atol=1e-9)                     # interpolates (K is PD)
    assert torch.allclose(fit.predictions, Kt @ torch.linalg.solve(K, y), atol=1e-9)
    ridge = kernel_regression(K, y, Kt, ridge=0.5)
    assert torch.allclose(ridge.alpha, torch.linalg.solve(K + 0.5 * torch.eye(12, dtype=K.dtype), y), atol=1e-10)
    # flow: u(t) = expm(−K t) u0; t → ∞ the test shift tends to the interpolant from zero
    u0 = -y                                                             # f0 = 0
    flow = kernel_gradient_flow(K, u0, [0.0, 0.7, 1e6], k_test_train=Kt)
    assert flow.residual.shape == (3, 12) and flow.test_shift.shape == (3, 5)
    assert torch.allclose(flow.residual[0], u0, atol=1e-12)
    assert torch.allclose(flow.residual[1], torch.linalg.matrix_exp(-0.7 * K) @ u0, atol=1e-10)
    assert torch.allclose(flow.test_shift[2], fit.predictions, atol=1e-6)
    # near-singular kernel (duplicate point): finite answers, flow still well defined
    xs = torch.cat([x, x[:1]])
    Ks = relu_nngp_ntk(xs, depth=1).ntk
    ys = torch.cat([y, y[:1]])
    fs = kernel_regression(Ks, ys)
    assert torch.isfinite(fs.alpha).all() and torch.allclose(fs.fitted, ys, atol=1e-8)
    fl = kernel_gradient_flow(Ks, -ys, 5.0, k_test_train=relu_nngp_ntk(xt, xs, depth=1).ntk)
    assert torch.isfinite(fl.test_shift).all()
    Y = torch.stack([y, 2 * y], 1)
    assert kernel_gradient_flow(K, Y, [1.0, 2.0]).residual.shape == (2, 12, 2)


def test_regression_and_flow_errors():
    K = torch.eye(3, dtype=torch.float64)
    y = torch.ones(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="square"):
        kernel_regression(torch.ones(3, 2, dtype=torch.float64), y)
    with pytest.raises(ValueError, match="symmetric"):
        kernel_regression(torch.tensor([[1.0, 0.5], [0.0, 1.0]], dtype=torch.float64), y[:2])
    with pytest.raises(ValueError, match="3 rows"):
        kernel_regression(K, torch.ones(4, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\(m, 3\)"):
        kernel_regression(K, y, torch.ones(2, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="ridge"):
        kernel_regression(K, y, ridge=-1.0)
    with pytest.raises(ValueError, match="non-negative"):
        kernel_gradient_flow(K, y, -1.0)
    with pytest.raises(ValueError, match="finite"):
        kernel_gradient_flow(K, y, float("inf"))


def test_polynomial_features_inner_product_is_the_kernel():
    from dltnotes.kernels import polynomial_features, polynomial_kernel
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    for k, c in [(1, 0.0), (2, 1.0), (3, 0.5)]:
        phi = polynomial_features(x, degree=k, c=c)
        assert phi.shape == (6, math.comb(4 + k, k))
        assert torch.allclose(phi @ phi.T, polynomial_kernel(x, degree=k, c=c), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="1e7"):
        polynomial_features(torch.ones(1, 1000, dtype=torch.float64), degree=3)
    with pytest.raises(ValueError, match="degree"):
        polynomial_kernel(x, degree=0)
    with pytest.raises(ValueError, match="c must"):
        polynomial_features(x, degree=2, c=-1.0)


def test_diagonal_is_exact_to_round_off():
    # b = 0, w = 1: Σ^{L+1}(x, x) = |x|²/d / 2^L and Θ^{L+1}(x, x) = (L+1) Σ^{L+1}(x, x); arccos(1 − ε) would miss by ~1e-8
    x = torch.randn(50, 64, generator=torch.Generator().manual_seed(10), dtype=torch.float64)
    k = relu_nngp_ntk(x, depth=3)
    sigma = (x * x).sum(1) / 64 / 8
    assert torch.allclose(k.nngp.diagonal(), sigma, rtol=1e-14, atol=0)
    assert torch.allclose(k.ntk.diagonal(), 4 * sigma, rtol=1e-14, atol=0)


def test_compiled_path_failure_is_explained(monkeypatch):
    import dltnotes.kernels as kernels

    def broken(*args, **kwargs):
        raise OSError("no C++ compiler")

    monkeypatch.setattr(kernels, "_compiled_recursion", lambda: broken)
    with pytest.raises(RuntimeError, match="compiled=False") as info:
        relu_nngp_ntk(torch.randn(4, 3, dtype=torch.float64), depth=2, compiled=True)
    assert isinstance(info.value.__cause__, OSError)


def test_kernel_gradient_descent_matches_the_loop_and_tends_to_the_flow():
    g = torch.Generator().manual_seed(3)
    x, xt = torch.randn(9, 3, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g, dtype=torch.float64)
    K, Kt = relu_nngp_ntk(x, depth=2).ntk, relu_nngp_ntk(xt, x, depth=2).ntk
    u0 = torch.randn(9, generator=g, dtype=torch.float64)
    lr = 0.9 / torch.linalg.eigvalsh(K)[-1].item()
    out = kernel_gradient_descent(K, u0, [0, 1, 7], lr, k_test_train=Kt)
    u, shift = u0.clone(), torch.zeros(4, dtype=torch.float64)
    for s in range(7):                                  # the iteration itself: f ← f − η K (f − y)
        shift -= lr * Kt @ u
        u = u - lr * K @ u
    assert torch.allclose(out.residual[0], u0, atol=1e-14) and torch.allclose(out.test_shift[0], 0 * shift)
    assert torch.allclose(out.residual[2], u, atol=1e-12) and torch.allclose(out.test_shift[2], shift, atol=1e-12)
    # small steps: GD at s steps → flow at t = η s (error O(η))
    t = 2.0
    for eta, tol in ((1e-2, 5e-2), (1e-4, 5e-4)):
        gd = kernel_gradient_descent(K, u0, round(t / eta), eta, k_test_train=Kt)
        fl = kernel_gradient_flow(K, u0, t, k_test_train=Kt)
        assert (gd.test_shift - fl.test_shift).abs().max() < tol * fl.test_shift.abs().max()
    # singular kernel (a duplicated point): finite, and the null direction moves by η s K_* v
    xs = torch.cat([x[:3], x[:1]])
    Ks = relu_nngp_ntk(xs, depth=1).ntk
    fl = kernel_gradient_descent(Ks, torch.ones(4, 2, dtype=torch.float64), 50, 0.1,
                                 k_test_train=relu_nngp_ntk(xt, xs, depth=1).ntk)
    assert fl.residual.shape == (1, 4, 2) and fl.test_shift.shape == (1, 4, 2)
    assert torch.isfinite(fl.test_shift).all()


def test_kernel_gradient_descent_errors():
    K, y = torch.eye(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="lr"):
        kernel_gradient_descent(K, y, 3, 0.0)
    with pytest.raises(TypeError, match="steps"):
        kernel_gradient_descent(K, y, 2.5, 0.1)
    with pytest.raises(ValueError, match="steps"):
        kernel_gradient_descent(K, y, [1, -1], 0.1)
    with pytest.raises(ValueError, match="steps"):
        kernel_gradient_descent(K, y, [], 0.1)
    with pytest.raises(ValueError):
        kernel_gradient_descent(K, torch.ones(4, dtype=torch.float64), 3, 0.1)


# ----------------------------------------------------------------------------------------------- two-layer nets
def _two_layer_batch(seed=0, s=3, m=7, d=4, n=5):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(s, m, d, generator=gen, dtype=torch.float64),
            torch.randn(s, m, generator=gen, dtype=torch.float64),
            torch.randn(n, d, generator=gen, dtype=torch.float64))


def test_two_layer_ntk_and_gd_step_agree_with_autograd():
    from dltnotes.kernels import two_layer_gd_step, two_layer_ntk, two_layer_outputs
    a, b, x = _two_layer_batch()
    y = torch.randn(5, dtype=torch.float64)
    for k in range(a.shape[0]):
        def f(params):
            ak, bk = params[:28].reshape(7, 4), params[28:]
            return two_layer_outputs(ak[None], bk[None], x)[0]
        theta = torch.cat([a[k].flatten(), b[k]])
        jac = torch.autograd.functional.jacobian(f, theta)                 # (n, m d + m)
        torch.testing.assert_close(two_layer_ntk(a, b, x)[k], jac @ jac.T, rtol=1e-12, atol=1e-12)
        grad = torch.autograd.functional.jacobian(lambda t: 0.5 * (f(t) - y).pow(2).mean(), theta)
        a1, b1 = two_layer_gd_step(a, b, x, y, 0.1)
        torch.testing.assert_close(torch.cat([a1[k].flatten(), b1[k]]), theta - 0.1 * grad,
                                   rtol=1e-12, atol=1e-12)


def test_two_layer_outputs_match_the_mlp_of_the_ntk_chapter():
    from dltnotes.kernels import empirical_ntk, two_layer_ntk, two_layer_outputs
    from dltnotes.training import MLP
    net = MLP(4, 16, 1, seed=0).double()
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    a, b = net.layers[0].weight.detach()[None], net.layers[1].weight.detach()
    torch.testing.assert_close(two_layer_outputs(a, b, x / 2)[0], net(x).reshape(-1), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(two_layer_ntk(a, b, x / 2)[0], empirical_ntk(net, x), rtol=1e-10, atol=1e-12)


def test_two_layer_helpers_reject_bad_input():
    from dltnotes.kernels import two_layer_gd_step, two_layer_ntk, two_layer_outputs
    a, b, x = _two_layer_batch()
    with pytest.raises(ValueError):
        two_layer_outputs(a, b[:, :3], x)
    with pytest.raises(ValueError):
        two_layer_ntk(a, b, x[:, :3])
    with pytest.raises(ValueError):
        two_layer_outputs(a[0], b, x)
    with pytest.raises(TypeError):
        two_layer_ntk(a, b, x.long())
    with pytest.raises(ValueError):
        two_layer_gd_step(a, b, x, torch.zeros(4, dtype=torch.float64), 0.1)
    with pytest.raises(ValueError):
        two_layer_gd_step(a, b, x, torch.zeros(5, dtype=torch.float64), 0.0)
