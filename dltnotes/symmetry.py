"""Symmetries of a loss, the quantities gradient flow conserves, and how (S)GD breaks them, exactly, per step.

A one-parameter family of transformations of some parameter groups that leaves the loss unchanged for every
input is a **symmetry**. Three kinds occur in every network (Kunin et al. 2021, "Neural mechanics"):

==============  ==========================================  ===========================  =========================
kind            invariance                                  gradient identity            conserved under the flow
==============  ==========================================  ===========================  =========================
translation     ``L(θ_A + c·1) = L(θ)``                     ``⟨g_A, 1⟩ = 0``             ``Σ θ_A``
scale           ``L(c·θ_A) = L(θ)``, ``c > 0``              ``⟨g_A, θ_A⟩ = 0``           ``‖θ_A‖²``
rescale         ``L(c·θ_A, θ_B / c) = L(θ)``, ``c > 0``     ``⟨g_A,θ_A⟩ = ⟨g_B,θ_B⟩``    ``‖θ_A‖² − ‖θ_B‖²``
==============  ==========================================  ===========================  =========================

One (S)GD step with learning rate ``η`` and coupled weight decay ``λ`` (``θ ← θ − η(g + λθ)``, as
``torch.optim.SGD(weight_decay=λ)`` does, ``g`` the gradient of the batch loss) changes them **exactly** by

* translation: ``Σθ_A ← (1 − ηλ) Σθ_A``;
* scale and rescale: ``Q ← (1 − ηλ)² Q + η² (‖g_A‖² − ‖g_B‖²)`` (``g_B = 0`` for scale).

**Conventions.** A :class:`Symmetry` names its parameter groups by the names of ``model.named_parameters()`` and,
for each, the *unit axis*: the symmetry acts on each slice along that axis separately (one symmetry per hidden
unit, say), and every quantity below has one entry per unit. A unit axis ``None`` makes the whole tensor one
group (one unit). Members of a symmetry must have the same number of units.

Taught in :ref:`chap-symmetries`. References: D. Kunin, J. Sagastuy-Breña, S. Ganguli, D. Yamins, H. Tanaka,
*Neural mechanics: symmetry and broken conservation laws in deep learning dynamics*, ICLR 2021; S. Du, W. Hu,
J. Lee, *Algorithmic regularization in learning deep homogeneous models: layers are automatically balanced*,
NeurIPS 2018.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ._validate import check_int, check_real, check_tensor
from .runtime import device as default_device
from .runtime import progress

__all__ = ["KINDS", "Symmetry", "Standardize", "StandardizedMLP", "Track", "units", "transform", "quantity",
           "noether", "unit_norm", "generator", "hessian_identity", "predicted_change", "roundoff_scale",
           "mlp_rescale_symmetries", "loss_gradient_and_hvp", "track"]

#: The kinds of symmetry this module knows.
KINDS = ("translation", "scale", "rescale")


class Symmetry(NamedTuple):
    """A symmetry of the loss, acting per unit on named parameter groups.

    ``kind``: one of :data:`KINDS`. ``up``: ``((name, unit_axis), …)``, the groups translated (translation) or
    multiplied by ``c`` (scale, rescale). ``down``: for ``"rescale"`` only, the groups divided by ``c``.
    Example: ``Symmetry("rescale", (("gain", 0), ("shift", 0)), (("w2", 1),))`` — the per-unit gain and shift
    before a ReLU against the unit's outgoing weights (the columns of ``w2``).
    """

    kind: str
    up: tuple
    down: tuple = ()


# --------------------------------------------------------------------------------------------- validation
def _members(sym) -> tuple[tuple[tuple[str, int | None], ...], tuple[tuple[str, int | None], ...]]:
    if not isinstance(sym, Symmetry):
        raise TypeError(f"expected a Symmetry, got {type(sym).__name__}")
    if sym.kind not in KINDS:
        raise ValueError(f"Symmetry.kind must be one of {KINDS}, got {sym.kind!r}")

    def parse(groups, what):
        if not isinstance(groups, (tuple, list)):
            raise TypeError(f"Symmetry.{what} must be a tuple of (name, unit_axis) pairs, got {groups!r}")
        out = []
        for g in groups:
            if not (isinstance(g, (tuple, list)) and len(g) == 2 and isinstance(g[0], str)):
                raise TypeError(f"Symmetry.{what} entries must be (name, unit_axis) pairs, got {g!r}")
            axis = g[1] if g[1] is None else check_int(f"unit axis of {g[0]!r}", g[1], min_value=0)
            out.append((g[0], axis))
        return tuple(out)

    up, down = parse(sym.up, "up"), parse(sym.down, "down")
    if not up:
        raise ValueError("Symmetry.up must name at least one parameter group")
    if sym.kind == "rescale" and not down:
        raise ValueError("a rescale symmetry needs groups in `down` (divided by c)")
    if sym.kind != "rescale" and down:
        raise ValueError(f"only rescale symmetries have `down` groups; a {sym.kind} symmetry got {down}")
    names = [n for n, _ in up + down]
    if len(set(names)) != len(names):
        raise ValueError(f"a parameter group appears twice in the symmetry: {names}")
    return up, down


def units(sym: Symmetry, params: Mapping[str, torch.Tensor]) -> int:
    """Number of units (independent copies of the symmetry) of ``sym`` on ``params``; validates both.

    ``params`` maps names to tensors (e.g. ``dict(model.named_parameters())``). Raises ``KeyError`` for a name
    that is not there, ``ValueError`` for an axis out of range or members with different numbers of units.
    """
    up, down = _members(sym)
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping name → tensor, got {type(params).__name__}")
    counts = {}
    for name, axis in up + down:
        if name not in params:
            raise KeyError(f"parameter {name!r} is not among {sorted(params)}")
        t = check_tensor(name, params[name], floating=True, finite=False)
        if axis is not None and axis >= t.ndim:
            raise ValueError(f"unit axis {axis} of {name!r} is out of range for shape {tuple(t.shape)}")
        counts[name] = 1 if axis is None else t.shape[axis]
    if len(set(counts.values())) != 1:
        raise ValueError(f"members of a symmetry must have the same number of units, got {counts}")
    return next(iter(counts.values()))


# --------------------------------------------------------------------------------------------- per-unit sums
def _per_unit(t: torch.Tensor, axis: int | None) -> torch.Tensor:
    """Sum of ``t`` over every axis but ``axis``: shape ``(units,)`` (``(1,)`` for ``axis=None``)."""
    if axis is None:
        return t.sum().reshape(1)
    return t.movedim(axis, 0).reshape(t.shape[axis], -1).sum(1)


def _broadcast(w: torch.Tensor, t: torch.Tensor, axis: int | None) -> torch.Tensor:
    """Per-unit values ``w (units,)`` shaped to multiply ``t`` along its unit axis."""
    if axis is None:
        return w.reshape([1] * t.ndim) if t.ndim else w.reshape(())
    shape = [1] * t.ndim
    shape[axis] = -1
    return w.reshape(shape)


def _signed(sym: Symmetry, f) -> torch.Tensor:
    """``Σ_up f(name, axis) − Σ_down f(name, axis)`` (``sym`` already validated)."""
    up, down = sym.up, sym.down
    total = sum(f(n, a) for n, a in up)
    for n, a in down:
        total = total - f(n, a)
    return total


def quantity(sym: Symmetry, params: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The quantity gradient flow conserves, one entry per unit: shape ``(units,)``.

    Translation ``Σθ_A``; scale ``‖θ_A‖²``; rescale ``Σ_up‖θ‖² − Σ_down‖θ‖²`` (sums over each unit's slice).
    See :ref:`chap-symmetries`; Kunin et al. (2021), Du, Hu & Lee (2018).
    """
    units(sym, params)
    return _quantity(sym, params)


