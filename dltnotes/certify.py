"""Certified robustness by interval bound propagation (IBP).

**Conventions.**

* The networks are ``torch.nn.Sequential`` stacks of ``nn.Linear``, ``nn.ReLU`` and ``nn.Flatten`` layers; any
  other layer raises ``TypeError`` (interval arithmetic for it is not written here, and silently skipping it
  would not be sound).
* The threat model is the ℓ∞ ball intersected with the input domain: the set
  ``{x' : ‖x' − x‖∞ ≤ ε, lo ≤ x' ≤ hi}``, which is the box ``[max(x − ε, lo), min(x + ε, hi)]``
  entrywise.
* Bounds are propagated in centre–radius form: a box ``c ± r`` goes through ``z = W h + b`` as
  ``W c + b ± |W| r`` and through the ReLU (monotone) as ``[relu(l), relu(u)]``. The arithmetic runs in the
  dtype of ``x`` (the weights are cast to it), so float64 inputs give float64 bounds; the bounds are
  differentiable in the parameters, which IBP training uses.
* The bounds are sound in exact arithmetic; in floating point they may be off by the round-off of the matrix
  products (relative ``~1e-16`` in float64), which the tests allow for.
* A sample is *certified* when the lower bound of its true logit exceeds the upper bound of every other logit,
  ``lower[y] > max_{j≠y} upper[j]``: then no point of the threat model changes the prediction.

Taught in :ref:`chap-certified`; the method is that of Gowal et al. (2018) and Mirman et al. (2018).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._validate import check_bool, check_int, check_real, check_tensor
from .attacks import _check_bounds

__all__ = ["sequential_mlp", "interval_bounds", "certified_accuracy", "worst_case_logits", "ibp_loss", "ibp_training"]

_LAYERS = (nn.Linear, nn.ReLU, nn.Flatten)


# ----------------------------------------------------------------------------------------------- validation
def _check_model(model) -> nn.Sequential:
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be a torch.nn.Sequential of Linear, ReLU and Flatten layers, got "
                        f"{type(model).__name__}")
    if len(model) == 0:
        raise ValueError("model must hold at least one layer")
    for i, layer in enumerate(model):
        if not isinstance(layer, _LAYERS):
            raise TypeError(f"layer {i} of the model is a {type(layer).__name__}; interval bounds are written "
                            "for nn.Linear, nn.ReLU and nn.Flatten only")
    return model


def _check_inputs(model, x, eps, bounds) -> tuple[float, float, float]:
    _check_model(model)
    check_tensor("x", x, floating=True)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty batch (B, …), got shape {tuple(x.shape)}")
    eps = check_real("eps", eps, min_value=0.0)
    lo, hi = _check_bounds(bounds)
    tol = 1e-6 * max(1.0, abs(lo), abs(hi))  # round-off of a float32 image rescaled to [lo, hi]
    xmin, xmax = torch.aminmax(x.detach())
    if xmin.item() < lo - tol or xmax.item() > hi + tol:
        raise ValueError(f"x must lie within bounds [{lo}, {hi}], got values in "
                         f"[{xmin.item():.6g}, {xmax.item():.6g}]")
    return eps, lo, hi


def _check_labels(x, y) -> None:
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y must be a torch.Tensor, got {type(y).__name__}")
    if y.dtype != torch.int64:
        raise TypeError(f"y must hold int64 class labels, got {y.dtype}")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(f"y must hold one label per input, shape ({x.shape[0]},), got {tuple(y.shape)}")


# ----------------------------------------------------------------------------------------------- networks
def sequential_mlp(sizes, *, relu: bool = True, w_std: float = 2 ** 0.5, seed: int = 0,
                   dtype: torch.dtype = torch.float32) -> nn.Sequential:
    """A fully connected network as the ``nn.Sequential`` that :func:`interval_bounds` reads.

    ``nn.Linear(sizes[0], sizes[1])``, ``nn.ReLU()``, …, ``nn.Linear(sizes[-2], sizes[-1])`` (no ReLU after the
    last layer; none at all with ``relu=False``, a deep linear network). Weights are drawn i.i.d.
    ``N(0, w_std² / fan_in)`` (``w_std = √2``: He initialisation) from a generator seeded by ``seed``; biases are
    zero. See :ref:`chap-certified`.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths ``(d_in, …, d_out)``, at least two, each ≥ 1.
    relu : bool
        Put a ReLU after every hidden layer.
    w_std : float
        Weight scale (> 0).
    seed : int
        Seed of the weights (≥ 0).
    dtype : torch.dtype
        Floating dtype of the parameters.

    Returns
    -------
    torch.nn.Sequential
        On the CPU; move it with ``.to(device)``.
    """
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
        raise TypeError(f"sizes must be a sequence of layer widths, got {type(sizes).__name__}")
    sizes = [check_int(f"sizes[{i}]", s, min_value=1) for i, s in enumerate(sizes)]
    if len(sizes) < 2:
        raise ValueError(f"sizes must list at least an input and an output width, got {sizes}")
    relu = check_bool("relu", relu)
    w_std = check_real("w_std", w_std, min_value=0.0, min_inclusive=False)
    gen = torch.Generator().manual_seed(check_int("seed", seed, min_value=0))
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(a, b, dtype=dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(b, a, generator=gen, dtype=torch.float64) * (w_std / math.sqrt(a)))
            lin.bias.zero_()
        layers.append(lin)
        if relu and i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


# ----------------------------------------------------------------------------------------------- the bounds
def _propagate(model: nn.Sequential, lower: torch.Tensor, upper: torch.Tensor):
    """Push the box ``[lower, upper]`` through the layers (no validation)."""
    for layer in model:
        if isinstance(layer, nn.Linear):
            w = layer.weight.to(lower.dtype)
            centre, radius = (upper + lower) / 2, (upper - lower) / 2
            centre = centre @ w.T
            if layer.bias is not None:
                centre = centre + layer.bias.to(lower.dtype)
            radius = radius @ w.abs().T
            lower, upper = centre - radius, centre + radius
        elif isinstance(layer, nn.ReLU):
            lower, upper = lower.clamp_min(0), upper.clamp_min(0)
        else:  # nn.Flatten
            lower, upper = layer(lower), layer(upper)
    return lower, upper


def interval_bounds(model, x: torch.Tensor, eps: float, *, bounds=(0.0, 1.0)):
    """Elementwise bounds on a network's outputs over an ℓ∞ ball, by interval arithmetic layer by layer.

    For every sample ``b`` and output ``j``, ``lower[b, j] ≤ model(x')[b, j] ≤ upper[b, j]`` for all ``x'`` with
    ``‖x' − x_b‖∞ ≤ eps`` and ``lo ≤ x' ≤ hi``. The input box is clipped to ``bounds`` first; then each
    ``nn.Linear`` maps the box ``c ± r`` to ``W c + b ± |W| r`` and each ``nn.ReLU`` to ``[relu(l), relu(u)]``.
    For a single ``nn.Linear`` layer the bounds are exact (attained at vertices of the box); for deeper networks
    they are loose (the wrapping effect). See :ref:`chap-certified`; the method is the box domain of Mirman et
    al. (2018) and the interval bound propagation of Gowal et al. (2018).

    Parameters
    ----------
    model : torch.nn.Sequential
        Layers ``nn.Linear``, ``nn.ReLU`` and ``nn.Flatten`` only (any other raises ``TypeError``).
    x : torch.Tensor
        Inputs ``(B, …)``, floating, inside ``bounds``; the arithmetic runs in ``x.dtype``.
    eps : float
        ℓ∞ radius (≥ 0).
    bounds : tuple of float
        ``(lo, hi)``, the input domain.

    Returns
    -------
    tuple of torch.Tensor
        ``(lower, upper)``, each ``(B, C)`` (the output shape of the model) in ``x.dtype``, differentiable in the
        model's parameters.
    """
    eps, lo, hi = _check_inputs(model, x, eps, bounds)
    return _propagate(model, (x - eps).clamp(lo, hi), (x + eps).clamp(lo, hi))


def _worst(lower: torch.Tensor, upper: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return upper.scatter(1, y[:, None], lower.gather(1, y[:, None]))


def worst_case_logits(model, x: torch.Tensor, y: torch.Tensor, eps: float, *, bounds=(0.0, 1.0)) -> torch.Tensor:
    """The worst-case logits of IBP: ``ẑ_y = lower_y`` and ``ẑ_j = upper_j`` for ``j ≠ y``.

    A sample is certified exactly when ``argmax ẑ = y`` with no tie; the cross-entropy of ``ẑ`` upper-bounds the
    cross-entropy of every ``model(x')`` in the threat model (Gowal et al. 2018). See :ref:`chap-certified`.

    Parameters
    ----------
    model, x, eps, bounds
        As in :func:`interval_bounds`.
    y : torch.Tensor
        ``(B,)`` int64 labels.

    Returns
    -------
    torch.Tensor
        ``(B, C)`` in ``x.dtype``.
    """
    lower, upper = interval_bounds(model, x, eps, bounds=bounds)
    _check_labels(x, y)
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= lower.shape[1]):
        raise ValueError(f"labels must lie in [0, {lower.shape[1]}), got values in [{int(y.min())}, {int(y.max())}]")
    return _worst(lower, upper, y.to(lower.device))


def certified_accuracy(model, x: torch.Tensor, y: torch.Tensor, eps: float, *, bounds=(0.0, 1.0),
                       per_sample: bool = False):
    """Fraction of samples that interval bounds certify: ``lower[y] > max_{j≠y} upper[j]``.

    A certified sample is classified correctly at every ``x'`` of the threat model, so the certified accuracy is
    at most the accuracy under any attack, which is at most the clean accuracy. See :ref:`chap-certified`.

    Parameters
    ----------
    model, x, eps, bounds
        As in :func:`interval_bounds`.
    y : torch.Tensor
        ``(B,)`` int64 labels.
    per_sample : bool
        Return the certificate of every sample (a ``(B,)`` array of 0.0/1.0) instead of the fraction.

    Returns
    -------
    float or numpy.ndarray
        The certified accuracy in ``[0, 1]`` (binomial standard error ``sqrt(a(1 − a)/B)``), or with
        ``per_sample`` the ``(B,)`` float64 array of certificates.
    """
    per_sample = check_bool("per_sample", per_sample)
    with torch.no_grad():
        z = worst_case_logits(model, x, y, eps, bounds=bounds)
        y = y.to(z.device)
        true = z.gather(1, y[:, None])[:, 0]
        others = z.scatter(1, y[:, None], -math.inf).amax(1)
        ok = (true > others).double().cpu().numpy()
    return ok if per_sample else float(ok.mean())


# ----------------------------------------------------------------------------------------------- training
def ibp_loss(model, x: torch.Tensor, y: torch.Tensor, eps: float, *, kappa: float = 0.5,
             bounds=(0.0, 1.0)) -> torch.Tensor:
    """The IBP training loss ``κ · CE(model(x), y) + (1 − κ) · CE(ẑ, y)`` of Gowal et al. (2018).

    ``ẑ`` are the :func:`worst_case_logits`; their cross-entropy upper-bounds the robust loss
    ``max_{x'} CE(model(x'), y)`` over the threat model, so the second term trains the certificate.
    See :ref:`chap-certified`.

    Parameters
    ----------
    model, x, y, eps, bounds
        As in :func:`worst_case_logits`.
    kappa : float
        Weight of the clean loss, in ``[0, 1]``.

    Returns
    -------
    torch.Tensor
        A scalar (mean over the batch), differentiable in the model's parameters.
    """
    kappa = check_real("kappa", kappa, min_value=0.0, max_value=1.0)
    z_hat = worst_case_logits(model, x, y, eps, bounds=bounds)
    y = y.to(z_hat.device)
    return kappa * F.cross_entropy(model(x).to(z_hat.dtype), y) + (1 - kappa) * F.cross_entropy(z_hat, y)


def _schedule(step: int, steps: int, *, eps: float, kappa: float, warmup: float, ramp: float):
    """``(ε_t, κ_t)`` at ``step`` of ``steps``: 0 and 1 during the warm-up, then linear ramps to ``eps`` and
    ``kappa`` over the fraction ``ramp`` of the steps, then constant (Gowal et al. 2018)."""
    frac = min(max((step / steps - warmup) / ramp, 0.0), 1.0) if ramp > 0 else float(step >= warmup * steps)
    return frac * eps, 1.0 - frac * (1.0 - kappa)


def ibp_training(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor, *, eps: float, kappa: float = 0.5,
                 warmup: float = 0.1, ramp: float = 0.5, steps: int = 500, lr: float = 1e-2,
                 batch_size: int = 128, seed: int = 0, bounds=(0.0, 1.0)) -> np.ndarray:
    """Train ``model`` in place by Adam on :func:`ibp_loss`, with the ε and κ ramps of Gowal et al. (2018).

    For the first ``warmup · steps`` updates the loss is the clean cross-entropy (``ε_t = 0``, ``κ_t = 1``);
    over the next ``ramp · steps`` updates ``ε_t`` grows linearly to ``eps`` and ``κ_t`` falls linearly to
    ``kappa``; the rest train at ``(eps, kappa)``. Minibatches are drawn by reshuffling the sample each epoch
    with a generator seeded by ``seed``. See :ref:`chap-certified`.

    Parameters
    ----------
    model : torch.nn.Sequential
        As in :func:`interval_bounds`; trained in place.
    x, y : torch.Tensor
        Training inputs ``(n, …)`` inside ``bounds`` and int64 labels ``(n,)``, on the model's device.
    eps : float
        Final training radius (≥ 0).
    kappa : float
        Final weight of the clean loss, in ``[0, 1]``.
    warmup, ramp : float
        Fractions of ``steps`` (each in ``[0, 1]``, summing to at most 1).
    steps : int
        Number of Adam updates (≥ 1).
    lr : float
        Adam's learning rate (> 0).
    batch_size : int
        Minibatch size, in ``[1, n]``.
    seed : int
        Seed of the minibatch order.
    bounds : tuple of float
        ``(lo, hi)``, the input domain.

    Returns
    -------
    numpy.ndarray
        ``(steps,)`` float64: the minibatch loss of every update (at that update's ``ε_t`` and ``κ_t``).
    """
    eps, _, _ = _check_inputs(model, x, eps, bounds)
    _check_labels(x, y)
    kappa = check_real("kappa", kappa, min_value=0.0, max_value=1.0)
    warmup = check_real("warmup", warmup, min_value=0.0, max_value=1.0)
    ramp = check_real("ramp", ramp, min_value=0.0, max_value=1.0)
    if warmup + ramp > 1.0:
        raise ValueError(f"warmup + ramp must be at most 1, got {warmup} + {ramp}")
    steps = check_int("steps", steps, min_value=1)
    lr = check_real("lr", lr, min_value=0.0, min_inclusive=False)
    n = x.shape[0]
    batch_size = check_int("batch_size", batch_size, min_value=1, max_value=n)
    gen = torch.Generator().manual_seed(check_int("seed", seed, min_value=0))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses, order, pos = np.empty(steps), torch.randperm(n, generator=gen), 0
    model.train()
    for step in range(steps):
        if pos + batch_size > n:
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos:pos + batch_size].to(x.device)
        pos += batch_size
        eps_t, kappa_t = _schedule(step, steps, eps=eps, kappa=kappa, warmup=warmup, ramp=ramp)
        loss = ibp_loss(model, x[idx], y[idx], eps_t, kappa=kappa_t, bounds=bounds)
        if not torch.isfinite(loss):
            raise RuntimeError(f"IBP training diverged at step {step} (loss = {loss.item()}); lower lr")
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses[step] = loss.item()
    model.eval()
    return losses
