"""Implicit (equilibrium) models ``x = φ(A x + B u + b)``, ``ŷ = C x + D u + c``, and equilibrium propagation.

Conventions: a batch of ``m`` inputs is a tensor ``u`` of shape ``(m, p)`` (one input per row); the state ``x``
has shape ``(m, n)`` and the output ``ŷ`` shape ``(m, q)``. Row-wise, the equilibrium equation reads
``x = φ(x Aᵀ + u Bᵀ + b)``. The activation ``φ`` is applied entrywise and is one of the 1-Lipschitz,
non-decreasing functions ``"relu"``, ``"tanh"`` and ``"identity"``.

* :func:`mlp_to_implicit` writes a feed-forward network exactly in implicit form (``A`` strictly block lower
  triangular, so the fixed-point iteration from ``x = 0`` is exact after as many steps as there are hidden
  layers); :func:`mlp_forward` is the explicit network it is compared with;
* :func:`perron_frobenius` and :func:`is_well_posed`: the sufficient condition ``λ_PF(|A|) < 1`` for a unique
  equilibrium;
* :func:`fixed_point` solves the equilibrium by iteration (with the iteration count and the residual) and
  :func:`implicit_forward` returns ``(x, ŷ)``;
* :func:`implicit_gradients`: the gradient of a loss through the equilibrium by implicit differentiation,
  ``(I − Dφ A)ᵀ w = Cᵀ ∂ℓ/∂ŷ``;
* :func:`ep_gradient`: equilibrium propagation's finite-β estimate of the same gradient for a symmetric ``A``
  and ``φ = tanh`` (the stationary points of a Hopfield-like energy), one-sided or symmetric (±β).

Taught in :ref:`chap-implicit-models`. References: El Ghaoui, Gu, Travacca, Askari, Tsai, *Implicit deep
learning*, SIAM J. Math. Data Sci. 3 (2021); Bai, Kolter, Koltun, *Deep equilibrium models*, NeurIPS 2019;
Scellier, Bengio, *Equilibrium propagation*, Front. Comput. Neurosci. 11 (2017).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ._validate import check_bool, check_int, check_real, check_tensor

__all__ = ["ImplicitModel", "FixedPoint", "ImplicitGradients", "mlp_to_implicit",
           "mlp_forward", "perron_frobenius", "is_well_posed", "implicit_step", "fixed_point",
           "implicit_forward", "implicit_gradients", "ep_gradient"]

#: The activations an implicit model may use: 1-Lipschitz and non-decreasing, with their derivatives.
ACTIVATIONS = {
    "relu": (torch.relu, lambda z: (z > 0).to(z.dtype)),
    "tanh": (torch.tanh, lambda z: 1.0 - torch.tanh(z) ** 2),
    "identity": (lambda z: z, torch.ones_like),
}


class ImplicitModel(NamedTuple):
    """The parameters of ``x = φ(A x + B u + b)``, ``ŷ = C x + D u + c``.

    Shapes: ``A`` ``(n, n)``, ``B`` ``(n, p)``, ``b`` ``(n,)``, ``C`` ``(q, n)``, ``D`` ``(q, p)``, ``c`` ``(q,)``.
    """

    A: torch.Tensor
    B: torch.Tensor
    b: torch.Tensor
    C: torch.Tensor
    D: torch.Tensor
    c: torch.Tensor


class FixedPoint(NamedTuple):
    """The result of :func:`fixed_point`.

    ``x``: the state ``(m, n)``; ``iterations``: the number of applications of the map; ``residual``: the last
    ``max |x_{k+1} − x_k|`` (the equilibrium equation's residual at the returned ``x`` before the last step);
    ``residuals``: that quantity after every step (a list of floats); ``converged``: ``residual ≤ tol``.
    """

    x: torch.Tensor
    iterations: int
    residual: float
    residuals: list
    converged: bool


class ImplicitGradients(NamedTuple):
    """Gradients of a loss summed over the batch, one field per parameter of :class:`ImplicitModel`, plus the
    inputs ``u`` ``(m, p)``."""

    A: torch.Tensor
    B: torch.Tensor
    b: torch.Tensor
    C: torch.Tensor
    D: torch.Tensor
    c: torch.Tensor
    u: torch.Tensor


# --- validation ----------------------------------------------------------------------------------------------

def _activation(phi):
    if not isinstance(phi, str) or phi not in ACTIVATIONS:
        raise ValueError(f"phi must be one of {sorted(ACTIVATIONS)}, got {phi!r}")
    return ACTIVATIONS[phi]


def _check_model(model) -> ImplicitModel:
    if not isinstance(model, ImplicitModel):
        raise TypeError(f"model must be an ImplicitModel, got {type(model).__name__}")
    A, B, b, C, D, c = (check_tensor(name, t, floating=True) for name, t in zip(model._fields, model))
    if A.ndim != 2 or A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be a square matrix (n, n), got shape {tuple(A.shape)}")
    n = A.shape[0]
    if B.ndim != 2 or B.shape[0] != n:
        raise ValueError(f"B must have shape (n, p) = ({n}, p), got {tuple(B.shape)}")
    if b.shape != (n,):
        raise ValueError(f"b must have shape (n,) = ({n},), got {tuple(b.shape)}")
    if C.ndim != 2 or C.shape[1] != n:
        raise ValueError(f"C must have shape (q, n) = (q, {n}), got {tuple(C.shape)}")
    q, p = C.shape[0], B.shape[1]
    if D.shape != (q, p):
        raise ValueError(f"D must have shape (q, p) = ({q}, {p}), got {tuple(D.shape)}")
    if c.shape != (q,):
        raise ValueError(f"c must have shape (q,) = ({q},), got {tuple(c.shape)}")
    if len({t.dtype for t in model}) != 1 or len({t.device for t in model}) != 1:
        raise TypeError("the parameters of the model must share one dtype and one device")
    return model


def _check_input(u, model: ImplicitModel) -> torch.Tensor:
    u = check_tensor("u", u, ndim=2, floating=True)
    if u.shape[1] != model.B.shape[1]:
        raise ValueError(f"u must have shape (m, p) with p = {model.B.shape[1]}, got {tuple(u.shape)}")
    if u.dtype != model.A.dtype or u.device != model.A.device:
        raise TypeError(f"u must have the model's dtype and device ({model.A.dtype}, {model.A.device}), got "
                        f"({u.dtype}, {u.device})")
    return u


# --- feed-forward networks as implicit models ----------------------------------------------------------------

def _check_mlp(weights, biases):
    if not isinstance(weights, (list, tuple)) or not isinstance(biases, (list, tuple)):
        raise TypeError("weights and biases must be lists of tensors")
    if len(weights) < 2 or len(weights) != len(biases):
        raise ValueError(f"need L ≥ 2 layers with one bias each, got {len(weights)} weights and "
                         f"{len(biases)} biases")
    for i, (W, v) in enumerate(zip(weights, biases)):
        check_tensor(f"weights[{i}]", W, ndim=2, floating=True)
        check_tensor(f"biases[{i}]", v, ndim=1, floating=True)
        if v.shape[0] != W.shape[0]:
            raise ValueError(f"biases[{i}] must have {W.shape[0]} entries, got {v.shape[0]}")
        if i and W.shape[1] != weights[i - 1].shape[0]:
            raise ValueError(f"weights[{i}] must have {weights[i - 1].shape[0]} columns, got {W.shape[1]}")
    return list(weights), list(biases)


def mlp_forward(weights, biases, u, phi: str = "relu") -> torch.Tensor:
    """The explicit network ``h_0 = u``, ``h_l = φ(h_{l−1} W_lᵀ + b_l)`` (``l < L``), ``ŷ = h_{L−1} W_Lᵀ + b_L``.

    ``weights[l]`` has shape ``(d_{l+1}, d_l)``, ``biases[l]`` shape ``(d_{l+1},)``; ``u`` ``(m, d_0)``.
    Returns ``ŷ`` ``(m, d_L)``. The reference that :func:`mlp_to_implicit` is checked against
    (:ref:`chap-implicit-models`).
    """
    weights, biases = _check_mlp(weights, biases)
    act = _activation(phi)[0]
    h = check_tensor("u", u, ndim=2, floating=True)
    if h.shape[1] != weights[0].shape[1]:
        raise ValueError(f"u must have {weights[0].shape[1]} columns, got shape {tuple(h.shape)}")
    for W, v in zip(weights[:-1], biases[:-1]):
        h = act(h @ W.T + v)
    return h @ weights[-1].T + biases[-1]


def mlp_to_implicit(weights, biases) -> ImplicitModel:
    """Write the network of :func:`mlp_forward` exactly as an implicit model.

    The state stacks the hidden layers, ``x = (h_1, …, h_{L−1})`` with ``n = d_1 + … + d_{L−1}``. ``A`` is
    strictly block lower triangular (block ``(l, l−1)`` is ``W_l``), so ``A^{L−1} = 0``, ``λ_PF(|A|) = 0`` and
    the iteration from ``x = 0`` reaches the equilibrium after ``L − 1`` steps; ``B`` feeds ``u`` to the first
    block (``W_1``), ``C`` reads the last (``W_L``), ``D = 0``; ``b`` stacks ``b_1, …, b_{L−1}``, ``c = b_L``
    (El Ghaoui et al. 2021). See :ref:`chap-implicit-models`.
    """
    weights, biases = _check_mlp(weights, biases)
    dtype, dev = weights[0].dtype, weights[0].device
    sizes = [W.shape[0] for W in weights[:-1]]
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    n, p, q = sum(sizes), weights[0].shape[1], weights[-1].shape[0]
    A = torch.zeros(n, n, dtype=dtype, device=dev)
    for l in range(1, len(sizes)):
        A[starts[l]:starts[l] + sizes[l], starts[l - 1]:starts[l - 1] + sizes[l - 1]] = weights[l]
    B = torch.zeros(n, p, dtype=dtype, device=dev)
    B[:sizes[0]] = weights[0]
    C = torch.zeros(q, n, dtype=dtype, device=dev)
    C[:, starts[-1]:] = weights[-1]
    b = torch.cat([v.to(dtype) for v in biases[:-1]])
    return ImplicitModel(A, B, b, C, torch.zeros(q, p, dtype=dtype, device=dev), biases[-1].to(dtype).clone())


# --- well-posedness and the forward pass ---------------------------------------------------------------------

def perron_frobenius(A: torch.Tensor) -> float:
    """The Perron–Frobenius eigenvalue ``λ_PF(|A|)``: the spectral radius of the entrywise absolute value of ``A``.

    ``A``: a square real matrix ``(n, n)``. Computed from the eigenvalues in float64. By Perron–Frobenius it is
    itself an eigenvalue of ``|A|`` (real, ≥ 0). See :ref:`chap-implicit-models`.
    """
    A = check_tensor("A", A, ndim=2, floating=True)
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"A must be square, got shape {tuple(A.shape)}")
    eig = torch.linalg.eigvals(A.detach().abs().to(torch.float64).cpu())
    return float(eig.abs().max())


def is_well_posed(A: torch.Tensor) -> bool:
    """``λ_PF(|A|) < 1``: the sufficient condition for ``x = φ(A x + B u + b)`` to have exactly one solution for
    every ``u`` and every 1-Lipschitz non-decreasing ``φ`` (El Ghaoui et al. 2021)."""
    return perron_frobenius(A) < 1.0


def implicit_step(model: ImplicitModel, x: torch.Tensor, u: torch.Tensor, phi: str = "relu") -> torch.Tensor:
    """One application of the map ``x ↦ φ(x Aᵀ + u Bᵀ + b)``; ``x`` ``(m, n)``, ``u`` ``(m, p)``."""
    model = _check_model(model)
    u = _check_input(u, model)
    x = check_tensor("x", x, ndim=2, floating=True)
    if x.shape != (u.shape[0], model.A.shape[0]):
        raise ValueError(f"x must have shape (m, n) = {(u.shape[0], model.A.shape[0])}, got {tuple(x.shape)}")
    return _activation(phi)[0](x @ model.A.T + u @ model.B.T + model.b)


def _iterate(A, drive, act, x0, tol, max_iter):
    """Iterate ``x ← act(x Aᵀ + drive)`` until ``max |Δx| ≤ tol`` or ``max_iter`` steps."""
    x, residuals = x0, []
    for _ in range(max_iter):
        new = act(x @ A.T + drive)
        residuals.append(float((new - x).abs().max()) if new.numel() else 0.0)
        x = new
        if residuals[-1] <= tol:
            break
    return FixedPoint(x, len(residuals), residuals[-1], residuals, residuals[-1] <= tol)


def fixed_point(model: ImplicitModel, u: torch.Tensor, phi: str = "relu", *, x0: torch.Tensor | None = None,
                tol: float = 1e-12, max_iter: int = 1000) -> FixedPoint:
    """Solve ``x = φ(x Aᵀ + u Bᵀ + b)`` by the fixed-point iteration ``x_{k+1} = φ(x_k Aᵀ + u Bᵀ + b)``.

    Starts at ``x0`` (default ``0``, shape ``(m, n)``) and stops when ``max |x_{k+1} − x_k| ≤ tol`` or after
    ``max_iter`` steps. When ``λ_PF(|A|) < 1`` the error contracts entrywise, ``|x_k − x*| ≤ |A|^k |x_0 − x*|``,
    so it falls like ``λ_PF(|A|)^k`` (:ref:`chap-implicit-models`). An ill-posed ``A`` is not refused (the
    iteration may still converge); check :attr:`FixedPoint.converged`. Returns a :class:`FixedPoint`.
    """
    model = _check_model(model)
    u = _check_input(u, model)
    act = _activation(phi)[0]
    tol = check_real("tol", tol, min_value=0.0)
    max_iter = check_int("max_iter", max_iter, min_value=1)
    shape = (u.shape[0], model.A.shape[0])
    if x0 is None:
        x0 = torch.zeros(shape, dtype=u.dtype, device=u.device)
    else:
        x0 = check_tensor("x0", x0, ndim=2, floating=True)
        if tuple(x0.shape) != shape:
            raise ValueError(f"x0 must have shape (m, n) = {shape}, got {tuple(x0.shape)}")
    return _iterate(model.A, u @ model.B.T + model.b, act, x0, tol, max_iter)


def implicit_forward(model: ImplicitModel, u: torch.Tensor, phi: str = "relu", **solver) -> tuple:
    """The equilibrium ``x`` ``(m, n)`` and the output ``ŷ = x Cᵀ + u Dᵀ + c`` ``(m, q)``.

    ``solver`` is passed to :func:`fixed_point`; raises ``RuntimeError`` when the iteration did not converge.
    """
    sol = fixed_point(model, u, phi, **solver)
    if not sol.converged:
        raise RuntimeError(f"the fixed-point iteration did not converge: residual {sol.residual:.3g} after "
                           f"{sol.iterations} steps (λ_PF(|A|) = {perron_frobenius(model.A):.4g})")
    return sol.x, sol.x @ model.C.T + u @ model.D.T + model.c


# --- gradients -----------------------------------------------------------------------------------------------

def implicit_gradients(model: ImplicitModel, u: torch.Tensor, dloss_dy: torch.Tensor, phi: str = "relu", *,
                       x: torch.Tensor | None = None, **solver) -> ImplicitGradients:
    """Gradients of a loss ``ℓ(ŷ)`` (summed over the batch) through the equilibrium, by implicit differentiation.

    At the equilibrium ``x`` with pre-activation ``z = x Aᵀ + u Bᵀ + b`` and ``Δ = diag φ'(z)`` (per input),
    differentiating ``x = φ(z)`` gives ``(I − Δ A) dx = Δ (dA x + dB u + db)``. With ``g = Cᵀ ∂ℓ/∂ŷ``, solve
    ``(I − Δ A)ᵀ w = g`` and put ``δ = Δ w``: then ``∂ℓ/∂A = Σ δ xᵀ``, ``∂ℓ/∂B = Σ δ uᵀ``, ``∂ℓ/∂b = Σ δ``,
    ``∂ℓ/∂C = Σ (∂ℓ/∂ŷ) xᵀ``, ``∂ℓ/∂D = Σ (∂ℓ/∂ŷ) uᵀ``, ``∂ℓ/∂c = Σ ∂ℓ/∂ŷ`` and ``∂ℓ/∂u = δ B + (∂ℓ/∂ŷ) D``.

    ``u`` ``(m, p)``; ``dloss_dy`` ``(m, q)``, the gradient of the loss with respect to the outputs; ``x`` the
    equilibrium ``(m, n)`` if already solved (else :func:`fixed_point` is called with ``solver``). For the
    square loss ``½ Σ ‖ŷ − y‖²``, ``dloss_dy = ŷ − y``. Returns :class:`ImplicitGradients`. For ReLU, ``φ'(0)``
    is taken as 0. See :ref:`chap-implicit-models` (El Ghaoui et al. 2021; Bai et al. 2019).
    """
    model = _check_model(model)
    u = _check_input(u, model)
    act, dact = _activation(phi)
    dloss_dy = check_tensor("dloss_dy", dloss_dy, ndim=2, floating=True)
    if dloss_dy.shape != (u.shape[0], model.C.shape[0]):
        raise ValueError(f"dloss_dy must have shape (m, q) = {(u.shape[0], model.C.shape[0])}, got "
                         f"{tuple(dloss_dy.shape)}")
    if x is None:
        x = implicit_forward(model, u, phi, **solver)[0]
    else:
        x = check_tensor("x", x, ndim=2, floating=True)
        if x.shape != (u.shape[0], model.A.shape[0]):
            raise ValueError(f"x must have shape (m, n) = {(u.shape[0], model.A.shape[0])}, got {tuple(x.shape)}")
    A = model.A
    delta_diag = dact(x @ A.T + u @ model.B.T + model.b)                       # (m, n): φ'(z)
    eye = torch.eye(A.shape[0], dtype=A.dtype, device=A.device)
    system = eye - delta_diag[:, :, None] * A                                   # (m, n, n): I − Δ A
    g = dloss_dy @ model.C                                                      # (m, n): Cᵀ ∂ℓ/∂ŷ
    w = torch.linalg.solve(system.transpose(1, 2), g.unsqueeze(-1)).squeeze(-1)  # (I − ΔA)ᵀ w = g
    delta = delta_diag * w                                                      # δ = Δ w
    return ImplicitGradients(A=delta.T @ x, B=delta.T @ u, b=delta.sum(0), C=dloss_dy.T @ x,
                             D=dloss_dy.T @ u, c=dloss_dy.sum(0), u=delta @ model.B + dloss_dy @ model.D)


def _nudged(model, u, y, beta, tol, max_iter):
    """The minimiser of ``E + β·½‖ŷ − y‖²``: an implicit model with ``A − βCᵀC`` and a per-input drive."""
    A = model.A - beta * model.C.T @ model.C
    drive = u @ model.B.T + model.b - beta * (u @ model.D.T + model.c - y) @ model.C
    if perron_frobenius(A) >= 1.0:
        raise ValueError(f"β = {beta:g} makes the nudged phase ill-posed: λ_PF(|A − βCᵀC|) ≥ 1; use a smaller β")
    x0 = torch.zeros(u.shape[0], A.shape[0], dtype=u.dtype, device=u.device)
    sol = _iterate(A, drive, torch.tanh, x0, tol, max_iter)
    if not sol.converged:
        raise RuntimeError(f"the phase with β = {beta:g} did not converge (residual {sol.residual:.3g})")
    return sol.x


def ep_gradient(model: ImplicitModel, u: torch.Tensor, y: torch.Tensor, beta: float, *,
                symmetric: bool = False, tol: float = 1e-15, max_iter: int = 10_000) -> tuple:
    """Equilibrium propagation's estimate of the gradient of ``ℓ = ½ Σ ‖ŷ − y‖²`` for ``A``, ``B``, ``b``.

    For a symmetric ``A`` and ``φ = tanh`` the equilibrium is the minimiser of the Hopfield-like energy
    ``E(x) = Σ_i Φ(x_i) − ½ xᵀ A x − xᵀ (B u + b)`` with ``Φ' = artanh`` (convex when ``λ_PF(|A|) < 1``). The
    nudged phase minimises ``E + β ℓ``; the estimate is ``(∂_θE(x^β) − ∂_θE(x^0)) / β`` (one-sided) or
    ``(∂_θE(x^β) − ∂_θE(x^{−β})) / (2β)`` (``symmetric=True``), with ``∂E/∂A = −½ Σ x xᵀ`` (along symmetric
    directions), ``∂E/∂B = −Σ x uᵀ``, ``∂E/∂b = −Σ x``. As ``β → 0`` it tends to the true gradient (for ``A``:
    the symmetric part of :func:`implicit_gradients`' ``A``) with error ``O(β)``, or ``O(β²)`` when symmetric
    (Scellier & Bengio 2017; :ref:`chap-implicit-models`).

    ``u`` ``(m, p)``, ``y`` ``(m, q)``, ``beta > 0``. Returns ``(grad_A, grad_B, grad_b)``.
    """
    model = _check_model(model)
    u = _check_input(u, model)
    y = check_tensor("y", y, ndim=2, floating=True)
    if y.shape != (u.shape[0], model.C.shape[0]):
        raise ValueError(f"y must have shape (m, q) = {(u.shape[0], model.C.shape[0])}, got {tuple(y.shape)}")
    beta = check_real("beta", beta, min_value=0.0, min_inclusive=False)
    symmetric = check_bool("symmetric", symmetric)
    tol = check_real("tol", tol, min_value=0.0)
    max_iter = check_int("max_iter", max_iter, min_value=1)
    if not torch.equal(model.A, model.A.T):
        raise ValueError("equilibrium propagation needs a symmetric A (an energy exists only then)")
    if not is_well_posed(model.A):
        raise ValueError(f"λ_PF(|A|) = {perron_frobenius(model.A):.4g} ≥ 1: the energy may not be convex")
    plus = _nudged(model, u, y, beta, tol, max_iter)
    minus = _nudged(model, u, y, -beta if symmetric else 0.0, tol, max_iter)
    scale = 2.0 * beta if symmetric else beta

    def dE(x):                                                                  # ∂E/∂(A, B, b) at x
        return -0.5 * x.T @ x, -x.T @ u, -x.sum(0)

    return tuple((p - m) / scale for p, m in zip(dE(plus), dE(minus)))
