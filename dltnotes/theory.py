"""Closed forms and exact constructions from generalisation theory, with their Monte Carlo counterparts.

**Conventions.**

* Weak-features model (Belkin, Hsu & Xu): ``x ~ N(0, I_D)``, ``y = xᵀβ + σ ε`` with ``ε ~ N(0, 1)``; a linear model
  is fitted by minimum-norm least squares (the pseudo-inverse) on a subset ``T`` of ``p`` of the ``D``
  features, from ``n`` training pairs. The risk is the expected squared error on a fresh pair,
  ``E (y − xᵀβ̂)² = σ² + ‖β − β̂‖²`` (with ``β̂`` zero outside ``T``), averaged over the training set.
* Rademacher complexities are *empirical* (conditional on the sample ``x (n, d)``) and normalised by ``1/n``:
  ``R(H∘S) = E_σ sup_{h∈H} (1/n) Σ_i σ_i h(x_i)``.
* Samples are rows; closed forms and Monte Carlo run in float64.

Taught in :ref:`chap-generalisation` (Rademacher complexity, memorisation) and :ref:`chap-double-descent`
(the weak-features risk).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._validate import check_bool, check_int, check_real, check_tensor
from .runtime import device as default_device
from .stats import Estimate, mean_se

__all__ = [
    "weak_features_risk",
    "weak_features_risk_mc",
    "empirical_rademacher",
    "linear_rademacher_bound",
    "MemorisingReLUNet",
]


# ----------------------------------------------------------------------------------------------- double descent
def weak_features_risk(n: int, p: int, beta_T_norm2: float, beta_Tc_norm2: float, sigma2: float = 0.0) -> float:
    """Expected test risk of minimum-norm least squares on ``p`` Gaussian features (Belkin, Hsu & Xu, Theorem 1).

    With ``τ² = ‖β_Tᶜ‖² + σ²`` (the part of ``y`` the chosen features cannot explain acts as noise):

    * ``p ≤ n − 2``: ``τ² (1 + p / (n − p − 1))``;
    * ``n − 1 ≤ p ≤ n + 1``: ``+∞`` (the expectation diverges);
    * ``p ≥ n + 2``: ``‖β_T‖² (1 − n/p) + τ² (1 + n / (p − n − 1))``.

    Parameters
    ----------
    n : int
        Number of training pairs (≥ 1).
    p : int
        Number of features used (≥ 1).
    beta_T_norm2, beta_Tc_norm2 : float
        ``‖β_T‖²`` and ``‖β_Tᶜ‖²``, the squared norms of the coefficients on and off the chosen features (≥ 0).
    sigma2 : float
        Noise variance ``σ²`` (≥ 0); it enters both the training labels and the test label.

    Returns
    -------
    float
        The risk ``E (y − xᵀβ̂)²``, or ``math.inf`` for ``n − 1 ≤ p ≤ n + 1``.

    Notes
    -----
    For a random subset ``T`` of size ``p`` out of ``D`` features the risk is linear in the two norms, so the
    average over ``T`` is this function evaluated at ``(p/D)‖β‖²`` and ``(1 − p/D)‖β‖²``.
    See :ref:`chap-double-descent`.
    """
    n = check_int("n", n, min_value=1)
    p = check_int("p", p, min_value=1)
    bt = check_real("beta_T_norm2", beta_T_norm2, min_value=0.0)
    btc = check_real("beta_Tc_norm2", beta_Tc_norm2, min_value=0.0)
    sigma2 = check_real("sigma2", sigma2, min_value=0.0)
    tau2 = btc + sigma2
    if p <= n - 2:
        return tau2 * (1.0 + p / (n - p - 1))
    if p <= n + 1:
        return math.inf
    return bt * (1.0 - n / p) + tau2 * (1.0 + n / (p - n - 1))


def weak_features_risk_mc(
    n: int,
    p: int,
    beta: torch.Tensor,
    *,
    sigma2: float = 0.0,
    trials: int = 1000,
    random_subset: bool = False,
    seed: int = 0,
    device=None,
) -> Estimate:
    """Monte Carlo estimate of :func:`dltnotes.theory.weak_features_risk`: draw training sets, fit by ``pinv``, average the risk.

    Each trial draws ``X (n, D)`` with i.i.d. ``N(0, 1)`` entries and ``y = Xβ + σ ε``, fits
    ``β̂_T = X_T⁺ y`` on the feature set ``T`` and records the *exact* conditional risk
    ``σ² + ‖β − β̂‖²`` (no test sample is needed because ``E[xxᵀ] = I``).

    Parameters
    ----------
    n, p : int
        Training pairs (≥ 1) and features used (``1 ≤ p ≤ D``).
    beta : torch.Tensor
        The true coefficients, shape ``(D,)``, floating and finite.
    sigma2 : float
        Noise variance (≥ 0).
    trials : int
        Number of independent training sets (≥ 2).
    random_subset : bool
        ``False``: ``T`` is the first ``p`` features (sort ``beta`` for a prescient choice); ``True``: a fresh
        uniformly random subset in each trial.
    seed : int
        Seed of the draws.
    device : torch.device, optional
        Where to compute; default :func:`dltnotes.runtime.device`.

    Returns
    -------
    dltnotes.stats.Estimate
        Mean, standard error and number of trials. The standard error is meaningful only where the per-trial
        risk has a finite variance, ``p ≤ n − 4`` or ``p ≥ n + 4``. See :ref:`chap-double-descent`.

    Notes
    -----
    Two exact shortcuts keep this fast. The unused features contribute ``X_Tᶜβ_Tᶜ``, a vector of i.i.d.
    ``N(0, ‖β_Tᶜ‖²)`` entries independent of ``X_T``, so it is drawn as such. A Gaussian ``X_T`` has full rank
    with probability one, so ``X_T⁺ = (X_TᵀX_T)⁻¹X_Tᵀ`` (``p ≤ n``) or ``X_Tᵀ(X_TX_Tᵀ)⁻¹`` (``p > n``), solved
    by Cholesky; a factorisation that fails falls back to ``torch.linalg.pinv``.
    """
    n = check_int("n", n, min_value=1)
    check_tensor("beta", beta, ndim=1, floating=True)
    D = beta.shape[0]
    p = check_int("p", p, min_value=1, max_value=D)
    sigma2 = check_real("sigma2", sigma2, min_value=0.0)
    trials = check_int("trials", trials, min_value=2)
    random_subset = check_bool("random_subset", random_subset)
    seed = check_int("seed", seed, min_value=0)
    dev = default_device() if device is None else torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    beta = beta.detach().to(torch.float64).cpu()
    if random_subset:
        perm = torch.argsort(torch.rand(trials, D, generator=gen), dim=1)
        b = beta[perm]                                         # (trials, D): β in a random feature order
    else:
        b = beta.expand(trials, D)
    # the unused features enter y only through xᵀ_Tᶜ β_Tᶜ ~ N(0, ‖β_Tᶜ‖²), independent of X_T: draw that directly
    XT = torch.randn(trials, n, p, generator=gen, dtype=torch.float64).to(dev)
    z = torch.randn(trials, n, 1, generator=gen, dtype=torch.float64).to(dev)
    b = b.to(dev)
    bT, off2 = b[:, :p].unsqueeze(-1), b[:, p:].pow(2).sum(1)
    y = XT @ bT + (off2 + sigma2).sqrt()[:, None, None] * z
    bhat = _pinv_apply(XT, y)
    risk = sigma2 + (bT - bhat).pow(2).sum((1, 2)) + off2
    return mean_se(risk.cpu())


def _pinv_apply(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``X⁺ y`` for a batch ``X (t, n, p)``, ``y (t, n, k)``, by Cholesky on the smaller Gram matrix (full rank)."""
    n, p = X.shape[-2:]
    gram = X.mT @ X if p <= n else X @ X.mT
    L, info = torch.linalg.cholesky_ex(gram)
    rhs = X.mT @ y if p <= n else y
    sol = torch.cholesky_solve(rhs, L)
    out = sol if p <= n else X.mT @ sol
    bad = info != 0
    if bool(bad.any()):                                   # rank-deficient draws: the general pseudo-inverse
        out[bad] = torch.linalg.pinv(X[bad]) @ y[bad]
    return out


