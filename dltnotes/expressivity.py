"""Expressivity of ReLU networks: exact deep constructions and exact counts of activation regions on a line.

* :func:`sawtooth_net` — Telgarsky's sawtooth Δᵏ (2ᵏ linear pieces) from 2k ReLUs in k layers;
* :func:`yarotsky_square` — Yarotsky's deep approximation f_m of x² (error exactly 2^(−2m−2));
* :func:`activation_breakpoints` — every point of a segment where a hidden neuron changes sign, computed
  piece by piece from the weights (no grid);
* :func:`rao_blackwell_crossings` — the expected number of those points given everything but the biases
  (the co-area / Kac–Rice identity of Hanin & Rolnick), exact for Gaussian biases;
* :func:`l1_distance_unit_interval` — the exact L1 distance on [0, 1] of two scalar ReLU networks.

Taught in :ref:`chap-depth-separation`.
"""

from __future__ import annotations

import torch
from torch import nn

from ._validate import check_int, check_real, check_tensor

__all__ = [
    "sawtooth_net",
    "yarotsky_square",
    "activation_breakpoints",
    "rao_blackwell_crossings",
    "l1_distance_unit_interval",
]


def _linear(weight, bias) -> nn.Linear:
    """An ``nn.Linear`` in float64 with the given weight (out × in) and bias (out)."""
    w = torch.as_tensor(weight, dtype=torch.float64)
    layer = nn.Linear(w.shape[1], w.shape[0], dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(w)
        layer.bias.copy_(torch.as_tensor(bias, dtype=torch.float64))
    return layer


def sawtooth_net(k) -> nn.Sequential:
    """The k-fold composition Δᵏ of the tent map Δ(x) = 2·relu(x) − 4·relu(x − ½), exactly, on [0, 1].

    Architecture: k hidden layers of width 2 (2k ReLUs), input and output of size 1, float64. Hidden layer j
    holds relu(Δ^(j−1)(x)) and relu(Δ^(j−1)(x) − ½); the next layer forms Δ^j = 2·first − 4·second inside its
    own weights. On [0, 1], Δᵏ has exactly 2ᵏ linear pieces, with breakpoints at the dyadic points i/2ᵏ.
    Outside [0, 1] the network computes something else (Δ is not the tent there).

    ``k``: an integer ≥ 1. Returns an ``nn.Sequential`` mapping ``(n, 1)`` to ``(n, 1)``.
    See :ref:`chap-depth-separation`; Telgarsky, *Benefits of depth in neural networks* (COLT 2016).
    """
    k = check_int("k", k, min_value=1)
    layers: list[nn.Module] = [_linear([[1.0], [1.0]], [0.0, -0.5]), nn.ReLU()]
    for _ in range(k - 1):
        layers += [_linear([[2.0, -4.0], [2.0, -4.0]], [0.0, -0.5]), nn.ReLU()]
    layers.append(_linear([[2.0, -4.0]], [0.0]))
    return nn.Sequential(*layers)


def yarotsky_square(m) -> nn.Sequential:
    """Yarotsky's f_m(x) = x − Σ_{s=1}^m Δˢ(x)/4ˢ: the piecewise-linear interpolant of x² on the grid 2^(−m)ℤ.

    Architecture: m hidden layers of width 3 (3m ReLUs), float64. Hidden layer s holds relu(Δ^(s−1)(x)),
    relu(Δ^(s−1)(x) − ½) (the sawtooth of :func:`sawtooth_net`) and relu(f_(s−1)(x)), which equals
    f_(s−1)(x) because every f_s is ≥ 0 on [0, 1] (f_0(x) = x). The output layer subtracts Δᵐ/4ᵐ.
    On [0, 1], ``sup |f_m − x²| = 2^(−2m−2)``, attained at the midpoints (2j + 1)/2^(m+1) of the grid.

    ``m``: an integer ≥ 1. Returns an ``nn.Sequential`` mapping ``(n, 1)`` to ``(n, 1)``.
    See :ref:`chap-depth-separation`; Yarotsky, *Error bounds for approximations with deep ReLU networks*
    (Neural Networks 2017), Prop. 2.
    """
    m = check_int("m", m, min_value=1)
    layers: list[nn.Module] = [_linear([[1.0], [1.0], [1.0]], [0.0, -0.5, 0.0]), nn.ReLU()]
    for s in range(1, m):  # layer s + 1 from layer s: forms Δˢ = 2a − 4b and f_s = c − Δˢ/4ˢ
        q = 4.0 ** -s
        layers += [_linear([[2.0, -4.0, 0.0], [2.0, -4.0, 0.0], [-2 * q, 4 * q, 1.0]], [0.0, -0.5, 0.0]),
                   nn.ReLU()]
    q = 4.0 ** -m
    layers.append(_linear([[-2 * q, 4 * q, 1.0]], [0.0]))
    return nn.Sequential(*layers)


def _layers(model) -> list[nn.Module]:
    """The modules of a ReLU network, checked: an ``nn.Sequential`` of ``nn.Linear`` and ``nn.ReLU`` only."""
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential of nn.Linear and nn.ReLU layers, "
                        f"got {type(model).__name__}")
    layers = list(model)
    for i, layer in enumerate(layers):
        if type(layer) not in (nn.Linear, nn.ReLU):
            raise TypeError(f"layer {i} of model is {type(layer).__name__}: only nn.Linear and nn.ReLU "
                            "are supported (the pre-activations must be piecewise linear along the line)")
    if not any(isinstance(layer, nn.Linear) for layer in layers):
        raise ValueError("model has no nn.Linear layer")
    return layers


