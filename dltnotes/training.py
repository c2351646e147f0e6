"""A small, readable training loop and the MLP every chapter trains.

**Conventions.**

* ``MLP(d_in, width, depth, d_out)`` has ``depth`` hidden layers of ``width`` units. In the ``"ntk"``
  parameterisation (the default; Jacot et al. 2018 and neural-tangents' ``stax``) each layer computes
  ``w_std · W h / sqrt(fan_in) + b_std · b`` with ``W, b ~ N(0, 1)``; in the ``"standard"`` one it computes
  ``W h + b`` with ``W ~ N(0, w_std² / fan_in)``, ``b ~ N(0, b_std²)``. Both give the same function at
  initialisation; they differ in how gradient descent moves the weights. With ``b_std=0`` layers have no bias.
* The model returns ``(n, d_out)``; inputs of shape ``(n, …)`` are flattened to ``(n, d_in)``.
* Losses are averages over the sample. ``"mse"`` is ``mean_i ½‖f(x_i) − y_i‖²``; ``"cross_entropy"`` takes integer
  labels; ``"logistic"``, ``"exponential"`` and ``"hinge"`` take labels in ``{−1, +1}`` and a scalar output.
* :func:`train` records, every ``record_every`` steps and at the end, the loss and accuracy **on the full
  training set** (so GD and SGD curves are comparable), optional validation metrics, and the distance travelled
  from initialisation ``‖w_t − w_0‖`` with its relative size ``‖w_t − w_0‖ / ‖w_0‖``.

Taught in :ref:`chap-erm`; used by every chapter that trains a network.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._validate import check_int, check_real, check_tensor
from .runtime import device as default_device
from .runtime import progress

__all__ = ["MLP", "History", "LOSSES", "OPTIMIZERS", "loss_fn", "evaluate", "train"]


# ----------------------------------------------------------------------------------------------- the model
_ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "erf": torch.erf,
    "gelu": F.gelu,
    "linear": lambda h: h,
}


class Dense(nn.Module):
    """One fully connected layer in the ``"ntk"`` or ``"standard"`` parameterisation (see module docstring)."""

    def __init__(self, fan_in: int, fan_out: int, *, w_std: float, b_std: float, parameterization: str,
                 generator: torch.Generator | None):
        super().__init__()
        self.fan_in, self.w_std, self.b_std, self.parameterization = fan_in, w_std, b_std, parameterization
        scale = 1.0 if parameterization == "ntk" else w_std / math.sqrt(fan_in)
        self.weight = nn.Parameter(scale * torch.randn(fan_out, fan_in, generator=generator))
        if b_std > 0:
            bscale = 1.0 if parameterization == "ntk" else b_std
            self.bias = nn.Parameter(bscale * torch.randn(fan_out, generator=generator))
        else:
            self.register_parameter("bias", None)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """Apply the layer to ``h (n, fan_in)``; returns ``(n, fan_out)``."""
        if self.parameterization == "ntk":
            out = F.linear(h, self.weight) * (self.w_std / math.sqrt(self.fan_in))
            return out if self.bias is None else out + self.b_std * self.bias
        return F.linear(h, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"fan_in={self.fan_in}, fan_out={self.weight.shape[0]}, w_std={self.w_std}, b_std={self.b_std}, "
                f"parameterization={self.parameterization!r}")


class MLP(nn.Module):
    """A fully connected network: ``depth`` hidden layers of ``width`` units, then a linear readout.

    The forward pass maps ``x`` of shape ``(n, …)``, with ``d_in`` entries per sample, to ``(n, d_out)``.

    Parameters
    ----------
    d_in, width, depth, d_out : int
        Input dimension, hidden width, number of hidden layers (``0`` gives a linear model), output dimension.
    w_std, b_std : float
        Weight and bias scales (see the module docstring); ``b_std=0`` means no biases.
    parameterization : str
        ``"ntk"`` or ``"standard"``: where the ``1/sqrt(fan_in)`` lives, in the forward pass or in the
        initialisation.
    activation : str
        Non-linearity after each hidden layer: ``"relu"``, ``"tanh"``, ``"erf"``, ``"gelu"`` or ``"linear"``
        (a deep linear network).
    seed : int, optional
        Seed of the initialisation; ``None`` uses torch's global generator
        (see :func:`dltnotes.runtime.seed_everything`).
    """

    def __init__(self, d_in: int, width: int, depth: int, d_out: int = 1, *, w_std: float = 1.0,
                 b_std: float = 0.0, parameterization: str = "ntk", activation: str = "relu",
                 seed: int | None = None):
        super().__init__()
        self.d_in = check_int("d_in", d_in, min_value=1)
        self.width = check_int("width", width, min_value=1)
        self.depth = check_int("depth", depth, min_value=0)
        self.d_out = check_int("d_out", d_out, min_value=1)
        w_std = check_real("w_std", w_std, min_value=0.0, min_inclusive=False)
        b_std = check_real("b_std", b_std, min_value=0.0)
        if parameterization not in ("ntk", "standard"):
            raise ValueError(f"parameterization must be 'ntk' or 'standard', got {parameterization!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        self.parameterization, self.activation = parameterization, activation
        gen = None if seed is None else torch.Generator().manual_seed(check_int("seed", seed, min_value=0))
        sizes = [self.d_in] + [self.width] * self.depth + [self.d_out]
        self.layers = nn.ModuleList(
            Dense(a, b, w_std=w_std, b_std=b_std, parameterization=parameterization, generator=gen)
            for a, b in zip(sizes[:-1], sizes[1:])
        )
        self._phi = _ACTIVATIONS[activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``(n, d_out)`` for inputs ``(n, …)``."""
        if x.ndim < 2 or x[0].numel() != self.d_in:
            raise ValueError(f"MLP expects inputs (n, …) with {self.d_in} entries per sample, got {tuple(x.shape)}")
        h = x.reshape(x.shape[0], -1)
        for layer in self.layers[:-1]:
            h = self._phi(layer(h))
        return self.layers[-1](h)


