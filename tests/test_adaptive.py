import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from scipy import stats

from dltnotes.adaptive import (METHODS, adaptive_least_squares, classification_error, min_norm_interpolant,
                               ray_coefficients, sign_direction, wilson_data, wilson_design,
                               wilson_min_norm_closed_form)

F64 = torch.float64


def _problem(n=5, d=8, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=gen, dtype=F64), torch.randn(n, generator=gen, dtype=F64)


# ----------------------------------------------------------------------------------------------- the data set
@pytest.mark.parametrize("n,seed", [(3, 0), (10, 1), (60, 2)])
def test_wilson_data_has_the_construction_and_the_identity(n, seed):
    data = wilson_data(n, 0.7, n_test=50, seed=seed, device="cpu")
    x, y = data.x, data.y
    assert x.shape == (n, 3 + 5 * n) and y.shape == (n,) and x.dtype == F64
    assert data.n_pos == int((y > 0).sum()) and data.n_neg == n - data.n_pos
    assert data.n_pos > data.n_neg >= 1
    assert torch.equal(x[:, 0], y) and bool((x[:, 1:3] == 1).all())
    private = x[:, 3:].reshape(n, n, 5)                         # example i, block j, entry k
    counts = private.sum(dim=(1, 2))
    assert torch.equal(counts, torch.where(y > 0, 1.0, 5.0).to(F64))
    assert torch.equal(private.sum(2), torch.diag(counts))      # each example uses only its own block
    s = sign_direction(x, y)
    assert torch.equal(x @ s, 4 * y)                            # the lemma's hypothesis, c = 4
    assert data.x_test.shape == (50, x.shape[1])
    assert torch.equal(data.x_test[:, 0], data.y_test) and bool((data.x_test[:, 1:3] == 1).all())
    assert float(data.x_test[:, 3:].abs().sum()) == 0.0


def test_wilson_data_is_seeded_and_reports_the_hypothesis_probability():
    a, b = wilson_data(40, 0.7, n_test=30, seed=5, device="cpu"), wilson_data(40, 0.7, n_test=30, seed=5,
                                                                              device="cpu")
    assert torch.equal(a.x, b.x) and torch.equal(a.y_test, b.y_test)
    c = wilson_data(40, 0.7, n_test=30, seed=6, device="cpu")
    assert not torch.equal(a.y, c.y)
    # P(1 ≤ n₋ < n/2): n = 5 → n₋ ∈ {1, 2}
    q = 0.3
    exact = 5 * q * (1 - q) ** 4 + 10 * q**2 * (1 - q) ** 3
    assert math.isclose(wilson_data(5, 0.7, device="cpu").p_hypothesis, exact, rel_tol=1e-12)
    assert math.isclose(a.p_hypothesis, stats.binom.cdf(19, 40, 0.3) - stats.binom.pmf(0, 40, 0.3), rel_tol=1e-12)


def test_wilson_data_test_labels_have_the_right_frequency():
    data = wilson_data(10, 0.7, n_test=20_000, seed=0, device="cpu")
    frac = float((data.y_test > 0).double().mean())
    assert abs(frac - 0.7) < 4 * math.sqrt(0.21 / 20_000)


def test_wilson_data_rejects_bad_input():
    with pytest.raises(ValueError, match="n must be >= 3"):
        wilson_data(2)
    with pytest.raises(TypeError):
        wilson_data(10.0)
    for p in (0.5, 1.0, 0.2, float("nan")):
        with pytest.raises(ValueError):
            wilson_data(10, p)
    with pytest.raises(ValueError, match="n_test"):
        wilson_data(10, n_test=-1)
    with pytest.raises(ValueError, match="probability"):
        wilson_data(3, 0.9999)                                  # n₋ ≥ 1 has probability 3e-4
    with pytest.raises(TypeError, match="dtype"):
        wilson_data(10, dtype=torch.int64)


def test_wilson_design_matches_the_generator_and_validates():
    data = wilson_data(12, 0.7, seed=3, device="cpu")
    assert torch.equal(wilson_design(data.y), data.x)
    x = wilson_design(torch.tensor([-1.0, -1.0, 1.0], dtype=F64))
    assert x.shape == (3, 18) and x[:2, 3:].sum().item() == 10 and x[2, 3:].sum().item() == 1
    with pytest.raises(ValueError, match="-1 or \\+1"):
        wilson_design(torch.tensor([1.0, 0.5]))
    with pytest.raises(ValueError, match="empty"):
        wilson_design(torch.zeros(0))
    with pytest.raises(ValueError, match="dimensions"):
        wilson_design(torch.ones(2, 2))
    with pytest.raises(TypeError):
        wilson_design(torch.tensor([1, -1]))
    with pytest.raises(TypeError):
        wilson_design([1.0, -1.0])