def _quantity(sym, params):
    if sym.kind == "translation":
        return _signed(sym, lambda n, a: _per_unit(params[n].detach(), a))
    return _signed(sym, lambda n, a: _per_unit(params[n].detach() ** 2, a))


def noether(sym: Symmetry, params: Mapping[str, torch.Tensor], grads: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The inner product ``⟨ξ, g⟩`` of the generator with the gradient, per unit: shape ``(units,)``.

    The symmetry makes it zero at every point (the loss is constant along the orbit): translation ``Σg_A``;
    scale ``⟨θ_A, g_A⟩``; rescale ``⟨θ_A, g_A⟩ − ⟨θ_B, g_B⟩``. ``grads`` has the shapes of ``params``.
    """
    units(sym, params)
    _check_like("grads", grads, params, sym)
    return _noether(sym, params, grads)


def _noether(sym, params, grads):
    if sym.kind == "translation":
        return _signed(sym, lambda n, a: _per_unit(grads[n].detach(), a))
    return _signed(sym, lambda n, a: _per_unit(params[n].detach() * grads[n].detach(), a))


def unit_norm(sym: Symmetry, tensors: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """The Euclidean norm of each unit's slice of ``tensors`` over the groups of ``sym``: shape ``(units,)``.

    ``tensors`` maps (at least) the group names of ``sym`` to tensors of the groups' shapes: the parameters,
    their gradients or a :func:`generator`. Divide :func:`noether` by ``unit_norm(ξ) · unit_norm(g)`` for the
    cosine between the gradient and the symmetry's direction.
    """
    units(sym, tensors)
    up, down = _members(sym)
    return torch.sqrt(sum(_per_unit(tensors[n].detach() ** 2, a) for n, a in up + down))


def _check_like(what: str, other: Mapping, params: Mapping, sym: Symmetry) -> None:
    if not isinstance(other, Mapping):
        raise TypeError(f"{what} must be a mapping name → tensor, got {type(other).__name__}")
    up, down = _members(sym)
    for n, _ in up + down:
        if n not in other:
            raise KeyError(f"{what} has no entry {n!r}")
        t = check_tensor(f"{what}[{n!r}]", other[n], floating=True, finite=False)
        if t.shape != params[n].shape:
            raise ValueError(f"{what}[{n!r}] has shape {tuple(t.shape)}, the parameter {tuple(params[n].shape)}")


def _unit_weights(sym, params, weights) -> tuple[int, torch.Tensor]:
    k = units(sym, params)
    ref = params[_members(sym)[0][0][0]]
    if weights is None:
        return k, torch.ones(k, dtype=ref.dtype, device=ref.device)
    w = check_tensor("weights", weights, ndim=1, floating=True)
    if w.shape[0] != k:
        raise ValueError(f"weights must have one entry per unit ({k}), got shape {tuple(w.shape)}")
    return k, w.to(dtype=ref.dtype, device=ref.device)


def transform(sym: Symmetry, params: Mapping[str, torch.Tensor], c) -> dict[str, torch.Tensor]:
    """Apply the finite symmetry with parameter ``c`` (a number or one value per unit); return new tensors.

    Translation adds ``c`` to every entry of the unit's slice; scale multiplies it by ``c > 0``; rescale
    multiplies the ``up`` groups by ``c > 0`` and divides the ``down`` groups by ``c``. The result contains
    only the groups of ``sym`` (merge it into the other parameters yourself); the loss must not change.
    """
    k = units(sym, params)
    ref = params[_members(sym)[0][0][0]]
    if isinstance(c, torch.Tensor):
        c = check_tensor("c", c, ndim=(0, 1), floating=True).to(dtype=ref.dtype, device=ref.device)
    else:
        c = torch.tensor(check_real("c", c), dtype=ref.dtype, device=ref.device)
    c = c.expand(k) if c.ndim == 0 else c
    if c.shape[0] != k:
        raise ValueError(f"c must be a number or have one entry per unit ({k}), got shape {tuple(c.shape)}")
    if sym.kind != "translation" and not bool((c > 0).all()):
        raise ValueError(f"a {sym.kind} symmetry needs c > 0")
    up, down = _members(sym)
    out = {}
    for n, a in up:
        t = params[n].detach()
        out[n] = t + _broadcast(c, t, a) if sym.kind == "translation" else t * _broadcast(c, t, a)
    for n, a in down:
        t = params[n].detach()
        out[n] = t / _broadcast(c, t, a)
    return out


def generator(sym: Symmetry, params: Mapping[str, torch.Tensor], weights=None) -> dict[str, torch.Tensor]:
    """The infinitesimal generator ``ξ = d/dc T_c(θ)`` at the identity, weighted per unit; one tensor per group.

    Translation: ``ξ = 1`` on the groups; scale: ``ξ = θ_A``; rescale: ``ξ = (θ_A, −θ_B)``. With ``weights``
    (shape ``(units,)``) the unit slices are multiplied by them: any such combination is again a generator,
    because each unit's symmetry holds separately. Groups of the model not in ``sym`` have ``ξ = 0``.
    """
    _, w = _unit_weights(sym, params, weights)
    up, down = _members(sym)
    out = {}
    for n, a in up:
        t = params[n].detach()
        base = torch.ones_like(t) if sym.kind == "translation" else t
        out[n] = base * _broadcast(w, t, a)
    for n, a in down:
        t = params[n].detach()
        out[n] = -t * _broadcast(w, t, a)
    return out


def hessian_identity(sym: Symmetry, params: Mapping[str, torch.Tensor], grads: Mapping[str, torch.Tensor],
                     weights=None) -> dict[str, torch.Tensor]:
    """The right-hand side of the Hessian constraint ``H ξ = −Jᵀ g``, where ``J = ∂ξ/∂θ``.

    Differentiating ``⟨∇L(θ), ξ(θ)⟩ = 0`` gives ``H ξ + Jᵀ∇L = 0``: translation ``H ξ = 0``; scale
    ``H θ_A = −g_A``; rescale ``H (θ_A, −θ_B) = (−g_A, +g_B)``; zero on every other group. ``weights`` as in
    :func:`generator`. Returns one tensor per group of ``sym`` (the other groups of ``H ξ`` must vanish).
    """
    _check_like("grads", grads, params, sym)
    _, w = _unit_weights(sym, params, weights)
    up, down = _members(sym)
    out = {}
    for n, a in up:
        g = grads[n].detach()
        out[n] = torch.zeros_like(g) if sym.kind == "translation" else -g * _broadcast(w, g, a)
    for n, a in down:
        g = grads[n].detach()
        out[n] = g * _broadcast(w, g, a)
    return out


def predicted_change(sym: Symmetry, params: Mapping[str, torch.Tensor], grads: Mapping[str, torch.Tensor], *,
                     lr: float, weight_decay: float = 0.0) -> torch.Tensor:
    """The exact change of :func:`quantity` in one step ``θ ← θ − η(g + λθ)``, per unit: shape ``(units,)``.

    Uses the symmetry (``⟨ξ, g⟩ = 0``) to drop the first-order term, so it holds only where the symmetry holds:
    translation ``−ηλ Σθ_A``; scale and rescale ``−ηλ(2 − ηλ) Q + η² (Σ_up‖g‖² − Σ_down‖g‖²)``. ``grads``: the
    gradient of the (batch) loss *without* the weight-decay term; ``lr`` = η > 0, ``weight_decay`` = λ ≥ 0.
    """
    lr = check_real("lr", lr, min_value=0.0, min_inclusive=False)
    weight_decay = check_real("weight_decay", weight_decay, min_value=0.0)
    units(sym, params)
    _check_like("grads", grads, params, sym)
    return _predicted(sym, params, grads, lr, weight_decay)


def _grad_sq(sym, grads):
    """``Σ_up‖g‖² − Σ_down‖g‖²`` per unit (translation: ``Σg``)."""
    if sym.kind == "translation":
        return _signed(sym, lambda n, a: _per_unit(grads[n].detach(), a))
    return _signed(sym, lambda n, a: _per_unit(grads[n].detach() ** 2, a))


def _predicted(sym, params, grads, lr, weight_decay):
    q = _quantity(sym, params)
    if sym.kind == "translation":
        return -lr * weight_decay * q
    return -lr * weight_decay * (2 - lr * weight_decay) * q + lr**2 * _grad_sq(sym, grads)


def roundoff_scale(sym: Symmetry, params: Mapping[str, torch.Tensor], grads: Mapping[str, torch.Tensor], *,
                   lr: float, weight_decay: float = 0.0) -> torch.Tensor:
    """The size of the terms whose rounding errors enter one step's change of :func:`quantity`, per unit.

    Translation ``Σ(|θ| + η|g| + ηλ|θ|)``; scale and rescale ``Σ_{up, down} Σ(|θ| + η|g| + ηλ|θ|)²``. The
    floating-point error of the measured change is at most a small multiple of ``N·ε`` times this, ``N`` the
    length of the longest sum involved (a forward/backward pass or a squared norm) and ``ε`` the unit round-off.
    """
    lr = check_real("lr", lr, min_value=0.0, min_inclusive=False)
    weight_decay = check_real("weight_decay", weight_decay, min_value=0.0)
    units(sym, params)
    _check_like("grads", grads, params, sym)
    return _scale(sym, params, grads, lr, weight_decay)


def _scale(sym, params, grads, lr, weight_decay):
    up, down = sym.up, sym.down
    power = 1 if sym.kind == "translation" else 2
    total = 0
    for n, a in up + down:
        t, g = params[n].detach().abs(), grads[n].detach().abs()
        total = total + _per_unit((t * (1 + lr * weight_decay) + lr * g) ** power, a)
    return total


# --------------------------------------------------------------------------------------------- models
class Standardize(nn.Module):
    """Batch standardisation of each feature, ``(h − mean) / sqrt(var + eps)``, without learned parameters.

    Statistics over the batch (the biased variance, as batch normalisation uses in training); no running
    averages, so train and eval behave the same. With ``eps = 0`` (the default) the output is exactly
    invariant under ``h_j → c·h_j`` (``c > 0``) and ``h_j → h_j + a``: the weights feeding a unit have a scale
    symmetry. ``nn.BatchNorm1d`` adds ``eps = 1e-5``, which breaks it by a relative ``O(eps / var)``.

    Input ``(n, d)`` with ``n ≥ 2``; output the same shape. With ``eps = 0`` a feature that is constant over
    the batch raises ``ValueError`` (its standardisation is 0/0). See :ref:`chap-symmetries`.
    """

    def __init__(self, eps: float = 0.0):
        super().__init__()
        self.eps = check_real("eps", eps, min_value=0.0)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        check_tensor("h", h, ndim=2, floating=True, finite=False)
        if h.shape[0] < 2:
            raise ValueError(f"Standardize needs a batch of at least 2 rows, got shape {tuple(h.shape)}")
        mean = h.mean(0, keepdim=True)
        var = (h - mean).pow(2).mean(0, keepdim=True)
        if self.eps == 0.0 and bool((var == 0).any()):
            raise ValueError("a feature is constant over the batch: its standardisation (eps = 0) is 0/0")
        return (h - mean) / torch.sqrt(var + self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps}"


class StandardizedMLP(nn.Module):
    """``x → W₁x → Standardize → ReLU(γ ⊙ z + β) → W₂a + b₂``: one hidden layer with all three symmetries.

    Parameters ``w1 (width, d_in)`` (no bias), ``gain γ (width,)``, ``shift β (width,)``,
    ``w2 (d_out, width)``, ``b2 (d_out,)``. With the cross-entropy loss (softmax outputs) the loss has, per
    :meth:`symmetries`: translation of ``b2`` and of each column of ``w2`` (softmax ignores a common shift of
    the logits), scale of each row of ``w1`` (the standardisation), and rescale of each unit's ``(γ_j, β_j)``
    against the column ``w2[:, j]`` (the ReLU is positively homogeneous).

    Initialisation (seeded): ``w1 ~ N(0, 1/d_in)``, ``γ = 1``, ``β = 0``, ``w2 ~ N(0, 1/width)``,
    ``b2 ~ N(0, 1/width)``. Input ``(n, d_in)`` with ``n ≥ 2``; output logits ``(n, d_out)``.
    See :ref:`chap-symmetries`.
    """

    def __init__(self, d_in: int, width: int, d_out: int, *, seed: int = 0, eps: float = 0.0,
                 dtype: torch.dtype = torch.float64, device=None):
        super().__init__()
        d_in = check_int("d_in", d_in, min_value=1)
        width = check_int("width", width, min_value=1)
        d_out = check_int("d_out", d_out, min_value=2)
        gen = torch.Generator().manual_seed(check_int("seed", seed, min_value=0))
        if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise TypeError(f"dtype must be a floating torch dtype, got {dtype!r}")
        dev = default_device() if device is None else torch.device(device)
        kw = dict(dtype=dtype)
        self.w1 = nn.Parameter(torch.randn(width, d_in, generator=gen, **kw).div(math.sqrt(d_in)).to(dev))
        self.gain = nn.Parameter(torch.ones(width, **kw).to(dev))
        self.shift = nn.Parameter(torch.zeros(width, **kw).to(dev))
        self.w2 = nn.Parameter(torch.randn(d_out, width, generator=gen, **kw).div(math.sqrt(width)).to(dev))
        self.b2 = nn.Parameter(torch.randn(d_out, generator=gen, **kw).div(math.sqrt(width)).to(dev))
        self.norm = Standardize(eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_tensor("x", x, ndim=2, floating=True, finite=False)
        if x.shape[1] != self.w1.shape[1]:
            raise ValueError(f"expected inputs with {self.w1.shape[1]} features, got shape {tuple(x.shape)}")
        z = self.norm(x @ self.w1.T)
        a = torch.relu(self.gain * z + self.shift)
        return a @ self.w2.T + self.b2

    @staticmethod
    def symmetries() -> dict[str, Symmetry]:
        """The four symmetries of the cross-entropy loss of this model (see the class docstring)."""
        return {
            "translation_b2": Symmetry("translation", (("b2", None),)),
            "translation_w2": Symmetry("translation", (("w2", 1),)),
            "scale_w1": Symmetry("scale", (("w1", 0),)),
            "rescale_unit": Symmetry("rescale", (("gain", 0), ("shift", 0)), (("w2", 1),)),
        }


def mlp_rescale_symmetries(model: nn.Module) -> dict[str, Symmetry]:
    """The per-unit rescale symmetries of a ReLU (or linear) :class:`dltnotes.training.MLP`, one per hidden layer.

    Hidden unit ``j`` of layer ``l`` (1-based): its incoming weights ``layers.{l-1}.weight[j, :]`` and bias
    ``layers.{l-1}.bias[j]`` (if any) against its outgoing weights ``layers.{l}.weight[:, j]``. Summed over the
    units, the conserved quantity is ``‖W_l‖² + ‖b_l‖² − ‖W_{l+1}‖²``: Du, Hu & Lee's balancedness. Keys
    ``"layer_1"``, ``"layer_2"``, …
    """
    from .training import MLP

    if not isinstance(model, MLP):
        raise TypeError(f"model must be a dltnotes.training.MLP, got {type(model).__name__}")
    if model.activation not in ("relu", "linear"):
        raise ValueError(f"rescale symmetry needs a positively homogeneous activation (relu, linear), "
                         f"got {model.activation!r}")
    out = {}
    for l in range(model.depth):
        up = ((f"layers.{l}.weight", 0),)
        if model.layers[l].bias is not None:
            up = up + ((f"layers.{l}.bias", 0),)
        out[f"layer_{l + 1}"] = Symmetry("rescale", up, ((f"layers.{l + 1}.weight", 1),))
    return out


# --------------------------------------------------------------------------------------------- autograd
def loss_gradient_and_hvp(model: nn.Module, x: torch.Tensor, y: torch.Tensor, direction: Mapping[str, torch.Tensor],
                          *, loss="cross_entropy") -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The gradient ``g`` and the Hessian-vector product ``H v`` of the loss at the model's parameters.

    ``direction`` maps some parameter names to tensors of their shapes (``v`` is zero on the others).
    Double backward: ``H v = ∇⟨∇L, v⟩`` with ``v`` held fixed; the model is not changed. Returns two dicts of
    detached tensors over all parameter names. ``loss``: a name of :data:`dltnotes.training.LOSSES` or a callable
    ``(outputs, targets) -> scalar``.
    """
    from .training import loss_fn

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    params = dict(model.named_parameters())
    if not isinstance(direction, Mapping):
        raise TypeError(f"direction must be a mapping name → tensor, got {type(direction).__name__}")
    for k, v in direction.items():
        if k not in params:
            raise KeyError(f"direction names {k!r}, not a parameter of the model ({sorted(params)})")
        check_tensor(f"direction[{k!r}]", v, floating=True)
        if v.shape != params[k].shape:
            raise ValueError(f"direction[{k!r}] has shape {tuple(v.shape)}, the parameter {tuple(params[k].shape)}")
    f = loss_fn(loss)
    names = list(params)
    with torch.enable_grad():
        value = f(model(x), y)
        g = torch.autograd.grad(value, [params[k] for k in names], create_graph=True, allow_unused=True)
        g = [torch.zeros_like(params[k]) if gi is None else gi for k, gi in zip(names, g)]
        dot = sum((gi * direction[k].detach().to(gi)).sum() for k, gi in zip(names, g) if k in direction)
        if isinstance(dot, torch.Tensor) and dot.requires_grad:
            hv = torch.autograd.grad(dot, [params[k] for k in names], allow_unused=True)
        else:  # the gradient does not depend on the parameters along v
            hv = [None] * len(names)
    hv = [torch.zeros_like(params[k]) if h is None else h for k, h in zip(names, hv)]
    return ({k: gi.detach() for k, gi in zip(names, g)}, {k: h.detach() for k, h in zip(names, hv)})


# --------------------------------------------------------------------------------------------- tracking
class Track(NamedTuple):
    """What :func:`track` records, per symmetry name (arrays of float64, ``K`` = steps, ``U`` = units).

    ``quantity (K+1, U)``: the conserved quantity before each step and after the last; ``predicted (K, U)``:
    the (S)GD law's change of it in each step (:func:`predicted_change`); ``scale (K, U)``: the round-off scale
    of each step (:func:`roundoff_scale`); ``noether (K, U)``: ``⟨ξ, g⟩`` at each step (:func:`noether`);
    ``grad_sq (K, U)``: ``Σ_up‖g‖² − Σ_down‖g‖²`` (scale, rescale) or ``Σg`` (translation).
    ``loss (K,)``: the batch loss before each step; ``sq_norms``: for every parameter of the model, its squared
    norm ``‖θ‖²`` before each step and after the last, ``(K+1,)``. ``lr``, ``weight_decay``, ``optimizer`` as given.
    """

    quantity: dict
    predicted: dict
    scale: dict
    noether: dict
    grad_sq: dict
    loss: np.ndarray
    sq_norms: dict
    lr: float
    weight_decay: float
    optimizer: str

    def change(self, name: str) -> np.ndarray:
        """The measured change ``quantity[k+1] − quantity[k]`` of one symmetry's quantity, ``(K, U)``."""
        return np.diff(self.quantity[name], axis=0)


def _member_stats(t: torch.Tensor, g: torch.Tensor, axis: int | None, lr: float, wd: float) -> torch.Tensor:
    """Per-unit sums of ``θ, θ², g, g², θg, m, m²`` with ``m = |θ|(1 + ηλ) + η|g|``: shape ``(7, units)``."""
    m = t.abs() * (1 + lr * wd) + lr * g.abs()
    s = torch.stack([t, t * t, g, g * g, t * g, m, m * m])
    if axis is None:
        return s.reshape(7, 1, -1).sum(-1)
    return s.movedim(axis + 1, 1).reshape(7, t.shape[axis], -1).sum(-1)


def _step_record(sym: Symmetry, params, lr: float, wd: float, cache: dict) -> dict[str, torch.Tensor]:
    """One step's records for :func:`track`, from one pass over the groups (a faster route than the public
    functions, which the unit tests compare it with). ``cache`` holds the member statistics of this step."""
    signed = unsigned = 0
    for sign, members in ((1, sym.up), (-1, sym.down)):
        for n, a in members:
            if (n, a) not in cache:
                p = params[n].detach()
                g = params[n].grad if params[n].grad is not None else torch.zeros_like(p)
                cache[n, a] = _member_stats(p, g, a, lr, wd)
            st = cache[n, a]
            signed, unsigned = signed + sign * st, unsigned + st
    if sym.kind == "translation":
        q = signed[0]
        return dict(quantity=q, predicted=-lr * wd * q, scale=unsigned[5], noether=signed[2], grad_sq=signed[2])
    q = signed[1]
    return dict(quantity=q, predicted=-lr * wd * (2 - lr * wd) * q + lr**2 * signed[3], scale=unsigned[6],
                noether=signed[4], grad_sq=signed[3])


_OPTIMIZERS = ("sgd", "adam")


def track(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, symmetries: Mapping[str, Symmetry], lr: float,
          steps: int, optimizer: str = "sgd", weight_decay: float = 0.0, batch_size: int | None = None,
          loss="cross_entropy", generator: torch.Generator | None = None, desc: str | None = None) -> Track:
    """Train ``model`` in place and record, at every step, each symmetry's quantity and the (S)GD law's change.

    ``optimizer="sgd"``: ``torch.optim.SGD(lr, weight_decay=λ)`` (no momentum): full-batch GD when
    ``batch_size`` is ``None``, else mini-batch SGD on batches of ``batch_size`` drawn without replacement,
    reshuffled every epoch with ``generator`` (the last incomplete batch of an epoch is skipped).
    ``optimizer="adam"``: ``torch.optim.Adam(lr, weight_decay=λ)`` with its defaults (the law does not hold for
    it: the recorded ``predicted`` is what it *would* be under (S)GD). The measured quantities come from the
    optimiser's own update; the law's prediction from the parameters and gradients before it, so the two are
    independent computations.

    ``x (n, …)`` floating, ``y (n, …)`` as ``loss`` expects (see :data:`dltnotes.training.LOSSES`), both on the
    model's device. Returns a :class:`Track`. See :ref:`chap-symmetries`.
    """
    from .training import loss_fn

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    params = dict(model.named_parameters())
    if not params:
        raise ValueError("the model has no parameters")
    if not isinstance(symmetries, Mapping) or not symmetries:
        raise ValueError("symmetries must be a non-empty mapping name → Symmetry")
    for name, sym in symmetries.items():
        units(sym, params)
    x = check_tensor("x", x, floating=True)
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y must be a torch.Tensor, got {type(y).__name__}")
    n = x.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"x and y must have the same number of rows, got {n} and {y.shape[0]}")
    lr = check_real("lr", lr, min_value=0.0, min_inclusive=False)
    weight_decay = check_real("weight_decay", weight_decay, min_value=0.0)
    steps = check_int("steps", steps, min_value=1)
    if optimizer not in _OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {_OPTIMIZERS}, got {optimizer!r}")
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, min_value=2, max_value=n)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    f = loss_fn(loss)
    opt_cls = torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam
    opt = opt_cls(params.values(), lr=lr, weight_decay=weight_decay)

    rec = {key: {name: [] for name in symmetries} for key in ("quantity", "predicted", "scale", "noether", "grad_sq")}
    losses = []
    sq_norms = {k: [] for k in params}
    order, pos = None, n
    for _ in progress(range(steps), desc=desc):
        if batch_size is None:
            xb, yb = x, y
        else:
            if pos + batch_size > n:
                order, pos = torch.randperm(n, generator=generator).to(x.device), 0
            idx = order[pos:pos + batch_size]
            pos += batch_size
            xb, yb = x[idx], y[idx]
        opt.zero_grad(set_to_none=False)
        value = f(model(xb), yb)
        value.backward()
        with torch.no_grad():
            losses.append(value.detach())
            for k, p in params.items():
                sq_norms[k].append(p.detach().pow(2).sum())
            cache = {}
            for name, sym in symmetries.items():
                for key, v in _step_record(sym, params, lr, weight_decay, cache).items():
                    rec[key][name].append(v)
        opt.step()
    with torch.no_grad():
        for name, sym in symmetries.items():
            rec["quantity"][name].append(_quantity(sym, params))
        for k, p in params.items():
            sq_norms[k].append(p.detach().pow(2).sum())

    def stack(seq):
        return torch.stack(seq).detach().to("cpu", torch.float64).numpy()

    out = {key: {name: stack(seq) for name, seq in d.items()} for key, d in rec.items()}
    return Track(out["quantity"], out["predicted"], out["scale"], out["noether"], out["grad_sq"],
                 stack(losses), {k: stack(v) for k, v in sq_norms.items()}, lr, weight_decay, optimizer)
