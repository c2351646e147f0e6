import math

import numpy as np
import pytest
import torch

from dltnotes.theory import (
    MemorisingReLUNet,
    empirical_rademacher,
    linear_rademacher_bound,
    weak_features_risk,
    weak_features_risk_mc,
    weak_features_test_errors,
)


# ----------------------------------------------------------------------------------------------- weak features
def test_weak_features_risk_three_regimes():
    n = 20
    # under-parameterised: τ²(1 + p/(n − p − 1)); τ² = ‖β_Tᶜ‖² + σ²
    assert weak_features_risk(n, 5, 2.0, 0.5, 0.25) == pytest.approx(0.75 * (1 + 5 / 14), rel=1e-15)
    assert weak_features_risk(n, n - 2, 1.0, 1.0) == pytest.approx(1.0 * (1 + 18 / 1), rel=1e-15)
    # the infinite region n − 1 ≤ p ≤ n + 1
    for p in (n - 1, n, n + 1):
        assert weak_features_risk(n, p, 1.0, 1.0, 0.1) == math.inf
    # over-parameterised: ‖β_T‖²(1 − n/p) + τ²(1 + n/(p − n − 1))
    assert weak_features_risk(n, 40, 2.0, 0.5, 0.25) == pytest.approx(2.0 * 0.5 + 0.75 * (1 + 20 / 19), rel=1e-15)


def test_weak_features_risk_noiseless_full_model_limits():
    # every feature used and no noise: the under-parameterised risk is exactly 0 (OLS recovers β) ...
    assert weak_features_risk(30, 10, 1.0, 0.0) == 0.0
    # ... and far past the threshold the risk tends to ‖β_T‖² (the fit shrinks to zero)
    assert weak_features_risk(10, 10**7, 1.0, 0.0) == pytest.approx(1.0, rel=1e-5)


def test_weak_features_risk_rejects_bad_arguments():
    with pytest.raises(ValueError, match="p must be >= 1"):
        weak_features_risk(10, 0, 1.0, 1.0)
    with pytest.raises(ValueError, match="n must be >= 1"):
        weak_features_risk(0, 3, 1.0, 1.0)
    with pytest.raises(ValueError, match="beta_T_norm2"):
        weak_features_risk(10, 3, -1.0, 1.0)
    with pytest.raises(ValueError, match="beta_Tc_norm2"):
        weak_features_risk(10, 3, 1.0, -0.1)
    with pytest.raises(ValueError, match="sigma2"):
        weak_features_risk(10, 3, 1.0, 1.0, -1.0)
    with pytest.raises(ValueError, match="finite"):
        weak_features_risk(10, 3, float("nan"), 1.0)
    with pytest.raises(TypeError, match="integer"):
        weak_features_risk(10.0, 3, 1.0, 1.0)


@pytest.mark.parametrize("p, random_subset", [(5, False), (30, False), (5, True), (30, True)])
def test_weak_features_risk_mc_agrees_with_closed_form_and_rejects_the_plug_in_rival(p, random_subset):
    n, D, sigma2 = 16, 40, 0.3
    beta = 1.0 / torch.arange(1, D + 1, dtype=torch.float64)
    est = weak_features_risk_mc(n, p, beta, sigma2=sigma2, trials=4000, random_subset=random_subset, seed=3,
                                device="cpu")
    b2 = beta.pow(2)
    if random_subset:
        bt, btc = p / D * b2.sum().item(), (1 - p / D) * b2.sum().item()
    else:
        bt, btc = b2[:p].sum().item(), b2[p:].sum().item()
    exact = weak_features_risk(n, p, bt, btc, sigma2)
    tau2 = btc + sigma2            # the rival: Gram matrices replaced by their means (no Wishart fluctuations)
    plug_in = tau2 * (1 + p / n) if p < n else bt * (1 - n / p) ** 2 + tau2 * (1 + n / p)
    assert est.n == 4000
    assert abs(est.mean - exact) <= 4 * est.se          # Monte Carlo tolerance: 4 standard errors
    assert abs(est.mean - plug_in) > 4 * est.se         # ... which the wrong theory misses