# ----------------------------------------------------------------------------------------------- Rademacher
def empirical_rademacher(
    x: torch.Tensor,
    *,
    norm: str = "l2",
    radius: float = 1.0,
    draws: int = 1000,
    seed: int = 0,
) -> Estimate:
    """Monte Carlo estimate of the empirical Rademacher complexity of a norm ball of linear functions.

    For ``H = {x ↦ wᵀx : ‖w‖ ≤ r}`` the supremum over ``H`` has a closed form by duality,
    ``sup_h (1/n) Σ σ_i h(x_i) = r ‖Σ σ_i x_i‖_* / n``, with ``‖·‖_*`` the dual norm. This function averages
    that supremum over ``draws`` independent sign vectors ``σ ∈ {−1, +1}ⁿ``.

    Parameters
    ----------
    x : torch.Tensor
        The sample, shape ``(n, d)``, floating and finite.
    norm : str
        The constraint on ``w``: ``"l2"`` (dual norm ℓ2) or ``"l1"`` (dual norm ℓ∞).
    radius : float
        ``r > 0``.
    draws : int
        Number of sign vectors (≥ 2).
    seed : int
        Seed of the signs.

    Returns
    -------
    dltnotes.stats.Estimate
        Mean, standard error and number of draws. See :ref:`chap-generalisation`.
    """
    check_tensor("x", x, ndim=2, floating=True)
    if norm not in ("l2", "l1"):
        raise ValueError(f"norm must be 'l2' or 'l1', got {norm!r}")
    radius = check_real("radius", radius, min_value=0.0, min_inclusive=False)
    draws = check_int("draws", draws, min_value=2)
    seed = check_int("seed", seed, min_value=0)
    n = x.shape[0]
    gen = torch.Generator().manual_seed(seed)
    sigma = (2 * torch.randint(0, 2, (draws, n), generator=gen) - 1).to(dtype=torch.float64, device=x.device)
    sums = sigma @ x.to(torch.float64)                             # (draws, d): Σ_i σ_i x_i
    sup = sums.norm(dim=1) if norm == "l2" else sums.abs().amax(dim=1)
    return mean_se((radius * sup / n).cpu())


