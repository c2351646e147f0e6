"""Shapley values, Kernel SHAP and LIME for a model explained against a baseline.

Every explainer here looks at the same cooperative game. A model ``f`` maps a batch ``(B, d)`` to ``(B,)``; an
input ``x`` and a ``baseline`` are ``(d,)``. The *players* are the ``d`` features, or, with ``groups`` (a list of
disjoint index lists covering ``0..d−1``), the ``M`` groups (super-pixels of an image, say). A coalition
``S ⊆ {0, …, M−1}`` is played by the input ``z_S`` that equals ``x`` on the features of ``S`` and ``baseline``
elsewhere, and is worth ``v(S) = f(z_S)`` (the *baseline* value function; averaging the attributions over
several baselines gives the interventional one, by linearity).

* :func:`shapley_values` enumerates all ``2^M`` coalitions (``M ≤ 20``) and returns the exact Shapley values;
* :func:`kernel_shap` solves Lundberg & Lee's weighted least squares with the Shapley kernel and the efficiency
  constraint imposed exactly, on every coalition (it then equals :func:`shapley_values` to round-off) or on
  coalitions sampled from the kernel's distribution (Covert & Lee's estimator);
* :func:`lime` solves LIME's weighted ridge regression with its exponential kernel of the cosine distance;
* :func:`coalition_values` returns the table ``v(S)`` of the game itself, coalitions indexed by bit masks.

Coalitions are indexed by integers: bit ``i`` of ``k`` says whether player ``i`` is in coalition ``k``.

Taught in :ref:`chap-explanation`. References: Shapley (1953), *A value for n-person games*; Lundberg & Lee
(2017), arXiv:1705.07874; Ribeiro, Singh & Guestrin (2016), arXiv:1602.04938; Covert & Lee (2021),
arXiv:2012.01536.
"""

from __future__ import annotations

import math
import numbers

import torch

from ._validate import check_int, check_real, check_tensor

__all__ = ["MAX_PLAYERS", "shapley_values", "kernel_shap", "lime", "coalition_values", "shapley_kernel",
           "lime_kernel"]

#: The largest number of players for which the ``2^M`` coalitions are enumerated.
MAX_PLAYERS = 20

_F64 = torch.float64


# --- the game: players, coalitions, values -------------------------------------------------------------------

def _inputs(x, baseline) -> tuple[torch.Tensor, torch.Tensor]:
    x = check_tensor("x", x, ndim=1, floating=True)
    baseline = check_tensor("baseline", baseline, ndim=1, floating=True)
    if x.shape != baseline.shape:
        raise ValueError(f"x and baseline must have the same shape (d,), got {tuple(x.shape)} and "
                         f"{tuple(baseline.shape)}")
    if x.dtype != baseline.dtype:
        raise TypeError(f"x and baseline must have the same dtype, got {x.dtype} and {baseline.dtype}")
    if x.device != baseline.device:
        raise ValueError(f"x and baseline must be on the same device, got {x.device} and {baseline.device}")
    if x.numel() == 0:
        raise ValueError("x is empty: there are no features to explain")
    return x, baseline


def _owner(d: int, groups) -> tuple[torch.Tensor, int]:
    """``owner[j]`` = the player (group) that feature ``j`` belongs to, and the number of players ``M``."""
    if groups is None:
        m = d
        owner = torch.arange(d)
    else:
        if isinstance(groups, (str, bytes, torch.Tensor)) or not hasattr(groups, "__iter__"):
            raise TypeError(f"groups must be a list of lists of feature indices, got {type(groups).__name__}")
        groups = list(groups)
        owner = torch.full((d,), -1, dtype=torch.long)
        m = len(groups)
        if m == 0:
            raise ValueError("groups is empty: give at least one group of features")
        for g, members in enumerate(groups):
            if isinstance(members, (str, bytes)) or not hasattr(members, "__iter__"):
                raise TypeError(f"groups[{g}] must be a list of feature indices, got {type(members).__name__}")
            members = list(members)
            if not members:
                raise ValueError(f"groups[{g}] is empty: every group needs at least one feature")
            for j in members:
                if isinstance(j, bool) or not isinstance(j, numbers.Integral):
                    raise TypeError(f"groups[{g}] must hold integer feature indices, got {j!r}")
                j = int(j)
                if not 0 <= j < d:
                    raise ValueError(f"groups[{g}] holds feature {j}, outside 0..{d - 1}")
                if owner[j] >= 0:
                    raise ValueError(f"groups are not disjoint: feature {j} is in groups[{int(owner[j])}] "
                                     f"and groups[{g}]")
                owner[j] = g
        missing = (owner < 0).nonzero().flatten().tolist()
        if missing:
            shown = missing[:8] + (["…"] if len(missing) > 8 else [])
            raise ValueError(f"groups do not cover every feature: {len(missing)} missing ({shown})")
    if m > MAX_PLAYERS:
        raise ValueError(f"{m} players: 2^{m} coalitions are too many to enumerate (at most {MAX_PLAYERS} "
                         "players); group the features (groups=...) into fewer players")
    return owner, m