def test_weak_features_test_errors_draws_the_unused_features():
    # noiseless, β entirely outside T: β̂ fits only noise-like labels, so the error exceeds ‖β‖² = 1 by
    # the variance term p/(n − p − 1) — a simulation that ignored the unused features would return 0
    n, p = 30, 5
    beta = torch.zeros(8, dtype=torch.float64)
    beta[p:] = 1 / math.sqrt(3)
    errors = weak_features_test_errors(n, [p], beta, trials=4000, seed=0, device="cpu")[:, 0]
    mean, se = errors.mean().item(), errors.std().item() / math.sqrt(4000)
    assert abs(mean - (1 + p / (n - p - 1))) <= 4 * se
    assert mean - 1 > 4 * se


def test_weak_features_test_errors_shape_nesting_and_seed():
    beta = 1.0 / torch.arange(1, 11, dtype=torch.float64)
    a = weak_features_test_errors(6, [2, 10, 4], beta, trials=7, test_points=3, seed=2, device="cpu")
    assert a.shape == (7, 3) and a.dtype == torch.float64 and (a >= 0).all()
    assert torch.equal(a, weak_features_test_errors(6, [2, 10, 4], beta, trials=7, test_points=3, seed=2,
                                                    device="cpu"))
    # the columns share the training set: the same p alone gives the same column
    assert torch.equal(a[:, 1], weak_features_test_errors(6, [10], beta, trials=7, test_points=3, seed=2,
                                                          device="cpu")[:, 0])
    # random order: the same draws, a fresh feature order per trial
    r = weak_features_test_errors(6, [2, 10, 4], beta, trials=7, test_points=3, random_subset=True, seed=2,
                                  device="cpu")
    assert torch.allclose(r[:, 1], a[:, 1], rtol=1e-9, atol=1e-12)     # p = D: the same fit, reordered
    assert not torch.allclose(r[:, 0], a[:, 0])


def test_weak_features_risk_mc_is_seeded_and_exact_when_well_posed():
    beta = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    a = weak_features_risk_mc(10, 3, beta, trials=5, seed=1, device="cpu")
    b = weak_features_risk_mc(10, 3, beta, trials=5, seed=1, device="cpu")
    assert a == b
    # noiseless, all features, n > p: least squares recovers β, so every test error is round-off
    assert a.mean < 1e-20 and a.se < 1e-20


def test_weak_features_risk_mc_rejects_bad_arguments():
    beta = torch.ones(5, dtype=torch.float64)
    with pytest.raises(ValueError, match="p must be <= 5"):
        weak_features_risk_mc(10, 6, beta)
    with pytest.raises(ValueError, match="1 dimensions"):
        weak_features_risk_mc(10, 2, beta[None, :])
    with pytest.raises(TypeError, match="floating"):
        weak_features_risk_mc(10, 2, torch.ones(5, dtype=torch.int64))
    with pytest.raises(ValueError, match="NaN"):
        weak_features_risk_mc(10, 2, torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="trials must be >= 2"):
        weak_features_risk_mc(10, 2, beta, trials=1)
    with pytest.raises(TypeError, match="bool"):
        weak_features_risk_mc(10, 2, beta, random_subset=1)
    with pytest.raises(ValueError, match="sigma2"):
        weak_features_risk_mc(10, 2, beta, sigma2=-1.0)
    with pytest.raises(ValueError, match="test_points must be >= 1"):
        weak_features_risk_mc(10, 2, beta, test_points=0)
    with pytest.raises(ValueError, match="at least one"):
        weak_features_test_errors(10, [], beta)
    with pytest.raises(TypeError, match="integer"):
        weak_features_test_errors(10, [2.5], beta)


# ----------------------------------------------------------------------------------------------- Rademacher
def test_empirical_rademacher_closed_forms_on_tiny_samples():
    # one point: sup = r‖σ x‖/1 = r‖x‖ whatever the sign, so the estimate is exact with zero spread
    x = torch.tensor([[3.0, 4.0]], dtype=torch.float64)
    est = empirical_rademacher(x, radius=2.0, draws=10)
    assert est.mean == pytest.approx(10.0, rel=1e-15) and est.se == pytest.approx(0.0, abs=1e-15)
    # ℓ1 ball: dual norm ℓ∞
    assert empirical_rademacher(x, norm="l1", draws=10).mean == pytest.approx(4.0, rel=1e-15)
    # two orthogonal unit vectors: ‖σ1 e1 + σ2 e2‖ = √2 always, divided by n = 2
    e = torch.eye(2, dtype=torch.float64)
    assert empirical_rademacher(e, draws=10).mean == pytest.approx(math.sqrt(2) / 2, rel=1e-15)


