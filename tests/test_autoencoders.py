"""Unit tests of dltnotes.autoencoders: numerics against closed forms, edge cases and bad input."""

import math

import pytest
import torch

from dltnotes.autoencoders import (iterate_map, jacobian_spectral_radius, linear_autoencoder_gd,
                                   reconstruction_loss, span_projector, subspace_sines)

F64 = torch.float64


def _data(n=200, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    scales = torch.tensor([3.0, 2.0, 1.5, 1.0, 0.5, 0.3], dtype=F64)[:d]
    x = torch.randn(n, d, generator=g, dtype=F64) * scales
    return x - x.mean(0), g


# --- reconstruction_loss ----------------------------------------------------------------------------------------

def test_loss_of_identity_and_zero_maps():
    x, _ = _data()
    eye = torch.eye(6, dtype=F64)
    assert reconstruction_loss(x, eye, eye) == pytest.approx(0.0, abs=1e-24)
    zero = torch.zeros(6, 6, dtype=F64)
    assert reconstruction_loss(x, zero, zero) == pytest.approx(float((x**2).sum() / (2 * len(x))))


def test_loss_rejects_bad_shapes_and_dtypes():
    x, _ = _data()
    with pytest.raises(ValueError, match="encoder must have shape"):
        reconstruction_loss(x, torch.zeros(2, 5, dtype=F64), torch.zeros(6, 2, dtype=F64))
    with pytest.raises(ValueError, match="decoder must have shape"):
        reconstruction_loss(x, torch.zeros(2, 6, dtype=F64), torch.zeros(6, 3, dtype=F64))
    with pytest.raises(TypeError, match="share a dtype"):
        reconstruction_loss(x, torch.zeros(2, 6), torch.zeros(6, 2, dtype=F64))
    with pytest.raises(TypeError, match="torch.Tensor"):
        reconstruction_loss(x.numpy(), torch.zeros(2, 6, dtype=F64), torch.zeros(6, 2, dtype=F64))
    with pytest.raises(ValueError, match="NaN"):
        reconstruction_loss(x * float("nan"), torch.zeros(2, 6, dtype=F64), torch.zeros(6, 2, dtype=F64))


# --- linear_autoencoder_gd ----------------------------------------------------------------------------------------

def test_gd_reaches_the_principal_subspace_and_the_eckart_young_loss():
    x, g = _data()
    lam, u = torch.linalg.eigh(x.T @ x / len(x))
    lam, u = lam.flip(0), u.flip(1)
    k = 2
    e0 = 0.1 * torch.randn(k, 6, generator=g, dtype=F64)
    d0 = 0.1 * torch.randn(6, k, generator=g, dtype=F64)
    e, d = linear_autoencoder_gd(x, e0, d0, lr=0.5 / lam[0].item(), steps=8000)
    assert subspace_sines(d, u[:, :k]).max() < 1e-10
    assert reconstruction_loss(x, e, d) == pytest.approx(0.5 * lam[k:].sum().item(), rel=1e-10)
    assert torch.equal(e0, e0.clone()) and not torch.equal(e, e0)     # inputs are not modified


def test_gd_with_weight_decay_matches_the_closed_form():
    x, g = _data()
    lam, u = torch.linalg.eigh(x.T @ x / len(x))
    lam, u = lam.flip(0), u.flip(1)
    k, decay = 3, 0.5
    e0 = 0.1 * torch.randn(k, 6, generator=g, dtype=F64)
    d0 = 0.1 * torch.randn(6, k, generator=g, dtype=F64)
    e, d = linear_autoencoder_gd(x, e0, d0, lr=0.5 / lam[0].item(), steps=4000, weight_decay=decay)
    assert torch.allclose(torch.linalg.svdvals(d), torch.sqrt(1 - decay / lam[:k]), atol=1e-10)
    assert torch.allclose(e, d.T, atol=1e-10)


def test_gd_leaves_the_encoder_off_the_span_unchanged():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(3, 8, generator=g, dtype=F64)
    e0 = 0.1 * torch.randn(8, 8, generator=g, dtype=F64)
    d0 = 0.1 * torch.randn(8, 8, generator=g, dtype=F64)
    e, _ = linear_autoencoder_gd(x, e0, d0, lr=0.05, steps=500)
    off = torch.eye(8, dtype=F64) - span_projector(x)
    assert torch.allclose(e @ off, e0 @ off, atol=1e-13)


def test_gd_zero_steps_and_per_unit_decay():
    x, g = _data()
    e0 = torch.randn(2, 6, generator=g, dtype=F64)
    d0 = torch.randn(6, 2, generator=g, dtype=F64)
    e, d = linear_autoencoder_gd(x, e0, d0, lr=0.1, steps=0, weight_decay=torch.tensor([0.0, 1.0], dtype=F64))
    assert torch.equal(e, e0) and torch.equal(d, d0)


def test_gd_rejects_bad_arguments():
    x, g = _data()
    e0, d0 = torch.zeros(2, 6, dtype=F64), torch.zeros(6, 2, dtype=F64)
    with pytest.raises(ValueError, match="lr"):
        linear_autoencoder_gd(x, e0, d0, lr=0.0, steps=1)
    with pytest.raises(ValueError, match="steps"):
        linear_autoencoder_gd(x, e0, d0, lr=0.1, steps=-1)
    with pytest.raises(TypeError, match="steps"):
        linear_autoencoder_gd(x, e0, d0, lr=0.1, steps=1.5)
    with pytest.raises(ValueError, match="weight_decay"):
        linear_autoencoder_gd(x, e0, d0, lr=0.1, steps=1, weight_decay=-1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        linear_autoencoder_gd(x, e0, d0, lr=0.1, steps=1, weight_decay=torch.ones(3, dtype=F64))
    with pytest.raises(ValueError, match="weight_decay"):
        linear_autoencoder_gd(x, e0, d0, lr=0.1, steps=1, weight_decay=-torch.ones(2, dtype=F64))
    big = torch.randn(2, 6, generator=g, dtype=F64)
    with pytest.raises(FloatingPointError, match="diverged"):
        linear_autoencoder_gd(100 * x, big, big.T.clone(), lr=10.0, steps=200)


# --- subspace_sines -----------------------------------------------------------------------------------------------

def test_sines_of_known_angles():
    theta = 0.3
    a = torch.tensor([[1.0], [0.0]], dtype=F64)
    b = torch.tensor([[math.cos(theta)], [math.sin(theta)]], dtype=F64)
    assert subspace_sines(a, b).item() == pytest.approx(math.sin(theta), rel=1e-14)
    same = torch.randn(5, 2, dtype=F64)
    assert subspace_sines(same, same @ torch.tensor([[2.0, 1.0], [0.0, 3.0]], dtype=F64)).max() < 1e-14
    e = torch.eye(4, dtype=F64)
    assert torch.allclose(subspace_sines(e[:, :2], e[:, 2:]), torch.ones(2, dtype=F64))


def test_sines_stay_accurate_for_tiny_angles():
    theta = 1e-12                                      # sqrt(1 − cos²) would return 0 here
    a = torch.tensor([[1.0], [0.0]], dtype=F64)
    b = torch.tensor([[math.cos(theta)], [math.sin(theta)]], dtype=F64)
    assert subspace_sines(a, b).item() == pytest.approx(theta, rel=1e-6)


def test_sines_against_a_larger_subspace_and_bad_input():
    e = torch.eye(4, dtype=F64)
    assert subspace_sines(e[:, :1], e[:, :3]).item() == 0.0
    with pytest.raises(ValueError, match="no more columns"):
        subspace_sines(e[:, :3], e[:, :1])
    with pytest.raises(ValueError, match="same number of rows"):
        subspace_sines(e[:3, :1], e[:, :1])
    with pytest.raises(ValueError, match="linearly independent"):
        subspace_sines(torch.ones(4, 2, dtype=F64), e[:, :2])
    with pytest.raises(TypeError, match="share a dtype"):
        subspace_sines(e[:, :1].float(), e[:, :1])


# --- span_projector -------------------------------------------------------------------------------------------------

def test_projector_is_symmetric_idempotent_and_fixes_the_rows():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 7, generator=g, dtype=F64)
    p = span_projector(x)
    assert torch.allclose(p, p.T, atol=1e-15)
    assert torch.allclose(p @ p, p, atol=1e-14)
    assert torch.trace(p).item() == pytest.approx(3.0)
    assert torch.allclose(x @ p, x, atol=1e-14)


def test_projector_rejects_dependent_rows_and_too_many_rows():
    with pytest.raises(ValueError, match="linearly independent"):
        span_projector(torch.ones(2, 5, dtype=F64))
    with pytest.raises(ValueError, match="n ≤ d"):
        span_projector(torch.randn(6, 5, dtype=F64))
    with pytest.raises(ValueError, match="2 dimensions"):
        span_projector(torch.randn(5, dtype=F64))


# --- jacobian_spectral_radius and iterate_map ----------------------------------------------------------------------

def test_spectral_radius_of_a_linear_map():
    a = torch.tensor([[0.0, 2.0], [-0.5, 0.0]], dtype=F64)   # eigenvalues ±i: modulus 1
    assert jacobian_spectral_radius(lambda z: a @ z, torch.zeros(2, dtype=F64)) == pytest.approx(1.0)
    b = torch.diag(torch.tensor([0.3, -0.7, 0.1], dtype=F64))
    assert jacobian_spectral_radius(lambda z: b @ z + 1.0, torch.ones(3, dtype=F64)) == pytest.approx(0.7)


def test_spectral_radius_of_a_nonlinear_map_at_a_point():
    # f(z) = tanh(z) elementwise: Jacobian diag(1 − tanh²(z))
    z = torch.tensor([0.0, 1.0], dtype=F64)
    assert jacobian_spectral_radius(torch.tanh, z) == pytest.approx(1.0)
    assert jacobian_spectral_radius(torch.tanh, z + 2.0) == pytest.approx(1 - math.tanh(2.0) ** 2)


def test_spectral_radius_rejects_bad_input():
    with pytest.raises(TypeError, match="callable"):
        jacobian_spectral_radius(3, torch.zeros(2, dtype=F64))
    with pytest.raises(ValueError, match="1 dimensions"):
        jacobian_spectral_radius(torch.tanh, torch.zeros(2, 2, dtype=F64))
    with pytest.raises(ValueError, match="R\\^d to R\\^d"):
        jacobian_spectral_radius(lambda z: z[:1], torch.zeros(2, dtype=F64))


def test_iterate_map_converges_for_a_contraction():
    z0 = torch.tensor([[4.0, -2.0], [1.0, 1.0]], dtype=F64)
    out = iterate_map(lambda z: 0.5 * z + 1.0, z0, 60)        # fixed point 2
    assert torch.allclose(out, torch.full_like(z0, 2.0), atol=1e-15)
    assert torch.equal(iterate_map(lambda z: z + 1, z0, 0), z0)


def test_iterate_map_rejects_bad_input_and_divergence():
    z0 = torch.ones(2, 3, dtype=F64)
    with pytest.raises(TypeError, match="callable"):
        iterate_map(None, z0, 3)
    with pytest.raises(ValueError, match="steps"):
        iterate_map(torch.tanh, z0, -1)
    with pytest.raises(ValueError, match="\\(m, d\\)"):
        iterate_map(lambda z: z[:, :1], z0, 2)
    with pytest.raises(FloatingPointError, match="diverged"):
        iterate_map(lambda z: z * 1e200, z0, 5)