def _bits(codes: torch.Tensor, m: int) -> torch.Tensor:
    """``(K,)`` coalition codes → ``(K, M)`` bool membership."""
    return (codes[:, None] >> torch.arange(m)) & 1 == 1


def _evaluate(f, x, baseline, owner, members: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``v`` of each coalition in ``members`` ``(K, M)`` bool, as a float64 CPU tensor ``(K,)``."""
    if not callable(f):
        raise TypeError(f"f must be callable (a batch (B, d) → (B,)), got {type(f).__name__}")
    owner = owner.to(x.device)
    out = []
    for start in range(0, members.shape[0], batch_size):
        block = members[start:start + batch_size].to(x.device)
        z = torch.where(block[:, owner], x, baseline)
        with torch.no_grad():
            y = f(z)
        if not isinstance(y, torch.Tensor):
            raise TypeError(f"f must return a torch.Tensor, got {type(y).__name__}")
        if y.shape != (z.shape[0],):
            raise ValueError(f"f must map a batch of shape (B, d) to shape (B,), got {tuple(y.shape)} for "
                             f"B = {z.shape[0]}")
        if not (y.is_floating_point() or y.dtype in (torch.int32, torch.int64)):
            raise TypeError(f"f must return real numbers, got dtype {y.dtype}")
        y = y.detach().to("cpu", _F64)
        if not bool(torch.isfinite(y).all()):
            raise ValueError("f returned NaN or infinite values on some coalition inputs")
        out.append(y)
    return torch.cat(out)


def _batch(batch_size) -> int:
    return check_int("batch_size", batch_size, min_value=1)


def coalition_values(f, x, baseline, *, groups=None, batch_size: int = 4096) -> torch.Tensor:
    """The table of the game ``v(S) = f(z_S)`` over all ``2^M`` coalitions.

    Parameters
    ----------
    f : callable
        Maps a batch ``(B, d)`` tensor to a ``(B,)`` tensor.
    x, baseline : torch.Tensor
        ``(d,)`` floating tensors of the same dtype and device: the input explained and the reference.
    groups : sequence, optional
        Disjoint feature-index lists covering ``0..d−1``: the players. Default: one player per feature.
    batch_size : int
        Coalitions per call of ``f``.

    Returns
    -------
    torch.Tensor
        ``(2^M,)`` float64 on the CPU; entry ``k`` is ``v`` of the coalition whose members are the set bits of
        ``k``.
    """
    x, baseline = _inputs(x, baseline)
    owner, m = _owner(x.numel(), groups)
    codes = torch.arange(2**m)
    return _evaluate(f, x, baseline, owner, _bits(codes, m), _batch(batch_size))


# --- exact Shapley values --------------------------------------------------------------------------------------

def _shapley_from_table(v: torch.Tensor, m: int) -> torch.Tensor:
    """φ_i = Σ_{S ∌ i} |S|!(M−|S|−1)!/M! · (v(S ∪ i) − v(S)) from the ``(2^M,)`` table ``v``."""
    codes = torch.arange(2**m)
    size = _bits(codes, m).sum(1)
    lg = torch.lgamma(torch.arange(m + 1, dtype=_F64) + 1)               # log k!
    weight = torch.exp(lg[size.clamp(max=m - 1)] + lg[(m - 1 - size).clamp(min=0)] - lg[m])
    phi = torch.empty(m, dtype=_F64)
    for i in range(m):
        without = codes[(codes >> i) & 1 == 0]
        phi[i] = (weight[without] * (v[without | (1 << i)] - v[without])).sum()
    return phi


def shapley_values(f, x, baseline, *, groups=None, batch_size: int = 4096) -> torch.Tensor:
    """The exact Shapley values of the game ``v(S) = f(z_S)`` (all ``2^M`` coalitions evaluated).

    ``φ_i = Σ_{S ⊆ N∖{i}} |S|! (M − |S| − 1)! / M! · (v(S ∪ {i}) − v(S))``: the average, over the ``M!`` orders
    in which the players can join, of the marginal contribution of player ``i``. Efficiency holds:
    ``Σ_i φ_i = f(x) − f(baseline)``.

    Parameters
    ----------
    f : callable
        Maps a batch ``(B, d)`` tensor to a ``(B,)`` tensor (e.g. one logit of a classifier).
    x, baseline : torch.Tensor
        ``(d,)`` floating tensors of the same dtype and device.
    groups : sequence, optional
        Disjoint feature-index lists covering ``0..d−1``; each group is one player. Default: the ``d`` features.
    batch_size : int
        Coalitions per call of ``f``.

    Returns
    -------
    torch.Tensor
        ``(M,)`` float64 on the device of ``x``.

    ``ValueError`` is raised for ``M > 20`` (:data:`MAX_PLAYERS`), bad shapes, bad groups, and non-finite
    inputs or outputs. See :ref:`chap-explanation`; Shapley (1953).
    """
    x, baseline = _inputs(x, baseline)
    owner, m = _owner(x.numel(), groups)
    v = _evaluate(f, x, baseline, owner, _bits(torch.arange(2**m), m), _batch(batch_size))
    return _shapley_from_table(v, m).to(x.device)


# --- Kernel SHAP -------------------------------------------------------------------------------------------------

def shapley_kernel(m: int) -> torch.Tensor:
    """The Shapley kernel by coalition size: entry ``s`` is ``π(s) = (M−1) / (C(M, s) s (M − s))``.

    ``(M + 1,)`` float64; entries ``0`` and ``M`` (where ``π`` is infinite) are set to ``inf``. Summed over the
    ``C(M, s)`` coalitions of size ``s`` the kernel gives ``(M−1)/(s(M−s))``: the distribution of sizes that
    :func:`kernel_shap` samples from. See :ref:`chap-explanation`; Lundberg & Lee (2017), Theorem 2.
    """
    m = check_int("m", m, min_value=1)
    s = torch.arange(m + 1, dtype=_F64)
    binom = torch.tensor([math.comb(m, k) for k in range(m + 1)], dtype=_F64)
    with torch.no_grad():
        pi = (m - 1) / (binom * s * (m - s))
    pi[0] = pi[m] = math.inf
    return pi


def _constrained_wls(z: torch.Tensor, y: torch.Tensor, w: torch.Tensor, total: float) -> torch.Tensor:
    """argmin_φ Σ_k w_k (y_k − z_k·φ)² subject to Σ φ = total (the KKT system, float64)."""
    m = z.shape[1]
    zf = z.to(_F64)
    a = zf.T @ (w[:, None] * zf)
    b = zf.T @ (w * y)
    kkt = torch.zeros(m + 1, m + 1, dtype=_F64)
    kkt[:m, :m] = a
    kkt[:m, m] = kkt[m, :m] = 1.0
    rhs = torch.cat([b, torch.tensor([total], dtype=_F64)])
    if int(torch.linalg.matrix_rank(kkt)) < m + 1:
        raise ValueError("the coalitions used do not determine the attributions (the weighted least-squares "
                         "system is singular): increase n_coalitions")
    return torch.linalg.solve(kkt, rhs)[:m]


def _generator(generator):
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if generator is not None and generator.device.type != "cpu":
        raise ValueError(f"generator must be a CPU torch.Generator, got one on {generator.device}")
    return generator


def kernel_shap(f, x, baseline, *, groups=None, n_coalitions=None, generator=None,
                batch_size: int = 4096) -> torch.Tensor:
    """Kernel SHAP: Shapley values as a weighted least-squares fit with the efficiency constraint exact.

    Minimises ``Σ_S π(S) (v(S) − v(∅) − Σ_{i ∈ S} φ_i)²`` over the proper, non-empty coalitions ``S`` subject to
    ``Σ_i φ_i = v(N) − v(∅)``, with the Shapley kernel ``π(S) = (M−1) / (C(M,|S|) |S| (M−|S|))``
    (:func:`shapley_kernel`; infinite at ``|S| ∈ {0, M}``, which is why those two coalitions enter as constraints
    and not as huge weights).

    * ``n_coalitions=None``: every proper coalition, weighted by ``π``; the result equals
      :func:`shapley_values` to round-off.
    * ``n_coalitions=n``: ``n`` coalitions drawn independently (with replacement) from the distribution
      ``∝ π``: a size ``s`` with probability ``∝ (M−1)/(s(M−s))``, then a uniform subset of that size; each
      sample has weight ``1/n`` (Covert & Lee's estimator). ``v(∅)`` and ``v(N)`` are evaluated exactly, so
      the estimate is efficient exactly; its error decays like ``n^(−1/2)``.

    Parameters
    ----------
    f : callable
        Maps a batch ``(B, d)`` tensor to a ``(B,)`` tensor.
    x, baseline : torch.Tensor
        ``(d,)`` floating tensors of the same dtype and device.
    groups : sequence, optional
        Disjoint feature-index lists covering ``0..d−1`` (the players); default one per feature.
    n_coalitions : int, optional
        Number of sampled coalitions (``≥ 1``); ``None`` uses all ``2^M − 2`` proper ones.
    generator : torch.Generator, optional
        CPU generator of the samples (``None``: torch's global generator).
    batch_size : int
        Coalitions per call of ``f``.

    Returns
    -------
    torch.Tensor
        ``(M,)`` float64 on the device of ``x``.

    See :ref:`chap-explanation`; Lundberg & Lee (2017), arXiv:1705.07874; Covert & Lee (2021),
    arXiv:2012.01536.
    """
    x, baseline = _inputs(x, baseline)
    owner, m = _owner(x.numel(), groups)
    batch_size = _batch(batch_size)
    generator = _generator(generator)
    ends = _evaluate(f, x, baseline, owner, torch.tensor([[False] * m, [True] * m]), batch_size)
    v0, total = float(ends[0]), float(ends[1] - ends[0])
    if m == 1:
        return torch.tensor([total], dtype=_F64, device=x.device)
    pi = shapley_kernel(m)
    if n_coalitions is None:
        codes = torch.arange(1, 2**m - 1)
        members = _bits(codes, m)
        w = pi[members.sum(1)]
        w = w / w.sum()
    else:
        n = check_int("n_coalitions", n_coalitions, min_value=1)
        sizes = torch.arange(1, m, dtype=_F64)
        p_size = (m - 1) / (sizes * (m - sizes))
        s = torch.multinomial(p_size / p_size.sum(), n, replacement=True, generator=generator) + 1
        keys = torch.rand(n, m, generator=generator, dtype=_F64)    # a uniform subset of size s:
        cut = keys.sort(1).values.gather(1, (s - 1)[:, None])          # the s smallest keys
        members = keys <= cut
        w = torch.full((n,), 1.0 / n, dtype=_F64)
    v = _evaluate(f, x, baseline, owner, members, batch_size)
    return _constrained_wls(members, v - v0, w, total).to(x.device)


# --- LIME ------------------------------------------------------------------------------------------------------

def lime_kernel(sizes, m: int, kernel_width: float = 0.25) -> torch.Tensor:
    """LIME's weight of a coalition of each size: ``exp(−D² / (2 w²))`` with ``D`` the cosine distance to ``N``.

    ``D(S) = 1 − |S|^{1/2} / M^{1/2}`` is the cosine distance between the indicator of ``S`` and the all-ones
    vector (``D(∅) = 1``, scikit-learn's convention for a zero vector), and the kernel is lime's
    ``sqrt(exp(−D² / w²))``. ``sizes``: an integer tensor of coalition sizes in ``0..M``; returns float64 of the
    same shape. See :ref:`chap-explanation`; Ribeiro, Singh & Guestrin (2016).
    """
    m = check_int("m", m, min_value=1)
    width = check_real("kernel_width", kernel_width, min_value=0.0, min_inclusive=False)
    sizes = check_tensor("sizes", sizes, floating=False)
    if bool(((sizes < 0) | (sizes > m)).any()):
        raise ValueError(f"sizes must lie in 0..{m}")
    dist = 1.0 - torch.sqrt(sizes.to(_F64) / m)
    return torch.exp(-dist**2 / (2 * width**2))


def lime(f, x, baseline, *, groups=None, kernel_width: float = 0.25, alpha: float = 1.0, n_samples=None,
         generator=None, batch_size: int = 4096) -> torch.Tensor:
    """LIME's attributions: the coefficients of a weighted ridge regression of ``v(S)`` on the indicator of ``S``.

    Minimises ``Σ_k π_k (v(S_k) − β₀ − Σ_{i ∈ S_k} φ_i)² + alpha ‖φ‖²`` over ``(β₀, φ)`` (intercept free and not
    penalised, as in scikit-learn's ``Ridge``), with LIME's kernel ``π(S) = exp(−D(S)² / (2 w²))`` of the cosine
    distance ``D(S) = 1 − sqrt(|S|/M)`` between ``S`` and the full coalition (:func:`lime_kernel`).

    LIME's defaults for images (``lime_image``) are this kernel with ``w = 0.25``, ``Ridge(alpha=1)``, and
    1,000 coalitions drawn uniformly (each player present with probability 1/2) plus the full coalition;
    these are this function's defaults too, except that ``n_samples=None`` uses every coalition once
    (the population version: the limit of LIME's objective divided by its sample size, with the ridge
    penalty then ``alpha`` relative to the whole sum). ``lime_tabular`` uses a different kernel (Euclidean
    distance on standardised features, ``w = 0.75 sqrt(d)``). Nothing in LIME imposes efficiency: in general
    ``Σ φ ≠ v(N) − v(∅)``.

    Parameters
    ----------
    f : callable
        Maps a batch ``(B, d)`` tensor to a ``(B,)`` tensor.
    x, baseline : torch.Tensor
        ``(d,)`` floating tensors of the same dtype and device.
    groups : sequence, optional
        Disjoint feature-index lists covering ``0..d−1`` (the players); default one per feature.
    kernel_width : float
        ``w > 0``.
    alpha : float
        Ridge penalty ``≥ 0`` on ``φ`` (not on the intercept).
    n_samples : int, optional
        ``None``: all ``2^M`` coalitions. Else that many coalitions, the first the full one and the others
        uniform, as LIME draws them.
    generator : torch.Generator, optional
        CPU generator of the samples.
    batch_size : int
        Coalitions per call of ``f``.

    Returns
    -------
    torch.Tensor
        ``(M,)`` float64 on the device of ``x``.

    See :ref:`chap-explanation`; Ribeiro, Singh & Guestrin (2016), arXiv:1602.04938.
    """
    x, baseline = _inputs(x, baseline)
    owner, m = _owner(x.numel(), groups)
    batch_size = _batch(batch_size)
    width = check_real("kernel_width", kernel_width, min_value=0.0, min_inclusive=False)
    alpha = check_real("alpha", alpha, min_value=0.0)
    generator = _generator(generator)
    if n_samples is None:
        members = _bits(torch.arange(2**m), m)
    else:
        n = check_int("n_samples", n_samples, min_value=2)
        members = torch.rand(n, m, generator=generator) < 0.5
        members[0] = True
    v = _evaluate(f, x, baseline, owner, members, batch_size)
    w = lime_kernel(members.sum(1), m, width)
    design = torch.cat([torch.ones(members.shape[0], 1, dtype=_F64), members.to(_F64)], dim=1)
    gram = design.T @ (w[:, None] * design)
    gram[1:, 1:] += alpha * torch.eye(m, dtype=_F64)
    if int(torch.linalg.matrix_rank(gram)) < m + 1:
        raise ValueError("LIME's regression is singular for these coalitions: increase n_samples or alpha")
    coef = torch.linalg.solve(gram, design.T @ (w * v))
    return coef[1:].to(x.device)