def _in_features(layers) -> int:
    return next(layer.in_features for layer in layers if isinstance(layer, nn.Linear))


def _segment(layers, x0, u, t0, t1):
    """Validated float64 copies of ``x0`` and ``u`` and the interval ``(t0, t1)``."""
    d = _in_features(layers)
    x0 = check_tensor("x0", x0, ndim=1, floating=True)
    u = check_tensor("u", u, ndim=1, floating=True)
    if x0.shape[0] != d or u.shape[0] != d:
        raise ValueError(f"x0 and u must have shape ({d},) to match the first nn.Linear, "
                         f"got {tuple(x0.shape)} and {tuple(u.shape)}")
    t0, t1 = check_real("t0", t0), check_real("t1", t1)
    if not t0 < t1:
        raise ValueError(f"need t0 < t1, got t0 = {t0}, t1 = {t1}")
    return x0.detach().to(torch.float64), u.detach().to(torch.float64), t0, t1


def _sweep(layers, x0, u, t0, t1):
    """Walk the network along x0 + t·u, layer by layer, refining the pieces on which it is affine.

    Yields, for every ReLU module, ``(nodes, pre)``: the sorted nodes t (t0, the breakpoints so far, t1) between
    which the ReLU's input is affine, and that input at the nodes, shape ``(len(nodes), width)``; after each
    yield the nodes are refined by the sign changes of this ReLU's input. Ends with ``(nodes, None)``.
    """
    dev = next(p.device for layer in layers for p in layer.parameters())
    nodes = torch.tensor([t0, t1], dtype=torch.float64, device=dev)
    x0, u = x0.to(dev), u.to(dev)

    def forward(ts, upto):
        h = x0 + ts[:, None] * u
        for layer in layers[:upto]:
            if isinstance(layer, nn.Linear):
                h = h @ layer.weight.detach().to(torch.float64).T + layer.bias.detach().to(torch.float64)
            else:
                h = torch.relu(h)
        return h

    for i, layer in enumerate(layers):
        if not isinstance(layer, nn.ReLU):
            continue
        pre = forward(nodes, i)                                   # affine on each [nodes_j, nodes_j+1]
        yield nodes, pre
        a, b = pre[:-1], pre[1:]
        cross = (a * b) < 0                                       # strict sign change inside the piece
        j, _ = torch.nonzero(cross, as_tuple=True)
        frac = a[cross] / (a[cross] - b[cross])                   # the root of the affine interpolant
        roots = nodes[j] + (nodes[j + 1] - nodes[j]) * frac
        nodes = torch.unique(torch.cat([nodes, roots]))           # sorted
    yield nodes, None                                             # the final refinement


def activation_breakpoints(model, x0, u, t0=0.0, t1=1.0) -> torch.Tensor:
    """All t in (t0, t1) at which some hidden neuron's pre-activation changes sign along x0 + t·u.

    The hidden neurons are the inputs of the ``nn.ReLU`` modules. Along a line every pre-activation is
    piecewise linear in t, with kinks only where an earlier neuron changes sign; the function walks the
    layers in order, evaluates each pre-activation at the current breakpoints, and adds the root of every
    piece on which it changes sign strictly. No grid: the result is exact up to float64 round-off (a
    pre-activation that touches zero without changing sign adds nothing). The segment crosses
    ``len(result) + 1`` activation regions, and a network with scalar input and output restricted to the
    segment has at most that many linear pieces.

    Parameters
    ----------
    model : nn.Sequential
        ``nn.Linear`` and ``nn.ReLU`` modules only (``TypeError`` otherwise); any float dtype (computed in
        float64).
    x0, u : torch.Tensor
        Floating, shape ``(d,)`` with d the input size of the first ``nn.Linear``.
    t0, t1 : float
        The parameter interval, ``t0 < t1``.

    Returns
    -------
    torch.Tensor
        float64, sorted, shape ``(n_breakpoints,)``, on the model's device.

    See :ref:`chap-depth-separation`; Hanin & Rolnick, *Complexity of linear regions in deep networks*
    (ICML 2019).
    """
    layers = _layers(model)
    x0, u, t0, t1 = _segment(layers, x0, u, t0, t1)
    *_, (nodes, _) = _sweep(layers, x0, u, t0, t1)
    return nodes[1:-1]


