import pytest
import torch

from dltnotes.features import RandomReLUFeatures, min_norm_least_squares


def test_features_shape_scale_and_determinism():
    x = torch.randn(5, 3, dtype=torch.float64)
    f = RandomReLUFeatures(3, 7, seed=2)
    phi = f(x)
    assert phi.shape == (5, 7) and (phi >= 0).all()
    assert torch.allclose(phi, torch.relu(x @ f.weight + f.bias) / 7**0.5)
    assert torch.equal(phi, RandomReLUFeatures(3, 7, seed=2)(x))


def test_features_reject_bad_input():
    f = RandomReLUFeatures(3, 4)
    with pytest.raises(ValueError, match="3 columns"):
        f(torch.randn(2, 4))
    with pytest.raises(ValueError, match="2 dimensions"):
        f(torch.randn(3))
    with pytest.raises(TypeError, match="floating"):
        f(torch.ones(2, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="p must be"):
        RandomReLUFeatures(3, 0)


def test_min_norm_least_squares_underdetermined_is_min_norm_interpolant():
    gen = torch.Generator().manual_seed(0)
    A = torch.randn(4, 10, generator=gen, dtype=torch.float64)
    y = torch.randn(4, generator=gen, dtype=torch.float64)
    w = min_norm_least_squares(A, y)
    assert torch.allclose(A @ w, y, atol=1e-12)
    assert torch.allclose(w, A.T @ torch.linalg.solve(A @ A.T, y), atol=1e-12)


def test_min_norm_least_squares_overdetermined_is_ols():
    gen = torch.Generator().manual_seed(1)
    A = torch.randn(20, 3, generator=gen, dtype=torch.float64)
    Y = torch.randn(20, 2, generator=gen, dtype=torch.float64)
    assert torch.allclose(min_norm_least_squares(A, Y), torch.linalg.lstsq(A, Y).solution, atol=1e-12)


def test_min_norm_least_squares_bad_input():
    with pytest.raises(ValueError, match="rows"):
        min_norm_least_squares(torch.randn(3, 2), torch.randn(4))
    with pytest.raises(ValueError, match="NaN"):
        min_norm_least_squares(torch.full((2, 2), float("nan")), torch.randn(2))


def test_min_norm_least_squares_matches_pinv_wide_and_rank_deficient():
    gen = torch.Generator().manual_seed(2)
    wide = torch.randn(30, 300, generator=gen, dtype=torch.float64)
    Y = torch.randn(30, 4, generator=gen, dtype=torch.float64)
    assert torch.allclose(min_norm_least_squares(wide, Y), torch.linalg.pinv(wide) @ Y, rtol=1e-10, atol=1e-12)
    # rank 3 out of 5 columns: the minimum-norm solution lies in the row space (pinv), not any least-squares one
    low = torch.randn(12, 3, generator=gen, dtype=torch.float64) @ torch.randn(3, 5, generator=gen,
                                                                              dtype=torch.float64)
    y = torch.randn(12, generator=gen, dtype=torch.float64)
    w = min_norm_least_squares(low, y)
    assert w.shape == (5,)
    assert torch.allclose(w, torch.linalg.pinv(low) @ y, rtol=1e-9, atol=1e-11)
    # rcond: a cut-off above the third singular value drops it, as pinv's rtol does
    s = torch.linalg.svdvals(low)
    cut = (s[2] / s[0]).item() * 1.01
    assert torch.allclose(min_norm_least_squares(low, y, rcond=cut), torch.linalg.pinv(low, rtol=cut) @ y,
                          rtol=1e-9, atol=1e-11)
