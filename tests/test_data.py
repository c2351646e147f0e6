import numpy as np
import pytest
import torch

from dltnotes.data import gaussian_features, gaussian_linear_regression, linearly_separable, load_digits

CPU = torch.device("cpu")


def test_digits_shapes_range_and_split():
    s = load_digits(device=CPU)
    assert s.x_train.shape[1] == 64 and s.x_test.shape[1] == 64
    assert s.x_train.shape[0] + s.x_test.shape[0] == 1797
    assert s.x_test.shape[0] == 450  # ceil(0.25 * 1797)
    assert s.x_train.dtype == torch.float32 and s.y_train.dtype == torch.int64
    for x in (s.x_train, s.x_test):
        assert x.min() >= 0 and x.max() <= 1
    assert s.x_train.max() == 1.0  # the raw maximum 16 maps to 1
    assert set(s.y_train.tolist()) == set(range(10))


def test_digits_split_is_deterministic_and_seed_dependent():
    a, b, c = load_digits(seed=3, device=CPU), load_digits(seed=3, device=CPU), load_digits(seed=4, device=CPU)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a.y_test, c.y_test)


def test_digits_split_is_stratified():
    s = load_digits(device=CPU)
    train = np.bincount(s.y_train.numpy(), minlength=10) / len(s.y_train)
    test = np.bincount(s.y_test.numpy(), minlength=10) / len(s.y_test)
    assert np.abs(train - test).max() < 0.01


def test_digits_classes_and_image_layout():
    s = load_digits(classes=(3, 8), flatten=False, dtype=torch.float64, device=CPU)
    assert s.x_train.shape[1:] == (1, 8, 8) and s.x_train.dtype == torch.float64
    assert set(s.y_train.tolist()) == {0, 1}
    full = load_digits(device=CPU)
    n3 = int((full.y_train == 3).sum() + (full.y_test == 3).sum())
    assert int((s.y_train == 0).sum() + (s.y_test == 0).sum()) == n3


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"test_fraction": 0.0}, ValueError, "test_fraction"),
        ({"test_fraction": 1.0}, ValueError, "test_fraction"),
        ({"test_fraction": "0.2"}, TypeError, "test_fraction"),
        ({"seed": -1}, ValueError, "seed"),
        ({"classes": (3,)}, ValueError, "two distinct"),
        ({"classes": (3, 3)}, ValueError, "two distinct"),
        ({"classes": (3, 10)}, ValueError, "classes"),
        ({"dtype": torch.int64}, TypeError, "dtype"),
    ],
)
def test_digits_bad_arguments(kwargs, err, match):
    with pytest.raises(err, match=match):
        load_digits(device=CPU, **kwargs)


def test_gaussian_features_moments_and_determinism():
    x = gaussian_features(20_000, 3, seed=1, device=CPU)
    assert x.shape == (20_000, 3) and x.dtype == torch.float64
    # mean within 4 standard errors (1/sqrt(n)); covariance ≈ identity within 4·sqrt(2/n)
    assert x.mean(0).abs().max() < 4 / np.sqrt(20_000)
    cov = x.T @ x / 20_000
    assert (cov - torch.eye(3, dtype=torch.float64)).abs().max() < 4 * np.sqrt(2 / 20_000)
    assert torch.equal(x, gaussian_features(20_000, 3, seed=1, device=CPU))


@pytest.mark.parametrize("n, d, err", [(0, 2, ValueError), (2, 0, ValueError), (2.0, 2, TypeError)])
def test_gaussian_features_bad_arguments(n, d, err):
    with pytest.raises(err):
        gaussian_features(n, d, device=CPU)


def test_gaussian_linear_regression_noiseless_is_exact():
    beta = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    x, y = gaussian_linear_regression(50, beta, device=CPU)
    assert torch.allclose(y, x @ beta, rtol=0, atol=1e-12)
    x2, y2 = gaussian_linear_regression(50, beta, noise_std=0.3, device=CPU)
    assert torch.equal(x, x2) and not torch.allclose(y, y2)


@pytest.mark.parametrize(
    "beta, kwargs, err",
    [([], {}, ValueError), ([[1.0]], {}, ValueError), ([float("nan")], {}, ValueError),
     ([1.0], {"noise_std": -1.0}, ValueError)],
)
def test_gaussian_linear_regression_bad_arguments(beta, kwargs, err):
    with pytest.raises(err):
        gaussian_linear_regression(5, beta, device=CPU, **kwargs)


@pytest.mark.parametrize("n, d, margin", [(2, 1, 0.0), (100, 5, 0.5), (300, 20, 0.1)])
def test_linearly_separable_has_the_margin(n, d, margin):
    s = linearly_separable(n, d, margin=margin, seed=7, device=CPU)
    assert s.x.shape == (n, d) and s.y.shape == (n,)
    assert torch.isclose(s.w_star.norm(), torch.tensor(1.0, dtype=torch.float64))
    margins = s.y * (s.x @ s.w_star)
    assert margins.min() >= margin
    assert set(s.y.tolist()) == {-1.0, 1.0}
    again = linearly_separable(n, d, margin=margin, seed=7, device=CPU)
    assert torch.equal(s.x, again.x)


@pytest.mark.parametrize(
    "kwargs, err", [({"n": 1}, ValueError), ({"margin": -0.1}, ValueError), ({"margin": 5.0}, ValueError),
                    ({"d": 0}, ValueError), ({"margin": float("inf")}, ValueError)],
)
def test_linearly_separable_bad_arguments(kwargs, err):
    args = {"n": 10, "d": 2} | kwargs
    with pytest.raises(err):
        linearly_separable(args.pop("n"), args.pop("d"), device=CPU, **args)
