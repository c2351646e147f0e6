import itertools
import math

import pytest
import torch

from dltnotes.explain import (MAX_PLAYERS, coalition_values, kernel_shap, lime, lime_kernel, shapley_kernel,
                              shapley_values)

F64 = torch.float64


def _table_game(table: torch.Tensor):
    """A game given by its table: with x = 1 and baseline = 0, z_S is the indicator of S."""
    m = int(math.log2(table.numel()))

    def f(z):
        code = (z.round().long() * (2 ** torch.arange(m))).sum(1)
        return table[code]

    return f, torch.ones(m, dtype=F64), torch.zeros(m, dtype=F64)


def _random_game(m, seed=0):
    return torch.randn(2**m, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _shapley_by_permutations(table, m):
    """The readable reference: average marginal contribution over all M! orders."""
    phi = torch.zeros(m, dtype=F64)
    for order in itertools.permutations(range(m)):
        code = 0
        for i in order:
            phi[i] += table[code | (1 << i)] - table[code]
            code |= 1 << i
    return phi / math.factorial(m)


@pytest.mark.parametrize("m", [1, 2, 3, 5])
def test_exact_matches_the_permutation_average(m):
    table = _random_game(m, seed=m)
    f, x, b = _table_game(table)
    torch.testing.assert_close(shapley_values(f, x, b), _shapley_by_permutations(table, m), rtol=0, atol=1e-12)


@pytest.mark.parametrize("m", [1, 2, 4, 7])
def test_kernel_shap_on_all_coalitions_is_exact(m):
    table = _random_game(m, seed=10 + m)
    f, x, b = _table_game(table)
    torch.testing.assert_close(kernel_shap(f, x, b), shapley_values(f, x, b), rtol=0, atol=1e-11)


def test_axioms_on_a_random_game():
    m = 6
    table = _random_game(m, seed=3)
    # make players 1 and 4 symmetric and player 5 null
    for code in range(2**m):
        swapped = code & ~(0b10010) | ((code >> 1 & 1) << 4) | ((code >> 4 & 1) << 1)
        table[swapped] = table[code] if swapped > code else table[swapped]
    for code in range(2**m):
        if code & (1 << 5):
            table[code] = table[code & ~(1 << 5)]
    f, x, b = _table_game(table)
    phi = shapley_values(f, x, b)
    assert abs(float(phi.sum()) - float(table[-1] - table[0])) < 1e-12  # efficiency
    assert abs(float(phi[1] - phi[4])) < 1e-12  # symmetry
    assert abs(float(phi[5])) < 1e-14  # null player
    # additivity
    table2 = _random_game(m, seed=4)
    f2, _, _ = _table_game(table2)
    f12, _, _ = _table_game(table + table2)
    torch.testing.assert_close(shapley_values(f12, x, b), phi + shapley_values(f2, x, b), rtol=0, atol=1e-12)


def test_linear_closed_form_with_groups_and_float32():
    gen = torch.Generator().manual_seed(0)
    d = 12
    w, x, b = (torch.randn(d, generator=gen, dtype=F64) for _ in range(3))

    def f(z):
        return z.to(F64) @ w + 0.7

    torch.testing.assert_close(shapley_values(f, x, b), w * (x - b), rtol=0, atol=1e-12)
    groups = [[0, 5, 7], [1], [2, 3, 4, 6], [8, 9, 10, 11]]
    expected = torch.stack([(w * (x - b))[g].sum() for g in groups])
    torch.testing.assert_close(shapley_values(f, x, b, groups=groups), expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(kernel_shap(f, x, b, groups=groups), expected, rtol=0, atol=1e-12)
    # an additive game is fitted exactly by any sample of coalitions
    sampled = kernel_shap(f, x, b, groups=groups, n_coalitions=30, generator=gen)
    torch.testing.assert_close(sampled, expected, rtol=0, atol=1e-10)
    # lime without ridge recovers an additive game too
    torch.testing.assert_close(lime(f, x, b, groups=groups, alpha=0.0), expected, rtol=0, atol=1e-10)
    # float32 inputs: the model sees float32, the attributions are float64
    phi32 = shapley_values(lambda z: (z @ w.float()).double(), x.float(), b.float())
    assert phi32.dtype == F64
    torch.testing.assert_close(phi32, w * (x - b), rtol=0, atol=1e-5)


def test_groups_equal_the_game_on_groups():
    table = _random_game(3, seed=5)
    f3, x3, b3 = _table_game(table)
    # 6 features in 3 groups; the model only looks at whether each group is "on"
    groups = [[0, 3], [1, 5], [2, 4]]

    def f6(z):
        on = torch.stack([z[:, g].mean(1) for g in groups], 1)
        return f3(on)

    x6, b6 = torch.ones(6, dtype=F64), torch.zeros(6, dtype=F64)
    torch.testing.assert_close(shapley_values(f6, x6, b6, groups=groups), shapley_values(f3, x3, b3))


def test_sampled_kernel_shap_is_seeded_efficient_and_converges():
    table = _random_game(8, seed=6)
    f, x, b = _table_game(table)
    a = kernel_shap(f, x, b, n_coalitions=200, generator=torch.Generator().manual_seed(1))
    c = kernel_shap(f, x, b, n_coalitions=200, generator=torch.Generator().manual_seed(1))
    d = kernel_shap(f, x, b, n_coalitions=200, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, c) and not torch.equal(a, d)
    assert abs(float(a.sum() - (table[-1] - table[0]))) < 1e-12
    exact = shapley_values(f, x, b)
    err = [float((kernel_shap(f, x, b, n_coalitions=n, generator=torch.Generator().manual_seed(s)) - exact)
                 .norm()) for n in (100, 6400) for s in range(5)]
    assert sum(err[5:]) < sum(err[:5]) / 4  # 64× the samples: about 1/8 of the error


def test_lime_violates_efficiency_and_is_seeded():
    table = torch.zeros(8, dtype=F64)
    table[0b011] = table[0b111] = 1.0  # the unanimity game of players {0, 1}, M = 3
    f, x, b = _table_game(table)
    phi = lime(f, x, b, alpha=0.0)
    assert abs(float(phi.sum()) - 1.0) > 0.05
    assert abs(float(phi[0] - phi[1])) < 1e-12  # symmetric players get equal shares …
    assert abs(float(phi[2])) > 1e-3  # … but the null player 2 is not zero: the kernel couples sizes
    g = torch.Generator().manual_seed(3)
    s1 = lime(f, x, b, n_samples=50, generator=g)
    s2 = lime(f, x, b, n_samples=50, generator=torch.Generator().manual_seed(3))
    s3 = lime(f, x, b, n_samples=50, generator=g)
    assert torch.equal(s1, s2) and not torch.equal(s1, s3)


def test_kernels():
    pi = shapley_kernel(4)
    assert math.isinf(pi[0]) and math.isinf(pi[4])
    torch.testing.assert_close(pi[1:4], torch.tensor([1 / 4, 1 / 8, 1 / 4], dtype=F64))
    k = lime_kernel(torch.tensor([0, 4]), 4, 0.25)
    torch.testing.assert_close(k, torch.tensor([math.exp(-8.0), 1.0], dtype=F64))


def test_coalition_values_indexing():
    table = _random_game(4, seed=7)
    f, x, b = _table_game(table)
    torch.testing.assert_close(coalition_values(f, x, b, batch_size=3), table)


def _lin(z):
    return z.sum(1)


X, B = torch.ones(4, dtype=F64), torch.zeros(4, dtype=F64)


@pytest.mark.parametrize("fn", [shapley_values, kernel_shap, lime])
@pytest.mark.parametrize("args, kwargs, err, match", [
    ((_lin, X[None], B), {}, ValueError, "dimensions"),
    ((_lin, X, torch.zeros(3, dtype=F64)), {}, ValueError, "same shape"),
    ((_lin, X, B.float()), {}, TypeError, "same dtype"),
    ((_lin, torch.ones(4, dtype=torch.long), B), {}, TypeError, "floating"),
    ((_lin, X.numpy(), B), {}, TypeError, "torch.Tensor"),
    ((_lin, torch.tensor([1.0, math.nan, 0, 0], dtype=F64), B), {}, ValueError, "NaN"),
    ((_lin, X, B), {"groups": [[0, 1], [1, 2, 3]]}, ValueError, "not disjoint"),
    ((_lin, X, B), {"groups": [[0, 1], [2]]}, ValueError, "cover"),
    ((_lin, X, B), {"groups": [[0, 1], [2, 7]]}, ValueError, "outside"),
    ((_lin, X, B), {"groups": [[0, 1], []]}, ValueError, "empty"),
    ((_lin, X, B), {"groups": [[0, 1.5], [2, 3]]}, TypeError, "integer"),
    ((_lin, X, B), {"groups": "0123"}, TypeError, "list"),
    ((_lin, torch.ones(21, dtype=F64), torch.zeros(21, dtype=F64)), {}, ValueError, "too many"),
    (("not callable", X, B), {}, TypeError, "callable"),
    ((lambda z: z, X, B), {}, ValueError, r"\(B,\)"),
    ((lambda z: z.sum(1).numpy(), X, B), {}, TypeError, "torch.Tensor"),
    ((lambda z: z.sum(1) / (z.sum(1) - 1), X, B), {}, ValueError, "NaN or infinite"),
    ((_lin, X, B), {"batch_size": 0}, ValueError, "batch_size"),
])
def test_bad_inputs_raise(fn, args, kwargs, err, match):
    with pytest.raises(err, match=match):
        fn(*args, **kwargs)


def test_bad_sampling_arguments():
    with pytest.raises(ValueError, match="n_coalitions"):
        kernel_shap(_lin, X, B, n_coalitions=0)
    with pytest.raises(TypeError, match="n_coalitions"):
        kernel_shap(_lin, X, B, n_coalitions=10.0)
    with pytest.raises(TypeError, match="generator"):
        kernel_shap(_lin, X, B, n_coalitions=10, generator=0)
    with pytest.raises(ValueError, match="increase n_coalitions"):
        kernel_shap(_lin, X, B, n_coalitions=1, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="kernel_width"):
        lime(_lin, X, B, kernel_width=0.0)
    with pytest.raises(ValueError, match="alpha"):
        lime(_lin, X, B, alpha=-1.0)
    with pytest.raises(ValueError, match="singular"):
        lime(_lin, X, B, alpha=0.0, n_samples=3, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="n_samples"):
        lime(_lin, X, B, n_samples=1)
    with pytest.raises(ValueError, match="sizes"):
        lime_kernel(torch.tensor([5]), 4)
    assert MAX_PLAYERS == 20
