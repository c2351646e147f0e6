"""Autoencoders and what they memorise: linear autoencoders trained by gradient descent, principal angles,
projectors onto the span of the training set, and the fixed points of an iterated map.

**Conventions.**

* Data are rows: ``x (n, d)`` holds ``n`` examples in ``R^d``. A linear autoencoder with ``k`` hidden units has
  an encoder ``E (k, d)`` and a decoder ``D (d, k)`` and maps a row ``x`` to ``D E x`` (all rows: ``x Eᵀ Dᵀ``).
* Its loss is ``L(E, D) = (1/2n) ‖x − x Eᵀ Dᵀ‖_F² + (1/2) Σ_j λ_j (‖E_j,:‖² + ‖D_:,j‖²)``: the mean squared
  reconstruction error, halved, plus an optional L2 penalty with weight ``λ_j`` on the ``j``-th hidden unit
  (one number for all units: the uniform penalty of Kunin, Bloom, Goeva & Seed 2019).
* The functions run in the dtype of their inputs; use float64 where the chapter compares with round-off.

Taught in :ref:`chap-autoencoders`.
"""

from __future__ import annotations

import torch

from ._validate import check_int, check_real, check_tensor

__all__ = [
    "reconstruction_loss",
    "linear_autoencoder_gd",
    "subspace_sines",
    "span_projector",
    "jacobian_spectral_radius",
    "iterate_map",
]


def _data(x) -> torch.Tensor:
    check_tensor("x", x, ndim=2, floating=True)
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"x must hold at least one example of at least one coordinate, got {tuple(x.shape)}")
    return x


def _weights(x: torch.Tensor, encoder, decoder) -> tuple[torch.Tensor, torch.Tensor]:
    check_tensor("encoder", encoder, ndim=2, floating=True)
    check_tensor("decoder", decoder, ndim=2, floating=True)
    d = x.shape[1]
    k = encoder.shape[0]
    if encoder.shape[1] != d:
        raise ValueError(f"encoder must have shape (k, d) = (k, {d}), got {tuple(encoder.shape)}")
    if decoder.shape != (d, k):
        raise ValueError(f"decoder must have shape (d, k) = ({d}, {k}), got {tuple(decoder.shape)}")
    if encoder.dtype != x.dtype or decoder.dtype != x.dtype:
        raise TypeError(f"x, encoder and decoder must share a dtype, got {x.dtype}, {encoder.dtype}, "
                        f"{decoder.dtype}")
    return encoder, decoder


def reconstruction_loss(x, encoder, decoder) -> float:
    """The halved mean squared reconstruction error ``(1/2n) ‖x − x Eᵀ Dᵀ‖_F²`` of a linear autoencoder.

    Computed on the data themselves (not through their second-moment matrix), so that it is an independent
    route to the closed form ``½ Σ_{i>k} λ_i`` of the minimum. See :ref:`chap-autoencoders`.

    Parameters
    ----------
    x : torch.Tensor
        (n, d) tensor of examples (rows), floating.
    encoder : torch.Tensor
        (k, d) tensor E.
    decoder : torch.Tensor
        (d, k) tensor D.

    Returns
    -------
    float
        The loss, without penalty.
    """
    x = _data(x)
    encoder, decoder = _weights(x, encoder, decoder)
    residual = x - (x @ encoder.T) @ decoder.T
    return float((residual**2).sum() / (2 * x.shape[0]))