def linear_rademacher_bound(x: torch.Tensor, *, radius: float = 1.0) -> float:
    """The bound ``R(H∘S) ≤ r max_i ‖x_i‖₂ / sqrt(n)`` for the ℓ2 ball ``{wᵀx : ‖w‖₂ ≤ r}``.

    ``x (n, d)`` floating and finite; ``radius`` > 0. See :ref:`chap-generalisation`.
    """
    check_tensor("x", x, ndim=2, floating=True)
    radius = check_real("radius", radius, min_value=0.0, min_inclusive=False)
    n = x.shape[0]
    return radius * x.to(torch.float64).norm(dim=1).max().item() / math.sqrt(n)


# ----------------------------------------------------------------------------------------------- memorisation
class MemorisingReLUNet(nn.Module):
    """The two-layer ReLU network with ``2n + d`` weights that fits any ``n`` labels (Zhang et al. 2017, Thm 1).

    ``f(x) = Σ_j w_j ReLU(aᵀx − b_j)`` with ``a ∈ Rᵈ``, ``b, w ∈ Rⁿ``. The direction ``a`` is drawn at random so
    that the projections ``z_i = aᵀx_i`` are distinct; sorted, they are interleaved with the thresholds
    ``b_1 < z_(1) < b_2 < z_(2) < … < b_n < z_(n)``, which makes the ``n × n`` matrix ``ReLU(z_(i) − b_j)`` lower
    triangular with a positive diagonal, and ``w`` solves the triangular system exactly.

    Parameters
    ----------
    x : torch.Tensor
        Distinct inputs, shape ``(n, d)``, floating and finite.
    y : torch.Tensor
        Real targets, shape ``(n,)``, finite (integer class labels are cast to float).
    seed : int
        Seed of the direction ``a``.

    Attributes
    ----------
    a : torch.nn.Parameter
        Shape ``(d,)``.
    b, w : torch.nn.Parameter
        Shape ``(n,)`` each, in the order of the sorted projections.

    Raises
    ------
    ValueError
        If two inputs have the same projection (e.g. duplicated rows), or the shapes disagree.

    Notes
    -----
    Computed in float64 on the device of ``x``. See :ref:`chap-generalisation`.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, *, seed: int = 0):
        super().__init__()
        check_tensor("x", x, ndim=2, floating=True)
        check_tensor("y", y, ndim=1)
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"x has {x.shape[0]} rows but y has {y.shape[0]} entries")
        seed = check_int("seed", seed, min_value=0)
        x = x.to(torch.float64)
        y = y.to(dtype=torch.float64, device=x.device)
        if not bool(torch.isfinite(y).all()):
            raise ValueError("y contains NaN or infinite entries")
        n, d = x.shape
        gen = torch.Generator().manual_seed(seed)
        a = torch.randn(d, generator=gen, dtype=torch.float64).to(x.device)
        z = x @ a
        z_sorted, order = torch.sort(z)
        gaps = torch.diff(z_sorted)
        if n > 1 and not bool((gaps > 0).all()):
            raise ValueError("the inputs must be distinct: two rows project to the same value (duplicated rows?)")
        first_gap = gaps.min() if n > 1 else torch.ones((), dtype=torch.float64, device=x.device)
        b = torch.empty_like(z_sorted)
        b[0] = z_sorted[0] - first_gap / 2
        b[1:] = (z_sorted[:-1] + z_sorted[1:]) / 2                 # b_j sits between z_(j-1) and z_(j)
        A = torch.relu(z_sorted[:, None] - b[None, :])            # lower triangular, diagonal > 0
        w = torch.linalg.solve_triangular(A, y[order][:, None], upper=False)[:, 0]
        self.a, self.b, self.w = nn.Parameter(a), nn.Parameter(b), nn.Parameter(w)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The ``n`` hidden units ``ReLU(aᵀx − b_j)`` for inputs ``x (m, d)``: shape ``(m, n)``."""
        check_tensor("x", x, ndim=2, floating=True)
        if x.shape[1] != self.a.shape[0]:
            raise ValueError(f"x must have {self.a.shape[0]} columns, got shape {tuple(x.shape)}")
        return torch.relu((x.to(torch.float64) @ self.a)[:, None] - self.b[None, :])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``f(x)`` for inputs ``x (m, d)``: shape ``(m,)``, float64."""
        return self.hidden(x) @ self.w