def rao_blackwell_crossings(model, x0, u, bias_std, t0=0.0, t1=1.0) -> torch.Tensor:
    """E[number of sign changes of each hidden neuron on the segment | all parameters except its bias].

    For neuron z = g + b, with g its pre-activation without the bias (piecewise linear in t, fixed by the
    earlier layers and the neuron's incoming weights) and b ~ N(0, bias_std²) independent of g, the number of
    zeros of z on (t0, t1) is the number of t with g(t) = −b, so its conditional expectation is the Banach
    indicatrix integral ∫|g′(t)| φ_b(−g(t)) dt. On a piece [t_j, t_(j+1)] where g is affine this integral is
    ``|Φ(g(t_(j+1))/σ_b) − Φ(g(t_j)/σ_b)|``, so the sum is exact. Averaging the measured count minus this estimate
    over random networks has mean 0 (the Rao–Blackwell identity of :ref:`chap-depth-separation`) when the
    biases really are N(0, bias_std²) and independent of everything else.

    Parameters
    ----------
    model, x0, u, t0, t1
        As in :func:`activation_breakpoints`; every ReLU must directly follow an ``nn.Linear`` (whose bias is
        the b above).
    bias_std : float
        σ_b > 0.

    Returns
    -------
    torch.Tensor
        float64, shape ``(n_hidden,)``: one conditional expectation per hidden neuron, in layer order.

    See :ref:`chap-depth-separation`; Hanin & Rolnick (ICML 2019), the proof of their Theorem 3.
    """
    layers = _layers(model)
    for i, layer in enumerate(layers):
        if isinstance(layer, nn.ReLU) and (i == 0 or not isinstance(layers[i - 1], nn.Linear)):
            raise ValueError(f"layer {i} (nn.ReLU) does not follow an nn.Linear: its input has no bias")
    sigma = check_real("bias_std", bias_std, min_value=0.0, min_inclusive=False)
    x0, u, t0, t1 = _segment(layers, x0, u, t0, t1)
    out = []
    relu_at = [i for i, layer in enumerate(layers) if isinstance(layer, nn.ReLU)]
    for i, (nodes, pre) in zip(relu_at, _sweep(layers, x0, u, t0, t1)):  # zip drops the final refinement
        g = pre - layers[i - 1].bias.detach().to(torch.float64)      # the pre-activation without its bias
        cdf = torch.special.ndtr(g / sigma)
        out.append((cdf[1:] - cdf[:-1]).abs().sum(0))
    return torch.cat(out)


def l1_distance_unit_interval(f, g) -> float:
    """``∫₀¹ |f(x) − g(x)| dx``, exactly (up to round-off), for two ReLU networks with scalar input and output.

    Both networks are affine between the union of their activation breakpoints on [0, 1]
    (:func:`activation_breakpoints`); on each such piece the integral of the absolute value of an affine function has a
    closed form.

    ``f, g``: ``nn.Sequential`` of ``nn.Linear``/``nn.ReLU`` with input and output size 1. Returns a float.
    See :ref:`chap-depth-separation`.
    """
    nets = [_layers(f), _layers(g)]
    for name, layers in zip("fg", nets):
        outs = [layer.out_features for layer in layers if isinstance(layer, nn.Linear)]
        if _in_features(layers) != 1 or outs[-1] != 1:
            raise ValueError(f"{name} must map scalars to scalars (nn.Linear(1, ·) … nn.Linear(·, 1))")
    dev = next(f.parameters()).device
    one = torch.ones(1, dtype=torch.float64, device=dev)
    zero = torch.zeros(1, dtype=torch.float64, device=dev)
    ts = torch.unique(torch.cat([zero, one, activation_breakpoints(f, zero, one).to(dev),
                                 activation_breakpoints(g, zero, one).to(dev)]))
    with torch.no_grad():
        x = ts[:, None]
        d = (f(x.to(next(f.parameters()).dtype)).double() - g(x.to(next(g.parameters()).dtype)).double())[:, 0]
    a, b, w = d[:-1], d[1:], ts[1:] - ts[:-1]
    same = a * b >= 0
    # same sign: trapezoid of |d|; opposite: two triangles, (a² + b²) / (2(|a| + |b|)) per unit width
    area = torch.where(same, w * (a.abs() + b.abs()) / 2,
                       w * (a**2 + b**2) / (2 * (a.abs() + b.abs()).clamp_min(1e-300)))
    return float(area.sum())