def test_empirical_rademacher_under_the_linear_bound_and_seeded():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(50, 8, generator=gen, dtype=torch.float64)
    est = empirical_rademacher(x, draws=2000, seed=4)
    assert est == empirical_rademacher(x, draws=2000, seed=4)
    # Jensen: R ≤ sqrt(Σ‖x_i‖²)/n ≤ max‖x_i‖/√n
    jensen = x.pow(2).sum().sqrt().item() / 50
    assert est.mean <= jensen + 4 * est.se
    assert jensen <= linear_rademacher_bound(x)
    assert linear_rademacher_bound(x, radius=3.0) == pytest.approx(3 * x.norm(dim=1).max().item() / math.sqrt(50))


def test_empirical_rademacher_rejects_bad_arguments():
    x = torch.ones(3, 2)
    with pytest.raises(ValueError, match="norm must be"):
        empirical_rademacher(x, norm="linf")
    with pytest.raises(ValueError, match="radius"):
        empirical_rademacher(x, radius=0.0)
    with pytest.raises(ValueError, match="2 dimensions"):
        empirical_rademacher(torch.ones(3))
    with pytest.raises(TypeError, match="floating"):
        empirical_rademacher(torch.ones(3, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="draws must be >= 2"):
        empirical_rademacher(x, draws=1)
    with pytest.raises(ValueError, match="radius"):
        linear_rademacher_bound(x, radius=-1.0)


# ----------------------------------------------------------------------------------------------- memorisation
def test_memorising_net_has_2n_plus_d_parameters_and_interpolates():
    gen = torch.Generator().manual_seed(0)
    n, d = 30, 7
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.randn(n, generator=gen, dtype=torch.float64)
    net = MemorisingReLUNet(x, y, seed=1)
    assert sum(p.numel() for p in net.parameters()) == 2 * n + d
    A = net.hidden(x)
    assert torch.equal(A, torch.relu((x @ net.a)[:, None] - net.b[None, :]))
    # backward-stable triangular solve plus a matrix-vector product: residual ≤ 2 n u (|A| |w|)
    u = torch.finfo(torch.float64).eps / 2
    bound = 2 * n * u * (A.abs() @ net.w.abs())
    assert ((net(x) - y).abs() <= bound).all()
    # integer class labels work too, and rounding recovers them exactly
    labels = torch.randint(0, 10, (n,), generator=gen)
    assert torch.equal(MemorisingReLUNet(x, labels)(x).round().long(), labels)


def test_memorising_net_single_point_and_errors():
    x = torch.tensor([[1.0, 2.0]])
    assert MemorisingReLUNet(x, torch.tensor([5.0]))(x).item() == pytest.approx(5.0)
    with pytest.raises(ValueError, match="distinct"):
        MemorisingReLUNet(torch.ones(3, 2), torch.zeros(3))
    with pytest.raises(ValueError, match="rows but y"):
        MemorisingReLUNet(torch.randn(3, 2), torch.zeros(4))
    with pytest.raises(ValueError, match="NaN"):
        MemorisingReLUNet(torch.randn(2, 2), torch.tensor([0.0, float("inf")]))
    with pytest.raises(ValueError, match="columns"):
        MemorisingReLUNet(torch.randn(2, 2), torch.zeros(2))(torch.randn(1, 3))


# ----------------------------------------------------------------------------------------------- VC dimension
def test_interval_labellings_count_is_the_sauer_shelah_sum_and_respects_order():
    from dltnotes.theory import interval_labellings, sauer_shelah_bound
    x = torch.tensor([0.3, -1.0, 2.0, 0.1, 5.0], dtype=torch.float64)
    labels = interval_labellings(x)
    assert len(labels) == sauer_shelah_bound(5, 2) == 16
    # the block {0.1, 0.3} in sorted order is the pattern (+, −, −, +, −) in the given order
    assert any(torch.equal(row, torch.tensor([1.0, -1, -1, 1, -1], dtype=torch.float64)) for row in labels)
    assert not any(torch.equal(row, torch.tensor([1.0, 1, -1, -1, -1], dtype=torch.float64))
                   for row in labels)  # {−1, 0.3} skips 0.1: not an interval


def test_halfplane_labellings_match_an_lp_feasibility_count_and_cover():
    import itertools

    from scipy.optimize import linprog

    from dltnotes.theory import cover_count, halfplane_labellings
    x = torch.randn(7, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    feasible = 0
    for lab in itertools.product((-1.0, 1.0), repeat=7):
        a_ub = [[-s * x[i, 0].item(), -s * x[i, 1].item(), -s] for i, s in enumerate(lab)]
        feasible += linprog([0, 0, 0], A_ub=a_ub, b_ub=[-1.0] * 7, bounds=[(None, None)] * 3).status == 0
    labels = halfplane_labellings(x)
    assert len(labels) == feasible == cover_count(7, 2) == 7 * 7 - 7 + 2
    assert len(halfplane_labellings(x[:3])) == 8          # three points in general position: shattered


def test_sauer_shelah_and_cover_small_cases():
    from dltnotes.theory import cover_count, sauer_shelah_bound
    assert sauer_shelah_bound(3, 5) == 8 and sauer_shelah_bound(0, 2) == 1 and sauer_shelah_bound(4, 0) == 1
    assert cover_count(1, 2) == 2 and cover_count(4, 3) == 16      # n ≤ dim + 1: every labelling


def test_rademacher_of_labellings_exact_small_sets():
    from dltnotes.theory import rademacher_of_labellings
    every = torch.tensor([[a, b] for a in (-1.0, 1.0) for b in (-1.0, 1.0)], dtype=torch.float64)
    assert rademacher_of_labellings(every) == pytest.approx(1.0)
    assert rademacher_of_labellings(every[:1]) == pytest.approx(0.0)
    # {(1, 1), (−1, −1)}: E max(σ₁ + σ₂, −σ₁ − σ₂)/2 = E|σ₁ + σ₂|/2 = ½
    assert rademacher_of_labellings(every[[0, 3]]) == pytest.approx(0.5)


def test_threshold_uniform_gap_matches_a_fine_grid_of_thresholds():
    from dltnotes.theory import threshold_uniform_gap
    x = torch.rand(4, 9, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    exact = threshold_uniform_gap(x)
    ts = torch.linspace(0, 1, 100_001, dtype=torch.float64)
    lo, hi = ts.clamp(max=0.5), ts.clamp(min=0.5)
    for k in range(4):
        err = ((x[k][None] >= lo[:, None]) & (x[k][None] < hi[:, None])).double().mean(1)
        grid = ((ts - 0.5).abs() - err).max().item()
        assert grid <= exact[k].item() + 1e-12 and exact[k].item() - grid < 2e-5


def test_fit_logistic_agrees_with_sklearn():
    from sklearn.linear_model import LogisticRegression

    from dltnotes.theory import fit_logistic
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(60, 4, generator=gen, dtype=torch.float64)
    y = torch.where(x[:, 0] + 0.5 * torch.randn(60, generator=gen, dtype=torch.float64) > 0, 1.0, -1.0)
    lam = 0.1
    theta = fit_logistic(x, y, weight_decay=lam)
    ref = LogisticRegression(C=1 / (60 * lam), fit_intercept=False, tol=1e-12, max_iter=10_000).fit(x, y)
    z = y[:, None] * x
    grad = -(z * torch.sigmoid(-(z @ theta))[:, None]).mean(0) + lam * theta   # first-order condition
    assert grad.norm().item() < 1e-12
    np.testing.assert_allclose(theta.numpy(), ref.coef_[0], atol=1e-6)     # sklearn stops at its own tol


@pytest.mark.parametrize("call, error", [
    (lambda t: t.interval_labellings(torch.zeros(2, 2)), ValueError),
    (lambda t: t.interval_labellings(torch.zeros(3, dtype=torch.int64)), TypeError),
    (lambda t: t.halfplane_labellings(torch.zeros(3, 3)), ValueError),
    (lambda t: t.halfplane_labellings(torch.tensor([[0.0, 0], [1, 1], [2, 2]])), ValueError),
    (lambda t: t.sauer_shelah_bound(-1, 2), ValueError),
    (lambda t: t.cover_count(0, 2), ValueError),
    (lambda t: t.rademacher_of_labellings(torch.ones(2, 21)), ValueError),
    (lambda t: t.threshold_uniform_gap(torch.full((2, 3), 1.5)), ValueError),
    (lambda t: t.fit_logistic(torch.zeros(3, 2), torch.tensor([1.0, 0.0, 1.0]), weight_decay=0.1),
     ValueError),
    (lambda t: t.fit_logistic(torch.zeros(3, 2), torch.ones(3), weight_decay=0.0), ValueError),
])
def test_vc_helpers_reject_bad_input(call, error):
    import dltnotes.theory as t
    with pytest.raises(error):
        call(t)
