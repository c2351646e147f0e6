"""Closed forms and exact constructions from generalisation theory, with their Monte Carlo counterparts.

**Conventions.**

* Weak-features model (Belkin, Hsu & Xu): ``x ~ N(0, I_D)``, ``y = xᵀβ + σ ε`` with ``ε ~ N(0, 1)``; a linear model
  is fitted by minimum-norm least squares (the pseudo-inverse) on a subset ``T`` of ``p`` of the ``D``
  features, from ``n`` training pairs. The risk is the expected squared error on a fresh pair,
  ``E (y − xᵀβ̂)² = σ² + ‖β − β̂‖²`` (with ``β̂`` zero outside ``T``), averaged over the training set.
* Rademacher complexities are *empirical* (conditional on the sample ``x (n, d)``) and normalised by ``1/n``:
  ``R(H∘S) = E_σ sup_{h∈H} (1/n) Σ_i σ_i h(x_i)``.
* Samples are rows; closed forms and Monte Carlo run in float64.
* A class of ``±1``-valued classifiers restricted to a sample of ``n`` points is a set of *labellings*: a
  ``(K, n)`` tensor of ``±1`` whose rows are the distinct sign patterns the class realises. Its growth function
  at ``n`` is ``K`` maximised over samples; for points in general position the counts below are that maximum.

Taught in :ref:`chap-generalisation` (VC dimension, Rademacher complexity, memorisation) and :ref:`chap-double-descent`
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
    "weak_features_test_errors",
    "weak_features_risk_mc",
    "empirical_rademacher",
    "linear_rademacher_bound",
    "MemorisingReLUNet",
    "interval_labellings",
    "halfplane_labellings",
    "sauer_shelah_bound",
    "cover_count",
    "rademacher_of_labellings",
    "threshold_uniform_gap",
    "fit_logistic",
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


def weak_features_test_errors(
    n: int,
    ps,
    beta: torch.Tensor,
    *,
    sigma2: float = 0.0,
    trials: int = 1000,
    test_points: int = 40,
    random_subset: bool = False,
    seed: int = 0,
    device=None,
) -> torch.Tensor:
    """Simulated test errors of minimum-norm least squares on weak features, drawn, fitted and scored end to end.

    Each trial draws ``n`` training and ``test_points`` test pairs of the model, with **all** ``D`` features
    (``x ~ N(0, I_D)``, ``y = xᵀβ + σ ε``), fixes an order of the features (``1, …, D``, or a uniformly random
    permutation when ``random_subset``) and, for every ``p`` in ``ps``, fits ``β̂_T = X_T⁺ y`` on the first ``p``
    features of that order and records the mean squared error ``(y − x_Tᵀβ̂_T)²`` over the test pairs.

    Nothing of the proof of :func:`weak_features_risk` is built in: the unused features are drawn and enter the
    labels (they are not replaced by noise), and the risk is measured on fresh pairs (not computed from
    ``E[xxᵀ] = I``). The simulation is therefore an independent route to the closed form.

    Parameters
    ----------
    n : int
        Training pairs (≥ 1).
    ps : sequence of int
        Numbers of features used, each in ``[1, D]``.
    beta : torch.Tensor
        The true coefficients, shape ``(D,)``, floating and finite.
    sigma2 : float
        Noise variance (≥ 0), in the training and the test labels.
    trials : int
        Number of independent training sets (≥ 2).
    test_points : int
        Fresh pairs per trial on which the fit is scored (≥ 1).
    random_subset : bool
        ``False``: ``T`` is the first ``p`` features (sort ``beta`` for a prescient choice); ``True``: the first
        ``p`` of a fresh random order in each trial, so that each ``T`` is a uniformly random ``p``-subset.
    seed : int
        Seed of the draws.
    device : torch.device, optional
        Where to compute; default :func:`dltnotes.runtime.device`.

    Returns
    -------
    torch.Tensor
        ``(trials, len(ps))``, float64, on the CPU. Rows are independent; the entries of one row share the
        training set. Each column's mean is an unbiased estimate of the risk at that ``p``; its standard error
        exists only where the error has a finite variance, ``|p − n| ≥ 4``, and is itself reliable only where it
        has a finite fourth moment, ``|p − n| ≥ 8``. For a statistic of several columns, compute it per row and
        take the SE over rows. See :ref:`chap-double-descent`.

    Notes
    -----
    ``X_T`` has full rank with probability one, so ``X_T⁺ y`` is solved by Cholesky on the smaller Gram matrix
    (``X_TᵀX_T`` or ``X_TX_Tᵀ``), with ``torch.linalg.pinv`` for a factorisation that fails. Trials are drawn in
    chunks of at most about four million numbers.
    """
    n = check_int("n", n, min_value=1)
    check_tensor("beta", beta, ndim=1, floating=True)
    D = beta.shape[0]
    ps = [check_int("p", p, min_value=1, max_value=D) for p in ps]
    if not ps:
        raise ValueError("ps must hold at least one number of features")
    sigma2 = check_real("sigma2", sigma2, min_value=0.0)
    trials = check_int("trials", trials, min_value=2)
    m = check_int("test_points", test_points, min_value=1)
    random_subset = check_bool("random_subset", random_subset)
    seed = check_int("seed", seed, min_value=0)
    dev = default_device() if device is None else torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    beta = beta.detach().to(dtype=torch.float64, device=dev)
    chunk = max(1, 4_000_000 // ((n + m) * D))
    out = []
    for start in range(0, trials, chunk):
        t = min(chunk, trials - start)
        X = torch.randn(t, n + m, D, generator=gen, dtype=torch.float64).to(dev)   # training rows, then test
        y = X @ beta + math.sqrt(sigma2) * torch.randn(t, n + m, generator=gen, dtype=torch.float64).to(dev)
        if random_subset:                                          # one random order per trial
            X = X.gather(2, torch.argsort(torch.rand(t, D, generator=gen), 1).to(dev)[:, None, :].expand_as(X))
        errors = []
        for p in ps:
            bhat = _pinv_apply(X[:, :n, :p], y[:, :n, None])           # β̂_T = X_T⁺ y, (t, p, 1)
            errors.append((y[:, n:] - (X[:, n:, :p] @ bhat)[..., 0]).pow(2).mean(1))
        out.append(torch.stack(errors, 1).cpu())
    return torch.cat(out)


def weak_features_risk_mc(
    n: int,
    p: int,
    beta: torch.Tensor,
    *,
    sigma2: float = 0.0,
    trials: int = 1000,
    test_points: int = 40,
    random_subset: bool = False,
    seed: int = 0,
    device=None,
) -> Estimate:
    """Monte Carlo estimate of :func:`weak_features_risk` at one ``p``: the mean of
    :func:`weak_features_test_errors` over the trials, with its standard error.

    Arguments as in :func:`weak_features_test_errors` (with one ``p`` instead of ``ps``); the same caveats on
    the standard error near ``p = n``. See :ref:`chap-double-descent`.
    """
    errors = weak_features_test_errors(n, [p], beta, sigma2=sigma2, trials=trials, test_points=test_points,
                                       random_subset=random_subset, seed=seed, device=device)
    return mean_se(errors[:, 0])


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


# ----------------------------------------------------------------------------------------------- VC dimension
def _distinct_rows(labels: torch.Tensor) -> torch.Tensor:
    return torch.unique(labels, dim=0)


def interval_labellings(x: torch.Tensor) -> torch.Tensor:
    """Every labelling of the points ``x (n,)`` on the line by indicators of intervals, ``h(t) = ±1[a ≤ t ≤ b]``.

    Sorted, the positive points of an interval are a contiguous block, so the labellings are the empty one and
    the ``n(n + 1)/2`` blocks: ``1 + n + n(n − 1)/2`` rows when the points are distinct, which is the Sauer–Shelah
    bound for VC dimension 2 with equality. Returns a ``(K, n)`` float64 tensor of ``±1`` in the order of ``x``.
    See :ref:`chap-generalisation`.
    """
    check_tensor("x", x, ndim=1, floating=True)
    n = x.shape[0]
    if n < 1:
        raise ValueError("x must hold at least one point")
    rank = torch.empty(n, dtype=torch.long)
    rank[torch.argsort(x.cpu())] = torch.arange(n)
    starts, ends = torch.triu_indices(n, n)                       # blocks [i, j], i ≤ j, of the sorted points
    inside = (rank[None, :] >= starts[:, None]) & (rank[None, :] <= ends[:, None])
    labels = torch.cat([torch.zeros(1, n, dtype=torch.bool), inside]).to(torch.float64) * 2 - 1
    return _distinct_rows(labels)


def halfplane_labellings(x: torch.Tensor) -> torch.Tensor:
    """Every labelling of the points ``x (n, 2)`` by affine half-planes, ``h(z) = sign(wᵀz + b)``.

    Enumeration by the lines through two points: a half-plane that separates a labelling can be translated until
    its boundary meets a point and turned about it until it meets a second, without changing the other points'
    sides; conversely a line through ``x_i`` and ``x_j``, moved slightly, puts the two on any of the four
    combinations of sides, and either side may be the positive one. With the two constant labellings, that is every labelling, for points in general
    position (no three on a line; an error is raised otherwise). Returns a ``(K, n)`` float64 tensor of ``±1``;
    Cover's count ``n² − n + 2`` rows for ``n ≥ 1`` points in general position. See :ref:`chap-generalisation`.
    """
    check_tensor("x", x, ndim=2, floating=True)
    n = x.shape[0]
    if x.shape[1] != 2:
        raise ValueError(f"x must have shape (n, 2), got {tuple(x.shape)}")
    if n < 1:
        raise ValueError("x must hold at least one point")
    z = x.detach().to(torch.float64).cpu()
    rows = [torch.ones(1, n, dtype=torch.float64), -torch.ones(1, n, dtype=torch.float64)]
    scale = (z - z.mean(0)).abs().max().item() or 1.0
    for i in range(n):
        for j in range(i + 1, n):
            u = z[j] - z[i]
            side = u[0] * (z[:, 1] - z[i, 1]) - u[1] * (z[:, 0] - z[i, 0])   # cross product: which side
            others = torch.ones(n, dtype=torch.bool)
            others[[i, j]] = False
            if (side[others].abs() <= 1e-12 * scale**2).any():
                raise ValueError("three of the points lie on a line: the enumeration needs general position")
            base = torch.sign(side)
            for si in (-1.0, 1.0):
                for sj in (-1.0, 1.0):
                    lab = base.clone()
                    lab[i], lab[j] = si, sj
                    rows += [lab[None], -lab[None]]          # both orientations of the line
    return _distinct_rows(torch.cat(rows))


def sauer_shelah_bound(n: int, vc_dim: int) -> int:
    """The Sauer–Shelah bound on the growth function: ``Σ_{i=0}^{d} C(n, i)`` labellings of ``n`` points.

    ``n ≥ 0`` points, ``vc_dim = d ≥ 0``. Equals ``2ⁿ`` when ``n ≤ d``. See :ref:`chap-generalisation`.
    """
    n = check_int("n", n, min_value=0)
    vc_dim = check_int("vc_dim", vc_dim, min_value=0)
    return sum(math.comb(n, i) for i in range(min(n, vc_dim) + 1))


def cover_count(n: int, dim: int) -> int:
    """Cover's function-counting theorem: affine half-spaces of ``R^dim`` realise ``2 Σ_{k=0}^{dim} C(n − 1, k)``
    labellings of ``n ≥ 1`` points in general position. See :ref:`chap-generalisation`.
    """
    n = check_int("n", n, min_value=1)
    dim = check_int("dim", dim, min_value=1)
    return 2 * sum(math.comb(n - 1, k) for k in range(dim + 1))


def rademacher_of_labellings(labels: torch.Tensor) -> float:
    """The exact empirical Rademacher complexity ``E_σ max_k (1/n) Σ_i σ_i labels[k, i]`` of a finite set.

    ``labels (K, n)`` (any real values; rows are the vectors of the set) with ``n ≤ 20``: the expectation is the
    average over all ``2ⁿ`` sign vectors, computed exactly. See :ref:`chap-generalisation`.
    """
    check_tensor("labels", labels, ndim=2, floating=True)
    k, n = labels.shape
    if k < 1 or n < 1:
        raise ValueError(f"labels must be a non-empty (K, n) tensor, got shape {tuple(labels.shape)}")
    if n > 20:
        raise ValueError(f"exact enumeration of 2**n sign vectors needs n ≤ 20, got n = {n}")
    codes = torch.arange(2**n)
    sigma = ((codes[:, None] >> torch.arange(n)) & 1).to(torch.float64) * 2 - 1   # (2ⁿ, n)
    a = labels.detach().to(torch.float64).cpu()
    total = 0.0
    for block in torch.split(sigma, 4096):
        total += (block @ a.T).amax(dim=1).sum().item()
    return total / (2**n * n)


def threshold_uniform_gap(x: torch.Tensor) -> torch.Tensor:
    """The uniform gap ``G(S) = sup_t (L_P(h_t) − L_S(h_t))`` of the threshold class, computed exactly.

    The set-up: ``x ~ U[0, 1]``, labels ``y = 1[x ≥ ½]``, classifiers ``h_t(x) = 1[x ≥ t]`` for ``t ∈ [0, 1]``,
    0–1 loss, so ``L_P(h_t) = |t − ½|`` and ``h_t`` errs on the points between ``t`` and ``½``. ``x (N, n)``
    holds ``N`` samples of ``n`` points each in ``[0, 1]``; returns ``(N,)`` float64. On each side of ``½`` the
    difference rises between data points, so the supremum is a maximum over the points (approached from the side
    away from ``½``) and the ends ``t = 0, 1``. See :ref:`chap-generalisation`.
    """
    check_tensor("x", x, ndim=2, floating=True)
    if x.numel() == 0:
        raise ValueError("x must hold at least one sample of at least one point")
    if ((x < 0) | (x > 1)).any():
        raise ValueError("the points must lie in [0, 1]")
    z = x.detach().to(torch.float64)
    n = z.shape[1]
    above = torch.where(z >= 0.5, z, torch.full_like(z, math.inf)).sort(dim=1).values   # ascending
    below = torch.where(z < 0.5, z, torch.full_like(z, -math.inf)).sort(dim=1, descending=True).values
    k = torch.arange(n, dtype=torch.float64, device=z.device)
    # t → x_(k) from below (t > ½): the points of [½, t) are the k before x_(k)
    right = torch.where(above.isfinite(), above - 0.5 - k / n, torch.full_like(z, -math.inf))
    # t → z from above (t < ½): the points of [t, ½) are the k nearer to ½ than z
    left = torch.where(below.isfinite(), 0.5 - below - k / n, torch.full_like(z, -math.inf))
    counts = torch.stack([above.isfinite().sum(1), below.isfinite().sum(1)], dim=1).to(torch.float64)
    ends = 0.5 - counts / n                                       # t = 1 and t = 0
    return torch.cat([right, left, ends], dim=1).amax(dim=1)


def fit_logistic(x: torch.Tensor, y: torch.Tensor, *, weight_decay: float) -> torch.Tensor:
    """ℓ2-regularised logistic regression: the minimiser of ``(1/n) Σ log(1 + e^{−y_i θᵀx_i}) + (λ/2)‖θ‖²``.

    ``x (n, d)`` floating and finite (append a column of ones for a bias, which is then penalised too), ``y (n,)``
    in ``{−1, +1}``, ``weight_decay = λ > 0`` (which makes the objective strongly convex, so the minimiser is
    unique). Solved in float64 by Newton's method with backtracking, to round-off; returns ``θ`` as a ``(d,)`` float64
    tensor on the device of ``x``. See :ref:`chap-generalisation`.
    """
    check_tensor("x", x, ndim=2, floating=True)
    check_tensor("y", y, ndim=1)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"x (n, d) and y (n,) need the same n, got {tuple(x.shape)} and {tuple(y.shape)}")
    if not ((y == 1) | (y == -1)).all():
        raise ValueError("y must hold labels in {-1, +1}")
    lam = check_real("weight_decay", weight_decay, min_value=0.0, min_inclusive=False)
    z = (y.to(torch.float64)[:, None] * x.to(torch.float64)).detach()
    n, d = z.shape

    def objective(t):
        return nn.functional.softplus(-(z @ t)).mean() + lam / 2 * t.pow(2).sum()

    theta = torch.zeros(d, dtype=torch.float64, device=x.device)
    for _ in range(100):                                       # damped Newton: quadratic convergence
        p = torch.sigmoid(-(z @ theta))                        # e^{−m}/(1 + e^{−m}), m the margins
        grad = -(z.T @ p) / n + lam * theta
        if grad.norm() <= 1e-13 * max(1.0, theta.norm().item()):
            break
        hess = (z.T * (p * (1 - p))) @ z / n + lam * torch.eye(d, dtype=torch.float64, device=x.device)
        step = torch.linalg.solve(hess, grad)
        size, f0 = 1.0, objective(theta)
        while objective(theta - size * step) > f0 - 0.25 * size * (grad @ step) and size > 1e-8:
            size /= 2                                           # Armijo backtracking
        theta = theta - size * step
    return theta


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
