# Minimal version for the optimisation chapters; superseded by the full module of the kernels issue.
"""Kernels of networks: the empirical neural tangent kernel.

**Convention.** For a model :math:`f(w, x)` with one output, the empirical (tangent) kernel at the current
parameters is :math:`K(x, x') = \\nabla_w f(w, x) \\cdot \\nabla_w f(w, x')`; stacked over a sample it is
:math:`K(w) = \\nabla F(w) \\nabla F(w)^\\top` with :math:`\\nabla F` the ``(n, m)`` Jacobian.

Taught in :ref:`chap-pl`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, jacrev, vmap

from ._validate import check_int, check_tensor

__all__ = ["empirical_ntk"]


def _jacobian(model: nn.Module, x: torch.Tensor, chunk_size: int | None) -> torch.Tensor:
    params = {k: v.detach() for k, v in model.named_parameters()}

    def f(p, xi):
        out = functional_call(model, p, (xi.unsqueeze(0),))
        return out.reshape(())

    jac = vmap(jacrev(f), in_dims=(None, 0), chunk_size=chunk_size)(params, x)
    return torch.cat([j.reshape(x.shape[0], -1) for j in jac.values()], dim=1)


def empirical_ntk(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor | None = None, *, method: str = "jacobian",
                  chunk_size: int | None = None) -> torch.Tensor:
    """The empirical tangent kernel ``K[i, j] = ∇_w f(x1_i) · ∇_w f(x2_j)`` of a one-output model.

    Parameters
    ----------
    model : torch.nn.Module
        A model with one output per sample (outputs ``(n,)`` or ``(n, 1)``), in eval mode (``model.eval()``),
        so that the kernel is that of a fixed function.
    x1 : torch.Tensor
        Inputs ``(n1, …)``, floating and finite, on the model's device.
    x2 : torch.Tensor, optional
        Inputs ``(n2, …)``; ``None`` means ``x1`` (the Gram matrix, symmetric).
    method : str
        Only ``"jacobian"`` (per-sample Jacobians by ``torch.func.jacrev``, then their inner products).
    chunk_size : int, optional
        Samples per vectorised chunk (bounds the memory); ``None`` does all at once.

    Returns
    -------
    torch.Tensor
        ``(n1, n2)``, in the dtype of the model's parameters. See :ref:`chap-pl`; Jacot et al. (2018).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if model.training:
        raise ValueError("empirical_ntk needs the model in eval mode: call model.eval() first")
    if method != "jacobian":
        raise ValueError(f"method must be 'jacobian', got {method!r}")
    if chunk_size is not None:
        chunk_size = check_int("chunk_size", chunk_size, min_value=1)
    check_tensor("x1", x1, floating=True)
    if x1.ndim < 2 or x1.shape[0] < 1:
        raise ValueError(f"x1 must be (n1, …) with n1 ≥ 1, got shape {tuple(x1.shape)}")
    with torch.no_grad():
        out = model(x1[:1])
    if out.numel() != 1:
        raise ValueError(f"empirical_ntk needs a model with one output per sample, got output shape {tuple(out.shape)}")
    j1 = _jacobian(model, x1, chunk_size)
    if x2 is None:
        return j1 @ j1.T
    check_tensor("x2", x2, floating=True)
    if x2.ndim != x1.ndim or x2.shape[1:] != x1.shape[1:]:
        raise ValueError(f"x2 must be (n2, …) with the sample shape of x1 {tuple(x1.shape[1:])}, "
                         f"got {tuple(x2.shape)}")
    return j1 @ _jacobian(model, x2, chunk_size).T
