import numpy as np
import pytest
import torch

from dltnotes.factorization import (completion_flow, diagonal_net_gd, dual_slack_exponent,
                                    entropy_projection, matrix_sensing_gd, min_l1_nonneg, min_trace_psd,
                                    sense, symmetric_sensing)


def _sparse_problem(seed=0, m=20, d=80, k=3):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, d)) / np.sqrt(m)
    x = np.zeros(d)
    S = np.sort(rng.choice(d, k, replace=False))
    x[S] = rng.uniform(0.5, 1.5, k)
    return A, A @ x, x, S


def _sensing_problem(n=8, m=40, rank=1, seed=0):
    gen = torch.Generator().manual_seed(seed)
    A = symmetric_sensing(m, n, generator=gen, device="cpu")
    F = torch.randn(n, rank, generator=gen, dtype=torch.float64)
    X0 = F @ F.T
    return A, sense(A, X0), X0.numpy()


def _certificate(A, y, X, nu):
    """(relative residual, relative duality gap, λ_min of the dual slack) of a claimed solution."""
    A = A.numpy() if isinstance(A, torch.Tensor) else A
    y = y.numpy() if isinstance(y, torch.Tensor) else y
    resid = np.linalg.norm(np.einsum("mij,ij->m", A, X) - y) / np.linalg.norm(y)
    gap = abs(np.trace(X) - y @ nu) / max(1.0, np.trace(X))
    S = np.eye(X.shape[0]) - np.einsum("m,mij->ij", nu, A)
    return resid, gap, np.linalg.eigvalsh((S + S.T) / 2)[0]


# ------------------------------------------------------------------------------------------- min_l1_nonneg
def test_min_l1_nonneg_recovers_a_sparse_vector_with_a_dual_certificate():
    A, y, x_star, _ = _sparse_problem()
    x, nu = min_l1_nonneg(A, y, dual=True)
    assert x.shape == x_star.shape and x.dtype == np.float64 and (x >= 0).all()
    assert np.abs(x - x_star).max() <= 1e-9
    assert (A.T @ nu).max() <= 1 + 1e-9                       # dual feasible
    assert abs(y @ nu - x.sum()) <= 1e-9 * x.sum()             # strong duality
    x_t = min_l1_nonneg(torch.as_tensor(A), torch.as_tensor(y))  # tensors accepted
    assert np.allclose(x_t, x)


def test_min_l1_nonneg_solved_by_hand():
    # x1 + 2 x2 = 2, x ≥ 0: the sum is 2 − x2, least at x = (0, 1)
    assert np.allclose(min_l1_nonneg([[1.0, 2.0]], [2.0]), [0.0, 1.0], atol=1e-12)


def test_min_l1_nonneg_rejects_bad_input_and_infeasible_programmes():
    with pytest.raises(ValueError, match="infeasible"):
        min_l1_nonneg([[1.0, 1.0]], [-1.0])
    with pytest.raises(ValueError, match="one entry per row"):
        min_l1_nonneg(np.ones((2, 3)), np.ones(3))
    with pytest.raises(ValueError, match="2 dimensions"):
        min_l1_nonneg(np.ones(3), np.ones(1))
    with pytest.raises(ValueError, match="NaN"):
        min_l1_nonneg([[1.0, np.nan]], [1.0])
    with pytest.raises(TypeError):
        min_l1_nonneg("A", [1.0])


# ------------------------------------------------------------------------------------------- min_trace_psd
def test_min_trace_psd_solved_by_hand():
    # min tr X s.t. 2 X12 = 2, X ⪰ 0: X11 X22 ≥ 1 forces tr X ≥ 2, attained only at X = [[1, 1], [1, 1]]
    X, nu = min_trace_psd(np.array([[[0.0, 1.0], [1.0, 0.0]]]), np.array([2.0]), dual=True)
    assert np.allclose(X, np.ones((2, 2)), atol=1e-8)
    assert np.allclose(nu, [1.0], atol=1e-8)                   # S = I − A₁ = [[1, −1], [−1, 1]] ⪰ 0