def linear_autoencoder_gd(x, encoder, decoder, *, lr: float, steps: int, weight_decay=0.0):
    """Full-batch gradient descent on a linear autoencoder ``x ↦ D E x``, from given initial weights.

    Minimises ``L(E, D) = (1/2n) ‖x − x Eᵀ Dᵀ‖_F² + (1/2) Σ_j λ_j (‖E_j,:‖² + ‖D_:,j‖²)`` with the exact
    gradients, written with the second-moment matrix ``C = xᵀx / n``:
    ``∇_D L = −(I − DE) C Eᵀ + D diag(λ)`` and ``∇_E L = −Dᵀ(I − DE) C + diag(λ) E``. The encoder's gradient
    is ``Dᵀ(…) C``, whose rows lie in the row space of ``x``: gradient descent never changes ``E`` on the
    orthogonal complement of the span of the training examples (see :ref:`chap-autoencoders`). The data are
    used as given (centre them first for principal component analysis). Baldi & Hornik (1989); Kunin, Bloom,
    Goeva & Seed (2019) for the penalty.

    Parameters
    ----------
    x : torch.Tensor
        (n, d) tensor of training examples (rows), floating.
    encoder, decoder : torch.Tensor
        Initial weights, (k, d) and (d, k), same dtype as ``x``. They are not modified.
    lr : float
        Step size, ``> 0``.
    steps : int
        Number of steps, ``≥ 0``.
    weight_decay : float or torch.Tensor
        ``λ ≥ 0``: one number for every hidden unit, or a (k,) tensor of one weight per hidden unit.

    Returns
    -------
    tuple of torch.Tensor
        The trained ``(encoder, decoder)``, (k, d) and (d, k).
    """
    x = _data(x)
    encoder, decoder = _weights(x, encoder, decoder)
    lr = check_real("lr", lr, min_value=0.0, min_inclusive=False)
    steps = check_int("steps", steps, min_value=0)
    k = encoder.shape[0]
    if isinstance(weight_decay, torch.Tensor):
        check_tensor("weight_decay", weight_decay, ndim=1, floating=True)
        if weight_decay.shape != (k,):
            raise ValueError(f"weight_decay must be a number or a ({k},) tensor, got shape "
                             f"{tuple(weight_decay.shape)}")
        if bool((weight_decay < 0).any()):
            raise ValueError("weight_decay must be >= 0")
        lam = weight_decay.to(dtype=x.dtype, device=x.device)
    else:
        lam = torch.full((k,), check_real("weight_decay", weight_decay, min_value=0.0), dtype=x.dtype,
                         device=x.device)
    second_moment = x.T @ x / x.shape[0]
    enc, dec = encoder.clone(), decoder.clone()
    for _ in range(steps):
        resid = second_moment - dec @ (enc @ second_moment)          # (I − DE) C
        grad_dec = -resid @ enc.T + dec * lam
        grad_enc = -dec.T @ resid + lam[:, None] * enc
        dec = dec - lr * grad_dec
        enc = enc - lr * grad_enc
    if not (bool(torch.isfinite(enc).all()) and bool(torch.isfinite(dec).all())):
        raise FloatingPointError(f"gradient descent diverged: lower lr (got {lr})")
    return enc, dec


def _orthonormal_basis(name: str, a: torch.Tensor) -> torch.Tensor:
    u, s, _ = torch.linalg.svd(a, full_matrices=False)
    tol = max(a.shape) * torch.finfo(a.dtype).eps * (s[0] if s.numel() else 0.0)
    if s.numel() == 0 or bool(s[-1] <= tol):
        raise ValueError(f"the columns of {name} must be linearly independent (smallest singular value "
                         f"{float(s[-1]) if s.numel() else 0.0:.3g})")
    return u


def subspace_sines(a, b) -> torch.Tensor:
    """Sines of the principal angles between the column spaces of ``a`` and ``b``, largest first.

    With orthonormal bases ``Q_a``, ``Q_b`` the sines are the singular values of ``Q_a − Q_b Q_bᵀ Q_a`` (the part
    of span ``a`` outside span ``b``). This stays accurate for tiny angles, where ``sqrt(1 − cos²)`` from the
    singular values of ``Q_bᵀ Q_a`` would lose every digit below ``√ε ≈ 1e-8`` (float64). See
    :ref:`chap-autoencoders`; Björck & Golub (1973).

    Parameters
    ----------
    a, b : torch.Tensor
        (d, p) and (d, q) tensors with linearly independent columns, ``p ≤ q``, same floating dtype.

    Returns
    -------
    torch.Tensor
        (p,) tensor of sines in ``[0, 1]``, descending; all zero exactly when span ``a`` ⊆ span ``b``.
    """
    check_tensor("a", a, ndim=2, floating=True)
    check_tensor("b", b, ndim=2, floating=True)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"a and b must have the same number of rows, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[1] > b.shape[1]:
        raise ValueError(f"a must have no more columns than b, got {a.shape[1]} > {b.shape[1]}")
    if a.dtype != b.dtype:
        raise TypeError(f"a and b must share a dtype, got {a.dtype} and {b.dtype}")
    qa, qb = _orthonormal_basis("a", a), _orthonormal_basis("b", b)
    outside = qa - qb @ (qb.T @ qa)
    return torch.linalg.svdvals(outside).clamp(max=1.0)


