"""Norm- and margin-based generalisation bounds for fully connected networks, measured.

**Conventions.** A network is an ``nn.Sequential`` of bias-free ``nn.Linear`` layers and element-wise
1-Lipschitz activations (``ReLU``, ``Tanh``, ``Identity``, ``LeakyReLU`` with slope ≤ 1, ``Hardtanh``). A weight
``W`` is stored as ``nn.Linear`` stores it, shape ``(fan_out, fan_in)``, so row ``j`` holds the incoming weights of
output unit ``j``. ``‖W‖₂`` is the spectral norm and ``‖W‖_{2,1} = Σ_j ‖W_{j,:}‖₂`` the sum of the rows' ℓ2 norms
(Bartlett et al.'s ``‖Wᵀ‖_{2,1}``). Outputs are ``(n, k)`` scores, labels are integers in ``[0, k)``; the margin of
a point is ``f(x)_y − max_{j≠y} f(x)_j``.

Taught in :ref:`chap-margin-bounds`. Reference: Bartlett, Foster & Telgarsky (2017), *Spectrally-normalized
margin bounds for neural networks*.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._validate import check_int, check_real, check_tensor

__all__ = ["bias_free_mlp", "layer_weights", "spectral_complexity", "lipschitz_upper_bound", "margins",
           "normalized_margins", "margin_bound", "input_jacobians"]

_ACTIVATIONS = (nn.ReLU, nn.Tanh, nn.Identity, nn.Hardtanh, nn.LeakyReLU)


def bias_free_mlp(d_in: int, width: int, depth: int, d_out: int, *, seed: int = 0) -> nn.Sequential:
    """An ``nn.Sequential`` of ``depth`` bias-free ReLU hidden layers of ``width`` units and a linear readout.

    Weights are He-initialised, ``W ~ N(0, 2 / fan_in)`` (readout ``N(0, 1 / fan_in)``), from a generator seeded
    by ``seed``; float32 on the CPU (move it with ``.to``). Taught in :ref:`chap-margin-bounds`.
    """
    d_in, width = check_int("d_in", d_in, min_value=1), check_int("width", width, min_value=1)
    depth, d_out = check_int("depth", depth, min_value=0), check_int("d_out", d_out, min_value=1)
    gen = torch.Generator().manual_seed(check_int("seed", seed, min_value=0))
    sizes = [d_in] + [width] * depth + [d_out]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(a, b, bias=False)
        gain = 2.0 if i < depth else 1.0
        with torch.no_grad():
            lin.weight.copy_(torch.randn(b, a, generator=gen) * math.sqrt(gain / a))
        layers += [lin, nn.ReLU()] if i < depth else [lin]
    return nn.Sequential(*layers)


def layer_weights(model) -> list[torch.Tensor]:
    """The weights ``(fan_out, fan_in)`` of the linear layers of ``model``, input side first (detached).

    Raises ``TypeError`` unless ``model`` is an ``nn.Sequential`` of ``nn.Linear`` layers and element-wise
    1-Lipschitz activations, ``ValueError`` if a linear layer has a bias (the bound here assumes none), if
    ``LeakyReLU`` has a slope above 1, if there is no linear layer, or if a weight is not finite.
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential, got {type(model).__name__}")
    weights = []
    for i, layer in enumerate(model):
        if isinstance(layer, nn.Linear):
            if layer.bias is not None:
                raise ValueError(f"layer {i} (nn.Linear) has a bias: build it with bias=False; the spectral "
                                 "complexity here is for bias-free networks")
            w = check_tensor(f"layer {i} weight", layer.weight.detach(), ndim=2, floating=True)
            weights.append(w)
        elif isinstance(layer, _ACTIVATIONS):
            if isinstance(layer, nn.LeakyReLU) and abs(layer.negative_slope) > 1:
                raise ValueError(f"layer {i}: LeakyReLU with slope {layer.negative_slope} is not 1-Lipschitz")
        else:
            raise TypeError(f"layer {i} is a {type(layer).__name__}: only nn.Linear and element-wise "
                            "1-Lipschitz activations (ReLU, Tanh, Identity, Hardtanh, LeakyReLU) are allowed")
    if not weights:
        raise ValueError("model has no nn.Linear layer")
    return weights


def _norms(model) -> tuple[list[float], list[float]]:
    ws = [w.double() for w in layer_weights(model)]
    spec = [float(torch.linalg.matrix_norm(w, ord=2)) for w in ws]
    two_one = [float(w.norm(dim=1).sum()) for w in ws]
    return spec, two_one