# ----------------------------------------------------------------------------------------------- losses
def _scalar(f: torch.Tensor) -> torch.Tensor:
    if f.ndim == 2 and f.shape[1] == 1:
        return f[:, 0]
    if f.ndim != 1:
        raise ValueError(f"this loss needs one output per sample, got outputs of shape {tuple(f.shape)}")
    return f


def _mse(f, y):
    y = y.to(f.dtype).reshape(f.shape) if y.numel() == f.numel() else y
    if y.shape != f.shape:
        raise ValueError(f"mse: targets of shape {tuple(y.shape)} do not match outputs {tuple(f.shape)}")
    return 0.5 * (f - y).pow(2).reshape(f.shape[0], -1).sum(1).mean()


def _cross_entropy(f, y):
    if y.dtype != torch.int64 or y.ndim != 1:
        raise TypeError(f"cross_entropy needs int64 class labels of shape (n,), got {y.dtype} {tuple(y.shape)}")
    return F.cross_entropy(f, y)


def _margins(f, y):
    return y.to(f.dtype) * _scalar(f)


#: The losses by name, each ``(outputs, targets) -> scalar`` (see the module docstring for conventions).
LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": _mse,
    "cross_entropy": _cross_entropy,
    "logistic": lambda f, y: F.softplus(-_margins(f, y)).mean(),
    "exponential": lambda f, y: torch.exp(-_margins(f, y)).mean(),
    "hinge": lambda f, y: torch.relu(1 - _margins(f, y)).mean(),
}


def loss_fn(name_or_fn) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss ``(outputs, targets) -> scalar`` named by a key of :data:`LOSSES`, or a callable passed through."""
    if callable(name_or_fn):
        return name_or_fn
    if name_or_fn not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)} or a callable, got {name_or_fn!r}")
    return LOSSES[name_or_fn]


def _accuracy(loss, f: torch.Tensor, y: torch.Tensor) -> float | None:
    if loss == "cross_entropy":
        return f.argmax(1).eq(y).double().mean().item()
    if loss in ("logistic", "exponential", "hinge"):
        return (_margins(f, y) > 0).double().mean().item()
    return None


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss="cross_entropy") -> tuple[float, float | None]:
    """Loss and accuracy (``None`` for regression losses) of ``model`` on ``(x, y)``, in eval mode.

    The model's train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    try:
        f = model(x)
        return loss_fn(loss)(f, y).item(), _accuracy(loss, f, y)
    finally:
        model.train(was_training)


# ----------------------------------------------------------------------------------------------- training
#: The optimisers by name, each ``(params, lr, **kwargs) -> torch.optim.Optimizer``; ``"momentum"`` and
#: ``"nesterov"`` default to momentum 0.9.
OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": torch.optim.SGD,
    "momentum": lambda params, lr, **kw: torch.optim.SGD(params, lr=lr, **({"momentum": 0.9} | kw)),
    "nesterov": lambda params, lr, **kw: torch.optim.SGD(params, lr=lr, **({"momentum": 0.9, "nesterov": True} | kw)),
    "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam,
}