def span_projector(x) -> torch.Tensor:
    """The orthogonal projector ``P (d, d)`` onto the span of the rows of ``x (n, d)``.

    ``P = Q Qᵀ`` with ``Q`` an orthonormal basis of the row space (from an SVD). The rows must be linearly
    independent (``n ≤ d``): the over-parameterised regime of :ref:`chap-autoencoders`.

    Parameters
    ----------
    x : torch.Tensor
        (n, d) tensor of examples, floating, of rank ``n``.

    Returns
    -------
    torch.Tensor
        (d, d) symmetric idempotent tensor of trace ``n``.
    """
    x = _data(x)
    if x.shape[0] > x.shape[1]:
        raise ValueError(f"x must have at most as many rows as columns (n ≤ d), got {tuple(x.shape)}")
    q = _orthonormal_basis("x.T", x.T)
    return q @ q.T


def jacobian_spectral_radius(f, x) -> float:
    """The largest modulus of an eigenvalue of the Jacobian of ``f : R^d → R^d`` at the point ``x``.

    A fixed point ``x = f(x)`` with spectral radius ``< 1`` is an *attractor* of the iteration
    ``x ← f(x)`` (nearby starts converge to it); with spectral radius ``> 1`` it repels along some direction.
    See :ref:`chap-autoencoders`; Radhakrishnan, Belkin & Uhler (2020).

    Parameters
    ----------
    f : callable
        Maps a (d,) tensor to a (d,) tensor, differentiably (e.g. a ``torch.nn.Module``).
    x : torch.Tensor
        (d,) floating tensor.

    Returns
    -------
    float
        ``max |eig(∂f/∂x (x))|``.
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    check_tensor("x", x, ndim=1, floating=True)
    jac = torch.autograd.functional.jacobian(f, x, vectorize=True)
    if jac.shape != (x.shape[0], x.shape[0]):
        raise ValueError(f"f must map R^d to R^d: its Jacobian at x has shape {tuple(jac.shape)}")
    return float(torch.linalg.eigvals(jac.detach()).abs().max())


def iterate_map(f, x, steps: int) -> torch.Tensor:
    """Iterate ``x ← f(x)`` ``steps`` times on a batch of starting points, without gradients.

    See :ref:`chap-autoencoders`.

    Parameters
    ----------
    f : callable
        Maps a (m, d) tensor to a (m, d) tensor (a batch of points).
    x : torch.Tensor
        (m, d) floating tensor of starting points.
    steps : int
        Number of iterations, ``≥ 0``.

    Returns
    -------
    torch.Tensor
        (m, d) tensor ``f^steps(x)``. Raises ``FloatingPointError`` if an iterate stops being finite.
    """
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    check_tensor("x", x, ndim=2, floating=True)
    steps = check_int("steps", steps, min_value=0)
    z = x
    with torch.no_grad():
        for _ in range(steps):
            z = f(z)
            if z.shape != x.shape:
                raise ValueError(f"f must map (m, d) to (m, d): got {tuple(z.shape)} from {tuple(x.shape)}")
    if not bool(torch.isfinite(z).all()):
        raise FloatingPointError("the iterates diverged (non-finite values)")
    return z