# ------------------------------------------------------------------------------------------------ the methods
def _torch_optim(name, x, y, steps, **kw):
    w = torch.zeros(x.shape[1], dtype=x.dtype, requires_grad=True)
    opt = getattr(torch.optim, name)([w], **kw)
    out = [w.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * ((x @ w - y) ** 2).sum()).backward()
        opt.step()
        out.append(w.detach().clone())
    return torch.stack(out)


@pytest.mark.parametrize("method,name,kw", [
    ("gd", "SGD", dict(lr=0.02)),
    ("adagrad", "Adagrad", dict(lr=0.1, eps=1e-8)),
    ("rmsprop", "RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6)),
    ("adam", "Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-8)),
])
def test_readable_updates_equal_torch_optim(method, name, kw):
    x, y = _problem()
    ours_kw = {k: v for k, v in kw.items() if k in ("lr", "eps", "betas", "alpha")}
    # 40 steps: near convergence a constant-step RMSProp with small alpha behaves like sign descent and
    # amplifies round-off differences chaotically, so later iterates of two exact implementations drift apart
    ours = adaptive_least_squares(x, y, method, steps=40, **ours_kw)
    ref = _torch_optim(name, x, y, 40, **kw)
    assert list(ours.steps) == list(range(41))
    assert torch.allclose(ours.w, ref, rtol=0, atol=1e-12)


def test_record_steps_and_zero_columns():
    x, y = _problem(4, 6)
    x[:, 2] = 0.0                                               # a column that never gets a gradient
    full = adaptive_least_squares(x, y, "adam", lr=0.01, steps=20)
    some = adaptive_least_squares(x, y, "adam", lr=0.01, steps=20, record_steps=[0, 5, 20])
    assert list(some.steps) == [0, 5, 20] and torch.equal(some.w, full.w[[0, 5, 20]])
    assert bool(torch.isfinite(full.w).all()) and float(full.w[:, 2].abs().max()) == 0.0   # 0/0 read as 0
    for method in METHODS:
        path = adaptive_least_squares(x, y, method, lr=0.01, steps=3)
        assert path.w.shape == (4, 6) and float(path.w[0].abs().max()) == 0.0


def test_adaptive_least_squares_rejects_bad_input():
    x, y = _problem()
    with pytest.raises(ValueError, match="method"):
        adaptive_least_squares(x, y, "sgd", lr=0.1, steps=1)
    with pytest.raises(ValueError, match="lr"):
        adaptive_least_squares(x, y, "adam", lr=0.0, steps=1)
    with pytest.raises(ValueError, match="steps"):
        adaptive_least_squares(x, y, "adam", lr=0.1, steps=-1)
    with pytest.raises(ValueError, match="eps"):
        adaptive_least_squares(x, y, "adam", lr=0.1, steps=1, eps=-1e-8)
    with pytest.raises(ValueError, match="betas"):
        adaptive_least_squares(x, y, "adam", lr=0.1, steps=1, betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="betas"):
        adaptive_least_squares(x, y, "adam", lr=0.1, steps=1, betas=0.9)
    with pytest.raises(ValueError, match="alpha"):
        adaptive_least_squares(x, y, "rmsprop", lr=0.1, steps=1, alpha=1.5)
    with pytest.raises(ValueError, match="record_steps"):
        adaptive_least_squares(x, y, "adam", lr=0.1, steps=5, record_steps=[3, 2])
    with pytest.raises(ValueError, match="record_steps"):
        adaptive_least_squares(x, y, "adam", lr=0.1, steps=5, record_steps=[0, 6])
    with pytest.raises(ValueError, match="rows"):
        adaptive_least_squares(x, y[:-1], "adam", lr=0.1, steps=1)
    with pytest.raises(ValueError, match="NaN"):
        adaptive_least_squares(x.clone().fill_(float("nan")), y, "adam", lr=0.1, steps=1)
    with pytest.raises(TypeError, match="dtype"):
        adaptive_least_squares(x, y.float(), "adam", lr=0.1, steps=1)
    with pytest.raises(TypeError):
        adaptive_least_squares(x.numpy(), y, "adam", lr=0.1, steps=1)


@pytest.mark.parametrize("method,lr", [("adagrad", 0.1), ("rmsprop", 0.01), ("adam", 0.01), ("adam", 0.3)])
def test_ray_coefficients_reproduce_the_full_run(method, lr):
    data = wilson_data(15, 0.7, seed=1, device="cpu")
    s = sign_direction(data.x, data.y)
    lam = ray_coefficients(method, 4.0, lr=lr, steps=400)
    path = adaptive_least_squares(data.x, data.y, method, lr=lr, steps=400)
    assert lam.shape == (401,) and lam[0] == 0.0
    assert torch.allclose(path.w, torch.as_tensor(lam)[:, None] * s, rtol=0, atol=1e-13)
    one = adaptive_least_squares(torch.tensor([[4.0]], dtype=F64), torch.ones(1, dtype=F64), method, lr=lr,
                                 steps=400)
    assert np.allclose(one.w[:, 0].numpy(), lam, rtol=0, atol=1e-13)


def test_ray_coefficients_converge_and_validate():
    lam = ray_coefficients("adagrad", 2.0, lr=0.1, steps=2000)
    assert abs(lam[-1] - 0.5) < 1e-12
    with pytest.raises(ValueError, match="gradient descent"):
        ray_coefficients("gd", 4.0, lr=0.1, steps=3)
    with pytest.raises(ValueError, match="c must be >"):
        ray_coefficients("adam", 0.0, lr=0.1, steps=3)
    with pytest.raises(ValueError, match="method"):
        ray_coefficients("lion", 4.0, lr=0.1, steps=3)
    with pytest.raises(ValueError, match="betas"):
        ray_coefficients("adam", 4.0, lr=0.1, steps=3, betas=(-0.1, 0.9))


# --------------------------------------------------------------------------------------- the two interpolants
def test_min_norm_interpolant_matches_pinv_and_validates():
    x, y = _problem(5, 9)
    w = min_norm_interpolant(x, y)
    assert torch.allclose(w, torch.linalg.pinv(x) @ y, rtol=0, atol=1e-12)
    assert torch.allclose(x @ w, y, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="n ≤ d"):
        min_norm_interpolant(*_problem(9, 5))
    dup = torch.cat([x[:1], x[:1]])
    with pytest.raises(ValueError, match="linearly dependent"):
        min_norm_interpolant(dup, torch.ones(2, dtype=F64))


@pytest.mark.parametrize("labels", [[1, 1, -1], [1, -1, -1, -1], [1] * 7 + [-1] * 2, [1, 1], [-1, -1, -1]])
def test_closed_form_equals_the_solved_interpolant(labels):
    y = torch.tensor(labels, dtype=F64)
    x = wilson_design(y)
    w = min_norm_interpolant(x, y)
    n_pos, n_neg = labels.count(1), labels.count(-1)
    exact = wilson_min_norm_closed_form(n_pos, n_neg)
    assert all(isinstance(v, Fraction) for v in exact)
    assert math.isclose(w[0].item(), float(exact.w1), abs_tol=1e-13)
    assert torch.allclose(w[1:3], torch.full((2,), float(exact.w2), dtype=F64), rtol=0, atol=1e-13)
    private = w[3:].reshape(len(labels), 5)
    for row, label in zip(private, labels):
        want = float(exact.a_pos) if label > 0 else float(exact.a_neg)
        used = 1 if label > 0 else 5
        assert torch.allclose(row[:used], torch.full((used,), want, dtype=F64), rtol=0, atol=1e-13)
        assert float(row[used:].abs().sum()) == 0.0
    # margins on fresh points: w₁ ± 2w₂, both positive when both classes are present
    if n_pos and n_neg:
        assert exact.w1 - 2 * exact.w2 > 0 and exact.w1 + 2 * exact.w2 > 0


def test_closed_form_validates():
    with pytest.raises(ValueError, match="empty"):
        wilson_min_norm_closed_form(0, 0)
    with pytest.raises(ValueError):
        wilson_min_norm_closed_form(-1, 3)
    with pytest.raises(TypeError):
        wilson_min_norm_closed_form(2.0, 1)


def test_classification_error_counts_zero_scores_and_validates():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0]], dtype=F64)
    y = torch.tensor([1.0, -1.0, 1.0], dtype=F64)
    assert classification_error(torch.tensor([1.0, 1.0], dtype=F64), x, y) == pytest.approx(2 / 3)
    assert classification_error(torch.tensor([1.0, -1.0], dtype=F64), x, y) == 0.0
    assert classification_error(torch.zeros(2, dtype=F64), x, y) == 1.0           # sign(0) is an error
    with pytest.raises(ValueError, match="columns"):
        classification_error(torch.ones(3, dtype=F64), x, y)
    with pytest.raises(ValueError, match="dimensions"):
        classification_error(torch.ones(1, 2, dtype=F64), x, y)


def test_sign_direction():
    x = torch.tensor([[1.0, 0.0, 2.0], [1.0, 0.0, -3.0]], dtype=F64)
    y = torch.tensor([1.0, 1.0], dtype=F64)
    assert torch.equal(sign_direction(x, y), torch.tensor([1.0, 0.0, -1.0], dtype=F64))