def test_min_trace_psd_recovers_a_rank_one_matrix_and_certifies_it():
    A, y, X0 = _sensing_problem()
    X, nu = min_trace_psd(A, y, dual=True)
    assert X.shape == (8, 8) and X.dtype == np.float64
    assert np.array_equal(X, X.T) and np.linalg.eigvalsh(X)[0] >= -1e-12
    resid, gap, s_min = _certificate(A, y, X, nu)
    assert resid <= 1e-8 and gap <= 1e-6 and s_min >= -1e-8
    assert np.abs(X - X0).max() <= 1e-6 * np.abs(X0).max()


def test_min_trace_psd_certificate_when_the_solution_is_not_the_planted_matrix():
    # too few measurements of a rank-3 matrix: the minimiser is unknown, but the KKT certificate must hold
    A, y, X0 = _sensing_problem(n=6, m=8, rank=3, seed=3)
    X, nu = min_trace_psd(A, y, dual=True)
    resid, gap, s_min = _certificate(A, y, X, nu)
    assert resid <= 1e-8 and gap <= 1e-6 and s_min >= -1e-8
    assert np.trace(X) <= np.trace(X0) * (1 + 1e-8)           # X0 is feasible, so it cannot beat X


def test_min_trace_psd_with_commuting_measurements_is_the_linear_programme():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((4, 7))
    x0 = np.zeros(7)
    x0[[1, 5]] = [1.0, 2.0]
    A = np.stack([np.diag(row) for row in a])                  # commuting (diagonal) measurements
    X = min_trace_psd(A, a @ x0)
    assert np.abs(X - np.diag(np.diag(X))).max() <= 1e-7
    assert np.allclose(np.diag(X), min_l1_nonneg(a, a @ x0), atol=1e-6)


def test_min_trace_psd_zero_measurements_give_zero():
    A, _, _ = _sensing_problem()
    assert np.array_equal(min_trace_psd(A, np.zeros(A.shape[0])), np.zeros((8, 8)))


def test_min_trace_psd_rejects_bad_input():
    A, y, _ = _sensing_problem()
    with pytest.raises(ValueError, match="3 dimensions"):
        min_trace_psd(A[0], y)
    with pytest.raises(ValueError, match="square"):
        min_trace_psd(np.ones((2, 3, 4)), np.ones(2))
    with pytest.raises(ValueError, match="one entry per measurement"):
        min_trace_psd(A, y[:-1])
    bad = A.numpy().copy()
    bad[3, 0, 1] += 1.0
    with pytest.raises(ValueError, match="symmetric"):
        min_trace_psd(bad, y)
    with pytest.raises(ValueError, match="NaN"):
        min_trace_psd(A, np.r_[y[:-1].numpy(), np.nan])
    with pytest.raises(ValueError, match="tol"):
        min_trace_psd(A, y, tol=1e-3)
    twice = np.stack([A[0].numpy(), A[0].numpy()])
    with pytest.raises(ValueError, match="inconsistent"):
        min_trace_psd(twice, np.array([1.0, 2.0]))


@pytest.mark.parametrize("A, y", [
    (np.eye(2)[None], [-1.0]),                                                      # tr X = −1
    (np.array([[[1.0, 0], [0, 0]], [[0, 0], [0, 1.0]], [[0, 1.0], [1.0, 0]]]), [1.0, 1.0, 4.0]),  # |X12| > 1
])
def test_min_trace_psd_detects_infeasibility(A, y):
    with pytest.raises(ValueError, match="infeasible"):
        min_trace_psd(A, y)


def test_min_trace_psd_weakly_infeasible_programme_is_a_runtime_error():
    # X11 = 0 and X12 = 1: no PSD solution, but no Farkas certificate either
    A = np.array([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 1.0], [1.0, 0.0]]])
    with pytest.raises(RuntimeError, match="did not reach"):
        min_trace_psd(A, [0.0, 2.0], max_iter=500)


# ------------------------------------------------------------------------------------- entropy_projection
def test_entropy_projection_closed_form_with_one_constraint():
    # x = x0 exp(ν) with (a + b) e^ν = s
    x = entropy_projection([[1.0, 1.0]], [3.0], [0.5, 1.5])
    assert np.allclose(x, [0.75, 2.25], rtol=1e-12)


