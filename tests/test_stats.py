import math

import numpy as np
import pytest
import torch

from dltnotes.stats import loglog_slope, mean_se, samples_for_power


def test_mean_se_known_values():
    est = mean_se([1.0, 2.0, 3.0, 4.0])
    assert est.mean == 2.5 and est.n == 4
    assert math.isclose(est.se, np.std([1, 2, 3, 4], ddof=1) / 2, rel_tol=1e-15)


def test_mean_se_accepts_tensors():
    assert mean_se(torch.tensor([0.0, 2.0])).mean == 1.0


@pytest.mark.parametrize(
    "samples, err", [([1.0], ValueError), ([[1.0, 2.0]], ValueError), ([1.0, float("nan")], ValueError),
                     (["a", "b"], TypeError)],
)
def test_mean_se_bad_input(samples, err):
    with pytest.raises(err):
        mean_se(samples)


def test_loglog_slope_recovers_an_exact_power_law():
    x = np.array([1.0, 10.0, 100.0, 1000.0])
    fit = loglog_slope(x, 3.0 * x**-0.5)
    assert math.isclose(fit.slope, -0.5, abs_tol=1e-12)
    assert math.isclose(math.exp(fit.intercept), 3.0, rel_tol=1e-12)
    assert fit.se < 1e-12


def test_loglog_slope_standard_error_covers_noisy_slopes():
    # over many noisy fits, |slope - truth| <= 4·se should essentially always hold (t-distribution, 8 dof)
    rng = np.random.default_rng(0)
    x = np.logspace(0, 3, 10)
    misses = 0
    for _ in range(500):
        y = x**1.5 * np.exp(0.1 * rng.standard_normal(x.size))
        fit = loglog_slope(x, y)
        misses += abs(fit.slope - 1.5) > 4 * fit.se
    assert misses <= 5  # P(|t_8| > 4) ≈ 0.004, so about 2 misses expected


@pytest.mark.parametrize(
    "x, y, match",
    [([1, 2], [1, 2], "at least 3"), ([1, 2, 3], [1, 2, 3, 4], "same length"), ([0, 1, 2], [1, 2, 3], "positive"),
     ([1, 1, 1], [1, 2, 3], "distinct")],
)
def test_loglog_slope_bad_input(x, y, match):
    with pytest.raises(ValueError, match=match):
        loglog_slope(x, y)


def test_proportion_and_difference_se():
    from dltnotes.stats import difference_se, proportion_se

    assert proportion_se(0.5, 100) == pytest.approx(0.05)
    assert proportion_se(1.0, 10) == 0.0
    assert difference_se(0.03, 0.04) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="p must be <= 1"):
        proportion_se(1.2, 10)
    with pytest.raises(ValueError, match="n must be >= 1"):
        proportion_se(0.5, 0)
    with pytest.raises(TypeError, match="n must be an integer"):
        proportion_se(0.5, 10.0)
    with pytest.raises(ValueError, match="at least one"):
        difference_se()
    with pytest.raises(ValueError, match="se\\[1\\]"):
        difference_se(0.1, -0.1)


def test_samples_for_power():

    # (2·4·1 / 0.5)² = 256 exactly; one more unit of sd quadruples n
    assert samples_for_power(1.0, 0.0, 0.5) == 256
    assert samples_for_power(2.0, 0.0, -0.5) == 1024
    assert samples_for_power(1.0, 0.0, 0.5, k=2.0) == 64
    assert samples_for_power(math.sqrt(5) / 2, 0.5, 1.0) == 320   # (8·√5)² = 320 up to round-off
    assert samples_for_power(1e-6, 0.0, 1.0) == 1
    n = samples_for_power(0.3, 1.0, 1.07)
    assert 2 * 4 * 0.3 / math.sqrt(n) <= 0.07 + 1e-12 < 2 * 4 * 0.3 / math.sqrt(n - 1)
    with pytest.raises(ValueError, match="rival equals expected"):
        samples_for_power(1.0, 0.5, 0.5)
    with pytest.raises(ValueError, match="sd"):
        samples_for_power(0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="k"):
        samples_for_power(1.0, 0.0, 1.0, k=0)


def test_samples_for_power_gives_the_typed_check_its_power():
    # at the planned n, a measurement near the truth lies more than 4 SE from the rival, so check_close judges
    from dltnotes import check_close

    rng = np.random.default_rng(1)
    n = samples_for_power(1.0, 0.0, 0.2)
    x = rng.standard_normal(n)
    est = mean_se(x)
    check_close("planned n", est.mean, 0.0, se=est.se, rival=0.2)