def spectral_complexity(model) -> float:
    """Bartlett et al.'s spectral complexity ``R = Π_i ‖W_i‖₂ · (Σ_i (‖W_i‖_{2,1} / ‖W_i‖₂)^{2/3})^{3/2}``.

    Reference matrices are 0 and the activations 1-Lipschitz (see the module docstring for the norms). Computed
    in float64. A layer with ``W_i = 0`` gives ``R = 0``. Taught in :ref:`chap-margin-bounds`.
    """
    spec, two_one = _norms(model)
    if min(spec) == 0.0:
        return 0.0
    correction = sum((b / s) ** (2.0 / 3.0) for b, s in zip(two_one, spec)) ** 1.5
    return math.prod(spec) * correction


def lipschitz_upper_bound(model) -> float:
    """``Π_i ‖W_i‖₂``: an upper bound on the ℓ2 Lipschitz constant of the network (float64)."""
    return math.prod(_norms(model)[0])


def _scores(model, x) -> torch.Tensor:
    check_tensor("x", x, ndim=2, floating=True)
    with torch.no_grad():
        return model(x)


def margins(model, x, y) -> torch.Tensor:
    """Multiclass margins ``f(x_i)_{y_i} − max_{j≠y_i} f(x_i)_j``, shape ``(n,)``; negative when misclassified.

    ``x (n, d)`` floating, ``y (n,)`` integer labels in ``[0, k)`` where ``k ≥ 2`` is the number of outputs.
    """
    f = _scores(model, x)
    check_tensor("y", y, ndim=1, floating=False)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"x and y must have the same n, got {x.shape[0]} and {y.shape[0]}")
    if f.ndim != 2 or f.shape[1] < 2:
        raise ValueError(f"the model must output (n, k) scores with k ≥ 2, got {tuple(f.shape)}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= f.shape[1]):
        raise ValueError(f"labels must lie in [0, {f.shape[1]}), got [{int(y.min())}, {int(y.max())}]")
    true = f.gather(1, y[:, None]).squeeze(1)
    others = f.scatter(1, y[:, None], float("-inf")).max(dim=1).values
    return true - others


def normalized_margins(model, x, y) -> torch.Tensor:
    """Margins divided by ``R · ‖X‖_F / n``: the scale on which the bound's complexity term reads ``1/γ̄``.

    ``R`` is :func:`spectral_complexity`, ``‖X‖_F = (Σ_i ‖x_i‖²)^{1/2}``. Shape ``(n,)``.
    """
    m = margins(model, x, y)
    scale = spectral_complexity(model) * float(x.double().norm()) / x.shape[0]
    if scale == 0.0:
        raise ValueError("the network or the data is zero: the normalised margin is undefined")
    return m / scale


def margin_bound(model, x, y, gamma: float, *, delta: float = 0.05) -> float:
    """The right-hand side of Bartlett, Foster & Telgarsky's margin bound (their Lemma A.8, fixed norms).

    ``R̂_γ + 8/n + 72 ‖X‖_F R ln(2W) ln(n) / (γ n) + 3 sqrt(ln(1/δ) / (2n))``, where ``R̂_γ`` is the fraction of
    training points with margin ``≤ γ``, ``R`` the spectral complexity and ``W`` the largest layer width
    (inputs and outputs included). With probability ``≥ 1 − δ`` it bounds the test error when the norms were
    fixed in advance; their Theorem 1.1 adds logarithmic union-bound terms, which only make it larger.
    """
    gamma = check_real("gamma", gamma, min_value=0.0, min_inclusive=False)
    delta = check_real("delta", delta, min_value=0.0, max_value=1.0, min_inclusive=False,
                       max_inclusive=False)
    m = margins(model, x, y)
    n = x.shape[0]
    if n < 2:
        raise ValueError("need at least two training points")
    widths = [d for w in layer_weights(model) for d in w.shape]
    ramp = float((m <= gamma).double().mean())
    complexity = 72 * float(x.double().norm()) * spectral_complexity(model) \
        * math.log(2 * max(widths)) * math.log(n) / (gamma * n)
    return ramp + 8 / n + complexity + 3 * math.sqrt(math.log(1 / delta) / (2 * n))


def input_jacobians(model, x) -> torch.Tensor:
    """The Jacobians ``∂f(x_i)/∂x``, shape ``(n, k, d)``, by automatic differentiation (one pass per output)."""
    check_tensor("x", x, ndim=2, floating=True)
    x = x.detach().clone().requires_grad_(True)
    f = model(x)
    rows = [torch.autograd.grad(f[:, j].sum(), x, retain_graph=True)[0] for j in range(f.shape[1])]
    return torch.stack(rows, dim=1).detach()