def test_entropy_projection_satisfies_its_optimality_conditions():
    A, y, _, _ = _sparse_problem(seed=4)
    x0 = np.random.default_rng(4).uniform(0.1, 2.0, A.shape[1])
    x, nu = entropy_projection(A, y, x0, dual=True)
    assert np.abs(A @ x - y).max() <= 1e-12
    assert np.allclose(np.log(x / x0), A.T @ nu, atol=1e-10)
    # log(x/x0) ∈ range(Aᵀ): the least-squares residual vanishes
    coef = np.linalg.lstsq(A.T, np.log(x / x0), rcond=None)[0]
    assert np.abs(A.T @ coef - np.log(x / x0)).max() <= 1e-9


def test_entropy_projection_tends_to_the_linear_programme():
    A, y, x_star, _ = _sparse_problem(seed=5)
    dist = [np.abs(entropy_projection(A, y, a**2) - x_star).max() for a in (1e-1, 1e-3, 1e-5)]
    assert dist[0] > dist[1] > dist[2] and dist[2] < 1e-3


def test_entropy_projection_rejects_bad_input():
    with pytest.raises(ValueError, match="positive"):
        entropy_projection([[1.0, 1.0]], [1.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="full row rank"):
        entropy_projection([[1.0, 1.0], [2.0, 2.0]], [1.0, 2.0], 1.0)
    with pytest.raises(ValueError, match="shape"):
        entropy_projection([[1.0, 1.0]], [1.0], [1.0, 1.0, 1.0])
    with pytest.raises((ValueError, RuntimeError)):
        entropy_projection([[1.0, 1.0]], [-1.0], 1.0)            # no positive interpolant
    # y on the boundary of the cone: the projection's limit, with the vanishing coordinate tiny
    assert np.allclose(entropy_projection([[1.0, 0.0], [0.0, 1.0]], [1.0, 0.0], 1.0), [1.0, 0.0],
                       atol=1e-12)


# ------------------------------------------------------------------------------------ dual_slack_exponent
def test_dual_slack_exponent_solved_by_hand_and_seen_in_the_entropic_limit():
    # S = {0}: μ₁ = 1; off-support a₁ᵀμ = ½ + μ₂, a₂ᵀμ = ½ − μ₂, so min max = ½ and c = ½
    A = np.array([[1.0, 0.5, 0.5], [0.0, 1.0, -1.0]])
    c = dual_slack_exponent(A, [0])
    assert abs(c - 0.5) <= 1e-12
    y = A[:, 0]                                                  # x* = e₀
    alphas = (1e-4, 1e-5)
    mass = [entropy_projection(A, y, a**2)[1:].sum() for a in alphas]
    slope = np.log(mass[1] / mass[0]) / np.log(alphas[1] / alphas[0])
    assert abs(slope - 2 * c) <= 0.02                            # off-support mass ≈ α^(2c)


def test_dual_slack_exponent_rejects_unique_interpolants_and_bad_supports():
    with pytest.raises(ValueError, match="unbounded"):
        dual_slack_exponent([[1.0, 1.0], [0.0, 1.0]], [0])
    A = np.ones((2, 4))
    for bad in ([], [0, 0], [5], [0, 1, 2, 3], [0.5]):
        with pytest.raises(ValueError, match="support"):
            dual_slack_exponent(A, bad)


# ---------------------------------------------------------------------------------------- diagonal_net_gd
def test_diagonal_net_gradient_matches_autograd():
    A, y, _, _ = _sparse_problem(m=6, d=12, k=2)
    lr, alpha = 0.05, 0.3
    u = torch.full((12,), alpha, dtype=torch.float64, requires_grad=True)
    At, yt = torch.as_tensor(A), torch.as_tensor(y)
    for _ in range(5):
        loss = 0.5 * ((At @ (u * u) - yt) ** 2).sum()
        (g,) = torch.autograd.grad(loss, u)
        with torch.no_grad():
            u -= lr * g
    run = diagonal_net_gd(A, y, alpha=alpha, lr=lr, steps=5, device="cpu")
    assert np.allclose(run.x, (u * u).detach().numpy(), rtol=1e-13)


def test_diagonal_net_exact_invariant_and_entropy_projection():
    A, y, _, _ = _sparse_problem(seed=1)
    run = diagonal_net_gd(A, y, alpha=1e-2, lr=0.01, steps=1500, record_steps=[0], device="cpu")
    assert np.allclose(np.log(run.x), np.log(run.x0_eff) + A.T @ run.nu, rtol=0, atol=1e-11)
    assert (run.x0_eff <= 1e-4 * (1 + 1e-12)).all()              # the effective init is smaller
    assert np.allclose(entropy_projection(A, A @ run.x, run.x0_eff), run.x, rtol=1e-9)
    assert run.loss[-1] < run.loss[0]


def test_diagonal_net_batches_and_records():
    A, y, _, _ = _sparse_problem(m=6, d=12, k=2)
    both = diagonal_net_gd(A, y, alpha=[0.1, 0.01], lr=0.05, steps=40, record_steps=[0, 10, 40],
                           device="cpu")
    one = diagonal_net_gd(A, y, alpha=0.01, lr=0.05, steps=40, record_steps=[0, 10], device="cpu")
    assert both.x.shape == (2, 12) and both.xs.shape == (3, 2, 12) and both.loss.shape == (3, 2)
    assert one.x.shape == (12,) and one.xs.shape == (3, 12) and list(one.steps) == [0, 10, 40]
    assert np.allclose(both.x[1], one.x, rtol=1e-14) and np.allclose(one.xs[0], 1e-4)


def test_diagonal_net_rejects_bad_input():
    A, y, _, _ = _sparse_problem(m=6, d=12, k=2)
    for kwargs in ({"alpha": 0.0}, {"alpha": -1.0}, {"lr": 0.0}, {"steps": -1},
                   {"record_steps": [20]}, {"alpha": np.ones((2, 2))}):
        args = {"alpha": 0.1, "lr": 0.01, "steps": 10, **kwargs}
        with pytest.raises(ValueError):
            diagonal_net_gd(A, y, device="cpu", **args)
    with pytest.raises(TypeError):
        diagonal_net_gd(A, y, alpha=True, lr=0.01, steps=1)
    with pytest.raises(ValueError, match="one entry per row"):
        diagonal_net_gd(A, y[:-1], alpha=0.1, lr=0.01, steps=1)


# ----------------------------------------------------------------------------------------- matrix sensing
def test_symmetric_sensing_is_symmetric_and_isotropic():
    gen = torch.Generator().manual_seed(0)
    A = symmetric_sensing(20_000, 3, generator=gen, device="cpu")
    assert A.shape == (20_000, 3, 3) and A.dtype == torch.float64 and torch.equal(A, A.transpose(1, 2))
    X = torch.tensor([[1.0, 2.0, 0.0], [2.0, -1.0, 0.5], [0.0, 0.5, 3.0]], dtype=torch.float64)
    sq = sense(A, X) ** 2                                        # E⟨A, X⟩² = ‖X‖_F²
    assert abs(sq.mean() - (X**2).sum()) <= 4 * sq.std() / np.sqrt(len(sq))
    with pytest.raises(ValueError):
        symmetric_sensing(0, 3)


def test_sense_shapes_and_errors():
    A, _, X0 = _sensing_problem()
    X = torch.as_tensor(X0)
    assert torch.allclose(sense(A, X), torch.einsum("mij,ij->m", A, X))
    assert sense(A, torch.stack([X, 2 * X])).shape == (2, 40)
    with pytest.raises(ValueError, match="X must have shape"):
        sense(A, X[:3])
    with pytest.raises(TypeError):
        sense(A, X0)


def test_matrix_sensing_gd_gradient_matches_autograd():
    A, y, _ = _sensing_problem(n=5, m=12)
    lr, alpha = 0.05, 0.5
    U = (alpha * torch.eye(5, dtype=torch.float64)).requires_grad_(True)
    for _ in range(3):
        loss = ((sense(A, U @ U.T) - y) ** 2).sum() / (2 * 12)
        (g,) = torch.autograd.grad(loss, U)
        with torch.no_grad():
            U -= lr * g
    run = matrix_sensing_gd(A, y, alpha=alpha, lr=lr, steps=3)
    assert np.allclose(run.X[0], (U @ U.T).detach().numpy(), rtol=1e-12)


def test_commuting_sensing_is_the_diagonal_network():
    # diagonal A_i: GD on U from αI stays diagonal and equals the diagonal network with rows a_i/√m
    rng = np.random.default_rng(1)
    m, n = 4, 6
    a = rng.standard_normal((m, n))
    x0 = np.zeros(n)
    x0[[0, 3]] = [1.0, 0.5]
    A = torch.as_tensor(np.stack([np.diag(row) for row in a]))
    y = torch.as_tensor(a @ x0)
    run = matrix_sensing_gd(A, y, alpha=0.1, lr=0.05, steps=200)
    diag = diagonal_net_gd(a / np.sqrt(m), a @ x0 / np.sqrt(m), alpha=0.1, lr=0.05, steps=200,
                           device="cpu")
    assert np.abs(run.X[0] - np.diag(np.diag(run.X[0]))).max() <= 1e-15
    assert np.allclose(np.diag(run.X[0]), diag.x, rtol=1e-11)


def test_matrix_sensing_gd_records_and_rejects_bad_input():
    A, y, _ = _sensing_problem()
    run = matrix_sensing_gd(A, y, alpha=[0.1, 0.01], lr=0.05, steps=30, record_every=10)
    assert run.X.shape == (2, 8, 8) and list(run.steps) == [0, 10, 20, 30]
    assert run.eigs.shape == (4, 2, 8) and (np.diff(run.eigs, axis=-1) <= 1e-15).all()
    assert run.residual.shape == (4, 2) and (run.residual[-1] < run.residual[0]).all()
    with pytest.raises(TypeError, match="float64"):
        matrix_sensing_gd(A.float(), y.float(), alpha=0.1, lr=0.1, steps=1)
    with pytest.raises(ValueError, match="symmetric"):
        matrix_sensing_gd(A + torch.triu(torch.ones(8, 8, dtype=torch.float64), 1), y, alpha=0.1,
                          lr=0.1, steps=1)
    with pytest.raises(ValueError, match="y must have shape"):
        matrix_sensing_gd(A, y[:-1], alpha=0.1, lr=0.1, steps=1)
    with pytest.raises(ValueError, match="alpha"):
        matrix_sensing_gd(A, y, alpha=-0.1, lr=0.1, steps=1)
    with pytest.raises(TypeError):
        matrix_sensing_gd(A.numpy(), y, alpha=0.1, lr=0.1, steps=1)


# ---------------------------------------------------------------------------------------- completion_flow
def test_completion_flow_depth_one_is_exponential_decay():
    target = np.array([[0.0, 1.0], [1.0, 0.0]])
    mask = np.array([[0.0, 1.0], [1.0, 1.0]])
    W0 = np.array([[0.3, -0.2], [0.5, 0.7]])
    times = np.array([0.5, 1.0, 2.0])
    fl = completion_flow(target, mask, W0[None], times)
    expected = W0 + mask * (target - W0) * (1 - np.exp(-times))[:, None, None]
    assert np.allclose(fl.W, expected, rtol=1e-8, atol=1e-10)
    assert np.isnan(fl.logdet_change).all()                      # det W crosses 0 here: no log-det law


def test_completion_flow_balanced_depth_two_keeps_balance_and_the_logdet_law():
    target = np.array([[0.0, 1.0], [1.0, 0.0]])
    mask = np.array([[0.0, 1.0], [1.0, 1.0]])
    c, s = np.cos(0.7), np.sin(0.7)
    W1 = 0.3 * np.array([[c, -s], [s, c]])
    W2 = 0.3 * np.array([[c, s], [-s, c]]) @ np.array([[0.0, -1.0], [1.0, 0.0]])
    fl = completion_flow(target, mask, np.stack([W1, W2]), np.array([1.0, 5.0, 10.0]))
    for f in fl.factors:
        assert np.allclose(f[1].T @ f[1] - f[0] @ f[0].T, 0.0, atol=1e-8)   # balancedness conserved
    logdet = np.log(np.abs(np.linalg.det(fl.W))) - np.log(np.abs(np.linalg.det(W2 @ W1)))
    assert np.allclose(fl.logdet_change, logdet, atol=1e-7)


def test_completion_flow_rejects_bad_input():
    t, mk, W = np.eye(2), np.ones((2, 2)), np.eye(2)[None]
    with pytest.raises(ValueError, match="zeros and ones"):
        completion_flow(t, 0.5 * mk, W, [1.0])
    with pytest.raises(ValueError, match="shape"):
        completion_flow(t, mk, np.eye(3)[None], [1.0])
    with pytest.raises(ValueError, match="increasing"):
        completion_flow(t, mk, W, [1.0, 1.0])
    with pytest.raises(ValueError, match="square"):
        completion_flow(np.ones((2, 3)), np.ones((2, 3)), W, [1.0])