@dataclass
class History:
    """What :func:`train` records. Each list has one entry per record; ``step`` is the number of updates done."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    accuracy: list[float | None] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float | None] = field(default_factory=list)
    dist_from_init: list[float] = field(default_factory=list)
    rel_dist_from_init: list[float] = field(default_factory=list)

    def array(self, name: str) -> np.ndarray:
        """One recorded series as a float numpy array (``None`` entries become NaN)."""
        values = getattr(self, name)
        return np.array([np.nan if v is None else v for v in values], dtype=float)


def _flat_params(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    loss="cross_entropy",
    optimizer="sgd",
    lr: float = 0.1,
    steps: int = 100,
    batch_size: int | None = None,
    optimizer_kwargs: dict | None = None,
    record_every: int = 1,
    x_val: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    seed: int = 0,
    device=None,
    desc: str | None = None,
    step_hook: Callable[[nn.Module, int], None] | None = None,
    batch_transform: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> History:
    """Train ``model`` on ``(x, y)`` by full-batch GD (``batch_size=None``) or minibatch SGD; return a :class:`History`.

    Parameters
    ----------
    model : torch.nn.Module
        Moved (in place) to ``device``.
    x, y : torch.Tensor
        ``x (n, …)`` floating and finite; ``y (n,)`` or ``(n, k)`` as the loss expects.
    loss : str or callable
        A key of :data:`LOSSES` or a callable ``(outputs, targets) -> scalar``.
    optimizer : str or callable
        A key of :data:`OPTIMIZERS` (``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"rmsprop"``, ``"adam"``) or any
        callable ``(params, lr=..., **optimizer_kwargs) -> torch.optim.Optimizer`` such as a ``torch.optim`` class.
    lr : float
        Learning rate (> 0).
    steps : int
        Number of parameter updates.
    batch_size : int, optional
        Minibatch size; ``None`` means the full sample (gradient descent). Minibatches are drawn by reshuffling
        the sample each epoch with a generator seeded by ``seed``.
    record_every : int
        Record metrics every this many updates (and always at step 0 and at the last step).
    x_val, y_val : torch.Tensor, optional
        A validation set to record too.
    device : torch.device, optional
        Default :func:`dltnotes.runtime.device`.
    step_hook : callable, optional
        Called as ``step_hook(model, step)`` after every update (e.g. to record something else).
    batch_transform : callable, optional
        ``batch_transform(model, xb, yb) -> xb'`` replaces each minibatch's inputs before the update (adversarial
        training uses it to substitute attacked inputs).

    Raises
    ------
    RuntimeError
        If the training loss becomes NaN or infinite (the learning rate is too large).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    check_tensor("x", x, floating=True)
    check_tensor("y", y, ndim=(1, 2))
    if x.ndim < 2 or y.shape[0] != x.shape[0]:
        raise ValueError(f"x must be (n, …) and y (n, …) with the same n, got {tuple(x.shape)} and {tuple(y.shape)}")
    n = x.shape[0]
    lr = check_real("lr", lr, min_value=0.0, min_inclusive=False)
    steps = check_int("steps", steps, min_value=1)
    record_every = check_int("record_every", record_every, min_value=1)
    batch_size = n if batch_size is None else check_int("batch_size", batch_size, min_value=1, max_value=n)
    seed = check_int("seed", seed, min_value=0)
    if (x_val is None) != (y_val is None):
        raise ValueError("give both x_val and y_val, or neither")
    objective = loss_fn(loss)
    if isinstance(optimizer, str):
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)} or a callable, got {optimizer!r}")
        optimizer = OPTIMIZERS[optimizer]
    elif not callable(optimizer):
        raise TypeError(f"optimizer must be a name or a callable, got {type(optimizer).__name__}")

    dev = default_device() if device is None else torch.device(device)
    model.to(dev)
    x, y = x.to(dev), y.to(dev)
    if x_val is not None:
        x_val, y_val = x_val.to(dev), y_val.to(dev)
    opt = optimizer(model.parameters(), lr=lr, **(optimizer_kwargs or {}))
    gen = torch.Generator().manual_seed(seed)
    w0 = _flat_params(model)
    w0_norm = w0.norm().item()
    hist = History()

    def record(step: int) -> None:
        tr_loss, tr_acc = evaluate(model, x, y, loss)
        if not math.isfinite(tr_loss):
            raise RuntimeError(f"training diverged at step {step} (loss = {tr_loss}); lower the learning rate")
        dist = (_flat_params(model) - w0).norm().item()
        hist.step.append(step)
        hist.loss.append(tr_loss)
        hist.accuracy.append(tr_acc)
        hist.dist_from_init.append(dist)
        hist.rel_dist_from_init.append(dist / w0_norm if w0_norm > 0 else math.inf)
        if x_val is not None:
            v_loss, v_acc = evaluate(model, x_val, y_val, loss)
            hist.val_loss.append(v_loss)
            hist.val_accuracy.append(v_acc)

    record(0)
    order = torch.randperm(n, generator=gen)
    cursor = 0
    model.train()
    for step in progress(range(1, steps + 1), desc=desc or "training", total=steps):
        if batch_size == n:
            xb, yb = x, y
        else:
            if cursor + batch_size > n:
                order, cursor = torch.randperm(n, generator=gen), 0
            idx = order[cursor:cursor + batch_size].to(dev)
            cursor += batch_size
            xb, yb = x[idx], y[idx]
        if batch_transform is not None:
            xb = batch_transform(model, xb, yb)
            model.train()
        opt.zero_grad(set_to_none=True)
        objective(model(xb), yb).backward()
        opt.step()
        if step_hook is not None:
            step_hook(model, step)
        if step % record_every == 0 or step == steps:
            record(step)
    return hist
